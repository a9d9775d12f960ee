"""The paper's claims beside a run's values (verdicts from the data) and the diagnostics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from salanalysis.findings import FindingsContext, diagnostics, findings, saliency_roles


def _tests(t: float, p: float, effect: float = -0.05) -> pd.DataFrame:
    rows = []
    for var in ("area_frac", "center_dist"):
        for test, stat, role in (("student_t", 2 * t, "paper"), ("cluster_ols", 3 * t, "alternative"),
                                 ("cluster2_ols", t, "verdict")):
            rows.append({"model": "m", "unit": "object", "variable": var, "test": test, "statistic": stat, "role": role,
                         "p_val": p, "p_holm": p, "effect": effect, "effect_ci95_low": effect - 0.01,
                         "effect_ci95_high": effect + 0.01, "n_detected": 50, "n_missed": 40, "n_images": 30,
                         "n_categories": 12})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("t", "p", "size", "center"), [
    (3.0, 0.001, "same direction, significant", "opposite"),           # larger & farther: size agrees
    (-3.0, 0.001, "opposite", "same direction, significant"),
    (1.0, 0.30, "same direction, not significant", "inconclusive"),
    (np.nan, np.nan, "not available", "not available"),
])
def test_tpfn_verdicts_follow_the_paper_sign_and_the_clustered_p(t, p, size, center):
    f = findings({"tpfn_tests": _tests(t, p)}, FindingsContext(primary="m")).set_index("claim")
    assert f.loc["detected objects are larger than missed ones", "verdict"] == size
    assert f.loc["detected objects are closer to the image center", "verdict"] == center
    if np.isfinite(t):  # the verdict's numbers are the clustered test's, the paper's t beside them
        row = f.loc["detected objects are larger than missed ones"]
        assert row["this_run"].startswith(f"image- and category-clustered t = {t:.2f}") and "(Holm)" in row["this_run"]
        assert "12 categories" in row["detail"] and "unadjusted 95%" in row["detail"]
        assert row["interval"] == "[-0.06, -0.04]"  # the interval column holds the interval only, signed
        assert f"object-level t here: {2 * t:.2f}" in row["detail"] and row["anchor"] == "fig-fig2_tpfn"


def test_fig2_rows_explain_clutter_and_the_single_instance_result():
    tests = _tests(-4.0, 0.0003)
    single = tests[tests["role"] == "verdict"].assign(unit="single_instance", p_holm=0.17, effect=-0.047)
    # detected objects from images of 3 objects (2 images), missed from images of 1 (4 images): means 3.0 and 1.0
    objects = pd.DataFrame({"image_id": [1, 1, 1, 2, 2, 2, 3, 4, 5, 6], "n_objects": [3] * 6 + [1] * 4,
                            "detected_m": [True] * 6 + [False] * 4})
    f = findings({"tpfn_tests": pd.concat([tests, single]), "objects": objects}, FindingsContext(primary="m"))
    size = f.set_index("claim").loc["detected objects are larger than missed ones"]
    assert "detected objects come from images with 3.0 objects on average, missed ones from images with 1.0" in \
        size["detail"]
    assert "Objects alone of their class in their image: difference -0.047, p = 0.17 (Holm): the effect largely " \
           "goes away" in size["detail"]
    assert "logistic models that hold size and position together" in size["detail"]
    assert size["see"] == "fig-fig2_clutter;table-detection_models;table-tpfn_tests"
    # still significant among single objects: no "goes away"
    held = findings({"tpfn_tests": pd.concat([tests, single.assign(p_holm=0.01)]), "objects": objects},
                    FindingsContext(primary="m")).set_index("claim")
    assert "goes away" not in held.loc["detected objects are larger than missed ones", "detail"]
    # without the tables the row says nothing of them
    bare = findings({"tpfn_tests": tests}, FindingsContext(primary="m")).set_index("claim")
    assert "Clutter" not in bare.loc["detected objects are larger than missed ones", "detail"]


def test_missing_tables_are_not_available_and_every_claim_is_listed():
    f = findings({}, FindingsContext(primary="m", ground_truth_sources=["salicon"], predicted_sources=["pred"]))
    assert (f["verdict"] == "not available").all()
    assert list(f["section"]) == ["Fig. 2"] * 3 + ["Sec. 3.2"] * 4 + ["Fig. 3", "Sec. 5.3", "Sec. 5.3", "Fig. 4",
                                                                       "Sec. 5.4", "Table 1", "Table 1", "Table 1"]
    # without a predicted source the claim is listed, not available, and says why
    g = findings({}, FindingsContext(primary="m"))
    pred = g[g["claim"].str.contains("predicted")]
    assert len(pred) == 1 and pred["verdict"].iloc[0] == "not available" and "no predicted" in pred["detail"].iloc[0]


def test_sec54_and_table1_f1_rows():
    rest = ["n_categories", "improved", "worsened", "within_noise", "delta_positive", "delta_negative"]
    summ = pd.DataFrame({"quantity": rest + ["delta_mAP", "pearson_delta_area"],
                         "value": [70, 51, 0, 19, 68, 0, 0.7, -0.25], "n": [70] * 8,
                         "ci95_low": [np.nan] * 6 + [0.6, -0.46], "ci95_high": [np.nan] * 6 + [0.75, -0.02],
                         "p_val": [np.nan] * 6 + [0.002, 0.036]})
    t1 = pd.DataFrame({"model": ["a", "b"], "mAP": [0.715, 0.725], "mAP_low": [0.70, 0.71], "mAP_high": [0.73, 0.74],
                       "CF1": [0.579, 0.603], "CF1_low": [0.56, 0.59], "CF1_high": [0.585, 0.62],
                       "OF1": [0.632, 0.652], "OF1_low": [0.60, 0.62], "OF1_high": [0.66, 0.68]})
    f = findings({"compare_summary": summ, "table1": t1},
                 FindingsContext(primary="b", compare=("a", "b"))).set_index("section")
    s54 = f.loc["Sec. 5.4"]
    assert s54["verdict"] == "same direction, significant" and s54["this_run"] == "Pearson r = -0.25, p = 0.036"
    assert s54["interval"] == "[-0.46, -0.02]"
    t = f.loc["Table 1"].set_index("claim")
    cf1 = t.loc["'b' has a higher C-F1 than 'a'"]
    # 0.59 > 0.585: the intervals do not overlap -> significant; O-F1's overlap -> not significant
    assert cf1["verdict"] == "same direction, significant" and cf1["this_run"] == "C-F1 0.579 -> 0.603; difference +0.024"
    assert cf1["interval"] == "[0.56, 0.585] -> [0.59, 0.62]" and "do not overlap" in cf1["detail"]
    assert t.loc["'b' has a higher O-F1 than 'a'", "verdict"] == "same direction, not significant"
    # r of the other sign is the opposite
    # Sec. 5.3 by clutter: the first and last groups' differences, no verdict (no test of the change)
    diff = pd.DataFrame({"group": ["1", "2", ">=3"], "n_images": 10, "mAP_A": 0.5, "mAP_B": [0.55, 0.53, 0.51],
                         "delta": [0.05, 0.03, 0.01], "ci95_low": [0.01, 0.0, -0.02],
                         "ci95_high": [0.09, 0.06, 0.04]})
    g = findings({"clutter_difference": diff}, FindingsContext(primary="b", compare=("a", "b")))
    gain = g[g["claim"].str.contains("cluttered scenes")].iloc[0]
    assert gain["this_run"] == "difference +0.05 (group 1) -> +0.01 (group >=3)"
    assert gain["interval"] == "[+0.01, +0.09] -> [-0.02, +0.04]" and gain["verdict"] == "not available"
    flip = summ["quantity"] == "pearson_delta_area"
    opp = findings({"compare_summary": summ.assign(value=np.where(flip, 0.3, summ["value"]),
                                                   p_val=np.where(flip, 0.01, summ["p_val"]))},
                   FindingsContext(primary="b")).set_index("section")
    assert opp.loc["Sec. 5.4", "verdict"] == "opposite"
    assert f["anchor"].str.match(r"^(fig|table)-").all()


def test_interval_verdicts_for_clutter_and_compare():
    trend = pd.DataFrame([
        {"model": "B", "measure": "mAP", "first_group": "1", "last_group": ">=5", "first": 0.5, "last": 0.7,
         "change": 0.2, "ci95_low": 0.1, "ci95_high": 0.3, "verdict": "rises"},
        {"model": "B", "measure": "mAUC", "first_group": "1", "last_group": ">=5", "first": 0.8, "last": 0.8,
         "change": 0.0, "ci95_low": -0.05, "ci95_high": 0.05, "verdict": "no clear change"}])
    summary = pd.DataFrame({"quantity": ["n_categories", "improved", "worsened", "delta_positive",
                                         "delta_negative", "direction_balance", "delta_mAP"],
                            "value": [80, 3, 12, 30, 50, -20, -0.01], "ci95_low": [np.nan] * 6 + [-0.02],
                            "ci95_high": [np.nan] * 6 + [-0.001], "p_val": [np.nan] * 5 + [0.004, 0.03]})
    f = findings({"clutter_trend": trend, "compare_summary": summary},
                 FindingsContext(primary="A", compare=("A", "B"))).set_index("section")
    # mAP rises, the prevalence-free mean ROC AUC does not: the rise is prevalence's, not a replication
    assert f.loc["Fig. 3", "verdict"] == "explained by prevalence"
    assert "prevalence-free mean ROC AUC 0 (no clear change)" in f.loc["Fig. 3", "detail"]
    assert f.loc["Fig. 4", "verdict"] == "opposite" and f.loc["Fig. 4", "this_run"] == "30 of 80 categories with a higher AP"
    assert "-20" in f.loc["Fig. 4", "detail"] and "p = 0.0040" in f.loc["Fig. 4", "detail"]
    assert f.loc["Table 1", "verdict"].iloc[0] == "opposite"  # permutation p 0.03, difference below 0
    # the verdicts follow the permutation p-values, not the counts of flagged categories
    more = summary.assign(value=[80, 12, 3, 50, 30, 20, 0.01], p_val=[np.nan] * 5 + [0.2, 0.4])
    f = findings({"compare_summary": more}, FindingsContext(primary="A", compare=("A", "B"))).set_index("section")
    assert f.loc["Fig. 4", "verdict"] == "same direction, not significant"
    assert f.loc["Table 1", "verdict"].iloc[0] == "same direction, not significant"
    # a summary without the balance test (no permutations): no verdict
    old = summary[summary["quantity"] != "direction_balance"]
    f = findings({"compare_summary": old}, FindingsContext(primary="A", compare=("A", "B"))).set_index("section")
    assert f.loc["Fig. 4", "verdict"] == "not available"


@pytest.mark.parametrize(("auc_verdict", "auc_change", "expected"), [
    ("rises", 0.04, "same direction, significant"),  # ranking quality rises too: the trend survives
    ("no clear change", 0.0, "explained by prevalence"),
    ("falls", -0.04, "explained by prevalence"),  # ranking gets worse while mAP rises: prevalence again
])
def test_fig3_verdict_rests_on_the_prevalence_free_auc(auc_verdict, auc_change, expected):
    from salanalysis.clutter import prevalence_verdict

    base = {"model": "m", "first_group": "1", "last_group": ">=5"}
    trend = pd.DataFrame([
        {**base, "measure": "mAP", "first": 0.5, "last": 0.7, "change": 0.2, "ci95_low": 0.1, "ci95_high": 0.3,
         "verdict": "rises"},
        {**base, "measure": "mAUC", "first": 0.8, "last": 0.8 + auc_change, "change": auc_change,
         "ci95_low": auc_change - 0.02, "ci95_high": auc_change + 0.02, "verdict": auc_verdict},
        # the chance-corrected mAP rises with prevalence at a fixed quality: it does not decide
        {**base, "measure": "mAP_norm", "first": 0.3, "last": 0.5, "change": 0.2, "ci95_low": 0.1,
         "ci95_high": 0.3, "verdict": "rises"}])
    f = findings({"clutter_trend": trend}, FindingsContext(primary="m")).set_index("section")
    assert f.loc["Fig. 3", "verdict"] == expected
    assert "chance-corrected mAP (not prevalence-free) +0.2 (rises)" in f.loc["Fig. 3", "detail"]
    assert prevalence_verdict(trend, "m") == {"rises": "survives", "no clear change": "explained by prevalence",
                                              "falls": "reverses"}[auc_verdict]
    flat = trend.assign(verdict=["no clear change", auc_verdict, "rises"])
    assert prevalence_verdict(flat, "m") == "no trend"


def test_saliency_roles():
    gt, pred = saliency_roles([("salicon", "SALICON ground truth", False), ("predicted", "net", False),
                               ("center", "center-bias control", True), ("tempsal", "TempSAL predictions", False)])
    assert gt == ["salicon"] and pred == ["predicted", "tempsal"]


def test_demo_diagnostics_explain_the_opposite_fig2(demo, demo_ann):
    # the demo's Fig. 2 shows missed objects three times larger than detected ones, the opposite of the
    # paper: detected objects come from images with 18.8 objects, missed ones from images with 10.8
    from salanalysis.metrics import evaluate
    from salanalysis.objects import object_table
    from salanalysis.score_baselines import class_prior_scores
    from salanalysis.scores import read_scores

    det = read_scores(demo.detections, demo_ann, name="det")
    prior = class_prior_scores(demo_ann)
    obj = object_table(demo_ann, scores=[det, prior], jobs=1)
    per_class = pd.concat([evaluate(demo_ann, s)[1].assign(model=s.name) for s in (det, prior)])
    d = diagnostics({"objects": obj, "per_class": per_class}, FindingsContext(primary="det"))
    texts = " ".join(d["text"])
    assert "images with 18.8 objects on average, missed ones from images with 10.8" in texts
    assert "'prior' carries no information" in texts and "'det' carries" not in texts
    assert "79% of the objects share their outcome" in texts
    assert set(d["severity"]) <= {"warning", "note"} and set(d["anchor"]) <= {"table-table1", "fig-fig2_tpfn"}


CUBIC = "prevalence,log_prevalence,log_prevalence^2,log_prevalence^3"


def _corr(r_v: float, p_v: float, r_s: float, p_s: float) -> pd.DataFrame:
    rows = [{"model": "m", "target": "AP", "variable": "center_dist", "method": "pearson", "role": "paper",
             "covariates": "", "n": 60, "r": -0.5, "ci95_low": -0.7, "ci95_high": -0.3, "p_val": 1e-4,
             "p_holm": 3e-4},
            {"model": "m", "target": "AP", "variable": "center_dist", "method": "partial", "role": "verdict",
             "covariates": CUBIC, "n": 60, "r": r_v, "ci95_low": r_v - 0.2,
             "ci95_high": r_v + 0.2, "p_val": p_v / 3, "p_holm": p_v},
            {"model": "m", "target": "AUC", "variable": "center_dist", "method": "partial", "role": "sensitivity",
             "covariates": CUBIC, "n": 60, "r": r_s, "ci95_low": r_s - 0.2,
             "ci95_high": r_s + 0.2, "p_val": p_s / 3, "p_holm": p_s}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("r_v", "p_v", "r_s", "p_s", "verdict", "changes"), [
    (-0.4, 0.001, -0.3, 0.01, "same direction, significant", False),
    (-0.4, 0.001, -0.05, 0.7, "same direction, not significant", True),  # not confirmed by the AUC check
    (-0.1, 0.5, -0.4, 0.001, "same direction, not significant", True),
    (0.4, 0.001, 0.3, 0.01, "opposite", False),
])
def test_classwise_verdict_is_the_partial_r_confirmed_by_the_auc_check(r_v, p_v, r_s, p_s, verdict, changes):
    f = findings({"classwise_correlations": _corr(r_v, p_v, r_s, p_s)}, FindingsContext(primary="m"))
    row = f.set_index("claim").loc["classes of more central objects have higher AP"]
    assert row["verdict"] == verdict
    # one number format: signed, by the policy of formatting.format_number (-0.4, +0.4; never -0.400 beside -0.5)
    assert row["this_run"].startswith(f"partial r = {r_v:+g},") and "Pearson r = -0.5," in row["this_run"]
    assert ("changes the verdict" in row["detail"]) == changes
    assert "controlling prevalence and a cubic in log prevalence" in row["detail"]
    # without prevalence there is no verdict: the paper's raw r is shown, never badged
    no_prev = _corr(r_v, p_v, r_s, p_s)
    no_prev = no_prev[no_prev["role"] == "paper"]
    f = findings({"classwise_correlations": no_prev}, FindingsContext(primary="m"))
    assert f.set_index("claim").loc["classes of more central objects have higher AP", "verdict"] == "not available"
    too_few = _corr(np.nan, np.nan, np.nan, np.nan)
    f = findings({"classwise_correlations": too_few}, FindingsContext(primary="m"))
    row = f.set_index("claim").loc["classes of more central objects have higher AP"]
    assert row["verdict"] == "not available" and "too few classes" in row["detail"]
