"""The report as a reader sees it: rendered in headless Chromium, driven by Playwright.

Run by ``make report-check`` (not by ``make test``: marked ``browser``). On the
bundled demo with its real findings, on the demo with hand-made findings and
diagnostics that name real figures and tables, and on a small data set whose names
hold HTML (and that has no images folder), it checks that

- the page logs no console error, raises no script error, fetches nothing and
  opens no dialog (the ``<script>`` in the data stays text; the page's one script
  only sorts the class table, and sorting works);
- every figure and every object thumbnail is embedded and decodes; the gallery's
  class filter shows only the chosen class's objects; without images the page says so;
- at phone width (390 px) nothing makes the page wider than the screen, every table
  wider than its column scrolls in its own box with its first column in view, and
  figures show their column-width drawing;
- no table hides rows: no box around a table clips or scrolls vertically; a table
  either fits its column or sits in a box that scrolls sideways; a narrow table's
  header stays in view while the page scrolls through it;
- every in-page link resolves, and every other link is a relative path to a file
  that exists under the output folder;
- printed (print media, at the width of an A4 portrait page, the narrower of A4 and
  Letter), every row of every table is shown and nothing is wider than the paper; the
  PDF printed on Letter (and on A4) has pages of that one size only.

Chromium: the Debian package (``apt-get install -y chromium``), found on PATH as
``chromium`` or ``chromium-browser``, or named by ``$CHROMIUM``; Playwright: the
``browser`` extra (``pip install -e ".[browser]"``; it never downloads a browser
of its own here). Without them the tests skip, saying so; with
``SALANALYSIS_REQUIRE_BROWSER=1`` (set by ``make report-check``) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import pandas as pd
import pytest

pytestmark = pytest.mark.browser

#: Content width of an A4 page at the report's print margins, in CSS pixels (96 per inch).
A4_PORTRAIT_PX = int((210 - 2 * 12) / 25.4 * 96)   # 703 (Letter: 725)
#: A phone's width in CSS pixels.
PHONE_PX = 390


def _chromium() -> str | None:
    """$CHROMIUM (a name or path) when set, else ``chromium`` or ``chromium-browser`` on PATH."""
    names = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else ["chromium", "chromium-browser"]
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


def _unavailable() -> str | None:
    if _chromium() is None:
        return ("no Chromium found (install it with `apt-get install -y chromium`, or name it in $CHROMIUM): "
                "the report was NOT checked in a browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("Playwright is not installed (pip install -e '.[browser]'): the report was NOT checked in a "
                "browser")
    return None


_WHY = _unavailable()
if _WHY is not None:
    if os.environ.get("SALANALYSIS_REQUIRE_BROWSER") == "1":
        raise RuntimeError(_WHY)
    pytest.skip(_WHY, allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402
from test_reproduce import make_tiny  # noqa: E402  (tests/ is on sys.path under pytest)

from salanalysis.config import demo_config, load_config  # noqa: E402
from salanalysis.reproduce import main as reproduce_main  # noqa: E402
from salanalysis.reproduce import reproduce  # noqa: E402


def _findings(cfg, tables):
    """Hand-made findings and diagnostics that name the run's real figures and tables."""
    findings = pd.DataFrame([
        ("Fig. 2", "detected objects are larger than missed ones", "t = 25.25", "t = -4.6", "[-0.08, -0.03]",
         "opposite", "image-clustered t, n = 830", "fig-fig2_tpfn"),
        ("Sec. 3.2", "class AP rises with object size", "r = 0.278", "r = -0.28", "[-0.48, -0.05]",
         "same direction, not significant", "Pearson r, 70 classes", "table-classwise_correlations"),
        ("Fig. 4", "70 of 80 categories improve", "70 of 80", "51 of 70", "", "same direction, significant",
         "paired bootstrap", "fig-fig4_category_delta"),
        ("Table 1", "a row of the paper", "72.5", "", "", "not available", "", ""),
    ], columns=["section", "claim", "paper", "this_run", "interval", "verdict", "detail", "anchor"])
    diagnostics = pd.DataFrame([
        ("fig-fig2_tpfn", "warning", "missed objects come from more cluttered images"),
        ("table-per_class", "warning", "the scores carry no information: mean ROC AUC 0.50"),
        ("", "note", "a note about no figure"),
    ], columns=["anchor", "severity", "text"])
    return findings, diagnostics


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("browser")
    real = reproduce(demo_config(), root / "real").report
    shutil.copytree(root / "real", root / "demo")  # with its cache: only the report is made again
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reproduce_main, "_findings", _findings)
        demo = reproduce(demo_config(), root / "demo").report
    tiny = reproduce(load_config(make_tiny(root / "data")), root / "tiny").report
    return [real, demo, tiny]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium())
        yield b
        b.close()


def _open(browser, report: Path, width: int = 1280, media: str = "screen"):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(
        f"fetched: {r.url}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.emulate_media(media=media)
    page.goto(report.as_uri(), wait_until="load")
    return page, problems


_CLIPPING = """(sideways = '.tw') => {
  const bad = [];
  for (const t of document.querySelectorAll('table')) {
    const id = (t.closest('[id]') || {}).id || t.className;
    for (let e = t.parentElement; e && e !== document.body; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.overflowY !== 'visible' && e.scrollHeight > e.clientHeight + 1)
        bad.push(`${id}: a box of ${e.clientHeight}px hides ${e.scrollHeight - e.clientHeight}px of rows`);
      if (s.maxHeight !== 'none') bad.push(`${id}: a box with max-height ${s.maxHeight}`);
    }
    for (const r of t.rows)
      if (r.getBoundingClientRect().height === 0 && !r.classList.contains('rh')) bad.push(`${id}: a hidden row`);
    const w = t.parentElement;
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(w).overflowX);
    if (w.matches(sideways) && t.offsetWidth > w.clientWidth + 1 && !scrolls)
      bad.push(`${id}: ${t.offsetWidth}px wide in ${w.clientWidth}px, cut without a scroll bar`);
  }
  return bad;
}"""


def test_report_in_chromium_loads_cleanly_and_decodes_every_image(browser, reports):
    for report in reports:
        page, problems = _open(browser, report)
        n_img = page.evaluate("document.images.length")
        decoded = page.evaluate("""async () => {
          const out = [];
          for (const img of document.images) {
            try { await img.decode(); out.push(img.naturalWidth > 0 && img.complete); }
            catch (e) { out.push(false); }
          }
          return out;
        }""")
        # one embedded image per figure (the page-width PNG; the column-width one is its narrow-screen
        # <source>), the gallery figure shown as the gallery's thumbnails instead
        figures = len([p for p in (report.parent / "figures").glob("*.png")
                       if not p.stem.endswith("_column") and p.stem != "fig_gallery"])
        thumbs = page.evaluate("document.querySelectorAll('#gallery .obj img').length")
        assert n_img == figures + thumbs and figures >= 4 and all(decoded), (report, decoded)
        if (report.parent / "figures" / "fig_gallery.png").is_file():
            assert thumbs >= 8, thumbs
            # the class filter: following a class's link shows only that class's objects
            link = page.evaluate("document.querySelectorAll('p.gfilter a')[1].getAttribute('href')")
            page.goto(report.as_uri() + link, wait_until="load")
            shown = page.evaluate("[...document.querySelectorAll('.obj')].filter(o => o.offsetParent)"
                                  ".map(o => o.classList.contains(location.hash.slice(1)))")
            assert shown and all(shown) and len(shown) < page.evaluate("document.querySelectorAll('.obj').length")
        else:
            assert "No object pictures in this report" in page.inner_text("#gallery")
        # the one script sorts the class table by a column it is clicked on, then reverses
        assert page.evaluate("document.querySelectorAll('script').length") == 1
        for order in ("ascending", "descending"):
            page.click("#classes table.sortable thead th:nth-child(2) button")
            vals = page.evaluate("[...document.querySelectorAll('#classes tbody tr')].map("
                                 "r => parseFloat(r.cells[1].getAttribute('data-v')))")
            assert vals == sorted(vals, reverse=order == "descending"), order
        assert not problems, problems
        page.close()


def test_no_table_hides_rows_and_headers_stay_in_view(browser, reports):
    for report in reports:
        page, problems = _open(browser, report)
        assert page.evaluate(_CLIPPING) == [], report
        # a long narrow table: half way through it, its header row is at the top of the window
        long_narrow = page.evaluate("""() => {
          const t = [...document.querySelectorAll('.tw:not(.wide) > table')].sort(
            (a, b) => b.rows.length - a.rows.length)[0];
          window.scrollTo(0, t.getBoundingClientRect().top + window.scrollY + t.offsetHeight / 2);
          return [t.rows.length, t.tHead.rows[0].cells[0].getBoundingClientRect().top];
        }""")
        assert long_narrow[0] > 30 and abs(long_narrow[1]) <= 1, long_narrow
        # a table wider than the page scrolls sideways and keeps its first column in view
        wide = page.evaluate("""() => [...document.querySelectorAll('.tw.wide')].map(w => [
            getComputedStyle(w).overflowX, w.scrollWidth > w.clientWidth,
            getComputedStyle(w.querySelector('tbody td')).position])""")
        assert wide and all(o == "auto" and s == "sticky" for o, _, s in wide), wide
        assert any(scrolls for _, scrolls, _ in wide)
        assert not problems, problems
        page.close()


def test_every_link_resolves(browser, reports):
    for report in reports:
        page, _ = _open(browser, report)
        hrefs = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
        internal = [h[1:] for h in hrefs if h.startswith("#")]
        missing = page.evaluate("ids => ids.filter(i => !document.getElementById(i))", internal)
        assert internal and not missing, missing
        files = [h for h in hrefs if not h.startswith("#")]
        assert files
        for h in files:
            assert "://" not in h and not h.startswith("/"), h
            assert (report.parent / unquote(h)).is_file(), h
        # the contents name every figure and table of the page
        toc = set(page.evaluate("[...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'))"))
        ids = page.evaluate("[...document.querySelectorAll('figure[id], section[id^=table-]')].map(e => e.id)")
        assert ids and {f"#{i}" for i in ids} <= toc
        page.close()


def test_at_phone_width_tables_scroll_in_their_own_box_and_figures_use_the_column_drawing(browser, reports):
    for report in reports:
        page, problems = _open(browser, report, width=PHONE_PX)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_PX, report
        assert page.evaluate(_CLIPPING) == [], report
        unboxed = page.evaluate("""() => [...document.querySelectorAll('table')].filter(t => {
            const w = t.parentElement;
            return t.offsetWidth > w.clientWidth + 1 && !['auto', 'scroll'].includes(getComputedStyle(w).overflowX);
          }).map(t => (t.closest('[id]') || {}).id)""")
        assert not unboxed, unboxed
        boxed = page.evaluate("""() => [...document.querySelectorAll('.tw')].filter(w => w.scrollWidth > w.clientWidth)
            .map(w => getComputedStyle(w.querySelector('tbody td')).position)""")
        assert boxed and all(p == "sticky" for p in boxed), boxed
        # the findings' value columns are reachable: in a box that scrolls, not off the page
        if page.evaluate("!!document.querySelector('table.findings')"):
            assert page.evaluate("getComputedStyle(document.querySelector('table.findings').parentElement)"
                                 ".overflowX") == "auto"
        cols = page.evaluate("""() => [...document.querySelectorAll('figure picture')].map(p =>
            p.querySelector('img').currentSrc === p.querySelector('source').getAttribute('srcset'))""")
        assert cols and all(cols), cols
        assert not problems, problems
        page.close()


def _page_sizes(pdf: bytes) -> set[bytes]:
    import re

    return set(re.findall(rb"/MediaBox \[([^\]]*)\]", pdf))


def test_printed_report_shows_every_row_within_the_paper(browser, reports):
    for report in reports:
        for width, which in ((A4_PORTRAIT_PX, ".tw"),):
            # every table prints on the reader's paper (no page of another size)
            page, problems = _open(browser, report, width=width, media="print")
            assert page.evaluate(_CLIPPING, which) == []
            too_wide = page.evaluate(f"""() => [...document.querySelectorAll('{which} > table')]
                .filter(t => t.offsetWidth > {width} + 1)
                .map(t => `${{(t.closest('[id]') || {{}}).id}}: ${{t.offsetWidth}}px`)""")
            assert not too_wide, (width, too_wide)
            styles = page.evaluate("""() => [...document.querySelectorAll('.tw')].map(w => [
                getComputedStyle(w).overflowX, getComputedStyle(w.querySelector('th')).position])""")
            assert all(o == "visible" and p == "static" for o, p in styles), styles
            imgs = page.evaluate("[...document.images].every(i => i.getBoundingClientRect().right <= document.documentElement.clientWidth + 1)")
            assert imgs
            assert not problems, problems
            page.close()
        # the PDFs Chromium prints: Letter stays Letter, A4 stays A4, on every page
        page, _ = _open(browser, report)
        for fmt, size in (("Letter", (612, 792)), ("A4", (595, 842))):  # points: 8.5 x 11 in, 210 x 297 mm
            pdf = page.pdf(format=fmt, prefer_css_page_size=True)
            assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") > 3
            sizes = _page_sizes(pdf)
            assert len(sizes) == 1, (fmt, sizes)
            w, h = (float(v) for v in sizes.pop().split()[2:])
            assert abs(w - size[0]) < 2 and abs(h - size[1]) < 2, (fmt, w, h)
        page.close()
