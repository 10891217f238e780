"""The counter-based generator: Philox4x32-10 bits and the ziggurat normals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from diffclust._core import _testing

# Known-answer vectors published with Random123 (Salmon et al., SC'11), kat_vectors.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def philox(counter, key):
    return _testing.philox4x32(np.array(counter, np.uint32), np.array(key, np.uint32))


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_known_answers(counter, key, expected):
    assert philox(counter, key) == expected


def test_philox_matches_randomgen(rng):
    randomgen = pytest.importorskip("randomgen")
    for _ in range(20):
        c = [int(x) for x in rng.integers(0, 2**32, 4)]
        k = [int(x) for x in rng.integers(0, 2**32, 2)]
        c_int = c[0] | c[1] << 32 | c[2] << 64 | c[3] << 96
        if c_int == 0:
            continue
        # randomgen increments its counter before producing a block
        g = randomgen.Philox(counter=c_int - 1, key=k[0] | k[1] << 32, number=4, width=32)
        assert tuple(int(x) for x in g.random_raw(4)) == philox(c, k)


def test_edge_noise_is_symmetric_with_zero_diagonal():
    Z = _testing.edge_noise(7, 3, 50)
    np.testing.assert_array_equal(Z, Z.T)
    assert (np.diag(Z) == 0).all()


def test_edge_noise_is_a_pure_function_of_seed_sample_edge():
    # the (i, j) entry does not depend on n: edge {i, j} has its own counter
    Z1 = _testing.edge_noise(11, 2, 30)
    Z2 = _testing.edge_noise(11, 2, 60)
    np.testing.assert_array_equal(Z1, Z2[:30, :30])
    assert not np.array_equal(Z1, _testing.edge_noise(11, 3, 30))
    assert not np.array_equal(Z1, _testing.edge_noise(12, 2, 30))


def test_normals_are_standard_normal():
    z = np.concatenate([_testing.edge_noise(seed, 0, 700)[np.triu_indices(700, 1)] for seed in range(4)])
    assert z.size > 900_000
    # Kolmogorov–Smirnov against SciPy's normal CDF
    assert stats.kstest(z, "norm").pvalue > 1e-3
    se = 1 / np.sqrt(z.size)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24) * se
    # the tail beyond the ziggurat's base (r = 3.654...) has the right mass
    p_tail = 2 * stats.norm.sf(3.6541528853610088)
    count = (np.abs(z) > 3.6541528853610088).sum()
    assert abs(count - p_tail * z.size) < 5 * np.sqrt(p_tail * z.size)


def test_samples_and_edges_are_uncorrelated():
    Z = np.stack([_testing.edge_noise(5, s, 200)[np.triu_indices(200, 1)] for s in range(6)])
    corr = np.corrcoef(Z)
    off = corr[~np.eye(6, dtype=bool)]
    assert np.abs(off).max() < 5 / np.sqrt(Z.shape[1])
    # neighbouring edges of one sample
    z = Z[0]
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 / np.sqrt(z.size)
