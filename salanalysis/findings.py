"""The paper's claims beside this run's values, and diagnostics that explain a surprising result.

:func:`findings` turns the result tables of a run into one row per claim of the paper
(Fig. 2, Sec. 3.2, Fig. 3, Sec. 5.3, Fig. 4, Sec. 5.4, Table 1's mAP, C-F1 and O-F1) with this
run's value, its interval and a verdict computed from the data (numbers by the one policy of
:func:`salanalysis.formatting.format_number`, differences and intervals signed; the
``interval`` column holds intervals only; a claim the run computes but does not test, such as
the change of Sec. 5.3's gain with clutter, is shown with the verdict "not available"); :func:`diagnostics` finds what makes a
result hard to read (a score set without information about the images, detected and
missed objects from differently cluttered images, an outcome shared by many instances,
groups too small to read). Both return tidy tables; nothing here is hand-written per run.

Verdicts
--------
A claim has a direction (the paper's sign). With the run's test of the same
comparison: ``"same direction, significant"`` (p < 0.05 or an interval excluding 0 on
the paper's side), ``"same direction, not significant"``, ``"opposite"`` (significant the
other way), ``"inconclusive"`` (not significant, other sign), ``"explained by
prevalence"`` (Fig. 3: mAP rises significantly but the prevalence-free mean ROC AUC shows
no clear change or falls, :func:`salanalysis.clutter.prevalence_verdict`), ``"not available"`` (the
run lacks the data). Fig. 2's tests are the clustered verdicts (``role = verdict`` of
:func:`~salanalysis.stats.tpfn_tests`: clustered by image and category, Holm-adjusted over
size, center distance and the human saliency sources of the one model), not the paper's
object-level t. Sec. 3.2's are the partial correlations with AP controlling prevalence (every
variable; Holm over the same family), counted as significant only where the sensitivity check
(ROC AUC as the target) agrees; the paper's Pearson r is shown beside them. Fig. 4's "most
categories improve" and Table 1's mAP difference are decided by paired permutation tests (the
two models' scores swapped within images): the balance ``#higher - #lower`` over the categories
and the mean difference; their false-positive rate under a null of two exchangeable models is
in ``benchmarks/calibration.py`` (section [6]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from salanalysis.formatting import format_p

__all__ = ["PAPER_CLAIMS", "FindingsContext", "findings", "diagnostics", "VERDICTS"]

VERDICTS = ("same direction, significant", "same direction, not significant", "opposite", "inconclusive",
            "explained by prevalence", "not available")

#: The paper's claims that a run can check: (key, section, claim, the paper's value, its sign).
PAPER_CLAIMS = (
    ("tpfn_size", "Fig. 2", "detected objects are larger than missed ones", "t = 25.25", +1),
    ("tpfn_center", "Fig. 2", "detected objects are closer to the image center", "t = -21.05", -1),
    ("tpfn_saliency", "Fig. 2", "detected objects are more salient (ground-truth saliency)", "t = 34.88", +1),
    ("cw_size", "Sec. 3.2", "classes of larger objects have higher AP", "r = 0.278", +1),
    ("cw_center", "Sec. 3.2", "classes of more central objects have higher AP", "r = -0.501", -1),
    ("cw_saliency", "Sec. 3.2", "classes of more salient objects have higher AP (ground truth)", "r = 0.365", +1),
    ("cw_predicted", "Sec. 3.2", "classes of more salient objects have higher AP (predicted saliency)",
     "r = 0.328", +1),
    ("clutter_trend", "Fig. 3", "mAP increases with the number of objects in the image",
     "increase (Fig. 3a)", +1),
    ("one_object", "Sec. 5.3", "the assessed model beats the reference on one-object images",
     "mAP 0.7145 -> 0.7304", +1),
    ("categories", "Fig. 4", "most categories improve with the assessed model", "70 of 80 categories", +1),
    ("table1_map", "Table 1", "the assessed model has the higher mAP", "mAP 0.715 -> 0.725", +1),
    ("size_gain", "Sec. 5.4", "categories of smaller objects gain more AP", "the 7 categories gaining most are small",
     -1),
    ("clutter_gain", "Sec. 5.3", "the assessed model's gain is largest on images with few objects, smaller in "
     "cluttered scenes", "gain shrinks with clutter (Fig. 3a)", -1),
    ("table1_cf1", "Table 1", "the assessed model has the higher C-F1", "C-F1 0.579 -> 0.603", +1),
    ("table1_of1", "Table 1", "the assessed model has the higher O-F1", "O-F1 0.632 -> 0.652", +1),
)

_COLUMNS = ["section", "claim", "paper", "this_run", "interval", "verdict", "detail", "anchor"]


@dataclass
class FindingsContext:
    """Who is who: the model of Fig. 2 and Sec. 3.2, the compared pair (A, B), labels,
    and which saliency sources are ground truth, predicted or controls."""

    primary: str
    compare: tuple[str, str] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    ground_truth_sources: Sequence[str] = ()
    predicted_sources: Sequence[str] = ()

    def label(self, name: str) -> str:
        return self.labels.get(name, name)


def saliency_roles(sources: Sequence[tuple[str, str, bool]]) -> tuple[list[str], list[str]]:
    """``(ground_truth, predicted)`` source names from ``(name, label, is_builtin)``.

    Built-in sources are controls; a source whose name or label mentions "pred" holds
    predicted maps; every other source is taken as ground truth.
    """
    gt, pred = [], []
    for name, label, builtin in sources:
        if builtin:
            continue
        (pred if "pred" in f"{name} {label}".lower() else gt).append(name)
    return gt, pred


def _verdict(value: float, p: float, sign: int, alpha: float = 0.05) -> str:
    if value is None or not np.isfinite(value) or p is None or not np.isfinite(p):
        return "not available"
    same = np.sign(value) == sign
    if p < alpha:
        return "same direction, significant" if same else "opposite"
    return "same direction, not significant" if same else "inconclusive"


def _interval_verdict(value: float, lo: float, hi: float, sign: int) -> str:
    if not all(np.isfinite([value, lo, hi])):
        return "not available" if not np.isfinite(value) else ("same direction, not significant"
                                                               if np.sign(value) == sign else "inconclusive")
    significant = lo > 0 or hi < 0
    return _verdict(value, 0.0 if significant else 1.0, sign)


def _row(key: str, this_run: str = "", interval: str = "", verdict: str = "not available", detail: str = "",
         anchor: str = "", claim: str | None = None) -> dict:
    _, section, text, paper, _ = next(c for c in PAPER_CLAIMS if c[0] == key)
    return {"section": section, "claim": claim or text, "paper": paper, "this_run": this_run, "interval": interval,
            "verdict": verdict, "detail": detail, "anchor": anchor}


def _num(x: float, signed: bool = True) -> str:
    """A number of the findings by the one policy of :func:`salanalysis.formatting.format_number`,
    with its sign (``+``/``-``) where ``signed``: differences, correlations and their intervals."""
    from salanalysis.formatting import format_number

    text = format_number(x)
    return f"+{text}" if signed and text and not text.startswith("-") and float(x) > 0 else text


def _ci(lo: float, hi: float) -> str:
    """An interval as the findings' interval column holds it: ``[-0.0827, -0.0278]``, signs always."""
    return f"[{_num(lo)}, {_num(hi)}]"


def _sign(key: str) -> int:
    return next(c[4] for c in PAPER_CLAIMS if c[0] == key)


def _tpfn_rows(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    tests = tables.get("tpfn_tests")
    rows = []
    variables = [("tpfn_size", "area_frac", None), ("tpfn_center", "center_dist", None)]
    variables += [("tpfn_saliency", f"sal_max_{s}", s) for s in ctx.ground_truth_sources]
    for key, var, source in variables:
        claim = None if source is None else (
            f"detected objects are more salient ({ctx.label(source)})")
        if tests is None:
            rows.append(_row(key, claim=claim, anchor="fig-fig2_tpfn"))
            continue
        t = tests[(tests["model"] == ctx.primary) & (tests["variable"] == var)]
        if "unit" in t.columns:
            t = t[t["unit"] == "object"]
        v = t[t["role"] == "verdict"] if "role" in t.columns else t[t["test"] == "cluster_ols"]
        s = t[t["test"] == "student_t"]
        if v.empty or not np.isfinite(v["statistic"].iloc[0]):
            rows.append(_row(key, claim=claim, detail="too few objects or images for the clustered test",
                             anchor="fig-fig2_tpfn"))
            continue
        r = v.iloc[0]
        name = _TPFN_VERDICT_NAMES.get(r["test"], r["test"])
        paper_t = f"; the paper's object-level t here: {s['statistic'].iloc[0]:.2f}" if len(s) else ""
        sens = t[t["role"] == "sensitivity"] if "role" in t.columns else t.iloc[:0]
        if len(sens) and np.isfinite(sens["p_holm"].iloc[0]):
            q = sens.iloc[0]
            agree = _verdict(q["statistic"], q["p_holm"], _sign(key)) == _verdict(r["statistic"], r["p_holm"],
                                                                                  _sign(key))
            paper_t += (f"; within-category check t = {q['statistic']:.2f}, {format_p(q['p_holm'], spaced=True)} "
                        f"(Holm){'' if agree else ': it changes the verdict'}")
        cats = f", {int(r['n_categories'])} categories" if np.isfinite(r.get("n_categories", np.nan)) else ""
        rows.append(_row(
            key, claim=claim, this_run=f"{name} t = {r['statistic']:.2f}, {format_p(r['p_holm'], spaced=True)} (Holm); "
                                       f"difference {_num(r['effect'])}",
            interval=_ci(r["effect_ci95_low"], r["effect_ci95_high"]),
            verdict=_verdict(r["statistic"], r["p_holm"], _sign(key)),
            detail=f"'{ctx.label(ctx.primary)}': {int(r['n_detected'])} detected / {int(r['n_missed'])} missed objects "
                   f"in {int(r['n_images'])} images{cats}; Holm over size, center distance and the human saliency "
                   f"sources of this model; interval: the difference's unadjusted 95% interval{paper_t}"
                   + _fig2_context(tables, ctx, var, r),
            anchor="fig-fig2_tpfn"))
        if var in ("area_frac", "center_dist"):
            rows[-1]["see"] = "fig-fig2_clutter;table-detection_models;table-tpfn_tests"
    return rows


def _fig2_context(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext, var: str, verdict_row: pd.Series) -> str:
    """Fig. 2's size and distance rows in words a reader follows: the clutter of the images detected and
    missed objects come from, and the same test over objects alone of their class in their image."""
    if var not in ("area_frac", "center_dist"):
        return ""
    out = ""
    objects = tables.get("objects")
    col = f"detected_{ctx.primary}"
    if objects is not None and col in objects.columns and "n_objects" in objects.columns and len(objects):
        det = objects[col].astype(bool)
        m1, m0 = objects.loc[det, "n_objects"].mean(), objects.loc[~det, "n_objects"].mean()
        if np.isfinite(m1) and np.isfinite(m0):
            out += (f". Clutter: detected objects come from images with {m1:.1f} objects on average, missed ones from "
                    f"images with {m0:.1f}; the detection rate by size within clutter groups is beside Fig. 2")
    tests = tables.get("tpfn_tests")
    if tests is not None and "unit" in tests.columns and "role" in tests.columns:
        t = tests[(tests["model"] == ctx.primary) & (tests["variable"] == var) & (tests["unit"] == "single_instance")
                  & (tests["role"] == "verdict")]
        if len(t) and np.isfinite(t["p_holm"].iloc[0]):
            q = t.iloc[0]
            gone = bool(verdict_row["p_holm"] < 0.05) and q["p_holm"] >= 0.05  # significant over all objects only
            out += (f". Objects alone of their class in their image: difference {_num(q['effect'])}, "
                    f"{format_p(q['p_holm'], spaced=True)} (Holm)"
                    + (": the effect largely goes away" if gone else "")
                    + "; the logistic models that hold size and position together are in the detection models table")
    return out + "." if out else ""


def _more_rows(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    """Sec. 5.4 (smaller categories gain more: Pearson r of the AP gain with the category's mean size)
    and Table 1's C-F1 and O-F1 (B against A)."""
    rows = []
    summ = tables.get("compare_summary")
    r = summ[summ["quantity"] == "pearson_delta_area"] if summ is not None and "quantity" in summ.columns else None
    if r is None or r.empty or not np.isfinite(r["value"].iloc[0]):
        rows.append(_row("size_gain", anchor="fig-fig4_category_delta"))
    else:
        q = r.iloc[0]
        rows.append(_row("size_gain", this_run=f"Pearson r = {_num(q['value'])}, {format_p(q['p_val'], spaced=True)}",
                         interval=_ci(q["ci95_low"], q["ci95_high"]),
                         verdict=_verdict(q["value"], q["p_val"], _sign("size_gain")),
                         detail=f"AP gain (B - A) of {int(q['n'])} categories against their mean object size "
                                "(fraction of the image); negative: smaller categories gain more",
                         anchor="fig-fig4_category_delta"))
    diff = tables.get("clutter_difference")
    if diff is None or ctx.compare is None or len(diff) < 2 or "delta" not in diff.columns:
        rows.append(_row("clutter_gain", anchor="table-clutter_difference"))
    else:
        d0, d1 = diff.iloc[0], diff.iloc[-1]
        rows.append(_row("clutter_gain", this_run=f"difference {_num(d0['delta'])} (group {d0['group']}) -> "
                                                  f"{_num(d1['delta'])} (group {d1['group']})",
                         interval=f"{_ci(d0['ci95_low'], d0['ci95_high'])} -> {_ci(d1['ci95_low'], d1['ci95_high'])}",
                         detail="mAP difference (B - A) of the first and the last group of images by number of "
                                "objects, each with its paired bootstrap 95% interval; no test of the change of the "
                                "gain across groups is run, so no verdict",
                         anchor="table-clutter_difference"))
    t1 = tables.get("table1")
    for key, metric in (("table1_cf1", "CF1"), ("table1_of1", "OF1")):
        name = metric[0] + "-" + metric[1:]
        if ctx.compare is None or t1 is None or metric not in t1.columns or \
                not set(ctx.compare) <= set(t1["model"].astype(str)):
            rows.append(_row(key, anchor="table-table1"))
            continue
        a, b = (t1[t1["model"].astype(str) == m].iloc[0] for m in ctx.compare)
        lo, hi = f"{metric}_low", f"{metric}_high"
        has_ci = lo in t1.columns and all(np.isfinite([a[lo], a[hi], b[lo], b[hi]]))
        apart = has_ci and (b[lo] > a[hi] or b[hi] < a[lo])
        diff = b[metric] - a[metric]
        rows.append(_row(
            key, claim=f"'{ctx.label(ctx.compare[1])}' has a higher {name} than '{ctx.label(ctx.compare[0])}'",
            this_run=f"{name} {_num(a[metric], False)} -> {_num(b[metric], False)}; difference {_num(diff)}",
            interval=(f"[{_num(a[lo], False)}, {_num(a[hi], False)}] -> [{_num(b[lo], False)}, {_num(b[hi], False)}]"
                      if has_ci else ""),
            verdict=_verdict(diff, 0.0 if apart else 1.0, _sign(key)) if np.isfinite(diff) else "not available",
            detail="interval: each model's 95% interval; significant only where they do not overlap (a "
                   "conservative reading: no paired interval of F1 is computed)",
            anchor="table-table1"))
    return rows


#: How the findings name each verdict test of Fig. 2.
_TPFN_VERDICT_NAMES = {"cluster2_ols": "image- and category-clustered", "within_category": "within-category",
                       "cluster_ols": "image-clustered"}


def _classwise_rows(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    rows = _classwise_rows_of(tables, ctx)
    if not ctx.predicted_sources:  # said, not left out
        rows.append(_row("cw_predicted", detail="no predicted saliency source in this run (a source whose name or "
                                                "label mentions 'pred')", anchor="fig-fig_classwise"))
    return rows


def _classwise_rows_of(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    corr = tables.get("classwise_correlations")
    rows = []
    variables = [("cw_size", "area_frac", None), ("cw_center", "center_dist", None)]
    variables += [("cw_saliency", f"sal_max_{s}", s) for s in ctx.ground_truth_sources]
    variables += [("cw_predicted", f"sal_max_{s}", s) for s in ctx.predicted_sources]
    for key, var, source in variables:
        claim = None
        if source is not None:
            kind = "predicted saliency" if key == "cw_predicted" else "ground truth"
            label = ctx.label(source)
            claim = ("classes of more salient objects have higher AP ("
                     + (label if kind.split()[0] in label.lower() else f"{label}, {kind}") + ")")
        if corr is None:
            rows.append(_row(key, claim=claim, anchor="fig-fig_classwise"))
            continue
        c = corr[(corr["variable"] == var) & (corr["method"] == "pearson")]
        if "model" in c.columns:
            c = c[c["model"] == ctx.primary]
        if "target" in c.columns:
            c = c[c["target"] == "AP"]
        if c.empty or not np.isfinite(c["r"].iloc[0]):
            rows.append(_row(key, claim=claim, detail="too few classes with a value", anchor="fig-fig_classwise"))
            continue
        r = c.iloc[0]
        paper = f"Pearson r = {_num(r['r'])}, {format_p(r['p_val'], spaced=True)} (the paper's test, not the verdict)"
        v = _cw_role(corr, ctx.primary, var, "verdict")
        if v is None:
            why = ("too few classes for the prevalence-controlled verdict" if _cw_role(corr, ctx.primary, var, "verdict",
                                                                                      finite=False) is not None
                   else "no class prevalence, so no prevalence-controlled verdict")
            rows.append(_row(key, claim=claim, this_run=paper, interval=_ci(r["ci95_low"], r["ci95_high"]),
                             verdict="not available",
                             detail=f"{int(r['n'])} classes, '{ctx.label(ctx.primary)}': {why} (raw r is not one: "
                                    "its false-positive rate under a prevalence null is 1.0)",
                             anchor="fig-fig_classwise"))
            continue
        verdict = _verdict(v["r"], v["p_holm"], _sign(key))
        sens = _cw_role(corr, ctx.primary, var, "sensitivity")
        check = ""
        if sens is not None and np.isfinite(sens["p_holm"]):
            s_verdict = _verdict(sens["r"], sens["p_holm"], _sign(key))
            check = (f"; sensitivity (ROC AUC as target): partial r = {_num(sens['r'])}, "
                     f"{format_p(sens['p_holm'], spaced=True)} (Holm)")
            if s_verdict != verdict:
                check += " - it changes the verdict"
                if verdict == "same direction, significant":
                    verdict = "same direction, not significant"
                    check += " (significant on AP only: not confirmed, so not counted as significant)"
        rows.append(_row(key, claim=claim,
                         this_run=f"partial r = {_num(v['r'])}, {format_p(v['p_holm'], spaced=True)} (Holm); {paper}",
                         interval=_ci(v["ci95_low"], v["ci95_high"]),
                         verdict=verdict,
                         detail=f"{int(v['n'])} classes, '{ctx.label(ctx.primary)}'; partial r controlling "
                                f"{_covariates_text(v['covariates'])}; Holm over size, center distance and the "
                                f"human saliency sources; interval: the partial r's unadjusted 95% interval{check}",
                         anchor="fig-fig_classwise"))
    return rows


def _covariates_text(covariates: str) -> str:
    """``prevalence,log_prevalence,log_prevalence^2,log_prevalence^3`` read as words."""
    cubic = "prevalence,log_prevalence,log_prevalence^2,log_prevalence^3"
    return "prevalence and a cubic in log prevalence" if covariates == cubic else covariates.replace(",", ", ")


def _cw_role(corr: pd.DataFrame, model: str, variable: str, role: str, finite: bool = True) -> pd.Series | None:
    """The class-wise row of a role (verdict, sensitivity) for a model and variable (if ``finite``: with a finite r)."""
    if "role" not in corr.columns:
        return None
    c = corr[(corr["variable"] == variable) & (corr["role"] == role)]
    if "model" in c.columns:
        c = c[c["model"] == model]
    if c.empty or (finite and not np.isfinite(c["r"].iloc[0])):
        return None
    return c.iloc[0]


def _clutter_rows(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    rows = []
    trend = tables.get("clutter_trend")
    model = ctx.compare[1] if ctx.compare else ctx.primary
    t = None if trend is None else trend[(trend["model"] == model)].set_index("measure")
    if t is None or "mAP" not in t.index:
        rows.append(_row("clutter_trend", anchor="fig-fig3_clutter"))
    else:
        from salanalysis.clutter.core import prevalence_verdict

        m = t.loc["mAP"]
        survive = [f"{label} {_num(t.loc[k, 'change'])} ({t.loc[k, 'verdict']})"
                   for k, label in (("mAUC", "prevalence-free mean ROC AUC"),
                                    ("mAP_norm", "chance-corrected mAP (not prevalence-free)")) if k in t.index]
        chance = f"; chance mAP {_num(t.loc['chance_mAP', 'change'])}" if "chance_mAP" in t.index else ""
        verdict = _interval_verdict(m["change"], m["ci95_low"], m["ci95_high"], +1)
        if verdict == "same direction, significant" and prevalence_verdict(trend, model) in (
                "explained by prevalence", "reverses"):
            verdict = "explained by prevalence"  # the rise is AP's chance level moving, not ranking quality
        rows.append(_row("clutter_trend", this_run=f"mAP {_num(m['first'], False)} (group {m['first_group']}) -> "
                                                   f"{_num(m['last'], False)} (group {m['last_group']}); change "
                                                   f"{_num(m['change'])}",
                         interval=_ci(m["ci95_low"], m["ci95_high"]),
                         verdict=verdict,
                         detail=f"'{ctx.label(model)}'{chance}; " + ", ".join(survive),
                         anchor="fig-fig3_clutter"))
    diff = tables.get("clutter_difference")
    if diff is None or ctx.compare is None or diff.empty:
        rows.append(_row("one_object", anchor="table-clutter_difference"))
    else:
        d = diff.iloc[0]
        a, b = ctx.compare
        rows.append(_row("one_object", claim=f"'{ctx.label(b)}' beats '{ctx.label(a)}' on images with "
                                             f"{'one object' if d['group'] == '1' else 'the fewest objects'}",
                         this_run=f"mAP {_num(d['mAP_A'], False)} -> {_num(d['mAP_B'], False)} (group {d['group']}); "
                                  f"difference {_num(d['delta'])}",
                         interval=_ci(d["ci95_low"], d["ci95_high"]),
                         verdict=_interval_verdict(d["delta"], d["ci95_low"], d["ci95_high"], +1),
                         detail=f"{int(d['n_images'])} images; paired bootstrap", anchor="table-clutter_difference"))
    return rows


def _compare_rows(tables: Mapping[str, pd.DataFrame], ctx: FindingsContext) -> list[dict]:
    rows = []
    summ = tables.get("compare_summary")
    if summ is None or ctx.compare is None:
        return [_row("categories", anchor="fig-fig4_category_delta"), _row("table1_map", anchor="table-table1")]
    s = summ.set_index("quantity")
    a, b = ctx.compare
    n = int(s.loc["n_categories", "value"])
    pos, up, down = (int(s.loc[q, "value"]) for q in ("delta_positive", "improved", "worsened"))
    neg = int(s.loc["delta_negative", "value"]) if "delta_negative" in s.index else n - pos
    # The claim's own test: the balance #higher - #lower against its permutation distribution
    # (whole images swapped between the models, so the categories' dependence is kept); the
    # per-category flags (multiplicity-adjusted) are shown, not counted into the verdict.
    bal = s.loc["direction_balance"] if "direction_balance" in s.index else None
    p_bal = float(bal["p_val"]) if bal is not None and "p_val" in s.columns else np.nan
    verdict = _verdict(pos - neg, p_bal, _sign("categories")) if bal is not None else "not available"
    rows.append(_row("categories", claim=f"most categories improve from '{ctx.label(a)}' to '{ctx.label(b)}'",
                     this_run=f"{pos} of {n} categories with a higher AP",
                     verdict=verdict,
                     detail=(f"{pos} higher - {neg} lower = {pos - neg:+d}, paired permutation test "
                             f"(swaps within images), {format_p(p_bal, spaced=True)}" if bal is not None else
                             "no permutation test of the balance in this run")
                            + f"; {up} improved, {down} worsened (adjusted per-category tests)",
                     anchor="fig-fig4_category_delta"))
    if "delta_mAP" in s.index:
        r = s.loc["delta_mAP"]
        p_map = float(r["p_val"]) if "p_val" in s.columns else np.nan
        t1 = tables.get("table1")
        maps = ""
        if t1 is not None:
            by = t1.set_index("model")["mAP"]
            if a in by.index and b in by.index:
                maps = f"mAP {_num(by[a], False)} -> {_num(by[b], False)}; "
        rows.append(_row("table1_map", claim=f"'{ctx.label(b)}' has a higher mAP than '{ctx.label(a)}'",
                         this_run=f"{maps}difference {_num(r['value'])}",
                         interval=_ci(r["ci95_low"], r["ci95_high"]),
                         verdict=_verdict(r["value"], p_map, +1),
                         detail=f"paired permutation test of the mAP difference (swaps within images), "
                                f"{format_p(p_map, spaced=True)}; interval: bootstrap 95% of the difference, "
                                "descriptive", anchor="table-table1"))
    else:
        rows.append(_row("table1_map", anchor="table-table1"))
    return rows


def findings(tables: Mapping[str, pd.DataFrame], context: FindingsContext) -> pd.DataFrame:
    """One row per claim of the paper: section, claim, paper, this_run, interval, verdict, detail, anchor.

    ``tables``: the run's result tables by name (``tpfn_tests``, ``classwise_correlations``,
    ``clutter_trend``, ``clutter_difference``, ``compare_summary``, ``table1``); a claim
    whose table is missing gets the verdict ``"not available"``. ``anchor`` is the id of the
    figure (``fig-NAME``) or table (``table-NAME``) in the report; ``see``: further ids the row
    refers to (``;``-separated, '' for none; e.g. Fig. 2's size row: the breakdown by clutter,
    the detection models, the tests table).
    """
    rows = (_tpfn_rows(tables, context) + _classwise_rows(tables, context) + _clutter_rows(tables, context)
            + _compare_rows(tables, context) + _more_rows(tables, context))
    order = ("Fig. 2", "Sec. 3.2", "Fig. 3", "Sec. 5.3", "Fig. 4", "Sec. 5.4", "Table 1")  # the paper's order
    rows = sorted(rows, key=lambda r: order.index(r["section"]) if r["section"] in order else len(order))
    out = pd.DataFrame(rows, columns=[*_COLUMNS, "see"])
    out["see"] = [v if isinstance(v, str) else "" for v in out["see"]]
    return out


# ---------------------------------------------------------------- diagnostics
def _diag(anchor: str, severity: str, text: str) -> dict:
    return {"anchor": anchor, "severity": severity, "text": text}


def diagnostics(tables: Mapping[str, pd.DataFrame], context: FindingsContext, *,
                small_group: int = 20) -> pd.DataFrame:
    """What makes a result hard to read: ``anchor``, ``severity`` (warning | note), ``text``.

    - a score set without information about the images: mean per-class ROC AUC within
      0.05 of 0.5 (its AP then sits at the classes' prevalence);
    - detected and missed objects from differently cluttered images (objects per image,
      image-clustered test): object size and center distance change with clutter, so the
      tp/fn difference may be clutter's;
    - an image-level score that rises with the number of instances of the class in the
      image (Spearman, over the positive image-class pairs): crowded classes are detected
      more often, and their objects are small;
    - groups too small to read: fewer than ``small_group`` detected or missed objects in
      a panel of Fig. 2, the clutter cut-off's warning, categories of Fig. 4 with fewer
      than 5 positive images.
    """
    from scipy import stats as sps

    out = []
    per_class = tables.get("per_class")
    if per_class is not None and "AUC" in per_class.columns:
        for model, g in per_class.groupby("model", sort=False):
            auc = g["AUC"].dropna()
            if len(auc) and abs(auc.mean() - 0.5) <= 0.05:
                constant = bool(np.allclose(auc, 0.5))
                out.append(_diag("table-table1", "warning",
                                 f"'{context.label(model)}' carries {'no' if constant else 'almost no'} information "
                                 f"about which images hold a class: mean per-class ROC AUC {auc.mean():.3f} "
                                 f"({'the same score for every image of a class' if constant else 'near chance'}), so "
                                 f"its AP sits at the classes' prevalence (mean AP {g['AP'].mean():.3f}, mean "
                                 f"prevalence {g['prevalence'].mean():.3f})."))
    objects = tables.get("objects")
    col = f"detected_{context.primary}"
    if objects is not None and col in objects.columns and "n_objects" in objects.columns:
        from salanalysis.stats import tpfn_tests

        t = tpfn_tests(objects, context.primary, ["n_objects"], units=["object"], n_boot=0)
        r = t[t["test"] == "cluster_ols"]
        det = objects[col].astype(bool)
        m1, m0 = objects.loc[det, "n_objects"].mean(), objects.loc[~det, "n_objects"].mean()
        if len(r) and np.isfinite(r["p_val"].iloc[0]) and r["p_val"].iloc[0] < 0.05:
            out.append(_diag("fig-fig2_tpfn", "warning",
                             f"Detected objects of '{context.label(context.primary)}' come from images with "
                             f"{m1:.1f} objects on average, missed ones from images with {m0:.1f} (clustered t = "
                             f"{r['statistic'].iloc[0]:.2f}, {format_p(r['p_val'].iloc[0], spaced=True)}). Objects of "
                             "cluttered images are smaller and spread over the image, so the size and distance "
                             "differences of Fig. 2 may be clutter's, not the objects' (the detection models control "
                             "size and position together)."))
        score = f"score_{context.primary}"
        if score in objects.columns and {"image_id", "category_id"} <= set(objects.columns):
            k = objects.groupby(["image_id", "category_id"], sort=False)["image_id"].transform("size")
            pairs = objects.assign(_k=k).drop_duplicates(["image_id", "category_id"])
            if pairs["_k"].nunique() > 1 and len(pairs) >= 20:
                rho, p = sps.spearmanr(pairs["_k"], pairs[score])
                share = float((k > 1).mean())
                if np.isfinite(rho) and p < 0.05 and rho > 0.1:
                    out.append(_diag("fig-fig2_tpfn", "note",
                                     f"The image-level score of '{context.label(context.primary)}' rises with the "
                                     f"number of instances of the class in the image (Spearman rho = {rho:.2f}, "
                                     f"{format_p(p, spaced=True)}, over {len(pairs)} positive image-class pairs), and "
                                     f"{100 * share:.0f}% of the objects share their outcome with another instance: "
                                     "see the single-instance and image-class rows of the tp/fn tests."))
    desc = tables.get("tpfn_descriptives")
    if desc is not None:
        d = desc[(desc["model"] == context.primary)]
        if "unit" in d.columns:
            d = d[d["unit"] == "object"]
        small = sorted({v for v, n in zip(d["variable"], d["n"]) if n < small_group})
        if small:
            out.append(_diag("fig-fig2_tpfn", "note",
                             f"Fewer than {small_group} detected or missed objects in: {', '.join(small)} "
                             "(e.g. few images with a saliency map): read those panels as anecdotes."))
    cm = tables.get("clutter_map")
    if cm is not None and cm.attrs.get("warning"):
        out.append(_diag("fig-fig3_clutter", "warning", f"{cm.attrs['warning']}."))
    cmp = tables.get("compare_categories")
    if cmp is not None and "n_pos" in cmp.columns:
        few = int((cmp["n_pos"] < 5).sum())
        if few:
            out.append(_diag("fig-fig4_category_delta", "note",
                             f"{few} of {len(cmp)} categories have fewer than 5 positive images: their AP "
                             "differences and intervals say little."))
    return pd.DataFrame(out, columns=["anchor", "severity", "text"])
