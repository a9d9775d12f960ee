"""Clutter-binned mAP (Fig. 3): grouping, tail, exclusions, the paper's smoothing, bootstrap bands."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from salanalysis.cli import main
from salanalysis.clutter import (
    clutter_difference,
    clutter_groups,
    clutter_map,
    default_k,
    objects_histogram,
    run_clutter,
    smooth_paper,
)
from salanalysis.coco import Annotations
from salanalysis.errors import InputError
from salanalysis.metrics import MetricRules
from salanalysis.scores import Scores, read_scores, write_scores

MAP_COLUMNS = [
    "model", "group", "n_objects", "is_tail", "n_images", "n_classes", "n_classes_excluded",
    "mAP", "mAP_smoothed", "ci95_low", "ci95_high", "ci95_low_smoothed", "ci95_high_smoothed",
    "ci_method", "n_classes_auc", "chance_mAP", "mAUC", "mAUC_ci95_low", "mAUC_ci95_high",
    "mAP_norm", "mAP_norm_ci95_low", "mAP_norm_ci95_high",
]


# ------------------------------------------------------------------ fixtures
def _ann(image_id, ann_id, cat, crowd=0):
    return {"id": ann_id, "image_id": image_id, "category_id": cat, "bbox": [0, 0, 10, 10],
            "area": 100.0, "iscrowd": crowd}


def tiny_annotations() -> Annotations:
    """Ten images, categories cat=1, dog=2, car=3, bus=4 (bus never annotated).

    image: non-crowd objects -> n_objects
      1: cat                 -> 1
      2: dog                 -> 1
      3: cat                 -> 1
      4: cat, dog            -> 2
      5: dog, car (+crowd car) -> 2
      6: car, car, car       -> 3
      7: dog x4              -> 4
      8: nothing             -> 0
      9: crowd cat only      -> 0
     10: car                 -> 1
    """
    anns = [
        (1, 1), (2, 2), (3, 1), (4, 1), (4, 2), (5, 2), (5, 3), (6, 3), (6, 3), (6, 3),
        (7, 2), (7, 2), (7, 2), (7, 2), (10, 3),
    ]
    annotations = [_ann(i, n + 1, c) for n, (i, c) in enumerate(anns)]
    annotations += [_ann(5, 100, 3, crowd=1), _ann(9, 101, 1, crowd=1)]
    data = {
        "images": [{"id": i, "width": 100, "height": 100, "file_name": f"{i}.jpg"} for i in range(1, 11)],
        "categories": [{"id": c, "name": n} for c, n in [(1, "cat"), (2, "dog"), (3, "car"), (4, "bus")]],
        "annotations": annotations,
    }
    return Annotations(data)


# rows of the images in the score arrays (images sorted by id 1..10)
ROW = {i: i - 1 for i in range(1, 11)}


def tiny_scores(ann: Annotations, rng: np.random.Generator) -> np.ndarray:
    s = rng.uniform(0, 1, size=(10, 4))
    # group "1" (images 1, 2, 3, 10) gets hand-chosen scores, columns cat, dog, car, bus
    s[ROW[1]] = [0.9, 0.1, 0.2, 0.1]
    s[ROW[2]] = [0.8, 0.7, 0.1, 0.2]
    s[ROW[3]] = [0.4, 0.3, 0.3, 0.3]
    s[ROW[10]] = [0.2, 0.2, 0.6, 0.1]
    return s


def sk_map(labels: np.ndarray, scores: np.ndarray) -> float:
    """Reference mAP: scikit-learn AP over the classes with a positive."""
    aps = [average_precision_score(labels[:, c], scores[:, c]) for c in range(labels.shape[1])
           if labels[:, c].any()]
    return float(np.mean(aps))


# ----------------------------------------------------------------- smoothing
def test_smooth_paper_hand_computed():
    # padded with the boundary values: [0.3, | 0.3, 0.6, 0.9, 0.0, | 0.0]
    # y0 = (0.3 + 0.3 + 0.6) / 3 = 0.4
    # y1 = (0.3 + 0.6 + 0.9) / 3 = 0.6
    # y2 = (0.6 + 0.9 + 0.0) / 3 = 0.5
    # y3 = (0.9 + 0.0 + 0.0) / 3 = 0.3
    np.testing.assert_allclose(smooth_paper([0.3, 0.6, 0.9, 0.0]), [0.4, 0.6, 0.5, 0.3], atol=1e-15)
    # two values: [0.2 | 0.2, 0.8 | 0.8] -> (0.2+0.2+0.8)/3 = 0.4, (0.2+0.8+0.8)/3 = 0.6
    np.testing.assert_allclose(smooth_paper([0.2, 0.8]), [0.4, 0.6], atol=1e-15)
    # one value stays itself; empty stays empty
    np.testing.assert_allclose(smooth_paper([0.7]), [0.7])
    assert smooth_paper([]).shape == (0,)
    # a constant vector is unchanged: the padding (not zeros) keeps the ends
    np.testing.assert_allclose(smooth_paper([0.5] * 5), [0.5] * 5)
    # 2-D: each row on its own
    np.testing.assert_allclose(smooth_paper([[0.3, 0.6, 0.9, 0.0], [1, 1, 1, 1]]),
                               [[0.4, 0.6, 0.5, 0.3], [1, 1, 1, 1]], atol=1e-15)
    # NaN (an empty group) spreads to its neighbours only
    out = smooth_paper([1.0, np.nan, 1.0, 1.0, 1.0])
    assert np.isnan(out[:3]).all() and np.allclose(out[3:], 1.0)


# ------------------------------------------------------------------ grouping
def test_default_k_hand_computed():
    n = [1, 1, 1, 2, 2, 2, 3, 3, 5, 7, 0, 0]
    # counts: 1->3, 2->3, 3->2, 5->1, 7->1 (the zeros are ignored)
    # min 2: K=4 works (groups 1,2,3 hold 3,3,2; tail >=4 holds 5 and 7 = 2);
    #        K=5 fails (group 4 is empty)
    assert default_k(n, 2) == 4
    # min 3: K=3 works (3, 3, tail >=3 holds 4); K=4 fails (group 3 holds 2)
    assert default_k(n, 3) == 3
    # min 6: K=2 needs group 1 (3 images) -> fails; K=1 (all 10) is the answer
    assert default_k(n, 6) == 1
    # nothing qualifies, not even K=1 (10 images with objects): fallback 1
    assert default_k(n, 50) == 1
    assert default_k([], 5) == 1
    assert default_k([0, 0], 1) == 1
    with pytest.raises(ValueError):
        default_k(n, 0)


def test_clutter_groups_and_histogram():
    ann = tiny_annotations()
    # min_images 2: K=3 (group 1: 1,2,3,10; group 2: 4,5; tail >=3: 6,7); K=4 would leave group 3 with 1
    g = clutter_groups(ann, min_images=2)
    assert g.attrs["k"] == 3
    assert g.attrs["n_images_no_objects"] == 2  # image 8 (empty) and 9 (crowd only)
    assert list(g["image_id"]) == [1, 2, 3, 4, 5, 6, 7, 10]
    assert list(g["n_objects"]) == [1, 1, 1, 2, 2, 3, 4, 1]  # the crowd car of image 5 not counted
    assert list(g["group"]) == ["1", "1", "1", "2", "2", ">=3", ">=3", "1"]
    assert list(g["group_n_objects"]) == [1, 1, 1, 2, 2, 3, 3, 1]
    assert list(g["is_tail"]) == [False] * 5 + [True, True, False]
    assert list(g["row"]) == [0, 1, 2, 3, 4, 5, 6, 9]
    # an explicit K
    g2 = clutter_groups(ann, k=2)
    assert list(g2["group"]) == ["1", "1", "1", ">=2", ">=2", ">=2", ">=2", "1"]
    g1 = clutter_groups(ann, k=1)
    assert set(g1["group"]) == {">=1"} and len(g1) == 8
    with pytest.raises(ValueError):
        clutter_groups(ann, k=0)
    h = objects_histogram(ann)
    # 0: images 8, 9; 1: images 1, 2, 3, 10; 2: 4, 5; 3: 6; 4: 7
    assert list(h.columns) == ["n_objects", "n_images"]
    assert list(h["n_objects"]) == [0, 1, 2, 3, 4]
    assert list(h["n_images"]) == [2, 4, 2, 1, 1]


# ----------------------------------------------------------------- the table
def test_clutter_map_hand_case(rng):
    ann = tiny_annotations()
    s = Scores.from_array("A", ann, tiny_scores(ann, rng))
    t = clutter_map(ann, [s], min_images=2, n_boot=0)
    assert list(t.columns) == MAP_COLUMNS
    assert list(t["group"]) == ["1", "2", ">=3"]
    assert list(t["n_objects"]) == [1, 2, 3]
    assert list(t["is_tail"]) == [False, False, True]
    assert list(t["n_images"]) == [4, 2, 2]
    # group 1: cat, dog, car present, bus absent; group 2: cat, dog, car (crowd car of 5 counts
    # as a label too); tail: car (6), dog (7)
    assert list(t["n_classes"]) == [3, 3, 2]
    assert list(t["n_classes_excluded"]) == [1, 1, 2]
    # group "1" by hand (images 1, 2, 3, 10):
    #   cat: scores .9 P, .8 N, .4 P, .2 N -> AP = (1/1 + 2/3) / 2 = 5/6
    #   dog: image 2 (P) scores .7, the highest -> AP = 1;  car: image 10 (.6) highest -> AP = 1
    #   mAP = (5/6 + 1 + 1) / 3 = 17/18
    assert t["mAP"].iloc[0] == pytest.approx(17 / 18, abs=1e-12)
    # the other groups against scikit-learn
    y = ann.label_matrix(include_crowd=True)
    for gi, images in [(1, [4, 5]), (2, [6, 7])]:
        rows = [ROW[i] for i in images]
        assert t["mAP"].iloc[gi] == pytest.approx(sk_map(y[rows], s.scores[rows]), abs=1e-12)
    m = t["mAP"].to_numpy()
    # the paper's smoothing over the three groups, by hand
    np.testing.assert_allclose(
        t["mAP_smoothed"], [(2 * m[0] + m[1]) / 3, (m[0] + m[1] + m[2]) / 3, (m[1] + 2 * m[2]) / 3], atol=1e-12
    )
    assert t[["ci95_low", "ci95_high", "ci95_low_smoothed", "ci95_high_smoothed"]].isna().all().all()
    assert t.attrs["k"] == 3 and t.attrs["n_images_no_objects"] == 2
    # smoothing switched off
    t2 = clutter_map(ann, [s], min_images=2, n_boot=0, smooth=False)
    assert t2["mAP_smoothed"].isna().all()
    np.testing.assert_array_equal(t2["mAP"], t["mAP"])


def test_clutter_map_explicit_k_with_empty_group(rng):
    ann = tiny_annotations()
    s = Scores.from_array("A", ann, tiny_scores(ann, rng))
    # K=6: groups 1..5 and >=6; groups 5 and >=6 are empty
    t = clutter_map(ann, s, k=6, n_boot=20, seed=1)
    assert list(t["group"]) == ["1", "2", "3", "4", "5", ">=6"]
    assert list(t["n_images"]) == [4, 2, 1, 1, 0, 0]
    assert t["mAP"].iloc[:4].notna().all() and t["mAP"].iloc[4:].isna().all()
    assert list(t["n_classes_excluded"]) == [1, 1, 3, 3, 4, 4]
    # NaN of group 5 reaches the smoothed value of group 4 (its neighbour), not group 3
    assert np.isfinite(t["mAP_smoothed"].iloc[2]) and np.isnan(t["mAP_smoothed"].iloc[3])
    assert t["ci95_low"].iloc[4:].isna().all()


def test_perfect_scores_and_identical_models(rng):
    ann = tiny_annotations()
    y = ann.label_matrix(include_crowd=True).astype(float)
    perfect = Scores.from_array("perfect", ann, y)
    other = Scores.from_array("other", ann, tiny_scores(ann, rng))
    t = clutter_map(ann, [perfect, other], min_images=2, n_boot=200, seed=3)
    p = t[t["model"] == "perfect"]
    # every resample of a perfect ranking has AP 1 for every class with a positive
    np.testing.assert_allclose(p[["mAP", "mAP_smoothed", "ci95_low", "ci95_high"]].to_numpy(), 1.0)
    assert list(t["model"]) == ["perfect"] * 3 + ["other"] * 3
    # a model against itself: no difference, degenerate band, p = 1
    same = Scores.from_array("same", ann, other.scores)
    d = clutter_difference(ann, other, same, min_images=2, n_boot=200, seed=3)
    np.testing.assert_allclose(d[["delta", "delta_smoothed", "ci95_low", "ci95_high"]].to_numpy(), 0.0)
    np.testing.assert_allclose(d["p_val"], 1.0)


def test_difference_sign_and_consistency(rng):
    ann = tiny_annotations()
    y = ann.label_matrix(include_crowd=True).astype(float)
    a = Scores.from_array("A", ann, tiny_scores(ann, rng))
    b = Scores.from_array("B", ann, np.clip(y * 0.9 + 0.05, 0, 1))  # a perfect ranking
    m = clutter_map(ann, [a, b], min_images=2, n_boot=100, seed=5)
    d = clutter_difference(ann, a, b, min_images=2, n_boot=100, seed=5)
    ma = m[m["model"] == "A"]["mAP"].to_numpy()
    mb = m[m["model"] == "B"]["mAP"].to_numpy()
    # delta = B - A, and B (perfect) is never worse
    np.testing.assert_allclose(d["delta"], mb - ma, atol=1e-12)
    np.testing.assert_allclose(d["mAP_A"], ma)
    np.testing.assert_allclose(d["mAP_B"], mb)
    assert (d["delta"] >= 0).all() and d["delta"].iloc[0] == pytest.approx(1 - 17 / 18)
    assert (d["ci95_low"] >= -1e-12).all()
    # the smoothing is linear: smoothed delta = difference of the smoothed curves
    ms = m.pivot(index="n_objects", columns="model", values="mAP_smoothed")
    np.testing.assert_allclose(d["delta_smoothed"], (ms["B"] - ms["A"]).to_numpy(), atol=1e-12)
    # swapping the two flips the sign
    d2 = clutter_difference(ann, b, a, min_images=2, n_boot=100, seed=5)
    np.testing.assert_allclose(d2["delta"], -d["delta"], atol=1e-12)
    np.testing.assert_allclose(d2["ci95_low"], -d["ci95_high"], atol=1e-12)
    assert list(d["model_a"]) == ["A"] * 3 and list(d["model_b"]) == ["B"] * 3
    with pytest.raises(InputError):
        clutter_difference(ann, a, Scores.from_array("A", ann, y))


def random_annotations(n_img: int, n_cat: int, seed: int) -> Annotations:
    """Images with 1 to 3 random objects each (classes 1..n_cat)."""
    rng = np.random.default_rng(seed)
    anns, aid = [], 1
    for i in range(1, n_img + 1):
        for _ in range(int(rng.integers(1, 4))):
            anns.append(_ann(i, aid, int(rng.integers(1, n_cat + 1))))
            aid += 1
    data = {
        "images": [{"id": i, "width": 50, "height": 50} for i in range(1, n_img + 1)],
        "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_cat + 1)],
        "annotations": anns,
    }
    return Annotations(data)


def noisy_scores(ann: Annotations, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = ann.label_matrix()
    return np.clip(0.35 * y + rng.uniform(0, 0.8, size=y.shape), 0, 1)


def test_bootstrap_reproducible_with_seed():
    ann = random_annotations(60, 4, seed=1)
    s = Scores.from_array("A", ann, noisy_scores(ann, 2))
    t1 = clutter_map(ann, [s], k=3, n_boot=300, seed=11)
    t2 = clutter_map(ann, [s], k=3, n_boot=300, seed=11)
    pd.testing.assert_frame_equal(t1, t2)
    t3 = clutter_map(ann, [s], k=3, n_boot=300, seed=12)
    # another seed, other resamples: the bands move, the point estimates do not
    assert not np.allclose(t1["ci95_low"], t3["ci95_low"])
    np.testing.assert_array_equal(t1["mAP"], t3["mAP"])
    assert (t1["ci95_low"] <= t1["ci95_high"]).all()
    assert (t1["ci95_low_smoothed"] <= t1["ci95_high_smoothed"]).all()
    # the paired difference is reproducible too
    b = Scores.from_array("B", ann, noisy_scores(ann, 3))
    d1 = clutter_difference(ann, s, b, k=3, n_boot=300, seed=11)
    d2 = clutter_difference(ann, s, b, k=3, n_boot=300, seed=11)
    pd.testing.assert_frame_equal(d1, d2)


def test_bootstrap_band_matches_naive_resampling():
    """The intervals are the BCa intervals of a naive image bootstrap recomputed with scikit-learn."""
    from salanalysis._bootstrap import bca_interval, jackknife_weights, weight_batches
    from salanalysis.clutter.core import _group_seed

    n_img = 40
    ann = random_annotations(n_img, 4, seed=7)
    y = ann.label_matrix()
    scores = noisy_scores(ann, 8)
    s = Scores.from_array("A", ann, scores)
    n_boot = 200
    t = clutter_map(ann, [s], k=1, n_boot=n_boot, seed=0)
    assert list(t["group"]) == [">=1"] and t["n_images"].iloc[0] == n_img
    assert t["mAP"].iloc[0] == pytest.approx(sk_map(y, scores), abs=1e-12)
    # the same resamples (the group's seed) and the 20-block jackknife, recomputed by duplication
    (w,) = list(weight_batches(np.random.default_rng(_group_seed(0, 0)), n_img, n_boot, 10**6))
    jw = jackknife_weights(n_img)

    def naive(weights, measure):
        out = []
        for j in range(weights.shape[1]):
            idx = np.repeat(np.arange(n_img), weights[:, j].astype(int))
            out.append(measure(y[idx], scores[idx]))
        return np.array(out)

    def sk_mauc(yy, ss):
        return np.mean([roc_auc_score(yy[:, c], ss[:, c]) for c in range(yy.shape[1])
                        if 0 < yy[:, c].sum() < len(yy)])

    for col, measure in (("ci95", sk_map), ("mAUC_ci95", sk_mauc)):
        value = t["mAP" if col == "ci95" else "mAUC"].iloc[0]
        lo, hi, method = bca_interval(value, naive(w, measure), naive(jw, measure))
        assert t[f"{col}_low"].iloc[0] == pytest.approx(float(lo), abs=1e-12)
        assert t[f"{col}_high"].iloc[0] == pytest.approx(float(hi), abs=1e-12)
    assert t["ci_method"].iloc[0] == "BCa"
    assert t["mAUC"].iloc[0] == pytest.approx(sk_mauc(y, scores), abs=1e-12)


def test_prevalence_free_measures_and_chance(rng):
    # chance mAP: mean over classes of the exact expected AP of a random ranking (hand, n=4, k=1:
    # (1 + 1/2 + 1/3 + 1/4) / 4 = 25/48); the AP corrected by that exact chance AP
    ann = tiny_annotations()
    s = Scores.from_array("A", ann, tiny_scores(ann, rng))
    t = clutter_map(ann, [s], min_images=2, n_boot=0)
    y = ann.label_matrix()
    n_obj = ann.n_objects().to_numpy()
    g1 = y[n_obj == 1]  # images 1, 2, 3, 10: classes cat (2), dog (1), car (1)
    from salanalysis.metrics import chance_ap

    assert chance_ap(1, 4) == pytest.approx(25 / 48)
    row = t[t["group"] == "1"].iloc[0]
    assert row["chance_mAP"] == pytest.approx(np.mean([chance_ap(k, 4) for k in g1.sum(0) if k]))
    sc = s.scores[n_obj == 1]
    ap = [average_precision_score(g1[:, c], sc[:, c]) for c in range(4) if g1[:, c].any()]
    ch = [chance_ap(g1[:, c].sum(), len(g1)) for c in range(4) if g1[:, c].any()]
    assert row["mAP_norm"] == pytest.approx(np.mean([(a - e) / (1 - e) for a, e in zip(ap, ch)]))


def test_random_scorer_mAP_rises_with_clutter_but_not_the_prevalence_free_measures():
    # a random scorer on images whose classes get more frequent with clutter: mAP and chance mAP
    # rise, the mean ROC AUC and the chance-corrected mAP do not; the summary says prevalence explains it
    rng = np.random.default_rng(7)  # (a 95% interval: some seeds give a false change, as they should)
    anns, aid, n_cat = [], 1, 12
    images = []
    for i in range(1, 1201):
        n = int(rng.integers(1, 9))
        images.append({"id": i, "width": 50, "height": 50})
        for c in rng.choice(np.arange(1, n_cat + 1), size=min(n, n_cat), replace=False):
            anns.append(_ann(i, aid, int(c)))
            aid += 1
    ann = Annotations({"images": images, "categories": [{"id": c, "name": f"c{c}"} for c in range(1, n_cat + 1)],
                       "annotations": anns})
    rand = Scores.from_array("random", ann, rng.random((1200, n_cat)))
    res = run_clutter(ann, {"random": rand}, None, min_images=100, n_boot=200, seed=0)
    trend = res.trend.set_index("measure")
    assert trend.loc["mAP", "verdict"] == "rises" and trend.loc["chance_mAP", "verdict"] == "rises"
    assert trend.loc["mAUC", "verdict"] == "no clear change"
    assert trend.loc["mAP_norm", "verdict"] == "no clear change"
    m = res.map
    assert np.allclose(m["mAUC"], 0.5, atol=0.05)  # random ranking: AUC 0.5 in every group
    assert "the mAP trend is explained by prevalence" in res.summary()
    from salanalysis.clutter import prevalence_verdict

    assert prevalence_verdict(res.trend, "random") == "explained by prevalence"


def test_cut_off_rule_never_contradicts_itself_and_three_groups():
    from salanalysis.clutter import choose_k

    # 93 images with objects, min_images 100: no K satisfies the rule; K=1 and it says so
    n = np.r_[np.ones(50, int), np.full(30, 2), np.full(13, 5)]
    k, text, warning = choose_k(n, 100)
    assert k == 1 and text.startswith("no K has all groups >= 100 images (93 images with objects)")
    assert "only 1 group" in warning and "three-groups" in warning
    # K=2 by the rule (groups 50 and 43 images >= 40) leaves two groups: warned; three-groups gives K=3
    assert choose_k(n, 40)[0] == 2 and "only 2 groups" in choose_k(n, 40)[2]
    k3, text3, warning3 = choose_k(n, 40, "three-groups")
    assert k3 == 3 and "the smallest holds 13 images" in text3 and warning3 == ""
    # the data cannot give three groups: said, and K stays
    k1, text1, _ = choose_k(np.r_[np.ones(5, int), np.full(5, 2)], 3, "three-groups")
    assert k1 == 2 and "impossible" in text1
    assert choose_k(np.r_[np.ones(200, int), np.full(150, 2), np.full(120, 3)], 100) == (
        3, "largest K with all groups >= 100 images", "")
    with pytest.raises(ValueError, match="k_rule"):
        choose_k(n, 5, "quantiles")


def test_misaligned_scores_rejected(rng):
    ann = tiny_annotations()
    s = Scores(name="bad", image_ids=np.arange(1, 11) + 100, category_ids=ann.category_ids,
               categories=ann.category_names, scores=np.zeros((10, 4)), source="bad.csv")
    with pytest.raises(InputError, match="bad.csv"):
        clutter_map(ann, [s], n_boot=0)
    good = Scores.from_array("A", ann, tiny_scores(ann, rng))
    with pytest.raises(InputError, match="names must differ"):
        clutter_map(ann, [good, Scores.from_array("A", ann, good.scores)], n_boot=0)


# ------------------------------------------------------------------ demo data
def class_prior(ann: Annotations, name: str = "prior") -> Scores:
    """Every image scored by the class's frequency in the annotation file."""
    y = ann.label_matrix(include_crowd=True)
    return Scores.from_array(name, ann, np.tile(y.mean(axis=0), (len(y), 1)))


def test_demo_sample_detections_vs_class_prior(demo, demo_ann):
    ann = demo_ann
    det = read_scores(demo.detections, ann, name="sample")
    prior = class_prior(ann)
    t = clutter_map(ann, [prior, det], min_images=10, n_boot=50, seed=0)
    # objects per image on the demo: 1 -> 10, 2 -> 15, 3 -> 12, 4 -> 10, 5 -> 7 images, ...
    # K=5: groups 1..4 hold 10, 15, 12, 10 and the tail >=5 holds 100 - 47 = 53; K=6 would
    # leave group 5 with 7 < 10
    assert t.attrs["k"] == 5 and t.attrs["n_images_no_objects"] == 0
    p = t[t["model"] == "prior"]
    assert list(p["group"]) == ["1", "2", "3", "4", ">=5"]
    assert list(p["n_images"]) == [10, 15, 12, 10, 53]
    y = ann.label_matrix(include_crowd=True)
    n_obj = ann.n_objects().to_numpy()
    for (_, row), lower in zip(p.iterrows(), [1, 2, 3, 4, 5]):
        sel = n_obj >= 5 if lower == 5 else n_obj == lower
        yg = y[sel]
        present = yg.any(axis=0)
        # a constant score ties every image: AP = precision at the one threshold = prevalence
        assert row["mAP"] == pytest.approx(yg[:, present].mean(axis=0).mean(), abs=1e-12)
        assert row["n_classes"] == present.sum() and row["n_classes_excluded"] == 80 - present.sum()
        d = t[(t["model"] == "sample") & (t["n_objects"] == lower)].iloc[0]
        assert d["mAP"] == pytest.approx(sk_map(yg, det.scores[sel]), abs=1e-12)
    h = objects_histogram(ann)
    assert h["n_images"].sum() == 100 and h["n_objects"].max() == 43
    assert h.set_index("n_objects").loc[[1, 2, 3, 4, 5], "n_images"].tolist() == [10, 15, 12, 10, 7]
    diff = clutter_difference(ann, prior, det, min_images=10, n_boot=50, seed=0)
    # the sample detections (perturbed ground truth) beat chance in every group
    assert (diff["delta"] > 0).all()
    np.testing.assert_allclose(
        diff["delta"], t[t["model"] == "sample"]["mAP"].to_numpy() - p["mAP"].to_numpy(), atol=1e-12
    )


def test_cli_clutter_demo(demo, demo_ann, tmp_path, capsys):
    prior_path = tmp_path / "prior.csv"
    write_scores(class_prior(demo_ann), prior_path)
    out = tmp_path / "out"
    rc = main([
        "clutter", "--annotations", str(demo.annotations),
        "--scores", f"prior={prior_path}", "--scores", f"sample={demo.detections}",
        "--min-images", "10", "--bootstrap", "30", "--seed", "2", "--out", str(out),
    ])
    text = capsys.readouterr().out
    assert rc == 0
    assert "K=5" in text and "sample - prior" in text
    m = pd.read_csv(out / "clutter_map.csv")
    assert list(m.columns) == MAP_COLUMNS
    assert list(m["model"]) == ["prior"] * 5 + ["sample"] * 5
    assert list(m["n_images"].iloc[:5]) == [10, 15, 12, 10, 53]
    h = pd.read_csv(out / "objects_histogram.csv")
    assert h["n_images"].sum() == 100
    d = pd.read_csv(out / "clutter_difference.csv")
    assert list(d["group"]) == ["1", "2", "3", "4", ">=5"]
    # the file equals the library call with the same options
    ref = run_clutter(demo_ann, {"prior": class_prior(demo_ann), "sample": read_scores(demo.detections, demo_ann)},
                      tmp_path / "lib", min_images=10, n_boot=30, seed=2)
    np.testing.assert_allclose(d["delta"], ref.difference["delta"], atol=1e-12)
    np.testing.assert_allclose(m["ci95_low"], ref.map["ci95_low"], atol=1e-12)
    assert sorted(p.name for p in out.iterdir()) == [
        "clutter_difference.attrs.json", "clutter_difference.csv", "clutter_map.attrs.json", "clutter_map.csv",
        "clutter_trend.attrs.json", "clutter_trend.csv", "objects_histogram.csv",
    ]
    # a re-run with one score set into the same folder leaves no difference of the earlier run
    assert main(["clutter", "--annotations", str(demo.annotations), "--scores", f"sample={demo.detections}",
                 "--min-images", "10", "--bootstrap", "0", "--out", str(out)]) == 0
    capsys.readouterr()
    # two score sets without a bootstrap: the difference line says there are no intervals, not [+nan, +nan]
    assert main(["clutter", "--annotations", str(demo.annotations), "--scores", f"prior={prior_path}",
                 "--scores", f"sample={demo.detections}", "--min-images", "10", "--bootstrap", "0",
                 "--out", str(tmp_path / "noboot")]) == 0
    printed = capsys.readouterr().out
    assert "sample - prior: mAP difference in 5 groups (no bootstrap, no intervals)" in printed
    assert "nan" not in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "clutter_map.attrs.json", "clutter_map.csv", "clutter_trend.attrs.json", "clutter_trend.csv",
        "objects_histogram.csv"]


def test_cli_clutter_errors(demo, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["clutter", "--annotations", str(demo.annotations),
               "--scores", f"x={tmp_path / 'missing.csv'}", "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "missing.csv" in err and len(err.splitlines()) == 1
    assert not out.exists()  # nothing written
    with pytest.raises(SystemExit) as exc:
        main(["clutter", "--annotations", str(demo.annotations), "--scores", str(demo.detections),
              "--k", "0", "--out", str(out)])
    assert exc.value.code == 2
    capsys.readouterr()
    # the help names the default that run() applies
    from salanalysis.clutter import DEFAULT_MIN_IMAGES

    with pytest.raises(SystemExit):
        main(["clutter", "--help"])
    assert f"(default {DEFAULT_MIN_IMAGES})" in capsys.readouterr().out


# --------------------------------------------------------------------- LVIS federated evaluation
def _lvis_group_reference(data: dict, s: np.ndarray, groups: dict[str, list[int]]) -> dict[str, dict]:
    """Per group, LVIS's federated rule written out per class from the raw JSON, then scikit-learn."""
    img_ids = sorted(im["id"] for im in data["images"])
    row = {i: k for k, i in enumerate(img_ids)}
    imgs = {im["id"]: im for im in data["images"]}
    out = {}
    for name, members in groups.items():
        aps, aucs, chance, norm = [], [], [], []
        for c, cid in enumerate(sorted(cat["id"] for cat in data["categories"])):
            pos = {a["image_id"] for a in data["annotations"] if a["category_id"] == cid} & set(members)
            neg = {i for i in members if cid in imgs[i]["neg_category_ids"]}
            unsure = {i for i in members if cid in imgs[i]["not_exhaustive_category_ids"]} - pos
            keep = sorted((pos | neg) - unsure)  # the group's images where class c is verified
            yc = np.array([i in pos for i in keep], dtype=bool)
            sc = s[[row[i] for i in keep], c]
            if yc.any():
                aps.append(average_precision_score(yc, sc))
                # a random ranking of the verified images: E[AP] by averaging over every ordering
                # of positives among them (exact for these small counts: C(n, k) placements)
                n, k = len(yc), int(yc.sum())
                chance.append(np.mean([average_precision_score(np.isin(np.arange(n), pl), -np.arange(n))
                                       for pl in itertools.combinations(range(n), k)]))
                if not yc.all():
                    aucs.append(roc_auc_score(yc, sc))
                    norm.append((aps[-1] - chance[-1]) / (1 - chance[-1]))  # chance-corrected AP
        out[name] = {"mAP": np.mean(aps), "mAUC": np.mean(aucs), "n_classes": len(aps), "chance_mAP": np.mean(chance),
                     "mAP_norm": np.mean(norm), "n_classes_auc": len(aucs)}
    return out


def test_clutter_follows_lvis_federated_rule(tmp_path, capsys):
    # Fig. 3 on an LVIS file: each class counts only the group's images where it is verified,
    # as in the metrics table (before, the unverified images counted as negatives)
    import json

    from test_metrics import LVIS, _lvis_scores

    data = json.loads(LVIS.read_text())
    ann = Annotations.load(LVIS)
    rng = np.random.default_rng(3)
    s = _lvis_scores(ann, rng)
    s = np.clip(s + rng.normal(0, 0.3, s.shape), 0, 1)  # imperfect rankings: AP away from 1 in every group
    sc = Scores.from_array("m", ann, s)
    cm = clutter_map(ann, sc, k=3, n_boot=0)
    assert cm.attrs["federated"] == "on"
    n_obj = {i: 0 for i in ann.image_ids}
    for a in data["annotations"]:
        if not a.get("iscrowd"):
            n_obj[a["image_id"]] += 1
    groups = {"1": [i for i, n in n_obj.items() if n == 1], "2": [i for i, n in n_obj.items() if n == 2],
              ">=3": [i for i, n in n_obj.items() if n >= 3]}
    ref = _lvis_group_reference(data, s, groups)
    got = cm.set_index("group")
    for g, r in ref.items():
        for col in ("mAP", "mAUC", "chance_mAP", "mAP_norm"):
            assert got.loc[g, col] == pytest.approx(r[col], abs=1e-12), (g, col)
        assert got.loc[g, "n_classes"] == r["n_classes"] and got.loc[g, "n_classes_auc"] == r["n_classes_auc"], g
    # turned off: every image of the group counts for every class, and mAP is lower
    off = clutter_map(ann, sc, k=3, n_boot=0, rules=MetricRules(federated="off")).set_index("group")
    assert off.attrs["federated"] == "off"
    y = ann.label_matrix()
    rows = {i: k for k, i in enumerate(ann.image_ids)}
    for g, members in groups.items():
        yy, ss = y[[rows[i] for i in members]], s[[rows[i] for i in members]]
        plain = np.mean([average_precision_score(yy[:, c], ss[:, c]) for c in range(y.shape[1]) if yy[:, c].any()])
        assert off.loc[g, "mAP"] == pytest.approx(plain, abs=1e-15) and plain < got.loc[g, "mAP"], g
    # the bootstrap resamples follow the rule too: BCa intervals around the federated estimate, wholly
    # above the plain mAP (resampled without the mask, the replicates lie around the plain values, the
    # estimate falls outside them and the interval falls back to the centered percentile)
    boot = clutter_map(ann, sc, k=3, n_boot=200, seed=1).set_index("group")
    assert (boot["ci_method"] == "BCa").all()
    assert ((boot["ci95_low"] <= boot["mAP"]) & (boot["mAP"] <= boot["ci95_high"])).all()
    assert (boot["ci95_low"] > off["mAP"] + 0.2).all()
    # on the command line, and --federated off there
    path = tmp_path / "s.npz"
    write_scores(sc, path)
    args = ["clutter", "--annotations", str(LVIS), "--scores", f"m={path}", "--k", "3", "--bootstrap", "0"]
    assert main([*args, "--out", str(tmp_path / "on")]) == 0
    assert main([*args, "--federated", "off", "--out", str(tmp_path / "off")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("federated (LVIS) evaluation") == 1 and "no bootstrap, no intervals" in printed
    on_csv, off_csv = (pd.read_csv(tmp_path / d / "clutter_map.csv") for d in ("on", "off"))
    assert on_csv["mAP"].to_numpy() == pytest.approx(cm["mAP"].to_numpy(), abs=1e-15)
    assert off_csv["mAP"].to_numpy() == pytest.approx(off["mAP"].to_numpy(), abs=1e-15)
    # Fig. 3's caption names the rule when it applies
    from salanalysis import figures as F

    hist = objects_histogram(ann)
    for table, named in ((cm, True), (off.reset_index(), False)):
        caption = F.FIGURES["fig3_clutter"].caption({"clutter_map": table, "objects_histogram": hist},
                                                   F.FigureContext())
        assert ("Federated (LVIS) evaluation" in caption) is named
