"""The figure registry and ``salanalysis plot``: figures from the tables the analysis commands write."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from salanalysis import figures as F
from salanalysis import plotting as P
from salanalysis.cli import main
from salanalysis.config import demo_config
from salanalysis.reproduce import reproduce


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "out"
    reproduce(demo_config(), out)
    return out


def test_registry_entries_are_complete():
    assert list(F.FIGURES) == ["fig2_tpfn", "fig2_clutter", "fig_classwise", "fig3_clutter", "fig4_category_delta",
                               "fig5_cam", "fig_gallery"]
    for name, spec in F.FIGURES.items():
        assert spec.name == name and spec.title and spec.needs
        assert callable(spec.draw) and callable(spec.caption)
        assert spec.missing({}) == list(spec.needs)


def test_plot_from_a_reproduce_folder_gives_the_same_figures(demo_run, tmp_path, capsys):
    # the tables reproduce wrote (CSV) and its config give back its figures, byte for byte
    assert main(["plot", "all", "--from", str(demo_run), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "fig5_cam: not drawn: missing cam_manifest" in printed
    for name in ("fig2_tpfn", "fig2_clutter", "fig_classwise", "fig3_clutter", "fig4_category_delta"):
        assert (tmp_path / f"{name}.png").read_bytes() == (demo_run / "figures" / f"{name}.png").read_bytes(), name
        assert (tmp_path / f"{name}.pdf").is_file()
    # the gallery too, from the gallery.csv and thumbnails reproduce copied into the output folder
    assert (tmp_path / "fig_gallery.png").is_file() and (demo_run / "gallery" / "gallery.csv").is_file()
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
    assert f"every image with ≥{k} objects" in printed and "(30 resamples per group; centered percentile" in printed
    # a figure without its tables: exit 2, one line that says which command makes them
    assert main(["plot", "fig2_tpfn", "--from", str(res), "--out", str(figs)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "salanalysis stats --out DIR" in err and "objects" in err


def test_plot_from_a_runs_tables_folder_reads_the_runs_config(demo_run, tmp_path, capsys):
    # `--from RUN/tables` (the folder that holds the tables) finds RUN/config.resolved.toml, as
    # `--from RUN` does: the captions name the run's resamples and labels, not "None"
    from salanalysis.cli import main

    n_boot = demo_config().n_boot
    for src in (demo_run, demo_run / "tables"):
        assert main(["plot", "fig3_clutter", "--from", str(src), "--out", str(tmp_path / src.name)]) == 0
        printed = capsys.readouterr().out
        assert f"({n_boot} resamples per group;" in printed and "None" not in printed


def _prior_csv(demo, tmp_path: Path) -> Path:
    from salanalysis.coco import Annotations
    from salanalysis.score_baselines import class_prior_scores

    path = tmp_path / "prior.csv"
    class_prior_scores(Annotations.load(demo.annotations)).to_wide().to_csv(path, index=False)
    return path


def test_draw_figure_in_a_notebook(demo_run):
    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig3_clutter", tables, F.FigureContext(n_boot=7))
    assert len(fig.axes) == 3 and "(7 resamples per group; centered percentile where BC" in caption
    # (c): the prevalence-free mean ROC AUC per group beside (a)'s mAP, one line per model, chance at 0.5
    cm = tables["clutter_map"]
    first = cm[cm["model"] == cm["model"].iloc[0]].sort_values("n_objects")
    assert fig.axes[2].get_title(loc="left") == "(c)"
    assert list(fig.axes[2].lines[0].get_ydata()) == pytest.approx(list(first["mAUC"]))
    assert "(c) Mean per-class ROC AUC" in caption and "explained by prevalence" in caption
    plt.close(fig)
    # the legend sits above the panels (inside (a) it covered the chance line), and says all it did
    assert fig.axes[0].get_legend() is None and len(fig.legends) == 1
    assert "chance (random ranking)" in [t.get_text() for t in fig.legends[0].get_texts()]
    # resamples unknown (no attrs, no n_boot given): the caption says nothing rather than "None"
    fig, caption = F.draw_figure("fig3_clutter", tables, F.FigureContext())
    plt.close(fig)
    assert "None" not in caption and "resamples" not in caption and "(centered percentile where BC" in caption
    # no bootstrap at all: no bands, and the caption says so
    no_boot = tables["clutter_map"].copy()
    no_boot.attrs["n_boot"] = 0
    caption = F.caption_fig3({**tables, "clutter_map": no_boot}, F.FigureContext())
    assert "bands: none (no bootstrap)" in caption and "percentile" not in caption
    assert "no bands (no bootstrap)" in caption and "0 resamples" not in caption
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
    for name in ("fig2_tpfn", "fig2_clutter", "fig_classwise", "fig3_clutter", "fig4_category_delta"):
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


def _many_categories(n: int = 150) -> pd.DataFrame:
    table = pd.DataFrame({"category": [f"cat{i:03d}" for i in range(n)], "delta": np.linspace(0.3, -0.2, n),
                          "ci95_low": np.linspace(0.2, -0.3, n), "ci95_high": np.linspace(0.4, -0.1, n), "n_pos": 10})
    table["verdict"] = np.where(table["ci95_low"] > 0, "improved",
                                np.where(table["ci95_high"] < 0, "worsened", "within noise"))
    return table


def _texts_out_of_place(fig) -> list[str]:
    """Texts drawn past the figure's edge, and axes titles that run into the panel on their right."""
    from matplotlib.text import Text

    with P.paper_style():  # as saved
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        unused = set()  # tick labels of ticks outside the view limits are never drawn
        for ax in fig.axes:
            for axis, lim in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                    if not min(lim) - 1e-9 <= tick.get_loc() <= max(lim) + 1e-9:
                        unused.update({id(tick.label1), id(tick.label2)})
        bad = []
        for t in fig.findobj(Text):
            if id(t) in unused or not t.get_visible() or not t.get_text().strip():
                continue
            e = t.get_window_extent(r)
            if e.x0 < -1 or e.y0 < -1 or e.x1 > fig.bbox.width + 1 or e.y1 > fig.bbox.height + 1:
                bad.append(t.get_text())
        boxes = [(ax, ax.get_window_extent(r)) for ax in fig.axes]
        for ax, box in boxes:
            for _, b in boxes:
                if b.x0 > box.x0 + 1 and b.y0 < box.y1 and b.y1 > box.y0:
                    bad += [t.get_text() for t in (ax.title, ax._left_title)
                            if t.get_text() and t.get_window_extent(r).x1 > b.x0]
    return bad


@pytest.mark.parametrize("width", ["page", "column"])
def test_no_text_is_cut_off_or_runs_into_a_neighbour(demo_run, width):
    # at 3.25 in the Fig. 4 legend and x label ran off both sides and Fig. 2's panel titles off the
    # right edge; with 150 categories the note on hidden ones sat on the figure's top edge
    tables = F.read_tables([demo_run])
    ctx = F.FigureContext(width=width, primary="detections", compare=("prior", "detections"))
    cases = [(name, tables, ctx) for name in ("fig2_tpfn", "fig_classwise", "fig3_clutter", "fig4_category_delta")]
    cases.append(("fig4_category_delta", {"compare_categories": _many_categories()},
                  dataclasses.replace(ctx, compare=("A", "B"))))
    for name, tabs, c in cases:
        fig, _ = F.draw_figure(name, tabs, c)
        assert not _texts_out_of_place(fig), (name, width, _texts_out_of_place(fig))
        plt.close(fig)


def test_fit_titles_shrinks_a_title_too_wide_for_its_panel():
    # two column-width panels, the left one with a title about twice its width: after fit_titles
    # it ends before the right panel (font smaller, never under the 6 pt minimum); a short title
    # keeps its size
    with P.paper_style():
        fig, (left, right) = P.new_figure("column", height=1.5, ncols=2)
        left.set_title("a title wider than this panel, ok", loc="left")
        right.set_title("short", loc="left")
        P.fit_titles(fig)
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        assert left._left_title.get_window_extent(r).x1 < right.get_window_extent(r).x0
        assert P.MIN_FONT_PT <= left._left_title.get_fontsize() < 8
        assert right._left_title.get_fontsize() == 8
        # one that cannot fit even at the minimum size is named in a warning, not shrunk further
        left.set_title("a title that is far, far wider than its narrow panel could ever hold", loc="left")
        with pytest.warns(UserWarning, match="far, far wider"):
            P.fit_titles(fig)
        assert left._left_title.get_fontsize() == P.MIN_FONT_PT
    plt.close(fig)
    # a right-aligned title running left into its neighbour's space shrinks until it no longer meets
    # the neighbour's left title; a left title that only passes over a colorbar keeps its size
    # (a colorbar is not a panel whose space a title must keep clear of)
    with P.paper_style():
        fig, (left, right) = P.new_figure("column", height=1.5, ncols=2)
        right.set_title("a right-aligned title that runs left", loc="right")
        fig.colorbar(left.imshow(np.zeros((2, 2))), ax=left)
        left.set_title("left title over cbar", loc="left")
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        assert left._left_title.get_window_extent(r).x1 > left.get_window_extent(r).x1  # over the colorbar
        assert right._right_title.get_window_extent(r).x0 < left._left_title.get_window_extent(r).x1  # they meet
        P.fit_titles(fig)
        fig.canvas.draw()
        assert right._right_title.get_window_extent(r).x0 > left._left_title.get_window_extent(r).x1
        assert right._right_title.get_fontsize() < 8 and left._left_title.get_fontsize() == 8
    plt.close(fig)


def test_fig4_with_many_categories_shows_both_ends(demo_run):
    table = _many_categories(150)
    table.loc[75, "delta"] = 0.0
    tables = {"compare_categories": table}
    fig, caption = F.draw_figure("fig4_category_delta", tables, F.FigureContext(compare=("A", "B")))
    labels = [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
    assert labels[:20] == [f"cat{i:03d}" for i in range(20)] and labels[20:] == [f"cat{i:03d}" for i in range(130, 150)]
    # the note is part of the figure's x label, which the layout makes room for (a free text at the
    # figure's top edge squashed both panels into its lower third)
    assert "(110 categories in between not shown)" in fig.get_supxlabel()
    with P.paper_style():
        fig.canvas.draw()
    assert all(ax.get_position().height > 0.5 for ax in fig.axes)
    assert "the 20 categories with the highest and the 20 with the lowest delta of 150" in caption
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["most improved", "most worsened"]
    # every delta positive: the lower panel holds the least improved, and says so
    pos = table.assign(delta=table["delta"] + 1.0, ci95_low=table["ci95_low"] + 1.0, ci95_high=table["ci95_high"] + 1.0)
    fig_pos, _ = F.draw_figure("fig4_category_delta", {"compare_categories": pos},
                               F.FigureContext(width="column", compare=("A", "B")))
    assert [ax.get_title(loc="left") for ax in fig_pos.axes] == ["most improved", "least improved"]
    plt.close(fig_pos)
    # significance by hatch as well as colour
    assert any(p.get_hatch() == "////" for ax in fig.axes for p in ax.patches)
    plt.close(fig)
    # 80 categories or fewer: all of them, in two side-by-side panels at page width
    fig2, _ = F.draw_figure("fig4_category_delta", {"compare_categories": table.iloc[:80]},
                            F.FigureContext(compare=("A", "B")))
    assert sum(len(ax.get_yticklabels()) for ax in fig2.axes) == 80 and len(fig2.axes) == 2
    plt.close(fig2)


def test_fig2_shows_the_verdict_of_the_tests_table(demo_run):
    # the numbers above Fig. 2's bars are the verdict's (role = verdict) t and Holm p of the table; a control
    # source outside the Holm family shows its unadjusted p, labelled so
    from salanalysis.formatting import format_p

    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig2_tpfn", tables, F.FigureContext(primary="detections"))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    tests = tables["tpfn_tests"]
    sel = tests[(tests["model"] == "detections") & (tests["unit"] == "object") & (tests["role"] == "verdict")]
    row = sel[sel["variable"] == "area_frac"].iloc[0]
    label = {"cluster2_ols": "clustered t", "within_category": "within-class t"}[row["test"]]
    expected = f"{label} = {row['statistic']:.2f}\n" + format_p(row["p_holm"], spaced=True).replace("p ", "p(Holm) ", 1)
    assert expected in texts
    ctl = sel[sel["variable"] == "sal_max_center"].iloc[0]
    assert ctl["family"] == "control" and np.isnan(ctl["p_holm"])
    assert format_p(ctl["p_val"], spaced=True).replace("p ", "p(unadj.) ", 1) in " ".join(texts)
    assert "Holm-adjusted over one family" in caption and "unadjusted 95% interval" in caption
    plt.close(fig)
    # the class-wise panels carry the verdict (partial r controlling prevalence, Holm p) under the paper's r
    fig, caption = F.draw_figure("fig_classwise", tables, F.FigureContext(primary="detections"))
    corr = tables["classwise_correlations"]
    v = corr[(corr["model"] == "detections") & (corr["role"] == "verdict") & (corr["variable"] == "center_dist")]
    titles = " ".join(ax.get_title(loc="left") for ax in fig.axes)
    line = f"partial r = {v['r'].iloc[0]:.2f}, " + format_p(v["p_holm"].iloc[0], spaced=True).replace("p ", "p* ", 1)
    assert line in titles and "controlling prevalence" in caption and "p*, its p Holm-adjusted" in caption
    plt.close(fig)


def test_fig2_log_label_only_beside_log_panels(demo_run):
    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig2_tpfn", tables, F.FigureContext(width="page", primary="detections"))
    axes = fig.get_axes()
    n = len(axes) // 2
    bottom = axes[n:]
    labels = [ax.get_ylabel() for ax in bottom]
    logs = [ax.get_ylim()[0] < 0 for ax in bottom]  # log10 of a fraction is negative: the log panel
    assert labels[0] == "log10 size" and logs[0]
    assert all("log" not in lab for lab, lg in zip(labels[1:], logs[1:]))
    assert "the size panel shows log10 of the size" in caption and "(log10 in the distributions)" not in caption
    plt.close(fig)


def test_fig3_caption_says_why_the_class_prior_lies_below_chance(demo_run):
    tables = F.read_tables([demo_run])
    fig, caption = F.draw_figure("fig3_clutter", tables, F.FigureContext(width="page", compare=("prior", "detections")))
    assert "the AP of tied scores equals the prevalence" in caption and "apart in grayscale" in caption
    lines = [ln for ln in fig.axes[0].lines if ln.get_color() not in ("#999999",) and len(ln.get_xdata()) > 2]
    assert len({(str(ln.get_linestyle()), ln.get_marker()) for ln in lines}) >= 2
    plt.close(fig)


def test_fig4_caption_names_the_adjusted_permutation_test():
    table = _many_categories(30)
    table["q_val"] = 0.5
    table.attrs.update({"n_perm": 4999, "p_adjust": "fdr_bh", "n_boot": 1000})
    caption = F.caption_fig4({"compare_categories": table}, F.FigureContext(compare=("A", "B")))
    assert "paired permutation test" in caption and "4999 permutations" in caption
    assert "Benjamini-Hochberg (false discovery rate 5%) adjustment over the 30 categories" in caption
    assert "intervals are not adjusted" in caption
    table.attrs["p_adjust"] = "holm"
    assert "Holm (family-wise error 5%)" in F.caption_fig4({"compare_categories": table},
                                                           F.FigureContext(compare=("A", "B")))
    # a table without the test (an older run): the interval rule, said as such
    old = table.drop(columns="q_val")
    assert "only when its interval excludes 0" in F.caption_fig4({"compare_categories": old},
                                                                 F.FigureContext(compare=("A", "B")))
