"""Exactness of the fast k-means passes on overlapping clusters (where the bounds prune
little and the passes switch between bounded and plain): the ranking micro-kernel against a
NumPy oracle, and whole runs against plain Lloyd, bit for bit, on 1 and 2 threads."""

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_deep.cluster import _kmeans_bounds, _kmeans_core, _kmeans_lloyd
from sklearn_deep.cluster._kmeans_core import _kmeans_single
from sklearn_deep.cluster._kmeans_rank import VEC_SAMPLES, _rank_tile


def _overlapping(n, d, k, dtype, seed=0):
    """Blobs with random full covariances whose centres are about 4 apart while the noise
    grows with sqrt(d) (as benchmarks/bench_kmeans.py's ``overlapping`` data)."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0 / np.sqrt(d), size=(k, d))
    labels = rng.randint(k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        idx = np.flatnonzero(labels == j)
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        X[idx] = centers[j] + rng.normal(size=(idx.size, d)) @ A.T
    return X.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d, k, m", [(5, 7, 37), (16, 16, 128), (9, 3, 1)])
def test_rank_tile_matches_numpy(dtype, d, k, m):
    rng = np.random.RandomState(d + k)
    d4, k4 = -(-d // 4) * 4, -(-k // 4) * 4
    Xt = np.zeros((d4, 144), dtype=dtype)
    Xt[:d, :m] = rng.randn(d, m)
    U = np.zeros((d4, k4), dtype=dtype)
    U[:d, :k] = rng.randn(d, k)
    U[:, 1] = U[:, 0]  # a tie: the first index wins, and the second smallest equals it
    csq = np.full(k4, np.inf, dtype=dtype)  # padded centres never win
    csq[:k] = (U[:, :k].astype(np.float64) ** 2).sum(axis=0)
    width = VEC_SAMPLES[np.dtype(dtype).itemsize]
    size = -(-m // width) * width
    best = np.full(size, -1, dtype=np.int32)
    b1, b2 = np.empty(size, dtype=dtype), np.empty(size, dtype=dtype)
    _rank_tile(Xt, m, U, csq, best, b1, b2)
    vals = csq[None, :k].astype(np.float64) - 2.0 * (
        Xt[:, :m].T.astype(np.float64) @ U[:, :k].astype(np.float64)
    )
    tol = 1e-4 if dtype == np.float32 else 1e-10
    scale = np.abs(vals).max()
    ranked = np.sort(vals, axis=1)
    np.testing.assert_allclose(b1[:m], ranked[:, 0], atol=tol * scale)
    np.testing.assert_allclose(b2[:m], ranked[:, 1], atol=tol * scale)
    # the label is the first index of the smallest computed value
    assert np.all(best[:m] != 1)
    close = vals[np.arange(m), best[:m]] <= ranked[:, 0] + 2 * tol * scale
    assert np.all(close)


class _CyclingSchedule(_kmeans_bounds._PassSchedule):
    """Every transition of the pass schedule, whatever the timings: refresh, bounded,
    bounded, plain, plain, refresh, ..."""

    def __init__(self, bounded):
        super().__init__(bounded)
        if bounded:
            self.kind = "refresh"

    def after(self, ranked_fraction, seconds, changed_fraction=0.0):
        if self.fixed:
            return
        self.step = getattr(self, "step", 0) + 1
        self.kind = ["refresh", "bounded", "bounded", "plain", "plain"][self.step % 5]


def test_schedule_tries_bounds_only_once_few_labels_change():
    """Plain passes continue while more than BOUNDS_MAX_CHANGED of the labels change (the
    bounds would prune little and the try costs two passes); the first pass after one that
    changed fewer writes fresh bounds, then a bounded pass is timed."""
    limit = _kmeans_bounds.BOUNDS_MAX_CHANGED
    schedule = _kmeans_bounds._PassSchedule(True)
    kinds = []
    for changed in [1.0, 0.3, 0.1, 5 * limit, 2 * limit, limit / 2]:
        kinds.append(schedule.kind)
        schedule.after(0.0, 1e-3, changed)
    assert kinds == ["plain"] * 6
    assert schedule.kind == "refresh"
    schedule.after(1.0, 2e-3, limit / 2)
    assert schedule.kind == "bounded"
    # a bounded pass slower than the last plain one: back to plain passes
    schedule.after(0.4, 2e-3, limit / 2)
    assert schedule.kind == "plain"
    # without bounds (small passes, sparse data) every pass is plain
    fixed = _kmeans_bounds._PassSchedule(False)
    for _ in range(5):
        fixed.after(0.0, 1e-3, 0.0)
    assert fixed.kind == "plain"


def test_overlapping_fit_without_a_bound_try_computes_no_bound_state(monkeypatch):
    """The bounds' state (samples' norms, groups) is made only before a pass that uses it."""
    calls = []
    original = _kmeans_core._k._row_sq_norms
    monkeypatch.setattr(
        _kmeans_core._k,
        "_row_sq_norms",
        lambda *args: calls.append(1) or original(*args),
    )
    X = _overlapping(20000, 16, 16, np.float64)
    init = X[:16].copy()
    # every pass changes many labels in the first iterations: no try in 3 passes
    _kmeans_single(X, np.ones(len(X)), init, max_iter=3, tol=0)
    assert calls == []
    # a fit forced to try them builds it once
    with monkeypatch.context() as m:
        m.setattr(_kmeans_core, "_PassSchedule", _CyclingSchedule)
        _kmeans_single(X, np.ones(len(X)), init, max_iter=6, tol=0)
    assert calls == [1]


@pytest.mark.parametrize(
    "dtype, blas", [(np.float32, False), (np.float64, False), (np.float64, True)]
)
def test_bounded_runs_equal_plain_lloyd_on_overlapping_clusters(dtype, blas, monkeypatch):
    X = _overlapping(3000, 12, 70, dtype)
    if blas:  # rank float64 with BLAS
        monkeypatch.setattr(_kmeans_lloyd, "FUSED_MAX_BYTES", 0)
    rng = np.random.RandomState(0)
    init = X[rng.choice(X.shape[0], 70, replace=False)]
    sw = rng.uniform(0.5, 2.0, X.shape[0]).astype(dtype)
    x_mean = X.mean(axis=0)
    previous = numba.get_num_threads()
    results = {}
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            results["plain", n_threads] = _kmeans_single(
                X, sw, init, max_iter=12, tol=0, use_bounds=False, x_mean=x_mean
            )
            results["adaptive", n_threads] = _kmeans_single(
                X, sw, init, max_iter=12, tol=0, x_mean=x_mean
            )
            with monkeypatch.context() as m:
                m.setattr(_kmeans_core, "_PassSchedule", _CyclingSchedule)
                results["cycling", n_threads] = _kmeans_single(
                    X, sw, init, max_iter=12, tol=0, x_mean=x_mean
                )
    finally:
        numba.set_num_threads(previous)
    labels, inertia, centers, n_iter = results["plain", 1]
    assert n_iter == 12  # overlapping clusters: the labels keep changing
    for key, (lab, ine, cen, it) in results.items():
        assert_array_equal(lab, labels, err_msg=str(key))
        assert_array_equal(cen, centers, err_msg=str(key))
        assert ine == inertia and it == n_iter, key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_kmeanspp_numpy_small_data_path_equals_kernel(dtype, seed):
    from sklearn_deep.cluster import _kmeans_kernels as K

    X = _overlapping(700, 5, 9, dtype, seed=seed) + 3.0
    rng = np.random.RandomState(seed)
    sw = rng.uniform(0.5, 2.0, X.shape[0]).astype(dtype)
    mean = X.mean(axis=0)
    rand_vals = rng.uniform(size=(8, 4))
    plain = K._kmeanspp_dense_plain(X, mean, sw, 3, rand_vals)
    numpy_path = K._kmeanspp_dense_numpy(X, mean, sw, 3, rand_vals)
    assert_array_equal(numpy_path, plain)
    assert len(set(plain.tolist())) == 9
