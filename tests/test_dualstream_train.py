"""Training phases, overfitting, exact resume, torchrun (2-process gloo) and predict, on CPU.

Everything runs ResNet-50 on a handful of the real demo JPEGs at 32-64 px.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from interrupts import Interrupt, stop_at
from sklearn.metrics import average_precision_score

from salanalysis.cli import main
from salanalysis.coco import Annotations
from salanalysis.dualstream.checkpoint import load_checkpoint, save_checkpoint
from salanalysis.dualstream.config import load_config, resolve_config
from salanalysis.dualstream.data import CocoMultiLabel, eval_transform, subset_annotations
from salanalysis.dualstream.loss import mce_loss
from salanalysis.dualstream.models import Backbone, Baseline, DualStream, model_meta, probabilities
from salanalysis.dualstream.predict import load_model, predict
from salanalysis.dualstream.train import evaluate, train
from salanalysis.dualstream.weights import load_resnet50, load_weights_into
from salanalysis.errors import InputError
from salanalysis.io import write_json
from salanalysis.scores import read_scores


@pytest.fixture(scope="module")
def files(tmp_path_factory, demo_ann, demo):
    root = tmp_path_factory.mktemp("ds")
    on_disk = CocoMultiLabel(demo_ann, demo.images, missing="skip").image_ids
    out = {"images": str(demo.images), "root": root}
    for n in (4, 5, 8):
        sub = subset_annotations(demo_ann, on_disk[:n])
        write_json(root / f"sub{n}.json", sub.coco.dataset)
        out[f"sub{n}"] = str(root / f"sub{n}.json")
    return out


def _base(files, out, **kw):
    cfg = dict(train_annotations=files["sub8"], train_images=files["images"], out=str(out), weights="none",
               input_size=32, workers=0, progress=False, tensorboard=False, log_every=1)
    cfg.update(kw)
    return cfg


def _read_log(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------- phases
def test_phase2_trains_only_the_linear_layer_and_phase3_everything(files, tmp_path, demo_ann):
    torch.manual_seed(0)
    meta = model_meta(Baseline(80), demo_ann.category_ids, demo_ann.category_names)
    for name in ("trunk", "branch"):
        save_checkpoint(tmp_path / f"{name}.pt", {"model": Baseline(80).state_dict(), "meta": meta})
    parts = []
    for name in ("trunk", "branch"):
        b = Baseline(80)
        load_weights_into(b, tmp_path / f"{name}.pt")
        parts.append(b)
    start = DualStream.from_baselines(*parts).state_dict()

    r2 = train(_base(files, tmp_path / "p2", phase="2", trunk=str(tmp_path / "trunk.pt"),
                     branch=str(tmp_path / "branch.pt"), train_annotations=files["sub4"], batch_size=4,
                     epochs=1))
    after = load_checkpoint(r2.model_path)["model"]
    assert r2.step == 1
    for key, value in start.items():
        if key.startswith(("trunk.", "branch.")):  # parameters and BatchNorm statistics frozen
            assert torch.equal(value, after[key]), key
        else:
            assert key in ("fc.weight", "fc.bias") and not torch.equal(value, after[key]), key
    ck2 = load_checkpoint(r2.checkpoint)
    groups = ck2["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [1e-5] and len(groups[0]["params"]) == 2
    assert groups[0]["momentum"] == 0.9 and groups[0]["weight_decay"] == 1e-4
    assert float(_read_log(r2.out / "log.csv")[0]["lr"]) == 1e-5

    r3 = train(_base(files, tmp_path / "p3", phase="3", init=str(r2.model_path),
                     train_annotations=files["sub4"], batch_size=4, epochs=1))
    ck3 = load_checkpoint(r3.checkpoint)
    n_params = len(list(DualStream(80).parameters()))
    g3 = ck3["optimizer"]["param_groups"]
    assert [g["lr"] for g in g3] == [1e-6] and len(g3[0]["params"]) == n_params
    # every parameter received a gradient (SGD keeps a momentum buffer per updated parameter)
    state = ck3["optimizer"]["state"]
    assert len(state) == n_params and all(s["momentum_buffer"].abs().sum() > 0 for s in state.values())
    after3 = ck3["model"]
    assert not torch.equal(after3["fc.weight"], after["fc.weight"])
    assert not torch.equal(after3["trunk.layer4.2.bn3.running_mean"], after["trunk.layer4.2.bn3.running_mean"])


def test_phase_options_are_validated(tmp_path, files):
    with pytest.raises(InputError, match="phase 2 needs trunk and branch"):
        resolve_config(_base(files, tmp_path, phase="2"))
    with pytest.raises(InputError, match="phase 1b needs branch_init"):
        resolve_config(_base(files, tmp_path, phase="1b"))
    assert resolve_config(_base(files, tmp_path, phase="1b", variant="baseline")).phase == "1b"
    with pytest.raises(InputError, match="must be one of"):
        resolve_config(_base(files, tmp_path, pooling="median"))
    toml = tmp_path / "c.toml"
    toml.write_text('[train]\nphase = "1"\nbatch_sise = 3\n')
    with pytest.raises(InputError, match="unknown option 'batch_sise'") as exc:
        load_config(toml)
    assert str(toml) in str(exc.value)


def test_phase1b_starts_from_the_converted_saliency_backbone(files, tmp_path):
    torch.manual_seed(3)
    sal = Baseline(80)
    sd = {f"backbone.{k}": v for k, v in sal.backbone.state_dict().items()}
    sd["readout.weight"] = torch.zeros(1, 2048, 1, 1)  # a saliency network's extra layer
    torch.save(sd, tmp_path / "sal.pth")
    r = train(_base(files, tmp_path / "p1b", phase="1b", branch_init=str(tmp_path / "sal.pth"),
                    train_annotations=files["sub4"], batch_size=4, epochs=1, lr=1e-9, momentum=0.0,
                    weight_decay=0.0, bn="frozen", channels_last=True, log_format="jsonl"))
    after = load_checkpoint(r.model_path)["model"]
    rows = [json.loads(line) for line in (r.out / "log.jsonl").read_text().splitlines()]
    assert [row["kind"] for row in rows] == ["step", "epoch"] and rows[1]["step"] == 1
    # with a vanishing lr the fine-tuned backbone is still the saliency backbone
    torch.testing.assert_close(after["backbone.conv1.weight"], sal.backbone.conv1.weight, rtol=0, atol=1e-6)
    assert load_checkpoint(r.checkpoint)["optimizer"]["param_groups"][0]["lr"] == 1e-9


# -------------------------------------------------------------------- overfit
def test_baseline_overfits_a_handful_of_demo_images(files):
    ann = Annotations.load(files["sub8"])
    ds = CocoMultiLabel(ann, files["images"], eval_transform(64))
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.stack([ds[i][1] for i in range(len(ds))])
    torch.manual_seed(0)
    model = Baseline(ds.num_classes)
    opt = torch.optim.SGD(model.parameters(), lr=3e-3, momentum=0.9, weight_decay=1e-4)
    losses = []
    for _ in range(30):
        loss = mce_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] <= 0.2 * losses[0], losses
    with torch.no_grad():
        p = probabilities(model(x)).numpy()
    present = y.numpy().any(axis=0)
    ap = [average_precision_score(y.numpy()[:, c], p[:, c]) for c in np.flatnonzero(present)]
    assert np.mean(ap) > 0.9


def test_progress_bar_into_a_log_is_not_redrawn_every_step(files, tmp_path, capsys):
    # stderr captured = not a terminal: the epoch bar (with its loss postfix) may draw at
    # most every 30 s, so 4 quick steps per epoch give its first and last draws only, not
    # one per step (redrawing at every loss update gave 5 per epoch)
    r = train(_base(files, tmp_path / "run", batch_size=2, epochs=2, lr=1e-4, progress=True))
    assert r.step == 8
    err = capsys.readouterr().err
    for epoch in ("epoch 1/2", "epoch 2/2"):
        draws = [line for line in err.split("\r") if epoch in line]
        assert 1 <= len(draws) <= 3, draws


def test_evaluate_drops_padding_duplicates(files):
    from torch.utils.data import DataLoader

    ann = Annotations.load(files["sub4"])
    ds = CocoMultiLabel(ann, files["images"], eval_transform(32))
    torch.manual_seed(0)
    model = Baseline(ds.num_classes)
    loader = DataLoader(ds, batch_size=2, sampler=[0, 1, 2, 3, 0, 1])  # padded like DistributedSampler
    res = evaluate(model, loader, torch.device("cpu"), labels=ds.labels)
    assert list(res["index"]) == [0, 1, 2, 3]
    with torch.no_grad():
        direct = probabilities(model(torch.stack([ds[i][0] for i in range(4)]))).numpy()
    np.testing.assert_allclose(res["probs"], direct, rtol=1e-5, atol=1e-7)
    present = np.flatnonzero(ds.labels.any(axis=0))
    ref = np.mean([average_precision_score(ds.labels[:, c], direct[:, c]) for c in present])
    assert res["mAP"] == pytest.approx(ref, rel=1e-6)


# --------------------------------------------------------- resume and predict
def test_resumed_run_ends_identical_and_predict_matches(files, tmp_path, capsys, demo, demo_ann):
    # bit-exact continuation is checked on the CPU (cuDNN's backward passes are not deterministic,
    # and bf16 autocast would differ from the float32 reference forward pass below). BatchNorm is
    # frozen: a few steps from random weights with batches of 2 leave running statistics that make
    # eval-mode activations explode (up to inf, seen here); test_saliency_net checks that resuming
    # restores trained BatchNorm statistics exactly.
    cfg = _base(files, tmp_path / "a", batch_size=2, epochs=2, lr=1e-3, checkpoint_every=3, seed=7,
                scheduler="step", lr_step=1, lr_gamma=0.5, device="cpu", bn="frozen",
                val_annotations=files["sub5"], val_images=files["images"])
    ra = train(cfg)
    assert ra.step == 8 and ra.epoch == 2  # 8 images / batch 2 = 4 steps per epoch
    assert [float(r["lr"]) for r in ra.history if r["kind"] == "step"] == [1e-3] * 4 + [5e-4] * 4

    stop = stop_at(7)
    with pytest.raises(Interrupt):
        train({**cfg, "out": str(tmp_path / "b")}, on_step=stop)
    ck = load_checkpoint(tmp_path / "b" / "last.pt")
    assert (ck["step"], ck["epoch"], ck["batches_done"]) == (6, 1, 2)  # mid-epoch checkpoint
    # resume through the command line (checkpoint's config; another worker count is allowed)
    code = main(["train", "--resume", str(tmp_path / "b" / "last.pt"), "--workers", "1", "--no-progress"])
    assert code == 0 and "trained 8 steps (2 epochs)" in capsys.readouterr().out
    a = load_checkpoint(ra.model_path)["model"]
    b = load_checkpoint(tmp_path / "b" / "model.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log_a, log_b = _read_log(ra.out / "log.csv"), _read_log(tmp_path / "b" / "log.csv")
    cols = ["kind", "epoch", "step", "loss", "lr", "val_loss", "mAP"]
    assert [[r[c] for c in cols] for r in log_a] == [[r[c] for c in cols] for r in log_b]
    with pytest.raises(InputError, match="cannot resume with a different 'lr'"):
        train({**cfg, "lr": 0.5}, resume=tmp_path / "b" / "last.pt")

    # predict: the same probabilities as a direct forward pass, and the logged mAP
    val = Annotations.load(files["sub5"])
    scores = predict(ra.model_path, val, files["images"], workers=0, device="cpu")
    model, _ = load_model(ra.model_path)
    ds = CocoMultiLabel(val, files["images"], eval_transform(32))
    with torch.no_grad():
        direct = probabilities(model(torch.stack([ds[i][0] for i in range(len(ds))]))).numpy()
    np.testing.assert_allclose(scores.scores, direct, rtol=1e-5, atol=1e-7)
    labels = val.label_matrix()
    ref_map = np.mean([average_precision_score(labels[:, c], scores.scores[:, c])
                       for c in np.flatnonzero(labels.any(axis=0))])
    assert float(log_a[-1]["mAP"]) == pytest.approx(ref_map, rel=1e-6)

    out = tmp_path / "scores.csv"
    code = main(["predict", "--checkpoint", str(ra.model_path), "--annotations", files["sub5"],
                 "--images", files["images"], "--out", str(out), "--workers", "0", "--no-progress", "--device", "cpu"])
    assert code == 0
    back = read_scores(out, val)
    np.testing.assert_allclose(back.scores, scores.scores, rtol=1e-12)
    capsys.readouterr()
    code = main(["predict", "--checkpoint", str(ra.model_path), "--annotations", str(Path(files["sub5"])),
                 "--images", str(tmp_path), "--out", str(tmp_path / "x.csv"), "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "image file not found" in err and not (tmp_path / "x.csv").exists()
    # --missing-images skip: rows only for the 27 images on disk; read back with missing="zero"
    full = tmp_path / "full.npz"
    code = main(["predict", "--checkpoint", str(ra.model_path), "--annotations", str(demo.annotations),
                 "--images", files["images"], "--out", str(full), "--workers", "0", "--no-progress",
                 "--missing-images", "skip", "--device", "cpu"])
    assert code == 0
    back = read_scores(full, demo_ann, missing="zero")
    assert back.n_filled == 73
    rows = np.searchsorted(demo_ann.image_ids, val.image_ids)
    # these images were scored in a batch of 27 here, of 5 above: oneDNN's kernels may change the last digits
    np.testing.assert_allclose(back.scores[rows], scores.scores, rtol=1e-5, atol=1e-9)


# ------------------------------------------------------------------ torchrun
def test_predict_resumes_after_an_interrupt(files, tmp_path, monkeypatch, capsys, demo_ann):
    from salanalysis.dualstream import predict as P

    torch.manual_seed(3)
    model = Baseline(80)
    ck = tmp_path / "run" / "model.pt"
    ck.parent.mkdir()
    save_checkpoint(ck, {"model": model.state_dict(),
                         "meta": model_meta(model, demo_ann.category_ids, demo_ann.category_names)})
    kw = dict(batch_size=2, workers=0, device="cpu", input_size=32)
    full = predict(ck, files["sub8"], files["images"], **kw)
    out = tmp_path / "scores.csv"
    part = P.partial_path(out)
    assert part == tmp_path / ".scores.csv.partial.npz"

    stop = stop_at(1)
    # interrupted after 2 of 4 batches: no scores file, the 4 scored images kept
    with pytest.raises(Interrupt):
        P.write_predictions(ck, files["sub8"], files["images"], out, on_batch=stop, **kw)
    assert not out.exists()
    with np.load(part) as z:
        assert int(z["n_done"]) == 4
        np.testing.assert_array_equal(z["scores"], full.scores[:4])
    # continued: only the 2 remaining batches run, and the result is the uninterrupted one's
    seen: list[int] = []
    again = predict(ck, files["sub8"], files["images"], resume=part, on_batch=seen.append, **kw)
    assert seen == [0, 1] and again.meta["resumed_images"] == 4
    np.testing.assert_array_equal(again.scores, full.scores)
    rc = main(["predict", "--checkpoint", str(ck), "--annotations", files["sub8"], "--images", files["images"],
               "--out", str(out), "--batch-size", "2", "--workers", "0", "--device", "cpu", "--input-size", "32",
               "--no-progress"])  # fmt: skip
    assert rc == 0 and "found partial scores" in capsys.readouterr().out
    np.testing.assert_array_equal(read_scores(out, Annotations.load(files["sub8"])).scores, full.scores)
    assert not part.exists()
    # a partial from other settings (here another crop size) is not used
    monkeypatch.setattr(P, "SAVE_EVERY_S", 0.0)  # save after every batch
    with pytest.raises(Interrupt):
        P.write_predictions(ck, files["sub8"], files["images"], out, on_batch=stop,
                            **{**kw, "input_size": 40})  # fmt: skip
    seen.clear()
    other = predict(ck, files["sub8"], files["images"], resume=part, on_batch=seen.append, **kw)
    assert seen == [0, 1, 2, 3] and other.meta["resumed_images"] == 0
    np.testing.assert_array_equal(other.scores, full.scores)
    # a damaged partial file (e.g. cut short by a power loss) is ignored, not a crash
    for junk in (b"", b"PK\x03\x04 cut short"):
        part.write_bytes(junk)
        assert predict(ck, files["sub8"], files["images"], resume=part, **kw).meta["resumed_images"] == 0


def test_predict_partial_follows_the_image_files(files, tmp_path, demo_ann):
    import shutil


    model = Baseline(80)
    ck = tmp_path / "model.pt"
    save_checkpoint(ck, {"model": model.state_dict(),
                         "meta": model_meta(model, demo_ann.category_ids, demo_ann.category_names)})
    ann = Annotations.load(files["sub8"])
    images = tmp_path / "images"
    images.mkdir()
    for fn in ann.images["file_name"]:
        shutil.copy(Path(files["images"]) / fn, images)
    kw = dict(batch_size=2, workers=0, device="cpu", input_size=32)
    part = tmp_path / "p.npz"

    stop = stop_at(1)
    with pytest.raises(Interrupt):
        predict(ck, files["sub8"], images, resume=part, on_batch=stop, **kw)
    first = images / ann.images["file_name"].iloc[0]
    os.utime(first, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns + 10**9))  # replaced
    assert predict(ck, files["sub8"], images, resume=part, **kw).meta["resumed_images"] == 0
    # bad input (an unreadable image) deletes the partial: the input has to change anyway
    with pytest.raises(Interrupt):
        predict(ck, files["sub8"], images, resume=part, on_batch=stop, **kw)
    assert part.exists()
    (images / ann.images["file_name"].iloc[-1]).write_bytes(b"not a jpeg")
    with pytest.raises(InputError):
        predict(ck, files["sub8"], images, resume=part, **kw)
    assert not part.exists()


def test_torchrun_two_processes_match_one(files, tmp_path):
    # Frozen (eval-mode) BatchNorm removes the only dependence on the per-process batch,
    # so 2 processes x batch 2 (gradients averaged by DDP) equal 1 process x batch 4.
    # The 2-process run is also interrupted and resumed (mid-epoch) under torchrun.
    # on the CPU with gloo wherever it runs (a one-GPU machine cannot hold two NCCL processes)
    common = dict(batch_size=4, epochs=1, lr=1e-4, bn="frozen", augment=True, seed=3, device="cpu",
                  val_annotations=files["sub5"], val_images=files["images"])
    single = train(_base(files, tmp_path / "one", **common))
    toml = tmp_path / "ddp.toml"
    lines = [f"{k} = {v!r}".replace("'", '"') if isinstance(v, str) else
             f"{k} = {str(v).lower() if isinstance(v, bool) else v}"
             for k, v in _base(files, tmp_path / "two", **common).items()]
    toml.write_text("\n".join(lines) + "\n")
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    cmd += ["--standalone", "--nproc_per_node", "2", "-m", "salanalysis", "train"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # interrupted after its first step (max_steps), then resumed, both on 2 processes
    proc = subprocess.run(cmd + ["--config", str(toml), "--max-steps", "1"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 1 steps (0 epochs)") == 1  # printed by rank 0 only
    assert not (tmp_path / "two" / "model.pt").exists()
    proc = subprocess.run(cmd + ["--resume", str(tmp_path / "two" / "last.pt"), "--max-steps", "0"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained 2 steps (1 epochs)") == 1
    assert load_checkpoint(tmp_path / "two" / "last.pt")["world_size"] == 2
    one = load_checkpoint(single.model_path)["model"]
    two = load_checkpoint(tmp_path / "two" / "model.pt")["model"]
    torch.manual_seed(3)  # the run's seed: rebuild its starting point
    start = Baseline(80, "max", Backbone(load_resnet50("none"))).state_dict()
    for k in start:
        # the same step up to summation order, which can also move a max-pooling choice: observed at most
        # 1% of a tensor's own update (1e-7 absolute when the crops are decoded at full size)
        diff, update = (two[k].double() - one[k].double()).abs().max(), (one[k].double() - start[k].double()).abs().max()
        assert diff <= 0.05 * update + 1e-7, (k, float(diff), float(update))
    assert not torch.equal(one["fc.weight"], start["fc.weight"])  # it did train
    log1, log2 = _read_log(single.out / "log.csv"), _read_log(tmp_path / "two" / "log.csv")
    e1, e2 = log1[-1], log2[-1]
    assert e1["kind"] == e2["kind"] == "epoch"
    for c in ("loss", "val_loss", "mAP"):
        assert float(e2[c]) == pytest.approx(float(e1[c]), rel=1e-4), c


def test_predict_with_diverged_weights_keeps_no_partial(files, tmp_path, monkeypatch, demo_ann):
    from salanalysis.dualstream import predict as P

    model = Baseline(80)
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    ck = tmp_path / "model.pt"
    save_checkpoint(ck, {"model": model.state_dict(),
                         "meta": model_meta(model, demo_ann.category_ids, demo_ann.category_names)})
    monkeypatch.setattr(P, "SAVE_EVERY_S", 0.0)  # a partial is written after every batch
    part = tmp_path / "p.npz"
    ann = Annotations.load(files["sub8"])
    first = f"image {ann.image_ids[0]}: {ann.category_names[0]}, {ann.category_names[1]}"
    with pytest.raises(InputError, match=f"640 non-finite values in 8 images \\({first}, .*diverged"):
        predict(ck, files["sub8"], files["images"], resume=part, batch_size=4, workers=0, device="cpu",
                input_size=32)  # fmt: skip
    assert not part.exists()


def test_divergence_is_a_one_line_error(files, tmp_path, capsys):
    code = main(["train", "--train-annotations", files["sub4"], "--train-images", files["images"],
                 "--weights", "none", "--input-size", "32", "--batch-size", "4", "--epochs", "2",
                 "--lr", "1e30", "--workers", "0", "--quiet", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()  # --quiet: no per-epoch lines, only the error
    assert code == 2 and "diverged" in err and "\n" not in err


def test_evaluation_names_non_finite_probabilities_and_goes_on(files):
    from torch.utils.data import DataLoader

    ann = Annotations.load(files["sub4"])
    ds = CocoMultiLabel(ann, files["images"], eval_transform(32))
    torch.manual_seed(0)
    model = Baseline(ds.num_classes)
    with torch.no_grad():
        model.fc.bias[2 * 5 + 1] = float("inf")  # class 5's positive logit: every image gets NaN there
    with pytest.warns(RuntimeWarning, match=rf"4 non-finite values in 4 images \(image {ds.image_ids[0]}: "
                      rf"{ds.category_names[5]}; image {ds.image_ids[1]}"):
        res = evaluate(model, DataLoader(ds, batch_size=2), torch.device("cpu"), labels=ds.labels)
    assert np.isnan(res["probs"][:, 5]).all() and np.isfinite(np.delete(res["probs"], 5, axis=1)).all()
    assert np.isnan(res["AP"][5]) and np.isnan(res["mAP"]) and "non-finite" in res["nonfinite"]
    # the other classes keep their AP (reference: scikit-learn on the same probabilities)
    c = int(np.flatnonzero(ds.labels.any(axis=0) & (np.arange(80) != 5))[0])
    assert res["AP"][c] == pytest.approx(average_precision_score(ds.labels[:, c], res["probs"][:, c]), rel=1e-9)


def test_more_processes_than_gpus_is_a_one_line_error(files, tmp_path, monkeypatch, capsys):
    from salanalysis.dualstream.distributed import setup_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for device in ("auto", "cuda"):
        with pytest.raises(InputError, match="2 processes on this machine but 1 GPU") as exc:
            setup_distributed(device)
        assert "--nproc_per_node 1" in str(exc.value) and "--device cpu" in str(exc.value)
    # every rank stops there, rank 0 too (it would otherwise wait for its peer forever)
    monkeypatch.setenv("LOCAL_RANK", "0")
    code = main(["train", "--train-annotations", files["sub4"], "--train-images", files["images"],
                 "--weights", "none", "--out", str(tmp_path / "run"), "--workers", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "GPU(s)" in err and "\n" not in err and not (tmp_path / "run").exists()


def test_default_device_trains_evaluates_and_predicts_finite(files, tmp_path):
    # on a CUDA machine: bf16 autocast, channels_last, pinned memory; on the CPU: float32
    r = train(_base(files, tmp_path / "run", batch_size=4, epochs=1, bn="frozen", lr=1e-4,
                    val_annotations=files["sub5"], val_images=files["images"]))
    assert np.isfinite(r.metrics["mAP"]) and np.isfinite(r.metrics["probs"]).all()
    # the same batches as the evaluation (4 + 1 images): on CUDA the same kernels, bf16 for both
    scores = predict(r.model_path, files["sub5"], files["images"], workers=0, batch_size=4)
    np.testing.assert_allclose(scores.scores, r.metrics["probs"], rtol=0,
                               atol=1e-2 if torch.cuda.is_available() else 1e-6)


def test_two_machines_shard_by_global_rank_and_rank0_writes(tmp_path):
    # two torchrun agents (--nnodes 2, one process each, gloo), as on two machines: each process
    # is local rank 0, the ranks are global, and together they take the single process's batches
    import socket

    from salanalysis.dualstream.data import SeededSampler

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = Path(__file__).with_name("multinode_shards.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    logs = tmp_path.parent / f"{tmp_path.name}-logs"  # files, not pipes: a full pipe cannot stall an agent
    logs.mkdir()
    procs = []
    for r in (0, 1):
        with open(logs / f"node{r}.log", "w") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                 "--node_rank", str(r), "--master_addr", "127.0.0.1", "--master_port", str(port),
                 str(script), str(tmp_path)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT))
    try:
        for p in procs:
            p.wait(timeout=300)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for r, p in enumerate(procs):
        assert p.returncode == 0, f"node {r}: " + (logs / f"node{r}.log").read_text()[-3000:]
    seen = json.loads((tmp_path / "shards.json").read_text())
    assert sorted(map(tuple, seen["ranks"])) == [(0, 0, 2, "gloo"), (1, 0, 2, "gloo")]
    single = SeededSampler(list(range(23)), 1, 0, seed=5, max_items=seen["steps"] * 4)
    single.set_epoch(1)
    order = [i for i, _ in single]
    r0, r1 = seen["train"]
    assert len(r0) == len(r1) == seen["steps"] == 5
    for k in range(seen["steps"]):  # each step: disjoint halves whose union is the single process's batch
        assert not set(r0[k]) & set(r1[k]) and sorted(r0[k] + r1[k]) == sorted(order[4 * k: 4 * k + 4])
    val = [i for part in seen["val"] for batch in part for i in batch]
    assert sorted(set(val)) == list(range(23))  # every validation item, the padding repeats aside
    ck = torch.load(tmp_path / "last.pt", weights_only=True)  # written once, by rank 0
    assert ck["world_size"] == 2 and len(ck["rng"]) == 2 and sorted(p.name for p in tmp_path.iterdir()) == [
        "gloo_threads.0", "gloo_threads.1", "last.pt", "shards.json"]
    if sys.platform.startswith("linux"):  # counted from /proc
        # the process group is gone after cleanup_distributed(), its threads joined: with torch._dynamo
        # imported after the group was formed (torch.optim does), 3 gloo threads ran on into
        # interpreter shutdown and a process aborted now and then after its work was done
        assert [(tmp_path / f"gloo_threads.{r}").read_text() for r in (0, 1)] == ["0", "0"]
