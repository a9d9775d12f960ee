"""Class activation maps: the weighted sum against hand computations, Baseline and DualStream
with known weights, the Fig. 5 selection rule, and the `salanalysis cam` outputs end to end."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from interrupts import Interrupt, stop_at

from salanalysis.cli import main
from salanalysis.dualstream.cam import (
    MANIFEST_COLUMNS,
    SELECTION_COLUMNS,
    cam_from_features,
    class_activation_maps,
    prepare_image,
    run_cams,
    select_examples,
)
from salanalysis.dualstream.models import Baseline, DualStream, model_meta
from salanalysis.errors import InputError

IMAGES = (192, 208, 241)  # 2 + 2 + 7 ground-truth labels; 241 is a portrait image (480 x 640)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread for tiny CPU convolutions (OpenMP spinning on a busy 2-core box)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------ math
def test_cam_from_features_is_the_weighted_sum():
    f = torch.arange(12, dtype=torch.float32).reshape(1, 3, 2, 2)  # k=0: [[0,1],[2,3]], k=1: 4.., k=2: 8..
    w = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]])
    cam = cam_from_features([f], w)
    # class 0: X0 - X2 = -8 everywhere; class 1: 0.5 X0 + 2 X1 = [[8, 10.5], [13, 15.5]]
    np.testing.assert_allclose(cam[0, 0].numpy(), [[-8, -8], [-8, -8]])
    np.testing.assert_allclose(cam[0, 1].numpy(), [[8, 10.5], [13, 15.5]])
    np.testing.assert_allclose(cam_from_features([f], w, classes=[1])[0, 0].numpy(), [[8, 10.5], [13, 15.5]])
    # two streams: the weight row is split in stream order, the parts add up
    g = -f[:, :2]
    w2 = torch.tensor([[1.0, 0.0, -1.0, 3.0, 1.0]])
    cam2 = cam_from_features([f, g], w2)
    # (X0 - X2) + (3 * -X0 + 1 * -X1) = -8 - 3 X0 - X1 = -8 - [[0, 3], [6, 9]] - [[4, 5], [6, 7]]
    np.testing.assert_allclose(cam2[0, 0].numpy(), [[-12, -16], [-20, -24]])
    # bilinear upsampling (half-pixel centers) equals OpenCV's INTER_LINEAR on the small map
    up = cam_from_features([f], w, size=(7, 5))
    ref = cv2.resize(np.array([[8, 10.5], [13, 15.5]], np.float32), (5, 7), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(up[0, 1].numpy(), ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        cam_from_features([f], torch.ones(2, 4))
    with pytest.raises(ValueError, match="spatial"):
        cam_from_features([f, torch.ones(1, 2, 3, 3)], torch.ones(1, 5))


def _set_fc(model, seed: int, scale: float = 0.01):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.fc.weight.copy_(torch.randn(model.fc.weight.shape, generator=gen) * scale)
        model.fc.bias.copy_(torch.randn(model.fc.bias.shape, generator=gen))
    return model.fc.weight.detach().double().numpy().copy(), model.fc.bias.detach().double().numpy().copy()


def test_baseline_cam_with_known_weights():
    torch.manual_seed(0)
    model = Baseline(3, pooling="avg").eval()
    w, b = _set_fc(model, 1)
    x = torch.randn(1, 3, 64, 96)
    cams, probs = class_activation_maps(model, x, classes=[0, 2], size=(2, 3))
    with torch.no_grad():
        feats = model.backbone(x)[0].double().numpy()  # (2048, 2, 3)
    for out_i, c in enumerate([0, 2]):
        row = w[2 * c + 1] - w[2 * c]  # positive minus negative row of the MCE head
        hand = np.tensordot(row, feats, axes=1)
        np.testing.assert_allclose(cams[0, out_i].numpy(), hand, rtol=1e-4, atol=1e-4)
    # with average pooling the CAM's mean plus the bias difference is the logit difference (Zhou)
    with torch.no_grad():
        logits = model(x)[0].double().numpy()
    full, _ = class_activation_maps(model, x, size=(2, 3))
    diff = full[0].double().numpy().mean(axis=(1, 2)) + (b[1::2] - b[0::2])
    np.testing.assert_allclose(diff, logits[:, 1] - logits[:, 0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(probs[0].numpy(), 1 / (1 + np.exp(-(logits[:, 1] - logits[:, 0]))), rtol=1e-5)
    # default size: the input's
    assert class_activation_maps(model, x)[0].shape == (1, 3, 64, 96)


def test_dualstream_cam_sums_both_streams():
    torch.manual_seed(0)
    model = DualStream(2, pooling="max").eval()
    w, _ = _set_fc(model, 2)
    x = torch.randn(1, 3, 64, 64)
    cams, _ = class_activation_maps(model, x, size=(2, 2))
    with torch.no_grad():
        ft = model.trunk(x)[0].double().numpy()
        fb = model.branch(x)[0].double().numpy()
    for c in range(2):
        row = w[2 * c + 1] - w[2 * c]
        hand = np.tensordot(row[:2048], ft, axes=1) + np.tensordot(row[2048:], fb, axes=1)
        np.testing.assert_allclose(cams[0, c].numpy(), hand, rtol=1e-4, atol=1e-4)


def test_selection_rule():
    labels = np.array([[1, 1, 0], [0, 1, 1]], bool)
    a = np.array([[0.2, 0.6, 0.1], [0.9, 0.49, 0.5]])
    b = np.array([[0.7, 0.9, 0.9], [0.1, 0.5, 0.99]])
    t = select_examples([5, 7], labels, a, b, threshold=0.5, category_ids=[1, 2, 3], categories=["x", "y", "z"],
                        file_names=["a.jpg", "b.jpg"])
    # positives: (5,x) A .2 B .7 -> selected; (5,y) A .6 -> not; (7,y) A .49 < .5 <= B .5 -> selected;
    # (7,z) A .5 is a detection -> not
    assert list(zip(t["image_id"], t["category"])) == [(5, "x"), (5, "y"), (7, "y"), (7, "z")]
    assert t["selected"].tolist() == [True, False, True, False]
    np.testing.assert_allclose(t["margin"], [0.5, 0.3, 0.01, 0.49])
    assert t["file_name"].tolist() == ["a.jpg", "a.jpg", "b.jpg", "b.jpg"]
    empty = select_examples([1], np.zeros((1, 3), bool), a[:1], b[:1])
    assert len(empty) == 0 and "selected" in empty.columns


# ---------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def setup(demo, demo_ann, tmp_path_factory):
    """Two checkpoints: A (Baseline) misses every class, B (DualStream) detects every class."""
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.data import subset_annotations

    root = tmp_path_factory.mktemp("cam")
    ann = subset_annotations(demo_ann, IMAGES)
    ann_path = root / "ann.json"
    ann_path.write_text(json.dumps(ann.coco.dataset))
    torch.manual_seed(0)
    a, b = Baseline(80).eval(), DualStream(80).eval()
    for m, seed, sign in ((a, 1, -1.0), (b, 2, 1.0)):
        _set_fc(m, seed, scale=1e-4)
        with torch.no_grad():  # bias: positive +-30, negative -+30 -> probabilities ~0 or ~1
            m.fc.bias.copy_(torch.tensor([-30.0 * sign, 30.0 * sign] * 80))
    paths = {}
    for name, m in (("base", a), ("dual", b)):
        paths[name] = root / f"{name}.pt"
        save_checkpoint(paths[name], {"model": m.state_dict(), "meta": model_meta(m, ann.category_ids, ann.category_names)})
    return {"ann": ann, "ann_path": ann_path, "paths": paths, "models": {"base": a, "dual": b}, "root": root}


def test_run_cams_outputs(setup, demo, tmp_path):
    ann = setup["ann"]
    out = tmp_path / "out"
    res = run_cams([("base", setup["paths"]["base"]), ("dual", setup["paths"]["dual"])], ann, demo.images, out,
                   input_size=64, device="cpu")
    labels = ann.label_matrix(include_crowd=True)
    n_pairs = int(labels.sum())
    assert n_pairs == 11
    assert res.counts["n_gt_pairs"] == n_pairs == res.counts["n_selected_pairs"] == res.counts["n_rendered_pairs"]
    sel = pd.read_csv(out / "selection.csv")
    assert list(sel.columns) == SELECTION_COLUMNS and len(sel) == n_pairs
    assert (sel["conf_A"] < 0.5).all() and (sel["conf_B"] >= 0.5).all() and sel["rendered"].all()
    conf = pd.read_csv(out / "gt_confidences.csv")
    assert len(conf) == n_pairs and conf["selected"].all()
    manifest = json.loads((out / "cam_manifest.json").read_text())
    assert isinstance(manifest, list) and len(manifest) == n_pairs
    flat = pd.read_csv(out / "cam_manifest.csv")
    assert list(flat.columns) == MANIFEST_COLUMNS and len(flat) == 2 * n_pairs
    assert set(flat["role"]) == {"A", "B"} and set(flat["model"]) == {"base", "dual"}
    run = json.loads((out / "cam_run.json").read_text())
    assert run["threshold"] == 0.5 and [m["arch"] for m in run["models"]] == ["baseline", "dualstream"]
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]

    # one record against a hand computation: features x weight row, bilinear to the image size
    rec = next(r for r in manifest if r["image_id"] == 241)
    assert (rec["width"], rec["height"]) == (480, 640)
    assert rec["image"] == "images/241.jpg"  # a copy inside the output folder: no machine path
    assert (out / rec["image"]).read_bytes() == (demo.images / rec["file_name"]).read_bytes()
    img = cv2.cvtColor(cv2.imread(str(out / rec["image"])), cv2.COLOR_BGR2RGB)
    x = prepare_image(img, 64)
    assert x.shape == (1, 3, 85, 64)  # short side 64, aspect kept (640 / 480 * 64 = 85.3)
    c = ann.category_index(rec["category_id"])
    for m_rec in rec["models"]:
        model = setup["models"][m_rec["model"]]
        with torch.no_grad():
            feats = [f[0].double().numpy() for f in model.features(x)]
            probs = torch.softmax(model(x)[0], -1)[:, 1].numpy()
        wt = model.fc.weight.detach().double().numpy()
        row = wt[2 * c + 1] - wt[2 * c]
        low = sum(np.tensordot(row[2048 * s: 2048 * (s + 1)], f, axes=1) for s, f in enumerate(feats))
        hand = cv2.resize(low.astype(np.float32), (480, 640), interpolation=cv2.INTER_LINEAR)
        cam = np.load(out / m_rec["cam"])
        assert cam.shape == (640, 480) and cam.dtype == np.float32
        np.testing.assert_allclose(cam, hand, rtol=1e-4, atol=1e-4 * np.abs(hand).max())
        assert m_rec["confidence"] == pytest.approx(float(probs[c]), abs=1e-6)
        assert m_rec["detected"] == (m_rec["role"] == "B")
        ov = cv2.imread(str(out / m_rec["overlay"]))
        assert ov.shape == (640 + 24, 480, 3)

    # the Fig. 5 plot function of the reproduce command reads the manifest as written
    from salanalysis.plotting import cam_figure

    fig = cam_figure(manifest, root=out, max_examples=2)
    assert len(fig.axes) == 2 * 3


def test_max_images_and_empty_selection(setup, demo, tmp_path):
    ann, paths = setup["ann"], setup["paths"]
    out = tmp_path / "one"
    res = run_cams({"base": paths["base"], "dual": paths["dual"]}, ann, demo.images, out, max_images=1,
                   input_size=64, device="cpu")
    sel = pd.read_csv(out / "selection.csv")
    rendered = sel[sel["rendered"]]
    assert rendered["image_id"].nunique() == 1 and len(sel) == 11
    # the rendered image holds the pair with the largest margin
    assert rendered["image_id"].iloc[0] == sel.sort_values("margin", ascending=False)["image_id"].iloc[0]
    assert len(res.manifest) == len(rendered) == res.counts["n_rendered_pairs"]
    assert len(list((out / "cams").glob("*.npy"))) == 2 * len(rendered)
    # reversed roles: A detects everything, so nothing is selected; the tables still have headers
    out2 = tmp_path / "none"
    res2 = run_cams([("dual", paths["dual"]), ("base", paths["base"])], ann, demo.images, out2,
                    input_size=64, device="cpu")
    assert res2.counts["n_selected_pairs"] == 0
    assert json.loads((out2 / "cam_manifest.json").read_text()) == []
    assert list(pd.read_csv(out2 / "selection.csv").columns) == SELECTION_COLUMNS
    assert not (out2 / "cams").exists()


def test_rerun_into_the_same_folder_removes_the_previous_cams(setup, demo, tmp_path):
    ann, paths = setup["ann"], setup["paths"]
    out = tmp_path / "cams_out"
    kw = dict(input_size=64, device="cpu")
    first = run_cams([("base", paths["base"]), ("dual", paths["dual"])], ann, demo.images, out, **kw)
    assert len(first.manifest) > 1
    (out / "cams" / "notes.npy").write_bytes(b"mine")  # not listed by a manifest: kept
    second = run_cams([("base", paths["base"]), ("dual", paths["dual"])], ann, demo.images, out,
                      max_images=1, **kw)  # fmt: skip
    listed = {m[k] for e in second.manifest for m in e["models"] for k in ("cam", "overlay")}
    on_disk = {f"{d}/{p.name}" for d in ("cams", "overlays") for p in (out / d).iterdir()}
    assert on_disk == listed | {"cams/notes.npy"}
    assert len(listed) < 2 * 2 * len(first.manifest)
    # reversed roles select nothing: every CAM of the earlier runs goes
    run_cams([("dual", paths["dual"]), ("base", paths["base"])], ann, demo.images, out, **kw)
    assert [p.name for p in (out / "cams").iterdir()] == ["notes.npy"]
    assert not list((out / "overlays").iterdir())


def test_interrupted_scan_resumes(setup, demo, tmp_path, monkeypatch):
    ann, paths = setup["ann"], setup["paths"]
    ck = [("base", paths["base"]), ("dual", paths["dual"])]
    kw = dict(input_size=64, device="cpu")
    whole = run_cams(ck, ann, demo.images, tmp_path / "whole", **kw)

    stop = stop_at(1)
    out = tmp_path / "out"
    with pytest.raises(Interrupt):
        run_cams(ck, ann, demo.images, out, on_image=stop, **kw)
    (scan,) = out.iterdir()  # only the kept scan of the first 2 images
    assert scan.name.startswith(".cam_scan.") and int(np.load(scan)["n_done"]) == 2
    seen: list[int] = []
    res = run_cams(ck, ann, demo.images, out, on_image=seen.append, **kw)
    assert seen == list(range(2, res.counts["n_images_scanned"]))  # the rest only
    pd.testing.assert_frame_equal(res.confidences, whole.confidences)
    assert res.manifest == whole.manifest  # same pairs, confidences and CAM ranges
    for e in whole.manifest:
        for m in e["models"]:
            np.testing.assert_array_equal(np.load(out / m["cam"]), np.load(tmp_path / "whole" / m["cam"]))
    assert not list(out.glob(".cam_scan.*"))  # gone after success
    # an interrupt while rendering keeps the whole scan: the next run scans nothing again
    import salanalysis.dualstream.saliency.export as se

    def broken_png(arr, path):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(se, "write_png", broken_png)
        with pytest.raises(KeyboardInterrupt):
            run_cams(ck, ann, demo.images, tmp_path / "o4", **kw)
    seen.clear()
    run_cams(ck, ann, demo.images, tmp_path / "o4", on_image=seen.append, **kw)
    assert seen == []
    # a damaged scan file is ignored (scanned again), not a crash
    with pytest.raises(Interrupt):
        run_cams(ck, ann, demo.images, out, on_image=stop, **kw)
    (scan,) = out.glob(".cam_scan.*")
    scan.write_bytes(b"PK\x03\x04 cut short")
    seen.clear()
    run_cams(ck, ann, demo.images, out, on_image=seen.append, **kw)
    assert seen[0] == 0 and not list(out.glob(".cam_scan.*"))
    # another input size is a different scan: nothing reused
    with pytest.raises(Interrupt):
        run_cams(ck, ann, demo.images, tmp_path / "o2", on_image=stop, **kw)
    seen.clear()
    run_cams(ck, ann, demo.images, tmp_path / "o2", on_image=seen.append, input_size=96, device="cpu")
    assert seen[0] == 0
    assert not list((tmp_path / "o2").glob(".cam_scan.*"))  # the other scan's file removed too


def test_stale_cleanup_spares_the_files_just_written(tmp_path):
    from salanalysis.dualstream.cam import _remove_stale

    (tmp_path / "cams").mkdir()
    new = tmp_path / "cams" / "1_2_base.npy"
    new.write_bytes(b"new")
    # what a case-insensitive file system does: the old name is the new file
    os.link(new, tmp_path / "cams" / "1_2_Base.npy")
    (tmp_path / "cams" / "old.npy").write_bytes(b"old")
    (tmp_path / "cams" / "dir.npy").mkdir()
    _remove_stale(tmp_path, {"cams/1_2_Base.npy", "cams/old.npy", "cams/dir.npy", "cams/gone.npy"},
                  {"cams/1_2_base.npy"})  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "cams").iterdir()) == ["1_2_Base.npy", "1_2_base.npy", "dir.npy"]
    assert new.read_bytes() == b"new"


def test_cam_cli_and_bad_input(setup, demo, tmp_path):
    base, dual = str(setup["paths"]["base"]), str(setup["paths"]["dual"])
    ann = str(setup["ann_path"])
    out = tmp_path / "cli"
    args = ["cam", "--checkpoint", f"base={base}", "--checkpoint", f"dual={dual}", "--annotations", ann,
            "--images", str(demo.images), "--threshold", "0.5", "--max-images", "2", "--input-size", "64",
            "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    assert pd.read_csv(out / "selection.csv")["rendered"].sum() > 0
    # exactly two checkpoints
    assert main(["cam", "--checkpoint", f"base={base}", "--annotations", ann, "--images", str(demo.images),
                 "--out", str(tmp_path / "x")]) == 2
    # a saliency-network checkpoint is no classifier
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.saliency.net import SaliencyNet, saliency_meta

    net = SaliencyNet()
    save_checkpoint(tmp_path / "sal.pt", {"model": net.state_dict(), "meta": saliency_meta(net)})
    bad = ["cam", "--checkpoint", f"base={base}", "--checkpoint", f"sal={tmp_path / 'sal.pt'}", "--annotations",
           ann, "--images", str(demo.images), "--out", str(tmp_path / "y"), "--device", "cpu"]
    assert main(bad) == 2
    with pytest.raises(InputError, match="not a Baseline/DualStream checkpoint"):
        run_cams([("a", base), ("b", tmp_path / "sal.pt")], setup["ann"], demo.images, tmp_path / "z")
    # an image folder without any of the annotated images
    with pytest.raises(InputError, match="none of the 3 annotated images"):
        run_cams([("a", base), ("b", dual)], setup["ann"], tmp_path, tmp_path / "z", device="cpu")
    # a model trained on other categories
    from salanalysis.dualstream.checkpoint import save_checkpoint as save

    small = Baseline(3)
    save(tmp_path / "small.pt", {"model": small.state_dict(), "meta": model_meta(small)})
    with pytest.raises(InputError, match="3 classes but the annotations have 80"):
        run_cams([("a", tmp_path / "small.pt"), ("b", dual)], setup["ann"], demo.images, tmp_path / "z")
    assert not (tmp_path / "z").exists() or not any((tmp_path / "z").iterdir())
