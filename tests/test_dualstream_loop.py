"""The epoch step (train_one_epoch), the one config mechanism and the backbone registry, on CPU."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from salanalysis.cli import main
from salanalysis.dualstream.loop import LoopState, RunLog, train_one_epoch
from salanalysis.errors import InputError


def _problem(seed: int = 0, n_batches: int = 5):
    g = torch.Generator().manual_seed(seed)
    batches = [(torch.randn(4, 3, generator=g), torch.randn(4, 2, generator=g), torch.arange(4)) for _ in
               range(n_batches)]
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    return model, batches


def _mse(out, y):
    return torch.nn.functional.mse_loss(out, y), {"half": 0.5 * torch.nn.functional.mse_loss(out, y)}


def test_train_one_epoch_is_the_plain_sgd_loop(tmp_path):
    model, batches = _problem()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    log = RunLog(tmp_path, "csv", ["kind", "epoch", "step", "loss", "lr", "half"], True, None)
    state = LoopState(epoch=2, step=10)
    stats = train_one_epoch(model, batches, opt, _mse, state=state, log=log, log_every=2)
    # reference: the loop written out by hand on an identical model
    ref, _ = _problem()
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for x, y, _ in batches:
        loss = torch.nn.functional.mse_loss(ref(x), y)
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
        losses.append(float(loss.detach()))
    assert torch.equal(model.weight, ref.weight) and torch.equal(model.bias, ref.bias)
    assert (state.step, state.done, stats.steps, stats.images) == (15, 5, 5, 20) and not stats.stopped
    assert state.loss_sum == sum(losses)  # summed in step order, as a plain float sum
    # step rows at global steps 12 and 14 (every 2) and at the epoch's last step (15)
    assert [(r["epoch"], r["step"]) for r in log.rows] == [(3, 12), (3, 14), (3, 15)]
    assert [r["loss"] for r in log.rows] == [losses[1], losses[3], losses[4]]
    assert [r["half"] for r in log.rows] == pytest.approx([0.5 * v for v in (losses[1], losses[3], losses[4])])
    assert log.path.read_text().splitlines()[0] == "kind,epoch,step,loss,lr,half"


def test_train_one_epoch_stops_at_max_steps_with_a_checkpoint():
    model, batches = _problem(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    saved, seen = [], []
    state = LoopState()
    stats = train_one_epoch(model, batches, opt, _mse, state=state, max_steps=3, log_every=100,
                            checkpoint=lambda st: saved.append((st.step, st.done, st.loss_sum)),
                            checkpoint_every=2, on_step=seen.append)
    assert stats.stopped and (state.step, state.done) == (3, 3) and seen == [1, 2, 3]
    assert [s[:2] for s in saved] == [(2, 2), (3, 3)]  # every 2 steps, and where it stopped
    assert saved[-1][2] == state.loss_sum


def test_train_one_epoch_refuses_a_diverged_loss():
    model, batches = _problem(2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def bad(out, y):
        loss = torch.nn.functional.mse_loss(out, y)
        return loss * float("nan"), {}

    with pytest.raises(FloatingPointError, match="diverged.*step 5"):
        train_one_epoch(model, batches, opt, bad, log_every=10)


# ---------------------------------------------------------------- one config
def test_input_size_one_option_old_spellings_accepted(tmp_path, capsys, demo):
    from salanalysis.dualstream.config import SPEC as TRAIN
    from salanalysis.dualstream.saliency.config import SPEC as SAL

    need = {"train_annotations": "a.json", "train_images": "img"}
    assert TRAIN.resolve(need, input_size=[64, 64]).input_size == 64
    assert TRAIN.resolve(need, image_size=48).input_size == 48  # the old key, from Python
    with pytest.raises(InputError, match="square crop, got 64 x 96"):
        TRAIN.resolve(need, input_size=[64, 96])
    with pytest.raises(InputError, match="at least 32"):
        TRAIN.resolve(need, input_size=16)
    with pytest.raises(InputError, match="not both"):
        TRAIN.resolve({**need, "image_size": 40, "input_size": 40})
    sal = {"train_images": "img", "train_maps": "maps"}
    assert SAL.resolve(sal).input_size == (480, 640)
    assert SAL.resolve(sal, input_size="96x128").input_size == (96, 128)
    assert SAL.resolve(sal, input_size=96).input_size == (96, 96)
    assert SAL.resolve({**sal, "input_size": [96, 128]}, input_width=160).input_size == (96, 160)
    # TOML: the old keys work, with a note on stderr naming the file
    toml = tmp_path / "c.toml"
    toml.write_text('[train_saliency]\ntrain_images = "i"\ntrain_maps = "m"\ninput_height = 64\n')
    assert SAL.load(toml).input_size == (64, 640)
    assert f"{toml}: key 'input_height' is now spelled 'input_size'" in capsys.readouterr().err
    toml.write_text('train_annotations = "a.json"\ntrain_images = "i"\ninput_size = [40, 40]\n')
    assert TRAIN.load(toml).input_size == 40
    # the command line: --input-size H W refused by the classifier in one line, exit 2
    code = main(["train", "--train-annotations", "a.json", "--train-images", "i", "--input-size", "64", "96",
                 "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "square crop" in err and "\n" not in err and not (tmp_path / "o").exists()


def test_both_trainers_share_the_run_options():
    from salanalysis.dualstream.config import SPEC as TRAIN
    from salanalysis.dualstream.options import RUN_RESUME_OVERRIDABLE, RunOptions
    from salanalysis.dualstream.saliency.config import SPEC as SAL

    run = {f.name for f in dataclasses.fields(RunOptions)}
    needs = {TRAIN: {"train_annotations": "a", "train_images": "i"}, SAL: {"train_images": "i", "train_maps": "m"}}
    for spec, need in needs.items():
        names = {f.name for f in dataclasses.fields(spec.cls)}
        assert run <= names and set(spec.helps) >= names  # every option documented
        assert RUN_RESUME_OVERRIDABLE <= spec.resume_overridable
        with pytest.raises(InputError, match="'log_every' must be >= 1"):
            spec.resolve(need, log_every=0)
    # the saliency trainer keeps its own defaults for shared options
    assert (SAL.cls().batch_size, SAL.cls().lr, TRAIN.cls().batch_size, TRAIN.cls().lr) == (8, 1e-3, 32, None)


def test_resumed_config_refuses_other_values_except_the_overridable():
    from salanalysis.dualstream.config import SPEC

    saved = {"train_annotations": "a.json", "train_images": "i", "image_size": 64}  # an older checkpoint's keys
    cfg = SPEC.for_run(saved=saved, where="last.pt", overrides={"epochs": 3, "workers": 0})
    assert (cfg.input_size, cfg.epochs, cfg.workers) == (64, 3, 0)
    with pytest.raises(InputError, match="cannot resume with a different 'input_size'"):
        SPEC.for_run(saved=saved, where="last.pt", overrides={"input_size": 96})


# ------------------------------------------------------------------ backbones
def test_every_model_gets_its_backbone_from_the_registry(monkeypatch):
    from salanalysis.dualstream import backbones
    from salanalysis.dualstream.models import Baseline, DualStream, model_from_meta, model_meta
    from salanalysis.dualstream.saliency.net import (
        SaliencyNet,
        saliency_meta,
        saliency_net_from_meta,
    )

    # a new backbone is one entry: a smaller torchvision ResNet, feature size 512
    monkeypatch.setitem(backbones.BACKBONES, "resnet18",
                        backbones.BackboneSpec("resnet18", "ResNet18_Weights.IMAGENET1K_V1", 512, "ResNet-18"))
    b = Baseline(3, "avg", "resnet18")
    d = DualStream(3, "max", "resnet18", "resnet18")
    s = SaliencyNet("resnet18", input_size=(64, 64))
    assert b.fc.in_features == 512 and d.fc.in_features == 1024 and s.readout[0].in_channels == 512
    assert [w.shape for w in d.stream_weights()] == [(3, 512), (3, 512)]
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert b(x).shape == (1, 3, 2) and s(x).shape == (1, 1, 64, 64)
    # checkpoints describe the backbone and are rebuilt with it
    assert model_meta(d)["backbone"] == "resnet18" and saliency_meta(s)["backbone"] == "resnet18"
    assert model_from_meta(model_meta(d)).trunk.feature_dim == 512
    assert saliency_net_from_meta(saliency_meta(s)).backbone.name == "resnet18"
    assert model_from_meta({"arch": "baseline", "num_classes": 3}).backbone.name == "resnet50"  # older files
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        Baseline(3, "max", "vgg")


def test_torch_commands_share_one_vocabulary(capsys):
    from salanalysis.cli import build_parser
    from salanalysis.dualstream.saliency.config import SPEC as SAL

    p = build_parser()
    common = ["--checkpoint", "c.pt", "--images", "d"]
    args = p.parse_args(["predict", *common, "--annotations", "a", "--out", "s.csv", "--image-size", "48"])
    assert args.input_size == 48 and args.amp == "auto" and args.progress is None
    assert "--image-size is now spelled --input-size" in capsys.readouterr().err
    args = p.parse_args(["saliency", "predict", *common, "--out", "o", "--input-size", "96", "128", "--no-amp",
                         "--quiet"])
    assert args.input_size == (96, 128) and args.amp == "none" and args.quiet
    assert "--no-amp is now spelled --amp none" in capsys.readouterr().err
    args = p.parse_args(["train-saliency", "--train-images", "i", "--train-maps", "m", "--input-width", "160",
                         "--no-progress"])
    cfg = SAL.resolve(SAL.given(args))
    assert cfg.input_size == (480, 160) and cfg.progress is False
    assert "--input-width is now spelled --input-size" in capsys.readouterr().err
    for cmd in (["cam", "--checkpoint", "a=x", "--checkpoint", "b=y", "--annotations", "a", "--images", "d",
                 "--out", "o"], ["train", "--train-annotations", "a", "--train-images", "i"]):
        args = p.parse_args([*cmd, "--input-size", "64", "--progress"])
        assert args.input_size == (64,) and args.progress is True
    assert main(["cam", "--checkpoint", "a=x", "--checkpoint", "b=y", "--annotations", "a", "--images", "d",
                 "--out", "o", "--input-size", "64", "96"]) == 2
    assert "give one SIZE" in capsys.readouterr().err
