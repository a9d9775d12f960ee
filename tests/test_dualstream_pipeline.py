"""The input pipelines: one crop sampler, the CPU path and the GPU path (run here on CPU tensors).

Real COCO JPEGs of the bundled demo; references are torchvision's own transforms
(``RandomResizedCrop``, ``RandomHorizontalFlip``, ``Resize`` + ``CenterCrop``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from salanalysis.dualstream.data import (
    CocoMultiLabel,
    SeededSampler,
    eval_transform,
    make_loader,
    sample_seed,
    subset_annotations,
    train_transform,
)
from salanalysis.dualstream.pipeline import (
    EncodedBatch,
    InputPipeline,
    collate_encoded,
    decode_images,
    resolve_pipeline,
    sample_crop_box,
    sample_flip,
)
from salanalysis.errors import InputError, InputWarning


@pytest.fixture(scope="module")
def ann(demo_ann, demo):
    return subset_annotations(demo_ann, CocoMultiLabel(demo_ann, demo.images, missing="skip").image_ids)


def _batch(pipe, ds, keys):
    """The DataLoader's batch of ``keys`` ((index, seed) pairs) for ``pipe``, prepared on the CPU."""
    items = [ds[k] for k in keys]
    collate = pipe.collate_fn() or torch.utils.data.default_collate
    return pipe.prepare_fn("cpu")(collate(items))[0]


def test_crop_boxes_are_torchvisions_for_the_same_seed():
    from torchvision.transforms import v2

    rrc, flip = v2.RandomResizedCrop(224), v2.RandomHorizontalFlip()
    img = torch.zeros(3, 1, 1)
    sizes = [(480, 640), (427, 640), (640, 480), (100, 1000), (1000, 30), (224, 224)]
    fallbacks = 0
    for seed in range(300):
        h, w = sizes[seed % len(sizes)]
        torch.manual_seed(seed)  # reference: torchvision's draws from the global generator
        p = rrc.make_params([img.expand(3, h, w)])
        flipped = bool(torch.rand(1) < flip.p)
        g = torch.Generator().manual_seed(seed)
        assert sample_crop_box(h, w, g) == (p["top"], p["left"], p["height"], p["width"])
        assert sample_flip(g) == flipped
        fallbacks += (p["height"], p["width"]) in ((100, 133), (40, 30))  # the fallback of extreme shapes
    assert fallbacks > 0


def test_both_paths_draw_the_same_boxes_and_flips(ann, demo):
    cpu = InputPipeline("cpu", 224, train=True)
    gpu = InputPipeline("gpu", 224, train=True)
    ds = CocoMultiLabel(ann, demo.images, gpu)
    boxes = []
    for i in range(len(ds)):
        for epoch in range(3):
            seed = sample_seed(0, epoch, i)
            (data, jpeg, geo), _, _ = ds[(i, seed)]
            h, w = int(ds.annotations.images["height"].iloc[i]), int(ds.annotations.images["width"].iloc[i])
            assert jpeg and data.dtype == torch.uint8 and tuple(geo.tolist()) == cpu.geometry(h, w, seed)
            boxes.append(geo.tolist())
    boxes = np.array(boxes)
    area = boxes[:, 2] * boxes[:, 3] / np.array([ds.annotations.images["height"].iloc[i] *
                                                  ds.annotations.images["width"].iloc[i]
                                                  for i in range(len(ds)) for _ in range(3)])
    assert 0.08 - 1e-3 <= area.min() and area.max() <= 1 and 0 < boxes[:, 4].mean() < 1  # scale and flips drawn


def test_the_paths_give_the_old_transforms_numbers_on_the_cpu(ann, demo):
    """GPU path (torchvision's JPEG decoder, here on CPU tensors) and CPU path (Pillow) against the
    per-image torchvision transforms; CPU decoders agree on these files, so the stated tolerance
    (max 0.05, mean 0.005 after normalisation: about 3 and 0.3 grey levels) holds with room."""
    old_train = CocoMultiLabel(ann, demo.images, train_transform(64))
    old_eval = CocoMultiLabel(ann, demo.images, eval_transform(64))
    keys = [(i, sample_seed(3, 1, i)) for i in range(len(old_eval))]
    ref_train = torch.stack([old_train[k][0] for k in keys])
    ref_eval = torch.stack([old_eval[i][0] for i in range(len(keys))])
    for kind in ("cpu", "gpu"):
        tr = InputPipeline(kind, 64, train=True, draft=False)
        ev = InputPipeline(kind, 64, train=False)
        got_train = _batch(tr, CocoMultiLabel(ann, demo.images, tr), keys)
        got_eval = _batch(ev, CocoMultiLabel(ann, demo.images, ev), keys)
        for got, ref in ((got_train, ref_train), (got_eval, ref_eval)):
            assert got.shape == ref.shape == (len(keys), 3, 64, 64) and got.dtype == torch.float32
            d = (got - ref).abs()
            assert float(d.max()) <= 0.05 and float(d.mean()) <= 0.005, (kind, float(d.max()))


def test_reduced_size_decoding_of_large_crops(ann, demo):
    draft = InputPipeline("cpu", 64, train=True)
    full = InputPipeline("cpu", 64, train=True, draft=False)
    ds = CocoMultiLabel(ann, demo.images, draft)
    used, diffs = 0, []
    for i in range(len(ds)):
        seed = sample_seed(0, 0, i)
        a, b = draft.item(ds.files[i], seed), full.item(ds.files[i], seed)
        assert a.shape == b.shape == (3, 64, 64) and a.dtype == torch.uint8
        if not torch.equal(a, b):
            used += 1
            diffs.append((a.float() - b.float()).abs().mean().item())
    # at 64 px nearly every crop spans 128 px or more: decoded at 1/2 to 1/8 scale; the crop is the
    # same region (rounded to the reduced grid) filtered differently: a few grey levels on average
    assert used >= len(ds) // 2 and max(diffs) < 25 and np.mean(diffs) < 12


def test_decoding_falls_back_and_names_bad_files(demo, tmp_path):
    import cv2

    jpg = sorted(demo.images.glob("*.jpg"))[0]
    png = tmp_path / "a.png"
    cv2.imwrite(str(png), cv2.imread(str(jpg)))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    data = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in (jpg, png)]
    a, b = decode_images(data, "cpu", names=[jpg, png])
    assert a.shape == b.shape and a.dtype == b.dtype == torch.uint8
    assert (a.float() - b.float()).abs().mean() < 1.5  # the same picture (PNG of the decoded JPEG)
    with pytest.raises(InputError, match="cannot decode image") as exc:
        decode_images([torch.frombuffer(bytearray(bad.read_bytes()), dtype=torch.uint8)], "cpu", names=[bad])
    assert str(bad) in str(exc.value)


def test_gpu_pipeline_batches_through_the_loader(ann, demo):
    pipe = InputPipeline("gpu", 32, train=True)
    ds = CocoMultiLabel(ann, demo.images, pipe)
    sampler = SeededSampler(ds, 1, 0, seed=1)
    sampler.set_epoch(0)
    loader = make_loader(ds, sampler, 4, workers=2, persistent_workers=False, collate_fn=pipe.collate_fn())
    batches = list(loader)
    assert isinstance(batches[0][0], EncodedBatch) and batches[0][0].geometry.shape == (4, 5)
    x, (y,) = pipe.prepare_fn("cpu", torch.channels_last)(batches[0])
    assert x.shape == (4, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, torch.stack([ds[(int(i), 0)][1] for i in batches[0][2]]))
    # the same batch decoded in the loader's worker processes or here: the same numbers
    here = collate_encoded([ds[k] for k in list(sampler)[:4]])
    assert torch.equal(pipe.prepare_fn("cpu")(here)[0], x.contiguous())
    assert resolve_pipeline("auto", "cpu") == "cpu" and resolve_pipeline("gpu", "cpu", warn=False) == "gpu"
    with pytest.raises(InputError, match="pipeline must be one of"):
        resolve_pipeline("dali", "cpu")
    assert len(DataLoader(ds, batch_size=2, collate_fn=pipe.collate_fn())) == (len(ds) + 1) // 2


def test_predict_and_train_with_the_gpu_pipeline_on_the_cpu(ann, demo, tmp_path):
    from salanalysis.dualstream.checkpoint import save_checkpoint
    from salanalysis.dualstream.models import Baseline, model_meta
    from salanalysis.dualstream.predict import predict
    from salanalysis.dualstream.train import train
    from salanalysis.io import write_json

    sub = subset_annotations(ann, ann.image_ids[:6])
    write_json(tmp_path / "sub.json", sub.coco.dataset)
    torch.manual_seed(0)
    model = Baseline(80)
    save_checkpoint(tmp_path / "m.pt", {"model": model.state_dict(), "meta": model_meta(model, sub.category_ids)})
    kw = dict(batch_size=4, workers=0, device="cpu", input_size=32)
    a = predict(tmp_path / "m.pt", sub, demo.images, pipeline="cpu", **kw)
    with pytest.warns(InputWarning, match="experimental"):
        b = predict(tmp_path / "m.pt", sub, demo.images, pipeline="gpu", **kw)
    np.testing.assert_array_equal(a.scores, b.scores)  # the CPU JPEG decoders agree on these files
    assert a.meta["pipeline"] == "cpu" and b.meta["pipeline"] == "gpu" and b.meta["images_per_s"] > 0
    with pytest.warns(InputWarning, match="experimental"):
        r = train(dict(train_annotations=str(tmp_path / "sub.json"), train_images=str(demo.images), weights="none",
                       input_size=32, batch_size=3, epochs=1, workers=0, device="cpu", pipeline="gpu",
                       bn="frozen", out=str(tmp_path / "run"), tensorboard=False))
    assert r.step == 2 and r.history[-1]["images_per_s"] > 0
