"""Numba kernels for k-means: assignment, centre update, inertia and k-means++ seeding.

Layout conventions
------------------
* Dense data ``X`` is a C-contiguous ``(n_samples, n_features)`` array of float32 or float64;
  centres have the same dtype. Sparse data is CSR, passed as ``(data, indices, indptr)``.
* Samples are split into at most ``MAX_BLOCKS`` contiguous blocks whose boundaries depend only
  on ``n_samples`` (never on the thread count). ``prange`` runs over blocks; each block writes
  its own slice of the partial-sum buffers, which the caller reduces serially in block order.
  Results are therefore bit-identical whatever the number of threads.
* Squared distances between a dense sample and a centre are accumulated feature by feature,
  in order, as ``sum_f (x_f - c_f) ** 2``. The all-centres kernels vectorise over centres
  (centres passed transposed, ``(n_features, n_clusters)``), so they give bit-identical values
  to the one-centre helper; the bound-based (Hamerly) iteration therefore picks exactly the
  labels plain Lloyd would pick.
* Centre sums, cluster weights, potentials and inertia are accumulated in float64.
"""

import math

import numpy as np
from numba import njit, prange

from .._numba_config import CACHE

# samples per block are at least this many (small data runs in one block)
CHUNK_SIZE = 256
# the number of blocks never exceeds this; it bounds the partial-sum buffers' size
MAX_BLOCKS = 64


@njit(cache=CACHE)
def _n_blocks(n_samples):
    """Number of sample blocks for ``n_samples`` (depends on ``n_samples`` only)."""
    if n_samples == 0:
        return 0
    n_chunks = (n_samples + CHUNK_SIZE - 1) // CHUNK_SIZE
    return min(n_chunks, MAX_BLOCKS)


@njit(cache=CACHE, inline="always")
def _block_bounds(b, n_blocks, n_samples):
    return b * n_samples // n_blocks, (b + 1) * n_samples // n_blocks


# ---------------------------------------------------------------------------------------------
# distance helpers (inlined into the kernels)


@njit(cache=CACHE, inline="always")
def _sqdist_one_dense(X, i, centers, j):
    """Squared distance between ``X[i]`` and ``centers[j]``, accumulated in X's dtype."""
    acc = X.dtype.type(0.0)
    for f in range(X.shape[1]):
        diff = X[i, f] - centers[j, f]
        acc += diff * diff
    return acc


@njit(cache=CACHE, inline="always")
def _sqdist_all_dense(X, i, centers_t, acc):
    """Squared distances from ``X[i]`` to every centre; ``centers_t`` is (n_features, k).

    Writes ``acc`` of shape (n_clusters,), same dtype as X. The per-centre operation order
    is the one of :func:`_sqdist_one_dense`.
    """
    n_features, n_clusters = centers_t.shape
    for j in range(n_clusters):
        acc[j] = 0.0
    for f in range(n_features):
        xf = X[i, f]
        for j in range(n_clusters):
            diff = xf - centers_t[f, j]
            acc[j] += diff * diff


@njit(cache=CACHE, inline="always")
def _first_argmin(acc):
    best = 0
    best_val = acc[0]
    for j in range(1, acc.shape[0]):
        if acc[j] < best_val:
            best_val = acc[j]
            best = j
    return best, best_val


# ---------------------------------------------------------------------------------------------
# Lloyd (plain) iterations


@njit(cache=CACHE, parallel=True)
def _lloyd_iter_dense(X, sample_weight, centers_t, labels, sums, wsums, n_changed, update_centers):
    """One plain Lloyd E-step (and partial M-step) on dense data.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    sample_weight : ndarray of shape (n_samples,), X's dtype
    centers_t : ndarray of shape (n_features, n_clusters), X's dtype
        The current centres, transposed.
    labels : ndarray of shape (n_samples,), int32
        Written: index of the closest centre (first one on ties).
    sums : ndarray of shape (n_blocks, n_clusters, n_features), float64
        Written when ``update_centers``: per-block weighted sums of the samples per cluster.
    wsums : ndarray of shape (n_blocks, n_clusters), float64
        Written when ``update_centers``: per-block sums of weights per cluster.
    n_changed : ndarray of shape (n_blocks,), int64
        Written: number of labels that changed in each block.
    update_centers : bool
    """
    n_samples = X.shape[0]
    n_features, n_clusters = centers_t.shape
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = np.empty(n_clusters, dtype=X.dtype)
        changed = 0
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
        for i in range(start, end):
            _sqdist_all_dense(X, i, centers_t, acc)
            label, _ = _first_argmin(acc)
            if label != labels[i]:
                changed += 1
                labels[i] = label
            if update_centers:
                w = sample_weight[i]
                wsums[b, label] += w
                for f in range(n_features):
                    sums[b, label, f] += X[i, f] * w
        n_changed[b] = changed


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


# ---------------------------------------------------------------------------------------------
# Hamerly's exact bound-based iteration (dense)


@njit(cache=CACHE, parallel=True)
def _hamerly_iter_dense(
    X,
    sample_weight,
    centers,
    centers_t,
    half_sep,
    shift,
    upper,
    lower,
    labels,
    sums,
    wsums,
    n_changed,
    use_bounds,
    update_centers,
    eps,
):
    """One Lloyd iteration with Hamerly's bounds, exact: same labels as plain Lloyd.

    Parameters
    ----------
    X, sample_weight, labels, sums, wsums, n_changed, update_centers
        As in :func:`_lloyd_iter_dense`.
    centers : ndarray of shape (n_clusters, n_features), X's dtype
    centers_t : ndarray of shape (n_features, n_clusters), X's dtype
        ``centers`` transposed.
    half_sep : ndarray of shape (n_clusters,), float64
        Lower bound on half the distance from each centre to its closest other centre.
    shift : ndarray of shape (n_clusters,), float64
        How far each centre moved since the bounds were last written; the bounds are
        widened by it first (own centre's shift for ``upper``, the largest shift of another
        centre for ``lower``).
    upper : ndarray of shape (n_samples,), float64
        Read and written: upper bound on the distance from each sample to its centre.
    lower : ndarray of shape (n_samples,), float64
        Read and written: lower bound on the distance to the second-closest centre.
    use_bounds : bool
        False on the first pass (bounds not yet initialised): every distance is computed.
    eps : float
        Relative safety margin covering floating-point rounding of the computed distances;
        bounds are widened by it so a skipped sample provably keeps Lloyd's label.
    """
    n_samples = X.shape[0]
    n_features, n_clusters = centers_t.shape
    n_blocks = _n_blocks(n_samples)
    j_max = 0
    for j in range(1, n_clusters):
        if shift[j] > shift[j_max]:
            j_max = j
    second_shift = 0.0
    for j in range(n_clusters):
        if j != j_max and shift[j] > second_shift:
            second_shift = shift[j]
    max_shift = shift[j_max] * (1.0 + eps)
    second_shift *= 1.0 + eps
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = np.empty(n_clusters, dtype=X.dtype)
        changed = 0
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
        for i in range(start, end):
            label = labels[i]
            full = True
            if use_bounds:
                u = upper[i] + shift[label] * (1.0 + eps)
                low = lower[i] - (second_shift if label == j_max else max_shift)
                upper[i] = u
                lower[i] = low
                m = max(half_sep[label], low)
                if u < m:
                    full = False
                else:
                    u = math.sqrt(_sqdist_one_dense(X, i, centers, label)) * (1.0 + eps)
                    upper[i] = u
                    if u < m:
                        full = False
            if full:
                _sqdist_all_dense(X, i, centers_t, acc)
                best = 0
                best_val = acc[0]
                second_val = np.inf
                for j in range(1, n_clusters):
                    v = acc[j]
                    if v < best_val:
                        second_val = best_val
                        best_val = v
                        best = j
                    elif v < second_val:
                        second_val = v
                upper[i] = math.sqrt(best_val) * (1.0 + eps)
                lower[i] = math.sqrt(second_val) * (1.0 - eps)
                if best != label:
                    changed += 1
                    labels[i] = best
                    label = best
            if update_centers:
                w = sample_weight[i]
                wsums[b, label] += w
                for f in range(n_features):
                    sums[b, label, f] += X[i, f] * w
        n_changed[b] = changed


@njit(cache=CACHE, inline="always")
def _half_separation_into(centers, eps, out):
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


@njit(cache=CACHE, inline="always")
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


@njit(cache=CACHE, inline="always")
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


@njit(cache=CACHE, parallel=True)
def _inertia_dense(X, sample_weight, centers, labels, single_label=-1):
    """Weighted sum of squared distances of each sample to its assigned centre (float64).

    Only samples with label ``single_label`` count when it is >= 0.
    """
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples)
    partial = np.zeros(max(n_blocks, 1))
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = 0.0
        for i in range(start, end):
            j = labels[i]
            if single_label < 0 or j == single_label:
                acc += np.float64(_sqdist_one_dense(X, i, centers, j)) * sample_weight[i]
        partial[b] = acc
    total = 0.0
    for b in range(n_blocks):
        total += partial[b]
    return total


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


# ---------------------------------------------------------------------------------------------
# k-means++ seeding


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_dense(X, sample_weight, candidates, closest, dist_trials, pots):
    """Squared distances to the candidate centres, capped by the current closest distance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,)
    candidates : ndarray of shape (n_trials, n_features), X's dtype
    closest : ndarray of shape (n_samples,), X's dtype
        Squared distance of each sample to its closest chosen centre (``inf`` before the
        first centre).
    dist_trials : ndarray of shape (n_trials, n_samples), X's dtype
        Written: ``min(closest, ||x - candidate||^2)``, computed in float64.
    pots : ndarray of shape (n_blocks, n_trials), float64
        Written: per-block weighted potentials ``sum w * dist_trials``.
    """
    n_samples, n_features = X.shape
    n_trials = candidates.shape[0]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        for t in range(n_trials):
            pot = 0.0
            for i in range(start, end):
                acc = 0.0
                for f in range(n_features):
                    diff = np.float64(X[i, f]) - np.float64(candidates[t, f])
                    acc += diff * diff
                d = X.dtype.type(acc)
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot += np.float64(d) * sample_weight[i]
            pots[b, t] = pot


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


@njit(cache=CACHE)
def _kmeanspp_searchsorted(sample_weight, closest, rand_vals, out):
    """``searchsorted(cumsum(sample_weight * closest), rand_vals)``, clipped to n - 1.

    The cumulative sum runs sequentially in X's dtype, like ``np.cumsum``, without storing
    it: one pass over the samples, stopping at the largest value. Writes ``out`` (int64).
    """
    n_samples = closest.shape[0]
    n_vals = rand_vals.shape[0]
    order = np.argsort(rand_vals)
    k = 0
    cum = closest.dtype.type(0.0)
    for i in range(n_samples):
        if k >= n_vals:
            break
        cum += sample_weight[i] * closest[i]
        while k < n_vals and cum >= rand_vals[order[k]]:
            out[order[k]] = i
            k += 1
    while k < n_vals:
        out[order[k]] = n_samples - 1
        k += 1
