"""The report's gallery of objects and per-class table: numbers, escaping, filter, no active content."""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import cv2
import numpy as np
import pandas as pd
import pytest

from salanalysis.report import _CSS, FigureEntry, render_report
from salanalysis.report_sections import (
    FEW_POSITIVES,
    SORT_SCRIPT,
    GallerySection,
    class_drilldown,
    classes_html,
    gallery_css,
    gallery_html,
)

EVIL = "<script>alert('x')</script>"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.data: list[tuple[str, str]] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._open.append(tag)

    def handle_endtag(self, tag):
        if self._open and self._open[-1] == tag:
            self._open.pop()

    def handle_data(self, data):
        self.data.append((self._open[-1] if self._open else "", data))


def _parse(text: str) -> _Tags:
    p = _Tags()
    p.feed(text)
    p.close()
    return p


def _inputs():
    per_class = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b", "b"],
        "category": ["cat", EVIL, "dog", "cat", EVIL, "dog"],
        "n_pos": [10, 2, 5, 10, 2, 5],
        "AP": [0.5, 0.25, 1.0, 0.1, 0.2, 0.3],
        "AP_low": [0.3, np.nan, 0.8, 0.0, np.nan, 0.1],
        "AP_high": [0.7, np.nan, 1.0, 0.2, np.nan, 0.5],
        "prevalence": [0.5, 0.1, 0.25, 0.5, 0.1, 0.25],
        "chance_AP": [0.52, 0.15, 0.27, 0.52, 0.15, 0.27],
    })
    classwise = pd.DataFrame({"model": ["a", "a", "a"], "category": ["cat", EVIL, "dog"],
                              "area_frac": [0.1, 0.2, 0.3], "center_dist": [0.4, 0.5, 0.6],
                              "sal_max_s1": [0.7, np.nan, 0.9], "sal_max_s2": [0.0, 0.0, 0.0]})
    compare = pd.DataFrame({"category": ["dog", "cat"], "delta": [0.2, -0.05], "ci95_low": [0.1, -0.2],
                            "ci95_high": [0.3, 0.1], "verdict": ["improved", "within noise"]})
    gallery = pd.DataFrame({"ann_id": [1, 1, 2, 3], "category": ["cat", "cat", "cat", EVIL],
                            "picture": ["crop", "overlay:s1", "crop", "crop"]})
    return per_class, classwise, compare, gallery


def test_class_drilldown_joins_each_class_of_the_model():
    per_class, classwise, compare, gallery = _inputs()
    d = class_drilldown(per_class, model="a", classwise=classwise, compare=compare, gallery=gallery)
    assert d["category"].tolist() == ["cat", EVIL, "dog"]  # the per-class order, model a only
    assert d["AP"].tolist() == [0.5, 0.25, 1.0]
    assert d["AP_ci95_low"].iloc[0] == 0.3 and d["AP_ci95_high"].iloc[2] == 1.0 and np.isnan(d["AP_ci95_low"].iloc[1])
    assert d["chance_AP"].tolist() == [0.52, 0.15, 0.27]
    assert d["sal_max"].iloc[2] == 0.9 and d["sal_source"].iloc[0] == "s1"  # the first source
    assert d["center_dist"].tolist() == [0.4, 0.5, 0.6]
    # Fig. 4 joined by name, not by row order; a class absent from it has no delta
    assert d["delta"].iloc[0] == -0.05 and d["delta_ci95_high"].iloc[2] == 0.3 and np.isnan(d["delta"].iloc[1])
    assert d["verdict"].tolist() == ["within noise", "", "improved"]
    # fewer than 5 positives: only the class with 2 (5 is not "fewer than 5")
    assert FEW_POSITIVES == 5 and d["few_positives"].tolist() == [False, True, False]
    # gallery objects, not pictures: ann 1 has two pictures
    assert d["gallery_objects"].tolist() == [2, 1, 0]
    # another source, and no optional tables
    assert class_drilldown(per_class, model="a", classwise=classwise, source="s2")["sal_max"].tolist() == [0, 0, 0]
    bare = class_drilldown(per_class, model="b")
    assert bare["area_frac"].isna().all() and bare["delta"].isna().all() and (bare["verdict"] == "").all()
    assert bare["AP"].tolist() == [0.1, 0.2, 0.3] and (bare["gallery_objects"] == 0).all()


def test_classes_html_is_escaped_sortable_and_marks_few_positives():
    per_class, classwise, compare, gallery = _inputs()
    d = class_drilldown(per_class, model="a", classwise=classwise, compare=compare, gallery=gallery)
    text = classes_html(d, gallery_ids={"cat": "gal-c0", EVIL: "gal-c1"})
    assert "<script" not in text and "&lt;script&gt;" in text
    p = _parse(text)
    assert [a.get("class") for t, a in p.tags if t == "table"] == ["sortable classes"]
    assert sum(t == "button" for t, _ in p.tags) == 13
    rows = [a for t, a in p.tags if t == "tr"]
    assert [a.get("class") for a in rows[1:]] == [None, "few", None]
    # numbers sort by their value, missing as ''; an interval sorts by its low end
    tds = [a for t, a in p.tags if t == "td"]
    assert tds[3]["data-v"] == "0.5" and tds[13 + 4]["data-v"] == ""
    assert "[0.3, 0.7]" in text and "[-0.2, 0.1]" in text
    # the gallery link of a class with objects, none for a class without
    hrefs = [a["href"] for t, a in p.tags if t == "a"]
    assert hrefs == ["#gal-c0", "#gal-c1"]
    assert "1 class(es) with fewer than 5 positive images" in text


def _jpeg(path, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), value, np.uint8))
    path.write_bytes(buf.tobytes())
    return path


@pytest.fixture
def section(tmp_path):
    root = tmp_path / "gallery"
    rows = []
    for ann, cat, outcome, pics in ((1, "cat", "detected", ["crop", "overlay:s1"]), (2, EVIL, "missed", ["crop"]),
                                    (3, "dog", "missed", ["crop"])):
        for pic in pics:
            f = "" if ann == 3 else f"thumbs/{ann}_{pic.replace(':', '_')}.jpg"
            if f:
                _jpeg(root / f, 40 * ann)
            rows.append({"outcome": outcome, "rule": "largest", "rank": 1, "image_id": ann, "ann_id": ann,
                         "category": cat, "area_frac": 0.5 / ann, "center_dist": 0.1, "sal_max": np.nan,
                         "score": 0.9, "n_objects_image": 3, "model": "m", "source": "s1", "picture": pic,
                         "file": f})
    return GallerySection(pd.DataFrame(rows), root)


def test_gallery_embeds_the_thumbnails_and_filters_by_class_without_a_script(section):
    text = gallery_html(section, few=[EVIL])
    assert "<script" not in text and "&lt;script&gt;" in text
    p = _parse(text)
    srcs = [a["src"] for t, a in p.tags if t == "img"]
    files = [f for f in section.table["file"] if f]
    assert [base64.b64decode(s.split(",", 1)[1]) for s in srcs] == [(section.root / f).read_bytes() for f in files]
    # one filter anchor per class (by index, never by name), a link to each, one object box per object
    ids = section.class_ids()
    assert ids == {"cat": "gal-c0", EVIL: "gal-c1", "dog": "gal-c2"}
    assert {a["id"] for t, a in p.tags if t == "span" and "id" in a} == {"gal-all", *ids.values()}
    assert [a["href"] for t, a in p.tags if t == "a"] == ["#gal-all", "#gal-c0", "#gal-c1", "#gal-c2"]
    boxes = [a["class"] for t, a in p.tags if t == "figure"]
    assert boxes == ["obj gal-c0", "obj gal-c1", "obj gal-c2"]
    css = gallery_css(section)
    assert css.count(":target~.grid .obj:not(") == 3 and "#gal-c1:target~.grid .obj:not(.gal-c1){display:none}" in css
    assert "script" not in css and "cat" not in css
    # the object whose image is absent is said so, not dropped
    assert "1 of 3 objects have no picture: their image is not in the images folder" in text
    assert "Missed objects (2)" in text and "Detected objects (1)" in text
    # values in the number policy; the few-positive class marked
    assert "<dd>0.25</dd>" in text and "<dd>n/a</dd>" in text and "\u2020" in text


def test_no_gallery_is_a_plain_statement():
    text = gallery_html(GallerySection(None, reason="no images folder is configured ([inputs] images)"))
    assert text == ('<p class="missing">No object pictures in this report: no images folder is configured '
                    "([inputs] images).</p>")
    assert gallery_css(GallerySection(None)) == "" and gallery_css(None) == ""


def test_report_with_gallery_and_classes_has_one_inert_script(tmp_path, section):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    png, col = tmp_path / "f.png", tmp_path / "f_column.png"
    fig.savefig(png, dpi=30)
    fig.savefig(col, dpi=20)
    per_class, classwise, compare, gallery = _inputs()
    d = class_drilldown(per_class, model="a", classwise=classwise, compare=compare, gallery=section.table)
    text = render_report(title="t", summary={"object table": tmp_path / "objects.parquet"},
                         inputs=pd.DataFrame({"a": [1]}), stages=pd.DataFrame({"s": ["x"]}),
                         figures=[FigureEntry("f", "F", "cap", png, png_column=col)], tables=[], not_produced=[],
                         base=tmp_path, gallery=section, classes=d)
    p = _parse(text)
    scripts = [d for t, d in p.data if t == "script"]
    assert scripts == [SORT_SCRIPT]
    # no event-handler attributes, no javascript: links anywhere; the script holds no data of the inputs
    assert not [(t, k) for t, a in p.tags for k in a if k.lower().startswith("on")]
    assert not [v for _, a in p.tags for v in a.values() if v and "javascript:" in v.lower()]
    assert "cat" not in SORT_SCRIPT and "<" not in SORT_SCRIPT.replace("x[1] < y[1]", "")
    assert text.lower().count("<script") == 1
    # the contents list both sections; the object table is linked
    assert '<a href="#gallery">' in text and '<a href="#classes">' in text
    assert 'href="objects.parquet"' in text
    # the column-width drawing is the narrow screen's source
    (src,) = [a for t, a in p.tags if t == "source"]
    assert src["media"] == "screen and (max-width: 700px)"
    assert base64.b64decode(src["srcset"].split(",", 1)[1]) == col.read_bytes()
    # the class filter's rules are in the page's style
    assert "#gal-c0:target~.grid" in text


def test_print_keeps_one_paper_size_and_headings_with_what_follows():
    assert "@page wide" not in _CSS and "landscape" not in _CSS and "page:" not in _CSS
    assert not re.search(r"@page[^{]*\{[^}]*size:", _CSS)
    printed = _CSS[_CSS.index("@media print"):]
    assert "h2,h3,h4{break-after:avoid" in printed and "h3+p{break-after:avoid" in printed
    # text never under 6 pt in print
    sizes = [float(x) for x in re.findall(r"font-size:([\d.]+)pt", printed)]
    assert sizes and min(sizes) >= 6
    narrow = _CSS[_CSS.index("max-width:700px"):_CSS.index("@page")]
    assert ".tw{overflow-x:auto" in narrow and "position:sticky;left:0" in narrow
