"""Per-category AP comparison (Fig. 4): signs, ordering, paired bootstrap, sizes, summary, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from sklearn.metrics import average_precision_score

from salanalysis.cli import main
from salanalysis.coco import Annotations
from salanalysis.compare import category_sizes, compare_categories, compare_summary, run_compare
from salanalysis.errors import InputError
from salanalysis.scores import Scores, read_scores, write_scores

COLUMNS = [
    "category_id", "category", "n_pos", "AP_A", "AP_B", "delta", "ci95_low", "ci95_high", "p_val",
    "q_val", "ci_method", "n_boot_valid", "area_frac_mean", "area_rank", "verdict",
]


def annotations_from_labels(labels: np.ndarray, names: list[str]) -> Annotations:
    """One 10x10-box object per positive (image, class); category ids 1..C."""
    anns, aid = [], 1
    for i, row in enumerate(labels):
        for c in np.flatnonzero(row):
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(c) + 1, "bbox": [0, 0, 10, 10],
                         "area": 100.0, "iscrowd": 0})
            aid += 1
    data = {
        "images": [{"id": i + 1, "width": 100, "height": 100} for i in range(len(labels))],
        "categories": [{"id": c + 1, "name": n} for c, n in enumerate(names)],
        "annotations": anns,
    }
    return Annotations(data)


# area_frac per object: c1 [0.1, 0.3] mean 0.2; c2 [0.5] mean 0.5; c3 [0.2, 0.2] mean 0.2; c4 none
# ranks (1 = largest, ties share the smaller rank): c2 -> 1, c1 and c3 -> 2, c4 -> NA
OBJECTS = pd.DataFrame({"category_id": [1, 1, 2, 3, 3], "area_frac": [0.1, 0.3, 0.5, 0.2, 0.2]})


@pytest.fixture(scope="module")
def case():
    """60 images, classes c1..c3 with positives, c4 without.

    c1: A is noise, B ranks nearly perfectly  -> B better (improved)
    c2: A ranks nearly perfectly, B reversed  -> B worse (worsened)
    c3: A and B identical                     -> delta 0 (within noise)
    """
    rng = np.random.default_rng(5)
    n = 60
    y = np.zeros((n, 4), dtype=bool)
    y[:, :3] = rng.uniform(size=(n, 3)) < 0.35
    y[0, :3] = True  # every image gets at least one class
    ann = annotations_from_labels(y, ["c1", "c2", "c3", "c4"])
    noise = rng.uniform(size=(n, 4))
    a = noise.copy()
    b = noise.copy()
    b[:, 0] = 0.6 * y[:, 0] + 0.3 * rng.uniform(size=n)
    a[:, 1] = 0.6 * y[:, 1] + 0.3 * rng.uniform(size=n)
    b[:, 1] = 1.0 - a[:, 1]
    return ann, y, Scores.from_array("A", ann, a), Scores.from_array("B", ann, b)


def test_category_sizes_ranks(case):
    ann = case[0]
    s = category_sizes(ann, OBJECTS)
    assert list(s.columns) == ["category_id", "category", "n_objects", "area_frac_mean", "area_rank"]
    assert list(s["n_objects"]) == [2, 1, 2, 0]
    np.testing.assert_allclose(s["area_frac_mean"].iloc[:3], [0.2, 0.5, 0.2])
    assert np.isnan(s["area_frac_mean"].iloc[3])
    assert s["area_rank"].iloc[:3].tolist() == [2, 1, 2] and pd.isna(s["area_rank"].iloc[3])
    with pytest.raises(InputError, match="area_frac"):
        category_sizes(ann, OBJECTS.drop(columns="area_frac"))
    with pytest.raises(InputError, match="category id 9"):
        category_sizes(ann, pd.DataFrame({"category_id": [9], "area_frac": [0.1]}))


def test_signs_ordering_and_verdicts(case):
    ann, y, a, b = case
    t = compare_categories(ann, a, b, n_boot=400, seed=0, objects=OBJECTS)
    assert list(t.columns) == COLUMNS
    # c4 has no positive: left out and counted
    assert list(t["category"]) == ["c1", "c3", "c2"]  # sorted by delta = B - A, descending
    assert t.attrs["n_categories_excluded"] == 1 and t.attrs["categories_excluded"] == ["c4"]
    for _, r in t.iterrows():
        c = int(r["category_id"]) - 1
        assert r["n_pos"] == y[:, c].sum()
        assert r["AP_A"] == pytest.approx(average_precision_score(y[:, c], a.scores[:, c]), abs=1e-12)
        assert r["AP_B"] == pytest.approx(average_precision_score(y[:, c], b.scores[:, c]), abs=1e-12)
        assert r["delta"] == pytest.approx(r["AP_B"] - r["AP_A"], abs=1e-15)
    by = t.set_index("category")
    assert by.loc["c1", "delta"] > 0.2 and by.loc["c1", "verdict"] == "improved"
    assert by.loc["c2", "delta"] < -0.2 and by.loc["c2", "verdict"] == "worsened"
    assert by.loc["c3", "delta"] == 0 and by.loc["c3", "verdict"] == "within noise"
    assert by.loc["c3", "ci95_low"] == 0 and by.loc["c3", "ci95_high"] == 0 and by.loc["c3", "p_val"] == 1
    assert by.loc["c1", "p_val"] < 0.01 and by.loc["c2", "p_val"] < 0.01
    assert by.loc["c1", "ci95_low"] > 0 and by.loc["c2", "ci95_high"] < 0
    assert by["area_rank"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(by["area_frac_mean"], [0.2, 0.2, 0.5])
    # the mAP difference over the kept classes
    m = t.attrs["mAP"]
    assert m["mAP_A"] == pytest.approx(t["AP_A"].mean()) and m["mAP_B"] == pytest.approx(t["AP_B"].mean())
    assert m["delta"] == pytest.approx(t["delta"].mean())
    assert m["ci95_low"] <= m["ci95_high"]

    # swapping A and B: every delta and interval mirrors, verdicts swap
    t2 = compare_categories(ann, b, a, n_boot=400, seed=0, objects=OBJECTS).set_index("category")
    assert list(t2.index) == ["c2", "c3", "c1"]
    np.testing.assert_allclose(t2.loc[by.index, "delta"], -by["delta"], atol=1e-15)
    np.testing.assert_allclose(t2.loc[by.index, "ci95_low"], -by["ci95_high"], atol=1e-12)
    np.testing.assert_allclose(t2.loc[by.index, "p_val"], by["p_val"])
    assert t2.loc["c1", "verdict"] == "worsened" and t2.loc["c2", "verdict"] == "improved"


def test_bootstrap_reproducible_with_seed(case):
    ann, _, a, b = case
    t1 = compare_categories(ann, a, b, n_boot=200, seed=3, objects=OBJECTS)
    t2 = compare_categories(ann, a, b, n_boot=200, seed=3, objects=OBJECTS)
    pd.testing.assert_frame_equal(t1, t2)
    assert t1.attrs == t2.attrs
    t3 = compare_categories(ann, a, b, n_boot=200, seed=4, objects=OBJECTS)
    assert not np.allclose(t1["ci95_low"].iloc[:1], t3["ci95_low"].iloc[:1])
    np.testing.assert_array_equal(t1["delta"], t3["delta"])


def test_summary_counts_and_correlations(case):
    ann, _, a, b = case
    t = compare_categories(ann, a, b, n_boot=400, seed=0, objects=OBJECTS)
    s = compare_summary(t)
    assert list(s.columns) == ["quantity", "value", "n", "ci95_low", "ci95_high", "p_val", "meaning"]
    v = s.set_index("quantity")["value"]
    assert v["n_categories"] == 3
    assert (v["improved"], v["worsened"], v["within_noise"]) == (1, 1, 1)
    assert (v["delta_positive"], v["delta_negative"]) == (1, 1)
    assert v["excluded_no_positive"] == 1
    assert v["delta_mAP"] == pytest.approx(t.attrs["mAP"]["delta"])
    # correlations of delta with mean size against numpy and pandas
    x, d = t["area_frac_mean"].to_numpy(), t["delta"].to_numpy()
    assert v["pearson_delta_area"] == pytest.approx(np.corrcoef(x, d)[0, 1], abs=1e-12)
    assert v["spearman_delta_area"] == pytest.approx(
        pd.Series(x).corr(pd.Series(d), method="spearman"), abs=1e-12
    )
    # Fisher-z interval of r: tanh(atanh(r) -+ 1.96 / sqrt(n - 3)) is infinite for n = 3 -> [-1, 1]
    row = s.set_index("quantity").loc["pearson_delta_area"]
    assert row["n"] == 3 and row["ci95_low"] == pytest.approx(-1) and row["ci95_high"] == pytest.approx(1)
    # a table read back from CSV (no attrs) still summarises, without the mAP row
    plain = pd.DataFrame(t.to_dict(orient="list"))
    s2 = compare_summary(plain)
    assert "delta_mAP" not in set(s2["quantity"]) and s2.set_index("quantity").loc["improved", "value"] == 1
    with pytest.raises(InputError):
        compare_summary(t.drop(columns="verdict"))


def test_identical_models_within_noise(case):
    ann, _, a, _ = case
    same = Scores.from_array("A2", ann, a.scores)
    t = compare_categories(ann, a, same, n_boot=100, seed=0, objects=OBJECTS)
    assert (t["delta"] == 0).all() and (t["verdict"] == "within noise").all()
    np.testing.assert_allclose(t["p_val"], 1.0)
    with pytest.raises(InputError, match="same name"):
        compare_categories(ann, a, Scores.from_array("A", ann, a.scores), n_boot=10, objects=OBJECTS)
    with pytest.raises(ValueError):
        compare_categories(ann, a, same, n_boot=-1, objects=OBJECTS)


def test_no_bootstrap_gives_deltas_without_intervals(case):
    # --bootstrap 0 is allowed everywhere: the deltas stay, intervals are NaN; the verdict
    # does not use them (it is the permutation test's); --permutations 0: no test at all
    ann, _, a, b = case
    full = compare_categories(ann, a, b, n_boot=50, seed=0, objects=OBJECTS, n_perm=199)
    none = compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, n_perm=199)
    np.testing.assert_array_equal(none["delta"].to_numpy(), full["delta"].to_numpy())
    assert none[["ci95_low", "ci95_high"]].isna().all().all() and (none["n_boot_valid"] == 0).all()
    np.testing.assert_array_equal(none["p_val"], full["p_val"])
    assert list(none["verdict"]) == list(full["verdict"])
    untested = compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, n_perm=0)
    assert untested[["p_val", "q_val"]].isna().all().all() and (untested["verdict"] == "not tested").all()
    assert none.attrs["mAP"]["delta"] == pytest.approx(full.attrs["mAP"]["delta"], abs=1e-15)


# ------------------------------------------------------------------ demo data
def class_prior(ann: Annotations, name: str = "prior") -> Scores:
    """Every image scored by the class's frequency in the annotation file."""
    y = ann.label_matrix(include_crowd=True)
    return Scores.from_array(name, ann, np.tile(y.mean(axis=0), (len(y), 1)))


def demo_objects(ann: Annotations) -> pd.DataFrame:
    """A stand-in object table: COCO's annotated area over the image area, non-crowd objects."""
    inst = ann.instances_for(False).merge(ann.images, on="image_id")
    return pd.DataFrame({"category_id": inst["category_id"],
                         "area_frac": inst["area"] / (inst["width"] * inst["height"])})


def test_demo_prior_vs_sample_detections(demo, demo_ann):
    ann = demo_ann
    det = read_scores(demo.detections, ann, name="sample")
    prior = class_prior(ann)
    objects = demo_objects(ann)
    t = compare_categories(ann, prior, det, n_boot=200, seed=0, objects=objects)
    y = ann.label_matrix(include_crowd=True)
    # 70 categories are present (crowd included), the other 10 of the 80 are left out
    assert len(t) == 70 and t.attrs["n_categories_excluded"] == 10
    assert t["delta"].is_monotonic_decreasing
    cols = {cid: i for i, cid in enumerate(ann.category_ids)}
    for _, r in t.iterrows():
        c = cols[int(r["category_id"])]
        # the prior ties every image: its AP is the prevalence n_pos / 100
        assert r["AP_A"] == pytest.approx(y[:, c].sum() / 100, abs=1e-12)
        assert r["AP_B"] == pytest.approx(average_precision_score(y[:, c], det.scores[:, c]), abs=1e-12)
    # a category with one positive keeps it in a resample with probability 1 - 0.99**100 = 0.634
    one = t[t["n_pos"] == 1]
    assert len(one) > 0 and one["n_boot_valid"].between(100, 154).all()  # 200 * 0.634 +- 4 sd
    assert (t.loc[t["n_pos"] >= 10, "n_boot_valid"] == 200).all()
    # mean sizes and ranks against pandas on the stand-in table
    ref = objects.groupby("category_id")["area_frac"].mean()
    np.testing.assert_allclose(t["area_frac_mean"], ref.loc[t["category_id"]].to_numpy(), rtol=1e-12)
    ref_rank = ref.rank(ascending=False, method="min")
    assert (t["area_rank"].to_numpy() == ref_rank.loc[t["category_id"]].to_numpy()).all()
    s = compare_summary(t).set_index("quantity")
    assert s.loc["improved", "value"] + s.loc["worsened", "value"] + s.loc["within_noise", "value"] == 70
    # the sample detections are perturbed ground truth: far above chance overall
    assert s.loc["delta_mAP", "value"] > 0.3 and s.loc["delta_mAP", "ci95_low"] > 0
    r, p = sps.spearmanr(t["area_frac_mean"], t["delta"])
    assert s.loc["spearman_delta_area", "value"] == pytest.approx(r) and s.loc["spearman_delta_area", "p_val"] == pytest.approx(p)


def test_cli_compare_demo(demo, demo_ann, tmp_path, capsys):
    prior_path = tmp_path / "prior.csv"
    write_scores(class_prior(demo_ann), prior_path)
    obj_path = tmp_path / "objects.csv"
    demo_objects(demo_ann).to_csv(obj_path, index=False)
    out = tmp_path / "out"
    rc = main([
        "compare", "--annotations", str(demo.annotations),
        "--scores", f"prior={prior_path}", "--scores", f"sample={demo.detections}",
        "--objects", str(obj_path), "--bootstrap", "50", "--seed", "1", "--out", str(out),
    ])
    text = capsys.readouterr().out
    assert rc == 0 and "sample - prior" in text and "70 categories" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "compare_categories.attrs.json", "compare_categories.csv", "compare_summary.csv"]
    t = pd.read_csv(out / "compare_categories.csv")
    assert list(t.columns) == COLUMNS and len(t) == 70
    ref = run_compare(demo_ann, {"prior": class_prior(demo_ann), "sample": read_scores(demo.detections, demo_ann)},
                      tmp_path / "lib", objects=demo_objects(demo_ann), n_boot=50, seed=1)
    np.testing.assert_allclose(t["ci95_low"], ref.table["ci95_low"], atol=1e-12)
    assert list(t["category"]) == list(ref.table["category"])
    s = pd.read_csv(out / "compare_summary.csv")
    assert "pearson_delta_area" in set(s["quantity"])


def test_cli_compare_errors(demo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["compare", "--annotations", str(demo.annotations), "--scores", f"a={demo.detections}",
               "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "two or more score files" in err and len(err.splitlines()) == 1
    bad = tmp_path / "objects.csv"
    pd.DataFrame({"category_id": [1], "size": [0.1]}).to_csv(bad, index=False)
    rc = main(["compare", "--annotations", str(demo.annotations), "--scores", f"a={demo.detections}",
               "--scores", f"b={demo.detections}", "--objects", str(bad), "--bootstrap", "10", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and str(bad) in err and "area_frac" in err and len(err.splitlines()) == 1
    assert not out.exists()  # nothing written


def test_demo_default_sizes_from_masks(demo, demo_ann, tmp_path, capsys):
    """Without an object table, sizes come from the masks (checked against pycocotools)."""
    from pycocotools.coco import COCO

    ref = COCO(str(demo.annotations))
    frac: dict[int, list[float]] = {}
    for a in ref.dataset["annotations"]:
        if a["iscrowd"]:
            continue
        im = ref.imgs[a["image_id"]]
        frac.setdefault(a["category_id"], []).append(ref.annToMask(a).sum() / (im["width"] * im["height"]))
    mean = pd.Series({c: np.mean(v) for c, v in frac.items()})
    det = read_scores(demo.detections, demo_ann, name="sample")
    t = compare_categories(demo_ann, class_prior(demo_ann), det, n_boot=20, seed=0)
    ids = t["category_id"].to_numpy()
    np.testing.assert_allclose(t["area_frac_mean"], mean.loc[ids].to_numpy(), rtol=1e-12)
    rank = mean.rank(ascending=False, method="min")
    assert (t["area_rank"].to_numpy() == rank.loc[ids].to_numpy()).all()
    # 70 categories have non-crowd objects: ranks 1..70
    assert sorted(rank.astype(int)) == list(range(1, 71))
    # the command line without --objects does the same
    prior_path = tmp_path / "prior.csv"
    write_scores(class_prior(demo_ann), prior_path)
    rc = main(["compare", "--annotations", str(demo.annotations), "--scores", f"prior={prior_path}",
               "--scores", f"sample={demo.detections}", "--bootstrap", "20", "--out", str(tmp_path / "o")])
    assert rc == 0
    csv = pd.read_csv(tmp_path / "o" / "compare_categories.csv")
    np.testing.assert_allclose(csv["area_frac_mean"], mean.loc[csv["category_id"]].to_numpy(), rtol=1e-12)


def test_compare_on_lvis_follows_the_federated_rule_and_can_turn_it_off(tmp_path, capsys):
    # per category, AP on the images where the class is verified (LVIS), from the raw JSON with
    # scikit-learn; `--federated off` counts every image, `--no-crowd` is accepted as in `metrics`
    import json

    from test_metrics import LVIS, _lvis_scores

    data = json.loads(LVIS.read_text())
    ann = Annotations.load(LVIS)
    rng = np.random.default_rng(4)
    sa, sb = _lvis_scores(ann, rng), _lvis_scores(ann, rng)
    paths = []
    for name, s in (("A", sa), ("B", sb)):
        paths.append(tmp_path / f"{name}.npz")
        write_scores(Scores.from_array(name, ann, s), paths[-1])
    args = ["compare", "--annotations", str(LVIS), "--scores", f"A={paths[0]}", "--scores", f"B={paths[1]}",
            "--bootstrap", "0"]
    assert main([*args, "--out", str(tmp_path / "on")]) == 0
    assert main([*args, "--federated", "off", "--no-crowd", "--out", str(tmp_path / "off")]) == 0
    capsys.readouterr()
    on, off = (pd.read_csv(tmp_path / d / "compare_categories.csv").set_index("category_id") for d in ("on", "off"))
    imgs = {im["id"]: im for im in data["images"]}
    ids = sorted(imgs)
    y = ann.label_matrix()
    for c, cid in enumerate(sorted(cat["id"] for cat in data["categories"])):
        if cid not in on.index:
            continue
        pos = {a["image_id"] for a in data["annotations"] if a["category_id"] == cid}
        keep = [k for k, i in enumerate(ids) if (i in pos or cid in imgs[i]["neg_category_ids"])
                and not (cid in imgs[i]["not_exhaustive_category_ids"] and i not in pos)]
        yc = np.array([ids[k] in pos for k in keep])
        assert on.loc[cid, "AP_A"] == pytest.approx(average_precision_score(yc, sa[keep, c]), abs=1e-15)
        assert off.loc[cid, "AP_A"] == pytest.approx(average_precision_score(y[:, c], sa[:, c]), abs=1e-15)
    assert (off["AP_A"] < on.loc[off.index, "AP_A"]).mean() > 0.5
    # the rule is recorded beside the table and named in Fig. 4's caption
    from salanalysis import figures as F

    tables = F.read_tables([tmp_path / "on"])
    assert tables["compare_categories"].attrs["federated"] == "on"
    assert "Federated (LVIS) evaluation" in F.caption_fig4(tables, F.FigureContext())
    tables = F.read_tables([tmp_path / "off"])
    assert tables["compare_categories"].attrs["federated"] == "off"
    assert "Federated" not in F.caption_fig4(tables, F.FigureContext())


def test_compare_and_clutter_no_crowd(tmp_path, capsys):
    # an image whose only instance of a class is a crowd annotation: positive by default (as
    # pycocotools' labels), negative with --no-crowd, in compare's per-category AP and in
    # clutter's per-group mAP (scikit-learn reference)
    import json

    from salanalysis.demo import demo_paths

    data = json.loads(demo_paths().annotations.read_text())
    crowd = {(a["image_id"], a["category_id"]) for a in data["annotations"] if a["iscrowd"]}
    data["annotations"] = [a for a in data["annotations"]
                           if a["iscrowd"] or (a["image_id"], a["category_id"]) not in crowd]
    path = tmp_path / "instances_crowd_alone.json"
    path.write_text(json.dumps(data))
    ann = Annotations.load(path)
    rng = np.random.default_rng(9)
    sa, sb = rng.random((len(ann.image_ids), len(ann.category_ids))), rng.random((len(ann.image_ids), 80))
    paths = []
    for name, s in (("A", sa), ("B", sb)):
        paths.append(tmp_path / f"{name}.npz")
        write_scores(Scores.from_array(name, ann, s), paths[-1])
    with_crowd, without = ann.label_matrix(include_crowd=True), ann.label_matrix(include_crowd=False)
    changed = np.flatnonzero((with_crowd != without).any(axis=0) & without.any(axis=0))
    assert len(changed)
    scores = ["--scores", f"A={paths[0]}", "--scores", f"B={paths[1]}", "--bootstrap", "0"]
    for flag, labels in (([], with_crowd), (["--no-crowd"], without)):
        out = tmp_path / f"cmp{len(flag)}"
        assert main(["compare", "--annotations", str(path), *scores, *flag, "--out", str(out)]) == 0
        table = pd.read_csv(out / "compare_categories.csv").set_index("category_id")
        for j in changed:
            ref = average_precision_score(labels[:, j], sa[:, j])
            assert table.loc[ann.category_ids[j], "AP_A"] == pytest.approx(ref, abs=1e-12), (flag, j)
        out = tmp_path / f"clutter{len(flag)}"
        assert main(["clutter", "--annotations", str(path), *scores, "--k", "2", *flag, "--out", str(out)]) == 0
        cm = pd.read_csv(out / "clutter_map.csv")
        one = cm[(cm["model"] == "A") & (cm["group"] == "1")].iloc[0]
        n_obj = np.zeros(len(ann.image_ids), int)
        rows = {i: k for k, i in enumerate(ann.image_ids)}
        for a in data["annotations"]:
            if not a["iscrowd"]:
                n_obj[rows[a["image_id"]]] += 1
        sel = n_obj == 1
        ref = np.mean([average_precision_score(labels[sel, c], sa[sel, c]) for c in range(80) if labels[sel, c].any()])
        assert one["mAP"] == pytest.approx(ref, abs=1e-12), flag
    capsys.readouterr()


# ------------------------------------------------------------------ multiplicity
def test_q_values_are_bh_or_holm_of_the_permutation_p(case):
    from statsmodels.stats.multitest import multipletests

    ann, _, a, b = case
    t = compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, n_perm=999, seed=2)
    # statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(t["q_val"], multipletests(t["p_val"], method="fdr_bh")[1], rtol=1e-12)
    assert t.attrs["p_adjust"] == "fdr_bh" and t.attrs["n_perm"] == 999 and "permutation" in t.attrs["test"]
    h = compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, n_perm=999, seed=2, adjust="holm")
    np.testing.assert_allclose(h["q_val"], multipletests(h["p_val"], method="holm")[1], rtol=1e-12)
    assert h.attrs["p_adjust"] == "holm"
    # the verdict is the q-value's, by the sign of delta
    flagged = t["q_val"] < 0.05
    assert set(t.loc[flagged & (t["delta"] > 0), "verdict"]) <= {"improved"}
    assert set(t.loc[~flagged, "verdict"]) <= {"within noise"}
    with pytest.raises(ValueError, match="adjust"):
        compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, adjust="bonferroni")


def test_summary_has_the_balance_test_and_the_permutation_p_of_delta_map(case):
    ann, _, a, b = case
    t = compare_categories(ann, a, b, n_boot=100, objects=OBJECTS, n_perm=999)
    s = compare_summary(t).set_index("quantity")
    d = t.attrs["direction"]
    assert (d["n_positive"], d["n_negative"], d["balance"]) == (1, 1, 0)
    assert s.loc["direction_balance", "value"] == 0 and s.loc["direction_balance", "p_val"] == 1.0
    assert s.loc["delta_mAP", "p_val"] == t.attrs["mAP"]["p_val"] and 0 < t.attrs["mAP"]["p_val"] <= 1
    assert "permutation" in s.loc["delta_mAP", "meaning"] and "descriptive" in s.loc["delta_mAP", "meaning"]
    # too few permutations for the correction to pass: said in the attrs and the summary
    few = compare_categories(ann, a, b, n_boot=0, objects=OBJECTS, n_perm=19)
    assert not few.attrs["can_pass"] and few.attrs["p_min"] == pytest.approx(0.05)
    from salanalysis.compare import CompareResult

    text = CompareResult({"compare_categories": few, "compare_summary": compare_summary(few)}).summary()
    assert "cannot pass the correction" in text and "Benjamini-Hochberg" in text


def test_cli_adjust_and_permutations(demo, demo_ann, tmp_path, capsys):
    from statsmodels.stats.multitest import multipletests

    from salanalysis.commands.compare import DEFAULT_N_PERM as CLI_DEFAULT
    from salanalysis.compare import DEFAULT_N_PERM

    assert CLI_DEFAULT == DEFAULT_N_PERM
    prior_path = tmp_path / "prior.csv"
    write_scores(class_prior(demo_ann), prior_path)
    obj_path = tmp_path / "objects.csv"
    demo_objects(demo_ann).to_csv(obj_path, index=False)
    args = ["compare", "--annotations", str(demo.annotations), "--scores", f"prior={prior_path}",
            "--scores", f"sample={demo.detections}", "--objects", str(obj_path), "--bootstrap", "0"]
    assert main([*args, "--permutations", "199", "--adjust", "holm", "--out", str(tmp_path / "h")]) == 0
    assert "Holm q < 0.05" in capsys.readouterr().out
    t = pd.read_csv(tmp_path / "h" / "compare_categories.csv")
    np.testing.assert_allclose(t["q_val"], multipletests(t["p_val"], method="holm")[1], rtol=1e-12)
    assert (t["p_val"] >= 1 / 200).all()
    with pytest.raises(SystemExit) as e:
        main([*args, "--adjust", "bonferroni", "--out", str(tmp_path / "x")])
    assert e.value.code == 2 and not (tmp_path / "x").exists()


def test_cli_compare_refuses_an_object_table_of_another_dataset(demo, demo_ann, tmp_path, capsys):
    # an LVIS table against the COCO demo: every area_frac NaN, "Pearson r +nan (n=0)", exit 0 before
    from pathlib import Path

    from salanalysis.objects import object_table

    lvis = Annotations.load(Path(__file__).parent / "data" / "lvis_fixtures" / "lvis_v1_val_tiny.json")
    other = tmp_path / "lvis_objects.csv"
    object_table(lvis).to_csv(other, index=False)
    prior = tmp_path / "prior.csv"
    write_scores(class_prior(demo_ann), prior)
    base = ["compare", "--annotations", str(demo.annotations), "--scores", f"prior={prior}",
            "--scores", f"sample={demo.detections}", "--bootstrap", "0"]
    out = tmp_path / "out"
    assert main([*base, "--objects", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(other) in err and "image(s) not in" in err and not out.exists()
    # the demo's own images, another file's objects (categories moved): named, not averaged
    obj = object_table(demo_ann)
    obj.loc[obj.index[5], "category_id"] = 1 if obj["category_id"].iloc[5] != 1 else 2
    moved = tmp_path / "moved.csv"
    obj.to_csv(moved, index=False)
    assert main([*base, "--objects", str(moved), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"annotation {obj['ann_id'].iloc[5]} is image" in err and "1 object(s) differ" in err and not out.exists()


def test_compare_summary_without_bootstrap_says_no_intervals(demo, demo_ann, tmp_path):
    res = run_compare(demo_ann, {"prior": class_prior(demo_ann), "sample": read_scores(demo.detections, demo_ann)},
                      None, n_boot=0)
    text = res.summary()
    assert "nan" not in text.replace("n=", "") and "mAP difference" in text and "(no bootstrap, no intervals)" in text
