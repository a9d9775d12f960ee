"""Table 1 metrics: AP against scikit-learn, C-/O- metrics against hand computations,
the demo data against an independent computation, bootstraps, edge cases, the CLI."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from salanalysis._bootstrap import SortedAP, resample_weights, weight_batches
from salanalysis.cli import main
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics import (
    PUBLISHED_SOURCE,
    PUBLISHED_TABLE1,
    MetricRules,
    average_precision,
    bootstrap_ap,
    bootstrap_metrics,
    evaluate,
    evaluation_mask,
    excluded_classes,
    format_table,
    ground_truth,
    paired_bootstrap,
    per_class_metrics,
    summary_metrics,
    table1,
)
from salanalysis.scores import Scores, read_scores, write_scores


def sk_ap(y, s, w=None):
    """scikit-learn's per-class AP, NaN where the class has no (weighted) positive."""
    out = []
    for k in range(y.shape[1]):
        pos = y[:, k] if w is None else y[:, k] & (w > 0)
        if not pos.any():
            out.append(np.nan)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(average_precision_score(y[:, k], s[:, k], sample_weight=w))
    return np.array(out)


# ---------------------------------------------------------------- strategies
@st.composite
def label_score_pairs(draw, weights=False):
    n = draw(st.integers(1, 40))
    c = draw(st.integers(1, 4))
    y = draw(arrays(bool, (n, c)))
    kind = draw(st.sampled_from(["float", "ties", "constant", "extreme"]))
    if kind == "float":
        s = draw(arrays(np.float64, (n, c), elements=st.floats(0, 1, allow_nan=False)))
    elif kind == "ties":  # few distinct values: many ties
        s = draw(arrays(np.float64, (n, c), elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    elif kind == "constant":  # every score tied
        s = np.full((n, c), 0.3)
    else:  # real-valued logits incl. negative and huge
        s = draw(arrays(np.float64, (n, c), elements=st.floats(-1e6, 1e6, allow_nan=False)))
    if draw(st.booleans()):  # degenerate columns: all positive / all negative
        y[:, 0] = draw(st.booleans())
    if not weights:
        return y, s
    w = draw(arrays(np.int64, (n,), elements=st.integers(0, 4)))
    return y, s, w


# ------------------------------------------------------------------------ AP
@settings(max_examples=300, deadline=None)
@given(label_score_pairs())
def test_ap_equals_sklearn(pair):
    y, s = pair
    ap = average_precision(y, s)
    ref = sk_ap(y, s)
    np.testing.assert_array_equal(np.isnan(ap), ~y.any(axis=0))
    np.testing.assert_allclose(ap, ref, rtol=0, atol=1e-12, equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(label_score_pairs(weights=True))
def test_weighted_ap_equals_sklearn_sample_weight(triple):
    # the bootstrap engine: sort once, re-weight; sklearn: sample_weight (drops zero weights)
    y, s, w = triple
    got = SortedAP.build(y, s).ap(w[:, None].astype(np.float32))[0]
    np.testing.assert_allclose(got, sk_ap(y, s, w), rtol=0, atol=1e-12, equal_nan=True)


def test_ap_ties_do_not_depend_on_row_order(rng):
    y = rng.random((200, 3)) < 0.3
    s = rng.integers(0, 5, size=(200, 3)) / 4.0  # heavy ties
    perm = rng.permutation(200)
    np.testing.assert_allclose(average_precision(y, s), average_precision(y[perm], s[perm]), atol=1e-15)


def test_ap_hand_computed():
    # scores 0.9(+) 0.8(-) 0.8(+) 0.1(+): distinct thresholds 0.9 / 0.8 / 0.1
    # P@0.9 = 1/1, R gain 1/3; P@0.8 = 2/3, gain 1/3; P@0.1 = 3/4, gain 1/3
    # AP = (1 + 2/3 + 3/4) / 3 = 29/36
    y = np.array([[1], [0], [1], [1]], bool)
    s = np.array([[0.9], [0.8], [0.8], [0.1]])
    assert average_precision(y, s)[0] == pytest.approx(29 / 36, abs=1e-15)


# ------------------------------------------------------- threshold metrics
# 4 images x 3 classes. Class 2 never predicted; prediction = score >= 0.5.
Y = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
S = np.array([[0.9, 0.2, 0.4], [0.6, 0.5, 0.1], [0.7, 0.4, 0.3], [0.2, 0.8, 0.0]])
# predicted (>= 0.5):       class0: img 0,1,2   class1: img 1,3   class2: none
# N_c (correct):            2                    1                 0
# N_p (predicted):          3                    2                 0
# N_g (ground truth):       2                    2                 1
# precision: 2/3, 1/2, 0 (0/0 -> 0);  recall: 1, 1/2, 0
# C-P = (2/3 + 1/2 + 0)/3 = 7/18;  C-R = (1 + 1/2 + 0)/3 = 1/2
# C-F1 harmonic = 2 * 7/18 * 1/2 / (7/18 + 1/2) = (7/18) / (16/18) = 7/16
# per-class F1: 2*(2/3)/(5/3) = 4/5, 1/2, 0 -> mean-per-class C-F1 = 13/30
# O-P = 3/5; O-R = 3/5; O-F1 = 3/5


def test_threshold_metrics_hand_computed():
    m = summary_metrics(Y, S)
    assert m["CP"] == pytest.approx(7 / 18, abs=1e-15)
    assert m["CR"] == pytest.approx(1 / 2, abs=1e-15)
    assert m["CF1"] == pytest.approx(7 / 16, abs=1e-15)
    assert m["OP"] == pytest.approx(3 / 5, abs=1e-15)
    assert m["OR"] == pytest.approx(3 / 5, abs=1e-15)
    assert m["OF1"] == pytest.approx(3 / 5, abs=1e-15)
    assert m["cf1"] == "harmonic" and m["prediction"] == "score>=0.5"
    assert m["n_classes"] == 3 and m["n_classes_excluded"] == 0
    m2 = summary_metrics(Y, S, MetricRules(cf1="mean-per-class"))
    assert m2["CF1"] == pytest.approx(13 / 30, abs=1e-15)
    assert m2["cf1"] == "mean-per-class"
    # AP: class0 scores 0.9+ 0.7- 0.6+ 0.2- -> (1 + 2/3)/2 = 5/6
    #     class1 0.8- 0.5+ 0.4+ 0.2- -> (1/2 + 2/3)/2 = 7/12 ; class2 0.4+ first -> 1
    assert m["mAP"] == pytest.approx((5 / 6 + 7 / 12 + 1) / 3, abs=1e-15)


def test_threshold_is_inclusive():
    # score exactly at the threshold is a prediction (score >= threshold)
    m = summary_metrics(Y, S, MetricRules(threshold=0.6))
    # class0 predicted at 0.9, 0.7, 0.6 (img 0, 2, 1): N_c = 2, N_p = 3 -> 2/3
    pc = per_class_metrics(Y, S, MetricRules(threshold=0.6))
    assert pc["n_pred"].tolist() == [3, 1, 0]
    assert pc["precision"].iloc[0] == pytest.approx(2 / 3)
    assert m["OP"] == pytest.approx(2 / 4)  # correct: 2 (class0) + 0 (class1: img 3 neg)


def test_top_k_hand_computed():
    # top-1 per image: img0 -> class0 (0.9); img1 -> class0 (0.6); img2 -> class0 (0.7);
    # img3 -> class1 (0.8). class0: N_c 2, N_p 3; class1: N_c 0, N_p 1; class2: 0, 0
    # precision 2/3, 0, 0; recall 1, 0, 0 -> C-P 2/9, C-R 1/3; O-P 2/4, O-R 2/5
    m = summary_metrics(Y, S, MetricRules(top_k=1))
    assert m["CP"] == pytest.approx(2 / 9) and m["CR"] == pytest.approx(1 / 3)
    assert m["OP"] == pytest.approx(1 / 2) and m["OR"] == pytest.approx(2 / 5)
    assert m["prediction"] == "top-1"
    assert summary_metrics(Y, S, MetricRules(top_k=1), ap=average_precision(Y, S)) == m  # precomputed AP
    with pytest.raises(InputError, match="ap has shape"):
        summary_metrics(Y, S, ap=np.zeros(2))
    # ties at the k-th score go to the lower category index
    y = np.array([[1, 1, 0]], bool)
    s = np.array([[0.5, 0.5, 0.5]])
    pc = per_class_metrics(y, s, MetricRules(top_k=2))
    assert pc["n_pred"].tolist() == [1, 1, 0]
    # top_k_threshold also requires score >= threshold: with threshold 0.6 nothing is predicted
    assert per_class_metrics(y, s, MetricRules(top_k=2, top_k_threshold=True, threshold=0.6))["n_pred"].sum() == 0


def test_top_k_matches_stable_argsort(rng):
    s = rng.integers(0, 6, size=(300, 10)) / 5.0
    y = rng.random((300, 10)) < 0.3
    pc = per_class_metrics(y, s, MetricRules(top_k=3))
    top = np.argsort(-s, axis=1, kind="stable")[:, :3]
    pred = np.zeros_like(y)
    np.put_along_axis(pred, top, True, axis=1)
    assert pc["n_pred"].tolist() == pred.sum(0).tolist()
    assert pc["n_correct"].tolist() == (pred & y).sum(0).tolist()


def test_per_class_and_overall_match_sklearn(rng):
    y = rng.random((500, 6)) < 0.25
    y[:, 5] = False  # a class without positives
    s = rng.random((500, 6))
    s[:, 4] *= 0.4  # a class never predicted (precision 0/0 -> 0)
    pred = s >= 0.5
    pc = per_class_metrics(y, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = precision_score(y, pred, average=None, zero_division=0)
        r = recall_score(y, pred, average=None, zero_division=0)
        f = f1_score(y, pred, average=None, zero_division=0)
    np.testing.assert_allclose(pc["precision"], p, atol=1e-15)
    np.testing.assert_allclose(pc["recall"][:5], r[:5], atol=1e-15)
    np.testing.assert_allclose(pc["F1"][:5], f[:5], atol=1e-15)
    assert np.isnan(pc["recall"].iloc[5]) and np.isnan(pc["F1"].iloc[5]) and np.isnan(pc["AP"].iloc[5])
    # exclude (default): mAP and the C- metrics over the 5 classes with positives; O-P/O-R pool
    # every prediction (sklearn's micro average over all 6 columns: the empty class's are FPs)
    m = summary_metrics(y, s)
    assert m["n_classes"] == 5 and m["n_classes_excluded"] == 1 and m["excluded"] == [5]
    assert m["overall"] == "all-predictions" and pred[:, 5].sum() > 0
    assert m["CP"] == pytest.approx(p[:5].mean(), abs=1e-15)
    assert m["CR"] == pytest.approx(r[:5].mean(), abs=1e-15)
    assert m["OP"] == pytest.approx(precision_score(y, pred, average="micro"), abs=1e-15)
    assert m["OR"] == pytest.approx(recall_score(y, pred, average="micro"), abs=1e-15)
    assert m["OF1"] == pytest.approx(f1_score(y, pred, average="micro"), abs=1e-15)
    assert m["mAP"] == pytest.approx(np.mean(sk_ap(y, s)[:5]), abs=1e-12)
    # the other pooling rule: only the classes with positives
    c = summary_metrics(y, s, MetricRules(overall="classes-with-positives"))
    assert c["OP"] == pytest.approx(precision_score(y[:, :5], pred[:, :5], average="micro"), abs=1e-15)
    assert c["OR"] == pytest.approx(recall_score(y[:, :5], pred[:, :5], average="micro"), abs=1e-15)
    assert c["OF1"] == pytest.approx(f1_score(y[:, :5], pred[:, :5], average="micro"), abs=1e-15)
    assert c["OP"] > m["OP"] and {k: c[k] for k in ("CP", "CR", "mAP")} == {k: m[k] for k in ("CP", "CR", "mAP")}
    # zero: all 6 classes; AP 0 and recall 0 for the empty class, its predictions are FPs
    z = summary_metrics(y, s, MetricRules(empty_classes="zero"))
    assert z["n_classes"] == 6 and z["n_classes_excluded"] == 0
    assert z["CP"] == pytest.approx(p.mean(), abs=1e-15)
    assert z["CR"] == pytest.approx(r.mean(), abs=1e-15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert z["OP"] == pytest.approx(precision_score(y, pred, average="micro"), abs=1e-15)
    assert z["mAP"] == pytest.approx(np.mean(sk_ap(y, s)[:5]) * 5 / 6, abs=1e-12)
    assert summary_metrics(y, s, MetricRules(cf1="mean-per-class"))["CF1"] == pytest.approx(f[:5].mean(), abs=1e-15)


# ----------------------------------------------------------------- edge cases
def test_bad_inputs():
    y = np.zeros((3, 2), bool)
    with pytest.raises(InputError, match="shape"):
        average_precision(y, np.zeros((3, 3)))
    with pytest.raises(InputError, match="NaN"):
        summary_metrics(y, np.array([[0.1, np.nan], [0, 0], [0, 0]]))
    with pytest.raises(InputError, match="binary"):
        average_precision(np.full((3, 2), 2), np.zeros((3, 2)))
    with pytest.raises(InputError, match="2-D"):
        average_precision(np.zeros(3, bool), np.zeros(3))
    with pytest.raises(ValueError, match="cf1"):
        summary_metrics(y, np.zeros((3, 2)), MetricRules(cf1="geometric"))
    with pytest.raises(ValueError, match="top_k"):
        summary_metrics(y, np.zeros((3, 2)), MetricRules(top_k=3))


def test_all_negative():
    y = np.zeros((5, 2), bool)
    s = np.linspace(0, 1, 10).reshape(5, 2)
    assert np.isnan(average_precision(y, s)).all()
    m = summary_metrics(y, s)
    assert m["n_classes"] == 0 and m["n_classes_excluded"] == 2
    assert all(np.isnan(m[k]) for k in ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP"))
    z = summary_metrics(y, s, MetricRules(empty_classes="zero"))
    assert z["mAP"] == 0 and z["CP"] == 0 and z["CR"] == 0 and z["OP"] == 0
    boot = bootstrap_ap(y, [s], n_boot=3, seed=0)
    assert boot.shape == (3, 1, 2) and np.isnan(boot).all()


# ------------------------------------------------------------------ demo data
def _independent_demo(demo):
    """Labels and image-level scores built straight from the JSON files."""
    gt = json.loads(demo.annotations.read_text())
    det = json.loads(demo.detections.read_text())
    img = sorted(im["id"] for im in gt["images"])
    cat = sorted(c["id"] for c in gt["categories"])
    ri, ci = {v: i for i, v in enumerate(img)}, {v: i for i, v in enumerate(cat)}
    y = np.zeros((len(img), len(cat)), bool)
    y_nocrowd = np.zeros_like(y)
    for a in gt["annotations"]:
        y[ri[a["image_id"]], ci[a["category_id"]]] = True
        if not a.get("iscrowd", 0):
            y_nocrowd[ri[a["image_id"]], ci[a["category_id"]]] = True
    s = np.zeros(y.shape)
    for d in det:
        r, c = ri[d["image_id"]], ci[d["category_id"]]
        s[r, c] = max(s[r, c], d["score"])
    return np.array(img), y, y_nocrowd, s


def test_ground_truth_demo(demo, demo_ann):
    img, y, y_nocrowd, _ = _independent_demo(demo)
    ids, lab = ground_truth(demo_ann)
    np.testing.assert_array_equal(ids, img)
    np.testing.assert_array_equal(lab, y)
    ids2, lab2 = ground_truth(demo_ann, MetricRules(include_crowd=False, include_empty=False))
    keep = y_nocrowd.any(1)
    np.testing.assert_array_equal(ids2, img[keep])
    np.testing.assert_array_equal(lab2, y_nocrowd[keep])
    assert len(ids) == 100 and lab.any(0).sum() == 70


def test_demo_evaluate_matches_independent(demo, demo_ann):
    _, y, _, s = _independent_demo(demo)
    sc = read_scores(demo.detections, demo_ann, name="sample")
    summ, pc = evaluate(demo_ann, sc)
    ref_ap = sk_ap(y, s)
    np.testing.assert_allclose(pc["AP"], ref_ap, atol=1e-12, equal_nan=True)
    has = y.any(0)
    assert summ["mAP"] == pytest.approx(np.nanmean(ref_ap), abs=1e-12)
    pred = s >= 0.5
    p = precision_score(y[:, has], pred[:, has], average=None, zero_division=0)
    r = recall_score(y[:, has], pred[:, has], average=None, zero_division=0)
    assert summ["CP"] == pytest.approx(p.mean(), abs=1e-12)
    assert summ["CR"] == pytest.approx(r.mean(), abs=1e-12)
    # O-P/O-R pool every prediction: the 10 classes without positives in the 100 images have predictions
    assert pred[:, ~has].sum() > 0
    assert summ["OP"] == pytest.approx(precision_score(y, pred, average="micro"), abs=1e-12)
    assert summ["OR"] == pytest.approx(recall_score(y, pred, average="micro"), abs=1e-12)
    old, _ = evaluate(demo_ann, sc, MetricRules(overall="classes-with-positives"))
    assert old["OP"] == pytest.approx(precision_score(y[:, has], pred[:, has], average="micro"), abs=1e-12)
    assert summ["n_classes"] == 70 and summ["n_classes_excluded"] == 10 and summ["n_images"] == 100
    assert summ["model"] == "sample" and summ["include_crowd"] and summ["include_empty"]
    names = [c["name"] for c in sorted(json.loads(demo.annotations.read_text())["categories"], key=lambda c: c["id"])]
    assert summ["excluded_categories"] == [names[i] for i in np.flatnonzero(~has)]
    assert list(pc.columns[:3]) == ["category_id", "category", "n_pos"]
    assert pc["category"].iloc[0] == "person" and pc["n_pos"].iloc[0] == y[:, 0].sum()


def test_table1_and_formats(demo, demo_ann):
    sc = read_scores(demo.detections, demo_ann, name="sample")
    half = Scores.from_array("half", demo_ann, sc.scores * 0.5)
    t = table1(demo_ann, [sc, half], published=True)
    assert list(t.columns[:9]) == ["model", "CP", "CR", "CF1", "OP", "OR", "OF1", "mAP", "n_classes"]
    assert t["model"].iloc[:2].tolist() == ["sample", "half"]
    # halving the scores keeps the ranking (same mAP) but 0.5 now needs a score of 1
    assert t["mAP"].iloc[1] == pytest.approx(t["mAP"].iloc[0], abs=1e-15)
    assert t["OP"].iloc[1] != t["OP"].iloc[0]
    pub = t[t["source"] == PUBLISHED_SOURCE].reset_index(drop=True)
    assert len(pub) == len(PUBLISHED_TABLE1)
    row = pub[pub["model"] == "RSN-50 Baseline"].iloc[0]
    assert row["CF1"] == pytest.approx(0.579) and row["mAP"] == pytest.approx(0.715)
    assert np.isnan(pub[pub["model"] == "VGG MCE [13]"].iloc[0]["CP"])
    md = format_table(t, "markdown")
    first = md.splitlines()[2].split("|")
    assert first[1].strip() == "sample"
    assert first[-2].strip() == f"{100 * t['mAP'].iloc[0]:.1f}"
    assert "harmonic mean of C-P and C-R" in md and PUBLISHED_SOURCE in md
    assert "RSN-50 Baseline †‡ | 64.6 | 77.9 | 57.9 | 70.8 | 80.5 | 63.2 | 71.5 |" in md
    tex = format_table(t, "latex")
    assert r"\begin{tabular}" in tex and r"RSN-50 Baseline $^{\dagger\ddagger}$ & 64.6" in tex
    assert "mean of per-class F1" in format_table(table1(demo_ann, [sc], MetricRules(cf1="mean-per-class")))


def test_table1_missing_images(demo_ann):
    short = Scores(
        name="short",
        image_ids=demo_ann.image_ids[:-1],
        category_ids=demo_ann.category_ids,
        categories=demo_ann.category_names,
        scores=np.zeros((99, 80)),
    )
    with pytest.raises(InputError, match=r"lacks 1 image\(s\) of the annotations"):
        table1(demo_ann, [short])


def _tiny_annotations():
    """3 images: 1 has a cat and a crowd dog, 2 has only a crowd dog, 3 has nothing."""

    box = {"bbox": [0, 0, 2, 2], "area": 4.0}
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "width": 4, "height": 4} for i in (1, 2, 3)],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "iscrowd": 0, **box},
            {"id": 11, "image_id": 1, "category_id": 9, "iscrowd": 1, **box},
            {"id": 12, "image_id": 2, "category_id": 9, "iscrowd": 1, **box},
        ],
    }
    return Annotations(data)


def test_ground_truth_rules_and_empty_images():
    ann = _tiny_annotations()
    ids, y = ground_truth(ann)
    assert ids.tolist() == [1, 2, 3] and y.tolist() == [[True, True], [False, True], [False, False]]
    ids, y = ground_truth(ann, MetricRules(include_crowd=False))
    assert y.tolist() == [[True, False], [False, False], [False, False]]
    ids, y = ground_truth(ann, MetricRules(include_empty=False))
    assert ids.tolist() == [1, 2]
    ids, y = ground_truth(ann, MetricRules(include_crowd=False, include_empty=False))
    assert ids.tolist() == [1] and y.tolist() == [[True, False]]
    # scores without the empty image 3: an error by default, fine when empty images are dropped
    sc = Scores("m", [1, 2], ann.category_ids, ann.category_names, [[0.9, 0.2], [0.1, 0.8]])
    with pytest.raises(InputError, match=r"lacks 1 image\(s\) of the annotations"):
        table1(ann, [sc])
    t = table1(ann, [sc], MetricRules(include_empty=False))
    # cat: img1 0.9(+) img2 0.1(-) -> AP 1; dog: img2 0.8(+) img1 0.2(+) -> AP 1
    assert t["mAP"].iloc[0] == 1.0 and t["n_images"].iloc[0] == 2
    assert t["ground_truth"].iloc[0] == "crowd"
    # without crowd, dog has no positive: excluded, and the 3 images count (empty kept)
    full = Scores("m", [1, 2, 3], ann.category_ids, ann.category_names, [[0.9, 0.2], [0.1, 0.8], [0.5, 0.5]])
    t = table1(ann, [full], MetricRules(include_crowd=False))
    assert t["n_classes"].iloc[0] == 1 and t["n_classes_excluded"].iloc[0] == 1
    ex = excluded_classes(ann, MetricRules(include_crowd=False))
    assert ex["category"].tolist() == ["dog"] and ex["category_id"].tolist() == [9]
    assert excluded_classes(ann).empty and excluded_classes(ann, MetricRules(empty_classes="zero")).empty
    assert t["ground_truth"].iloc[0] == "no-crowd+empty"
    # cat: 0.9(+) 0.5(-) 0.1(-) -> AP 1; predicted (>= 0.5) imgs 1, 3 -> C-P 1/2, C-R 1
    assert t["mAP"].iloc[0] == 1.0 and t["CP"].iloc[0] == 0.5 and t["CR"].iloc[0] == 1.0


# ------------------------------------------------------------------ bootstrap
def test_bootstrap_ap_is_weighted_ap_of_the_resamples(rng):
    y = rng.random((120, 4)) < 0.2
    a = np.round(rng.random((120, 4)), 1)  # ties
    b = rng.random((120, 4))
    boot = bootstrap_ap(y, [a, b], n_boot=7, seed=11)
    # regenerate the same resamples and recompute on duplicated rows with sklearn
    (w,) = list(weight_batches(np.random.default_rng(11), 120, 7, 256))
    for i in range(7):
        idx = np.repeat(np.arange(120), w[:, i].astype(int))  # images drawn, with repeats
        np.testing.assert_allclose(boot[i, 0], sk_ap(y[idx], a[idx]), atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(boot[i, 1], sk_ap(y[idx], b[idx]), atol=1e-12, equal_nan=True)
    assert w.sum(0).tolist() == [120] * 7  # multinomial counts: N draws each


def test_bootstrap_reproducible_and_batches(rng):
    y = rng.random((80, 3)) < 0.3
    s = rng.random((80, 3))
    b1 = bootstrap_ap(y, [s], n_boot=20, seed=5)
    b2 = bootstrap_ap(y, [s], n_boot=20, seed=5)
    b3 = bootstrap_ap(y, [s], n_boot=20, seed=6)
    np.testing.assert_array_equal(b1, b2)
    assert not np.array_equal(b1, b3)
    w = resample_weights(np.random.default_rng(0), 51, 5)
    assert w.shape == (51, 5) and (w.sum(0) == 51).all()
    # resamples do not depend on the batching (odd n: no shared random buffer across calls)
    r = np.random.default_rng(0)
    np.testing.assert_array_equal(w, np.hstack([resample_weights(r, 51, 2), resample_weights(r, 51, 3)]))
    # nor on the number of threads
    np.testing.assert_array_equal(b1, bootstrap_ap(y, [s], n_boot=20, seed=5, jobs=1))
    np.testing.assert_array_equal(b1, bootstrap_ap(y, [s], n_boot=20, seed=5, jobs=3))


def test_bootstrap_metrics_match_recompute_on_resamples(rng):
    # every replicate and jackknife value recomputed on duplicated / reduced data; the
    # intervals are then the BCa intervals of those values (bca_interval: checked against
    # scipy.stats.bootstrap in test_bca_interval_matches_scipy)
    from salanalysis._bootstrap import bca_interval, jackknife_weights

    y = rng.random((150, 5)) < 0.3
    s = rng.random((150, 5))
    rules = MetricRules(cf1="mean-per-class")
    summ, per_class = bootstrap_metrics(y, s, rules, n_boot=40, seed=3, ci="BCa", min_pos=0)
    default, per_default = bootstrap_metrics(y, s, rules, n_boot=40, seed=3)  # normal intervals
    (w,) = list(weight_batches(np.random.default_rng(3), 150, 40, 256))
    jw = jackknife_weights(150)
    vals = {k: [] for k in ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP")}
    per = {k: [] for k in ("AP", "precision", "recall", "F1")}
    jvals = {k: [] for k in vals}
    jper = {k: [] for k in per}
    for weights, v, p in ((w, vals, per), (jw, jvals, jper)):
        for i in range(weights.shape[1]):
            idx = np.repeat(np.arange(150), weights[:, i].astype(int))
            m = summary_metrics(y[idx], s[idx], rules)
            for k in v:
                v[k].append(m[k])
            pc = per_class_metrics(y[idx], s[idx])
            for k in p:
                p[k].append(pc[k].to_numpy())
    point = summary_metrics(y, s, rules)
    for _, r in summ.iterrows():
        lo, hi, method = bca_interval(point[r["metric"]], np.array(vals[r["metric"]]), np.array(jvals[r["metric"]]))
        assert r["ci95_low"] == pytest.approx(float(lo), abs=1e-12)
        assert r["ci95_high"] == pytest.approx(float(hi), abs=1e-12)
        assert r["ci_method"] == method
        assert r["estimate"] == pytest.approx(point[r["metric"]], abs=1e-15)
    # the default: estimate +/- 1.96 SD of the same replicates (hand: numpy std with ddof 1; z = 1.959964)
    for _, r in default.iterrows():
        sd = np.std(vals[r["metric"]], ddof=1)
        assert r["ci_method"] == "normal" and r["boot_sd"] == pytest.approx(sd, rel=1e-12)
        assert r["ci95_low"] == pytest.approx(point[r["metric"]] - 1.959964 * sd, abs=1e-6)
        assert r["ci95_high"] == pytest.approx(point[r["metric"]] + 1.959964 * sd, abs=1e-6)
    # per class: percentile intervals (numpy's percentiles of the same replicates) where the class
    # has >= 21 positives, withheld below
    npos = y.sum(axis=0)
    assert (npos >= 21).all()
    np.testing.assert_allclose(per_default["AP_low"], np.percentile(np.array(per["AP"]), 2.5, axis=0), atol=1e-12)
    np.testing.assert_allclose(per_default["F1_high"], np.percentile(np.array(per["F1"]), 97.5, axis=0),
                               atol=1e-12)
    assert (per_default["ci_method"] == "percentile").all()
    few = bootstrap_metrics(y, s, rules, n_boot=40, seed=3, min_pos=int(npos[0]) + 1)[1]
    withheld = npos < npos[0] + 1
    assert few["AP_low"][withheld].isna().all() and few["F1_high"][withheld].isna().all()
    assert (few["ci_method"][withheld] == "withheld").all() and few["AP_low"][~withheld].notna().all()
    with pytest.raises(ValueError, match="ci must be one of"):
        bootstrap_metrics(y, s, rules, n_boot=5, ci="percentile")
    assert (per_class["n_boot_valid"] == 40).all()
    ref = per_class_metrics(y, s)
    for k in per:
        lo, hi, _ = bca_interval(ref[k].to_numpy(), np.array(per[k]), np.array(jper[k]))
        np.testing.assert_allclose(per_class[f"{k}_low"], lo, atol=1e-12)
        np.testing.assert_allclose(per_class[f"{k}_high"], hi, atol=1e-12)
        np.testing.assert_allclose(per_class[k], ref[k], atol=1e-15)


def test_normal_interval_by_hand(rng):
    # estimate +/- z SD of the finite replicates (hand: numpy std, ddof 1; z = Phi^-1(0.975) = 1.959964),
    # centred on the estimate, not on the replicates; NaN and "none" with fewer than 2 finite replicates
    from salanalysis._bootstrap import normal_interval

    reps = rng.normal(0.3, 0.05, (400, 3))
    reps[:50, 1] = np.nan
    reps[1:, 2] = np.nan
    lo, hi, method = normal_interval(np.array([0.1, 0.2, 0.3]), reps)
    sd0, sd1 = np.std(reps[:, 0], ddof=1), np.nanstd(reps[:, 1], ddof=1)
    assert lo[:2] == pytest.approx([0.1 - 1.959964 * sd0, 0.2 - 1.959964 * sd1], abs=1e-6)
    assert hi[:2] == pytest.approx([0.1 + 1.959964 * sd0, 0.2 + 1.959964 * sd1], abs=1e-6)
    assert list(method) == ["normal", "normal", "none"] and np.isnan(lo[2]) and np.isnan(hi[2])
    lo90, hi90, m = normal_interval(0.1, reps[:, 0], level=0.90)  # scalar in, scalars out
    assert m == "normal" and hi90 - 0.1 == pytest.approx(1.644854 * sd0, abs=1e-6)
    assert np.isnan(normal_interval(np.nan, reps[:, 0])[0])


def test_normal_interval_covers_the_expected_map_where_bca_does_not():
    # fixed-quality scorer (d' = 1.5 for every class): the estimand is E[mAP] on 300 images, taken
    # from 400 independent data sets; over 40 data sets the default (normal) interval of
    # bootstrap_metrics covers it far more often than BCa of the same replicates (calibration.py [4]:
    # 0.96-0.98 against 0.62)
    rng = np.random.default_rng(21)
    prev = np.exp(np.linspace(np.log(0.02), np.log(0.3), 30))

    def draw():
        y = rng.random((300, 30)) < prev
        return y, 1 / (1 + np.exp(-(1.5 * y + rng.normal(size=y.shape) - 2)))

    truth = np.mean([np.nanmean(average_precision(*draw())) for _ in range(400)])
    hits = {"normal": 0, "BCa": 0}
    for r in range(40):
        y, s = draw()
        for ci in hits:
            m = bootstrap_metrics(y, s, n_boot=100, seed=r, ci=ci, jobs=1)[0].set_index("metric").loc["mAP"]
            hits[ci] += m["ci95_low"] <= truth <= m["ci95_high"]
    assert hits["normal"] >= 34 and hits["BCa"] < hits["normal"] - 4, hits


def test_bca_interval_matches_scipy(rng):
    # the same replicates and delete-1 jackknife: scipy's BCa (scipy.stats.bootstrap, method="BCa",
    # bootstrap_result=...) gives the same interval
    import types

    from scipy import stats

    from salanalysis._bootstrap import bca_interval

    x = rng.exponential(size=60)
    reps = x[rng.integers(0, 60, (3000, 60))].mean(axis=1)
    jack = np.array([np.delete(x, i).mean() for i in range(60)])
    ref = stats.bootstrap((x,), np.mean, method="BCa", n_resamples=0,
                          bootstrap_result=types.SimpleNamespace(bootstrap_distribution=reps))
    lo, hi, method = bca_interval(x.mean(), reps, jack)
    assert method == "BCa"
    assert float(lo) == pytest.approx(ref.confidence_interval.low, rel=1e-12)
    assert float(hi) == pytest.approx(ref.confidence_interval.high, rel=1e-12)
    # without a jackknife: BC, the same with acceleration 0 (hand: Phi(2 z0 -+ 1.96) quantiles)
    lo0, hi0, m0 = bca_interval(x.mean(), reps)
    z0 = stats.norm.ppf((reps < x.mean()).mean())
    q = stats.norm.cdf(2 * z0 + np.array([-1, 1]) * stats.norm.ppf(0.975))
    assert m0 == "BC" and [float(lo0), float(hi0)] == pytest.approx(np.quantile(reps, q), rel=1e-12)


def test_bca_falls_back_where_the_estimate_is_outside_its_replicates():
    # replicates all above the estimate (AP near chance: duplicated images bias resampled AP
    # upward): BCa would step past the estimate; the centered percentile contains it
    from salanalysis._bootstrap import bca_interval

    reps = np.linspace(1.0, 2.0, 101)
    lo, hi, method = bca_interval(np.array([0.9, 1.5]), np.column_stack([reps, reps]))
    assert list(method) == ["centered percentile", "BC"]
    # centered: the replicates shifted so that their median (1.5) falls on 0.9
    assert lo[0] == pytest.approx(1.025 - 0.6) and hi[0] == pytest.approx(1.975 - 0.6)
    assert lo[0] <= 0.9 <= hi[0] and lo[1] <= 1.5 <= hi[1]
    nan_lo, _, m = bca_interval(1.0, np.array([np.nan, 2.0]))
    assert np.isnan(nan_lo) and m == "none"


def test_random_scores_interval_contains_the_estimate(rng):
    # the case that excluded its estimate with percentile intervals: mAP of random scores on
    # 2,000 images (duplicated images push resampled AP above the estimate)
    y = rng.random((2000, 30)) < np.exp(rng.uniform(np.log(0.005), np.log(0.3), 30))
    s = rng.random((2000, 30))
    summ, _ = bootstrap_metrics(y, s, n_boot=200, seed=0)
    r = summ.set_index("metric").loc["mAP"]
    assert r["ci95_low"] <= r["estimate"] <= r["ci95_high"]


def test_demo_bootstrap_interval_contains_estimate(demo, demo_ann):
    sc = read_scores(demo.detections, demo_ann, name="sample")
    t = table1(demo_ann, [sc], n_boot=200, seed=1)
    for k in ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP"):
        assert t[f"{k}_low"].iloc[0] <= t[k].iloc[0] <= t[f"{k}_high"].iloc[0], k
    t2 = table1(demo_ann, [sc], n_boot=200, seed=1)
    pd.testing.assert_frame_equal(t, t2)


def test_paired_bootstrap(rng):
    y = rng.random((300, 4)) < 0.3
    y[:, 3] = False
    good = y + rng.normal(0, 0.5, size=y.shape)
    bad = y + rng.normal(0, 3.0, size=y.shape)
    res = paired_bootstrap(y, good, bad, n_boot=300, seed=2)
    assert res["category"].tolist() == ["0", "1", "2", "mAP"]  # class 3 has no positive
    ap_g, ap_b = average_precision(y, good), average_precision(y, bad)
    np.testing.assert_allclose(res["delta"][:3], (ap_g - ap_b)[:3], atol=1e-15)
    m = res.iloc[-1]
    assert m["delta"] == pytest.approx(np.nanmean(ap_g) - np.nanmean(ap_b), abs=1e-15)
    # the mAP row: percentile interval of the paired mAP replicates (recomputed: numpy percentiles)
    # and its test (all 300 deltas > 0: p = 2 / 301)
    boot_all = bootstrap_ap(y, [good, bad], n_boot=300, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dm = np.nanmean(boot_all[:, 0], axis=1) - np.nanmean(boot_all[:, 1], axis=1)
    assert m["ci_method"] == "percentile" and m["ci95_low"] > 0
    assert (m["ci95_low"], m["ci95_high"]) == pytest.approx(tuple(np.percentile(dm, [2.5, 97.5])))
    assert m["p_val"] == pytest.approx(2 / 301)
    # the p-value definition, recomputed from the same paired resamples
    boot = bootstrap_ap(y, [good, bad], n_boot=300, seed=2)
    d = boot[:, 0, 1] - boot[:, 1, 1]
    p = min(1, 2 * min(1 + (d <= 0).sum(), 1 + (d >= 0).sum()) / 301)
    assert res["p_val"].iloc[1] == pytest.approx(p)
    # the interval: BCa of the same paired differences, the acceleration from the jackknife of
    # AP_A - AP_B with one of 20 interleaved blocks of images left out (recomputed here)
    from salanalysis._bootstrap import bca_interval

    jack = np.array([average_precision(y[np.arange(300) % 20 != j], good[np.arange(300) % 20 != j])[1]
                     - average_precision(y[np.arange(300) % 20 != j], bad[np.arange(300) % 20 != j])[1]
                     for j in range(20)])
    lo, hi, method = bca_interval((ap_g - ap_b)[1], d, jack)
    assert res["ci_method"].iloc[1] == method == "BCa"
    assert (res["ci95_low"].iloc[1], res["ci95_high"].iloc[1]) == pytest.approx((float(lo), float(hi)))
    # identical score sets: no difference at all
    same = paired_bootstrap(y, good, good, n_boot=50, seed=2)
    assert (same["delta"] == 0).all() and (same["ci95_low"] == 0).all() and (same["p_val"] == 1).all()


def test_format_table_names_fallbacks_and_estimates_outside_their_interval(demo, demo_ann):
    from salanalysis.score_baselines import class_prior_scores

    sample = read_scores(demo.detections, demo_ann, name="sample")
    t = table1(demo_ann, [sample, class_prior_scores(demo_ann)], n_boot=200, seed=0)
    # the class prior's C-R = (recall 1 of the few classes it predicts) / (classes with positives);
    # resamples lose rare classes, so every resample's C-R is larger than the estimate: the
    # normal interval is centred on the estimate whatever the replicates' location
    prior = t.set_index("model").loc["prior"]
    assert prior["CR_low"] <= prior["CR"] <= prior["CR_high"]
    assert prior["CR_high"] - prior["CR"] == pytest.approx(prior["CR"] - prior["CR_low"])
    assert prior["ci_method"] == "normal" and prior["ci_fallback"] == ""
    caption = format_table(t, "text").strip().splitlines()[-1]
    assert "normal bootstrap 95% interval" in caption and "No interval" not in caption
    assert "outside its own interval" not in caption
    # an estimate still outside its interval is named
    bad = t.copy()
    bad.loc[bad["model"] == "sample", "mAP_high"] = bad.loc[bad["model"] == "sample", "mAP"] - 0.01
    assert "Estimate outside its own interval" in format_table(bad, "markdown")
    assert "sample mAP" in format_table(bad, "markdown")


def test_published_rows_flag_f1_that_eq6_cannot_give():
    from salanalysis.metrics import PUBLISHED_TABLE1, published_inconsistencies

    notes = published_inconsistencies()
    # the paper's own rows: O-F1 63.2 where O-P 70.8, O-R 80.5 give 2PR/(P+R) = 75.3 (hand: 2*70.8*80.5/151.3)
    assert "printed O-F1 63.2 is not the harmonic mean of its P and R (75.3)" in notes["RSN-50 Baseline"]
    assert "printed C-F1 57.9" in notes["RSN-50 Baseline"]
    assert set(notes) == {"RSN-50 Baseline", "RSN-50 Dual-stream Baseline", "RSN-50 Dual-stream",
                          "MCG-CNN+LSTM [32]"}
    assert "CNN-RNN [26]" in set(PUBLISHED_TABLE1["model"])  # consistent rows are not flagged


# ------------------------------------------------------------------------ CLI
def test_cli_metrics(demo, tmp_path, capsys):
    out = tmp_path / "t1"
    rc = main([
        "metrics", "--annotations", str(demo.annotations),
        "--scores", f"sample={demo.detections}",
        "--scores", f"again={demo.detections}",
        "--bootstrap", "30", "--seed", "4", "--paired", "--published", "--out", str(out),
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "sample" in printed and "C-F1" in printed and PUBLISHED_SOURCE in printed
    t = pd.read_csv(out / "table1.csv")
    assert list(t.columns[:9]) == ["model", "CP", "CR", "CF1", "OP", "OR", "OF1", "mAP", "n_classes"]
    assert {"mAP_low", "mAP_high", "CP_low", "OF1_high"} <= set(t.columns)
    assert t["cf1"].iloc[0] == "harmonic" and t["ground_truth"].iloc[0] == "crowd+empty"
    assert (out / "table1.md").exists() and (out / "table1.tex").exists()
    long = pd.read_csv(out / "table1_long.csv")  # Table 1 long: the wide table's numbers, ci95_low/ci95_high
    row = long[(long["model"] == "sample") & (long["metric"] == "mAP")].iloc[0]
    wide = t[t["model"] == "sample"].iloc[0]
    assert (row["value"], row["ci95_low"], row["ci95_high"]) == (wide["mAP"], wide["mAP_low"], wide["mAP_high"])
    assert len(long) == 7 * len(t) and long[long["source"] != "computed"]["ci95_low"].isna().all()
    pc = pd.read_csv(out / "per_class.csv")
    assert len(pc) == 160 and {"AP_low", "AP_high", "precision_low", "F1_high"} <= set(pc.columns)
    md = (out / "per_class.md").read_text()
    person = pc[(pc["model"] == "sample") & (pc["category"] == "person")].iloc[0]
    assert (f"| sample | person | {person['n_pos']} | {100 * person['AP']:.1f} "
            f"[{100 * person['AP_low']:.1f}, {100 * person['AP_high']:.1f}] |") in md
    assert r"\begin{tabular}" in (out / "per_class.tex").read_text()
    paired = pd.read_csv(out / "paired.csv")
    assert (paired["delta"] == 0).all() and paired["category"].iloc[-1] == "mAP"


def test_cli_metrics_errors(demo, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("image_id,person\n1,0.5\n")
    rc = main(["metrics", "--annotations", str(demo.annotations), "--scores", f"x={bad}",
               "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("salanalysis: error:") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    (tmp_path / "o").write_text("a file, not a folder")
    rc = main(["metrics", "--annotations", str(demo.annotations), "--scores", f"x={demo.detections}",
               "--bootstrap", "0", "--out", str(tmp_path / "o")])
    assert rc == 2 and "exists and is not a folder" in capsys.readouterr().err
    rc = main(["metrics", "--annotations", str(demo.annotations), "--scores", f"x={demo.detections}",
               "--bootstrap", "0", "--out", str(tmp_path / "o.txt")])  # a typo would make a folder 'o.txt'
    assert rc == 2 and "looks like a file name" in capsys.readouterr().err and not (tmp_path / "o.txt").exists()


def test_cli_metrics_options(demo, demo_ann, tmp_path, capsys):
    out = tmp_path / "t"
    rc = main([
        "metrics", "--annotations", str(demo.annotations), "--scores", f"sample={demo.detections}",
        "--top-k", "3", "--cf1", "mean-per-class", "--no-crowd", "--empty-classes", "zero",
        "--bootstrap", "0", "--out", str(out),
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "mean of per-class F1" in printed and "top-3" in printed
    t = pd.read_csv(out / "table1.csv")
    assert "mAP_low" not in t.columns  # --bootstrap 0: no intervals (the default is 1000)
    r = t.iloc[0]
    assert (r["cf1"], r["prediction"], r["ground_truth"], r["empty_classes"]) == (
        "mean-per-class", "top-3", "no-crowd+empty", "zero")
    _, y = ground_truth(demo_ann, MetricRules(include_crowd=False))
    s = read_scores(demo.detections, demo_ann).scores
    ref = summary_metrics(y, s, MetricRules(top_k=3, cf1="mean-per-class", empty_classes="zero"))
    for k in ("CP", "CR", "CF1", "OP", "OR", "OF1", "mAP"):
        assert r[k] == pytest.approx(ref[k], abs=1e-12)
    assert r["n_classes"] == 80


def test_metric_rules_are_validated_once(demo, tmp_path, capsys):
    # every rule is checked when the MetricRules value is made: one line, before any work
    for kw, msg in ((dict(threshold=1.5), "threshold must be a number in"),
                    (dict(threshold=float("nan")), "threshold must be a number in"),
                    (dict(top_k=0), "top_k must be a whole number"),
                    (dict(cf1="geometric"), "cf1 must be one of"),
                    (dict(empty_classes="drop"), "empty_classes must be one of")):
        with pytest.raises(InputError, match=msg):
            MetricRules(**kw)
    r = MetricRules(threshold=0.3, top_k=3, top_k_threshold=True, include_crowd=False)
    assert (r.prediction, r.ground_truth) == ("top-3 & score>=0.3", "no-crowd+empty")
    assert r.replace(top_k=None).prediction == "score>=0.3"
    assert r.to_dict()["include_crowd"] is False
    for bad, msg in ((["--threshold", "2"], "--threshold must be a number in [0, 1], got 2.0"),
                     (["--top-k", "0"], "--top-k: expected a positive integer, got 0")):
        out = tmp_path / "t"
        try:  # argparse's own checks exit with status 2 as well
            rc = main(["metrics", "--annotations", str(demo.annotations), "--scores",
                       f"s={demo.detections}", *bad, "--out", str(out)])
        except SystemExit as exc:
            rc = exc.code
        err = capsys.readouterr().err
        assert rc == 2 and not out.exists()
        assert msg in err.strip().splitlines()[-1] and "Traceback" not in err


def test_metrics_rerun_removes_stale_files(demo, tmp_path):
    out = tmp_path / "t"
    args = ["metrics", "--annotations", str(demo.annotations), "--scores", f"a={demo.detections}",
            "--scores", f"b={demo.detections}", "--bootstrap", "20", "--out", str(out)]
    assert main([*args, "--paired"]) == 0
    assert (out / "paired.csv").is_file()
    assert main(args) == 0  # the same output without --paired: the earlier paired file goes
    assert not (out / "paired.csv").exists()
    assert (out / "per_class.csv").is_file()
    # the excluded classes have their own table, one row per class; gone when none is excluded
    excluded = pd.read_csv(out / "excluded.csv")
    assert len(excluded) == 10 and "classes_excluded" not in pd.read_csv(out / "table1.csv").columns
    assert main([*args, "--empty-classes", "zero"]) == 0
    assert not (out / "excluded.csv").exists()
    assert sorted(p.name for p in out.iterdir()) == ["per_class.csv", "per_class.md", "per_class.tex",
                                                     "table1.csv", "table1.md", "table1.tex", "table1_long.csv"]


def test_metrics_old_csv_out_still_works_with_a_note(demo, tmp_path, capsys):
    # the file form of --out (OUT.csv, OUT_per_class.csv, ...) for one more release, with a one-line note
    out = tmp_path / "t.csv"
    assert main(["metrics", "--annotations", str(demo.annotations), "--scores", f"a={demo.detections}",
                 "--bootstrap", "0", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("salanalysis: note: --out") and len(err.strip().splitlines()) == 1
    assert {"t.csv", "t.md", "t.tex", "t_per_class.csv", "t_table1_long.csv"} <= {p.name for p in tmp_path.iterdir()}
    assert pd.read_csv(out)["model"].tolist() == ["a"]


# --------------------------------------------------------------------- LVIS federated evaluation
LVIS = Path(__file__).parent / "data" / "lvis_fixtures" / "lvis_v1_val_tiny.json"


def _lvis_reference(data: dict, s: np.ndarray, threshold: float = 0.5) -> dict:
    """LVIS's federated rule written out per class from the raw JSON, then scikit-learn."""
    img_ids = sorted(im["id"] for im in data["images"])
    cat_ids = sorted(c["id"] for c in data["categories"])
    row = {i: k for k, i in enumerate(img_ids)}
    imgs = {im["id"]: im for im in data["images"]}
    aps, precs, recs = [], [], []
    tp = npred = npos = 0
    for c, cid in enumerate(cat_ids):
        pos = {a["image_id"] for a in data["annotations"] if a["category_id"] == cid}
        neg = {i for i in img_ids if cid in imgs[i]["neg_category_ids"]}
        unsure = {i for i in img_ids if cid in imgs[i]["not_exhaustive_category_ids"]} - pos
        keep = sorted((pos | neg) - unsure)  # the images where class c is verified
        rows = [row[i] for i in keep]
        yc = np.array([i in pos for i in keep], dtype=bool)
        sc = s[rows, c]
        pred = sc >= threshold
        tp += int((yc & pred).sum())
        npred += int(pred.sum())
        npos += int(yc.sum())
        if yc.any():
            aps.append(average_precision_score(yc, sc))
            precs.append(precision_score(yc, pred, zero_division=0))
            recs.append(recall_score(yc, pred, zero_division=0))
    return {"mAP": np.mean(aps), "CP": np.mean(precs), "CR": np.mean(recs), "OP": tp / npred, "OR": tp / npos,
            "n_classes": len(aps)}


def _lvis_scores(ann, rng) -> np.ndarray:
    y = ann.label_matrix()
    neg, _ = ann.federated_labels()
    s = rng.uniform(0, 0.6, size=y.shape)
    s[y] += 0.4  # positives mostly above the verified negatives ...
    s[~y & ~neg] = rng.uniform(0.5, 1.0, size=int((~y & ~neg).sum()))  # ... unverified images score high
    return s


def test_lvis_federated_rule_matches_an_independent_reference(rng):
    data = json.loads(LVIS.read_text())
    ann = Annotations.load(LVIS)
    s = _lvis_scores(ann, rng)
    sc = Scores.from_array("synthetic", ann, s)
    ref = _lvis_reference(data, s)
    t = table1(ann, [sc])  # federated="auto": the images carry neg_category_ids
    assert t["federated"].iloc[0] == "on" and t["overall"].iloc[0] == "all-predictions"
    for k in ("mAP", "CP", "CR", "OP", "OR"):
        assert t[k].iloc[0] == pytest.approx(ref[k], abs=1e-15), k
    assert t["n_classes"].iloc[0] == ref["n_classes"] == 11 and t["n_classes_excluded"].iloc[0] == 1
    # the plain rule counts every unverified image as a negative: a much lower mAP
    off = table1(ann, [sc], MetricRules(federated="off"))
    y = ann.label_matrix()
    assert off["federated"].iloc[0] == "off"
    assert off["mAP"].iloc[0] == pytest.approx(np.mean(sk_ap(y, s)[y.any(0)]), abs=1e-15)
    assert off["mAP"].iloc[0] < t["mAP"].iloc[0] - 0.2
    # per class: AP and the number of images evaluated
    _, pc = evaluate(ann, sc)
    mask = evaluation_mask(ann)
    assert pc["n_images"].tolist() == mask.sum(axis=0).tolist()
    for c in np.flatnonzero(y.any(0)):
        assert pc["AP"].iloc[c] == pytest.approx(average_precision_score(y[mask[:, c], c], s[mask[:, c], c]),
                                                 abs=1e-15)
    # on / off / auto, and a COCO file
    assert table1(ann, [sc], MetricRules(federated="on"))["mAP"].iloc[0] == t["mAP"].iloc[0]
    with pytest.raises(InputError, match="federated evaluation needs images with neg_category_ids"):
        evaluation_mask(_tiny_annotations(), MetricRules(federated="on"))
    assert evaluation_mask(_tiny_annotations()) is None
    # the caption names the rule
    assert "Federated (LVIS) evaluation" in format_table(t, "text")


def test_lvis_bootstrap_follows_the_federated_rule(rng):
    ann = Annotations.load(LVIS)
    s = _lvis_scores(ann, rng)
    y, mask = ann.label_matrix(), evaluation_mask(ann)
    n = len(y)
    summ, per_class = bootstrap_metrics(y, s, n_boot=30, seed=5, mask=mask, ci="BCa")
    from salanalysis._bootstrap import bca_interval, jackknife_weights

    (w,) = list(weight_batches(np.random.default_rng(5), n, 30, 256))
    vals = {k: [] for k in ("OP", "OR", "mAP")}
    jack = {k: [] for k in vals}
    for weights, out in ((w, vals), (jackknife_weights(n), jack)):  # resamples, then the 20-block jackknife
        for i in range(weights.shape[1]):
            idx = np.repeat(np.arange(n), weights[:, i].astype(int))  # images duplicated or left out
            yy, ss, mm = y[idx], s[idx], mask[idx]
            pred = (ss >= 0.5) & mm
            aps = [average_precision_score(yy[mm[:, c], c], ss[mm[:, c], c]) for c in range(y.shape[1])
                   if yy[:, c].any()]
            out["mAP"].append(np.mean(aps))
            out["OP"].append((yy & pred).sum() / pred.sum())
            out["OR"].append((yy & pred).sum() / yy.sum())
    summ = summ.set_index("metric")
    for k, v in vals.items():
        lo, hi, _ = bca_interval(summ.loc[k, "estimate"], np.array(v), np.array(jack[k]))
        assert summ.loc[k, "ci95_low"] == pytest.approx(float(lo), abs=1e-12), k
        assert summ.loc[k, "ci95_high"] == pytest.approx(float(hi), abs=1e-12), k
    # the paired bootstrap uses the same rule: its point AP is the federated AP
    pb = paired_bootstrap(y, s, s * 0.5, n_boot=10, seed=1, mask=mask)
    assert pb["AP_A"].iloc[:-1].to_numpy() == pytest.approx(average_precision(y, s, mask)[y.any(0)], abs=1e-15)


def test_lvis_on_the_command_line(tmp_path, rng, capsys):
    ann = Annotations.load(LVIS)
    path = tmp_path / "scores.npz"
    write_scores(Scores.from_array("m", ann, _lvis_scores(ann, rng)), path)
    assert main(["metrics", "--annotations", str(LVIS), "--scores", f"m={path}", "--bootstrap", "0",
                 "--out", str(tmp_path / "t")]) == 0
    assert "Federated (LVIS) evaluation" in capsys.readouterr().out
    on = pd.read_csv(tmp_path / "t" / "table1.csv")
    assert on["federated"].iloc[0] == "on"
    assert main(["metrics", "--annotations", str(LVIS), "--scores", f"m={path}", "--bootstrap", "0",
                 "--federated", "off", "--overall", "classes-with-positives", "--out", str(tmp_path / "t")]) == 0
    off = pd.read_csv(tmp_path / "t" / "table1.csv")
    assert off["federated"].iloc[0] == "off" and off["overall"].iloc[0] == "classes-with-positives"
    assert off["mAP"].iloc[0] < on["mAP"].iloc[0]
    excluded = pd.read_csv(tmp_path / "t" / "excluded.csv")
    assert excluded["category"].tolist() == ["bathrobe"] and excluded["reason"].tolist() == ["no positive image"]


def test_lvis_annotation_fields_are_validated(tmp_path):
    data = json.loads(LVIS.read_text())
    data["images"][0]["neg_category_ids"] = [999]
    with pytest.raises(InputError, match="'neg_category_ids' names unknown category id 999"):
        Annotations(data, "x.json")
    data = json.loads(LVIS.read_text())
    a = data["annotations"][0]
    next(im for im in data["images"] if im["id"] == a["image_id"])["neg_category_ids"].append(a["category_id"])
    with pytest.raises(InputError, match="in neg_category_ids but has an annotation of it"):
        evaluation_mask(Annotations(data, "x.json"))


# --------------------------------------------------------------------- ROC AUC, prevalence, AP_norm on ties and masks
def _sk_auc(y, s, w=None):
    """scikit-learn's per-class ROC AUC, NaN where a class lacks (weighted) positives or negatives."""
    from sklearn.metrics import roc_auc_score

    out = []
    for k in range(y.shape[1]):
        ww = np.ones(len(y)) if w is None else w
        if not (ww[y[:, k]] > 0).any() or not (ww[~y[:, k]] > 0).any():
            out.append(np.nan)
            continue
        out.append(roc_auc_score(y[:, k], s[:, k], sample_weight=w))
    return np.array(out)


@settings(max_examples=300, deadline=None)
@given(label_score_pairs())
def test_roc_auc_equals_sklearn_on_ties(pair):
    # ties count half (midranks): counting them fully or not at all differs from roc_auc_score
    from salanalysis.metrics.ranking import roc_auc

    y, s = pair
    np.testing.assert_allclose(roc_auc(y, s), _sk_auc(y, s), rtol=0, atol=1e-12)


def test_roc_auc_hand_computed_tie():
    from salanalysis.metrics.ranking import roc_auc

    # positives 0.5, 0.9; negatives 0.5, 0.1: pairs (0.5 vs 0.5) tie -> 1/2, the other three won: 3.5 / 4
    y = np.array([[1], [1], [0], [0]], dtype=bool)
    s = np.array([[0.5], [0.9], [0.5], [0.1]])
    assert roc_auc(y, s)[0] == 0.875


@settings(max_examples=200, deadline=None)
@given(label_score_pairs(weights=True))
def test_bootstrap_auc_on_ties_equals_sklearn_sample_weight(triple):
    # the resampled AUC of the bootstrap (image counts as weights) against roc_auc_score(sample_weight=counts)
    from salanalysis._bootstrap import SortedAUC

    y, s, w = triple
    got = SortedAUC.build(y, s).auc(w.astype(np.float32)[:, None])[0]
    np.testing.assert_allclose(got, _sk_auc(y, s, w.astype(float)), rtol=0, atol=1e-12)


def test_bootstrap_auc_with_a_mask_equals_sklearn_on_the_kept_rows(rng):
    from salanalysis._bootstrap import SortedAUC

    n, c = 60, 5
    y = rng.random((n, c)) < 0.3
    s = np.round(rng.random((n, c)), 1)  # ten values: many ties
    mask = y | (rng.random((n, c)) < 0.5)
    w = rng.integers(0, 3, n)
    got = SortedAUC.build(y, s, mask).auc(w.astype(np.float32)[:, None])[0]
    for k in range(c):
        m = mask[:, k]
        ref = _sk_auc(y[m, k : k + 1], s[m, k : k + 1], w[m].astype(float))[0]
        assert got[k] == pytest.approx(ref, abs=1e-12), k


def test_per_class_prevalence_auc_and_ap_norm_on_the_rows_the_lvis_mask_keeps(rng):
    # dividing the prevalence by all images (not those the mask keeps) passed every test before
    from sklearn.metrics import roc_auc_score

    from salanalysis.metrics.ranking import normalized_ap

    ann = Annotations.load(LVIS)
    s = np.round(_lvis_scores(ann, rng), 2)  # rounded: ties
    _, pc = evaluate(ann, Scores.from_array("m", ann, s))
    y, mask = ann.label_matrix(), evaluation_mask(ann)
    checked = 0
    for c in range(y.shape[1]):
        m = mask[:, c]
        yc, sc = y[m, c], s[m, c]
        row = pc.iloc[c]
        assert row["n_images"] == m.sum()
        if not yc.any():
            assert np.isnan(row["AUC"]) and row["prevalence"] == 0
            continue
        prev = yc.sum() / m.sum()  # positives over the images evaluated for the class
        assert row["prevalence"] == pytest.approx(prev, abs=1e-15)
        assert m.sum() < len(y) and row["prevalence"] != pytest.approx(yc.sum() / len(y))
        ap = average_precision_score(yc, sc)
        # AP_norm: the chance-corrected AP on the masked AP, positives and images evaluated
        np.testing.assert_allclose(pc[[k for k in pc.columns if k.startswith("AP_norm")][0]].iloc[c],
                                   normalized_ap(ap, yc.sum(), m.sum()), atol=1e-12)
        if (~yc).any():
            assert row["AUC"] == pytest.approx(roc_auc_score(yc, sc), abs=1e-12)
            checked += 1
    assert checked >= 5


def test_weighted_ap_refuses_fractional_or_negative_weights(rng):
    # SortedAP counts weights as integers: 0.5 was silently truncated to 0
    y = rng.random((20, 3)) < 0.4
    y[0] = True
    s = rng.random((20, 3))
    sa = SortedAP.build(y, s)
    w = np.ones((20, 1), dtype=np.float32)
    w[3] = 0.5
    with pytest.raises(ValueError, match="whole"):
        sa.ap(w)
    w[3] = -1
    with pytest.raises(ValueError, match="non-negative"):
        sa.ap(w)
    w[3] = 2
    np.testing.assert_allclose(sa.ap(w)[0], sk_ap(y, s, w[:, 0].astype(float)), atol=1e-12)
