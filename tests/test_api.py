"""One library API and one command vocabulary: the top-level exports, the shape of every entry
point (path or object inputs, the same tables), result folders equal to the CLI's, score frames,
analysing part of a dataset, and the options every analysis command shares."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, precision_score, recall_score

import salanalysis
from salanalysis.cli import build_parser, main
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics import MetricRules
from salanalysis.scores import Scores, read_scores, write_scores

ROOT = Path(__file__).resolve().parents[1]


def _assert_tables_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name].reset_index(drop=True), b[name].reset_index(drop=True),
                                      check_dtype=False, obj=name)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def scored(demo, tmp_path_factory):
    """Two score files of the demo annotations (CSV and NPZ) and their Scores."""
    ann = Annotations.load(demo.annotations)
    rng = np.random.default_rng(3)
    y = ann.label_matrix()
    a = np.clip(0.6 * y + rng.uniform(0, 0.5, y.shape), 0, 1)
    b = np.clip(0.3 * y + rng.uniform(0, 0.7, y.shape), 0, 1)
    folder = tmp_path_factory.mktemp("scores")
    out = {}
    for name, arr, ext in (("a", a, ".csv"), ("b", b, ".npz")):
        sc = Scores.from_array(name, ann, arr)
        write_scores(sc, folder / f"{name}{ext}")
        out[name] = (folder / f"{name}{ext}", sc)
    return ann, out


# ------------------------------------------------------------ top level
def test_import_is_light_and_exports_are_lazy():
    code = ("import salanalysis, sys; assert 'pandas' not in sys.modules and 'torch' not in sys.modules; "
            "f = salanalysis.run_metrics; assert 'pandas' in sys.modules; print(f.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "salanalysis.metrics.output"


def test_top_level_names_and_help():
    from salanalysis.clutter import run_clutter
    from salanalysis.compare import run_compare
    from salanalysis.figures import FIGURES, draw_figure
    from salanalysis.objects_run import run_objects
    from salanalysis.stats import run_stats

    assert salanalysis.run_objects is run_objects and salanalysis.run_stats is run_stats
    assert salanalysis.run_clutter is run_clutter and salanalysis.run_compare is run_compare
    assert salanalysis.draw_figure is draw_figure and salanalysis.FIGURES is FIGURES
    assert salanalysis.MetricRules is MetricRules and salanalysis.Scores is Scores
    assert issubclass(salanalysis.InputError, ValueError) and issubclass(salanalysis.InputWarning, UserWarning)
    assert {"run_objects", "run_metrics", "run_stats", "run_clutter", "run_compare"} <= set(dir(salanalysis))
    with pytest.raises(AttributeError, match="no attribute 'run_everything'"):
        salanalysis.run_everything  # noqa: B018
    text = salanalysis.__doc__
    for name in ("run_objects", "run_metrics", "run_stats", "run_clutter", "run_compare", "draw_figure"):
        assert f":func:`{name}`" in text
    import pydoc

    shown = pydoc.render_doc(salanalysis, renderer=pydoc.plaintext)  # what help(salanalysis) prints
    assert all(f"{name}(" in shown for name in ("run_objects", "run_metrics", "run_compare", "draw_figure"))
    assert (ROOT / "salanalysis" / "py.typed").is_file() and (ROOT / "salanalysis" / "__init__.pyi").is_file()
    stub = (ROOT / "salanalysis" / "__init__.pyi").read_text()
    assert all(f"import {n} as {n}" in stub for n in salanalysis.__all__ if n != "__version__")


# ------------------------------------------------------------ one shape for every entry point
def test_run_metrics_takes_paths_objects_and_frames_alike(demo, scored):
    ann, sets = scored
    (pa, sa), (pb, sb) = sets["a"], sets["b"]
    by_path = salanalysis.run_metrics(demo.annotations, {"a": pa, "b": pb}, n_boot=0)
    by_object = salanalysis.run_metrics(ann, [sa, sb], n_boot=0)
    wide_b = sb.to_wide().sample(frac=1, random_state=0)  # rows in another order: aligned by image id
    by_frame = salanalysis.run_metrics(ann, {"a": sa.to_wide(), "b": wide_b}, n_boot=0)
    _assert_tables_equal(by_path.tables, by_object.tables)
    _assert_tables_equal(by_path.tables, by_frame.tables)
    with pytest.warns(DeprecationWarning, match="pass rules="):  # the old positional rules, one release
        old = salanalysis.run_metrics(ann, [sa], MetricRules(threshold=0.3), n_boot=0)
    assert old.tables["table1"]["prediction"].iloc[0] == "score>=0.3"


def test_run_clutter_and_compare_take_paths_and_objects_alike(demo, scored):
    ann, sets = scored
    (pa, sa), (pb, sb) = sets["a"], sets["b"]
    kw = dict(n_boot=20, seed=1, min_images=5)
    c1 = salanalysis.run_clutter(demo.annotations, {"a": pa, "b": pb}, **kw)
    c2 = salanalysis.run_clutter(ann, [sa, sb], jobs=1, **kw)
    c3 = salanalysis.run_clutter(ann, {"a": sa.to_wide(), "b": sb}, jobs=0, **kw)  # jobs: same numbers
    _assert_tables_equal(c1.tables, c2.tables)
    _assert_tables_equal(c1.tables, c3.tables)
    m1 = salanalysis.run_compare(demo.annotations, {"a": pa, "b": pb}, n_boot=20, seed=2)
    m2 = salanalysis.run_compare(ann, [sa, sb], n_boot=20, seed=2, jobs=1)
    _assert_tables_equal(m1.tables, m2.tables)


def test_run_objects_and_run_stats_take_paths_and_objects_alike(demo, scored, tmp_path):
    ann, sets = scored
    (pa, sa), (pb, sb) = sets["a"], sets["b"]
    o1 = salanalysis.run_objects(demo.annotations, {"s": demo.saliency}, {"a": pa, "b": pb}, jobs=1)
    o2 = salanalysis.run_objects(ann, {"s": demo.saliency}, [sa, sb], jobs=0)  # 0: all cores, as --jobs 0
    _assert_tables_equal(o1.tables, o2.tables)
    assert o1.objects["detected_a"].equals(o1.objects["score_a"] >= 0.5)
    o3 = salanalysis.run_objects(ann, None, [sa], rules=MetricRules(threshold=0.8), jobs=1)
    assert o3.objects["detected_a"].equals(o3.objects["score_a"] >= 0.8)
    with pytest.warns(DeprecationWarning, match="rules=MetricRules"):
        o4 = salanalysis.run_objects(ann, None, [sa], threshold=0.8, jobs=1)
    _assert_tables_equal(o3.tables, o4.tables)
    path = tmp_path / "objects.csv"
    o1.objects.to_csv(path, index=False)
    s1 = salanalysis.run_stats(path, demo.annotations, {"a": pa, "b": pb}, n_boot=20)
    s2 = salanalysis.run_stats(o1.objects, ann, [sa, sb], n_boot=20)
    _assert_tables_equal(s1.tables, s2.tables)


# ------------------------------------------------------------ result folders equal the CLI's
def test_every_result_writes_the_folder_the_cli_writes(demo, scored, tmp_path, capsys):
    ann, sets = scored
    (pa, sa), (pb, sb) = sets["a"], sets["b"]
    base = ["--annotations", str(demo.annotations), "--scores", f"a={pa}", "--scores", f"b={pb}"]
    runs = {
        "metrics": (["metrics", *base, "--bootstrap", "20", "--paired"],
                    lambda out: salanalysis.run_metrics(ann, [sa, sb], n_boot=20, paired=True, out=out)),
        "clutter": (["clutter", *base, "--bootstrap", "20", "--min-images", "5"],
                    lambda out: salanalysis.run_clutter(ann, [sa, sb], out, n_boot=20, min_images=5)),
        "compare": (["compare", *base, "--bootstrap", "20"],
                    lambda out: salanalysis.run_compare(ann, [sa, sb], out, n_boot=20)),
        "objects": (["objects", *base, "--jobs", "1"],
                    lambda out: salanalysis.run_objects(ann, None, [sa, sb], jobs=1, out=out)),
    }
    for name, (argv, call) in runs.items():
        cli_out, lib_out = tmp_path / f"cli_{name}", tmp_path / f"lib_{name}"
        assert main([*argv, "--quiet", "--out", str(cli_out)]) == 0, name
        result = call(lib_out)
        assert _files(cli_out) == _files(lib_out), name
        assert sorted(p.name for p in result.paths) == sorted(p.name for p in result.paths)
        assert len(_files(lib_out)) >= 2
    objects = tmp_path / "cli_objects" / "objects.csv"
    assert main(["stats", "--objects", str(objects), *base, "--bootstrap", "20", "--quiet",
                 "--out", str(tmp_path / "cli_stats")]) == 0
    salanalysis.run_stats(objects, ann, [sa, sb], n_boot=20).write(tmp_path / "lib_stats")
    assert _files(tmp_path / "cli_stats") == _files(tmp_path / "lib_stats")
    capsys.readouterr()


# ------------------------------------------------------------ score frames
def test_from_frame_aligns_and_checks_as_read_scores(demo, scored, tmp_path):
    ann, sets = scored
    path, sa = sets["a"]
    wide = sa.to_wide()
    shuffled = wide[["image_id", *reversed(wide.columns[1:])]].sample(frac=1, random_state=1)
    got = Scores.from_frame(shuffled, ann, name="a")
    assert np.array_equal(got.scores, read_scores(path, ann).scores)  # the file's reading, the same numbers
    long = Scores.from_frame(sa.to_long().sample(frac=1, random_state=2), ann, name="a")
    assert np.array_equal(long.scores, sa.scores)
    with pytest.raises(InputError, match="look like percent: divide them by 100"):
        Scores.from_frame(wide.assign(**{c: wide[c] * 100 for c in wide.columns[1:]}), ann, name="pct")
    with pytest.raises(InputError, match="look like percent"):
        Scores.from_array("pct", ann, sa.scores * 100)
    with pytest.raises(InputError, match="NaN"):
        Scores.from_array("nan", ann, np.full_like(sa.scores, np.nan))
    logits = np.log(sa.scores.clip(1e-6, 1 - 1e-6) / (1 - sa.scores.clip(1e-6, 1 - 1e-6)))
    assert np.allclose(Scores.from_array("l", ann, logits, logits=True).scores, sa.scores.clip(1e-6, 1 - 1e-6))
    with pytest.raises(InputError, match="score set 'part': 1 annotated image.*evaluate on the scored images"):
        Scores.from_frame(wide.iloc[1:], ann, name="part")
    part = Scores.from_frame(wide.iloc[1:], ann, name="part", missing="zero")
    assert part.n_filled == 1 and not part.scores[0].any()
    with pytest.raises(InputError, match="unknown category 'zebra crossing'"):
        Scores.from_frame(wide.rename(columns={"person": "zebra crossing"}), ann, name="x")


# ------------------------------------------------------------ part of a dataset
def _sk_table1(y: np.ndarray, s: np.ndarray, threshold: float = 0.5) -> dict:
    """mAP, C-P, C-R over the classes with a positive, with scikit-learn."""
    keep = [c for c in range(y.shape[1]) if y[:, c].any()]
    pred = s >= threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"mAP": np.mean([average_precision_score(y[:, c], s[:, c]) for c in keep]),
                "CP": np.mean([precision_score(y[:, c], pred[:, c], zero_division=0) for c in keep]),
                "CR": np.mean([recall_score(y[:, c], pred[:, c], zero_division=0) for c in keep]),
                "n_classes": len(keep)}


def test_image_and_category_subsets_match_an_independent_reference(demo, scored, tmp_path):
    ann, sets = scored
    path, sa = sets["a"]
    y = ann.label_matrix()
    ids = ann.image_ids[::2]
    cats = ["person", "car", "dog", "chair", "cup"]
    cat_ids = [int(ann.categories.set_index("name").loc[c, "category_id"]) for c in cats]
    rows = np.searchsorted(ann.image_ids, ids)
    cols = [ann.category_index(c) for c in cat_ids]
    rules = MetricRules(image_ids=ids, category_ids=cat_ids)
    got = salanalysis.run_metrics(demo.annotations, {"a": path}, rules=rules, n_boot=0).tables["table1"].iloc[0]
    ref = _sk_table1(y[np.ix_(rows, cols)], sa.scores[np.ix_(rows, cols)])
    for k in ("mAP", "CP", "CR"):
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
    assert (got["n_classes"], got["n_images"]) == (ref["n_classes"], len(ids))
    # a score file of the scored images only: refused with the hint, analysed with --image-ids
    part = tmp_path / "part.csv"
    sa.to_wide().iloc[rows].to_csv(part, index=False)
    with pytest.raises(InputError, match="evaluate on the scored images: --image-ids FILE"):
        salanalysis.run_metrics(ann, {"a": part}, n_boot=0)
    id_file = tmp_path / "ids.txt"
    id_file.write_text("\n".join(map(str, ids)) + "\n")
    out = tmp_path / "cli"
    assert main(["metrics", "--annotations", str(demo.annotations), "--scores", f"a={part}", "--bootstrap", "0",
                 "--image-ids", str(id_file), "--categories", ",".join(cats), "--quiet", "--out", str(out)]) == 0
    cli = pd.read_csv(out / "table1.csv").iloc[0]
    assert cli["mAP"] == pytest.approx(ref["mAP"], abs=1e-12) and cli["n_images"] == len(ids)
    with pytest.raises(InputError, match="not in the annotations, e.g. 999999999"):
        MetricRules(image_ids=[999999999]) and salanalysis.run_metrics(
            ann, [sa], rules=MetricRules(image_ids=[999999999]), n_boot=0)
    with pytest.raises(InputError, match="image_ids is empty"):
        MetricRules(image_ids=[])


def test_subsets_reach_objects_clutter_and_compare(demo, scored):
    ann, sets = scored
    _, sa = sets["a"]
    _, sb = sets["b"]
    ids = ann.image_ids[:60]
    rules = MetricRules(image_ids=ids)
    obj = salanalysis.run_objects(ann, None, [sa], rules=rules, jobs=1)
    assert set(obj.objects["image_id"]) <= set(ids) and len(obj.images) == len(ids)
    clut = salanalysis.run_clutter(ann, [sa], rules=rules, n_boot=0, min_images=3)
    assert clut.map["n_images"].sum() + clut.map.attrs["n_images_no_objects"] == len(ids)
    comp = salanalysis.run_compare(ann, [sa, sb], rules=rules, n_boot=0)
    rows = np.searchsorted(ann.image_ids, ids)
    y = ann.label_matrix()[rows]
    t = comp.table.set_index("category")
    person = ann.category_index(1)
    assert t.loc["person", "AP_A"] == pytest.approx(average_precision_score(y[:, person], sa.scores[rows, person]))


# ------------------------------------------------------------ one vocabulary in the shell
#: command -> (--jobs, --seed, --image-ids/--categories): where each can matter.
VOCABULARY = {
    "objects": (True, False, True),
    "metrics": (True, True, True),
    "stats": (False, True, True),
    "clutter": (True, True, True),
    "compare": (True, True, True),
    "plot": (False, False, False),
    "inspect": (False, False, False),
    "saliency evaluate": (False, True, False),
}


def _subparser(name: str):
    parser = build_parser()
    for word in name.split():
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[word]
    return parser


@pytest.mark.parametrize("command", sorted(VOCABULARY))
def test_every_analysis_command_speaks_one_vocabulary(command):
    jobs, seed, subset = VOCABULARY[command]
    p = _subparser(command)
    options = {o for a in p._actions for o in a.option_strings}
    assert {"--quiet", "--progress", "--no-progress", "--out"} <= options
    assert ("--jobs" in options) == jobs and ("--seed" in options) == seed
    assert ({"--image-ids", "--categories"} <= options) == subset
    out = next(a for a in p._actions if "--out" in a.option_strings)
    assert out.metavar == "DIR" and "--out is a folder for every analysis command" in out.help


def test_bare_saliency_exits_2_and_unknown_options_print_the_subcommand_usage(capsys):
    assert main(["saliency"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: salanalysis saliency") and "a SUBCOMMAND is required" in err
    with pytest.raises(SystemExit) as exc:
        main(["metrics", "--annotations", "a.json", "--scores", "s.csv", "--out", "o", "--frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: salanalysis metrics") and "unrecognized arguments: --frobnicate" in err
    with pytest.raises(SystemExit):
        main(["saliency", "evaluate", "--pred", "p", "--gt-maps", "g", "--out", "o", "--frobnicate"])
    assert capsys.readouterr().err.startswith("usage: salanalysis saliency evaluate")


@pytest.mark.parametrize("command, methods", [("metrics", ("normal", "percentile")), ("clutter", ("BCa",)),
                                               ("compare", ("BCa", "percentile"))])
def test_help_names_the_interval_method_used(command, methods):
    # metrics: Table 1 normal, per class and paired mAP percentile; clutter bands BCa;
    # compare per category BCa, the mAP difference percentile (the methods the code uses)
    p = _subparser(command)
    boot = next(a for a in p._actions if "--bootstrap" in a.option_strings)
    for m in methods:
        assert m in boot.help
    if command == "metrics":
        assert "BCa" not in boot.help


def test_analysis_keys_in_toml_restrict_reproduce(tmp_path):
    from test_reproduce import make_tiny

    from salanalysis.config import load_config

    cfg_path = make_tiny(tmp_path / "tiny", n_images=40)
    (tmp_path / "tiny" / "ids.txt").write_text("\n".join(str(i) for i in range(1, 31)) + "\n")
    cfg_path.write_text(cfg_path.read_text().replace(
        "[analysis]\n", '[analysis]\nimage_ids = "ids.txt"\ncategories = ["cat", "dog & co"]\n'))
    cfg = load_config(cfg_path)
    assert cfg.rules.image_ids == tuple(range(1, 31)) and cfg.rules.category_names == ("cat", "dog & co")
    assert cfg.to_dict()["analysis"]["categories"] == ["cat", "dog & co"]
    out = tmp_path / "out"
    assert main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    t1 = pd.read_csv(out / "tables" / "table1.csv")
    assert (t1.loc[t1["source"] == "computed", "n_images"] == 30).all()
    per_class = pd.read_csv(out / "tables" / "per_class.csv")
    assert set(per_class["category"]) == {"cat", "dog & co"}
    # the same numbers as the library on that part
    ann = Annotations.load(tmp_path / "tiny" / "ann.json")
    lib = salanalysis.run_metrics(ann, {"a": tmp_path / "tiny" / "scores_a.csv"}, n_boot=0,
                                  rules=MetricRules(image_ids=range(1, 31), category_names=["cat", "dog & co"]))
    a = t1[t1["model"] == "a"].iloc[0]
    assert a["mAP"] == pytest.approx(lib.tables["table1"]["mAP"].iloc[0], abs=1e-12)
    bad = cfg_path.read_text().replace('image_ids = "ids.txt"', 'image_ids = [1, "x"]')
    cfg_path.write_text(bad)
    with pytest.raises(InputError, match=r"config: 'analysis' image_ids or categories: image_ids: 'x'"):
        load_config(cfg_path)
    cfg_path.write_text(bad.replace('image_ids = [1, "x"]', "missing = 'zero'"))
    with pytest.raises(InputError, match="analysis.missing"):
        load_config(cfg_path)


def test_draw_figure_draws_into_a_given_figure_or_axes(scored):
    import matplotlib.pyplot as plt

    ann, sets = scored
    res = salanalysis.run_clutter(ann, [sets["a"][1], sets["b"][1]], n_boot=0, min_images=5)
    tables = dict(res.tables)
    own, caption = salanalysis.draw_figure("fig3_clutter", tables)

    def lines(axes):
        return [[np.asarray(line.get_ydata(), float).tolist() for line in a.get_lines()] for a in axes]

    fig = plt.figure(figsize=(7, 3))
    got, cap = salanalysis.draw_figure("fig3_clutter", tables, fig=fig)
    assert got is fig and cap == caption and fig.get_size_inches().tolist() == [7, 3]
    assert lines(fig.axes) == lines(own.axes)  # the same panels, in the caller's figure
    grid, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    got, _ = salanalysis.draw_figure("fig3_clutter", tables, ax=right)
    assert got is grid and left in grid.axes and right not in grid.axes
    assert len(grid.axes) == 1 + len(own.axes) and lines(grid.axes[1:]) == lines(own.axes)
    with pytest.raises(ValueError, match="fig= or ax="):
        salanalysis.draw_figure("fig3_clutter", tables, fig=fig, ax=left)


def test_compare_takes_a_reference_and_several_others(scored, tmp_path):
    ann, sets = scored
    sa, sb = sets["a"][1], sets["b"][1]
    sc = Scores.from_array("c", ann, np.clip(sb.scores * 0.5 + sa.scores * 0.5, 0, 1))
    many = salanalysis.run_compare(ann, [sa, sb, sc], n_boot=20, seed=3)
    t, s = many.table, many.summary_table
    assert list(t.columns[:2]) == ["model_a", "model_b"] and list(dict.fromkeys(t["model_b"])) == ["b", "c"]
    assert (t["model_a"] == "a").all() and t.attrs["models"] == ["a", "b", "c"]
    for other in (sb, sc):  # each block is the two-model comparison of the reference with that one
        pair = salanalysis.run_compare(ann, [sa, other], n_boot=20, seed=3)
        block = t[t["model_b"] == other.name].drop(columns=["model_a", "model_b"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(block, pair.table.reset_index(drop=True), check_dtype=False)
        rows = s[s["model_b"] == other.name].drop(columns=["model_a", "model_b"]).reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, pair.summary_table.reset_index(drop=True), check_dtype=False)
    text = many.summary()
    assert text.count(" - a: ") == 2 and "b - a" in text and "c - a" in text
    # Fig. 4 draws one comparison: the first by default, another with compare=(A, B)
    from salanalysis.figures import FigureContext

    tables = dict(many.tables)
    first, cap = salanalysis.draw_figure("fig4_category_delta", tables)
    other, cap_c = salanalysis.draw_figure("fig4_category_delta", tables, FigureContext(compare=("a", "c")))
    assert cap.startswith("AP('b') - AP('a') per category") and cap_c.startswith("AP('c') - AP('a') per category")
    with pytest.raises(InputError, match="no comparison of d with a"):
        salanalysis.draw_figure("fig4_category_delta", tables, FigureContext(compare=("a", "d")))


def test_inspect_and_saliency_evaluate_write_into_a_folder(demo, tmp_path, capsys):
    from salanalysis.io import read_table

    assert main(["inspect", "--annotations", str(demo.annotations), "--quiet", "--out", str(tmp_path / "ov")]) == 0
    assert [p.name for p in (tmp_path / "ov").iterdir()] == ["overview.csv"]
    assert main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
                 "--quiet", "--out", str(tmp_path / "ev")]) == 0
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == ["saliency_metrics.csv", "saliency_summary.csv"]
    summary = read_table(tmp_path / "ev" / "saliency_summary.csv").set_index("metric")
    assert summary.loc["CC", "mean"] == pytest.approx(1.0)  # the maps against themselves
    # the file form still works, with a one-line note
    capsys.readouterr()
    assert main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
                 "--out", str(tmp_path / "e.csv"), "--summary", str(tmp_path / "s.csv")]) == 0
    assert "salanalysis: note: --out" in capsys.readouterr().err
    assert (tmp_path / "e.csv").is_file() and (tmp_path / "s.csv").is_file()
