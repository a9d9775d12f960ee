"""Shared fixtures: Agg backend, figures closed after each test, seeded RNGs, demo data."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from salanalysis.coco import Annotations  # noqa: E402
from salanalysis.demo import DemoPaths, demo_paths  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator (a fresh one per test)."""
    return np.random.default_rng(20190616)


@pytest.fixture(scope="session")
def demo() -> DemoPaths:
    """Paths of the bundled real demo data."""
    return demo_paths()


@pytest.fixture(scope="session")
def demo_ann(demo: DemoPaths) -> Annotations:
    """The real 100-image COCO val2014 annotations, loaded once."""
    return Annotations.load(demo.annotations)
