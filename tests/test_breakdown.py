"""Detection rate by size within clutter groups (beside Fig. 2): counts by hand, Wilson vs statsmodels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from salanalysis.plotting.breakdown import plot_detection_breakdown
from salanalysis.stats.breakdown import detection_by_size_and_clutter, wilson_interval


def _objects():
    # images 1-3 hold 1, 2, 2 objects; images 4-6 hold 5 objects each (area in px: 100 small, 5000 medium,
    # 20000 large)
    rows = []
    layout = {1: [(100, 1)], 2: [(100, 0), (5000, 1)], 3: [(20000, 1), (20000, 0)],
              4: [(100, 1)] * 3 + [(5000, 1), (20000, 1)], 5: [(100, 0)] * 5, 6: [(5000, 1)] * 4 + [(100, 1)]}
    for img, objs in layout.items():
        for area, det in objs:
            rows.append({"image_id": img, "area_px": float(area), "n_objects": len(objs), "detected_m": bool(det)})
    return pd.DataFrame(rows)


def test_wilson_interval_matches_statsmodels():
    k, n = np.array([0, 3, 7, 10]), np.array([5, 11, 10, 10])
    lo, hi = wilson_interval(k, n)
    ref_lo, ref_hi = proportion_confint(k, n, alpha=0.05, method="wilson")  # reference
    assert lo == pytest.approx(ref_lo, abs=1e-9) and hi == pytest.approx(ref_hi, abs=1e-9)


def test_breakdown_counts_by_hand():
    t = detection_by_size_and_clutter(_objects(), "m", groups=2)
    # objects per image: 1, 2, 2, 5, 5, 5 -> the median (lower) 2 splits them: {1, 2} and {5}
    assert t["clutter_group"].unique().tolist() == ["1-2 objects", "5 objects"]
    assert t.groupby("clutter_group")["n_images"].first().tolist() == [3, 3]
    low = t[t["clutter_group"] == "1-2 objects"].set_index("size")
    assert low["n"].to_dict() == {"small": 2, "medium": 1, "large": 2}
    assert low["n_detected"].to_dict() == {"small": 1, "medium": 1, "large": 1}
    high = t[t["clutter_group"] == "5 objects"].set_index("size")
    # small: 3 of image 4 (detected), 5 of image 5 (missed), 1 of image 6 (detected) -> 4 of 9
    assert high.loc["small", "n"] == 9 and high.loc["small", "n_detected"] == 4
    assert high.loc["small", "rate"] == pytest.approx(4 / 9)
    assert high.loc["medium", "n"] == 5 and high.loc["medium", "rate"] == 1.0
    lo, hi = proportion_confint(4, 9, method="wilson")
    assert (high.loc["small", "ci95_low"], high.loc["small", "ci95_high"]) == pytest.approx((lo, hi))
    # sizes follow COCO's ranges: 32^2 = 1024 is medium, not small
    edge = _objects().assign(area_px=1024.0)
    assert set(detection_by_size_and_clutter(edge, "m")["size"]) == {"medium"}
    with pytest.raises(ValueError, match="detected_x"):
        detection_by_size_and_clutter(_objects(), "x")


def test_breakdown_plot_one_line_per_group_apart_in_grayscale():
    t = detection_by_size_and_clutter(_objects(), "m", groups=2)
    ax = plot_detection_breakdown(t, ax=plt.figure().gca())
    lines = [ln for ln in ax.lines if len(ln.get_xdata()) > 1]
    assert len(lines) == 2
    assert len({(ln.get_marker(), ln.get_linestyle()) for ln in lines}) == 2  # markers and dashes differ
    y = sorted(lines[1].get_ydata().tolist())
    assert y == pytest.approx(sorted(t[t["clutter_group"] == "5 objects"]["rate"].tolist()))
    assert [x.get_text() for x in ax.get_legend().get_texts()] == ["1-2 objects (3 images)", "5 objects (3 images)"]
