"""The GPU lane in one command: synthetic COCO JPEGs, model-only vs end-to-end speed, every torch command.

On a CUDA machine (``--mode gpu``, what ``--mode auto`` picks there) it

1. writes N synthetic 640x480 JPEGs with COCO instances annotations (8,000 by default);
2. times the models alone on synthetic tensors already on the GPU (batch 128, 224 px,
   channels_last): DualStream training in float32 (TF32 convolutions) and bf16 autocast,
   Baseline training and DualStream inference in bf16;
3. runs phases 1 -> 1b -> 2 on a subset, then phase 3 for 2 epochs on all images
   (``salanalysis train``, bf16, channels_last, the default ``cpu`` input pipeline) and
   compares its epoch-2 images/s with the model alone (target: at least 95%); the same with
   the experimental ``gpu`` input pipeline, and with ``--compile`` (target: at least 2,500 images/s);
4. scores all images with ``salanalysis predict`` (target: at least 5,000 images/s),
   renders CAMs with ``salanalysis cam``, trains under ``torchrun --nproc_per_node 1``
   (NCCL); verifies the ``gpu`` pipeline against the ``cpu`` one: nvJPEG's evaluation crops
   against Pillow's (the tests' tolerance) and ``predict --pipeline gpu`` against
   ``--pipeline cpu`` in float32 (scores within 0.02), before ``auto`` may pick it;
5. runs the torch tests (``tests/test_dualstream_*.py``, saliency, CAM, scores);

and prints one summary table (also written to ``OUT/summary.md`` and ``OUT/summary.json``).
It watches a time budget (``--budget-s``, 330 s by default): a stage that would not fit is
reported as skipped. Without CUDA (``--mode cpu``) the same path runs in a tiny version
(16 JPEGs, 64 px, batch 8, the input-pipeline tests only): a smoke test, not a measurement
of the targets.

Usage::

    python benchmarks/gpu.py [--mode auto|gpu|cpu] [--out DIR] [--images N] [--budget-s S]
    make gpu-check            # the same with the machine's python3 and torch; modules it lacks
                              # (pycocotools, typically) installed into .venv/gpu-deps first
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Plan:
    mode: str
    images: int
    size: int
    batch: int
    workers: int
    subset: int
    predict_batch: int
    cam_images: int
    width: int = 640
    height: int = 480
    tests: list[str] = field(default_factory=list)


def plan_for(mode: str, images: int | None, workers: int | None) -> Plan:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
    if mode == "gpu":
        return Plan("gpu", images or 8000, 224, 128, workers if workers is not None else max(2, cores - 2),
                    2048, 256, 32,
                    tests=["tests/test_dualstream_data.py", "tests/test_dualstream_loop.py",
                           "tests/test_dualstream_models.py", "tests/test_dualstream_pipeline.py",
                           "tests/test_dualstream_train.py", "tests/test_saliency_net.py", "tests/test_cam.py",
                           "tests/test_scores.py"])
    return Plan("cpu", images or 16, 64, 8, workers if workers is not None else 1, 8, 8, 2,
                tests=["tests/test_dualstream_pipeline.py"])


# ------------------------------------------------------------------ data
def _jpeg(args: tuple[int, int, int]) -> bytes:
    import cv2

    seed, w, h = args
    r = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = r.integers(0, 256, 3)
    for _ in range(12):
        c = tuple(int(v) for v in r.integers(0, 256, 3))
        x, y = int(r.integers(0, w)), int(r.integers(0, h))
        if r.random() < 0.5:
            cv2.rectangle(img, (x, y), (x + int(r.integers(20, 300)), y + int(r.integers(20, 300))), c, -1)
        else:
            cv2.ellipse(img, (x, y), (int(r.integers(10, 150)), int(r.integers(10, 150))),
                        float(r.integers(0, 180)), 0, 360, c, -1)
    noise = cv2.resize(r.normal(0, 18, (h // 2, w // 2, 3)), (w, h))  # texture: JPEGs of ~95 kB
    img = np.clip(img + noise, 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def make_dataset(root: Path, n: int, w: int, h: int, jobs: int) -> dict:
    """``root/images/*.jpg`` and ``root/instances.json`` (80 categories, 1-4 boxes per image)."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with Pool(max(1, jobs)) as pool:
        for i, data in enumerate(pool.imap(_jpeg, [(i, w, h) for i in range(n)], chunksize=16)):
            (images / f"{i + 1:012d}.jpg").write_bytes(data)
    r = np.random.default_rng(0)
    anns, k = [], 0
    for i in range(n):
        for _ in range(int(r.integers(1, 5))):
            k += 1
            x, y = float(r.uniform(0, w - 40)), float(r.uniform(0, h - 40))
            bw, bh = float(r.uniform(10, w - x)), float(r.uniform(10, h - y))
            anns.append({"id": k, "image_id": i + 1, "category_id": int(r.integers(1, 81)), "iscrowd": 0,
                         "bbox": [x, y, bw, bh], "area": bw * bh,
                         "segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]]})
    data = {"images": [{"id": i + 1, "file_name": f"{i + 1:012d}.jpg", "width": w, "height": h} for i in range(n)],
            "categories": [{"id": c, "name": f"class{c}", "supercategory": "x"} for c in range(1, 81)],
            "annotations": anns}
    (root / "instances.json").write_text(json.dumps(data))
    mb = sum(p.stat().st_size for p in images.iterdir()) / 1e6
    return {"seconds": time.perf_counter() - t0, "mb": mb, "all": data}


def write_subset(root: Path, data: dict, n: int, name: str) -> Path:
    ids = {im["id"] for im in data["images"][:n]}
    sub = dict(data, images=[im for im in data["images"] if im["id"] in ids],
               annotations=[a for a in data["annotations"] if a["image_id"] in ids])
    path = root / name
    path.write_text(json.dumps(sub))
    return path


# ------------------------------------------------------------- model only
def model_only(arch: str, train: bool, amp: bool, compile: bool, plan: Plan, device, steps: int) -> float:
    import torch

    from salanalysis.dualstream.loop import autocast
    from salanalysis.dualstream.loss import mce_loss
    from salanalysis.dualstream.models import build_model

    torch.manual_seed(0)
    cl = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    model = build_model(arch, 80).to(device, memory_format=cl)
    opt = torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(plan.batch, 3, plan.size, plan.size, device=device).contiguous(memory_format=cl)
    y = (torch.rand(plan.batch, 80, device=device) < 0.05).float()
    run = torch.compile(model) if compile else model
    model.train(train)

    def step() -> None:
        if train:
            with autocast(device, amp):
                out = run(x)
            loss = mce_loss(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), autocast(device, amp):
                run(x)

    for _ in range(5 if compile else 3 if device.type == "cuda" else 1):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * plan.batch / (time.perf_counter() - t0)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------ stages
class Run:
    def __init__(self, budget: float, out: Path) -> None:
        self.t0 = time.perf_counter()
        self.budget = budget
        self.out = out
        self.rows: list[dict] = []

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.t0)

    def stage(self, name: str, fn, *, needs: float = 0.0, target: str = "") -> dict | None:
        if self.left() < needs:
            self.rows.append({"stage": name, "status": "skipped", "seconds": 0.0,
                              "result": f"needs ~{needs:.0f} s, {self.left():.0f} s of the budget left",
                              "target": target, "met": ""})
            print(f"-- {name}: skipped (budget)", flush=True)
            return None
        print(f"-- {name} ...", flush=True)
        t = time.perf_counter()
        try:
            res = fn() or {}
            status = "ok"
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a row of the table
            if isinstance(exc, KeyboardInterrupt):
                raise
            res, status = {"result": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"}, "FAILED"
            traceback.print_exc()
        row = {"stage": name, "status": status, "seconds": time.perf_counter() - t,
               "result": res.get("result", ""), "target": target, "met": res.get("met", "")}
        self.rows.append(row)
        print(f"   {status} in {row['seconds']:.1f} s: {row['result']}", flush=True)
        return res

    def table(self) -> str:
        head = "| stage | status | seconds | result | target | met |\n| --- | --- | ---: | --- | --- | --- |\n"
        return head + "".join(f"| {r['stage']} | {r['status']} | {r['seconds']:.1f} | {r['result']} | "
                              f"{r['target']} | {r['met']} |\n" for r in self.rows)


def cli(args: list[str]) -> str:
    """``salanalysis ARGS`` in this process; its stdout. A non-zero exit raises with stderr's last line."""
    from salanalysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    if code != 0:
        raise RuntimeError(f"salanalysis {args[0]} exited {code}: {err.getvalue().strip().splitlines()[-1:]}")
    return out.getvalue()


def epoch_rates(run_dir: Path) -> list[float]:
    import csv

    with open(run_dir / "log.csv", newline="") as fh:
        return [float(r["images_per_s"]) for r in csv.DictReader(fh) if r["kind"] == "epoch"]


#: Modules the check needs -> the package that provides them (installed without dependencies when missing).
NEEDED = {"torch": "torch", "torchvision": "torchvision", "numpy": "numpy", "pandas": "pandas", "scipy": "scipy",
          "pycocotools": "pycocotools", "cv2": "opencv-python-headless", "PIL": "pillow", "tqdm": "tqdm",
          "matplotlib": "matplotlib", "statsmodels": "statsmodels", "seaborn": "seaborn", "pyarrow": "pyarrow",
          "sklearn": "scikit-learn", "pytest": "pytest"}


def install_missing(target: Path, wheels: Path) -> int:
    """Install the packages of missing :data:`NEEDED` modules into ``target`` (from ``wheels`` when it exists)."""
    import importlib.util

    missing = [pkg for mod, pkg in NEEDED.items() if importlib.util.find_spec(mod) is None]
    if not missing:
        print(f"benchmarks/gpu.py: every needed module is importable ({sys.executable})")
        return 0
    if "torch" in missing or "torchvision" in missing:
        print(f"benchmarks/gpu.py: {sys.executable} has no torch/torchvision: run with the Python that holds "
              "PyTorch (make gpu-check GPU_PY=/path/to/python)", file=sys.stderr)
        return 2
    source = ["--no-index", "--find-links", str(wheels)] if wheels.is_dir() else []
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *source, *missing]
    print(f"benchmarks/gpu.py: installing {', '.join(missing)} into {target}"
          f"{f' from {wheels}' if source else ' from the package index'}")
    if subprocess.run(cmd).returncode != 0:
        print(f"benchmarks/gpu.py: could not install {', '.join(missing)}. On a machine without a package index, "
              f"fill {wheels} first where one is reachable (make gpu-wheels GPU_PYVER=<this Python's X.Y>), bring "
              "that folder along, and run make gpu-check again", file=sys.stderr)
        return 2
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("auto", "gpu", "cpu"), default="auto")
    ap.add_argument("--out", type=Path, default=Path("/tmp/salanalysis-gpu-check"))
    ap.add_argument("--images", type=int, help="synthetic JPEGs (default 8000 on a GPU, 16 on the CPU)")
    ap.add_argument("--workers", type=int, help="DataLoader workers (default: cores - 2 on a GPU, 2 on the CPU)")
    ap.add_argument("--budget-s", type=float, default=330.0, help="stop starting stages after this (default 330)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile stage")
    ap.add_argument("--no-tests", action="store_true", help="skip the test stage")
    ap.add_argument("--install-missing", type=Path, metavar="DIR",
                    help="only install the packages of missing modules into DIR (pip --target), then exit")
    ap.add_argument("--wheels", type=Path, default=Path(".venv/wheels"),
                    help="with --install-missing: a folder of wheels to install from (default .venv/wheels)")
    a = ap.parse_args()
    if a.install_missing is not None:
        return install_missing(a.install_missing, a.wheels)

    import pandas as pd
    import torch
    import torchvision

    mode = a.mode if a.mode != "auto" else ("gpu" if torch.cuda.is_available() else "cpu")
    if mode == "gpu" and not torch.cuda.is_available():
        print("benchmarks/gpu.py: --mode gpu needs CUDA; use --mode cpu", file=sys.stderr)
        return 2
    plan = plan_for(mode, a.images, a.workers)
    device = torch.device("cuda" if mode == "gpu" else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer sets it
    out = a.out
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    run = Run(a.budget_s, out)
    gpu_name = torch.cuda.get_device_name(0) if device.type == "cuda" else "none"
    env = (f"{platform.node()}: {gpu_name}, {len(os.sched_getaffinity(0))} CPU cores, Python "
           f"{platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
           f"pandas {pd.__version__}; mode {mode}: {plan.images} JPEGs {plan.width}x{plan.height}, "
           f"{plan.size} px, batch {plan.batch}, {plan.workers} workers")
    print(env, flush=True)
    data_dir = out / "data"
    res: dict = {}

    def data():
        d = make_dataset(data_dir, plan.images, plan.width, plan.height, max(1, plan.workers))
        res["data"] = d
        write_subset(data_dir, d["all"], plan.subset, "subset.json")
        write_subset(data_dir, d["all"], plan.cam_images, "cam.json")
        return {"result": f"{plan.images} JPEGs, {d['mb']:.0f} MB, written in {d['seconds']:.1f} s"}

    run.stage("synthetic COCO JPEGs", data)
    if "data" not in res:
        print(run.table())
        return 1
    ann, sub, images = str(data_dir / "instances.json"), str(data_dir / "subset.json"), str(data_dir / "images")
    steps = 15 if mode == "gpu" else 2

    def models():
        if mode != "gpu":  # the tiny run only checks the path: one Baseline step (bf16 is float32 on the CPU)
            return {"result": f"Baseline train {model_only('baseline', True, True, False, plan, device, 1):,.0f} img/s"}
        rates = {"DualStream train bf16": model_only("dualstream", True, True, False, plan, device, steps)}
        if mode == "gpu":
            rates["DualStream train fp32"] = model_only("dualstream", True, False, False, plan, device, steps)
            rates["Baseline train bf16"] = model_only("baseline", True, True, False, plan, device, steps)
            rates["DualStream inference bf16"] = model_only("dualstream", False, True, False, plan, device, steps)
        res["model"] = rates
        return {"result": "; ".join(f"{k} {v:,.0f} img/s" for k, v in rates.items())}

    run.stage("model only (synthetic tensors on the device)", models, needs=20 if mode == "gpu" else 5)

    common = ["--train-images", images, "--weights", "none", "--input-size", str(plan.size), "--batch-size",
              str(plan.batch), "--workers", str(plan.workers), "--device", device.type, "--no-tensorboard",
              "--quiet", "--log-every", "10"]

    # the chain to phase 3 only has to run (random weights, weights none): BatchNorm frozen and a vanishing lr
    # keep those few steps finite; phase 3 trains as the recipe does (BatchNorm updated), like the model alone
    chain = ["--bn", "frozen", "--lr", "1e-8"]
    p3_bn = ["--bn", "train"] if mode == "gpu" else ["--bn", "frozen"]  # 6 CPU steps: no usable statistics

    def phases():
        # phase 1b (the dual-stream baseline's branch) runs with its own derived seed: phase 2 refuses a
        # branch identical to the trunk
        todo = [("1", []), ("1b", ["--variant", "baseline"]),
                ("2", ["--trunk", str(out / "p1" / "model.pt"), "--branch", str(out / "p1b" / "model.pt")])]
        for phase, extra in todo:
            cli(["train", "--phase", phase, "--train-annotations", sub, "--epochs", "1", *chain,
                 "--out", str(out / f"p{phase}"), *extra, *common])
        return {"result": f"phases 1, 1b, 2 on {plan.subset} images: {out / 'p2' / 'model.pt'}"}

    run.stage("train phases 1 -> 1b -> 2", phases, needs=40 if mode == "gpu" else 12)

    def phase3(pipeline: str, name: str, extra: list[str] = ()) -> dict:
        init = out / "p2" / "model.pt"
        if not init.exists():
            raise RuntimeError("no phase-2 model (the phases stage failed)")
        t = time.perf_counter()
        cli(["train", "--phase", "3", "--init", str(init), "--train-annotations", ann, "--epochs", "2",
             "--pipeline", pipeline, "--out", str(out / name), *p3_bn, *extra, *common])
        rates = epoch_rates(out / name)
        res[name] = rates
        return {"rates": rates, "wall": time.perf_counter() - t}

    def e2e(pipeline: str, name: str, target: bool):
        r = phase3(pipeline, name)
        text = f"epoch 1 {r['rates'][0]:,.0f}, epoch 2 {r['rates'][-1]:,.0f} img/s ({r['wall']:.0f} s wall)"
        model = res.get("model", {}).get("DualStream train bf16")
        if mode != "gpu" or not model:  # the tiny CPU run checks the path; its rates are no measurement
            return {"result": text}
        ratio = r["rates"][-1] / model
        res[f"ratio_{pipeline}"] = ratio
        return {"result": f"{text}: {100 * ratio:.0f}% of the model alone",
                "met": ("yes" if ratio >= 0.95 else "no") if target else ""}

    # auto is the cpu pipeline everywhere; on the GPU the experimental gpu pipeline (nvJPEG on a side stream)
    # runs too, for its speed; its agreement with the cpu pipeline is the nvJPEG stage below. On the CPU the
    # gpu pipeline's code runs on CPU tensors in the tests (test_dualstream_pipeline.py)
    run.stage("phase 3 end to end, pipeline auto = cpu (2 epochs, all images)", lambda: e2e("auto", "p3", True),
              needs=40 if mode == "gpu" else 10, target=">= 95% of model-only bf16")
    if mode == "gpu":
        run.stage("phase 3 end to end, pipeline gpu (experimental)", lambda: e2e("gpu", "p3gpu", True),
                  needs=45, target=">= 95% of model-only bf16")

    def predict():
        t = time.perf_counter()
        text = cli(["predict", "--checkpoint", str(out / "p3" / "model.pt"), "--annotations", ann, "--images", images,
                    "--out", str(out / "scores.csv"), "--batch-size", str(plan.predict_batch), "--workers",
                    str(plan.workers), "--device", device.type, "--quiet"])
        wall = time.perf_counter() - t
        rate = float(text.split(" images/s")[0].split(", ")[-1].replace(",", "")) if "images/s" in text else 0.0
        met = "" if mode != "gpu" else ("yes" if rate >= 5000 else "no")
        return {"result": f"{rate:,.0f} img/s scoring, {plan.images / wall:,.0f} img/s with start-up "
                          f"({wall:.1f} s)", "met": met}

    run.stage("predict (all images)", predict, needs=25 if mode == "gpu" else 8, target=">= 5,000 img/s")

    def cam():
        text = cli(["cam", "--checkpoint", f"baseline={out / 'p1' / 'model.pt'}", "--checkpoint",
                    f"dual={out / 'p3' / 'model.pt'}", "--annotations", str(data_dir / "cam.json"), "--images",
                    images, "--threshold", "0.5", "--max-images", "4", "--device", device.type, "--quiet",
                    "--input-size", str(plan.size),
                    "--out", str(out / "cam")])
        return {"result": text.strip().splitlines()[-1][:150]}

    run.stage("cam", cam, needs=20 if mode == "gpu" else 8)

    def nvjpeg():
        import torch as T

        from salanalysis.dualstream.data import CocoMultiLabel
        from salanalysis.dualstream.pipeline import InputPipeline, collate_encoded

        cpu, gpu = InputPipeline("cpu", plan.size, train=False), InputPipeline("gpu", plan.size, train=False)
        dsc, dsg = CocoMultiLabel(sub, images, cpu), CocoMultiLabel(sub, images, gpu)
        n = min(64, len(dsc))
        a = cpu.prepare_fn("cpu")(T.utils.data.default_collate([dsc[i] for i in range(n)]))[0]
        b = gpu.prepare_fn(device)(collate_encoded([dsg[i] for i in range(n)]))[0].cpu()
        d = (a - b).abs()
        met = "yes" if float(d.max()) <= 0.05 and float(d.mean()) <= 0.005 else "no"
        return {"result": f"{n} evaluation crops, Pillow vs {'nvJPEG' if mode == 'gpu' else 'torchvision (CPU)'}: "
                          f"max {float(d.max()):.3f}, mean {float(d.mean()):.4f}, 99.9th percentile "
                          f"{float(d.flatten().quantile(0.999)):.3f} (normalised units)", "met": met}

    run.stage("evaluation crops, GPU decoder vs Pillow", nvjpeg, needs=10,
              target="max <= 0.05, mean <= 0.005 (the CPU tests' tolerance)")

    def pipelines_agree():
        # the whole gpu pipeline as it runs (nvJPEG batches prepared on a side stream while the model works)
        # against the cpu pipeline: a stream-ordering fault would show as scores far apart on some images
        paths = {}
        for kind in ("cpu", "gpu"):
            paths[kind] = out / f"scores_{kind}.csv"
            cli(["predict", "--checkpoint", str(out / "p3" / "model.pt"), "--annotations", ann, "--images", images,
                 "--out", str(paths[kind]), "--batch-size", str(plan.predict_batch), "--workers",
                 str(plan.workers), "--device", device.type, "--pipeline", kind, "--amp", "none", "--quiet"])
        a_, b_ = (pd.read_csv(paths[k]).set_index("image_id").sort_index() for k in ("cpu", "gpu"))
        d = (a_ - b_).abs().to_numpy()
        met = "yes" if d.max() <= 0.02 else "no"
        return {"result": f"predict --pipeline gpu vs cpu, float32, {len(a_)} images: max abs. difference of p "
                          f"{d.max():.4f}, mean {d.mean():.5f}", "met": met}

    run.stage("predict, pipeline gpu vs cpu", pipelines_agree, needs=30 if mode == "gpu" else 10,
              target="max abs. difference of p <= 0.02")

    def torchrun():
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", "-m",
               "salanalysis", "train", "--phase", "1", "--train-annotations", sub, "--epochs", "1", "--out",
               str(out / "torchrun"), *chain, *common]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=max(30, run.left()))
        if p.returncode != 0:
            raise RuntimeError(f"torchrun exited {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
        backend = "NCCL" if mode == "gpu" else "gloo"
        return {"result": f"1 process ({backend}): {epoch_rates(out / 'torchrun')[-1]:,.0f} img/s; "
                          f"{p.stdout.strip().splitlines()[-1][:90]}"}

    run.stage("torchrun --nproc_per_node 1", torchrun, needs=25 if mode == "gpu" else 12)

    def tests():
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plan.tests]
        if mode == "gpu" and _has("xdist"):
            cmd += ["-n", "4"]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=max(30, run.left()))
        last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr.strip()[-200:]
        (out / "tests.log").write_text(p.stdout + p.stderr)
        if p.returncode != 0:
            raise RuntimeError(f"pytest: {last} (see {out / 'tests.log'})")
        return {"result": f"{last} ({', '.join(Path(t).name for t in plan.tests)})"}

    if not a.no_tests:
        run.stage("torch tests", tests, needs=60 if mode == "gpu" else 10)

    def compiled():
        r = phase3("auto", "p3compile", ["--compile"])
        met = "" if mode != "gpu" else ("yes" if r["rates"][-1] >= 2500 else "no")
        return {"result": f"epoch 1 {r['rates'][0]:,.0f} (compiling), epoch 2 {r['rates'][-1]:,.0f} img/s", "met": met}

    if not a.no_compile and mode == "gpu":
        run.stage("phase 3 end to end with --compile", compiled, needs=120, target=">= 2,500 img/s")

    total = time.perf_counter() - run.t0
    table = run.table()
    print(f"\n{env}\ntotal {total:.0f} s\n\n{table}")
    (out / "summary.md").write_text(f"{env}\n\ntotal {total:.0f} s\n\n{table}")
    (out / "summary.json").write_text(json.dumps({"env": env, "total_s": total, "rows": run.rows,
                                                  "model_only": res.get("model"),
                                                  "ratios": {k: v for k, v in res.items() if k.startswith("ratio")}},
                                                 indent=1))
    return 0 if all(r["status"] != "FAILED" for r in run.rows) else 1


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
