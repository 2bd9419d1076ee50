"""k-means kernels shared by the passes: direct distances, running centre sums and the
centre update (M-step), column statistics, inertia and transform of dense data."""

import math

import numpy as np
from numba import njit, prange

from .._kernel_blocks import (
    _ACCUM_FASTMATH,
    _block_bounds,
    _n_blocks,
    for_each_block_threads,
    n_blocks,
)
from .._numba_config import CACHE

# ---------------------------------------------------------------------------------------------
# distance helpers (inlined into the kernels)


@njit(cache=CACHE, inline="always")
def _sqdist_all_dense(X, i, centers_t, acc):
    """Squared distances from ``X[i]`` to every centre; ``centers_t`` is (n_features, k).

    Writes ``acc`` of shape (n_clusters,), same dtype as X (vectorised over centres).
    """
    n_features, n_clusters = centers_t.shape
    for j in range(n_clusters):
        acc[j] = 0.0
    for f in range(n_features):
        xf = X[i, f]
        for j in range(n_clusters):
            diff = xf - centers_t[f, j]
            acc[j] += diff * diff


@njit(cache=CACHE, fastmath=True)
def _sqdist_one_fast(X, mean, i, centers, j):
    """``sum_f ((X[i, f] - mean[f]) - centers[j, f]) ** 2``, the centred value in X's dtype,
    the rest in float64 (fastmath: reassociated)."""
    acc = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f] - mean[f]) - np.float64(centers[j, f])
        acc += diff * diff
    return acc


@njit(cache=CACHE, fastmath=True)
def _sqdist_rows_shifted(X, i, shifted, t):
    """``sum_f (X[i, f] - shifted[t, f]) ** 2`` in float64 (fastmath: reassociated)."""
    acc = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f]) - shifted[t, f]
        acc += diff * diff
    return acc


# ---------------------------------------------------------------------------------------------
# running centre sums


# inlined by Numba into the relabelling loop: called with ten arrays per moved sample, the
# call cost more than the move (one thread, first pass of (100k, 16, 16) float32, every
# sample moving: 1.87 -> 1.05 ms; fits of 20 passes 12-18% faster at 16 features)
@njit(cache=CACHE, inline="always")
def _move_sample(X, mean, i, w, old, new, b, sums, wsums, counts):
    """Move sample ``X[i] - mean`` (weight ``w``) from cluster ``old`` (-1: none) to ``new``
    in the running sums of block ``b``.

    ``sums`` (n_blocks, n_clusters, n_features), ``wsums`` (n_blocks, n_clusters), float64,
    and ``counts`` (n_blocks, n_clusters), int64 (members of non-zero weight), are read and
    written. A cluster left without members of non-zero weight gets sums of exactly zero
    (no rounding residue), so that it is seen as empty exactly when a recomputed sum is.
    """
    n_features = X.shape[1]
    if old >= 0:
        wsums[b, old] -= w
        for f in range(n_features):
            sums[b, old, f] -= (X[i, f] - mean[f]) * w
        if w != 0:
            counts[b, old] -= 1
            if counts[b, old] == 0:
                wsums[b, old] = 0.0
                for f in range(n_features):
                    sums[b, old, f] = 0.0
    wsums[b, new] += w
    for f in range(n_features):
        sums[b, new, f] += (X[i, f] - mean[f]) * w
    if w != 0:
        counts[b, new] += 1


@njit(cache=CACHE)
def _relabel_rows(data, rows, r0, new, m, b, update_centers):
    """Give samples ``rows[r0 + r]`` the labels ``new[r]`` for ``r < m``, moving those that
    change in the running sums of block ``b`` when ``update_centers`` (in sample order);
    returns the number of changed labels. ``data = (X, mean, sample_weight, centers,
    labels, sums, wsums, counts)`` (one call per tile: a tuple of arrays costs a little
    per call)."""
    X, mean, sample_weight, _, labels, sums, wsums, counts = data
    changed = 0
    for r in range(m):
        i = rows[r0 + r]
        if new[r] != labels[i]:
            changed += 1
            if update_centers:
                _move_sample(
                    X, mean, i, sample_weight[i], labels[i], new[r], b, sums, wsums, counts
                )
            labels[i] = new[r]
    return changed


@njit(cache=CACHE, fastmath=_ACCUM_FASTMATH)
def _half_separation_into(centers, eps, out):
    """:func:`_half_separation` into ``out``; the sums over features are vectorised
    (reassociated: within the margin ``eps``)."""
    n_clusters, n_features = centers.shape
    out[:] = np.inf
    for j in range(n_clusters):
        for jj in range(j + 1, n_clusters):
            acc = 0.0
            for f in range(n_features):
                diff = np.float64(centers[j, f]) - np.float64(centers[jj, f])
                acc += diff * diff
            d = 0.5 * math.sqrt(acc) * (1.0 - eps)
            if d < out[j]:
                out[j] = d
            if d < out[jj]:
                out[jj] = d


@njit(cache=CACHE)
def _half_separation(centers, eps):
    """Half the distance from each centre to its closest other centre, shrunk by ``eps``.

    Returns ndarray of shape (n_clusters,), float64 (``inf`` when there is one centre).
    """
    out = np.empty(centers.shape[0])
    _half_separation_into(centers, eps, out)
    return out


# ---------------------------------------------------------------------------------------------
# M-step helpers


@njit(cache=CACHE)
def _reduce_blocks(sums, wsums, centers_sum, weight_in_clusters):
    """Serial, block-ordered reduction of the partial sums.

    Writes ``centers_sum`` (n_clusters, n_features) and ``weight_in_clusters`` (n_clusters,),
    both float64.
    """
    n_blocks, n_clusters, n_features = sums.shape
    centers_sum[:, :] = 0.0
    weight_in_clusters[:] = 0.0
    for b in range(n_blocks):
        for j in range(n_clusters):
            weight_in_clusters[j] += wsums[b, j]
            for f in range(n_features):
                centers_sum[j, f] += sums[b, j, f]


@njit(cache=CACHE)
def _average_centers(centers_sum, weight_in_clusters, centers_new):
    """Divide the sums by the weights, as scikit-learn's ``_average_centers``.

    A cluster with zero weight copies the row of the heaviest cluster (in loop order, like
    scikit-learn). Writes ``centers_new`` (n_clusters, n_features, X's dtype).
    """
    n_clusters, n_features = centers_sum.shape
    argmax_weight = 0
    for j in range(1, n_clusters):
        if weight_in_clusters[j] > weight_in_clusters[argmax_weight]:
            argmax_weight = j
    for j in range(n_clusters):
        if weight_in_clusters[j] > 0:
            alpha = 1.0 / weight_in_clusters[j]
            for f in range(n_features):
                centers_sum[j, f] *= alpha
        else:
            for f in range(n_features):
                centers_sum[j, f] = centers_sum[argmax_weight, f]
    for j in range(n_clusters):
        for f in range(n_features):
            centers_new[j, f] = centers_sum[j, f]


@njit(cache=CACHE)
def _center_shift(centers_old, centers_new, shift):
    """Euclidean distance between old and new centres; writes ``shift`` (float64)."""
    n_clusters, n_features = centers_old.shape
    for j in range(n_clusters):
        acc = 0.0
        for f in range(n_features):
            diff = np.float64(centers_new[j, f]) - np.float64(centers_old[j, f])
            acc += diff * diff
        shift[j] = math.sqrt(acc)


@njit(cache=CACHE)
def _finish_mstep(
    centers_sum, weight_in_clusters, centers_old, centers_new, shift, half_sep, eps, bounded
):
    """Average the reduced sums into ``centers_new``, then write ``shift`` and ``half_sep``.

    ``centers_sum`` (float64) is overwritten by the averages; ``half_sep`` of the new centres
    (see :func:`_half_separation`) is only computed when ``bounded``.
    """
    _average_centers(centers_sum, weight_in_clusters, centers_new)
    _center_shift(centers_old, centers_new, shift)
    if bounded:
        _half_separation_into(centers_new, eps, half_sep)


# ---------------------------------------------------------------------------------------------
# inertia, per-sample distances


@njit(cache=CACHE)
def _column_mean(X):
    """``X.mean(axis=0)`` for a C-contiguous X with at least two columns, bit for bit.

    NumPy reduces such an array row after row, each column in X's dtype, then divides by
    ``n_samples``; this does the same additions in the same order without NumPy's
    per-row loop overhead (5-6 times faster at 16 columns). With one column NumPy sums
    pairwise instead: the caller uses NumPy there.
    """
    n_samples, n_features = X.shape
    acc = np.zeros(n_features, dtype=X.dtype)
    for i in range(n_samples):
        for f in range(n_features):
            acc[f] += X[i, f]
    out = np.empty(n_features, dtype=X.dtype)
    count = X.dtype.type(n_samples)
    for f in range(n_features):
        out[f] = acc[f] / count
    return out


@njit(cache=CACHE)
def _column_var(X):
    """``X.var(axis=0)`` for a C-contiguous X with at least two columns, bit for bit, and
    without NumPy's temporary copy of X (the same operations in the same order as
    :func:`numpy.var`: the column means, then the sums of squared deviations, row after
    row, in X's dtype)."""
    n_samples, n_features = X.shape
    mean = _column_mean(X)
    acc = np.zeros(n_features, dtype=X.dtype)
    for i in range(n_samples):
        for f in range(n_features):
            diff = X[i, f] - mean[f]
            acc[f] += diff * diff
    count = X.dtype.type(n_samples)
    for f in range(n_features):
        acc[f] = acc[f] / count
    return acc


@njit(cache=CACHE)
def _row_sq_norms_block(args, b, start, end):
    X, mean, out = args
    for i in range(start, end):
        acc = 0.0
        for f in range(X.shape[1]):
            v = np.float64(X[i, f] - mean[f])
            acc += v * v
        out[i] = acc
    return 0.0


def _row_sq_norms(X, mean, out):
    """Squared norm of each row of ``X - mean``, accumulated in float64; writes ``out``
    (n_samples,). (A serial block kernel run over the sample blocks, in parallel when
    Numba has several threads, like every per-sample pass of a fit.)"""
    n_samples = X.shape[0]
    if n_samples:
        done = np.empty(n_blocks(n_samples))
        for_each_block_threads(_row_sq_norms_block, (X, mean, out), n_samples, done)


@njit(cache=CACHE)
def _inertia_block(args, b, start, end):
    X, mean, sample_weight, centers, labels, single_label = args
    acc = 0.0
    for i in range(start, end):
        j = labels[i]
        if single_label < 0 or j == single_label:
            acc += _sqdist_one_fast(X, mean, i, centers, j) * sample_weight[i]
    return acc


def _inertia_dense(X, mean, sample_weight, centers, labels, single_label=-1):
    """Weighted sum of squared distances of each sample of ``X - mean`` to its assigned
    centre (float64; see :func:`_sqdist_one_fast`), summed per block then over the blocks
    in order.

    Only samples with label ``single_label`` count when it is >= 0.
    """
    n_samples = X.shape[0]
    partial = np.zeros(n_blocks(n_samples))
    if n_samples:
        args = (X, mean, sample_weight, centers, labels, int(single_label))
        for_each_block_threads(_inertia_block, args, n_samples, partial)
    total = 0.0
    for p in partial:
        total += float(p)
    return total


@njit(cache=CACHE, parallel=True)
def _euclidean_dense(X, centers_t, out):
    """Euclidean distances to every centre; writes ``out`` (n_samples, n_clusters)."""
    n_samples = X.shape[0]
    n_clusters = centers_t.shape[1]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = np.empty(n_clusters, dtype=X.dtype)
        for i in range(start, end):
            _sqdist_all_dense(X, i, centers_t, acc)
            for j in range(n_clusters):
                out[i, j] = math.sqrt(acc[j])
