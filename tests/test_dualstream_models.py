"""Models and MCE loss of salanalysis.dualstream (tiny CPU inputs)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from salanalysis.dualstream.loss import mce_loss
from salanalysis.dualstream.models import (
    Baseline,
    DualStream,
    build_model,
    model_from_meta,
    model_meta,
    probabilities,
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    b1 = Baseline(5).eval()
    b2 = Baseline(5).eval()
    d = DualStream(5, "avg").eval()
    return b1, b2, d


def test_import_salanalysis_and_cli_stay_torch_free():
    code = (
        "import sys, salanalysis, salanalysis.cli\n"
        "salanalysis.cli.build_parser()\n"
        "import salanalysis.dualstream.config\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_shapes(models):
    b1, _, d = models
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert b1(x).shape == (2, 5, 2)
        assert d(x).shape == (2, 5, 2)
        fb = b1.features(x)
        fd = d.features(x)
    assert len(fb) == 1 and fb[0].shape == (2, 2048, 2, 2)  # 64 / 32 = 2
    assert len(fd) == 2 and all(f.shape == (2, 2048, 2, 2) for f in fd)
    assert b1.class_weights().shape == (5, 2048)
    assert d.class_weights().shape == (5, 4096)
    assert [w.shape for w in d.stream_weights()] == [(5, 2048), (5, 2048)]
    assert b1.fc.weight.shape == (10, 2048) and d.fc.weight.shape == (10, 4096)


def test_forward_equals_hand_computation(models):
    b1, _, d = models
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        # Baseline: GMP over the 2x2 maps, then W x + b, rows (c, neg), (c, pos) interleaved
        f = b1.backbone(x)
        pooled = f.reshape(2, 2048, -1).max(dim=2).values
        ref = (pooled @ b1.fc.weight.T + b1.fc.bias).reshape(2, 5, 2)
        assert torch.allclose(b1(x), ref, atol=1e-5)
        # positive-minus-negative weights give the logit difference
        diff = pooled @ b1.class_weights().T + b1.class_bias()
        assert torch.allclose(diff, ref[..., 1] - ref[..., 0], atol=1e-5)
        # DualStream with average pooling: concat(trunk, branch) (Eq. 2), then Eq. 3
        ft, fb = d.trunk(x).mean(dim=(2, 3)), d.branch(x).mean(dim=(2, 3))
        refd = (torch.cat([ft, fb], 1) @ d.fc.weight.T + d.fc.bias).reshape(2, 5, 2)
        assert torch.allclose(d(x), refd, atol=1e-5)
        # CAM identity: the spatial mean of sum_s w_s . F_s is the logit difference (GAP)
        maps = d.features(x)
        cams = sum(torch.einsum("ck,bkhw->bchw", w, m) for w, m in zip(d.stream_weights(), maps))
        assert torch.allclose(cams.mean(dim=(2, 3)) + d.class_bias(), refd[..., 1] - refd[..., 0], atol=1e-4)


def test_from_baselines_average_predicts_mean_logits(models):
    b1, b2, _ = models
    d = DualStream.from_baselines(b1, b2, "average").eval()
    assert d.trunk is b1.backbone and d.branch is b2.backbone
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(d(x), 0.5 * (b1(x) + b2(x)), atol=1e-5)
    r = DualStream.from_baselines(b1, b2, "random")
    assert not torch.allclose(r.fc.weight[:, :2048], 0.5 * b1.fc.weight)


def test_probabilities_are_two_way_softmax():
    logits = torch.randn(4, 3, 2)
    p = probabilities(logits)
    # softmax(x)[1] = exp(x1) / (exp(x0) + exp(x1)) = sigmoid(x1 - x0)
    ref = 1.0 / (1.0 + np.exp(-(logits[..., 1] - logits[..., 0]).numpy()))
    np.testing.assert_allclose(p.numpy(), ref, rtol=1e-6)


def test_build_model_and_meta():
    m = build_model("dual-stream", 3, pooling="avg", weights="none")
    assert isinstance(m, DualStream) and m.pooling == "avg" and m.num_classes == 3
    assert isinstance(build_model("baseline", 3), Baseline)
    with pytest.raises(ValueError):
        build_model("vgg", 3)
    meta = model_meta(m, [1, 2, 3], ["a", "b", "c"])
    assert meta == {"arch": "dualstream", "backbone": "resnet50", "num_classes": 3, "pooling": "avg",
                    "category_ids": [1, 2, 3], "category_names": ["a", "b", "c"]}
    assert isinstance(model_from_meta(meta), DualStream)


# ------------------------------------------------------------------------ MCE
def test_mce_equals_eq5_and_c_times_bce():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 7, 2, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(6, 7, generator=g) < 0.3).double()
    loss = mce_loss(x, y)
    # Eq. 4-5 by hand in NumPy: per-class softmax over {neg, pos}, summed over classes,
    # averaged over the batch.
    xn, yn = x.numpy(), y.numpy()
    soft = np.exp(xn) / np.exp(xn).sum(axis=2, keepdims=True)
    per_image = -(yn * np.log(soft[..., 1]) + (1 - yn) * np.log(soft[..., 0])).sum(axis=1)
    assert loss.item() == pytest.approx(per_image.mean(), rel=1e-6)
    # BCE-with-logits on x1 - x0 with reduction='mean' averages over B*C entries:
    # the MCE (sum over C classes, mean over B) is exactly C times it.
    bce = torch.nn.functional.binary_cross_entropy_with_logits(x[..., 1] - x[..., 0], y)
    assert loss.item() == pytest.approx(7 * bce.item(), rel=1e-12)
    np.testing.assert_allclose(mce_loss(x, y, "none").numpy(), per_image, rtol=1e-6)
    assert mce_loss(x, y, "sum").item() == pytest.approx(per_image.sum(), rel=1e-6)


def test_mce_gradient_matches_bce():
    x = torch.randn(3, 4, 2, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([[1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 1, 1]], dtype=torch.float64)
    mce_loss(x, y).backward()
    x2 = x.detach().clone().requires_grad_(True)
    (4 * torch.nn.functional.binary_cross_entropy_with_logits(x2[..., 1] - x2[..., 0], y)).backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_mce_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, C, 2\)"):
        mce_loss(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="do not match"):
        mce_loss(torch.zeros(2, 3, 2), torch.zeros(2, 4))


def test_head_and_loss_run_in_float32_under_bf16_autocast(models):
    b1, _, d = models
    x = torch.randn(2, 3, 64, 64)
    y = (torch.rand(2, 5) < 0.5).float()
    for m in (b1, d):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            feats = m.features(x)
            logits = m(x)
            loss = mce_loss(logits, y)
            p = probabilities(logits)
        assert all(f.dtype == torch.bfloat16 for f in feats)  # the backbones do run in bf16
        assert logits.dtype == loss.dtype == p.dtype == torch.float32
        # the head is exactly the float32 linear layer on the (float32) pooled bf16 features
        pooled = torch.cat([m.pool(f) for f in feats], dim=1)
        assert pooled.dtype == torch.float32
        with torch.no_grad():
            ref = (pooled @ m.fc.weight.T + m.fc.bias).view(2, 5, 2)
        torch.testing.assert_close(logits, ref, rtol=1e-6, atol=1e-6)


def test_saliency_readout_runs_in_float32_under_bf16_autocast():
    from salanalysis.dualstream.saliency.net import SaliencyNet

    torch.manual_seed(0)
    net = SaliencyNet(input_size=(64, 64), readout_hidden=4).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        f = net.features(x)
        out = net(x)
    assert f.dtype == torch.bfloat16 and out.dtype == torch.float32
    assert float(out.exp().sum()) == pytest.approx(1.0, abs=1e-5)
