"""Saliency metrics against hand computations, scipy / scikit-learn and the MIT algorithms.

The metric definitions were also cross-checked once (outside this suite) against
pysaliency 0.2.22 on the two real SALICON demo maps; pysaliency is not a test
dependency because it does not import under setuptools >= 81 / numpy 2.4.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from salanalysis.baselines import center_bias_map, write_center_bias_maps
from salanalysis.cli import main
from salanalysis.errors import InputError, InputWarning
from salanalysis.maps import NOTE_ASPECT, MapSource, write_map_directory
from salanalysis.salicon import read_fixations
from salanalysis.saliency_metrics import (
    MATLAB_EPS,
    METRICS,
    auc_judd,
    auc_shuffled,
    cc,
    evaluate_maps,
    kld,
    nss,
    sim,
    summarize_metrics,
)

FIX = Path(__file__).parent / "data" / "salicon_fixtures"
JSON = FIX / "fixations_val2014_tiny.json"


def _mit_auc_judd(sal: np.ndarray, fixmap: np.ndarray) -> float:
    """Line-by-line translation of the MIT benchmark's AUC_Judd.m (without jitter)."""
    S = sal.ravel()
    F = fixmap.ravel()
    Sth = S[F > 0]
    Nfixations, Npixels = len(Sth), len(S)
    allthreshes = np.sort(Sth)[::-1]
    tp = np.zeros(Nfixations + 2)
    fp = np.zeros(Nfixations + 2)
    tp[-1] = fp[-1] = 1
    for i in range(Nfixations):
        thresh = allthreshes[i]
        aboveth = np.sum(S >= thresh)
        tp[i + 1] = (i + 1) / Nfixations
        fp[i + 1] = (aboveth - (i + 1)) / (Npixels - Nfixations)
    return float(np.trapezoid(tp, fp))


def _gt(demo, iid: int) -> np.ndarray:
    m = cv2.imread(str(demo.saliency / f"COCO_val2014_{iid:012d}.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    return (m - m.min()) / (m.max() - m.min())


# -------------------------------------------------------------- hand computations
def test_cc_by_hand_and_scipy(rng):
    p = np.array([[1.0, 2.0], [3.0, 4.0]])
    # centered p = [-1.5, -0.5, 0.5, 1.5]; q = [0, 0, 1, 1] centered = [-.5, -.5, .5, .5]
    # r = (0.75 + 0.25 + 0.25 + 0.75) / (sqrt(5) * 1) = 2 / sqrt(5) = 0.894427
    assert cc(p, np.array([[0.0, 0.0], [1.0, 1.0]])) == pytest.approx(2 / np.sqrt(5), abs=1e-15)
    assert cc(p, np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.0, abs=1e-15)
    a, b = rng.random((20, 30)), rng.random((20, 30))
    assert cc(a, b) == pytest.approx(stats.pearsonr(a.ravel(), b.ravel())[0], abs=1e-12)
    assert cc(np.ones((2, 2)), p) == 0.0  # constant prediction (pysaliency)
    assert np.isnan(cc(p, np.ones((2, 2))))  # constant ground truth
    with pytest.raises(ValueError, match="shape"):
        cc(p, np.ones((3, 2)))


def test_kld_by_hand_and_scipy(rng):
    # uniform prediction P' = 1/4 each, ground truth Q' = [1, 0, 0, 0]:
    # KLD = 1 * log(eps + 1 / (0.25 + eps)) + 3 * 0 = log(4) = 1.3862944
    assert kld(np.ones((2, 2)), np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(np.log(4), abs=1e-12)
    assert kld(np.eye(3), np.eye(3)) == pytest.approx(0.0, abs=1e-12)
    # strictly positive maps: eps is negligible, KL(Q || P) = scipy.stats.entropy(Q, P)
    p, q = rng.random((15, 10)) + 0.1, rng.random((15, 10)) + 0.1
    assert kld(p, q) == pytest.approx(stats.entropy(q.ravel(), p.ravel()), abs=1e-9)
    assert kld(p, q) != pytest.approx(kld(q, p), abs=1e-6)  # the direction matters
    # zero prediction where the ground truth has mass: log(eps + q / eps) is large but finite
    assert kld(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])) == pytest.approx(
        0.5 * np.log(MATLAB_EPS + 0.5 / (1 + MATLAB_EPS)) + 0.5 * np.log(MATLAB_EPS + 0.5 / MATLAB_EPS), rel=1e-12
    )


def test_sim_by_hand():
    # p = [0, 2, 1, 1] -> min-max [0, 1, .5, .5] -> /2 -> [0, .5, .25, .25]
    # q = [1, 1, 0, 2] -> min-max [.5, .5, 0, 1] -> /2 -> [.25, .25, 0, .5]
    # sum of minima = 0 + .25 + 0 + .25 = 0.5
    assert sim(np.array([[0.0, 2.0], [1.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 2.0]])) == pytest.approx(0.5, abs=1e-15)
    assert sim(np.eye(4), np.eye(4)) == pytest.approx(1.0)
    assert sim(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == 0.0


def test_nss_by_hand_and_scipy(rng):
    p = np.array([[0.0, 1.0], [2.0, 3.0]])
    # mean 1.5, sd (ddof 0) = sqrt(1.25) = 1.118034; fixations (x=1,y=1) twice and (0,0):
    # z = 1.341641, 1.341641, -1.341641 -> mean 0.447214 (repeats count)
    assert nss(p, [1, 1, 0], [1, 1, 0]) == pytest.approx(1.5 / np.sqrt(1.25) / 3, abs=1e-12)
    a = rng.random((12, 9))
    xs, ys = np.array([0, 3, 8, 5]), np.array([11, 2, 0, 6])
    assert nss(a, xs, ys) == pytest.approx(stats.zscore(a, axis=None)[ys, xs].mean(), abs=1e-12)
    assert nss(np.ones((3, 3)), [1], [1]) == 0.0
    assert np.isnan(nss(a, [], []))
    with pytest.raises(ValueError, match="outside"):
        nss(a, [9], [0])


def test_auc_judd_by_hand():
    p = np.array([[0.1, 0.9, 0.4], [0.8, 0.3, 0.6]])
    # positives (fixated) 0.9 (x=1,y=0) and 0.4 (x=2,y=0); negatives 0.1, 0.8, 0.3, 0.6.
    # threshold 0.9: tp 1/2, fp 0/4; threshold 0.4: tp 2/2, fp 2/4 (0.8, 0.6)
    # curve (0,0) (0,.5) (.5,1) (1,1): area 0 + .5 * .75 + .5 * 1 = 0.875
    assert auc_judd(p, [1, 2], [0, 0], jitter=False) == pytest.approx(0.875, abs=1e-15)
    assert _mit_auc_judd(p, np.array([[0, 1, 1], [0, 0, 0]])) == pytest.approx(0.875, abs=1e-15)
    # (the exact pairwise AUC would be 6/8 = 0.75: Judd's thresholds lie only at fixated values)
    assert np.isnan(auc_judd(p, [], [], jitter=False))
    assert np.isnan(auc_judd(np.ones((1, 2)), [0, 1], [0, 0], jitter=False))  # no unfixated pixel


def test_auc_judd_equals_mit_code(rng):
    sal = rng.random((30, 40))  # continuous: no ties
    idx = rng.choice(sal.size, size=25, replace=False)  # distinct fixated pixels
    ys, xs = np.unravel_index(idx, sal.shape)
    fixmap = np.zeros(sal.shape)
    fixmap[ys, xs] = 1
    assert auc_judd(sal, xs, ys, jitter=False) == pytest.approx(_mit_auc_judd(sal, fixmap), abs=1e-12)
    # the 1e-7 jitter does not move a tie-free result by more than the noise allows
    assert auc_judd(sal, xs, ys, jitter=True, seed=3) == pytest.approx(_mit_auc_judd(sal, fixmap), abs=1e-3)
    # on an 8-bit map full of ties, jitter is seeded: same seed, same value
    q = np.round(sal * 4) / 4
    assert auc_judd(q, xs, ys, seed=5) == auc_judd(q, xs, ys, seed=5)


def test_auc_shuffled_by_hand_and_sklearn(demo, rng):
    p = np.array([[0.9, 0.4, 0.1]])
    # positives 0.9, 0.4; negatives 0.4, 0.1: pairs 1 + 1 + 0.5 (tie) + 1 = 3.5 of 4 = 0.875
    assert auc_shuffled(p, [0, 1], [0, 0], [1, 2], [0, 0]) == pytest.approx(0.875, abs=1e-15)
    gt = _gt(demo, 192)  # real 8-bit map: many ties
    xs, ys = rng.integers(0, 640, 80), rng.integers(0, 480, 80)
    nx, ny = rng.integers(0, 640, 300), rng.integers(0, 480, 300)
    pos, neg = gt[ys, xs], gt[ny, nx]
    ref = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
    assert auc_shuffled(gt, xs, ys, nx, ny) == pytest.approx(ref, abs=1e-12)
    assert np.isnan(auc_shuffled(gt, xs, ys, [], []))


# --------------------------------------------------------------------- evaluate
def _fixture_fixations(images=(192, 208)):
    fx = read_fixations(JSON)
    return fx.table[fx.table.image_id.isin(images)].reset_index(drop=True)


def _raw_points(iid: int) -> tuple[np.ndarray, np.ndarray]:
    """x, y (zero-based) of an image straight from the JSON ([row, col], 1-based)."""
    data = json.loads(JSON.read_text())
    pts = np.array([p for a in data["annotations"] if a["image_id"] == iid for p in a["fixations"]], dtype=float)
    return pts[:, 1] - 1, pts[:, 0] - 1


def test_ground_truth_against_itself(demo):
    with pytest.warns(InputWarning, match="same maps: each map is scored against itself"):
        t = evaluate_maps(demo.saliency, demo.saliency)
    assert list(t["image"]) == ["COCO_val2014_000000000192", "COCO_val2014_000000000208", "mean"]
    per = t.iloc[:2]
    np.testing.assert_allclose(per["CC"], 1.0, atol=1e-12)
    np.testing.assert_allclose(per["SIM"], 1.0, atol=1e-12)
    np.testing.assert_allclose(per["KLD"], 0.0, atol=1e-10)
    # no fixations given: the fixation metrics are left out, with the reason, never NaN columns
    assert list(t.columns) == ["image_id", "image", "width", "height", "has_pred", "has_gt_map", "n_fixations",
                               "n_fixations_outside", "CC", "KLD", "SIM"]
    assert t.attrs["skipped"] == {m: "needs fixations (--fixations)" for m in ("NSS", "AUC_Judd", "sAUC")}
    assert (per["width"] == 640).all() and (per["height"] == 480).all()
    with pytest.raises(InputError, match="metric NSS needs fixations"):
        evaluate_maps(demo.saliency, demo.saliency, metrics=["CC", "NSS"])


def test_center_baseline_on_real_maps_and_fixtures(tmp_path, demo, demo_ann):
    pred_dir = tmp_path / "center"
    write_center_bias_maps(demo_ann, pred_dir)
    fix = _fixture_fixations()
    t = evaluate_maps(pred_dir, demo.saliency, fix, jitter=False)
    assert len(t) == 3 and t["has_pred"].iloc[:2].all()
    pred = cv2.imread(str(pred_dir / "COCO_val2014_000000000192.png"), cv2.IMREAD_GRAYSCALE).astype(float)
    pred = (pred - pred.min()) / (pred.max() - pred.min())
    ptsx = {i: _raw_points(i)[0] for i in (192, 208)}
    ptsy = {i: _raw_points(i)[1] for i in (192, 208)}
    for k, iid in enumerate((192, 208)):
        row = t.iloc[k]
        gt = _gt(demo, iid)
        # maps are loaded as float32 by MapSource: agreement to float32 precision
        assert row["CC"] == pytest.approx(np.corrcoef(pred.ravel(), gt.ravel())[0, 1], abs=1e-6)
        assert row["KLD"] == pytest.approx(kld(pred, gt), abs=1e-6)
        x, y = ptsx[iid].astype(int), ptsy[iid].astype(int)
        assert row["NSS"] == pytest.approx(stats.zscore(pred, axis=None)[y, x].mean(), abs=1e-6)
        other = 208 if iid == 192 else 192  # shuffled negatives: the other image's fixations
        ox, oy = ptsx[other].astype(int), ptsy[other].astype(int)
        pos, neg = pred[y, x], pred[oy, ox]
        ref = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
        assert row["sAUC"] == pytest.approx(ref, abs=1e-12)
        assert row["AUC_Judd"] == pytest.approx(auc_judd(pred, x, y, jitter=False), abs=1e-12)
        assert row["n_fixations"] == len(x)
    assert 0 < t["CC"].iloc[0] < 1 and t["KLD"].iloc[0] > 0
    mean = t.iloc[2]
    assert mean["image"] == "mean" and pd.isna(mean["image_id"]) and mean["n_fixations"] == 12
    for m in METRICS:
        assert mean[m] == pytest.approx(t[m].iloc[:2].mean(), abs=1e-12)


def test_shuffled_negatives_scaled_to_the_image(tmp_path):
    fx = read_fixations(JSON)
    pred_dir = tmp_path / "c"
    write_center_bias_maps(fx.image_sizes().assign(file_name=lambda d: d["image"] + ".jpg"), pred_dir)
    t = evaluate_maps(pred_dir, None, fx, metrics=["sAUC", "NSS"])
    assert list(t["image"].iloc[:3]) == [f"COCO_val2014_{i:012d}" for i in (7, 192, 208)]
    assert t["has_gt_map"].iloc[:3].eq(False).all()
    # image 7 is 16 x 12: the 12 fixations of the 640 x 480 images scale by 1/40 (pixel centers):
    # x' = round((x + 0.5) / 40 - 0.5)
    pred = np.round(center_bias_map(12, 16) * 255) / 255
    pred = (pred - pred.min()) / (pred.max() - pred.min())
    x7, y7 = _raw_points(7)
    others = [_raw_points(i) for i in (192, 208)]
    ox = np.floor((np.concatenate([o[0] for o in others]) + 0.5) / 40).astype(int)
    oy = np.floor((np.concatenate([o[1] for o in others]) + 0.5) / 40).astype(int)
    pos, neg = pred[y7.astype(int), x7.astype(int)], pred[oy, ox]
    ref = roc_auc_score(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg])
    assert t["sAUC"].iloc[0] == pytest.approx(ref, abs=1e-6)
    # subsampled negatives are seeded
    a = evaluate_maps(pred_dir, None, fx, metrics=["sAUC"], max_nonfixations=5, seed=1)
    b = evaluate_maps(pred_dir, None, fx, metrics=["sAUC"], max_nonfixations=5, seed=1)
    pd.testing.assert_frame_equal(a, b)
    assert a["sAUC"].between(0, 1).all()


def test_missing_predictions(tmp_path, demo):
    only = tmp_path / "only192"
    write_map_directory([("COCO_val2014_000000000192", _gt(demo, 192))], only)
    t = evaluate_maps(MapSource(only, "p"), demo.saliency)
    assert t["has_pred"].iloc[:2].tolist() == [True, False]
    assert t.iloc[1][["CC", "KLD", "SIM"]].isna().all()
    assert t.iloc[2]["CC"] == pytest.approx(t.iloc[0]["CC"])
    none = tmp_path / "none"
    write_map_directory([("COCO_val2014_000000000999", _gt(demo, 192))], none)
    with pytest.raises(InputError, match="no predicted map matches") as exc:
        evaluate_maps(none, demo.saliency)
    assert str(none) in str(exc.value)
    with pytest.raises(InputError, match="ground-truth"):
        evaluate_maps(only, None, None)
    with pytest.raises(InputError, match="lacks columns"):
        evaluate_maps(only, None, pd.DataFrame({"x": [1.0]}))


def test_summarize_metrics_t_interval_over_images():
    t = pd.DataFrame({
        "image": ["a", "b", "c", "d", "e", "mean"],
        "has_pred": pd.array([True, True, True, True, False, pd.NA], dtype="boolean"),
        "CC": [0.1, 0.5, 0.9, np.nan, 0.7, 0.5],  # d: no value; e: no prediction
        "NSS": [2.0, np.nan, np.nan, np.nan, np.nan, 2.0],
    })  # fmt: skip
    sm = summarize_metrics(t, min_images=2).set_index("metric")
    assert list(sm.index) == ["CC", "NSS"]
    cc = sm.loc["CC"]
    # hand: mean 0.5, sd = sqrt(((-.4)^2 + 0 + .4^2) / 2) = 0.4, sem = 0.4 / sqrt(3)
    assert cc["n"] == 3 and cc["mean"] == pytest.approx(0.5) and cc["sd"] == pytest.approx(0.4)
    assert cc["sem"] == pytest.approx(0.4 / np.sqrt(3))
    lo, hi = stats.t.interval(0.95, 2, loc=0.5, scale=0.4 / np.sqrt(3))  # (-0.494, 1.494)
    # CC lies in [-1, 1]: the t interval is cut at 1, and says so
    assert (cc["ci_low"], cc["ci_high"]) == (pytest.approx(lo), 1.0) and hi > 1
    assert cc["interval"] == "t, clipped to [-1, 1]"
    assert sm.loc["NSS", "n"] == 1 and np.isnan(sm.loc["NSS", "ci_low"])  # one image: no interval
    assert sm.loc["NSS", "interval"] == "none: n < 2"
    lo90, hi90 = stats.t.interval(0.9, 2, loc=0.5, scale=0.4 / np.sqrt(3))
    ninety = summarize_metrics(t, confidence=0.9, min_images=2).iloc[0]
    assert ninety["ci_low"] == pytest.approx(lo90) and ninety["ci_high"] == 1.0
    # the default: no interval below 10 images
    default = summarize_metrics(t).set_index("metric").loc["CC"]
    assert np.isnan(default["ci_low"]) and default["interval"] == "none: n < 10"


def test_summary_interval_inside_the_range_of_every_bounded_metric(rng):
    # 12 images, values piled against the upper bound: the plain t interval would pass 1
    v = np.r_[np.full(11, 1.0), 0.4]
    t = pd.DataFrame({"image": [str(i) for i in range(12)], "has_pred": pd.array([True] * 12, dtype="boolean"),
                      "CC": v, "SIM": v, "AUC_Judd": v, "sAUC": v, "NSS": v * 3, "KLD": 1 - v})
    sm = summarize_metrics(t).set_index("metric")
    half = stats.t.ppf(0.975, 11) * v.std(ddof=1) / np.sqrt(12)
    assert v.mean() + half > 1  # what the unclipped interval would say
    for m, (lo, hi) in {"CC": (-1, 1), "SIM": (0, 1), "AUC_Judd": (0, 1), "sAUC": (0, 1)}.items():
        assert lo <= sm.loc[m, "ci_low"] <= sm.loc[m, "mean"] <= sm.loc[m, "ci_high"] == hi
        assert sm.loc[m, "ci_low"] == pytest.approx(v.mean() - half)
    assert sm.loc["KLD", "ci_low"] == 0.0 and sm.loc["KLD", "interval"] == "t, clipped to [0, inf]"
    assert sm.loc["NSS", "interval"] == "t" and sm.loc["NSS", "ci_high"] == pytest.approx(3 * (v.mean() + half))


def test_cli_evaluate(tmp_path, demo, capsys):
    out = tmp_path / "scores.csv"
    rc = main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
               "--fixations", str(JSON), "--out", str(out)])
    assert rc == 0
    t = pd.read_csv(out)
    assert t["image"].tolist()[-1] == "mean" and len(t) == 4  # 7 (fixations only), 192, 208, mean
    assert not t.loc[t.image == "COCO_val2014_000000000007", "has_pred"].item()  # no SALICON map for 7
    assert t["CC"].iloc[1] == pytest.approx(1.0)
    assert "2 of 3 images scored" in capsys.readouterr().out
    rc = main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
               "--out", str(out), "--summary", str(tmp_path / "summary.csv")])  # fmt: skip
    assert rc == 0
    sm = pd.read_csv(tmp_path / "summary.csv")
    sm = sm.set_index("metric")
    assert sm.loc[["CC", "KLD", "SIM"], "n"].tolist() == [2, 2, 2]
    assert list(sm.index) == ["CC", "KLD", "SIM"]  # no fixations given: no fixation metric
    captured = capsys.readouterr()
    assert "CC 1.0000 (n=2; no interval: n < 10)" in captured.out
    assert "KLD 0.0000 (n=2" in captured.out and "-0.0000" not in captured.out  # identical maps: not -0.0000
    assert "NSS: not computed, needs fixations (--fixations)" in captured.out and "nan" not in captured.out
    assert "salanalysis: warning:" in captured.err and "scored against itself" in captured.err
    rc = main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
               "--out", str(tmp_path / "y.csv"), "--summary", str(tmp_path / "summary.txt")])  # fmt: skip
    assert rc == 2 and "summary.txt: output must end in .csv or .parquet" in capsys.readouterr().err
    assert not (tmp_path / "y.csv").exists()
    none = tmp_path / "none"
    write_map_directory([("COCO_val2014_000000000999", np.eye(3))], none)
    rc = main(["saliency", "evaluate", "--pred", str(none), "--gt-maps", str(demo.saliency), "--out", str(tmp_path / "x.csv")])
    assert rc == 2 and "no predicted map matches" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    rc = main(["saliency", "evaluate", "--pred", str(none), "--out", str(tmp_path / "x.csv")])
    assert rc == 2
    rc = main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
               "--metrics", "CC", "AUC", "--out", str(tmp_path / "x.csv")])
    assert rc == 2 and "AUC" in capsys.readouterr().err
    rc = main(["saliency", "evaluate", "--pred", str(demo.saliency), "--gt-maps", str(demo.saliency),
               "--metrics", "CC", "NSS", "--out", str(tmp_path / "x.csv")])
    assert rc == 2 and "metric NSS needs fixations (--fixations)" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_stretched_predictions_are_reported_once(tmp_path, demo):
    pred = tmp_path / "portrait"
    write_map_directory([(f"COCO_val2014_{i:012d}", cv2.resize(_gt(demo, i), (480, 640))) for i in (192, 208)],
                        pred)
    with pytest.warns(InputWarning) as rec:
        t = evaluate_maps(pred, demo.saliency)
    texts = [str(w.message) for w in rec if issubclass(w.category, InputWarning)]
    assert len(texts) == 1 and "'pred': 2 map(s) of another aspect ratio than their image, stretched" in texts[0]
    assert t.attrs["notes"]["pred"] == {str(NOTE_ASPECT): 2}
    # stretched back bilinearly, then min-max normalised: close to the ground truth, not equal
    assert 0.99 < t["CC"].iloc[0] < 1.0
