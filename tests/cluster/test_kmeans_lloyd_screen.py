"""The float32 screen of the float64 Lloyd passes gives the float64 pass's results, bit for bit.

The screened pass ranks in float32 and ranks again in float64 only the samples whose float32
gap between the best and the second best centre is within the rounding-error bound. These
tests compare it with the float64 pass (``SCREEN_FLOAT64 = False``) on data made to break a
bound that is too tight: exact ties (integer data, duplicated centres), values below float32's
normal range, values near its overflow, large offsets; and they check the bound itself
against the values the two micro-kernels compute.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

from sklearn_deep._kernel_blocks import TILE_SAMPLES, TILE_STRIDE, _gather_transposed
from sklearn_deep._kernel_blocks import n_blocks as _n_blocks
from sklearn_deep._numba_config import numba_threads
from sklearn_deep.cluster import KMeans
from sklearn_deep.cluster import _kmeans_kernels as K
from sklearn_deep.cluster import _kmeans_lloyd as L
from sklearn_deep.cluster._kmeans_core import BOUNDS_MIN_WORK, _kmeans_single
from sklearn_deep.cluster._kmeans_lloyd_screen import (
    _pack_centers_f32,
    sample_tiles,
    screen_bound,
)
from sklearn_deep.cluster._kmeans_rank import _rank_tile


def _one_pass(X, centers, screen, monkeypatch, n_threads=1, labels=None, tiles=False):
    """One plain pass from ``labels`` (default: none yet); returns labels, sums, changes.
    ``tiles``: rank from the float32 tiles copied once (made with 2 threads)."""
    n, d = X.shape
    k = centers.shape[0]
    nb = _n_blocks(n)
    labels = np.full(n, -1, dtype=np.int32) if labels is None else labels.copy()
    sums = np.zeros((nb, k, d))
    wsums = np.zeros((nb, k))
    counts = np.zeros((nb, k), dtype=np.int64)
    n_changed = np.zeros(nb, dtype=np.int64)
    mean = X.mean(axis=0)
    c = centers - mean
    if tiles:
        with numba_threads(2):
            tiles = sample_tiles(X, mean)
    with monkeypatch.context() as m, numba_threads(n_threads):
        m.setattr(L, "SCREEN_FLOAT64", screen)
        L._lloyd_iter_dense(
            X,
            mean,
            np.ones(n),
            np.ascontiguousarray(c.T),
            (c**2).sum(axis=1),
            labels,
            sums,
            wsums,
            counts,
            n_changed,
            True,
            tiles if tiles else None,
        )
    return labels, sums, n_changed.sum()


def _assert_same_pass(X, centers, monkeypatch):
    ref = _one_pass(X, centers, False, monkeypatch)
    for n_threads, tiles in ((1, False), (2, False), (1, True), (2, True)):
        got = _one_pass(X, centers, True, monkeypatch, n_threads, tiles=tiles)
        assert_array_equal(got[0], ref[0])
        assert_array_equal(got[1], ref[1])
        assert got[2] == ref[2]


@pytest.mark.parametrize(
    "case", ["gauss", "integers", "duplicate_centres", "tiny", "huge", "offset", "one_feature"]
)
def test_screened_pass_equals_float64_pass(case, monkeypatch):
    rng = np.random.RandomState(0)
    n, d, k = 3000, 7, 9
    X = rng.standard_normal((n, d))
    if case == "integers":  # exact ties between centres at equal distances
        X = rng.randint(-3, 4, (n, d)).astype(np.float64)
    elif case == "tiny":  # below float32's normal range: the absolute terms of the bound
        X = X * 1e-41
    elif case == "huge":  # float32 overflows for some samples: ranked in float64
        X = X * 3e18
    elif case == "offset":
        X = X + 1e9
    elif case == "one_feature":
        X = X[:, :1].copy()
    centers = X[rng.choice(n, k, replace=False)]
    if case == "duplicate_centres":
        centers[3] = centers[5]
    _assert_same_pass(X, centers, monkeypatch)


def test_screen_turns_off_for_centres_beyond_float32(monkeypatch):
    rng = np.random.RandomState(1)
    X = rng.standard_normal((500, 4)) * 1e30
    centers = X[:5]
    assert screen_bound(((centers - X.mean(axis=0)) ** 2).sum(axis=1), 4) is None
    _assert_same_pass(X, centers, monkeypatch)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 700),
    d=st.integers(1, 9),
    k=st.integers(2, 12),
    exponent=st.sampled_from([-44, -20, 0, 6, 17]),
    integer=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_screened_pass_equals_float64_pass_property(n, d, k, exponent, integer, seed):
    rng = np.random.RandomState(seed)
    X = rng.randint(-2, 3, (n, d)).astype(np.float64) if integer else rng.standard_normal((n, d))
    X *= 10.0**exponent
    centers = X[rng.randint(0, n, k)] + (rng.randint(0, 2, (k, d)) if integer else 0.0)
    previous = rng.randint(-1, k, n).astype(np.int32)  # moves from earlier labels too
    with pytest.MonkeyPatch.context() as mp:
        ref = _one_pass(X, centers, False, mp, labels=previous)
        got = _one_pass(X, centers, True, mp, 2, labels=previous)
        tiled = _one_pass(X, centers, True, mp, 1, labels=previous, tiles=True)
    for result in (got, tiled):
        assert_array_equal(result[0], ref[0])
        assert_array_equal(result[1], ref[1])


@settings(max_examples=25, deadline=None)
@given(
    d=st.integers(1, 40),
    k=st.integers(2, 20),
    exponent=st.sampled_from([-43, -10, 0, 10, 17]),
    seed=st.integers(0, 2**31 - 1),
)
def test_screen_bound_covers_both_kernels(d, k, exponent, seed):
    """|float32 value - float64 value| never exceeds twice the bound at the sample's norm."""
    rng = np.random.RandomState(seed)
    m = TILE_SAMPLES
    X = rng.standard_normal((m, d)) * 10.0**exponent * rng.uniform(0.1, 10, (m, 1))
    C = rng.standard_normal((k, d)) * 10.0**exponent * rng.uniform(0.1, 10, (k, 1))
    csq = (C**2).sum(axis=1)
    U, csq_p = L._pack_centers(np.ascontiguousarray(C.T), csq, X[:0, 0])
    U32, csq32 = _pack_centers_f32(U, csq_p)
    mean = np.zeros(d)
    vals = {}
    for dtype, (UU, cc) in ((np.float64, (U, csq_p)), (np.float32, (U32, csq32))):
        Xt = np.zeros((UU.shape[0], TILE_STRIDE), dtype=dtype)
        _gather_transposed(X, mean, np.arange(m), 0, m, Xt)
        out = np.empty((UU.shape[1], m))
        best = np.empty(m, dtype=np.int32)
        b1 = np.empty(m, dtype=dtype)
        b2 = np.empty(m, dtype=dtype)
        for j in range(k):  # one centre at a time: its value is then the smallest
            one = np.zeros_like(UU)
            one[:, 0] = UU[:, j]
            cj = np.full_like(cc, np.inf)
            cj[0] = cc[j]
            _rank_tile(Xt, m, one, cj, best, b1, b2)
            out[j] = b1
        vals[dtype] = out[:k]
    bound = screen_bound(csq, d)
    if bound is None:  # centres beyond float32's safe range: the screen is off
        assert np.sqrt(csq.max()) > 1e18
        return
    a, b = bound
    bound = a + b * np.linalg.norm(X, axis=1)
    err = np.abs(vals[np.float32] - vals[np.float64])
    assert np.all(err <= bound[None, :])


def test_screened_fit_equals_unscreened_fit(monkeypatch):
    rng = np.random.RandomState(3)
    centres = rng.standard_normal((6, 5)) * 0.8  # overlapping: labels keep changing
    X = np.repeat(centres, 3000, axis=0) + rng.standard_normal((18000, 5))
    assert K._tiles_pay(18000, 5, 6, np.float64, BOUNDS_MIN_WORK)  # the passes use tiles
    fits = {}
    for screen in (False, True):
        monkeypatch.setattr(L, "SCREEN_FLOAT64", screen)
        fits[screen] = KMeans(6, n_init=2, random_state=0, tol=0).fit(X)
    assert_array_equal(fits[True].labels_, fits[False].labels_)
    assert_array_equal(fits[True].cluster_centers_, fits[False].cluster_centers_)
    assert fits[True].inertia_ == fits[False].inertia_
    assert fits[True].n_iter_ == fits[False].n_iter_


def test_screen_runs_in_float64_fits(monkeypatch):
    """The screened kernel is what float64 fits run, and float32 fits do not."""
    seen = []
    run = L.for_each_block_threads

    def spy(kernel, *args):
        seen.append(kernel)
        return run(kernel, *args)

    monkeypatch.setattr(L, "for_each_block_threads", spy)
    rng = np.random.RandomState(4)
    for dtype in (np.float64, np.float32):
        seen.clear()
        X = rng.standard_normal((800, 3)).astype(dtype)
        _kmeans_single(X, np.ones(800, dtype), X[:4] - X.mean(0), max_iter=3, use_bounds=False)
        assert seen and all((k is L._lloyd_block_screened) == (dtype == np.float64) for k in seen)
