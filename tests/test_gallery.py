"""The gallery of detected and missed objects: its rules, its pictures, its command and figure."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from salanalysis.cli import main
from salanalysis.errors import InputError
from salanalysis.gallery import (
    RULES,
    available_images,
    image_path_inside,
    render_gallery,
    select_gallery,
)


def _table(rng: np.random.Generator, n: int = 60) -> pd.DataFrame:
    t = pd.DataFrame({
        "image_id": rng.integers(1, 15, n), "ann_id": np.arange(100, 100 + n),
        "category": rng.choice(["cat", "dog", "sheep"], n), "area_frac": rng.uniform(0.001, 0.6, n),
        "center_dist": rng.uniform(0, 1, n), "sal_max_s": rng.uniform(0, 1, n), "score_m": rng.uniform(0, 1, n),
    })
    t["detected_m"] = t["score_m"] >= 0.5
    return t


def test_rules_pick_what_they_say(rng):
    t = _table(rng)
    sel = select_gallery(t, "m", per_rule=2)
    assert list(dict.fromkeys(sel["rule"])) == list(RULES)
    assert not sel["ann_id"].duplicated().any()  # an object appears once
    for outcome, g in t.groupby(np.where(t["detected_m"], "detected", "missed")):
        s = sel[sel["outcome"] == outcome].set_index("rule")
        # largest: the two largest masks of the outcome, in order
        assert s.loc["largest", "ann_id"].tolist() == g.nlargest(2, "area_frac")["ann_id"].tolist()
        # most salient: the two most salient among those not already taken
        rest = g[~g["ann_id"].isin(s.loc["largest", "ann_id"])]
        assert s.loc["most salient", "ann_id"].tolist() == rest.nlargest(2, "sal_max_s")["ann_id"].tolist()
    # most surprising missed objects: large, salient and central against every object (percentiles)
    pct = pd.concat([t["area_frac"].rank(pct=True), t["sal_max_s"].rank(pct=True),
                     (-t["center_dist"]).rank(pct=True)], axis=1).mean(axis=1)
    missed = sel[(sel["outcome"] == "missed") & (sel["rule"] == "most surprising")]
    taken = sel.loc[(sel["outcome"] == "missed") & (sel["rule"] != "most surprising"), "ann_id"]
    cand = t[~t["detected_m"] & ~t["ann_id"].isin(taken)].assign(e=pct)
    assert missed["ann_id"].iloc[0] == cand.sort_values("e", ascending=False)["ann_id"].iloc[0]


def test_filters_and_no_saliency(rng):
    t = _table(rng).drop(columns="sal_max_s")
    sel = select_gallery(t, "m", per_rule=1, categories=["dog"], image_ids=[1, 2, 3, 4, 5])
    assert set(sel["category"]) <= {"dog"} and set(sel["image_id"]) <= {1, 2, 3, 4, 5}
    assert "most salient" not in set(sel["rule"]) and sel["sal_max"].isna().all()
    with pytest.raises(InputError, match="no saliency source 'x'"):
        select_gallery(_table(rng), "m", source="x")


def test_image_paths_stay_inside_the_folder(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "secret.jpg").write_bytes(b"x")
    assert image_path_inside(tmp_path / "imgs", "a.jpg") == (tmp_path / "imgs" / "a.jpg").resolve()
    for bad in ("../secret.jpg", str(tmp_path / "secret.jpg"), "sub/../../secret.jpg", ""):
        with pytest.raises(InputError):
            image_path_inside(tmp_path / "imgs", bad)
    os.symlink(tmp_path / "secret.jpg", tmp_path / "imgs" / "link.jpg")
    with pytest.raises(InputError, match="outside"):
        image_path_inside(tmp_path / "imgs", "link.jpg")


def test_demo_gallery_command_and_figure(demo, demo_ann, tmp_path, capsys):
    import matplotlib.pyplot as plt

    objects = tmp_path / "objects.csv"
    assert main(["objects", "--annotations", str(demo.annotations), "--saliency", f"salicon={demo.saliency}",
                 "--scores", f"det={demo.detections}", "--out", str(objects), "--jobs", "1"]) == 0
    out = tmp_path / "gallery"
    assert main(["gallery", "--annotations", str(demo.annotations), "--objects", str(objects), "--images",
                 str(demo.images), "--saliency", f"salicon={demo.saliency}", "--out", str(out)]) == 0
    table = pd.read_csv(out / "gallery.csv", keep_default_na=False)
    with_image = set(available_images(demo_ann, demo.images))
    assert set(table["image_id"]) <= with_image  # only objects whose image is at hand
    assert (table["file"] != "").all()
    assert {"crop", "overlay:salicon"} <= set(table["picture"])
    img = plt.imread(out / table["file"].iloc[0])
    assert img.ndim == 3 and max(img.shape[:2]) <= 192
    # the overlay is the map over the crop, not the crop again
    first = table[table["ann_id"] == table.loc[table["picture"] == "overlay:salicon", "ann_id"].iloc[0]]
    crop, over = (plt.imread(out / first.loc[first["picture"] == p, "file"].iloc[0]).astype(float)
                  for p in ("crop", "overlay:salicon"))
    assert crop.shape == over.shape and np.abs(crop - over).mean() > 10
    # the figure draws from gallery.csv alone
    figs = tmp_path / "figs"
    assert main(["plot", "fig_gallery", "--from", str(out), "--out", str(figs)]) == 0
    assert (figs / "fig_gallery.png").is_file() and (figs / "fig_gallery_column.pdf").is_file()
    # no text under 6 pt at either printed width
    from matplotlib.text import Text

    from salanalysis.figures import FigureContext, draw_figure, read_tables
    from salanalysis.plotting import MIN_FONT_PT

    tables = read_tables([out])
    for width in ("page", "column"):
        fig, _ = draw_figure("fig_gallery", tables, FigureContext(width=width, gallery_root=out))
        fig.canvas.draw()
        small = [t.get_text() for t in fig.findobj(Text) if t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]
        assert not small, f"fig_gallery at {width} width has text under {MIN_FONT_PT} pt: {small[:3]}"
        plt.close(fig)


def test_render_without_images_says_so(demo, demo_ann, tmp_path, rng):
    from salanalysis.objects import compute_objects

    t = compute_objects(demo_ann, None, {"det": str(demo.detections)}, jobs=1).objects
    sel = select_gallery(t, "det", per_rule=1)
    empty = tmp_path / "noimages"
    empty.mkdir()
    res = render_gallery(sel, demo_ann, empty, tmp_path / "g")
    assert res.missing_images == sel["ann_id"].nunique() and (res.table["file"] == "").all()
    assert "without their image" in res.summary()
