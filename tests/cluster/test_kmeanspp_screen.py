"""The float32 screen of the k-means++ trial pass gives the plain float64 pass's results.

The screened pass (``_kmeanspp_trials_screened``) must reproduce the plain pass
(``_kmeanspp_trials_dense``) bit for bit: the same capped distances and the same per-block
potentials. The adversarial cases put the current closest distance on, or one ulp either side
of, a candidate's exact distance, where a bound that is too tight would give the wrong value.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_array_equal
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

from sklearn_deep._kernel_blocks import n_blocks as _n_blocks
from sklearn_deep._numba_config import numba_threads
from sklearn_deep.cluster import _kmeans_kernels as K
from sklearn_deep.cluster import kmeans_plusplus


def _plain_pass(X, mean, sw, cands, closest):
    n = X.shape[0]
    dist = np.empty((cands.shape[0], n))
    pots = np.zeros((_n_blocks(n), cands.shape[0]))
    K._kmeanspp_trials_dense(X, mean, sw, cands, closest, dist, pots)
    return dist, pots


def _screened_pass(X, mean, sw, cands, closest):
    """The screened pass as ``_kmeanspp_dense`` runs it; returns the capped distances of all
    samples (closest where not flagged), the potentials and the flagged fraction."""
    n, d = X.shape
    nt = cands.shape[0]
    m = K._screen_shift(X)
    tiles = np.empty((-(-n // K.SCREEN_TILE), d, K.SCREEN_TILE), dtype=np.float32)
    ynorm = np.empty(n)
    assert K._screen_copy(X, m, tiles, ynorm) <= K.SCREEN_MAX_NORM
    shifted = cands.astype(np.float64) + mean
    groups = -(-nt // K.SCREEN_GROUP)
    S = np.zeros((groups * K.SCREEN_GROUP, d), dtype=np.float32)
    S[:nt] = shifted - m
    S[nt:] = S[0]
    zmax = float(np.sqrt(((shifted - m) ** 2).sum(axis=1)).max())
    nb = _n_blocks(n)
    pots = np.zeros((nb, nt))
    rows = np.empty(n, dtype=np.intp)
    vals = np.empty((n, nt))
    counts = np.zeros(nb, dtype=np.intp)
    K._kmeanspp_trials_screened(
        X, sw, shifted, S, zmax, tiles, ynorm, closest, pots, rows, vals, counts
    )
    dist = np.repeat(closest[None, :], nt, axis=0)
    for b in range(nb):
        start = b * n // nb
        flagged = rows[start : start + counts[b]]
        assert np.all(np.diff(flagged) > 0)
        assert np.all((flagged >= start) & (flagged < (b + 1) * n // nb))
        dist[:, flagged] = vals[start : start + counts[b]].T
    return dist, pots, counts.sum() / n


def _adversarial_closest(X, mean, cands, closest, rng):
    """Put some closest distances on, or one or two ulps around, a candidate's distance as
    the plain pass computes it."""
    n = X.shape[0]
    exact, _ = _plain_pass(X, mean, np.ones(n), cands, np.full(n, np.inf))
    pick = rng.rand(n) < 0.5
    t = rng.randint(cands.shape[0], size=n)
    target = exact[t, np.arange(n)]
    steps = rng.randint(-2, 3, size=n)
    for s in range(-2, 3):
        sel = pick & (steps == s)
        v = target[sel]
        for _ in range(abs(s)):
            v = np.nextafter(v, np.inf if s > 0 else -np.inf)
        closest[sel] = np.maximum(v, 0.0)
    return closest


def _check_screen_on_adversarial_closest(X, mean, sw, n_trials, rng):
    n = X.shape[0]
    cands = X[rng.randint(n, size=n_trials)] - mean
    closest = rng.uniform(0, 2, size=n) * np.min(
        _plain_pass(X, mean, sw, cands, np.full(n, np.inf))[0], axis=0
    )
    closest = _adversarial_closest(X, mean, cands, closest, rng)
    dist, pots = _plain_pass(X, mean, sw, cands, closest)
    dist_s, pots_s, _ = _screened_pass(X, mean, sw, cands, closest)
    assert_array_equal(dist_s, dist)
    assert_array_equal(pots_s, pots)


@pytest.mark.parametrize("n", [1, 15, 17, 700, 3001])
@pytest.mark.parametrize("d", [1, 3, 24, 33, 64])
@pytest.mark.parametrize("n_trials", [1, 7, 8, 9, 17])
def test_screened_pass_equals_plain_pass(n, d, n_trials):
    rng = np.random.RandomState(n * 1000 + d * 10 + n_trials)
    X = rng.randn(n, d) * 3 + rng.randint(0, 4, size=(n, 1)) * 5.0
    mean = X.mean(axis=0)
    sw = rng.uniform(0.2, 3.0, size=n)
    _check_screen_on_adversarial_closest(X, mean, sw, n_trials, rng)


@given(
    n=st.integers(1, 400),
    d=st.integers(1, 40),
    n_trials=st.integers(1, 10),
    scale=st.sampled_from([1e-30, 1e-8, 1.0, 1e6, 1e15]),
    offset=st.sampled_from([0.0, 1.0, 1e8]),
    seed=st.integers(0, 2**31 - 1),
)
def test_screened_pass_equals_plain_pass_property(n, d, n_trials, scale, offset, seed):
    # any scale (the bound's absolute terms cover underflow), offsets far from the data's
    # spread, duplicated samples, and closest distances on the candidates' own distances
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * scale + offset * scale
    if n > 3:
        X[rng.randint(n, size=n // 3)] = X[0]
    mean = np.zeros(d) if rng.rand() < 0.5 else X.mean(axis=0)
    sw = rng.uniform(0.1, 2.0, size=n)
    _check_screen_on_adversarial_closest(X, mean, sw, n_trials, rng)


def test_screen_rules_out_most_samples():
    # the screen is a screen: on separated blobs, late in the seeding, few samples need
    # their exact distances
    rng = np.random.RandomState(0)
    n, d, k = 6000, 32, 40
    centres = rng.uniform(-20, 20, size=(k, d))
    X = centres[rng.randint(k, size=n)] + rng.randn(n, d)
    chosen = X[rng.choice(n, k - 5, replace=False)]
    closest = ((X[:, None, :] - chosen[None]) ** 2).sum(axis=2).min(axis=1)
    cands = X[rng.choice(n, 7, p=closest / closest.sum())]
    mean = np.zeros(d)
    dist, pots = _plain_pass(X, mean, np.ones(n), cands, closest)
    dist_s, pots_s, flagged = _screened_pass(X, mean, np.ones(n), cands, closest)
    assert_array_equal(dist_s, dist)
    assert_array_equal(pots_s, pots)
    improved = np.mean(np.any(dist < closest, axis=0))
    assert flagged < improved + 0.02


def _kpp_kernel(X, k, screen, seed=0, sw=None, mean=None, n_trials=None):
    n, d = X.shape
    rng = np.random.RandomState(seed)
    nt = n_trials or 2 + int(np.log(k))
    first = int(rng.randint(n))
    rand_vals = rng.uniform(size=(k - 1, nt))
    sw = np.ones(n, dtype=X.dtype) if sw is None else sw
    mean = np.zeros(d, dtype=X.dtype) if mean is None else mean
    if screen is None:  # the driver without the screen's kernels
        return K._kmeanspp_dense_plain(X, mean, sw, first, rand_vals), 0
    return K._kmeanspp_dense(X, mean, sw, first, rand_vals, screen)


@pytest.mark.parametrize(
    "case", ["blobs", "weighted", "offset", "tiny", "huge", "duplicates", "many_trials", "float32"]
)
def test_kmeanspp_screened_same_centres(case):
    rng = np.random.RandomState(1)
    n, d, k = 3000, 30, 40
    X = rng.uniform(-10, 10, size=(k, d))[rng.randint(k, size=n)] + rng.randn(n, d) * 3
    kw = {}
    if case == "weighted":
        kw["sw"] = rng.uniform(0.1, 5.0, size=n)
    elif case == "offset":
        X += 1e7
        kw["mean"] = X.mean(axis=0)
    elif case == "tiny":
        X *= 1e-40
    elif case == "huge":  # beyond the float32 screen's range: the plain pass runs
        X *= 1e30
    elif case == "duplicates":
        X[rng.randint(n, size=2000)] = X[:5][rng.randint(5, size=2000)]
    elif case == "many_trials":
        kw["n_trials"] = 11
    elif case == "float32":  # float32 data ignore the screen
        X = X.astype(np.float32)
    plain, n_screened = _kpp_kernel(X, k, 0, **kw)
    assert n_screened == 0
    assert_array_equal(_kpp_kernel(X, k, None, **kw)[0], plain)
    for mode in [1, 2]:
        indices, n_screened = _kpp_kernel(X, k, mode, **kw)
        assert_array_equal(indices, plain)
        if mode == 2 and case not in ("huge", "float32"):
            assert n_screened == k - 1
        if case in ("huge", "float32"):
            assert n_screened == 0
        with numba_threads(1):
            assert_array_equal(_kpp_kernel(X, k, mode, **kw)[0], plain)


def test_kmeanspp_adaptive_screen_switches():
    # separated blobs: after the first steps few samples get closer, and the screen takes
    # over; unstructured data and few centres: it never pays off, and the plain pass runs
    rng = np.random.RandomState(0)
    n, d = 20000, 32
    X = rng.uniform(-30, 30, size=(60, d))[rng.randint(60, size=n)] + rng.randn(n, d)
    indices, n_screened = _kpp_kernel(X, 60, 1)
    assert_array_equal(indices, _kpp_kernel(X, 60, 0)[0])
    assert 30 <= n_screened < 59  # never the first step (every sample gets closer)
    X = rng.randn(n, d)
    indices, n_screened = _kpp_kernel(X, 8, 1)
    assert n_screened == 0
    assert_array_equal(indices, _kpp_kernel(X, 8, 0)[0])


def test_kmeans_plusplus_screened_matches_sklearn():
    # through the public function (dense float64: adaptive screen, here taking over after
    # the first steps): scikit-learn's centres, weighted or not
    rng = np.random.RandomState(0)
    d = 32
    X = rng.uniform(-10, 10, size=(60, d))[rng.randint(60, size=4000)] + rng.randn(4000, d) * 2
    sw = rng.uniform(0.5, 2.0, size=4000)
    for weights in [None, sw]:
        for seed in range(3):
            c1, i1 = kmeans_plusplus(X, 60, sample_weight=weights, random_state=seed)
            c2, i2 = sk_kmeans_plusplus(X, 60, sample_weight=weights, random_state=seed)
            assert_array_equal(i1, i2)
            assert_array_equal(c1, c2)
