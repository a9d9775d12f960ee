"""Two sections of the HTML report that a reader works with: the objects and the classes.

- :func:`class_drilldown` builds the per-class table (pure: a tidy DataFrame, one row
  per class) and :func:`classes_html` shows it as one table sortable in the page by
  any column (a small inline script, :data:`SORT_SCRIPT`; without scripts the table
  stays readable in its first order). Classes with fewer than :data:`FEW_POSITIVES`
  positive images are marked in every row and column where they appear.
- :func:`gallery_html` shows the gallery of detected and missed objects
  (:mod:`salanalysis.gallery`'s ``gallery.csv`` and its JPEG thumbnails, embedded as
  base64 so the report stays one file), filterable by class without a script: each
  class's filter link targets an anchor (``#gal-cK``) and a generated CSS rule hides
  the other classes' objects while that anchor is the page's target. The per-class
  table links each class to its filter. When there are no images, a plain statement
  says so and why.

Every string from the inputs (class names, paths) is HTML-escaped; generated ids and
CSS selectors use class indices, never names. The script holds no data: it only reorders
the rows of tables marked ``sortable``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from salanalysis.errors import visible
from salanalysis.formatting import format_number

__all__ = ["FEW_POSITIVES", "SORT_SCRIPT", "GallerySection", "class_drilldown", "classes_html", "gallery_html",
           "gallery_css"]

#: Classes with fewer positive images than this are marked ("few positives") everywhere.
FEW_POSITIVES = 5

#: The report's only script: click a column header of a ``table.sortable`` to sort by it
#: (numbers by their ``data-v`` value, missing last; text alphabetically; again: reversed).
SORT_SCRIPT = """(function () {
  function key(td) {
    var v = td.getAttribute('data-v');
    if (v === null) return [1, td.textContent.trim().toLowerCase()];
    if (v === '') return [2, 0];
    return [0, parseFloat(v)];
  }
  document.querySelectorAll('table.sortable').forEach(function (t) {
    var ths = t.tHead.rows[0].cells;
    Array.prototype.forEach.call(ths, function (th, i) {
      var b = th.querySelector('button.sort');
      if (!b) return;
      b.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(ths, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var rows = Array.prototype.slice.call(t.tBodies[0].rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[i]), y = key(b.cells[i]);
          if (x[0] !== y[0]) return x[0] - y[0];
          if (x[0] === 2) return 0;
          var c = x[1] < y[1] ? -1 : (x[1] > y[1] ? 1 : 0);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { t.tBodies[0].appendChild(r); });
      });
    });
  });
})();"""

_MARK = "\u2020"  # dagger: fewer than FEW_POSITIVES positives


def _e(s: object) -> str:
    """HTML-escaped text with terminal controls and bidi overrides shown (as the rest of the report)."""
    return html.escape(visible(s))


def _first(df: pd.DataFrame, names: Sequence[str]) -> pd.Series | None:
    for n in names:
        if n in df.columns:
            return df[n]
    return None


def class_drilldown(
    per_class: pd.DataFrame,
    *,
    model: str,
    classwise: pd.DataFrame | None = None,
    compare: pd.DataFrame | None = None,
    gallery: pd.DataFrame | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """One row per class of score set ``model``: what the report's class table shows.

    Parameters
    ----------
    per_class
        The per-class metrics (``model``, ``category``, ``n_pos``, ``AP``, ``prevalence``,
        ``chance_AP``; optional AP interval as ``AP_low``/``AP_high`` or ``ci95_low``/``ci95_high``).
    model
        The score set whose AP is shown.
    classwise
        The class-wise means (``category``, ``area_frac``, ``center_dist``, ``sal_max_SOURCE``);
        None: those columns are NaN.
    compare
        The Fig. 4 table (``category``, ``delta``, ``ci95_low``, ``ci95_high``, ``verdict``); None:
        NaN / ''.
    gallery
        ``gallery.csv`` (``category``, ``ann_id``): the number of the class's objects in the gallery.
    source
        Saliency source of ``sal_max`` (default: the first ``sal_max_*`` column of ``classwise``).

    Returns
    -------
    DataFrame
        ``category``, ``n_pos``, ``prevalence``, ``AP``, ``AP_ci95_low``, ``AP_ci95_high`` (NaN
        where the per-class table has no interval, or withheld it), ``chance_AP``, ``area_frac``,
        ``center_dist``, ``sal_max`` (class means over its objects), ``sal_source``, ``delta``,
        ``delta_ci95_low``, ``delta_ci95_high``, ``verdict`` (Fig. 4's, '' without a comparison),
        ``few_positives`` (``n_pos`` < :data:`FEW_POSITIVES`), ``gallery_objects``. Rows in the
        per-class table's order.
    """
    pc = per_class[per_class["model"] == model] if "model" in per_class.columns else per_class
    pc = pc.reset_index(drop=True)
    out = pd.DataFrame({"category": pc["category"].astype(str), "n_pos": pc["n_pos"].astype(np.int64),
                        "prevalence": pc.get("prevalence", pd.Series(np.nan, index=pc.index)).astype(float),
                        "AP": pc["AP"].astype(float)})
    lo, hi = _first(pc, ["AP_low", "ci95_low"]), _first(pc, ["AP_high", "ci95_high"])
    out["AP_ci95_low"] = lo.astype(float).to_numpy() if lo is not None else np.nan
    out["AP_ci95_high"] = hi.astype(float).to_numpy() if hi is not None else np.nan
    out["chance_AP"] = pc.get("chance_AP", pd.Series(np.nan, index=pc.index)).astype(float).to_numpy()
    if source is None and classwise is not None:
        sal = [c for c in classwise.columns if c.startswith("sal_max_")]
        source = sal[0][len("sal_max_"):] if sal else None
    means = ["area_frac", "center_dist", "sal_max"]
    if classwise is not None:
        cw = classwise[classwise["model"] == model] if "model" in classwise.columns else classwise
        cw = cw.drop_duplicates("category").set_index("category")
        for m in means:
            col = f"sal_max_{source}" if m == "sal_max" else m
            out[m] = out["category"].map(cw[col]).astype(float) if col in cw.columns else np.nan
    else:
        for m in means:
            out[m] = np.nan
    out["sal_source"] = source or ""
    if compare is not None and len(compare):
        cmp = compare.drop_duplicates("category").set_index(compare.drop_duplicates("category")["category"]
                                                             .astype(str))
        for a, b in (("delta", "delta"), ("delta_ci95_low", "ci95_low"), ("delta_ci95_high", "ci95_high")):
            out[a] = out["category"].map(cmp[b]).astype(float)
        out["verdict"] = out["category"].map(cmp["verdict"]).fillna("").astype(str)
    else:
        out["delta"] = out["delta_ci95_low"] = out["delta_ci95_high"] = np.nan
        out["verdict"] = ""
    out["few_positives"] = out["n_pos"] < FEW_POSITIVES
    counts = (gallery.drop_duplicates("ann_id")["category"].astype(str).value_counts()
              if gallery is not None and len(gallery) else pd.Series(dtype=np.int64))
    out["gallery_objects"] = out["category"].map(counts).fillna(0).astype(np.int64)
    return out


def _interval(lo: float, hi: float) -> str:
    if pd.isna(lo) or pd.isna(hi):
        return ""
    return f"[{format_number(lo)}, {format_number(hi)}]"


def _num_td(v: float, text: str | None = None) -> str:
    data = "" if pd.isna(v) else repr(float(v))
    return f'<td class="n" data-v="{data}">{html.escape(format_number(v) if text is None else text)}</td>'


def classes_html(drill: pd.DataFrame, *, gallery_ids: Mapping[str, str] | None = None,
                 files_html: str = "") -> str:
    """The per-class table (:func:`class_drilldown`) as a sortable HTML table.

    ``gallery_ids`` maps a class name to the in-page id of its gallery filter (``gal-cK``):
    the class's gallery count links to it.
    """
    e = _e
    gallery_ids = gallery_ids or {}
    cols = [("class", "category"), ("positives", "n_pos"), ("prevalence", "prevalence"), ("AP", "AP"),
            ("AP 95% CI", "AP_ci95_low"), ("chance AP", "chance_AP"), ("mean size (area_frac)", "area_frac"),
            ("mean center distance", "center_dist"), ("mean max saliency", "sal_max"),
            ("Fig. 4 delta", "delta"), ("delta 95% CI", "delta_ci95_low"), ("Fig. 4 verdict", "verdict"),
            ("objects in gallery", "gallery_objects")]
    src = str(drill["sal_source"].iloc[0]) if len(drill) and "sal_source" in drill else ""
    head = "".join(
        f'<th class="{"t" if k in ("category", "verdict") else "n"}" scope="col">'
        f'<button type="button" class="sort">{e(name)}</button></th>' for name, k in cols)
    rows = []
    for _, r in drill.iterrows():
        few = bool(r["few_positives"])
        name = e(str(r["category"])) + (f' <span class="few" title="fewer than {FEW_POSITIVES} positives">'
                                         f"{_MARK}</span>" if few else "")
        gid = gallery_ids.get(str(r["category"]))
        gal = int(r["gallery_objects"])
        gal_cell = f'<a href="#{e(gid)}">{gal}</a>' if gid and gal else str(gal)
        cells = [f'<td class="t">{name}</td>',
                 f'<td class="n" data-v="{int(r["n_pos"])}">{int(r["n_pos"])}{f" {_MARK}" if few else ""}</td>',
                 _num_td(r["prevalence"]), _num_td(r["AP"]),
                 _num_td(r["AP_ci95_low"], _interval(r["AP_ci95_low"], r["AP_ci95_high"])),
                 _num_td(r["chance_AP"]), _num_td(r["area_frac"]), _num_td(r["center_dist"]),
                 _num_td(r["sal_max"]), _num_td(r["delta"]),
                 _num_td(r["delta_ci95_low"], _interval(r["delta_ci95_low"], r["delta_ci95_high"])),
                 f'<td class="t">{e(str(r["verdict"]))}</td>',
                 f'<td class="n" data-v="{gal}">{gal_cell}</td>']
        rows.append(("<tr class=\"few\">" if few else "<tr>") + "".join(cells) + "</tr>")
    n_few = int(drill["few_positives"].sum()) if len(drill) else 0
    no_ci = bool(len(drill)) and drill["AP_ci95_low"].isna().all()
    notes = [f"{len(drill)} classes. Click a column header to sort by it (again to reverse). "
             f"{_MARK} marks the {n_few} class(es) with fewer than {FEW_POSITIVES} positive images: their AP, "
             "delta and means rest on a handful of images."]
    if no_ci:
        notes.append("AP 95% CI: none in this run's per-class table (per-class intervals are withheld or "
                     "were not computed).")
    elif len(drill) and drill["AP_ci95_low"].isna().any():
        lo = int(drill.loc[drill["AP_ci95_low"].notna(), "n_pos"].min())
        notes.append(f"AP 95% CI: the bootstrap interval of Table 1's resamples; empty where it is withheld (here "
                     f"every class with an interval has at least {lo} positive images: below the package's minimum "
                     "no interval held its coverage in the calibration).")
    notes.append("Chance AP: the expected AP of a random ranking of this class's images; prevalence: the "
                 "share of images holding the class. Means are over the class's objects"
                 + (f"; max saliency of source '{e(src)}'." if src else "."))
    return ("".join(f'<p class="note">{t}</p>' for t in notes)
            + '<div class="tw wide"><table class="sortable classes"><thead><tr>' + head
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>" + files_html)


@dataclass
class GallerySection:
    """The gallery as the report shows it.

    ``table`` is ``gallery.csv`` (:func:`salanalysis.gallery.render_gallery`) and ``root``
    the folder its ``file`` paths are relative to; ``table=None`` with ``reason``: no
    gallery, and why. ``files`` are linked under it.
    """

    table: pd.DataFrame | None
    root: Path | None = None
    reason: str = ""
    files: list[Path] = field(default_factory=list)

    def class_ids(self) -> dict[str, str]:
        """Class name -> the id of its filter anchor (``gal-cK``, K by first appearance)."""
        if self.table is None or not len(self.table):
            return {}
        return {c: f"gal-c{k}" for k, c in enumerate(pd.unique(self.table["category"].astype(str)))}


def gallery_css(section: GallerySection | None) -> str:
    """The filter rules: while ``#gal-cK`` is the target, only class K's objects show."""
    ids = section.class_ids() if section is not None else {}
    return "".join(f"#{i}:target~.grid .obj:not(.{i}){{display:none}}"
                   f"#{i}:target~.gfilter a[href='#{i}']{{font-weight:700;text-decoration:none}}"
                   for i in ids.values())


_VALUES = (("size (area_frac)", "area_frac"), ("center distance", "center_dist"), ("max saliency", "sal_max"),
           ("score", "score"), ("objects in image", "n_objects_image"))


def gallery_html(section: GallerySection, *, few: Sequence[str] = ()) -> str:
    """The gallery: a filter line (one link per class) and, per outcome, each object's
    crop with its mask outlined, its saliency overlays and its values. ``few``: class names
    marked as having fewer than :data:`FEW_POSITIVES` positives."""
    e = _e
    if section.table is None or not len(section.table):
        why = section.reason or "the gallery selected no object"
        return f'<p class="missing">No object pictures in this report: {e(why)}.</p>'
    t = section.table.copy()
    t["file"] = t["file"].fillna("").astype(str)
    ids = section.class_ids()
    few = set(few)
    n_obj = t["ann_id"].nunique()
    absent = t[(t["picture"] == "crop") & (t["file"] == "")]["ann_id"].nunique()
    counts = t.drop_duplicates("ann_id")["category"].astype(str).value_counts()
    parts = ['<div class="gallery">', '<span id="gal-all" class="gt"></span>']
    parts += [f'<span id="{i}" class="gt"></span>' for i in ids.values()]
    model = str(t["model"].iloc[0]) if "model" in t else ""
    source = str(t["source"].iloc[0]) if "source" in t and pd.notna(t["source"].iloc[0]) else ""
    parts.append(f'<p class="note">{n_obj} objects of score set <code>{e(model)}</code>, chosen per outcome by '
                 "four rules: the largest, the most salient (highest max saliency"
                 + (f" of <code>{e(source)}</code>" if source else "")
                 + "), the most typical (nearest the outcome's median size, center distance and saliency) and "
                 "the most surprising (missed: large, salient and central; detected: small, faint and "
                 "peripheral). Each crop outlines the object's mask; a second picture overlays the saliency "
                 "map where the image has one.</p>")
    if absent:
        parts.append(f'<p class="missing">{absent} of {n_obj} objects have no picture: their image is not in '
                     "the images folder.</p>")
    links = ['<a href="#gal-all">all classes</a>'] + [
        f'<a href="#{i}">{e(c)}{" " + _MARK if c in few else ""} ({int(counts.get(c, 0))})</a>'
        for c, i in ids.items()]
    parts.append('<p class="gfilter">Show: ' + " \u00b7 ".join(links) + "</p>")
    for outcome in ("detected", "missed"):
        g = t[t["outcome"] == outcome]
        parts.append(f'<h4 class="grid-h">{e(outcome.capitalize())} objects '
                     f'({g["ann_id"].nunique()})</h4><div class="grid">')
        if g.empty:
            parts.append(f'<p class="note">No {e(outcome)} object.</p>')
        for _, o in g.groupby("ann_id", sort=False):
            r = o.iloc[0]
            cat = str(r["category"])
            pics = []
            for _, p in o.iterrows():
                if not p["file"] or section.root is None or not (section.root / p["file"]).is_file():
                    continue
                data = base64.b64encode((section.root / p["file"]).read_bytes()).decode("ascii")
                what = "crop, mask outlined" if p["picture"] == "crop" else \
                    f"saliency {str(p['picture']).split(':', 1)[-1]}"
                pics.append(f'<img alt="{e(cat)}: {e(what)}" src="data:image/jpeg;base64,{data}">')
            vals = "".join(f"<dt>{e(lab)}</dt><dd>{e(format_number(r[k]) or 'n/a')}</dd>"
                           for lab, k in _VALUES if k in r.index)
            parts.append(f'<figure class="obj {ids[cat]}">{"".join(pics) or "<p>(no image)</p>"}'
                         f"<figcaption><b>{e(cat)}</b>{' ' + _MARK if cat in few else ''} \u00b7 "
                         f"{e(str(r['rule']))}<dl>{vals}</dl></figcaption></figure>")
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)
