"""Calibration of the Fig. 2 and Sec. 3.2 verdicts (dependence, multiplicity, prevalence); called by calibration.py.

1. ``tpfn_dependence``: detected vs missed under the null (the variable does not depend on
   detection) with no random effects, image random effects, and image plus class random
   effects (objects of one class share a random shift in the variable and in the detection
   outcome, independently: a data set's few classes make the two correlated by chance). The
   false-positive rate of every test at alpha 0.05, and of the ``role = verdict`` row.
2. ``classwise_nulls``: class AP against class means under prevalence nulls: every variable
   (size, center distance, saliency) follows the class's log prevalence, none affects the
   classifier. Three scorers: random (AP = chance), fixed quality (d' = 1.5 for every class)
   and quality rising with prevalence (d' from 0.5 to 2.5 with log prevalence: the confound
   the partial correlation cannot remove). Per variable: the paper's Pearson r, the verdict
   (partial r controlling prevalence and a cubic in log prevalence, Holm over the three variables), the
   sensitivity check (the same with ROC AUC), and the verdict confirmed by the check; and
   per data set: any verdict in the family significant (family-wise error).

Every rate comes with its 95% Clopper-Pearson interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from salanalysis.metrics import per_class_metrics
from salanalysis.stats import classwise_correlations, tpfn_tests
from salanalysis.stats.classwise import verdict_changes

__all__ = ["tpfn_dependence", "classwise_nulls", "clopper_pearson", "class_objects", "class_table"]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval of k successes in n trials."""
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(sps.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _rate_row(k: int, n: int, **keys) -> dict:
    lo, hi = clopper_pearson(k, n)
    return {**keys, "false_positive_rate": k / n, "ci95_low": lo, "ci95_high": hi, "reps": n}


def class_objects(rng: np.random.Generator, n_images: int = 300, n_classes: int = 40, tau_image: float = 1.0,
                  tau_class: float = 1.0) -> pd.DataFrame:
    """Null objects (1..7 per image, a random class each): the variable is independent of detection.

    Image effects (SD ``tau_image`` in the variable, 2 ``tau_image`` in the outcome's latent)
    and class effects (``tau_class`` and 2 ``tau_class``), all independent.
    """
    per = rng.integers(1, 8, n_images)
    image = np.repeat(np.arange(n_images), per)
    cat = rng.integers(0, n_classes, len(image))
    a = rng.normal(0, tau_image, n_images)[image] + rng.normal(0, tau_class, n_classes)[cat]
    b = rng.normal(0, 2 * tau_image, n_images)[image] + rng.normal(0, 2 * tau_class, n_classes)[cat]
    x = a + rng.normal(0, 1, len(image))
    detected = (b + rng.normal(0, 1, len(image))) > 0
    return pd.DataFrame({"image_id": image, "category_id": cat, "area_frac": x, "detected_m": detected})


TPFN_SCENARIOS = {
    "no random effects": dict(tau_image=0.0, tau_class=0.0),
    "image random effects": dict(tau_image=1.0, tau_class=0.0),
    "image + class random effects (40 classes)": dict(tau_image=1.0, tau_class=1.0),
    "image + class random effects (12 classes)": dict(tau_image=1.0, tau_class=1.0, n_classes=12),
    "image + class random effects (6 classes: within-category verdict)": dict(tau_image=1.0, tau_class=1.0,
                                                                              n_classes=6),
}


def tpfn_dependence(reps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for label, kw in TPFN_SCENARIOS.items():
        hits: dict[str, int] = {}
        counted: dict[str, int] = {}
        for _ in range(reps):
            t = tpfn_tests(class_objects(rng, **kw), "m", ["area_frac"], units=["object"], n_boot=0)
            v = t[t["role"] == "verdict"].iloc[0]
            t = pd.concat([t, v.to_frame().T.assign(test=f"verdict ({v['test']})")])
            for test, p in zip(t["test"], t["p_val"].astype(float)):
                if test.startswith("verdict"):
                    test = "verdict"
                if np.isfinite(p):
                    hits[test] = hits.get(test, 0) + int(p < 0.05)
                    counted[test] = counted.get(test, 0) + 1
        for test, k in hits.items():
            rows.append(_rate_row(k, counted[test], data=label, test=test))
    return pd.DataFrame(rows)


def class_table(rng: np.random.Generator, scorer: str, n_classes: int = 60, n_images: int = 400) -> pd.DataFrame:
    """A class-wise table under a prevalence null: every variable follows log prevalence only."""
    logp = rng.uniform(np.log(0.01), np.log(0.4), n_classes)
    z = (logp - logp.mean()) / logp.std()
    y = rng.random((n_images, n_classes)) < np.exp(logp)
    if scorer == "random":
        s = rng.random((n_images, n_classes))
    else:
        d = np.full(n_classes, 1.5) if scorer == "fixed quality" else 1.5 + 1.0 * (logp - np.log(0.063)) / 1.9
        s = y * d + rng.normal(0, 1, (n_images, n_classes))
    pc = per_class_metrics(y, s)
    prev = pc["prevalence"].to_numpy()
    return pd.DataFrame({
        "category_id": np.arange(n_classes),
        "area_frac": np.exp(-4 + 0.5 * z + rng.normal(0, 0.5, n_classes)),
        "center_dist": 0.35 - 0.08 * z + rng.normal(0, 0.05, n_classes),
        "sal_max_gt": 0.6 + 0.1 * z + rng.normal(0, 0.08, n_classes),
        "AP": pc["AP"], "AUC": pc["AUC"], "prevalence": prev,
        "log_prevalence": np.log(np.where(prev > 0, prev, np.nan)),
    })


SCORERS = ("random", "fixed quality", "quality rising with prevalence")
_VARIABLES = ("area_frac", "center_dist", "sal_max_gt")


def classwise_nulls(reps: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for scorer in SCORERS:
        hits: dict[tuple[str, str], int] = {}
        for _ in range(reps):
            corr = classwise_correlations(class_table(rng, scorer), variables=list(_VARIABLES),
                                          partial_variables=[])
            ch = verdict_changes(corr).set_index("variable")
            paper = corr[corr["role"] == "paper"].set_index("variable")["p_val"]
            verdict = corr[corr["role"] == "verdict"].set_index("variable")["p_holm"]
            sens = corr[corr["role"] == "sensitivity"].set_index("variable")["p_holm"]
            for var in _VARIABLES:
                for stat, flag in (("paper: Pearson r(AP, x)", paper[var] < 0.05),
                                   ("verdict: partial r(AP, x | prevalence, cubic in log prevalence), Holm",
                                    verdict[var] < 0.05),
                                   ("sensitivity: partial r(AUC, x | same), Holm",
                                    sens[var] < 0.05),
                                   ("verdict confirmed by the sensitivity check", bool(ch.loc[var, "holds"]))):
                    hits[(stat, var)] = hits.get((stat, var), 0) + int(flag)
            for stat, flag in (("verdict, any of the 3 variables (family-wise)", (verdict < 0.05).any()),
                               ("confirmed verdict, any of the 3 variables", bool(ch["holds"].any()))):
                hits[(stat, "family")] = hits.get((stat, "family"), 0) + int(flag)
        for (stat, var), k in hits.items():
            rows.append(_rate_row(k, reps, scorer=scorer, statistic=stat, variable=var))
    return pd.DataFrame(rows)
