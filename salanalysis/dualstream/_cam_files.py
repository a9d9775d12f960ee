"""The files of a CAM run: a resumable scan's key and checkpoint file, and the outputs a
previous run listed (so a re-run removes what it no longer writes, and nothing else)."""

from __future__ import annotations

import contextlib
import json
import re
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch


def _listed_outputs(out: Path) -> set[str]:
    """The ``cams/*.npy``, ``overlays/*.png`` and ``images/*`` files a previous run's manifest lists."""
    try:
        records = json.loads((out / "cam_manifest.json").read_text())
        listed = {m[k] for e in records for m in e["models"] for k in ("cam", "overlay")}
        listed |= {e.get("image") for e in records}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return set()  # no (readable) manifest: nothing of ours to clean up
    ok = re.compile(r"(cams/[^/]+\.npy|overlays/[^/]+\.png|images/\d+\.[a-z]+)")
    return {r for r in listed if isinstance(r, str) and ok.fullmatch(r) and ".." not in r}


def _remove_stale(out: Path, previous: set[str], current: set[str]) -> None:
    """Delete the files of ``previous`` that are not (the same file as) one of ``current``."""
    written = set()
    for rel in current:
        with contextlib.suppress(OSError):
            st = (out / rel).stat()
            written.add((st.st_dev, st.st_ino))
    for rel in sorted(previous - current):
        path = out / rel
        with contextlib.suppress(OSError):
            st = path.lstat()
            # on a case-insensitive file system "1_2_Base.npy" may be the file just written
            # as "1_2_base.npy": never delete what this run wrote, nor a folder
            if (st.st_dev, st.st_ino) not in written and not stat.S_ISDIR(st.st_mode):
                path.unlink()


SAVE_EVERY_S = 60.0  # how often a resumable scan saves what it has


def _scan_key(pairs, ann, files: Sequence[Path], threshold: float, input_size: int, device: str) -> str:
    """A short hash of what must not change between a scan and its continuation."""
    import hashlib

    from salanalysis.io import file_stamp, fingerprint

    labels = np.ascontiguousarray(ann.label_matrix(include_crowd=True))
    return fingerprint({
        "models": [[str(name), file_stamp(path)] for name, path in pairs],
        "labels": hashlib.sha256(labels.tobytes()).hexdigest(),
        "categories": [int(c) for c in ann.category_ids], "images": [file_stamp(f) for f in files],
        "threshold": float(threshold), "input_size": int(input_size), "device": device,
    })  # fmt: skip


def _save_scan(path: Path, conf: np.ndarray, low_cams: dict, n_done: int) -> None:
    from salanalysis.io import atomic_path

    arrays = {"n_done": np.array(n_done), "conf": conf[:, :n_done]}
    for (j, c), cams in low_cams.items():
        for m_i, cam in enumerate(cams):
            arrays[f"cam_{j}_{c}_{m_i}"] = cam.numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _load_scan(path: Path, conf: np.ndarray, low_cams: dict) -> int:
    """Fill ``conf`` and ``low_cams`` from a kept scan; returns how many images it covers."""
    try:
        with np.load(path, allow_pickle=False) as z:
            n = int(z["n_done"])
            if not 0 <= n <= conf.shape[1] or z["conf"].shape != (2, n, conf.shape[2]):
                return 0
            conf[:, :n] = z["conf"]
            found: dict[tuple[int, int], dict[int, torch.Tensor]] = {}
            for k in z.files:
                if k.startswith("cam_"):
                    j, c, m_i = (int(v) for v in k[4:].split("_"))
                    found.setdefault((j, c), {})[m_i] = torch.from_numpy(z[k])
            low_cams.update({jc: [d[0], d[1]] for jc, d in found.items() if set(d) == {0, 1}})
            return n
    except Exception:  # none, unreadable, truncated (EOFError, BadZipFile...): scan again
        return 0
