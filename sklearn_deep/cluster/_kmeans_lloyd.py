"""k-means kernels: plain Lloyd passes on dense data (the E-step, with the running centre sums).

Centres are ranked as scikit-learn ranks them, by ``||c||^2 - 2 <x, c>``; the cross term comes
from the fused register tiles of :mod:`sklearn_deep._kernel_blocks` for at most
``FUSED_MAX_CLUSTERS`` centres or float32 data, else from a BLAS product over chunks of
samples (BLAS limited to one thread by the caller).
"""

import numpy as np
from numba import njit

from .._kernel_blocks import (
    CHUNK_SIZE,
    TILE_SAMPLES,
    TILE_STRIDE,
    _gather_transposed,
    _pad4,
    for_each_block_threads,
)
from .._numba_config import CACHE
from ._kmeans_common import _relabel_rows
from ._kmeans_lloyd_screen import _lloyd_block_screened, no_tiles, screened_args
from ._kmeans_rank import _rank_tile

# the ranking products run in the fused micro-kernel (samples transposed into a
# (n_features, TILE_SAMPLES) buffer) for float32 data, up to FUSED_MAX_CLUSTERS centres, or
# while the packed centres take at most FUSED_MAX_BYTES (they are read once per vector of
# samples: they must stay in the core's cache); else BLAS over chunks of samples. On
# float64 (200k, 64, 256) the fused passes take 0.6x the time of BLAS (benchmarks page)
FUSED_MAX_CLUSTERS = 64
FUSED_MAX_BYTES = 1 << 19
# float64 passes rank in float32 and recompute the near-ties in float64 (same labels, bit for
# bit: :mod:`._kmeans_lloyd_screen`); False ranks every sample in float64
SCREEN_FLOAT64 = True


# ---------------------------------------------------------------------------------------------
# fused ranking for few centres: samples transposed, the register-blocked micro-kernel


def _use_fused(n_clusters, n_features, itemsize):
    """Whether the ranking products run in the fused micro-kernel (else BLAS)."""
    packed = (n_clusters + 3) // 4 * 4 * ((n_features + 3) // 4 * 4) * itemsize
    return itemsize == 4 or n_clusters <= FUSED_MAX_CLUSTERS or packed <= FUSED_MAX_BYTES


def _tiles_pay(n_samples, n_features, n_clusters, dtype, min_work):
    """Whether the plain passes of a fit rank from float32 tiles of X copied once
    (:func:`~._kmeans_lloyd_screen.sample_tiles`): float64 X whose passes are screened, with
    at least 4 features (the tiles pad the features to a multiple of 4) and passes of at
    least ``min_work`` multiply-adds. (Float32 X is read as it is: from tiles, its passes
    took the same time; reading X costs as much as reading the tiles.)"""
    screened = SCREEN_FLOAT64 and dtype == np.float64 and n_clusters > 1
    return screened and n_features >= 4 and n_samples * n_features * n_clusters >= min_work


@njit(cache=CACHE)
def _pack_centers(centers_t, centers_sq, dtype_like):
    """Zero-padded centres ``U`` (n_features_pad4, n_clusters_pad4) and their squared norms
    ``csq`` (n_clusters_pad4,) in X's dtype; padded centres get ``csq = inf``."""
    n_features, n_clusters = centers_t.shape
    U = np.zeros((_pad4(n_features), _pad4(n_clusters)), dtype=dtype_like.dtype)
    csq = np.full(_pad4(n_clusters), np.inf, dtype=dtype_like.dtype)
    for f in range(n_features):
        for j in range(n_clusters):
            U[f, j] = centers_t[f, j]
    for j in range(n_clusters):
        csq[j] = centers_sq[j]
    return U, csq


# ---------------------------------------------------------------------------------------------
# Lloyd (plain) iterations


@njit(cache=CACHE)
def _gemm_rows_argmin(D, r, centers_sq):
    """First argmin over centres of ``||c||^2 - 2 <x, c>`` for row ``r`` of ``D = X C^T``.

    Returns ``(best, best_val, second_val)`` (float64 values, without ``||x||^2``).
    """
    best = 0
    best_val = centers_sq[0] - 2.0 * D[r, 0]
    second_val = np.inf
    for j in range(1, D.shape[1]):
        v = centers_sq[j] - 2.0 * D[r, j]
        if v < best_val:
            second_val = best_val
            best_val = v
            best = j
        elif v < second_val:
            second_val = v
    return best, best_val, second_val


def _lloyd_iter_dense(
    X,
    mean,
    sample_weight,
    centers_t,
    centers_sq,
    labels,
    sums,
    wsums,
    counts,
    n_changed,
    update_centers,
    tiles=None,
):
    """One plain Lloyd E-step (and running M-step sums) on dense data.

    As scikit-learn, centres are ranked by ``||c_j||^2 - 2 <x, c_j>``. Where
    :func:`_use_fused` says so, the cross term comes from the fused micro-kernel
    (:func:`~._kmeans_rank._rank_tile`, X's dtype); above, from a BLAS product over chunks of
    ``CHUNK_SIZE`` samples (call with BLAS limited to one thread: the kernel is already
    parallel over blocks).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    mean : ndarray of shape (n_features,), X's dtype
        The kernels work on ``X - mean`` (computed on the fly, as the centred copy of X
        would hold it), so that X need not be copied.
    sample_weight : ndarray of shape (n_samples,), X's dtype
    centers_t : ndarray of shape (n_features, n_clusters), X's dtype
        The current centres (in the centred coordinates), transposed.
    centers_sq : ndarray of shape (n_clusters,), float64
        Squared norms of the centres.
    labels : ndarray of shape (n_samples,), int32
        Read and written: index of the closest centre (first one on ties); -1 before the
        first pass.
    sums, wsums, counts : ndarrays of shape (n_blocks, n_clusters[, n_features])
        Running per-block sums of the weighted samples, of their weights (float64) and
        member counts (int64) per cluster (see :func:`_move_sample`), zero before the first
        pass; updated for the samples whose label changes when ``update_centers``.
    n_changed : ndarray of shape (n_blocks,), int64
        Written: number of labels that changed in each block.
    update_centers : bool
    tiles : tuple or None, default=None
        The float32 tiles of ``X - mean`` (:func:`~._kmeans_lloyd_screen.sample_tiles`) for
        the screened passes of a fit on float64 data: ranked as they are, without reading
        and transposing X again. None: transposed on the fly.

    Notes
    -----
    A Python function: it runs one of two serial block kernels (:func:`_lloyd_block_fused`,
    :func:`_lloyd_block_gemm`) over the sample blocks in parallel
    (:func:`~sklearn_deep._kernel_blocks.for_each_block_threads`), so that a fit compiles only the
    kernel it runs, and no large parallel function.
    """
    # (the block kernels' arguments: ``data`` as in :func:`._kmeans_common._relabel_rows`,
    # with the ranking's centres in the centres' place, then update_centers, their norms)
    n_clusters = centers_t.shape[1]
    if tiles is None:
        tiles = no_tiles(X.shape[1])
    if SCREEN_FLOAT64 and X.dtype == np.float64 and n_clusters > 1:
        U, csq = _pack_centers(centers_t, centers_sq, X[:0, 0])
        data = (X, mean, sample_weight, U, labels, sums, wsums, counts)
        args = screened_args(data, update_centers, U, csq, n_clusters, tiles)
        if args is not None:
            for_each_block_threads(_lloyd_block_screened, args, X.shape[0], n_changed)
            return
    if _use_fused(n_clusters, X.shape[1], X.itemsize):
        U, csq = _pack_centers(centers_t, centers_sq, X[:0, 0])
        args = (X, mean, sample_weight, U, labels, sums, wsums, counts, update_centers, csq)
        for_each_block_threads(_lloyd_block_fused, args, X.shape[0], n_changed)
    else:
        args = (
            X,
            mean,
            sample_weight,
            centers_t,
            labels,
            sums,
            wsums,
            counts,
            update_centers,
            centers_sq,
        )
        for_each_block_threads(_lloyd_block_gemm, args, X.shape[0], n_changed)


@njit(cache=CACHE)
def _lloyd_block_fused(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_lloyd_iter_dense` with the fused tiles
    (``U``, ``csq`` from :func:`_pack_centers`); returns the number of changed labels."""
    data, update_centers, csq = args[:8], args[8], args[9]
    X, mean, U = data[0], data[1], data[3]
    changed = 0
    Xt = np.zeros((U.shape[0], TILE_STRIDE), dtype=X.dtype)
    best = np.empty(TILE_SAMPLES, dtype=np.int32)
    b1 = np.empty(TILE_SAMPLES, dtype=X.dtype)
    b2 = np.empty(TILE_SAMPLES, dtype=X.dtype)
    rows = np.arange(start, end)
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        _gather_transposed(X, mean, rows, s - start, m, Xt)
        _rank_tile(Xt, m, U, csq, best, b1, b2)
        changed += _relabel_rows(data, rows, s - start, best, m, b, update_centers)
    return changed


@njit(cache=CACHE)
def _lloyd_block_gemm(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_lloyd_iter_dense` with a BLAS product
    over chunks of ``CHUNK_SIZE`` samples; returns the number of changed labels."""
    data, update_centers, centers_sq = args[:8], args[8], args[9]
    X, mean, centers_t = data[0], data[1], data[3]
    n_features = X.shape[1]
    changed = 0
    buf = np.empty((min(CHUNK_SIZE, end - start), n_features), dtype=X.dtype)
    best = np.empty(CHUNK_SIZE, dtype=np.int32)
    rows = np.arange(start, end)
    for s in range(start, end, CHUNK_SIZE):
        e = min(s + CHUNK_SIZE, end)
        for r in range(e - s):
            for f in range(n_features):
                buf[r, f] = X[s + r, f] - mean[f]
        D = np.dot(buf[: e - s], centers_t)
        for r in range(e - s):
            best[r] = _gemm_rows_argmin(D, r, centers_sq)[0]
        changed += _relabel_rows(data, rows, s - start, best, e - s, b, update_centers)
    return changed
