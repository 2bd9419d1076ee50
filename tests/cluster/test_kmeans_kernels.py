"""The k-means Numba kernels against NumPy oracles."""

import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist

from sklearn_deep._kernel_blocks import n_blocks as _n_blocks
from sklearn_deep._numba_config import numba_threads
from sklearn_deep.cluster import _kmeans_kernels as K
from sklearn_deep.cluster._kmeans_core import (
    _center_groups,
    _gemm_delta_scale,
    _relocate_empty_clusters,
    _sq_norms,
)


def _data(n=700, d=7, k=9, dtype=np.float64, seed=0, sparse=False):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    if sparse:
        X[rng.rand(n, d) < 0.6] = 0.0
    X = X.astype(dtype)
    centers = X[rng.choice(n, k, replace=False)] + rng.randn(k, d).astype(dtype) * 0.1
    sw = rng.uniform(0.5, 2.0, size=n).astype(dtype)
    return X, centers.astype(dtype), sw


def _buffers(n, k, d):
    nb = _n_blocks(n)
    return (
        np.full(n, -1, dtype=np.int32),
        np.zeros((nb, k, d)),
        np.zeros((nb, k)),
        np.zeros(nb, dtype=np.int64),
    )


def _z(X):
    """No centring: the kernels' ``mean`` argument for raw data."""
    return np.zeros(X.shape[1], dtype=X.dtype)


def _counts(n, k):
    return np.zeros((_n_blocks(n), k), dtype=np.int64)


def _blas_above_fused_max(monkeypatch):
    """Rank more than FUSED_MAX_CLUSTERS float64 centres with BLAS, however small they are
    (the BLAS path otherwise needs centres larger than FUSED_MAX_BYTES)."""
    from sklearn_deep.cluster import _kmeans_lloyd

    monkeypatch.setattr(_kmeans_lloyd, "FUSED_MAX_BYTES", 0)


def _oracle_step(X, sw, centers):
    dist = cdist(X.astype(np.float64), centers.astype(np.float64), "sqeuclidean")
    labels = dist.argmin(axis=1)
    k = centers.shape[0]
    sums = np.zeros((k, X.shape[1]))
    np.add.at(sums, labels, X.astype(np.float64) * sw[:, None])
    wsum = np.bincount(labels, weights=sw, minlength=k)
    return dist, labels, sums, wsum


def test_block_count_depends_on_n_samples_only():
    assert K._n_blocks(0) == 0
    assert K._n_blocks(1) == 1
    assert K._n_blocks(K.CHUNK_SIZE) == 1
    assert K._n_blocks(K.CHUNK_SIZE + 1) == 2
    assert K._n_blocks(10**7) == K.MAX_BLOCKS
    for n in [1, 255, 256, 257, 5000, 10**6]:
        assert _n_blocks(n) == K._n_blocks(n)
        nb = K._n_blocks(n)
        bounds = [K._block_bounds(b, nb, n) for b in range(nb)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(bounds[b][1] == bounds[b + 1][0] for b in range(nb - 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [9, K.FUSED_MAX_CLUSTERS + 6])  # fused tiles; BLAS for float64
def test_lloyd_iter_dense_matches_oracle(dtype, k, monkeypatch):
    _blas_above_fused_max(monkeypatch)
    # the kernel clusters X - mean, centred on the fly: same as on the centred copy
    X, centers, sw = _data(dtype=dtype, k=k)
    n, d = X.shape
    mean = np.linspace(-30, 50, d).astype(dtype)
    X_raw = X + mean
    Xc = X_raw - mean  # what a centred copy would hold
    labels, sums, wsums, n_changed = _buffers(n, k, d)
    counts = _counts(n, k)
    cs = _sq_norms(centers)
    ct = np.ascontiguousarray(centers.T)
    K._lloyd_iter_dense(X_raw, mean, sw, ct, cs, labels, sums, wsums, counts, n_changed, True)
    _, ref_labels, ref_sums, ref_w = _oracle_step(Xc, sw, centers)
    assert_array_equal(labels, ref_labels)
    assert n_changed.sum() == n  # every label changed from -1
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(sums.sum(axis=0), ref_sums, rtol=rtol, atol=rtol)
    assert_allclose(wsums.sum(axis=0), ref_w, rtol=rtol)
    assert_array_equal(counts.sum(axis=0), np.bincount(ref_labels, minlength=k))
    # same pass on the centred copy: bit-identical
    lab2, sums2, wsums2, ch2 = _buffers(n, k, d)
    K._lloyd_iter_dense(Xc, _z(Xc), sw, ct, cs, lab2, sums2, wsums2, _counts(n, k), ch2, True)
    assert_array_equal(lab2, labels)
    assert_array_equal(sums2, sums)
    # second pass with the same centres changes nothing
    K._lloyd_iter_dense(X_raw, mean, sw, ct, cs, labels, sums, wsums, counts, n_changed, False)
    assert n_changed.sum() == 0


@njit
def _gather_all(X, mean, rows, r0, m, Xt):
    K._gather_transposed(X, mean, rows, r0, m, Xt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_transposed_matches_numpy(dtype):
    # the 4 x 4 shuffle blocks and both remainders (features and rows not multiples of 4)
    rng = np.random.RandomState(0)
    for d in range(1, 11):
        X = rng.randn(50, d).astype(dtype)
        mean = rng.randn(d).astype(dtype)
        rows = rng.permutation(50)
        for r0, m in [(0, 1), (3, 4), (5, 7), (10, 13), (0, 50)]:
            Xt = np.full((K._pad4(d), K.TILE_STRIDE), -7.0, dtype=dtype)
            _gather_all(X, mean, rows, r0, m, Xt)
            assert_array_equal(Xt[:d, :m], (X[rows[r0 : r0 + m]] - mean).T)
            # nothing else is written
            assert np.all(Xt[d:] == -7.0) and np.all(Xt[:, m:] == -7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lloyd_iter_sparse_matches_oracle(dtype):
    X, centers, sw = _data(dtype=dtype, sparse=True)
    Xs = sp.csr_matrix(X)
    n, d = X.shape
    k = centers.shape[0]
    labels, sums, wsums, n_changed = _buffers(n, k, d)
    norms = (centers**2).sum(axis=1)
    K._lloyd_iter_sparse(
        Xs.data, Xs.indices, Xs.indptr, sw, centers, norms, labels, sums, wsums, n_changed, True
    )
    _, ref_labels, ref_sums, ref_w = _oracle_step(X, sw, centers)
    assert_array_equal(labels, ref_labels)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert_allclose(sums.sum(axis=0), ref_sums, rtol=rtol, atol=rtol)
    assert_allclose(wsums.sum(axis=0), ref_w, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "k, n_groups, d",
    [
        (5, 1, 5),
        (5, 2, 5),
        (24, 1, 5),
        (24, 3, 5),
        (K.FUSED_MAX_CLUSTERS + 6, 9, 5),  # BLAS path
        # failing bounds retested with the exact distance to the own centre
        (60, 1, K.RETEST_MIN_WORK // 60 + 1),
        (K.FUSED_MAX_CLUSTERS + 6, 9, K.RETEST_MIN_WORK // 70 + 1),
    ],
)
def test_yinyang_matches_plain_lloyd_and_keeps_valid_bounds(dtype, k, n_groups, d, monkeypatch):
    _blas_above_fused_max(monkeypatch)
    X, centers, sw = _data(n=1500, d=d, k=k, dtype=dtype, seed=1)
    n, d = X.shape
    eps = 16.0 * (d + 4) * float(np.finfo(dtype).eps)
    perm, gstart = _center_groups(centers, n_groups)
    n_groups = gstart.shape[0] - 1
    assert_array_equal(np.sort(perm), np.arange(k))
    lab_y, sums_y, wsums_y, ch_y = _buffers(n, k, d)
    lab_l, sums_l, wsums_l, ch_l = _buffers(n, k, d)
    counts_y, counts_l = _counts(n, k), _counts(n, k)
    upper, lower = np.zeros(n), np.zeros((n, n_groups))
    shift, half_sep = np.zeros(k), np.empty(k)
    csum, wic = np.empty((k, d)), np.empty(k)
    x_sq = np.empty(n)
    K._row_sq_norms(X, _z(X), x_sq)
    assert_allclose(x_sq, (X.astype(np.float64) ** 2).sum(axis=1), rtol=1e-12)
    delta_scale = _gemm_delta_scale(dtype, d)
    skipped = 0
    c = centers.copy()
    for it in range(8):
        ct = np.ascontiguousarray(c.T)
        cs = _sq_norms(c)
        upper_before = upper.copy()
        K._yinyang_iter_dense(
            X,
            _z(X),
            sw,
            c,
            ct,
            cs,
            x_sq,
            perm,
            gstart,
            half_sep,
            shift,
            upper,
            lower,
            lab_y,
            sums_y,
            wsums_y,
            counts_y,
            ch_y,
            it > 0,
            True,
            eps,
            delta_scale,
        )
        if it > 0:  # samples whose bound was only widened, not recomputed
            skipped += int(np.sum(upper == upper_before + shift[lab_y] * (1.0 + eps)))
        K._lloyd_iter_dense(X, _z(X), sw, ct, cs, lab_l, sums_l, wsums_l, counts_l, ch_l, True)
        assert_array_equal(lab_y, lab_l)
        assert ch_y.sum() == ch_l.sum()
        # same label changes in the same order: bit-identical running sums
        assert_array_equal(sums_y, sums_l)
        assert_array_equal(counts_y, counts_l)
        # the running sums are the sums over the current members
        ref_sums = np.zeros((k, d))
        np.add.at(ref_sums, lab_y, X.astype(np.float64) * sw[:, None])
        rtol = 1e-5 if dtype == np.float32 else 1e-10
        assert_allclose(sums_y.sum(axis=0), ref_sums, rtol=rtol, atol=rtol)
        assert_allclose(wsums_y.sum(axis=0), np.bincount(lab_y, sw, minlength=k), rtol=rtol)
        assert_array_equal(counts_y.sum(axis=0), np.bincount(lab_y, minlength=k))
        # bounds: upper >= distance to own centre; per group, lower <= distance to every
        # centre of the group other than the sample's own
        dist = np.sqrt(cdist(X.astype(np.float64), c.astype(np.float64), "sqeuclidean"))
        own = dist[np.arange(n), lab_y]
        assert np.all(upper >= own * (1 - 1e-12))
        for g in range(n_groups):
            members = perm[gstart[g] : gstart[g + 1]]
            dg = dist[:, members].copy()
            dg[lab_y[:, None] == members[None, :]] = np.inf
            assert np.all(lower[:, g] <= dg.min(axis=1) * (1 + 1e-12))
        K._reduce_blocks(sums_y, wsums_y, csum, wic)
        c_new = np.empty_like(c)
        K._finish_mstep(csum, wic, c, c_new, shift, half_sep, eps, True)
        c = c_new
    # the bounds do spare distance computations (fewer in high dimension, where random
    # data keep the centres at similar distances)
    assert skipped > (n if d <= 5 else 0)


def test_running_sums_of_emptied_cluster_are_exactly_zero():
    # samples with weights that do not sum exactly leave a cluster: its running sums
    # are reset to exact zeros, so it is seen as empty (and relocated) like a recomputed one
    rng = np.random.RandomState(3)
    X = rng.randn(50, 3)
    sw = rng.uniform(0.1, 3.0, size=50)
    n, d = X.shape
    labels, sums, wsums, n_changed = _buffers(n, 2, d)
    counts = _counts(n, 2)
    far = np.array([[0.0, 0.0, 0.0], [100.0, 100.0, 100.0]])
    for c in (far[::-1], far):  # every sample in cluster 1, then all move to cluster 0
        K._lloyd_iter_dense(
            X,
            _z(X),
            sw,
            np.ascontiguousarray(c.T),
            _sq_norms(c),
            labels,
            sums,
            wsums,
            counts,
            n_changed,
            True,
        )
    assert np.all(labels == 0) and n_changed.sum() == n
    assert np.all(wsums[:, 1] == 0.0) and np.all(sums[:, 1] == 0.0)
    assert np.all(counts[:, 1] == 0)
    assert_allclose(sums[:, 0].sum(axis=0), (X * sw[:, None]).sum(axis=0), rtol=1e-12)


def test_center_groups_partition():
    rng = np.random.RandomState(0)
    centers = np.vstack([rng.randn(6, 3), rng.randn(5, 3) + 50])
    perm, gstart = _center_groups(centers, 2)
    assert_array_equal(gstart, [0, 6, 11])
    assert set(perm[:6]) == set(range(6))  # nearby centres share a group


def test_reduce_and_finish_mstep():
    rng = np.random.RandomState(0)
    sums = rng.randn(5, 4, 3)
    wsums = rng.uniform(1, 2, size=(5, 4))
    wsums[:, 2] = 0.0  # cluster 2 empty
    csum, wic = np.empty((4, 3)), np.empty(4)
    K._reduce_blocks(sums, wsums, csum, wic)
    assert_allclose(csum, sums.sum(axis=0))
    assert_allclose(wic, wsums.sum(axis=0))
    old = rng.randn(4, 3)
    new = np.empty((4, 3), dtype=np.float32)
    shift, half_sep = np.empty(4), np.empty(4)
    raw = sums.sum(axis=0)
    expected = raw / np.where(wic > 0, wic, 1.0)[:, None]
    heaviest = int(np.argmax(wic))
    # an empty cluster copies the heaviest one's row as it is at that point of the loop
    # (scikit-learn's _average_centers: still a raw sum if the heaviest comes later)
    expected[2] = expected[heaviest] if heaviest < 2 else raw[heaviest]
    K._finish_mstep(csum, wic, old, new, shift, half_sep, 0.0, True)
    assert_allclose(new, expected, rtol=1e-6)
    assert_allclose(shift, np.linalg.norm(new.astype(np.float64) - old, axis=1))
    pair = cdist(new.astype(np.float64), new.astype(np.float64))
    np.fill_diagonal(pair, np.inf)
    assert_allclose(half_sep, pair.min(axis=1) / 2)
    assert_allclose(K._half_separation(new, 0.0), half_sep)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inertia_kernels(dtype):
    X, centers, sw = _data(dtype=dtype, sparse=True)
    Xs = sp.csr_matrix(X)
    labels = np.random.RandomState(0).randint(centers.shape[0], size=X.shape[0]).astype(np.int32)
    dist = ((X.astype(np.float64) - centers[labels]) ** 2).sum(axis=1)
    expected = np.sum(dist * sw)
    norms = (centers**2).sum(axis=1)
    dense = K._inertia_dense(X, _z(X), sw, centers, labels, -1)
    sparse = K._inertia_sparse(Xs.data, Xs.indices, Xs.indptr, sw, centers, norms, labels, -1)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(dense, expected, rtol=rtol)
    assert_allclose(sparse, expected, rtol=rtol)
    mask = labels == 1
    expected1 = np.sum(dist[mask] * sw[mask])
    assert_allclose(K._inertia_dense(X, _z(X), sw, centers, labels, 1), expected1, rtol=rtol)
    # centred on the fly: X + mean with that mean
    mean = np.linspace(-5, 7, X.shape[1]).astype(dtype)
    Xc = (X + mean) - mean
    dist_c = ((Xc.astype(np.float64) - centers[labels]) ** 2).sum(axis=1)
    shifted = K._inertia_dense(X + mean, mean, sw, centers, labels, -1)
    assert_allclose(shifted, np.sum(dist_c * sw), rtol=rtol)
    assert_allclose(
        K._inertia_sparse(Xs.data, Xs.indices, Xs.indptr, sw, centers, norms, labels, 1),
        expected1,
        rtol=rtol,
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_euclidean_kernels(dtype):
    X, centers, _ = _data(dtype=dtype, sparse=True)
    Xs = sp.csr_matrix(X)
    expected = cdist(X.astype(np.float64), centers.astype(np.float64))
    out = np.empty((X.shape[0], centers.shape[0]), dtype=dtype)
    K._euclidean_dense(X, np.ascontiguousarray(centers.T), out)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert_allclose(out, expected, rtol=rtol)
    out2 = np.empty_like(out)
    norms = (centers**2).sum(axis=1)
    K._euclidean_sparse(Xs.data, Xs.indices, Xs.indptr, centers, norms, out2)
    assert_allclose(out2, expected, rtol=rtol, atol=1e-3 if dtype == np.float32 else 1e-6)
    d_own = np.empty(X.shape[0], dtype=dtype)
    labels = np.zeros(X.shape[0], dtype=np.int32)
    K._sqdist_to_assigned_sparse(Xs.data, Xs.indices, Xs.indptr, centers, norms, labels, d_own)
    assert_allclose(
        d_own, expected[:, 0] ** 2, rtol=rtol, atol=1e-3 if dtype == np.float32 else 1e-6
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True])
def test_kmeanspp_trials(dtype, sparse):
    X, _, sw = _data(n=600, dtype=dtype, sparse=sparse)
    mean = np.full(X.shape[1], 4.0, dtype=dtype)
    X_raw = X + mean
    if not sparse:  # dense: centred on the fly, as the centred copy would hold it
        X = X_raw - mean
    rng = np.random.RandomState(3)
    candidates = X[rng.choice(X.shape[0], 4)]
    closest = (rng.uniform(0, 10, size=X.shape[0])).astype(dtype)
    nb = _n_blocks(X.shape[0])
    dist = np.empty((4, X.shape[0]), dtype=dtype)
    pots = np.empty((nb, 4))
    if sparse:
        Xs = sp.csr_matrix(X)
        norms = (X.astype(np.float64) ** 2).sum(axis=1).astype(dtype)
        K._kmeanspp_trials_sparse(
            Xs.data, Xs.indices, Xs.indptr, norms, sw, candidates, closest, dist, pots
        )
    else:
        K._kmeanspp_trials_dense(X_raw, mean, sw, candidates, closest, dist, pots)
    expected = np.minimum(
        closest[None, :], cdist(candidates.astype(np.float64), X.astype(np.float64), "sqeuclidean")
    )
    rtol = 1e-5 if dtype == np.float32 else 1e-9
    assert_allclose(dist, expected, rtol=rtol, atol=1e-4 if sparse else 0)
    assert_allclose(pots.sum(axis=0), expected @ sw.astype(np.float64), rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeanspp_searchsorted_matches_numpy(dtype):
    rng = np.random.RandomState(0)
    for n in [1, 5, 300]:
        sw = rng.uniform(0, 2, size=n).astype(dtype)
        closest = rng.uniform(0, 3, size=n).astype(dtype)
        closest[rng.rand(n) < 0.2] = 0.0
        cum = np.cumsum(sw * closest)
        total = cum[-1]
        vals = np.concatenate([rng.uniform(size=7) * total, [0.0, total, total * 1.5]])
        out = np.empty(vals.shape[0], dtype=np.int64)
        K._kmeanspp_searchsorted(sw, closest, vals, out)
        expected = np.clip(np.searchsorted(cum, vals), None, n - 1)
        assert_array_equal(out, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeanspp_searchsorted_blocks_matches_numpy(dtype):
    # the search started from block prefixes gives the sequential search's index, also for
    # targets on (or next to) a cumulative value, zero terms and the ends
    rng = np.random.RandomState(0)
    for _ in range(300):
        n = int(rng.randint(1, 3000))
        sw = (rng.uniform(0.1, 2, size=n) if rng.rand() < 0.5 else np.ones(n)).astype(dtype)
        closest = (rng.exponential(size=n) ** rng.choice([1, 3])).astype(dtype)
        if rng.rand() < 0.3:
            closest[rng.rand(n) < 0.5] = 0.0
        terms = sw * closest
        cum = np.cumsum(terms)
        nb = _n_blocks(n)
        # block sums as the trial kernels accumulate them (float64, in order)
        block_pots = np.array(
            [
                float(np.cumsum(terms[b * n // nb : (b + 1) * n // nb], dtype=np.float64)[-1])
                for b in range(nb)
            ]
        )
        vals = rng.uniform(size=rng.randint(1, 9)) * float(cum[-1])
        vals[0] = rng.choice([vals[0], 0.0, float(cum[-1]), float(cum[rng.randint(n)])])
        out = np.empty(vals.shape[0], dtype=np.int64)
        K._kmeanspp_searchsorted_blocks(sw, closest, block_pots, vals, out)
        assert_array_equal(out, np.clip(np.searchsorted(cum, vals), None, n - 1))


@pytest.mark.parametrize("sparse", [False, True])
def test_relocate_empty_clusters(sparse):
    # scikit-learn's test of _relocate_empty_clusters_(dense/sparse)
    X = np.array([-10.0, -9.5, -9, -8.5, -8, -1, 1, 9, 9.5, 10]).reshape(-1, 1)
    Xin = sp.csr_matrix(X) if sparse else X
    sample_weight = np.ones(10)
    centers_old = np.array([-10.0, -10, -10]).reshape(-1, 1)
    centers_new = np.array([-16.5, -10, -10]).reshape(-1, 1)
    weight_in_clusters = np.array([10.0, 0, 0])
    labels = np.zeros(10, dtype=np.int32)
    _relocate_empty_clusters(
        Xin, sample_weight, centers_old, centers_new, weight_in_clusters, labels
    )
    assert_array_equal(weight_in_clusters, [8, 1, 1])
    assert_allclose(centers_new, [[-36], [10], [9.5]])


def test_kernels_independent_of_thread_count():
    X, centers, sw = _data(n=20000, d=6, k=10, seed=4)
    n, d = X.shape
    k = centers.shape[0]
    out = []
    for n_threads in (1, 2):
        with numba_threads(n_threads):
            labels, sums, wsums, n_changed = _buffers(n, k, d)
            K._lloyd_iter_dense(
                X,
                _z(X),
                sw,
                np.ascontiguousarray(centers.T),
                _sq_norms(centers),
                labels,
                sums,
                wsums,
                _counts(n, k),
                n_changed,
                True,
            )
            inertia = K._inertia_dense(X, _z(X), sw, centers, labels, -1)
            out.append((labels, sums, wsums, inertia))
    assert_array_equal(out[0][0], out[1][0])
    assert_array_equal(out[0][1], out[1][1])
    assert_array_equal(out[0][2], out[1][2])
    assert out[0][3] == out[1][3]


def test_float32_and_float64_kernels_agree():
    X, centers, sw = _data(n=2000, d=4, k=6, seed=2)
    res = {}
    for dtype in (np.float32, np.float64):
        Xd, cd, swd = X.astype(dtype), centers.astype(dtype), sw.astype(dtype)
        labels, sums, wsums, n_changed = _buffers(*X.shape[:1], *centers.shape)
        counts = _counts(X.shape[0], centers.shape[0])
        K._lloyd_iter_dense(
            Xd,
            _z(Xd),
            swd,
            np.ascontiguousarray(cd.T),
            _sq_norms(cd),
            labels,
            sums,
            wsums,
            counts,
            n_changed,
            True,
        )
        res[dtype] = (labels, sums.sum(axis=0), K._inertia_dense(Xd, _z(Xd), swd, cd, labels, -1))
    assert_array_equal(res[np.float32][0], res[np.float64][0])
    assert_allclose(res[np.float32][1], res[np.float64][1], rtol=1e-5, atol=1e-4)
    assert_allclose(res[np.float32][2], res[np.float64][2], rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 2), (7, 3), (3000, 16), (40, 300), (20000, 2)])
def test_column_mean_and_var_equal_numpy_bit_for_bit(dtype, shape):
    # the estimator centres X with this mean and scales tol with this variance, as
    # scikit-learn does with NumPy's
    X = (np.random.RandomState(0).randn(*shape) * 10 + 3).astype(dtype)
    assert_array_equal(K._column_mean(X), X.mean(axis=0))
    assert_array_equal(K._column_var(X), X.var(axis=0))
    assert K._column_mean(X).dtype == dtype and K._column_var(X).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_weighted_choice_is_numpy_choice(dtype):
    # the first k-means++ centre: RandomState.choice's index and random-number use, exactly
    from sklearn_deep.cluster._kmeans_core import _weighted_choice

    rng = np.random.RandomState(0)
    for _ in range(400):
        n = int(rng.choice([1, 2, 7, 300, 4000]))
        sw = rng.uniform(0, 3, size=n) ** rng.choice([1, 4])
        sw[rng.rand(n) < rng.choice([0.0, 0.8])] = 0.0
        sw[rng.randint(n)] = rng.choice([1.0, 1e6])
        sw = sw.astype(dtype)
        seed = int(rng.randint(1 << 30))
        a, b = np.random.RandomState(seed), np.random.RandomState(seed)
        assert _weighted_choice(b, sw) == a.choice(n, p=sw / sw.sum())
        assert b.random_sample() == a.random_sample()
    with pytest.raises(ValueError, match="probabilities are not non-negative"):
        _weighted_choice(np.random.RandomState(0), np.array([1.0, -1.0, 2.0], dtype=dtype))
