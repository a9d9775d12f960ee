"""Reproducing Table 1 without traps: a distinct dual-stream baseline, the stated recipe,
safe GPU defaults (mixed precision, SyncBatchNorm, pipelines, loaders) and one vocabulary in
train / predict / cam. GPU-only decisions are pure functions tested with stand-in capabilities;
everything else runs ResNet-50 on a few demo JPEGs at 32 px on the CPU.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score
from torch import nn

from salanalysis.cli import main
from salanalysis.dualstream.checkpoint import load_checkpoint
from salanalysis.dualstream.config import PHASE_LR, load_config, phase_seed, resolve_config
from salanalysis.dualstream.data import CocoMultiLabel, subset_annotations
from salanalysis.dualstream.distributed import DistInfo
from salanalysis.dualstream.loop import (
    LoopState,
    grad_scaler,
    make_loaders,
    resolve_amp,
    train_one_epoch,
    use_sync_bn,
)
from salanalysis.dualstream.models import Baseline
from salanalysis.dualstream.pipeline import InputPipeline, resolve_pipeline
from salanalysis.dualstream.predict import evaluate_scores, predict
from salanalysis.dualstream.train import same_weights, train
from salanalysis.errors import InputError, InputWarning
from salanalysis.io import write_json

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_ann, demo):
    root = tmp_path_factory.mktemp("recipe")
    on_disk = CocoMultiLabel(demo_ann, demo.images, missing="skip").image_ids
    sub = subset_annotations(demo_ann, on_disk[:8])
    write_json(root / "sub8.json", sub.coco.dataset)
    import torchvision

    torch.manual_seed(11)  # one shared "pretrained" backbone file: phases 1 and 1b start from the same weights
    torch.save(torchvision.models.resnet50().state_dict(), root / "backbone.pth")
    return {"images": str(demo.images), "sub8": str(root / "sub8.json"), "root": root,
            "weights": str(root / "backbone.pth")}


def _cfg(files, out, **kw):
    cfg = dict(train_annotations=files["sub8"], train_images=files["images"], out=str(out),
               weights=files["weights"], input_size=32, workers=0, progress=False, tensorboard=False,
               batch_size=4, epochs=1, bn="frozen")
    cfg.update(kw)
    return cfg


# ------------------------------------------------------------ 1. two streams
def test_phase_seed_is_derived_for_phase_1b_only():
    assert [phase_seed(s, p) for s in (0, 7) for p in ("1", "2", "3")] == [0, 0, 0, 7, 7, 7]
    derived = [phase_seed(s, "1b") for s in range(50)]
    assert len(set(derived)) == 50 and not set(derived) & set(range(1000))  # none equals a small seed
    assert phase_seed(3, "1b") == phase_seed(3, "1b") and 0 <= phase_seed(3, "1b") < 2**31


def test_dual_stream_baseline_is_two_networks_and_phase2_refuses_one_twice(files, tmp_path):
    # the same start (one backbone file) and the default seed: phase 1b's derived seed gives another
    # data order and fc start, so the branch differs from the trunk in (nearly) every entry
    r1 = train(_cfg(files, tmp_path / "p1", phase="1"))
    r1b = train(_cfg(files, tmp_path / "p1b", phase="1b", variant="baseline"))
    a, b = load_checkpoint(r1.model_path)["model"], load_checkpoint(r1b.model_path)["model"]
    same = [k for k in a if a[k].is_floating_point() and torch.equal(a[k], b[k])]
    floating = [k for k in a if a[k].is_floating_point()]
    # BatchNorm frozen: running statistics stay as loaded; every trained parameter differs
    trained = [k for k in floating if "running_" not in k]
    assert not set(same) & set(trained), sorted(set(same) & set(trained))[:5]
    cfg = json.loads((tmp_path / "p1b" / "config.json").read_text())
    assert cfg["seed"] == 0 and cfg["seed_resolved"] == phase_seed(0, "1b") != 0

    with pytest.raises(InputError, match="same weights as the trunk"):
        train(_cfg(files, tmp_path / "p2", phase="2", trunk=str(r1.model_path), branch=str(r1.model_path)))
    r2 = train(_cfg(files, tmp_path / "p2", phase="2", trunk=str(r1.model_path), branch=str(r1b.model_path)))
    assert r2.model_path is not None


def test_same_weights():
    torch.manual_seed(0)
    m = Baseline(3)
    twin = Baseline(3)
    twin.load_state_dict(m.state_dict())
    assert same_weights(m, twin)
    with torch.no_grad():
        twin.fc.bias[0] += 1e-7
    assert not same_weights(m, twin)


# ------------------------------------------------------------ 2. the recipe
def test_paper_recipe_file_marks_every_value_and_loads():
    path = ROOT / "analyses" / "train_paper.toml"
    lines = path.read_text(encoding="utf-8").splitlines()
    keyed = [ln for ln in lines if re.match(r"^\s*[a-z_]+\s*=", ln)]
    assert len(keyed) >= 12
    for ln in keyed:  # each value says whose it is
        assert re.search(r"#\s*(paper|ours \()", ln), ln
    cfg = load_config(path, train_annotations="a.json", train_images="imgs")
    assert (cfg.momentum, cfg.weight_decay, cfg.pooling, cfg.input_size) == (0.9, 1e-4, "max", 224)
    # phase 2/3 values the paper states: lr 1e-5 and 1e-6 (the per-phase defaults)
    assert PHASE_LR["2"] == 1e-5 and PHASE_LR["3"] == 1e-6 and cfg.lr is None


def test_whole_image_crops(demo_ann, demo):
    from PIL import Image

    ds = CocoMultiLabel(demo_ann, demo.images, missing="skip")
    path = ds.files[0]
    s = 64
    pipe = InputPipeline("cpu", s, train=False, eval_crop="whole")
    x = pipe.item(path, None)
    assert tuple(x.shape) == (3, s, s)
    # reference: Pillow's own antialiased bilinear resize of the whole image (a different implementation)
    ref = np.asarray(Image.open(path).convert("RGB").resize((s, s), Image.BILINEAR)).transpose(2, 0, 1)
    diff = np.abs(x.numpy().astype(int) - ref.astype(int))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 8
    # the gpu path (run on CPU tensors) crops the same way
    gpu = InputPipeline("gpu", s, train=False, eval_crop="whole")
    from salanalysis.dualstream.pipeline import collate_encoded

    item = gpu.item(path, None)
    y = gpu.decode_and_crop(collate_encoded([(item, torch.zeros(1), 0)])[0], None, torch.device("cpu"))[0]
    assert (x.int() - y.int()).abs().max() <= 3
    # training: the whole image (box = the image) then a flip, for every seed
    tr = InputPipeline("cpu", s, train=True, train_crop="whole")
    w, h = Image.open(path).size
    boxes = {tr.geometry(h, w, seed)[:4] for seed in range(20)}
    flips = {tr.geometry(h, w, seed)[4] for seed in range(20)}
    assert boxes == {(0, 0, h, w)} and flips == {0, 1}
    # crop_scale bounds the random-resized crop's area fraction
    rr = InputPipeline("cpu", s, train=True, crop_scale=0.5)
    areas = [b[2] * b[3] / (h * w) for b in (rr.geometry(h, w, seed) for seed in range(200))]
    assert min(areas) >= 0.49
    with pytest.raises(InputError, match="crop_scale"):
        resolve_config(train_annotations="a", train_images="b", crop_scale=0)


# ------------------------------------------------------------ 3. pipelines
def test_auto_pipeline_is_cpu_and_gpu_says_experimental():
    assert resolve_pipeline("auto", "cuda") == "cpu" and resolve_pipeline("auto", "cpu") == "cpu"
    with pytest.warns(InputWarning, match="experimental"):
        assert resolve_pipeline("gpu", "cpu") == "gpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_pipeline("cpu", "cuda") == "cpu"


# ------------------------------------------------------------ 4. GPU engineering
def test_amp_decision_for_device_capabilities():
    # (setting, device, has bf16) -> autocast dtype
    assert resolve_amp("auto", "cuda", True) == "bf16"  # A100, H100
    assert resolve_amp("auto", "cuda", False) == "fp16"  # V100, T4: fp16 + gradient scaler
    assert resolve_amp(True, "cuda", False) == "fp16"
    assert resolve_amp("fp16", "cuda", True) == "fp16"
    assert resolve_amp("bf16", "cuda", True) == "bf16"
    for setting in ("auto", "bf16", "fp16", True):
        assert resolve_amp(setting, "cpu", False) is None  # the CPU trains in float32
    for setting in ("none", False, None):
        assert resolve_amp(setting, "cuda", True) is None
    with pytest.raises(InputError, match="no bfloat16"):
        resolve_amp("bf16", "cuda", False)
    with pytest.raises(InputError, match="amp must be one of"):
        resolve_amp("fp8", "cuda", True)
    assert grad_scaler("bf16", "cpu") is None and grad_scaler(None, "cpu") is None
    assert isinstance(grad_scaler("fp16", "cpu"), torch.amp.GradScaler)


def _toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(6, 5, generator=g), (torch.rand(6, 3, generator=g) < 0.5).float(), torch.arange(6))
               for _ in range(4)]
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    def crit(out, y):
        return nn.functional.binary_cross_entropy_with_logits(out, y), {}

    return model, opt, crit, batches


def test_grad_scaler_path_on_cpu_matches_plain_steps():
    plain, opt_a, crit, batches = _toy()
    train_one_epoch(plain, batches, opt_a, crit, state=LoopState())
    scaled, opt_b, crit, batches = _toy()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    train_one_epoch(scaled, batches, opt_b, crit, scaler=scaler, state=LoopState())
    for p, q in zip(plain.parameters(), scaled.parameters()):  # a power-of-two scale unscales exactly
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert scaler.get_scale() == 2.0**10  # no overflow, no growth within 2000 steps

    # an overflowing step is skipped (the parameters stay) and the scale halves
    model, opt, _, batches = _toy()
    before = [p.detach().clone() for p in model.parameters()]

    def overflow(out, y):
        return (out * 1e38).sum() * 1e3, {}

    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    loss = overflow(model(batches[0][0]), None)[0]
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert scaler.get_scale() == 2.0**15


def test_sync_batchnorm_decision_and_conversion():
    assert use_sync_bn(None, "cuda", 8, 4)  # global batch 32 on 8 GPUs: 4 images per BatchNorm
    assert not use_sync_bn(None, "cuda", 2, 16) and use_sync_bn(None, "cuda", 2, 15)
    assert not use_sync_bn(None, "cuda", 1, 4)  # one process: nothing to synchronise
    assert not use_sync_bn(True, "cpu", 2, 4)  # gloo/CPU: SyncBatchNorm needs GPUs
    assert use_sync_bn(True, "cuda", 2, 64) and not use_sync_bn(False, "cuda", 8, 4)
    torch.manual_seed(0)
    model = Baseline(4)
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    keys = list(model.state_dict())
    synced = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in synced.modules()) == n_bn == 53
    assert list(synced.state_dict()) == keys  # checkpoints load either way
    synced.eval()  # eval mode uses the running statistics: the same as plain BatchNorm on the CPU
    plain = Baseline(4)
    plain.load_state_dict(synced.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(synced(x), plain.eval()(x))
    assert resolve_config(train_annotations="a", train_images="b").sync_bn is None


def test_validation_loader_does_not_keep_workers(demo_ann, demo):
    ds = CocoMultiLabel(demo_ann, demo.images, missing="skip")
    cfg = resolve_config(train_annotations="a", train_images="b", workers=1, persistent_workers=True)
    _, loader, val = make_loaders(ds, ds, DistInfo(), cfg, 4, 2, False)
    assert loader.persistent_workers is True and val.persistent_workers is False


# ------------------------------------------------------------ one vocabulary
def test_missing_one_spelling(files, tmp_path, demo, capsys):
    cfg = resolve_config(train_annotations="a", train_images="b", missing_images="skip")
    assert cfg.missing == "skip"
    with pytest.raises(InputError, match="not both"):
        resolve_config(train_annotations="a", train_images="b", missing_images="skip", missing="error")
    # train names the option in its error and reports what it skipped
    code = main(["train", "--train-annotations", str(demo.annotations), "--train-images", files["images"],
                 "--out", str(tmp_path / "t"), "--weights", "none", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "--missing skip" in err and "73 of 100 images missing" in err
    args = ["train", "--train-annotations", str(demo.annotations), "--train-images", files["images"],
            "--out", str(tmp_path / "t"), "--weights", "none", "--device", "cpu", "--input-size", "32",
            "--batch-size", "27", "--epochs", "1", "--max-steps", "1", "--workers", "0", "--quiet", "--bn", "frozen",
            "--no-tensorboard"]
    assert main([*args, "--missing-images", "skip"]) == 0
    out, err = capsys.readouterr()
    assert "--missing-images is now spelled --missing" in err
    assert "skipped 73 training images whose file is absent (--missing skip)" in out
    cfg = json.loads((tmp_path / "t" / "config.json").read_text())
    assert cfg["missing"] == "skip" and cfg["n_missing_images"] == {"train": 73}


def test_predict_evaluate_and_missing(files, tmp_path, demo, demo_ann, capsys):
    torch.manual_seed(0)
    r = train(_cfg(files, tmp_path / "p1", phase="1", input_size=48))
    out = tmp_path / "s.csv"
    code = main(["predict", "--checkpoint", str(r.model_path), "--annotations", str(demo.annotations), "--images",
                 files["images"], "--out", str(out), "--workers", "0", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--missing skip" in err and not out.exists()
    code = main(["predict", "--checkpoint", str(r.model_path), "--annotations", str(demo.annotations), "--images",
                 files["images"], "--out", str(out), "--workers", "0", "--device", "cpu", "--quiet",
                 "--missing", "skip", "--evaluate"])
    text = capsys.readouterr().out
    assert code == 0 and "skipped 73 images whose file is absent (--missing skip)" in text
    assert "mAP" in text
    scores = predict(r.model_path, demo.annotations, files["images"], missing="skip", workers=0, device="cpu")
    assert scores.meta["n_missing_images"] == 73 and len(scores.image_ids) == 27
    # Table 1's mAP on the 27 scored images: scikit-learn's AP over the classes with a positive there
    res = evaluate_scores(scores, demo.annotations)
    t1 = res.tables["table1"]
    labels = demo_ann.label_matrix(include_crowd=True)[np.searchsorted(demo_ann.image_ids, scores.image_ids)]
    pos = np.flatnonzero(labels.any(axis=0))
    ref = np.mean([average_precision_score(labels[:, c], scores.scores[:, c]) for c in pos])
    assert float(t1["mAP"].iloc[0]) == pytest.approx(ref, rel=1e-9)
    assert f"{100 * ref:.1f}" in text
    # the old keyword still works for one release, with a note
    with pytest.warns(FutureWarning, match="missing="):
        again = predict(r.model_path, demo.annotations, files["images"], missing_images="skip", workers=0,
                        device="cpu")
    np.testing.assert_allclose(again.scores, scores.scores)


def test_cam_defaults_to_the_checkpoints_input_size(files, tmp_path, demo, demo_ann):
    from salanalysis.dualstream.cam import run_cams
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.models import model_meta

    on_disk = CocoMultiLabel(demo_ann, demo.images, missing="skip").image_ids
    ids = on_disk[:2]
    sub = subset_annotations(demo_ann, ids)
    torch.manual_seed(0)
    paths = {}
    for name, size in (("a", 48), ("b", 48), ("c", 64)):
        m = Baseline(80)
        paths[name] = tmp_path / f"{name}.pt"
        save_checkpoint(paths[name], {"model": m.state_dict(), "config": {"input_size": size},
                                      "meta": model_meta(m, sub.category_ids, sub.category_names)})
    res = run_cams([("a", paths["a"]), ("b", paths["b"])], sub, demo.images, tmp_path / "o", device="cpu")
    assert json.loads((tmp_path / "o" / "cam_run.json").read_text())["input_size"] == 48
    assert res.counts["n_images_scanned"] == 2
    with pytest.raises(InputError, match="trained at input sizes 48 and 64"):
        run_cams([("a", paths["a"]), ("c", paths["c"])], sub, demo.images, tmp_path / "x", device="cpu")
    run_cams([("a", paths["a"]), ("c", paths["c"])], sub, demo.images, tmp_path / "x", device="cpu",
             input_size=32)
    # --missing: skip by default (counted), error names the option
    absent = [i for i in demo_ann.image_ids if i not in set(on_disk)][:2]
    more = subset_annotations(demo_ann, np.array(sorted([*ids, *absent])))
    with pytest.raises(InputError, match="--missing skip"):
        run_cams([("a", paths["a"]), ("b", paths["b"])], more, demo.images, tmp_path / "y", device="cpu",
                 missing="error")


def test_missing_spelling_in_every_torch_command(capsys):
    from salanalysis.cli import build_parser
    from salanalysis.dualstream.config import SPEC
    from salanalysis.dualstream.saliency.config import SPEC as SAL

    p = build_parser()
    cam = ["cam", "--checkpoint", "a=x", "--checkpoint", "b=y", "--annotations", "a", "--images", "d", "--out", "o"]
    assert p.parse_args(cam).missing == "skip" and p.parse_args([*cam, "--missing", "error"]).missing == "error"
    assert p.parse_args([*cam, "--missing-images", "error"]).missing == "error"
    assert "--missing-images is now spelled --missing" in capsys.readouterr().err
    pred = ["predict", "--checkpoint", "c", "--images", "d", "--annotations", "a", "--out", "s.csv"]
    assert p.parse_args(pred).missing == "error" and p.parse_args([*pred, "--missing-images", "skip"]).missing == "skip"
    args = p.parse_args(["train-saliency", "--train-images", "i", "--train-maps", "m", "--missing-images", "skip"])
    assert SAL.resolve(SAL.given(args)).missing == "skip"
    args = p.parse_args(["train", "--train-annotations", "a", "--train-images", "i", "--missing", "skip"])
    assert SPEC.resolve(SPEC.given(args)).missing == "skip"
    with pytest.raises(SystemExit):
        p.parse_args([*pred, "--missing", "zero"])  # 'zero' is the analysis commands' (scores), not an image rule
