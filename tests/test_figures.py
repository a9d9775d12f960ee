"""The figure registry and ``salanalysis plot``: figures from the tables the analysis commands write."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from salanalysis import figures as F
from salanalysis.cli import main
from salanalysis.config import demo_config
from salanalysis.reproduce import reproduce


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    reproduce(demo_config(), out)
    return out


def test_registry_entries_are_complete():
    assert list(F.FIGURES) == ["fig2_tpfn", "fig_classwise", "fig3_clutter", "fig4_category_delta", "fig5_cam"]
    for name, spec in F.FIGURES.items():
        assert spec.name == name and spec.title and spec.needs
        assert callable(spec.draw) and callable(spec.caption)
        assert spec.missing({}) == list(spec.needs)


def test_plot_from_a_reproduce_folder_gives_the_same_figures(demo_run, tmp_path, capsys):
    # the tables reproduce wrote (CSV) and its config give back its figures, byte for byte
    assert main(["plot", "all", "--from", str(demo_run), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "fig5_cam: not drawn: missing cam_manifest" in printed
    for name in ("fig2_tpfn", "fig_classwise", "fig3_clutter", "fig4_category_delta"):
        assert (tmp_path / f"{name}.png").read_bytes() == (demo_run / "figures" / f"{name}.png").read_bytes(), name
        assert (tmp_path / f"{name}.pdf").is_file()
    # the captions name the run's models and the bootstrap size of its config
    assert "'sample detections'" in printed and "(1000 image resamples)" in printed


def test_plot_from_the_analysis_commands(demo, tmp_path, capsys):
    ann, det = str(demo.annotations), str(demo.detections)
    res = tmp_path / "results"
    args = ["--annotations", ann, "--scores", f"prior={_prior_csv(demo, tmp_path)}", "--scores", f"det={det}"]
    assert main(["clutter", *args, "--min-images", "5", "--bootstrap", "30", "--out", str(res)]) == 0
    assert main(["compare", *args, "--bootstrap", "30", "--out", str(res)]) == 0
    # the attributes survive beside the CSV (bootstrap size, cut-off, the compared models)
    attrs = json.loads((res / "compare_categories.attrs.json").read_text())
    assert (attrs["model_a"], attrs["model_b"], attrs["n_boot"]) == ("prior", "det", 30)
    capsys.readouterr()
    figs = tmp_path / "figs"
    assert main(["plot", "all", "--from", str(res), "--label", "det=Detections", "--out", str(figs)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in figs.iterdir()) == [
        "fig3_clutter.pdf", "fig3_clutter.png", "fig3_clutter_column.pdf", "fig3_clutter_column.png",
        "fig4_category_delta.pdf", "fig4_category_delta.png", "fig4_category_delta_column.pdf",
        "fig4_category_delta_column.png"]
    assert "AP('Detections') - AP('prior')" in printed and "(30 image resamples)" in printed
    k = pd.read_csv(res / "clutter_map.csv").query("is_tail")["n_objects"].iloc[0]
    assert f"every image with >= {k} objects" in printed and "(30 resamples per group)" in printed
    # a figure without its tables: exit 2, one line that says which command makes them
    assert main(["plot", "fig2_tpfn", "--from", str(res), "--out", str(figs)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "salanalysis stats --out DIR" in err and "objects" in err


def _prior_csv(demo, tmp_path: Path) -> Path:
    from salanalysis.coco import Annotations
    from salanalysis.score_baselines import class_prior_scores

    path = tmp_path / "prior.csv"
    class_prior_scores(Annotations.load(demo.annotations)).to_wide().to_csv(path, index=False)
    return path


def test_draw_figure_in_a_notebook(demo_run):
    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig3_clutter", tables, F.FigureContext(n_boot=7))
    assert len(fig.axes) == 2 and "(7 resamples per group)" in caption
    plt.close(fig)
    with pytest.raises(ValueError, match="needs table"):
        F.draw_figure("fig4_category_delta", {"clutter_map": tables["clutter_map"]})


def test_a_new_figure_is_one_function_and_one_entry(demo_run, tmp_path, monkeypatch):
    def draw(tables, ctx):
        from salanalysis import plotting as P

        fig, ax = P.new_figure("column")
        P.plot_objects_histogram(tables["objects_histogram"], ax=ax)
        return fig

    spec = F.FigureSpec("fig_hist", "Histogram alone", ("objects_histogram",), draw,
                        lambda tables, ctx: f"{int(tables['objects_histogram']['n_images'].sum())} images")
    monkeypatch.setitem(F.FIGURES, "fig_hist", spec)
    run = F.render_figures(F.read_tables([demo_run]), F.FigureContext(), tmp_path, names=["fig_hist"])
    assert run.captions == {"fig_hist": "100 images"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig_hist.pdf", "fig_hist.png", "fig_hist_column.pdf",
                                                          "fig_hist_column.png"]


def test_cam_table_round_trip():
    records = [{"image": "a.jpg", "category": "cat", "threshold": 0.5,
                "models": [{"model": "A", "role": "A", "confidence": 0.2, "cam": "cams/a_A.npy"},
                           {"model": "B", "role": "B", "confidence": 0.9, "cam": "cams/a_B.npy"}]},
               {"image": "b.jpg", "category": "dog", "threshold": 0.5,
                "models": [{"model": "A", "role": "A", "confidence": 0.1, "cam": "cams/b_A.npy"},
                           {"model": "B", "role": "B", "confidence": 0.7, "cam": "cams/b_B.npy"}]}]
    assert F.cam_records(F.cam_table(records)) == records


@pytest.mark.parametrize("width", ["page", "column"])
def test_every_figure_is_made_for_its_printed_width(demo_run, width):
    # at 3.25 in (a CVPR column) or 6.875 in (the page), no text under 6 pt, and the saved PNG has
    # exactly that width at 300 dpi
    from matplotlib.text import Text
    from PIL import Image

    from salanalysis.plotting import MIN_FONT_PT

    tables = F.read_tables([demo_run])
    inches = {"page": 6.875, "column": 3.25}[width]
    for name in ("fig2_tpfn", "fig_classwise", "fig3_clutter", "fig4_category_delta"):
        fig, _ = F.draw_figure(name, tables, F.FigureContext(width=width, primary="detections",
                                                             compare=("prior", "detections")))
        assert fig.get_size_inches()[0] == pytest.approx(inches), name
        fig.canvas.draw()
        small = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]
        assert not small, f"{name} at {width} width has text under {MIN_FONT_PT} pt: {small[:5]}"
        plt.close(fig)
        suffix = "" if width == "page" else "_column"
        with Image.open(demo_run / "figures" / f"{name}{suffix}.png") as im:
            assert im.width == round(inches * 300), name


def test_fig4_with_many_categories_shows_both_ends(demo_run):
    table = pd.DataFrame({"category": [f"cat{i:03d}" for i in range(150)],
                          "delta": np.linspace(0.3, -0.2, 150), "ci95_low": np.linspace(0.2, -0.3, 150),
                          "ci95_high": np.linspace(0.4, -0.1, 150), "n_pos": 10})
    table["verdict"] = np.where(table["ci95_low"] > 0, "improved",
                                np.where(table["ci95_high"] < 0, "worsened", "within noise"))
    table.loc[75, "delta"] = 0.0
    tables = {"compare_categories": table}
    fig, caption = F.draw_figure("fig4_category_delta", tables, F.FigureContext(compare=("A", "B")))
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert labels[:20] == [f"cat{i:03d}" for i in range(20)] and labels[20:] == [f"cat{i:03d}" for i in range(130, 150)]
    assert "110 categories in between not shown" in [t.get_text() for t in fig.findobj(plt.Text)]
    assert "the 20 most improved and 20 most worsened of 150 categories" in caption
    # significance by hatch as well as colour
    assert any(p.get_hatch() == "////" for ax in fig.axes for p in ax.patches)
    plt.close(fig)
    # 80 categories or fewer: all of them, in two side-by-side panels at page width
    fig2, _ = F.draw_figure("fig4_category_delta", {"compare_categories": table.iloc[:80]},
                            F.FigureContext(compare=("A", "B")))
    assert sum(len(ax.get_yticklabels()) for ax in fig2.axes) == 80 and len(fig2.axes) == 2
    plt.close(fig2)


def test_fig2_shows_the_verdict_of_the_tests_table(demo_run):
    # the numbers above Fig. 2's bars are the image-clustered tests' t and Holm p of the table
    from salanalysis.formatting import format_p

    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig2_tpfn", tables, F.FigureContext(primary="detections"))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    tests = tables["tpfn_tests"]
    row = tests[(tests["model"] == "detections") & (tests["unit"] == "object") & (tests["variable"] == "area_frac")
                & (tests["test"] == "cluster_ols")].iloc[0]
    expected = f"clustered t = {row['statistic']:.2f}\n" + format_p(row["p_holm"], spaced=True).replace("p ", "p(Holm) ", 1)
    assert expected in texts
    assert "image-clustered t" in caption and "Holm" in caption
    plt.close(fig)
