"""The Dask executor (salanalysis._cluster): same bytes as a local run, a lost worker retried.

A real ``distributed.LocalCluster`` with two worker processes (each with a nanny
that restarts a killed worker), as a user's scheduler and workers on several
machines would be, only on this one.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

distributed = pytest.importorskip("distributed", reason="the [dask] extra (installed by make test)")

from salanalysis import objects as objects_module  # noqa: E402
from salanalysis._cluster import map_ordered, use_cluster  # noqa: E402
from salanalysis.cli import main  # noqa: E402
from salanalysis.coco import Annotations  # noqa: E402
from salanalysis.errors import InputError  # noqa: E402
from salanalysis.metrics import bootstrap_ranking  # noqa: E402
from salanalysis.objects import compute_objects  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as lc:
        yield lc


@pytest.fixture(scope="module")
def maps(tmp_path_factory, demo) -> Path:
    """A map for each of the demo's 100 images (seeded noise at a quarter of the image size)."""
    folder = tmp_path_factory.mktemp("maps")
    ann = Annotations.load(demo.annotations)
    rng = np.random.default_rng(7)
    for row in ann.images.itertuples():
        img = rng.integers(0, 256, size=(max(1, row.height // 4), max(1, row.width // 4)), dtype=np.uint8)
        cv2.imwrite(str(folder / (Path(row.file_name).stem + ".png")), img)
    return folder


def _kill_first_time(marker: str, item: int) -> int:
    """Kill this worker process the first time item 3 is computed anywhere (a lost worker)."""
    if item == 3 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return item * item


def test_map_ordered_keeps_order_and_survives_a_killed_worker(cluster, tmp_path):
    import cloudpickle

    import tests.test_cluster as me

    cloudpickle.register_pickle_by_value(me)  # workers cannot import the tests package
    try:
        marker = str(tmp_path / "killed")
        from functools import partial

        with use_cluster(cluster.scheduler_address) as client:
            out = list(map_ordered(client, partial(_kill_first_time, marker), iter(range(10)), in_flight=4))
    finally:
        cloudpickle.unregister_pickle_by_value(me)
    assert Path(marker).exists()  # a worker really died mid-run
    assert out == [i * i for i in range(10)]


def test_object_table_on_cluster_is_byte_identical(cluster, demo, maps, tmp_path):
    base = ["objects", "--annotations", str(demo.annotations), "--saliency", f"noise={maps}",
            "--scores", f"det={demo.detections}", "--quiet"]
    local, remote = tmp_path / "local.csv", tmp_path / "remote.csv"
    assert main([*base, "--jobs", "2", "--out", str(local)]) == 0
    assert main([*base, "--cluster", cluster.scheduler_address, "--out", str(remote)]) == 0
    assert remote.read_bytes() == local.read_bytes()
    table = pd.read_csv(local)
    assert table["sal_max_noise"].notna().sum() > 700  # the maps were read, not skipped


def test_object_table_survives_a_killed_worker(cluster, demo, maps, tmp_path, monkeypatch):
    import cloudpickle

    import tests.test_cluster as me

    ann = Annotations.load(demo.annotations)
    ref = compute_objects(ann, {"noise": str(maps)}, jobs=1).objects
    marker = str(tmp_path / "killed")
    real = objects_module.process_chunk

    def dying_chunk(ch: dict) -> dict:
        # the second chunk (images 32..63) kills its worker once: Dask reschedules it
        if int(ch["n_images"]) and len(ch["height"]) and not os.path.exists(marker) and ch.get("_index") == 1:
            Path(marker).touch()
            os._exit(1)
        return real(ch)

    chunks = objects_module._chunks
    counter = iter(range(10**6))

    def numbered(*a, **k):
        for ch in chunks(*a, **k):
            yield dict(ch, _index=next(counter))

    monkeypatch.setattr(objects_module, "process_chunk", dying_chunk)
    monkeypatch.setattr(objects_module, "_chunks", numbered)
    cloudpickle.register_pickle_by_value(me)
    try:
        with use_cluster(cluster.scheduler_address):
            got = compute_objects(ann, {"noise": str(maps)}, jobs=1).objects
    finally:
        cloudpickle.unregister_pickle_by_value(me)
    assert Path(marker).exists()
    pd.testing.assert_frame_equal(got, ref, check_exact=True)


def test_bootstrap_on_cluster_equals_threads(cluster, rng):
    y = rng.random((300, 6)) < 0.2
    s = [rng.random((300, 6)), rng.random((300, 6))]
    local = bootstrap_ranking(y, s, n_boot=200, seed=3, jobs=2, auc=True)
    with use_cluster(cluster.scheduler_address):
        remote = bootstrap_ranking(y, s, n_boot=200, seed=3, jobs=2, auc=True)
    assert set(local.reps) == set(remote.reps)
    for k in local.reps:
        np.testing.assert_array_equal(remote.reps[k], local.reps[k])


def test_metrics_cli_with_cluster_equals_local(cluster, demo, tmp_path):
    base = ["metrics", "--annotations", str(demo.annotations), "--scores", f"det={demo.detections}",
            "--bootstrap", "200"]
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert main([*base, "--out", str(a / "t.csv")]) == 0
    assert main([*base, "--cluster", cluster.scheduler_address, "--out", str(b / "t.csv")]) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and names
    for n in names:
        assert (b / n).read_bytes() == (a / n).read_bytes(), n


def test_unreachable_scheduler_is_one_line(capsys, demo, tmp_path):
    from salanalysis import _cluster

    _cluster.CONNECT_TIMEOUT, old = 2, _cluster.CONNECT_TIMEOUT
    try:
        rc = main(["objects", "--annotations", str(demo.annotations), "--cluster", "tcp://127.0.0.1:9",
                   "--out", str(tmp_path / "o.csv"), "--quiet"])
    finally:
        _cluster.CONNECT_TIMEOUT = old
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot reach the Dask scheduler" in err[0]
    assert not (tmp_path / "o.csv").exists()


def test_use_cluster_none_changes_nothing():
    with use_cluster(None) as client:
        assert client is None


def test_config_cluster_key(tmp_path, demo):
    from salanalysis.config import load_config

    def cfg(value: str) -> Path:
        p = tmp_path / "c.toml"
        p.write_text(f'[inputs]\nannotations = "{demo.annotations}"\n[scores]\ndet = "{demo.detections}"\n'
                     f'[analysis]\ncluster = "{value}"\n')
        return p

    assert load_config(cfg("tcp://10.0.0.1:8786")).cluster == "tcp://10.0.0.1:8786"
    with pytest.raises(InputError, match="analysis.cluster"):
        load_config(cfg("10.0.0.1"))
