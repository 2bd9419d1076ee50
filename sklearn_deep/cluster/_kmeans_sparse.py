"""k-means kernels for CSR data ``(data, indices, indptr)``: Lloyd pass, inertia, distances
to the assigned centres, transform and k-means++ trials. Distances are
``||x||^2 + ||c||^2 - 2 <x, c>`` in float64, clipped at 0 (as scikit-learn computes them)."""

import math

import numpy as np
from numba import njit, prange

from .._kernel_blocks import _block_bounds, _n_blocks
from .._numba_config import CACHE


@njit(cache=CACHE, parallel=True)
def _lloyd_iter_sparse(
    data,
    indices,
    indptr,
    sample_weight,
    centers,
    centers_sq_norms,
    labels,
    sums,
    wsums,
    n_changed,
    update_centers,
):
    """One plain Lloyd E-step (and partial M-step) on CSR data.

    Same contract as :func:`_lloyd_iter_dense`; the label minimises
    ``||c_j||^2 - 2 <x, c_j>`` (as scikit-learn does for sparse input). ``centers`` is
    (n_clusters, n_features) and ``centers_sq_norms`` (n_clusters,), both X's dtype.
    """
    n_samples = indptr.shape[0] - 1
    n_clusters = centers.shape[0]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        changed = 0
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
        for i in range(start, end):
            label = 0
            best = np.inf
            for j in range(n_clusters):
                dot = data.dtype.type(0.0)
                for p in range(indptr[i], indptr[i + 1]):
                    dot += centers[j, indices[p]] * data[p]
                sq = centers_sq_norms[j] - 2 * dot
                if sq < best:
                    best = sq
                    label = j
            if label != labels[i]:
                changed += 1
                labels[i] = label
            if update_centers:
                w = sample_weight[i]
                wsums[b, label] += w
                for p in range(indptr[i], indptr[i + 1]):
                    sums[b, label, indices[p]] += data[p] * w
        n_changed[b] = changed


@njit(cache=CACHE, inline="always")
def _sqdist_sparse_dense(data, indices, start, end, center, center_sq_norm):
    """``sum (x - c)^2`` for a CSR row against a dense centre, as scikit-learn computes it."""
    acc = data.dtype.type(0.0)
    for p in range(start, end):
        ci = center[indices[p]]
        tmp = data[p] - ci
        acc += tmp * tmp - ci * ci
    acc += center_sq_norm
    if acc < 0:
        acc = data.dtype.type(0.0)
    return acc


@njit(cache=CACHE, parallel=True)
def _inertia_sparse(
    data, indices, indptr, sample_weight, centers, centers_sq_norms, labels, single_label=-1
):
    """Sparse counterpart of :func:`_inertia_dense` (float64 result)."""
    n_samples = indptr.shape[0] - 1
    n_blocks = _n_blocks(n_samples)
    partial = np.zeros(max(n_blocks, 1))
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = 0.0
        for i in range(start, end):
            j = labels[i]
            if single_label < 0 or j == single_label:
                d = _sqdist_sparse_dense(
                    data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
                )
                acc += np.float64(d) * sample_weight[i]
        partial[b] = acc
    total = 0.0
    for b in range(n_blocks):
        total += partial[b]
    return total


@njit(cache=CACHE, parallel=True)
def _sqdist_to_assigned_sparse(data, indices, indptr, centers, centers_sq_norms, labels, out):
    """Squared distance of each CSR row to its assigned centre; writes ``out`` (n_samples,)."""
    n_samples = indptr.shape[0] - 1
    for i in prange(n_samples):
        j = labels[i]
        out[i] = _sqdist_sparse_dense(
            data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
        )


@njit(cache=CACHE, parallel=True)
def _euclidean_sparse(data, indices, indptr, centers, centers_sq_norms, out):
    """Euclidean distances of CSR rows to every centre; writes ``out`` (n_samples, k)."""
    n_samples = indptr.shape[0] - 1
    n_clusters = centers.shape[0]
    for i in prange(n_samples):
        for j in range(n_clusters):
            d = _sqdist_sparse_dense(
                data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
            )
            out[i, j] = math.sqrt(d)


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_sparse(
    data, indices, indptr, x_sq_norms, sample_weight, candidates, closest, dist_trials, pots
):
    """Sparse counterpart of :func:`_kmeanspp_trials_dense`.

    Distances are ``||x||^2 + ||c||^2 - 2 <x, c>`` clipped at 0, in float64 (as
    scikit-learn's ``euclidean_distances``); ``candidates`` are dense rows.
    """
    n_samples = indptr.shape[0] - 1
    n_trials, n_features = candidates.shape
    n_blocks = _n_blocks(n_samples)
    cand_norms = np.zeros(n_trials)
    for t in range(n_trials):
        for f in range(n_features):
            cand_norms[t] += np.float64(candidates[t, f]) * np.float64(candidates[t, f])
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        for t in range(n_trials):
            pot = 0.0
            for i in range(start, end):
                dot = 0.0
                for p in range(indptr[i], indptr[i + 1]):
                    dot += np.float64(data[p]) * np.float64(candidates[t, indices[p]])
                acc = np.float64(x_sq_norms[i]) + cand_norms[t] - 2.0 * dot
                if acc < 0.0:
                    acc = 0.0
                d = data.dtype.type(acc)
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot += np.float64(d) * sample_weight[i]
            pots[b, t] = pot
