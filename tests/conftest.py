from __future__ import annotations

import numpy as np
import pytest

try:
    from hypothesis import settings

    settings.register_profile("ci", deadline=None, max_examples=60, derandomize=True)
    settings.register_profile("dev", deadline=None, max_examples=100)
    settings.load_profile("ci")
except ImportError:  # hypothesis is in the test extra; its tests importorskip it
    pass

THREAD_COUNTS = (1, 2, 3, 7)


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator, so every failure reproduces."""
    return np.random.default_rng(20231205)
