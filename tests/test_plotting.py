"""Plot functions: each returns its Axes with the expected artists, from tables in the contract shapes."""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from scipy import stats

from salanalysis import plotting
from salanalysis.plotting import OUTCOME_COLORS, model_colors


def _hex(color) -> str:
    return mpl.colors.to_hex(color).lower()


def _bars(ax) -> list:
    return [p for c in ax.containers if isinstance(c, BarContainer) for p in c.patches]


def _errorbars(ax) -> list[ErrorbarContainer]:
    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


@pytest.fixture
def descriptives() -> pd.DataFrame:
    # stats.tpfn_descriptives shape: model, variable, group, n, mean, sd, sem, ci95_low, ci95_high
    rows = []
    for model, shift in (("base", 0.0), ("dual", 0.01)):
        for group, mean, n in (("detected", 0.12 + shift, 400), ("missed", 0.03 + shift, 150)):
            sd = 0.05
            rows.append({"model": model, "variable": "area_frac", "group": group, "n": n,
                         "mean": mean, "sd": sd, "sem": sd / np.sqrt(n),
                         "ci95_low": mean - 0.01, "ci95_high": mean + 0.01})
    return pd.DataFrame(rows)


def test_tpfn_means_bars_sem_and_n(descriptives):
    fig, ax = plt.subplots()
    tests = pd.DataFrame({"model": ["base"], "variable": ["area_frac"], "test": ["student_t"],
                          "statistic": [25.2469], "p_val": [1e-9]})
    out = plotting.plot_tpfn_means(descriptives, "area_frac", models=["base"], tests=tests, ax=ax)
    assert out is ax
    bars = _bars(ax)
    assert len(bars) == 2
    assert [b.get_height() for b in bars] == pytest.approx([0.12, 0.03])
    assert _hex(bars[0].get_facecolor()) == OUTCOME_COLORS["detected"].lower()
    assert _hex(bars[1].get_facecolor()) == OUTCOME_COLORS["missed"].lower()
    # one error bar per bar, half-length = SEM (0.05 / sqrt(n))
    eb = _errorbars(ax)
    assert len(eb) == 2
    seg = eb[0].lines[2][0].get_segments()[0]
    assert seg[1][1] - seg[0][1] == pytest.approx(2 * 0.05 / np.sqrt(400))
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["tp\nn=400", "fn\nn=150"]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "t = 25.25" in texts and "p < 1e-4" in texts
    assert "size" in ax.get_ylabel()


def test_tpfn_means_two_models_and_unknown_variable(descriptives):
    ax = plotting.plot_tpfn_means(descriptives, "area_frac", labels={"dual": "dual-stream"})
    assert len(_bars(ax)) == 4
    assert any("dual-stream" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="center_dist"):
        plotting.plot_tpfn_means(descriptives, "center_dist")


def test_tpfn_distribution(rng):
    n = 300
    objects = pd.DataFrame({"area_frac": rng.uniform(0.001, 0.5, n),
                            "sal_max_salicon": np.where(rng.random(n) < 0.3, np.nan, rng.random(n)),
                            "detected_m": rng.random(n) < 0.6})
    ax = plotting.plot_tpfn_distribution(objects, "sal_max_salicon", "m")
    n_tp = int((objects["detected_m"] & objects["sal_max_salicon"].notna()).sum())
    n_fn = int((~objects["detected_m"] & objects["sal_max_salicon"].notna()).sum())
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"tp\nn={n_tp}", f"fn\nn={n_fn}"]
    assert len(ax.collections) == 2  # one violin body per outcome
    assert _hex(ax.collections[0].get_facecolor()[0]) == OUTCOME_COLORS["detected"].lower()
    assert len(ax.patches) == 2  # one box per outcome
    ax2 = plotting.plot_tpfn_distribution(objects, "area_frac", "m", ax=plt.figure().gca())
    assert ax2.get_ylabel().startswith("log10")
    with pytest.raises(ValueError, match="detected_x"):
        plotting.plot_tpfn_distribution(objects, "area_frac", "x")


def test_classwise_scatter_fit_band_and_r(rng):
    x = rng.random(40)
    df = pd.DataFrame({"category": [f"c{i}" for i in range(40)], "center_dist": x,
                       "AP": np.clip(0.8 - 0.4 * x + rng.normal(0, 0.05, 40), 0, 1)})
    df.loc[0, "AP"] = 1.0
    ax = plotting.plot_classwise_scatter(df, "center_dist", annotate=2)
    points = ax.collections[0]
    assert points.get_offsets().shape == (40, 2) and not points.get_clip_on()  # AP = 1 stays visible
    assert 0 < points.get_alpha() < 1
    line = ax.lines[0]
    slope, intercept = np.polyfit(df["center_dist"], df["AP"], 1)
    xs, ys = line.get_data()
    assert ys[0] == pytest.approx(intercept + slope * xs[0])
    # the band: the t interval of the fitted mean (statsmodels' OLS get_prediction is the reference)
    import statsmodels.api as sm

    fit = sm.OLS(df["AP"], sm.add_constant(df["center_dist"])).fit()
    ref_band = fit.get_prediction(sm.add_constant(xs)).conf_int(alpha=0.05)
    band = ax.collections[1].get_paths()[0].vertices
    lo_at_x0 = band[np.isclose(band[:, 0], xs[0])][:, 1]
    assert ref_band[0, 0] == pytest.approx(lo_at_x0.min(), abs=1e-9)
    ref = stats.pearsonr(df["center_dist"], df["AP"])  # reference r
    title = ax.get_title(loc="left")
    assert f"r = {ref.statistic:.2f}" in title and "n = 40" in title
    assert f"p = {ref.pvalue:#.2g}" in title or (ref.pvalue < 1e-4 and "p < 1e-4" in title)
    assert not ax.texts[0].get_text().startswith("r =")  # the numbers sit above the axes, not on the points
    assert len(ax.texts) == 2  # the 2 annotated categories
    # with a correlation table, its numbers are shown (target AP only)
    corr = pd.DataFrame({"target": ["AP", "AP_norm"], "variable": ["center_dist"] * 2, "method": ["pearson"] * 2,
                         "n": [40, 40], "r": [-0.501, 0.1], "p_val": [0.0124, 0.5]})
    ax2 = plotting.plot_classwise_scatter(df, "center_dist", correlations=corr, title="(b) distance",
                                          ax=plt.figure().gca())
    assert ax2.get_title(loc="left").startswith("(b) distance\nr = -0.50,") and ax2.get_xlabel() == "class mean"
    # size: a log axis, the fit in log size
    sizes = df.assign(area_frac=10 ** (-3 * x))
    ax3 = plotting.plot_classwise_scatter(sizes, "area_frac", ax=plt.figure().gca())
    assert ax3.get_xscale() == "log"
    # the log axis prints plain numbers (no mathtext exponents, whose superscripts fall under 6 pt)
    ax3.figure.canvas.draw()
    ticks = [t.get_text() for t in ax3.get_xticklabels() if t.get_text()]
    assert ticks and all("$" not in t and "^" not in t for t in ticks) and "0.01" in ticks


def test_classwise_points_sized_by_positives_few_hollow_and_no_line_through_four(rng):
    df = pd.DataFrame({"category": list("abcdef"), "center_dist": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                       "AP": [0.9, 0.7, 0.8, 0.5, 0.4, 0.3], "n_pos": [40, 20, 10, 4, 2, 5]})
    ax = plotting.plot_classwise_scatter(df, "center_dist")
    full, hollow = ax.collections[0], ax.collections[1]
    # area proportional to positives: 4 + 60 * n_pos / max(n_pos); fewer than 5 positives drawn hollow
    assert full.get_sizes().tolist() == pytest.approx([4 + 60 * v / 40 for v in (40, 20, 10, 5)])
    assert hollow.get_offsets().tolist() == [[0.4, 0.5], [0.5, 0.4]]
    assert len(hollow.get_facecolors()) == 0 or hollow.get_facecolors()[:, 3].max() == 0
    assert hollow.get_sizes().tolist() == pytest.approx([10.0, 9.0])  # 4 + 6 = 10; 4 + 3 = 7 -> at least 9
    assert len(ax.lines) == 1  # six points: the fit is drawn
    ax4 = plotting.plot_classwise_scatter(df.head(4), "center_dist", ax=plt.figure().gca())
    assert not ax4.lines and len(ax4.collections) == 2  # four points: points only, no line, no band


@pytest.fixture
def clutter() -> pd.DataFrame:
    rows = []
    for model, base in (("base", 0.6), ("dual", 0.63)):
        for k in range(1, 6):
            m = base + 0.02 * k
            rows.append({"model": model, "group": str(k) if k < 5 else ">=5", "n_objects": k,
                         "is_tail": k == 5, "n_images": 100 - 10 * k, "n_classes": 60,
                         "n_classes_excluded": 20, "mAP": m, "mAP_smoothed": m + 0.001,
                         "ci95_low": m - 0.05, "ci95_high": m + 0.05,
                         "ci95_low_smoothed": m - 0.03, "ci95_high_smoothed": m + 0.03})
    return pd.DataFrame(rows)


def test_clutter_lines_bands_ticks(clutter):
    colors = model_colors(["base", "dual"])
    ax = plotting.plot_clutter(clutter, labels={"base": "Baseline"})
    # per model: smoothed line + raw points
    assert len(ax.lines) == 4
    assert ax.lines[0].get_ydata() == pytest.approx(clutter.loc[clutter.model == "base", "mAP_smoothed"])
    assert _hex(ax.lines[0].get_color()) == colors["base"].lower()
    assert len(ax.collections) == 2  # bootstrap bands
    # the band of the smoothed line is the smoothed curve's interval
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    base = clutter.loc[clutter.model == "base", "mAP"].to_numpy()
    assert ys.min() == pytest.approx(base.min() - 0.03) and ys.max() == pytest.approx(base.max() + 0.03)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "\u22655"]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["Baseline", "dual"]
    assert "dots: mAP per group; lines: smoothed" in [t.get_text() for t in ax.get_legend().get_texts()]
    ax2 = plotting.plot_clutter(clutter, smoothed=False, bands=False, ax=plt.figure().gca())
    assert len(ax2.lines) == 2 and len(ax2.collections) == 0
    ax3 = plotting.plot_clutter(clutter, smoothed=False, ax=plt.figure().gca())
    ys = ax3.collections[1].get_paths()[0].vertices[:, 1]
    dual = clutter.loc[clutter.model == "dual", "mAP"].to_numpy()
    assert ys.min() == pytest.approx(dual.min() - 0.05) and ys.max() == pytest.approx(dual.max() + 0.05)
    assert ax2.lines[1].get_ydata() == pytest.approx(clutter.loc[clutter.model == "dual", "mAP"])
    # the two models apart in grayscale: line style and marker differ, in the lines and in the legend
    assert (ax2.lines[0].get_linestyle(), ax2.lines[0].get_marker()) != (ax2.lines[1].get_linestyle(),
                                                                         ax2.lines[1].get_marker())
    handles = ax.get_legend().legend_handles[:2]
    assert handles[0].get_marker() != handles[1].get_marker()
    assert handles[0].get_linestyle() != handles[1].get_linestyle()


def test_clutter_chance_line(clutter):
    chance = {1: 0.30, 2: 0.35, 3: 0.41, 4: 0.45, 5: 0.52}
    with_chance = clutter.assign(chance_mAP=clutter["n_objects"].map(chance))
    ax = plotting.plot_clutter(with_chance)
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_label() == "chance (random ranking)"
    assert list(dashed[0].get_ydata()) == pytest.approx([0.30, 0.35, 0.41, 0.45, 0.52])
    assert "chance (random ranking)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not [ln for ln in plotting.plot_clutter(with_chance, chance=False, ax=plt.figure().gca()).lines
                if ln.get_linestyle() == "--"]


def test_clutter_auc_panel(clutter):
    # Fig. 3c: the mean ROC AUC per group, one line per model in its colour, its band, chance at 0.5
    auc = clutter.assign(mAUC=0.7, mAUC_ci95_low=0.65, mAUC_ci95_high=0.75)
    ax = plotting.plot_clutter_auc(auc, labels={"base": "Baseline"})
    colors = model_colors(["base", "dual"])
    assert [_hex(ln.get_color()) for ln in ax.lines[:2]] == [colors["base"].lower(), colors["dual"].lower()]
    assert ax.lines[0].get_marker() != ax.lines[1].get_marker()  # apart in grayscale
    assert list(ax.lines[0].get_ydata()) == pytest.approx([0.7] * 5)
    assert list(ax.lines[-1].get_ydata()) == pytest.approx([0.5, 0.5])  # random ranking
    assert len(ax.collections) == 2
    ys = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(0.65) and ys.max() == pytest.approx(0.75)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4", "\u22655"]
    assert "prevalence-free" in ax.get_ylabel()
    assert len(plotting.plot_clutter_auc(auc, bands=False, ax=plt.figure().gca()).collections) == 0


def test_objects_histogram():
    hist = pd.DataFrame({"n_objects": [0, 1, 2, 3], "n_images": [5, 30, 20, 7]})
    ax = plotting.plot_objects_histogram(hist)
    assert [b.get_height() for b in _bars(ax)] == [5, 30, 20, 7]
    assert "62" in ax.get_ylabel()


@pytest.mark.parametrize("horizontal", [False, True])
def test_category_delta_marks_exact_zeros_off_the_axis_line(horizontal):
    # Two categories with a delta of exactly 0 (as umbrella and pizza in the demo): a bar of
    # length 0 draws nothing, so each gets a round marker (an open circle, white inside) at 0,
    # not a line-shaped tick (a "|" or "_" at 0 lies on the zero line and the axis spine).
    cmp = pd.DataFrame({"category": ["a", "b", "c", "d"], "delta": [0.3, 0.0, -0.1, 0.0]})
    ax = plotting.plot_category_delta(cmp, horizontal=horizontal)
    marked = [ln for ln in ax.lines if ln.get_marker() not in ("None", None, "")]
    assert len(marked) == 1
    (zeros,) = marked
    assert zeros.get_marker() not in ("|", "_") and zeros.get_markerfacecolor() != "none"
    x, y = zeros.get_xdata(), zeros.get_ydata()
    value, where = (x, y) if horizontal else (y, x)
    assert list(value) == [0.0, 0.0]
    # sorted descending: a (0.3), b (0), d (0), c (-0.1) -> the zeros are rows 1 and 2
    assert list(where) == [1, 2]
    assert not zeros.get_clip_on()


def test_category_delta_sorted_with_ci_and_colors():
    cmp = pd.DataFrame({"category": ["a", "b", "c", "d"], "delta": [-0.05, 0.1, 0.01, 0.2],
                        "ci95_low": [-0.08, 0.05, -0.02, 0.1], "ci95_high": [-0.01, 0.15, 0.04, 0.3],
                        "verdict": ["worsened", "improved", "within noise", "improved"]})
    colors = model_colors(["A", "B"])
    ax = plotting.plot_category_delta(cmp, label_a="A", label_b="B", color_a=colors["A"],
                                      color_b=colors["B"])
    bars = _bars(ax)
    assert [b.get_height() for b in bars] == pytest.approx([0.2, 0.1, 0.01, -0.05])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["d", "b", "c", "a"]
    assert _hex(bars[0].get_facecolor()) == colors["B"].lower()
    assert _hex(bars[3].get_facecolor()) == colors["A"].lower()
    assert _hex(bars[2].get_facecolor()) == plotting.NEUTRAL
    (eb,) = _errorbars(ax)
    segs = eb.lines[2][0].get_segments()
    assert segs[0][0][1] == pytest.approx(0.1) and segs[0][1][1] == pytest.approx(0.3)
    # an interval that contradicts the bar's verdict is drawn grey and dashed, the others black and solid
    odd = cmp.assign(verdict=["worsened", "within noise", "within noise", "improved"])  # b: CI > 0, not flagged
    ax_odd = plotting.plot_category_delta(odd, ax=plt.figure().gca())
    (eb_odd,) = _errorbars(ax_odd)
    colours = [_hex(c) for c in eb_odd.lines[2][0].get_colors()]
    assert colours == ["#000000", plotting.NEUTRAL, "#000000", "#000000"]  # sorted: d, b, c, a
    assert len({str(x) for x in eb_odd.lines[2][0].get_linestyles()}) == 2
    # categories with fewer than 5 positive images carry a dagger after their name
    marked = plotting.plot_category_delta(cmp.assign(n_pos=[10, 4, 5, 1]), ax=plt.figure().gca())
    assert [t.get_text() for t in marked.get_xticklabels()] == ["d \u2020", "b \u2020", "c", "a"]
    # the whiskers lie over the bars with a white halo: visible inside a bar
    assert eb.lines[2][0].get_zorder() > max(b.get_zorder() for b in bars)
    assert eb.lines[2][0].get_path_effects() and eb.lines[2][0].get_path_effects()[0]._gc["foreground"] == "white"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["B = B better (2)", "A = A better (1)", "within noise (1)"]


def test_cam_example_layout(tmp_path, demo):
    img = sorted(demo.images.glob("*.jpg"))[0]
    (tmp_path / "img.jpg").write_bytes(img.read_bytes())  # manifest paths are relative to root
    cam_a = np.outer(np.arange(7), np.ones(7)).astype(np.float32)
    np.save(tmp_path / "a.npy", cam_a)
    np.save(tmp_path / "b.npy", cam_a.T)
    manifest = [{"image": "img.jpg", "category": "bus",
                 "models": [{"model": "base", "cam": "a.npy", "confidence": 0.2042},
                            {"model": "dual", "cam": "b.npy", "confidence": 0.5920}]}] * 2
    fig = plotting.cam_figure(manifest, root=tmp_path, labels={"dual": "Dual-stream"})
    axes = fig.axes
    assert len(axes) == 6
    assert [a.get_title() for a in axes[:3]] == ["bus", "base: 0.2042", "Dual-stream: 0.5920"]
    assert len(axes[0].images) == 1 and len(axes[1].images) == 2
    overlay = axes[1].images[1].get_array()
    assert overlay.shape[:2] == axes[0].images[0].get_array().shape[:2]
    assert float(overlay.min()) == 0.0 and float(overlay.max()) == 1.0
    with pytest.raises(ValueError, match="no examples"):
        plotting.cam_figure([])


def test_style_is_a_context_and_save_writes_pdf_png(tmp_path):
    before = mpl.rcParams["pdf.fonttype"], mpl.rcParams["font.size"]
    with plotting.paper_style():
        assert mpl.rcParams["pdf.fonttype"] == 42
        fig, ax = plotting.new_figure("column")
        assert fig.get_size_inches()[0] == pytest.approx(3.25)
        ax.plot([0, 1], [0, 1], label="x")
        ax.set_title("Title")
        paths = plotting.save_figure(fig, tmp_path / "fig" / "f.pdf")
    assert (mpl.rcParams["pdf.fonttype"], mpl.rcParams["font.size"]) == before
    assert [p.name for p in paths] == ["f.pdf", "f.png"]
    pdf = paths[0].read_bytes()
    assert pdf.startswith(b"%PDF") and b"/FontFile2" in pdf  # TrueType embedded (type 42)
    assert b"/Type3" not in pdf
    import cv2

    png = cv2.imread(str(paths[1]))
    # 3.3 in at 300 dpi is ~990 px wide before the tight bounding box trims margins
    assert 700 < png.shape[1] <= 1000
    assert not list((tmp_path / "fig").glob(".*part*"))
    fig2, _ = plotting.new_figure("page")
    assert fig2.get_size_inches()[0] == pytest.approx(6.875)


def test_import_changes_no_global_state():
    import subprocess
    import sys

    # nothing drawn or styled at import: pyplot is not even loaded ...
    code = "import sys, salanalysis.plotting; assert 'matplotlib.pyplot' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    # ... and every rcParam is as before
    code = ("import matplotlib as mpl, matplotlib.pyplot; before = dict(mpl.rcParams); "
            "import salanalysis.plotting; assert dict(mpl.rcParams) == before")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_tpfn_distribution_small_groups_are_points(rng):
    obj = pd.DataFrame({"v": rng.random(60), "detected_m": np.r_[np.ones(8, bool), np.zeros(52, bool)]})
    ax = plotting.plot_tpfn_distribution(obj, "v", "m")
    # 8 detected objects: their points; 52 missed: a violin (PolyCollection) and a box
    points = [c for c in ax.collections if c.get_offsets().shape == (8, 2)]
    assert len(points) == 1
    np.testing.assert_allclose(np.sort(points[0].get_offsets()[:, 1]), np.sort(obj["v"][:8]))
    assert len(ax.collections) == 2  # the points and one violin body


def test_category_delta_colours_follow_the_verdict_not_the_interval():
    # Fig. 4: the adjusted test decides; an interval excluding 0 with verdict "within noise" stays grey
    cmp = pd.DataFrame({"category": ["a", "b"], "delta": [0.2, 0.1], "ci95_low": [0.1, 0.05],
                        "ci95_high": [0.3, 0.15], "verdict": ["improved", "within noise"]})
    colors = model_colors(["A", "B"])
    bars = _bars(plotting.plot_category_delta(cmp, color_a=colors["A"], color_b=colors["B"]))
    assert _hex(bars[0].get_facecolor()) == colors["B"].lower() and bars[0].get_hatch() == "////"
    assert _hex(bars[1].get_facecolor()) == plotting.NEUTRAL and not bars[1].get_hatch()
    # no verdict and no interval: nothing is called better
    plt.close("all")
    bars = _bars(plotting.plot_category_delta(cmp[["category", "delta"]]))
    assert all(_hex(b.get_facecolor()) == plotting.NEUTRAL for b in bars)
