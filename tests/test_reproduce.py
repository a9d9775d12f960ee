"""``salanalysis reproduce``: every promised file, the report, the cache, escaping, the class prior."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from salanalysis import cli
from salanalysis.config import demo_config, load_config
from salanalysis.figures import FIGURES
from salanalysis.maps import write_results_json
from salanalysis.report_sections import SORT_SCRIPT
from salanalysis.reproduce import TABLES, reproduce
from salanalysis.score_baselines import CLASS_PRIOR_LABEL, class_prior_scores

EVIL = "<script>alert(1)</script>"


class _Collect(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def _stages(out: Path) -> dict[str, str]:
    data = json.loads((out / "stages.json").read_text())
    return {s["stage"]: s["status"] for s in data["stages"]}


def make_tiny(root: Path, *, n_images: int = 40, seed: int = 0,
              names: tuple[str, ...] = (EVIL, "cat", "dog & co")) -> Path:
    """A small synthetic COCO set (squares), two score files, a map folder and a config."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    cats = [{"id": i + 1, "name": n, "supercategory": "x"} for i, n in enumerate(names)]
    images, anns, aid = [], [], 1
    for i in range(n_images):
        w, h = 64, 48
        images.append({"id": i + 1, "file_name": f"img_{i + 1:04d}.jpg", "width": w, "height": h})
        for _ in range(int(rng.integers(1, 5))):
            x, y = float(rng.integers(0, w - 10)), float(rng.integers(0, h - 10))
            bw, bh = float(rng.integers(3, min(30, w - x))), float(rng.integers(3, min(30, h - y)))
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(rng.integers(1, len(names) + 1)),
                         "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]],
                         "area": bw * bh, "bbox": [x, y, bw, bh], "iscrowd": 0})
            aid += 1
    (root / "ann.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    lab = np.zeros((n_images, len(names)), bool)
    for a in anns:
        lab[a["image_id"] - 1, a["category_id"] - 1] = True
    for k, noise in (("a", 0.6), ("b", 0.3)):
        s = np.clip(lab * 0.7 + rng.normal(0, noise, lab.shape) * 0.5 + 0.15, 0, 1)
        rows = ["image_id,category_id,score"] + [
            f"{i + 1},{c + 1},{s[i, c]:.6f}" for i in range(n_images) for c in range(len(names))
        ]
        (root / f"scores_{k}.csv").write_text("\n".join(rows) + "\n")
    maps = root / "maps"
    maps.mkdir(exist_ok=True)
    for i in range(0, n_images, 2):
        cv2.imwrite(str(maps / f"img_{i + 1:04d}.png"), rng.integers(0, 256, (24, 32), dtype=np.uint8))
    cfg = root / "cfg.toml"
    cfg.write_text(
        '[inputs]\nannotations = "ann.json"\n[saliency]\nrand = "maps"\n'
        f'[scores.a]\npath = "scores_a.csv"\nlabel = "model {EVIL}"\n'
        '[scores.b]\npath = "scores_b.csv"\n[analysis]\nn_boot = 100\nmin_images = 3\njobs = 1\n'
    )
    return cfg


# ------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    first = reproduce(demo_config(), out)
    return out, first


def test_demo_writes_every_promised_file(demo_run, demo_ann):
    out, res = demo_run
    expected = [out / "report.html", out / "config.resolved.toml", out / "stages.json",
                out / "objects.parquet", out / "images.csv"]
    expected += [out / "tables" / f"{name}.{ext}" for name in TABLES for ext in ("csv", "md", "tex")]
    # no checkpoints in the demo: every figure but Fig. 5
    expected += [out / "figures" / f"{name}.{ext}" for name in FIGURES if name != "fig5_cam"
                 for ext in ("pdf", "png")]
    missing = [str(p) for p in expected if not p.is_file() or p.stat().st_size == 0]
    assert not missing
    assert set(expected) <= set(res.files)
    assert all(Path(f).is_file() for f in res.files)
    assert not (out / "figures" / "fig5_cam.png").exists()
    # the one thing not produced, with its reason
    assert [w for w, _ in res.not_produced] == ["Fig. 5 (class activation maps)"]
    assert "checkpoints" in res.not_produced[0][1]
    # no temporary files left behind
    assert not [p for p in out.rglob("*.part*")]
    # PDFs embed TrueType fonts
    pdf = (out / "figures" / "fig2_tpfn.pdf").read_bytes()
    assert b"/FontFile2" in pdf and b"/Type3" not in pdf
    # the object table is the objects module's: one row per non-crowd instance (839 - 9 crowd)
    objects = pd.read_parquet(out / "objects.parquet")
    assert len(objects) == 830
    assert {"score_detections", "detected_prior", "sal_max_salicon", "sal_max_center"} <= set(objects.columns)
    # inputs with provenance and counts: only images 192 and 208 have a SALICON map
    inputs = pd.read_csv(out / "tables" / "inputs.csv")
    row = inputs[(inputs["name"] == "salicon") & (inputs["item"] == "objects without a map (NaN)")]
    inst = demo_ann.instances_for(False)
    assert int(row["value"].iloc[0]) == int((~inst["image_id"].isin([192, 208])).sum())
    assert int(objects["sal_max_salicon"].notna().sum()) == int(inst["image_id"].isin([192, 208]).sum())
    sha = inputs.loc[inputs["kind"] == "annotations", "sha256"].iloc[0]
    import hashlib

    assert hashlib.sha256(demo_ann.path.read_bytes()).hexdigest().startswith(sha)
    # the resolved configuration reruns as is
    again = load_config(out / "config.resolved.toml")
    assert [s.name for s in again.scores] == ["prior", "detections"]
    assert again.compare == ("prior", "detections") and again.min_images == 5


def test_demo_report_parses_and_embeds_every_figure(demo_run):
    out, res = demo_run
    p = _parse(out / "report.html")
    html_text = (out / "report.html").read_text(encoding="utf-8")
    text = " ".join(p.text)
    all_imgs = [a["src"] for t, a in p.tags if t == "img"]
    imgs = [s for s in all_imgs if s.startswith("data:image/png;base64,")]
    thumbs = [s for s in all_imgs if s.startswith("data:image/jpeg;base64,")]
    # every figure but Fig. 5 and the gallery figure (shown as the gallery of thumbnails instead)
    assert len(imgs) == len(FIGURES) - 2 and len(imgs) + len(thumbs) == len(all_imgs)
    for src in imgs:
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    shown = [n for n in FIGURES if n not in ("fig5_cam", "fig_gallery")]
    # embedded exactly the written PNGs; the column-width ones as the narrow screen's <source>
    written = {base64.b64encode((out / "figures" / f"{n}.png").read_bytes()).decode() for n in shown}
    assert {s.split(",", 1)[1] for s in imgs} == written
    sources = [a["srcset"] for t, a in p.tags if t == "source"]
    assert {s.split(",", 1)[1] for s in sources} == {
        base64.b64encode((out / "figures" / f"{n}_column.png").read_bytes()).decode() for n in shown}
    # the gallery: one JPEG per picture of gallery.csv that has a file, each a JPEG
    gal_csv = pd.read_csv(next((out / ".cache" / "gallery").rglob("gallery.csv")))
    assert len(thumbs) == int(gal_csv["file"].notna().sum()) > 0
    assert all(base64.b64decode(s.split(",", 1)[1])[:2] == b"\xff\xd8" for s in thumbs)
    ids = {a.get("id") for _, a in p.tags}
    assert {f"table-{n}" for n in TABLES} <= ids and {"gallery", "classes"} <= ids
    assert {f"gal-c{k}" for k in range(gal_csv["category"].nunique())} <= ids
    # the one script is the sorter of the class table; no other active content
    scripts = [t for t, _ in p.tags if t == "script"]
    assert len(scripts) == 1 and SORT_SCRIPT in (out / "report.html").read_text(encoding="utf-8")
    assert not [t for t, a in p.tags if t == "link" or (t == "img" and "http" in a["src"][:8])]
    assert not [(t, k) for t, a in p.tags for k in a if k.lower().startswith("on")]
    # the demo report stays one file well under 10 MB
    assert (out / "report.html").stat().st_size < 10 * 2**20
    # the per-class table: one row per class of the primary score set, as the per-class metrics say
    classes = pd.read_csv(out / "tables" / "classes.csv")
    per_class = pd.read_csv(out / "tables" / "per_class.csv")
    det = per_class[per_class["model"] == "detections"].reset_index(drop=True)
    assert classes["category"].tolist() == det["category"].tolist()
    assert np.allclose(classes["AP"], det["AP"], equal_nan=True)
    assert (classes["few_positives"] == (det["n_pos"] < 5)).all()
    # each class's AP interval from Table 1's resamples, withheld below 21 positive images (only 'person' here)
    from salanalysis.metrics import MIN_POS_INTERVAL

    has = classes["AP_ci95_low"].notna()
    assert has.any() and (classes.loc[has, "n_pos"] >= MIN_POS_INTERVAL).all()
    assert (classes.loc[has, "AP_ci95_low"] <= classes.loc[has, "AP"]).all()
    assert (classes.loc[has, "AP"] <= classes.loc[has, "AP_ci95_high"]).all()
    assert np.allclose(classes["AP_ci95_low"], det["AP_low"], equal_nan=True)
    # the demo compares with the class prior: its comparison rows carry no paper verdict, the box says why
    assert "Reading this run" in text and "\u2260 not comparable" in text
    findings = html_text[html_text.index('class="findings"'):html_text.index("</table>", html_text.index('class="findings"'))]
    for row in findings.split("<tr>")[2:]:
        if any(f">{sec}<" in row for sec in ("Sec. 5.3", "Sec. 5.4", "Fig. 4", "Table 1")):
            assert "not comparable" in row, row[:200]
    # the interval column holds intervals only, signed; one number format (fractions: no percent, no "points")
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in findings.split("<tr>")[2:]]
    intervals = [c[5] for c in cells if len(c) > 5 and c[5]]
    interval = r"\[[+-]?[\d.]+, [+-]?[\d.]+\]"
    assert intervals and all(re.fullmatch(rf"{interval}( -&gt; {interval})?", i) for i in intervals), intervals
    assert not re.search(r"\d %|\dpoints| points", findings)
    text = " ".join(p.text)
    assert "class-prior baseline (not a model)" in text and "sample detections" in text
    assert "no model checkpoints are configured" in text
    assert text.count("instances_val2014_100.json") == 1  # provenance, listed once
    # every in-page link resolves; every file link is relative and names a file under OUT
    hrefs = [a["href"] for t, a in p.tags if t == "a"]
    assert {h[1:] for h in hrefs if h.startswith("#")} <= ids
    files = [h for h in hrefs if not h.startswith("#")]
    assert "tables/table1.csv" in files and "figures/fig2_tpfn.pdf" in files and "stages.json" in files
    assert {"objects.parquet", "images.csv", "tables/classes.csv", "tables/gallery_objects.csv",
            "figures/fig_gallery.pdf"} <= set(files)
    assert len(pd.read_csv(out / "tables" / "gallery_objects.csv")) == gal_csv["ann_id"].nunique()  # one row per object
    assert {f"tables/{n}.csv" for n in TABLES} <= set(files)
    assert all(not Path(h).is_absolute() and (out / h).is_file() for h in files)
    # one number format: no scientific notation anywhere in the tables, p-values as the policy says
    html_text = (out / "report.html").read_text(encoding="utf-8")
    assert not re.search(r">-?\d(\.\d+)?e[+-]\d+<", html_text)
    assert "&lt; 1e-4" in html_text
    # COCO's 80 categories: the paper's published rows are in Table 1 ("auto")
    t1 = pd.read_csv(out / "tables" / "table1.csv")
    assert (t1["source"] != "computed").sum() == 15
    assert "RSN-50 Dual-stream" in text and "shown (the annotation file lists COCO's 80 categories)" in text
    # the class prior's logistic models are left out of the report, with the reason; the file keeps them
    section = html_text[html_text.index('id="table-detection_models"'):]
    section = section[:section.index("</section>")]
    assert "are left out: under it every object of a class has the same detected/missed outcome" in section
    assert "<td class=\"t\">prior</td>" not in section and "model</code> = detections" in section
    assert set(pd.read_csv(out / "tables" / "detection_models.csv")["model"]) == {"prior", "detections"}


def test_second_run_reuses_the_cache_and_force_recomputes_nothing_else(demo_run):
    out, first = demo_run
    assert {r.stage: r.status for r in first.stages}["objects"] == "computed"
    report = (out / "report.html").read_bytes()
    assert cli.main(["reproduce", "--out", str(out), "--quiet"]) == 0
    assert (out / "report.html").read_bytes() == report  # byte for byte, computed or cached
    status = _stages(out)
    assert status.pop("cam") == "skipped"
    assert set(status.values()) == {"cached"}, status
    # the cached tables are the computed ones
    t = pd.read_csv(out / "tables" / "compare_categories.csv")
    assert len(t) == 70 and t["delta"].is_monotonic_decreasing


# ------------------------------------------------------ a small custom config
def test_custom_config_escaping_cache_keys_and_force(tmp_path):
    cfg_path = make_tiny(tmp_path / "data")
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    first = _stages(out)
    assert first["compare"] == "computed" and first["maps"] == "computed"

    # input-derived text is escaped: the category and the label hold '<script>'
    html_text = (out / "report.html").read_text(encoding="utf-8")
    # the page's one script is the class table's sorter, never text of the inputs
    assert html_text.lower().count("<script") == 1 and f"<script>{SORT_SCRIPT}</script>" in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    p = _parse(out / "report.html")
    assert [t for t, _ in p.tags if t == "script"] == ["script"]
    assert EVIL in " ".join(p.text)  # shown as text
    assert EVIL in pd.read_csv(out / "tables" / "compare_categories.csv")["category"].tolist()
    assert r"\textless{}script\textgreater{}" in (out / "tables" / "per_class.tex").read_text()
    # three made-up classes, not COCO's 80: no published rows ("auto")
    assert set(pd.read_csv(out / "tables" / "table1.csv")["source"]) == {"computed"}
    assert "not shown (the annotation file&#x27;s categories are not COCO&#x27;s 80)" in html_text

    # changing one score file invalidates exactly what depends on it
    scores_b = tmp_path / "data" / "scores_b.csv"
    df = pd.read_csv(scores_b)
    df.loc[0, "score"] = 1.0 - df.loc[0, "score"]
    df.to_csv(scores_b, index=False)
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    second = _stages(out)
    assert second["maps"] == "cached"
    for stage in ("inputs", "objects", "metrics", "stats", "clutter", "compare", "figures"):
        assert second[stage] == "computed", stage
    # unchanged inputs: all cached; --force: all computed; the report the same bytes each time
    report = (out / "report.html").read_bytes()
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    assert set(_stages(out).values()) - {"skipped"} == {"cached"}
    assert (out / "report.html").read_bytes() == report
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet", "--force"]) == 0
    assert set(_stages(out).values()) - {"skipped"} == {"computed"}
    assert (out / "report.html").read_bytes() == report
    # published rows on request, whatever the classes: the metrics stage (only) is recomputed
    cfg_path.write_text(cfg_path.read_text() + "[output]\npublished_rows = true\n")
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 0
    assert _stages(out)["metrics"] == "computed" and _stages(out)["objects"] == "cached"
    assert (pd.read_csv(out / "tables" / "table1.csv")["source"] != "computed").sum() == 15
    assert "shown (published_rows = true)" in (out / "report.html").read_text(encoding="utf-8")
    # one cache entry per stage is kept
    for stage_dir in (out / ".cache").iterdir():
        assert len([d for d in stage_dir.iterdir() if d.is_dir()]) == 1


def _cam_output(folder: Path) -> Path:
    """A CAM output folder in the format of salanalysis.dualstream.cam (cam_manifest.json)."""
    (folder / "cams").mkdir(parents=True)
    img = np.zeros((48, 64, 3), np.uint8)
    img[10:30, 20:50] = (0, 200, 255)
    cv2.imwrite(str(folder / "im.jpg"), img)
    records = []
    for k, cat in enumerate(("cat", "dog")):
        models = []
        for model, conf in (("base", 0.2 + k / 10), ("dual", 0.7)):
            cam = np.zeros((6, 8), np.float32)
            cam[1:4, 2:6] = 5.0 if model == "dual" else 1.0
            np.save(folder / "cams" / f"{k}_{model}.npy", cam)
            models.append({"model": model, "role": "A" if model == "base" else "B", "confidence": conf,
                           "detected": conf >= 0.5, "cam": f"cams/{k}_{model}.npy"})
        records.append({"image": "im.jpg", "image_id": 1, "category": cat, "models": models})  # relative
    (folder / "cam_manifest.json").write_text(json.dumps(records))
    return folder


def test_single_score_set_and_cam_output(tmp_path):
    cfg_path = make_tiny(tmp_path / "data", names=("cat", "dog", "bird"))
    _cam_output(tmp_path / "data" / "cams_out")
    text = cfg_path.read_text().replace('[scores.b]\npath = "scores_b.csv"\n', "")
    # the same maps as a SALICON results JSON (image id + base64 PNG): a second saliency source
    maps = sorted((tmp_path / "data" / "maps").iterdir())
    write_results_json([(int(p.stem[4:]), cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in maps],
                       tmp_path / "data" / "results.json")
    text = text.replace('rand = "maps"\n', 'rand = "maps"\nasjson = "results.json"\n')
    cfg_path.write_text(text + '\n[cam]\noutput = "cams_out"\n')
    res = reproduce(load_config(cfg_path), tmp_path / "out")
    objects = pd.read_parquet(tmp_path / "out" / "objects.parquet")
    assert objects["sal_max_rand"].notna().any()
    pd.testing.assert_series_equal(objects["sal_max_asjson"], objects["sal_max_rand"], check_names=False)
    pd.testing.assert_series_equal(objects["sal_mean_asjson"], objects["sal_mean_rand"], check_names=False)
    # Fig. 5 from the CAM output, embedded in the report
    assert (tmp_path / "out" / "figures" / "fig5_cam.png").is_file()
    assert (tmp_path / "out" / "figures" / "fig5_cam.pdf").is_file()
    p = _parse(tmp_path / "out" / "report.html")
    embedded = [a["src"].split(",", 1)[1] for t, a in p.tags if t == "img"]
    assert base64.b64encode((tmp_path / "out" / "figures" / "fig5_cam.png").read_bytes()).decode() in embedded
    assert "Fig. 5 (class activation maps)" not in [w for w, _ in res.not_produced]
    assert {r.stage: r.status for r in res.stages}["cam"] == "read"
    what = [w for w, _ in res.not_produced]
    assert "Fig. 4: per-category AP difference" in what
    assert TABLES["compare_categories"] in what
    assert not (tmp_path / "out" / "figures" / "fig4_category_delta.png").exists()
    assert (tmp_path / "out" / "figures" / "fig3_clutter.png").exists()
    assert "fewer than two score sets" in (tmp_path / "out" / "report.html").read_text()


def test_output_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("x")
    assert cli.main(["reproduce", "--out", str(f), "--quiet"]) == 2
    assert "not a folder" in capsys.readouterr().err


# ------------------------------------------------------------- class prior
def test_class_prior_ap_equals_prevalence(demo_ann):
    s = class_prior_scores(demo_ann)
    assert s.meta["label"] == CLASS_PRIOR_LABEL == "class-prior baseline (not a model)"
    y = demo_ann.label_matrix(include_crowd=True)
    prevalence = y.mean(axis=0)
    assert np.allclose(s.scores, prevalence[None, :])
    for c in np.flatnonzero(y.any(axis=0)):
        # all images tie within a class: sklearn's AP is the prevalence
        assert average_precision_score(y[:, c], s.scores[:, c]) == pytest.approx(prevalence[c], abs=1e-12)
    # independent count from the raw JSON: images with a 'person' (id 1) annotation, crowd included
    raw = json.loads(demo_ann.path.read_text())
    n_person = len({a["image_id"] for a in raw["annotations"] if a["category_id"] == 1})
    assert s.scores[5, demo_ann.category_index(1)] == pytest.approx(n_person / len(raw["images"]))


def test_cams_from_checkpoints(tmp_path, demo, demo_ann):
    """[cam] checkpoints: reproduce runs the CAM module (torch) and draws Fig. 5 from its manifest."""
    torch = pytest.importorskip("torch")  # the train extra; CI installs it
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.data import subset_annotations
    from salanalysis.dualstream.models import Baseline, DualStream, model_meta

    ann = subset_annotations(demo_ann, (192, 208))
    (tmp_path / "ann.json").write_text(json.dumps(ann.coco.dataset))
    torch.manual_seed(0)
    for name, model, sign in (("base", Baseline(80), -1.0), ("dual", DualStream(80), 1.0)):
        with torch.no_grad():  # A: every class ~0, B: every class ~1 -> every ground-truth pair selected
            model.fc.weight.mul_(1e-4)
            model.fc.bias.copy_(torch.tensor([-30.0 * sign, 30.0 * sign] * 80))
        save_checkpoint(tmp_path / f"{name}.pt",
                        {"model": model.eval().state_dict(),
                         "meta": model_meta(model, ann.category_ids, ann.category_names)})
    (tmp_path / "cfg.toml").write_text(
        f'[inputs]\nannotations = "ann.json"\nimages = "{demo.images}"\n'
        '[scores.prior]\nbuiltin = "class-prior"\n'
        '[cam]\ncheckpoints = { base = "base.pt", dual = "dual.pt" }\nmax_images = 1\ninput_size = 64\n'
        '[analysis]\nn_boot = 100\njobs = 1\n')
    res = reproduce(load_config(tmp_path / "cfg.toml"), tmp_path / "out")
    status = {r.stage: r.status for r in res.stages}
    assert status["cam"] == "computed"
    # one score set, no saliency: only the two-model outputs are missing
    assert {w for w, _ in res.not_produced} == {
        "Fig. 4: per-category AP difference", TABLES["clutter_difference"], TABLES["compare_categories"],
        TABLES["compare_summary"]}
    assert (tmp_path / "out" / "figures" / "fig5_cam.png").is_file()
    cams = list((tmp_path / "out" / ".cache" / "cam").rglob("cam_manifest.json"))
    (manifest,) = [json.loads(p.read_text()) for p in cams]
    labels = ann.label_matrix(include_crowd=True)
    assert len({r["image_id"] for r in manifest}) == 1  # max_images = 1
    assert len(manifest) == labels[ann.image_index(manifest[0]["image_id"])].sum()
    assert [m["model"] for m in manifest[0]["models"]] == ["base", "dual"]
    html_text = (tmp_path / "out" / "report.html").read_text()
    assert "A = &#x27;base&#x27; misses" in html_text
    # a second run reuses the CAMs
    again = reproduce(load_config(tmp_path / "cfg.toml"), tmp_path / "out")
    assert {r.stage: r.status for r in again.stages}["cam"] == "cached"


def test_bad_score_file_fails_before_anything_is_written(tmp_path, capsys):
    cfg_path = make_tiny(tmp_path / "data", names=("cat", "dog", "bird"))
    scores_b = tmp_path / "data" / "scores_b.csv"
    scores_b.write_text(scores_b.read_text().replace("image_id,category_id,score\n1,1,", "image_id,category_id,score\n1,1,nan#"))
    out = tmp_path / "out"
    assert cli.main(["reproduce", "--config", str(cfg_path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("salanalysis: error: ") and "scores_b.csv" in err and err.count("\n") == 1
    assert not out.exists()


def test_comparison_rows_of_a_builtin_baseline_are_not_comparable_and_the_reading_box_says_why():
    from salanalysis.reproduce.main import _comparison_note, _not_comparable, _reading

    cfg = demo_config()
    note = _comparison_note(cfg)
    assert note is not None and "built-in baseline" in note and "class-prior" in note
    f = pd.DataFrame({"section": ["Fig. 2", "Sec. 5.3", "Fig. 4", "Table 1", "Table 1"],
                      "verdict": ["opposite", "same direction, significant", "same direction, significant",
                                  "same direction, significant", "not available"],
                      "detail": ["x", "", "paired", "d", ""]})
    out = _not_comparable(f, note)
    assert out["verdict"].tolist() == ["opposite", "not comparable", "not comparable", "not comparable",
                                       "not available"]
    assert out["detail"].iloc[2] == f"Not comparable: {note}. paired" and out["detail"].iloc[0] == "x"
    assert _not_comparable(f, None) is f
    # a row with a value but no verdict of its own (no test) is not comparable too; one without a value stays
    g = _not_comparable(f.assign(this_run=["x", "y", "", "z", ""], verdict="not available"), note)
    assert g["verdict"].tolist() == ["not available", "not comparable", "not available", "not comparable",
                                     "not available"]
    reading = " ".join(_reading(cfg))
    assert "cocoapi's sample detection results" in reading and "highest score of its detections" in reading
    assert "at least 0.5" in reading and "marked not comparable" in reading
    # two score files: the paper's kind of comparison, no such note
    import dataclasses

    files = dataclasses.replace(cfg, scores=[dataclasses.replace(s, builtin=None, path=Path("s.csv"))
                                             for s in cfg.scores])
    assert _comparison_note(files) is None and "not comparable" not in " ".join(_reading(files))
