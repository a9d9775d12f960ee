"""The report's style sheet: screen, narrow screens (phone width) and print.

- Screen: tables whole (never a box of fixed height); a table too wide for the page
  scrolls sideways in its own box with its first column in view; verdict badges by
  colour (Okabe-Ito), marker and words.
- Narrow screens (at most 700 px): every table scrolls in its own box with its first
  column in view; the page itself is never wider than the screen.
- Print: the paper size the reader chose (no named pages of another size); every row of
  every table within the page width, text never under 6 pt; a heading kept with what
  follows it, a caption with its table; figures fit the page.
"""

__all__ = ["CSS"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin-bottom:.3em}a{color:#0b5cad}
table{border-collapse:separate;border-spacing:0;font-size:.8em}
th,td{padding:2px 6px;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{background:#f4f4f4;text-align:left;position:sticky;top:0;z-index:1}th.n{text-align:right}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.t{white-space:nowrap}
td.long{white-space:normal;min-width:14em;max-width:30em;overflow-wrap:anywhere}td.mark a{margin-right:.2em}
tr.rh th{position:static}
.tw{margin:.4em 0}.tw.wide{overflow-x:auto;border:1px solid #ddd}
.tw.wide th{position:static}.tw.wide tr>:first-child{position:sticky;left:0;background:#fff;z-index:1}
.tw.wide thead tr>:first-child{background:#f4f4f4;z-index:2}
table.kv th{position:static;width:18em}table.kv td{min-width:20em}
p.same{font-size:.8em;color:#444;margin:.3em 0}ol.tnotes{font-size:.8em;color:#444;margin:.3em 0 .6em;
padding-left:2em}p.files{font-size:.85em;color:#555}p.files a{font-family:ui-monospace,monospace;font-size:.95em}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee;box-sizing:border-box}
figcaption{font-size:.9em;color:#333}.note{font-size:.85em;color:#555}
.missing{background:#fff6e5;border-left:4px solid #E69F00;padding:.5em 1em}code{font-size:.9em}
nav.toc{background:#f8f8f8;border:1px solid #e3e3e3;padding:.3em 1em;font-size:.9em}
nav.toc h2{margin:.3em 0;border:0;font-size:1.05em}nav.toc ol{margin:.2em 0;padding-left:1.4em}
nav.toc ol ol{columns:2;column-gap:2em;font-size:.95em}nav.toc li{break-inside:avoid}
.diag{padding:.4em .8em;margin:.4em 0;font-size:.9em;border-left:4px solid}
.diag.warning{background:#fff3e0;border-color:#D55E00}.diag.note{background:#eef6fc;border-color:#0072B2}
.diag b{margin-right:.3em}
table.findings{width:100%;font-size:.85em}table.findings th{position:static}
table.findings td{white-space:normal}table.findings td.v{min-width:8em}table.findings td.claim{min-width:12em}
table.findings td.detail{color:#444;min-width:12em}
.verdict,.diag,.missing{print-color-adjust:exact;-webkit-print-color-adjust:exact}
.verdict{display:inline-block;padding:1px 6px;border-radius:3px;border:1px solid;white-space:nowrap;
font-weight:600}
.v-same{background:#d9f2ea;border-color:#009E73;color:#00573f}
.v-weak{background:#e3f1fa;border-color:#56B4E9;color:#0b4f75}
.v-opp{background:#fbe3d6;border-color:#D55E00;color:#8a3300}
.v-inc{background:#fdf0d5;border-color:#E69F00;color:#6b4a00}
.v-na{background:#eee;border-color:#999;color:#444}
.v-nc{background:#f3eef7;border-color:#CC79A7;color:#5e2a4d}
.reading{background:#f6f8fa;border:1px solid #d0d7de;border-left:4px solid #0072B2;padding:.4em 1em;
margin:.6em 0;font-size:.9em}.reading h3{margin:.3em 0}.reading ul{margin:.2em 0;padding-left:1.2em}
ul.verdicts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.5em 1.2em;margin:.5em 0}
.gt{display:block;height:0}p.gfilter{font-size:.9em;line-height:1.8}h4.grid-h{margin:.8em 0 .3em}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.grid figure.obj{width:200px;margin:0;padding:4px;border:1px solid #ddd;font-size:.8em;break-inside:avoid}
.obj img{width:96px;height:auto;margin-right:2px;border:0}.obj dl{display:grid;grid-template-columns:auto auto;
gap:0 .5em;margin:.2em 0 0}.obj dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
button.sort{all:unset;cursor:pointer;font-weight:700}button.sort:focus-visible{outline:2px solid #0b5cad}
th[aria-sort=ascending] button.sort::after{content:" \2191"}th[aria-sort=descending] button.sort::after{content:" \2193"}
tr.few>td{background:#fff8e6}span.few{color:#8a3300;font-weight:700}
@media screen and (max-width:700px){
body{margin:.5em auto;padding:0 .6em}.tw{overflow-x:auto;border:1px solid #ddd}
.tw th,table.findings th{position:static}.tw tr>:first-child{position:sticky;left:0;background:#fff;z-index:1}
.tw thead tr>:first-child{background:#f4f4f4;z-index:2}tr.few>td:first-child{background:#fff8e6}
table.findings{width:auto}table.findings td.claim,table.findings td.detail{min-width:14em}
table.findings td.v{min-width:12em}
td.long{min-width:10em}table.kv th{width:auto}table.kv td{min-width:0;overflow-wrap:anywhere}
nav.toc ol ol{columns:1}.grid figure.obj{width:calc(50% - 14px)}.obj img{width:48%}
}
@page{margin:12mm}
@media print{
body{max-width:none;margin:0;padding:0;font-size:9pt}
h2,h3,h4{break-after:avoid;page-break-after:avoid}a{color:inherit;text-decoration:none}
section>p,p.same,h3+p{break-after:avoid;page-break-after:avoid}
.tw,.tw.wide{overflow:visible;border:0}table{font-size:6.5pt;width:100%}
.tw.wide table{font-size:6pt}
th,.tw.wide tr>:first-child{position:static}thead{display:table-header-group}tr{break-inside:avoid}
th{print-color-adjust:exact;-webkit-print-color-adjust:exact}
th,td{padding:1px 3px;overflow-wrap:anywhere}td.n,td.t,.verdict{white-space:normal}
td.long,table.findings td.v,table.findings td.claim,table.findings td.detail{min-width:0;overflow-wrap:anywhere}
tr.rh{display:none}button.sort{font-weight:700}
figure{break-inside:avoid}figure img{max-width:100%;max-height:22cm;object-fit:contain}
nav.toc ol ol{columns:3}.diag,.missing{break-inside:avoid}
}
"""
