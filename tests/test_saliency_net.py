"""Saliency network: shapes and range, loss terms against hand computations, a few training
steps on the two real SALICON maps, exact resume, branch hand-off, PNG export through MapSource."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
from interrupts import Interrupt, stop_at

from salanalysis.cli import main
from salanalysis.dualstream.saliency.net import (
    KLD_EPS,
    SaliencyNet,
    cc_term,
    classifier_state_dict,
    kld_loss,
    load_saliency_net,
    nss_term,
    saliency_loss,
    to_classifier,
)
from salanalysis.errors import InputError

H, W = 96, 128  # tiny network input for the CPU tests


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: tiny convolutions gain nothing from more, and OpenMP spinning on a
    shared 2-core machine slows them >10x. Restored after the module."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------- model output
def test_output_shape_range_and_uniform_start():
    torch.manual_seed(0)
    net = SaliencyNet(input_size=(64, 96)).eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        p0 = net.density(x)
    # zero-initialised readout: the untrained network predicts the uniform distribution
    np.testing.assert_allclose(p0.numpy(), 1.0 / (64 * 96), rtol=1e-5)
    with torch.no_grad():
        net.readout[-1].weight.normal_(0, 0.05)
        lp = net(x)
        p = net.density(x)
    assert lp.shape == (2, 1, 64, 96)
    assert (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(dim=(1, 2, 3)).numpy(), [1.0, 1.0], rtol=1e-5)
    assert float(p.std()) > 0  # not constant any more
    np.testing.assert_allclose(lp.exp().numpy(), p.numpy(), rtol=1e-6)
    # the hidden-layer readout and an input size that is no multiple of 32
    net2 = SaliencyNet(readout_hidden=8, input_size=(70, 100)).eval()
    with torch.no_grad():
        out = net2(torch.randn(1, 3, 70, 100))
    assert out.shape == (1, 1, 70, 100)
    assert torch.isfinite(out).all()


def test_bad_model_options():
    with pytest.raises(ValueError):
        SaliencyNet(readout_hidden=-1)
    with pytest.raises(ValueError):
        SaliencyNet(input_size=(16, 640))


# ------------------------------------------------------------------ loss terms
def test_kld_against_hand_computation_and_scipy():
    p = torch.tensor([0.1, 0.2, 0.3, 0.4]).reshape(1, 1, 2, 2)
    g = torch.tensor([1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 2, 2)  # Q = [.25, 0, .25, .5]
    # hand: .25 ln(.25/.1) + 0 + .25 ln(.25/.3) + .5 ln(.5/.4)
    #     = .25 * 0.9162907 + .25 * (-0.1823216) + .5 * 0.2231436 = 0.2950640
    got = float(kld_loss(p.log(), g))
    assert got == pytest.approx(0.2950640, abs=1e-6)
    # a second image: the batch mean, reference scipy.stats.entropy(Q, P) = KL(Q || P)
    rng = np.random.default_rng(1)
    p2 = rng.random(12)
    p2 /= p2.sum()
    g2 = rng.random(12)
    lp = torch.tensor(np.stack([np.log([0.1, 0.2, 0.3, 0.4] * 3) - np.log(3), np.log(p2)]), dtype=torch.float32)
    gg = torch.tensor(np.stack([[1.0, 0.0, 1.0, 2.0] * 3, g2]), dtype=torch.float32)
    ref = np.mean([scipy.stats.entropy([1.0, 0.0, 1.0, 2.0] * 3, [0.1, 0.2, 0.3, 0.4] * 3),
                   scipy.stats.entropy(g2, p2)])
    assert float(kld_loss(lp.reshape(2, 1, 3, 4), gg.reshape(2, 1, 3, 4))) == pytest.approx(ref, rel=1e-5)
    # identical distributions: 0; eps is tiny and documented
    assert float(kld_loss(p.log(), p)) == pytest.approx(0.0, abs=1e-6)
    assert KLD_EPS == 1e-12
    with pytest.raises(ValueError):
        kld_loss(p.log(), g.reshape(1, 4))


def test_cc_against_scipy_pearson():
    rng = np.random.default_rng(2)
    a = rng.random((3, 1, 5, 7))
    b = a + rng.normal(0, 0.3, a.shape)
    ref = np.mean([scipy.stats.pearsonr(a[i].ravel(), b[i].ravel())[0] for i in range(3)])
    got = float(cc_term(torch.tensor(a), torch.tensor(b)))
    assert got == pytest.approx(ref, rel=1e-5)
    # a constant prediction has no correlation (eps in the denominator), not NaN
    assert float(cc_term(torch.ones(1, 1, 4, 4), torch.tensor(a[:1, :, :4, :4]))) == 0.0


def test_nss_against_hand_computation():
    p = torch.tensor([[0.1, 0.2], [0.3, 0.4]]).reshape(1, 1, 2, 2)
    f = torch.tensor([[0.0, 2.0], [0.0, 1.0]]).reshape(1, 1, 2, 2)  # 2 fixations on (0,1), 1 on (1,1)
    # mean .25, population sd sqrt(.0125) = 0.1118034; standardised values -0.4472136 (x2) and
    # 1.3416408 -> mean over the 3 fixations = (2 * -0.4472136 + 1.3416408) / 3 = 0.1490712
    assert float(nss_term(p, f)) == pytest.approx(0.1490712, abs=1e-6)
    # the saliency-metrics module's NSS (repeats counted) agrees
    from salanalysis.saliency_metrics import nss

    assert nss(p[0, 0].double().numpy(), [1, 1, 1], [0, 0, 1]) == pytest.approx(0.1490712, abs=1e-6)
    # an image without fixations is left out of the batch mean
    pb = torch.cat([p, p.flip(-1)])
    fb = torch.cat([f, torch.zeros_like(f)])
    assert float(nss_term(pb, fb)) == pytest.approx(0.1490712, abs=1e-6)
    assert float(nss_term(p, torch.zeros_like(f))) == 0.0


def test_cc_and_nss_gradients_are_finite_at_the_uniform_start():
    # the untrained network predicts a constant map: the plain correlation's gradient is infinite
    # there (NaN through sqrt(0)); the floored sd keeps the value 0 and the gradient finite
    z = torch.zeros(2, 1, 6, 8, requires_grad=True)
    lp = torch.log_softmax(z.reshape(2, -1), 1).reshape(z.shape)
    rng = np.random.default_rng(4)
    g = torch.tensor(rng.random((2, 1, 6, 8)), dtype=torch.float32)
    f = torch.tensor(rng.random((2, 1, 6, 8)) > 0.8, dtype=torch.float32)
    loss, terms = saliency_loss(lp, g, f, w_kld=1.0, w_cc=1.0, w_nss=1.0)
    loss.backward()
    assert terms["cc"] == 0.0 and terms["nss"] == 0.0
    assert torch.isfinite(z.grad).all() and float(z.grad.abs().sum()) > 0


def test_combined_loss_weights():
    rng = np.random.default_rng(3)
    z = torch.tensor(rng.normal(size=(2, 1, 4, 6)), dtype=torch.float32)
    lp = torch.log_softmax(z.reshape(2, -1), 1).reshape(z.shape)
    g = torch.tensor(rng.random((2, 1, 4, 6)), dtype=torch.float32)
    f = torch.tensor(rng.random((2, 1, 4, 6)) > 0.7, dtype=torch.float32)
    loss, terms = saliency_loss(lp, g, f, w_kld=0.5, w_cc=2.0, w_nss=0.25)
    k, c, n = float(kld_loss(lp, g)), float(cc_term(lp.exp(), g)), float(nss_term(lp.exp(), f))
    assert float(loss) == pytest.approx(0.5 * k + 2.0 * (1 - c) - 0.25 * n, rel=1e-6)
    assert terms == pytest.approx({"kld": k, "cc": c, "nss": n})
    loss_default, terms_default = saliency_loss(lp, g)
    assert float(loss_default) == pytest.approx(k) and set(terms_default) == {"kld"}
    with pytest.raises(ValueError, match="fixation"):
        saliency_loss(lp, g, None, w_nss=1.0)


# ------------------------------------------------------- training on real maps
def _kld_to_uniform(path: Path) -> float:
    """KL(Q || uniform) of a SALICON map resized to H x W as the dataset does (hand, numpy)."""
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32)
    m = cv2.resize(m, (W, H), interpolation=cv2.INTER_AREA).astype(np.float64)
    m = (m - m.min()) / (m.max() - m.min())
    q = m / m.sum()
    nz = q > 0
    return float(np.sum(q[nz] * np.log(q[nz] * q.size)))


def _cfg(demo, out, **kw):
    base = dict(
        train_images=str(demo.images), train_maps=str(demo.saliency), val_images=str(demo.images),
        val_maps=str(demo.saliency), out=str(out), weights="none", input_size=(H, W),
        epochs=3, batch_size=2, optimizer="adam", lr=1e-4, workers=0, progress=False, log_every=1,
        device="cpu",
    )
    base.update(kw)
    return base


@pytest.fixture(scope="module")
def trained(demo, tmp_path_factory):
    """Three Adam steps (one per epoch) on the two real SALICON maps, 96x128, --weights none."""
    from salanalysis.dualstream.saliency.train import train_saliency

    out = tmp_path_factory.mktemp("saliency_run")
    return train_saliency(_cfg(demo, out))


def test_few_steps_on_real_maps_lower_the_loss(trained, demo):
    epochs = [r for r in trained.history if r["kind"] == "epoch"]
    losses = [r["loss"] for r in epochs]
    assert len(losses) == 3 and trained.step == 3 and trained.epoch == 3
    # the first batch is scored by the uniform start: mean KL(Q || uniform) of the two maps
    expected = np.mean([_kld_to_uniform(p) for p in sorted(demo.saliency.glob("*.png"))])
    assert losses[0] == pytest.approx(expected, rel=1e-4)
    assert losses[2] < losses[1] < losses[0]  # 1.6588 -> 1.6087 -> 1.5869 when written
    # evaluation through salanalysis.saliency_metrics on the 2 images (no fixations: NSS, AUC NaN)
    m = trained.metrics
    assert m["n_images"] == 2
    assert np.isfinite([m["CC"], m["KLD"], m["SIM"], m["val_loss"]]).all()
    assert m["KLD"] == pytest.approx(m["val_loss"], rel=1e-3)  # the same divergence, two eps conventions
    assert np.isnan(m["NSS"]) and np.isnan(m["AUC_Judd"])
    for name in ("last.pt", "model.pt", "config.json", "log.csv"):
        assert (trained.out / name).is_file()
    log = (trained.out / "log.csv").read_text().splitlines()
    assert log[0].startswith("kind,epoch,step,loss,kld")
    assert len(log) == 1 + 6  # a step row and an epoch row per step


def test_resume_continues_exactly_through_the_cli(trained, demo, tmp_path):
    """Stop after 2 steps (CLI, --max-steps), resume to 3 epochs: same weights as the straight run."""
    out = tmp_path / "run"
    args = ["train-saliency", "--train-images", str(demo.images), "--train-maps", str(demo.saliency),
            "--val-images", str(demo.images), "--val-maps", str(demo.saliency), "--out", str(out),
            "--weights", "none", "--input-size", str(H), str(W), "--epochs", "3",
            "--batch-size", "2", "--optimizer", "adam", "--lr", "1e-4", "--workers", "0",
            "--no-progress", "--log-every", "1", "--device", "cpu", "--max-steps", "2"]
    assert main(args) == 0
    assert not (out / "model.pt").exists()
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["step"] == 2 and ck["epoch"] == 2
    # changing a non-overridable option is refused
    assert main(["train-saliency", "--resume", str(out / "last.pt"), "--lr", "0.5"]) == 2
    assert main(["train-saliency", "--resume", str(out / "last.pt"), "--max-steps", "100"]) == 0
    a = torch.load(out / "model.pt", weights_only=True)["model"]
    b = torch.load(trained.out / "model.pt", weights_only=True)["model"]
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_train_config_errors(demo, tmp_path):
    from salanalysis.dualstream.saliency.train import SaliencyTrainConfig, resolve_saliency_config

    with pytest.raises(InputError, match="train_maps"):
        resolve_saliency_config({"train_images": str(demo.images)})
    with pytest.raises(InputError, match="w_nss"):
        resolve_saliency_config(_cfg(demo, tmp_path, w_nss=1.0))
    with pytest.raises(InputError, match="unknown option"):
        resolve_saliency_config(_cfg(demo, tmp_path, learning_rate=1.0))
    with pytest.raises(InputError, match="optimizer"):
        resolve_saliency_config(_cfg(demo, tmp_path, optimizer="lbfgs"))
    # a map without its image
    maps = tmp_path / "maps"
    maps.mkdir()
    shutil.copy(demo.saliency / "COCO_val2014_000000000192.png", maps / "COCO_val2014_000000999999.png")
    assert main(["train-saliency", "--train-images", str(demo.images), "--train-maps", str(maps),
                 "--out", str(tmp_path / "o"), "--weights", "none", "--device", "cpu"]) == 2
    # TOML: top-level keys or a [train_saliency] table, flags override the file
    from salanalysis.dualstream.saliency.config import load_saliency_config

    toml = tmp_path / "sal.toml"
    toml.write_text(f'epochs = 4\n[train_saliency]\ntrain_images = "{demo.images}"\n'
                    f'train_maps = "{demo.saliency}"\nw_cc = 0.5\nhflip = true\n')
    c = load_saliency_config(toml, epochs=7)
    assert (c.epochs, c.w_cc, c.hflip, c.w_kld, c.input_size) == (7, 0.5, True, 1.0, (480, 640))
    toml.write_text("epochs = [")
    with pytest.raises(InputError, match="malformed TOML"):
        load_saliency_config(toml)
    # every option has a help text and a flag; flag values are validated like TOML values
    from salanalysis.dualstream.saliency.config import SALIENCY_CONFIG_HELP

    assert set(SALIENCY_CONFIG_HELP) == {f.name for f in dataclasses.fields(SaliencyTrainConfig)}
    assert main(["train-saliency", "--train-images", str(demo.images), "--train-maps", str(demo.saliency),
                 "--epochs", "two"]) == 2
    with pytest.raises(SystemExit):  # argparse rejects a bad choice itself
        main(["train-saliency", "--optimizer", "lbfgs"])


def test_dataset_fixations_are_scaled_to_the_input(trained, demo, tmp_path):
    from salanalysis.dualstream.saliency.train import SaliconSaliency

    # a SALICON 2015 fixation file ([row, col], 1-based) for image 192 (640x480)
    fix = {
        "images": [{"id": 192, "file_name": "COCO_val2014_000000000192.jpg", "width": 640, "height": 480}],
        "annotations": [{"image_id": 192, "worker_id": 1, "fixations": [[1, 1], [480, 640], [240, 320]]}],
    }
    path = tmp_path / "fix.json"
    path.write_text(json.dumps(fix))
    ds = SaliconSaliency(demo.images, demo.saliency, str(path), size=(96, 128))
    assert len(ds) == 2 and ds.names[0] == "COCO_val2014_000000000192"
    x, m, f, i = ds[0]
    assert x.shape == (3, 96, 128) and m.shape == (1, 96, 128) and f.shape == (1, 96, 128) and i == 0
    assert float(m.min()) == 0.0 and float(m.max()) == 1.0
    # zero-based (0, 0), (639, 479), (319, 239) scaled by 0.2: pixel centers map to
    # floor((v + .5) * .2 - .5 + .5) -> (0, 0), (127, 95), (63, 47)
    assert float(f.sum()) == 3.0
    assert f[0, 0, 0] == 1 and f[0, 95, 127] == 1 and f[0, 47, 63] == 1
    assert float(ds[1][2].sum()) == 0.0  # 208 has no fixations

    # hflip flips image, map and fixations together, decided by the sampler's per-item seed
    flipped = SaliconSaliency(demo.images, demo.saliency, str(path), size=(96, 128), hflip=True)
    outcomes = set()
    for seed in range(6):
        xf, mf, ff, _ = flipped[(0, seed)]
        flip = not torch.equal(xf, x)
        outcomes.add(flip)
        if flip:
            assert torch.equal(xf, x.flip(-1)) and torch.equal(mf, m.flip(-1)) and torch.equal(ff, f.flip(-1))
        assert torch.equal(flipped[(0, seed)][0], xf)  # same seed, same decision
    assert outcomes == {True, False}

    # evaluation: NSS and AUC-Judd at those fixations for 192 only; CC, KLD, SIM for both images
    from salanalysis.dualstream.data import SeededSampler, make_loader
    from salanalysis.dualstream.saliency.train import evaluate_saliency
    from salanalysis.saliency_metrics import auc_judd, cc, nss

    net = load_saliency_net(trained.out / "model.pt").eval()
    sampler = SeededSampler(ds, shuffle=False)
    sampler.set_epoch(0)
    got = evaluate_saliency(net, make_loader(ds, sampler, 2, workers=0), torch.device("cpu"))
    with torch.no_grad():
        dens = [net.density(ds[i][0][None])[0, 0].double().numpy() for i in range(2)]
    assert got["n_images"] == 2
    assert got["NSS"] == pytest.approx(nss(dens[0], [0, 127, 63], [0, 95, 47]), abs=1e-5)  # float32 batches
    assert got["AUC_Judd"] == pytest.approx(auc_judd(dens[0], [0, 127, 63], [0, 95, 47]), rel=1e-5)
    cc_ref = np.mean([cc(dens[i], ds[i][1][0].double().numpy()) for i in range(2)])
    assert got["CC"] == pytest.approx(cc_ref, rel=1e-5)


# ------------------------------------------------------------ branch hand-off
def test_branch_conversion_loads_into_baseline(trained, demo):
    from salanalysis.dualstream.models import Baseline
    from salanalysis.dualstream.train import build_phase_model, resolve_config

    net = load_saliency_net(trained.out / "model.pt")
    sd = classifier_state_dict(net, 80, seed=0)
    b = Baseline(80)
    b.load_state_dict(sd, strict=True)
    assert sd["fc.weight"].shape == (160, 2048)
    for k, v in net.backbone.state_dict().items():
        torch.testing.assert_close(sd[f"backbone.{k}"], v, rtol=0, atol=0)
    clf = to_classifier(net, 5, "avg").eval()  # shares the backbone: eval keeps its BN statistics
    assert clf.backbone is net.backbone and clf.pooling == "avg"
    with torch.no_grad():
        assert clf(torch.randn(1, 3, 64, 64)).shape == (1, 5, 2)
    # the classifier trainer's phase 1b takes the train-saliency checkpoint as --branch-init directly
    cfg = resolve_config(phase="1b", branch_init=str(trained.out / "model.pt"),
                         train_annotations=str(demo.annotations), train_images=str(demo.images))
    model = build_phase_model(cfg, 80)
    for k, v in net.backbone.state_dict().items():
        torch.testing.assert_close(model.backbone.state_dict()[k], v, rtol=0, atol=0)


# ----------------------------------------------------------------- PNG export
def test_saliency_map_names():
    from salanalysis.dualstream.saliency.export import saliency_map_name

    assert saliency_map_name("a/COCO_val2014_000000000192.jpg") == "COCO_val2014_000000000192.png"
    assert saliency_map_name("COCO_train2014_42.jpeg") == "COCO_train2014_000000000042.png"
    assert saliency_map_name("000000000192.jpg") == "000000000192.png"
    assert saliency_map_name("my photo.png") == "my photo.png"


def test_predict_writes_pngs_that_load_as_a_map_source(trained, demo, demo_ann, tmp_path):
    from salanalysis.maps import MapSource
    from salanalysis.saliency_metrics import evaluate_maps

    images = tmp_path / "images"
    images.mkdir()
    for iid in (192, 208):
        shutil.copy(demo.images / f"COCO_val2014_{iid:012d}.jpg", images)
    shutil.copy(demo.images / "COCO_val2014_000000000241.jpg", images / "street.jpg")
    out = tmp_path / "pred"
    assert main(["saliency", "predict", "--checkpoint", str(trained.out / "model.pt"), "--images",
                 str(images), "--out", str(out), "--device", "cpu"]) == 0
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["COCO_val2014_000000000192.png", "COCO_val2014_000000000208.png",
                     "saliency_predict.json", "street.png"]
    png = cv2.imread(str(out / "COCO_val2014_000000000192.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (480, 640)  # the image's size, grayscale
    assert png.min() == 0 and png.max() == 255
    assert cv2.imread(str(out / "street.png"), cv2.IMREAD_UNCHANGED).shape == (640, 480)
    src = MapSource(out, "predicted")
    got = src.load(192, 480, 640, "COCO_val2014_000000000192.jpg")
    np.testing.assert_allclose(got, png / 255.0, atol=1e-6)
    # the PNG is the network's density at the image size, min-max scaled: compare in memory
    from salanalysis.dualstream.saliency.export import read_rgb

    net = load_saliency_net(trained.out / "model.pt").eval()
    img = read_rgb(images / "COCO_val2014_000000000192.jpg")
    x = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    with torch.no_grad():
        d = net.density(torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None])[0, 0].numpy()
    d = cv2.resize(d, (640, 480), interpolation=cv2.INTER_LINEAR)
    ref = np.rint(255 * (d - d.min()) / (d.max() - d.min()))
    assert np.abs(png.astype(float) - ref).max() <= 1
    # and the folder is scored by the saliency metrics against the real SALICON maps
    table = evaluate_maps(out, demo.saliency, metrics=["CC", "KLD", "SIM"])
    assert table["has_pred"].iloc[:2].all() and np.isfinite(table["CC"].iloc[:2]).all()
    # ... and is a saliency source of the object table: max saliency in each mask of 192
    from salanalysis.dualstream.data import subset_annotations
    from salanalysis.objects import compute_objects

    ann = subset_annotations(demo_ann, [192, 208])
    objs = compute_objects(ann, {"predicted": out}, jobs=1).objects
    o = objs[objs["image_id"] == 192]
    assert len(o) > 0 and objs["sal_max_predicted"].notna().all()
    for ann_id, val in zip(o["ann_id"], o["sal_max_predicted"]):
        assert val == pytest.approx(float((png / 255.0)[ann.mask(ann_id) > 0].max()), abs=1e-6)


def test_predict_writes_a_salicon_results_json(trained, demo, tmp_path):
    from salanalysis.maps import MapSource, read_results_json

    images = tmp_path / "images"
    images.mkdir()
    for iid in (192, 208):
        shutil.copy(demo.images / f"COCO_val2014_{iid:012d}.jpg", images)
    ckpt = str(trained.out / "model.pt")
    folder, js = tmp_path / "pred", tmp_path / "pred.json"
    for out in (folder, js):
        assert main(["saliency", "predict", "--checkpoint", ckpt, "--images", str(images),
                     "--out", str(out), "--device", "cpu"]) == 0
    assert not (tmp_path / "pred.json.maps").exists()  # the waiting PNGs are gone once the JSON is written
    entries = read_results_json(js)
    assert sorted(entries) == [192, 208]
    src = MapSource(js, "predicted")
    for iid in (192, 208):
        png = cv2.imread(str(folder / f"COCO_val2014_{iid:012d}.png"), cv2.IMREAD_UNCHANGED)
        got = src.load(iid, 480, 640, f"COCO_val2014_{iid:012d}.jpg")
        np.testing.assert_array_equal(np.rint(got * 255), png)  # the same 8-bit map as the folder's PNG
    # a name without a COCO image id cannot be a results JSON entry: refused before any work
    shutil.copy(demo.images / "COCO_val2014_000000000241.jpg", images / "street.jpg")
    assert main(["saliency", "predict", "--checkpoint", ckpt, "--images", str(images),
                 "--out", str(tmp_path / "other.json"), "--device", "cpu"]) == 2
    assert not (tmp_path / "other.json").exists() and not (tmp_path / "other.json.maps").exists()


def test_predict_resumes_an_interrupted_run(trained, demo, tmp_path):
    from salanalysis.dualstream.saliency.export import predict_saliency_maps

    images = tmp_path / "images"
    images.mkdir()
    for iid in (192, 208, 241):
        shutil.copy(demo.images / f"COCO_val2014_{iid:012d}.jpg", images)
    ckpt = trained.out / "model.pt"
    kw = dict(batch_size=1, device="cpu")
    whole = predict_saliency_maps(ckpt, images, tmp_path / "whole", **kw)

    stop = stop_at(1)
    out = tmp_path / "out"
    with pytest.raises(Interrupt):
        predict_saliency_maps(ckpt, images, out, on_batch=stop, **kw)
    (stage,) = out.iterdir()  # nothing in out but the staging folder with 2 finished maps
    assert stage.name.startswith(".staging-") and len([p for p in stage.iterdir() if p.suffix == ".png"]) == 2
    seen: list[int] = []
    table = predict_saliency_maps(ckpt, images, out, on_batch=seen.append, **kw)
    assert seen == [2]  # only the third image (batch 2) was computed
    pd.testing.assert_frame_equal(table, whole)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())
    for name in whole["map_file"]:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    # other settings (input size) do not reuse the kept maps; resume=False keeps nothing
    with pytest.raises(Interrupt):
        predict_saliency_maps(ckpt, images, tmp_path / "o2", on_batch=stop, **kw)
    seen.clear()
    predict_saliency_maps(ckpt, images, tmp_path / "o2", on_batch=seen.append, input_size=(64, 96), **kw)
    assert seen == [0, 1, 2]
    assert not [p for p in (tmp_path / "o2").iterdir() if p.name.startswith(".")]  # old one removed
    with pytest.raises(Interrupt):
        predict_saliency_maps(ckpt, images, tmp_path / "o3", on_batch=stop, resume=False, **kw)
    assert list((tmp_path / "o3").iterdir()) == []


def test_predict_resumed_mid_batch_keeps_the_batches(trained, demo, tmp_path, monkeypatch):
    # an interrupt between two maps of one batch: the resumed run recomputes that whole
    # batch, so every batch holds the same images as in an uninterrupted run
    from salanalysis.dualstream.saliency import export as se

    images = tmp_path / "images"
    images.mkdir()
    for iid in (192, 208, 241, 257):
        shutil.copy(demo.images / f"COCO_val2014_{iid:012d}.jpg", images)
    ckpt = trained.out / "model.pt"
    whole = se.predict_saliency_maps(ckpt, images, tmp_path / "whole", batch_size=2, device="cpu")
    real, calls = se.write_png, []

    def flaky(arr, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(arr, path)

    monkeypatch.setattr(se, "write_png", flaky)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        se.predict_saliency_maps(ckpt, images, out, batch_size=2, device="cpu")
    seen: list[int] = []
    se.predict_saliency_maps(ckpt, images, out, batch_size=2, device="cpu", on_batch=seen.append)
    assert seen == [0, 1]  # batch 0 had one kept map of two: computed again as a whole
    for name in whole["map_file"]:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()


def test_predict_bad_input_writes_nothing(trained, demo, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(demo.images / "COCO_val2014_000000000192.jpg", images)
    (images / "COCO_val2014_000000000999.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "pred"
    ckpt = str(trained.out / "model.pt")
    assert main(["saliency", "predict", "--checkpoint", ckpt, "--images", str(images), "--out", str(out)]) == 2
    assert [p for p in out.iterdir()] == []  # bad input: nothing staged survives, no partial map
    assert main(["saliency", "predict", "--checkpoint", ckpt, "--images", str(tmp_path / "none"),
                 "--out", str(out)]) == 2
    # a classifier checkpoint is not a saliency network
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.models import Baseline, model_meta

    b = Baseline(3)
    save_checkpoint(tmp_path / "clf.pt", {"model": b.state_dict(), "meta": model_meta(b)})
    with pytest.raises(InputError, match="not a saliency-network checkpoint"):
        load_saliency_net(tmp_path / "clf.pt")
