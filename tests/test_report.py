"""The HTML report and the table formatters: self-contained, escaped, parseable."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from salanalysis.report import (
    FigureEntry,
    TableEntry,
    format_cell,
    render_report,
    table_html,
    table_latex,
    table_markdown,
    write_report,
)

EVIL = "<script>alert('x')</script>"


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture
def png(tmp_path):
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [1, 0])
    p = tmp_path / "f.png"
    fig.savefig(p, dpi=50)
    return p


def _report(tmp_path, png, **over):
    table = pd.DataFrame({"category": [EVIL, "a|b", "cat"], "AP": [0.5, np.nan, 1.0], "n": [1, 2, 3]})
    kws = dict(
        title="Report & <title>",
        summary={"configuration": f"/data/{EVIL}/cfg.toml", "threshold": 0.5},
        inputs=pd.DataFrame({"kind": ["annotations"], "origin": [f"/x/{EVIL}.json"], "value": [3]}),
        stages=pd.DataFrame({"stage": ["objects"], "status": ["cached"], "key": ["abc"], "seconds": [0.1]}),
        figures=[FigureEntry("fig1", f"Figure {EVIL}", f"caption {EVIL}", png, [tmp_path / "figures" / "f.pdf"])],
        tables=[TableEntry("t1", "Table", f"A = '{EVIL}'", table, [tmp_path / "tables" / "t1.csv"])],
        not_produced=[("Fig. 5", f"no checkpoints for {EVIL}")],
        notes=[f"note {EVIL}"],
        base=tmp_path,
    )
    kws.update(over)
    return render_report(**kws)


def test_report_is_self_contained_escaped_html(tmp_path, png):
    text = _report(tmp_path, png)
    assert "<script" not in text.lower()
    assert text.count("&lt;script&gt;") >= 8
    p = _Tags()
    p.feed(text)
    p.close()
    tags = [t for t, _ in p.tags]
    assert tags.count("img") == 1 and "script" not in tags and "link" not in tags
    (src,) = [a["src"] for t, a in p.tags if t == "img"]
    assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()
    joined = " ".join(p.text)
    for fragment in (f"no checkpoints for {EVIL}", f"caption {EVIL}", f"note {EVIL}", "Report & <title>",
                     "figures/f.pdf", "tables/t1.csv"):
        assert fragment in joined, fragment
    # the table: three rows, NaN shown empty
    cells = [a for t, a in p.tags if t == "td"]
    assert len(cells) >= 9
    assert 'id="table-t1"' in text and 'id="fig-fig1"' in text


def test_report_without_gaps_says_so_and_cuts_long_tables(tmp_path, png):
    big = pd.DataFrame({"i": np.arange(250)})
    text = _report(tmp_path, png, not_produced=[], tables=[TableEntry("big", "Big", "", big, max_rows=200)])
    assert "Everything was produced." in text
    assert "First 200 of 250 rows" in text
    assert text.count("<tr>") >= 200 and "<td class=\"n\">249</td>" not in text


def test_write_report_atomic(tmp_path, png):
    path = write_report(tmp_path / "out" / "report.html", **{
        k: v for k, v in dict(
            title="t", summary={}, inputs=pd.DataFrame({"a": [1]}), stages=pd.DataFrame({"s": ["x"]}),
            figures=[], tables=[], not_produced=[]).items()})
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert not list((tmp_path / "out").glob(".*part*"))


def test_format_cell():
    assert format_cell(3) == "3"
    assert format_cell(np.int64(7)) == "7"
    assert format_cell(2.0) == "2"
    assert format_cell(0.123456) == "0.1235"
    assert format_cell(12.3456) == "12.35"
    assert format_cell(1.5e-6) == "1.500e-06"
    assert format_cell(np.nan) == "" and format_cell(None) == "" and format_cell(pd.NA) == ""
    assert format_cell(True) == "true"
    assert format_cell("x") == "x"


def test_markdown_and_latex_escape():
    df = pd.DataFrame({"cat_name": ["a|b", "x & y_z%"], "AP": [0.25, 1.0]})
    md = table_markdown(df, "cap")
    lines = md.splitlines()
    assert lines[0] == "| cat_name | AP |"
    assert lines[1] == "| --- | ---: |"
    assert lines[2] == "| a\\|b | 0.25 |"
    assert md.rstrip().endswith("cap")
    tex = table_latex(df, "a caption")
    assert r"\begin{tabular}{lr}" in tex and r"cat\_name & AP \\" in tex
    assert r"x \& y\_z\% & 1 \\" in tex
    assert tex.startswith("% a caption")


def test_table_html_escapes_headers():
    html_text = table_html(pd.DataFrame({"<b>": ["<i>"]}))
    assert "<b>" not in html_text and "&lt;b&gt;" in html_text and "&lt;i&gt;" in html_text
