"""Checkpoints, RNG state, weights and the data pipeline of salanalysis.dualstream."""

from __future__ import annotations

import random
import urllib.error

import numpy as np
import pytest
import torch

from salanalysis.coco import Annotations
from salanalysis.dualstream import checkpoint, weights
from salanalysis.dualstream.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CocoMultiLabel,
    SeededSampler,
    eval_transform,
    make_loader,
    subset_annotations,
    train_transform,
)
from salanalysis.dualstream.models import Baseline
from salanalysis.errors import InputError


# ---------------------------------------------------------------- checkpoints
def test_checkpoint_roundtrip_and_errors(tmp_path):
    state = {"model": {"w": torch.arange(6.0)}, "epoch": 3, "config": {"lr": 0.1, "x": None}}
    path = checkpoint.save_checkpoint(tmp_path / "ck" / "last.pt", state)
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temp file left
    back = checkpoint.load_checkpoint(path)
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["epoch"] == 3
    assert back["config"] == state["config"]
    with pytest.raises(InputError, match="checkpoint not found"):
        checkpoint.load_checkpoint(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(InputError, match="cannot read checkpoint") as exc:
        checkpoint.load_checkpoint(bad)
    assert "\n" not in str(exc.value) and str(bad) in str(exc.value)


def test_rng_state_roundtrip_through_weights_only_checkpoint(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in the legacy state
    checkpoint.save_checkpoint(tmp_path / "rng.pt", {"rng": checkpoint.capture_rng_state()})
    first = (random.random(), np.random.normal(), np.random.rand(3).tolist(), torch.rand(3))
    random.random(), np.random.rand(5), torch.rand(7)  # advance every generator
    checkpoint.restore_rng_state(checkpoint.load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (random.random(), np.random.normal(), np.random.rand(3).tolist(), torch.rand(3))
    assert first[:3] == again[:3] and torch.equal(first[3], again[3])


# --------------------------------------------------------------------- weights
def test_load_resnet50_from_torchvision_state_dict_and_checkpoint(tmp_path):
    from torchvision.models import resnet50

    torch.manual_seed(0)
    ref = resnet50(weights=None)
    torch.save(ref.state_dict(), tmp_path / "tv.pth")
    got = weights.load_resnet50(tmp_path / "tv.pth")
    want, have = ref.state_dict(), got.state_dict()
    # every backbone entry is the file's (the 1000-class fc is not used by the models)
    assert all(torch.equal(want[k], have[k]) for k in want if not k.startswith("fc."))
    # a Baseline checkpoint: its backbone.* part is taken
    b = Baseline(3)
    checkpoint.save_checkpoint(tmp_path / "b.pt", {"model": b.state_dict()})
    got = weights.load_resnet50(tmp_path / "b.pt")
    assert torch.equal(got.layer4[2].conv3.weight, b.backbone.layer4[2].conv3.weight)
    # something else is a one-line InputError naming the file
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="not a ResNet-50 state dict") as exc:
        weights.load_resnet50(tmp_path / "other.pth")
    assert str(tmp_path / "other.pth") in str(exc.value)


def test_imagenet_offline_is_a_clear_one_line_error(monkeypatch, tmp_path, capsys):
    import torchvision.models._api as api

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(api, "load_state_dict_from_url", offline)
    with pytest.raises(InputError, match="--weights PATH") as exc:
        weights.load_resnet50("imagenet")
    assert "\n" not in str(exc.value)
    # through the command line: exit status 2 and one line on stderr, no traceback
    from salanalysis.cli import main
    from salanalysis.demo import demo_paths

    d = demo_paths()
    ann = Annotations.load(d.annotations)
    sub = subset_annotations(ann, [192, 208])
    from salanalysis.io import write_json

    write_json(tmp_path / "a.json", sub.coco.dataset)
    code = main(["train", "--train-annotations", str(tmp_path / "a.json"), "--train-images", str(d.images),
                 "--weights", "imagenet", "--batch-size", "2", "--out", str(tmp_path / "run"),
                 "--workers", "0", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("salanalysis: error: ") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_load_weights_into_takes_backbone_and_matching_fc(tmp_path):
    torch.manual_seed(1)
    src = Baseline(4)
    # a saliency-network-like state dict: backbone.* plus a readout, no fc
    sd = {f"backbone.{k}": v for k, v in src.backbone.state_dict().items()}
    sd["readout.weight"] = torch.zeros(1, 2048, 1, 1)
    torch.save(sd, tmp_path / "sal.pth")
    dst = Baseline(4)
    fc_before = dst.fc.weight.clone()
    skipped = weights.load_weights_into(dst, tmp_path / "sal.pth")
    assert skipped == ["fc.weight", "fc.bias"]
    assert torch.equal(dst.backbone.conv1.weight, src.backbone.conv1.weight)
    assert torch.equal(dst.fc.weight, fc_before)
    # a full Baseline checkpoint loads everything
    checkpoint.save_checkpoint(tmp_path / "full.pt", {"model": src.state_dict()})
    assert weights.load_weights_into(dst, tmp_path / "full.pt") == []
    assert torch.equal(dst.fc.weight, src.fc.weight)


# ------------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def demo_dataset_ann(demo_ann, demo):
    ds = CocoMultiLabel(demo_ann, demo.images, missing="skip")
    return subset_annotations(demo_ann, ds.image_ids[:6])


def test_dataset_labels_follow_the_annotations(demo_ann, demo, demo_dataset_ann):
    ds = CocoMultiLabel(demo_dataset_ann, demo.images, eval_transform(32))
    assert len(ds) == 6 and ds.num_classes == 80
    # reference: labels straight from pycocotools, category ids -> contiguous columns
    coco = demo_ann.coco
    cat_ids = sorted(coco.getCatIds())
    for row, image_id in enumerate(ds.image_ids):
        present = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=[int(image_id)]))}
        assert set(np.array(cat_ids)[ds.labels[row]]) == present
    img, target, index = ds[2]
    assert img.shape == (3, 32, 32) and img.dtype == torch.float32
    assert index == 2 and torch.equal(target, torch.from_numpy(ds.labels[2].astype(np.float32)))


def test_empty_images_kept_negative_or_dropped(demo, demo_dataset_ann):
    data = demo_dataset_ann.coco.dataset
    first = data["images"][0]["id"]
    emptied = dict(data, annotations=[a for a in data["annotations"] if a["image_id"] != first])
    ann = Annotations(emptied)
    kept = CocoMultiLabel(ann, demo.images)
    assert len(kept) == 6 and not kept.labels[list(kept.image_ids).index(first)].any()
    dropped = CocoMultiLabel(ann, demo.images, include_empty=False)
    assert len(dropped) == 5 and first not in dropped.image_ids


def test_missing_image_files(demo_ann, demo, tmp_path):
    with pytest.raises(InputError, match="image file not found") as exc:
        CocoMultiLabel(demo_ann, demo.images)
    assert "COCO_val2014_000000000042.jpg" in str(exc.value) and "73 of 100" in str(exc.value)
    ds = CocoMultiLabel(demo_ann, demo.images, missing="skip")
    assert len(ds) == 27 and ds.n_missing == 73
    with pytest.raises(InputError, match="image folder not found"):
        CocoMultiLabel(demo_ann, tmp_path / "nothing")


def test_eval_transform_normalises_with_imagenet_statistics():
    img = torch.full((3, 40, 60), 128, dtype=torch.uint8)
    out = eval_transform(16)(img)
    assert out.shape == (3, 16, 16)
    expected = [(128 / 255 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]
    np.testing.assert_allclose(out.mean(dim=(1, 2)).numpy(), expected, rtol=1e-5)
    assert train_transform(24)(torch.randint(0, 255, (3, 50, 70), dtype=torch.uint8)).shape == (3, 24, 24)


def test_sampler_order_is_seeded_and_distributed_union_is_single_batch():
    data = list(range(10))
    one = SeededSampler(data, 1, 0, seed=5)
    one.set_epoch(0)
    order = [i for i, _ in one]
    assert sorted(order) == data and order != data
    again = SeededSampler(data, 1, 0, seed=5)
    again.set_epoch(0)
    assert list(again) == list(one)
    one.set_epoch(1)
    assert [i for i, _ in one] != order
    one.set_epoch(0)
    # two ranks with per-rank batch 2 see, together, the single process's batches of 4
    ranks = []
    for r in range(2):
        s = SeededSampler(data, 2, r, seed=5)
        s.set_epoch(0)
        ranks.append(list(s))
    single = list(one)
    for k in range(2):
        union = ranks[0][2 * k: 2 * k + 2] + ranks[1][2 * k: 2 * k + 2]
        assert sorted(union) == sorted(single[4 * k: 4 * k + 4])
    # skipping: the rest of the epoch, same keys (index and augmentation seed)
    one.set_start(3)
    assert list(one) == single[3:] and len(one) == 7
    capped = SeededSampler(data, 1, 0, seed=5, max_items=8)
    capped.set_epoch(0)
    assert list(capped) == single[:8] and len(capped) == 8


def test_augmentation_depends_only_on_epoch_and_index(demo, demo_dataset_ann):
    ds = CocoMultiLabel(demo_dataset_ann, demo.images, train_transform(32))
    s = SeededSampler(ds, 1, 0, seed=0)
    s.set_epoch(4)
    full = [b for b in make_loader(ds, s, 2, workers=0)]
    s.set_start(2)
    rest = [b for b in make_loader(ds, s, 2, workers=2, persistent_workers=False)]
    assert len(rest) == 2
    for a, b in zip(full[1:], rest):
        assert torch.equal(a[2], b[2]) and torch.equal(a[0], b[0])
    s.set_epoch(5)
    other = [b for b in make_loader(ds, s, 2, workers=0)]
    assert not torch.equal(torch.cat([b[0] for b in other]), torch.cat([b[0] for b in full]))
