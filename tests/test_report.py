"""The HTML report and the table formatters: self-contained, escaped, parseable."""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from salanalysis.report import (
    _CSS,
    VERDICTS,
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


def test_format_cell_follows_the_number_policy():
    assert format_cell(3) == "3"
    assert format_cell(np.int64(7)) == "7"
    assert format_cell(2.0) == "2"
    assert format_cell(0.123456) == "0.1235"
    assert format_cell(12.3456) == "12.35"
    assert format_cell(10743.2) == "10743"        # no 1.074e+04
    assert format_cell(1.5e-6) == "0.0000015"     # no 1.500e-06
    assert format_cell(np.nan) == "" and format_cell(None) == "" and format_cell(pd.NA) == ""
    assert format_cell(True) == "true"
    assert format_cell("x") == "x"
    # p-value columns: two significant digits or a bound
    assert format_cell(0.012345, "p_val") == "0.012"
    assert format_cell(3e-7, "p_holm") == "< 1e-4"
    assert format_cell(0.012345, "r") == "0.0123"


def test_markdown_and_latex_escape():
    df = pd.DataFrame({"cat_name": ["a|b", "x & y_z%"], "AP": [0.25, 1.0], "p_val": [3e-9, 0.5]})
    md = table_markdown(df, "cap")
    lines = md.splitlines()
    assert lines[0] == "| cat_name | AP | p_val |"
    assert lines[1] == "| --- | ---: | ---: |"
    assert lines[2] == "| a\\|b | 0.25 | < 1e-4 |"
    assert md.rstrip().endswith("cap")
    tex = table_latex(df, "a caption")
    assert r"\begin{tabular}{lrr}" in tex and r"cat\_name & AP & p\_val \\" in tex
    assert r"x \& y\_z\% & 1 & 0.50 \\" in tex and r"\textless{} 1e-4" in tex
    assert tex.startswith("% a caption")


def test_table_html_escapes_headers():
    html_text = table_html(pd.DataFrame({"<b>": ["<i>"]}))
    assert "<b>" not in html_text and "&lt;b&gt;" in html_text and "&lt;i&gt;" in html_text


# ------------------------------------------------------------ findings, diagnostics
def _findings() -> pd.DataFrame:
    rows = [
        ("Fig. 2", "tp objects are larger than fn objects", "t = 25.25", "t = -4.63", "[-0.07, -0.03]",
         "opposite", f"image-clustered t, n = 830 {EVIL}", "fig-fig1"),
        ("Sec. 3.2", f"class AP rises with size {EVIL}", "r = 0.278", "r = 0.25", "[0.01, 0.46]",
         "same direction, significant", "Pearson r over classes, n = 70", "table-t1"),
        ("Fig. 4", "70 of 80 categories improve", "70 of 80", "51 of 70", "", "inconclusive", "", ""),
        ("Table 1", "mAP of the dual-stream model", "72.5", "", "", "not available", "no such model",
         "table-absent"),
        ("Sec. 3.2", "AP falls with center distance", "r = -0.501", "r = -0.1", "[-0.3, 0.1]",
         "same direction, not significant", "", "fig-fig1"),
        ("Sec. 5.3", "the assessed model beats the reference", "0.7145 -> 0.7304", "0.40 -> 0.71", "",
         "not comparable", "compares sample detections with the class prior", ""),
        ("Fig. 3", "mAP increases with the number of objects", "increase", "mAP 0.2 -> 0.6", "[0.3, 0.5]",
         "explained by prevalence", "mean ROC AUC +0.001 (no clear change)", "fig-fig1"),
    ]
    return pd.DataFrame(rows, columns=["section", "claim", "paper", "this_run", "interval", "verdict", "detail",
                                       "anchor"])


def _diagnostics() -> pd.DataFrame:
    return pd.DataFrame([
        ("fig-fig1", "warning", f"the scores carry no information {EVIL}"),
        ("table-t1", "note", "two groups hold fewer than 5 images"),
        ("", "note", "a note about no figure"),
        ("fig-absent", "warning", "a warning about a figure not drawn"),
    ], columns=["anchor", "severity", "text"])


def _ids_and_hrefs(text: str) -> tuple[set[str], list[str]]:
    p = _Tags()
    p.feed(text)
    p.close()
    return {a["id"] for _, a in p.tags if "id" in a}, [a["href"] for t, a in p.tags if t == "a"]


def test_findings_come_first_escaped_with_verdicts_and_links(tmp_path, png):
    text = _report(tmp_path, png, findings=_findings(), diagnostics=_diagnostics())
    assert "<script" not in text.lower()
    assert text.index('id="findings"') < text.index('id="run"') < text.index('id="inputs"')
    findings = text[text.index('id="findings"'):text.index('id="run"')]
    assert f"class AP rises with size {html.escape(EVIL)}" in findings
    assert f"n = 830 {html.escape(EVIL)}" in findings
    # each verdict: its colour class, its marker and its words
    for verdict, (cls, mark) in VERDICTS.items():
        assert f'<span class="verdict {cls}">{mark} {verdict}</span>' in findings, verdict
    # rows link to the figure or table they rest on, only when it is in the report
    assert '<a href="#fig-fig1">Fig. 2</a>' in findings and '<a href="#table-t1">Sec. 3.2</a>' in findings
    assert "#table-absent" not in text
    # every warning once in the findings (linked where it has a place), notes without a place too
    assert findings.count("the scores carry no information") == 1
    assert findings.count("a warning about a figure not drawn") == 1
    assert "a note about no figure" in findings
    assert "two groups hold fewer than 5 images" not in findings


def test_reading_box_sits_above_the_findings_escaped(tmp_path, png):
    text = _report(tmp_path, png, findings=_findings(), reading=[f"score sets: {EVIL}", "tp: score >= 0.5"])
    box = text[text.index('id="reading"'):text.index("</div>", text.index('id="reading"'))]
    assert text.index('id="findings"') < text.index('id="reading"') < text.index('class="findings"')
    assert f"<li>score sets: {html.escape(EVIL)}</li>" in box and "<li>tp: score &gt;= 0.5</li>" in box
    assert 'id="reading"' not in _report(tmp_path, png, findings=_findings())


def test_diagnostics_sit_beside_their_figure_and_table(tmp_path, png):
    text = _report(tmp_path, png, findings=None, diagnostics=_diagnostics())
    fig = text[text.index('id="fig-fig1"'):]
    assert fig.index("the scores carry no information") < fig.index("<img")
    assert 'class="diag warning"' in fig[:fig.index("<img")]
    tab = text[text.index('id="table-t1"'):]
    assert tab.index("two groups hold fewer than 5 images") < tab.index("<table")
    assert 'class="diag note"' in tab[:tab.index("<table")]
    # no findings table, but the warnings are still listed at the top
    top = text[text.index('id="findings"'):text.index('id="run"')]
    assert "<table" not in top and top.count("the scores carry no information") == 1


def test_without_findings_or_diagnostics_the_section_is_left_out(tmp_path, png):
    text = _report(tmp_path, png)
    assert 'id="findings"' not in text and 'class="diag' not in text
    # a note that has its figure is shown there only: still no findings section
    only_placed = _diagnostics().iloc[[1]]
    assert 'id="findings"' not in _report(tmp_path, png, diagnostics=only_placed)


def test_findings_need_their_columns(tmp_path, png):
    with pytest.raises(ValueError, match="findings lacks column"):
        _report(tmp_path, png, findings=_findings().drop(columns="verdict"))
    with pytest.raises(ValueError, match="diagnostics lacks column"):
        _report(tmp_path, png, diagnostics=_diagnostics().drop(columns="severity"))


# ------------------------------------------------------------ contents, links, determinism
def test_contents_link_every_figure_and_table_and_every_anchor_resolves(tmp_path, png):
    tables = [TableEntry("t1", "Table one", "", pd.DataFrame({"a": [1]}), [tmp_path / "tables" / "t1.csv"]),
              TableEntry("t2", "Table two", "", pd.DataFrame({"b": [2]}))]
    text = _report(tmp_path, png, tables=tables, findings=_findings(), diagnostics=_diagnostics())
    ids, hrefs = _ids_and_hrefs(text)
    toc = text[text.index('<nav class="toc"'):text.index("</nav>")]
    for target in ("findings", "run", "inputs", "missing", "figures", "tables", "fig-fig1", "table-t1", "table-t2"):
        assert f'href="#{target}"' in toc, target
    internal = [h[1:] for h in hrefs if h.startswith("#")]
    assert internal and set(internal) <= ids
    # file names are relative links to the files under the output folder
    files = [h for h in hrefs if not h.startswith("#")]
    assert files == ["figures/f.pdf", "tables/t1.csv"]


def test_report_is_deterministic_and_dated_only_by_source_date_epoch(tmp_path, png, monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    a = _report(tmp_path, png, findings=_findings(), diagnostics=_diagnostics())
    assert a == _report(tmp_path, png, findings=_findings(), diagnostics=_diagnostics())
    assert " on 20" not in a and "UTC" not in a
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1560643200")  # 2019-06-16 00:00 UTC
    b = _report(tmp_path, png)
    assert "on 2019-06-16 00:00 UTC (SOURCE_DATE_EPOCH)" in b


# ------------------------------------------------------------ readable tables
def test_tables_are_never_cut_by_a_box_and_print_whole():
    assert "max-height:480px" not in _CSS and ".tw{max-height" not in _CSS
    assert "@media print" in _CSS
    printed = _CSS[_CSS.index("@media print"):]
    assert "overflow:visible" in printed and "table-header-group" in printed and "max-width:100%" in printed


def test_table_html_merges_intervals_lifts_constants_and_notes_repeated_text():
    df = pd.DataFrame({
        "model": ["m"] * 4, "variable": ["size", "dist", "sal", "size"], "r": [0.25, -0.5, 1.5e-6, 0.1],
        "ci95_low": [0.1, -0.7, np.nan, 0.0], "ci95_high": [0.4, -0.3, np.nan, 0.2],
        "p_val": [0.012345, 2e-9, np.nan, 1.0], "n": [10743.0, 70, 70, 70],
        "meaning": ["Pearson r of the class means with class AP (as the paper) <b>"] * 2
        + ["Spearman rank correlation with class AP (robust to outlying classes)", ""],
    })
    out = table_html(df, key="table-x")
    headers = re.findall(r"<th class=\"[nt]\">(.*?)</th>", out)
    assert [h.replace("<wbr>", "") for h in headers] == ["variable", "r", "ci95 [low, high]", "p_val", "n", "notes"]
    assert "In every row: <code>model</code> = m." in out
    assert ">[0.1, 0.4]<" in out and ">[-0.7, -0.3]<" in out
    assert ">0.012<" in out and ">&lt; 1e-4<" in out and ">1.0<" in out and ">10743<" in out
    assert ">0.0000015<" in out and "e-0" not in out and "e+0" not in out
    # the repeated explanation: one numbered note, linked from each row it explains; escaped
    assert out.count('href="#table-x-note-1"') == 2 and 'id="table-x-note-1"' in out
    assert "meaning: Pearson r of the class means with class AP (as the paper) &lt;b&gt;" in out
    assert out.count("<li") == 2


def test_table_html_aligns_number_text_and_wide_tables_scroll_with_repeated_headers():
    t1 = pd.DataFrame({"model": ["a", "b"], "mAP": ["71.5 [70.1, 72.9]", "-"]})
    out = table_html(t1)
    assert '<td class="n">71.5 [70.1, 72.9]</td>' in out and '<td class="n">-</td>' in out
    assert '<div class="tw">' in out
    wide = pd.DataFrame({f"column_number_{i}": np.arange(60) * 1.5 for i in range(20)})
    out = table_html(wide)
    assert '<div class="tw wide">' in out
    assert out.count('<tr class="rh"') == 2  # header again at rows 25 and 50
    # a long explanatory text that does not repeat stays a readable column
    text = table_html(pd.DataFrame({"quantity": ["a", "b"], "meaning": ["x" * 50, "y" * 50]}))
    assert '<td class="t long">' + "x" * 50 in text and "<ol" not in text


def test_a_finding_links_the_further_figures_and_tables_it_refers_to(tmp_path, png):
    f = _findings().assign(see="")
    f.loc[0, "see"] = "table-t1;fig-absent;fig-fig1"
    text = _report(tmp_path, png, findings=f)
    row = text[text.index('class="findings"'):]
    row = row[row.index("<tr><td"):row.index("</tr>", row.index("<tr><td"))]
    # the ones in the report, by the short part of their title; an absent one is left out
    assert row.endswith(' See: <a href="#table-t1">Table</a>, <a href="#fig-fig1">Figure &lt;script&gt;alert(&#x27;x&#x27;)'
                        '&lt;/script&gt;</a>.</td>')
    assert "#fig-absent" not in text
