"""Numba kernels for k-means: assignment, centre update, inertia and k-means++ seeding.

Layout conventions
------------------
* Dense data ``X`` is a C-contiguous ``(n_samples, n_features)`` array of float32 or float64;
  centres have the same dtype. Sparse data is CSR, passed as ``(data, indices, indptr)``.
* Samples are split into at most ``MAX_BLOCKS`` contiguous blocks whose boundaries depend only
  on ``n_samples`` (never on the thread count). ``prange`` runs over blocks; each block writes
  its own slice of the partial-sum buffers, which the caller reduces serially in block order.
  Results are therefore bit-identical whatever the number of threads.
* The Lloyd kernels rank centres as scikit-learn does, by ``||c||^2 - 2 <x, c>`` with the
  cross term from a BLAS product over chunks of samples (run them with BLAS limited to one
  thread). The bound-based (Yinyang) iteration skips a sample only when its bounds prove,
  beyond the rounding error of that computation, that the label stays: it gives the labels
  of the plain kernel.
* Other distances (transform, inertia, bounds) are accumulated directly, feature by
  feature, as ``sum_f (x_f - c_f) ** 2``.
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
def _sqdist_rows_fast(X, i, c):
    """``sum_f (X[i, f] - c[f]) ** 2`` in float64, vectorised (fastmath: reassociated)."""
    acc = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f]) - np.float64(c[f])
        acc += diff * diff
    return acc


# ---------------------------------------------------------------------------------------------
# Lloyd (plain) iterations


@njit(cache=CACHE, inline="always")
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


@njit(cache=CACHE, parallel=True)
def _lloyd_iter_dense(
    X, sample_weight, centers_t, centers_sq, labels, sums, wsums, n_changed, update_centers
):
    """One plain Lloyd E-step (and partial M-step) on dense data.

    As scikit-learn, distances are ranked by ``||c_j||^2 - 2 <x, c_j>``, the cross term
    from a BLAS matrix product over chunks of ``CHUNK_SIZE`` samples (call with BLAS
    limited to one thread: the kernel is already parallel over blocks).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    sample_weight : ndarray of shape (n_samples,), X's dtype
    centers_t : ndarray of shape (n_features, n_clusters), X's dtype
        The current centres, transposed.
    centers_sq : ndarray of shape (n_clusters,), float64
        Squared norms of the centres.
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
    n_features = X.shape[1]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        changed = 0
        for s in range(start, end, CHUNK_SIZE):
            e = min(s + CHUNK_SIZE, end)
            D = np.dot(X[s:e], centers_t)
            for r in range(e - s):
                label, _, _ = _gemm_rows_argmin(D, r, centers_sq)
                if label != labels[s + r]:
                    changed += 1
                    labels[s + r] = label
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
            for i in range(start, end):
                label = labels[i]
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
# Yinyang's exact bound-based iteration (dense)


@njit(cache=CACHE, parallel=True)
def _yinyang_iter_dense(
    X,
    sample_weight,
    centers,
    centers_t,
    centers_sq,
    x_sq,
    perm,
    gstart,
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
    delta_scale,
):
    """One Lloyd iteration with Yinyang group bounds; same labels as :func:`_lloyd_iter_dense`.

    The centres are split into groups; each sample keeps an upper bound on the distance to
    its centre and, per group, a lower bound on the distance to the group's other centres.
    After the centres move, a group's bound drops by the largest move in the group only, so
    one centre travelling far does not invalidate every sample's bounds (as with a single
    Hamerly bound). Samples whose bounds cannot prove that their label stays get all
    distances, ranked exactly as the plain kernel ranks them (BLAS product over chunks),
    and fresh bounds.

    The bounds are on exact distances. A sample is skipped only when they prove that every
    other centre is farther by more than the rounding error ``delta`` of the computed
    squared distances, ``delta_i = delta_scale * (||x_i||^2 + max_j ||c_j||^2)``, so the
    computed argmin (hence the label) cannot change.

    Parameters
    ----------
    X, sample_weight, centers_t, centers_sq, labels, sums, wsums, n_changed, update_centers
        As in :func:`_lloyd_iter_dense`.
    centers : ndarray of shape (n_clusters, n_features), X's dtype
    x_sq : ndarray of shape (n_samples,), float64
        Squared norms of the samples.
    perm : ndarray of shape (n_clusters,), int64
    gstart : ndarray of shape (n_groups + 1,), int64
        Group ``g`` holds centres ``perm[gstart[g]:gstart[g + 1]]``.
    half_sep : ndarray of shape (n_clusters,), float64
        Lower bound on half the distance from each centre to its closest other centre.
    shift : ndarray of shape (n_clusters,), float64
        Centre moves since the bounds were written; the bounds are widened by them first.
    upper : ndarray of shape (n_samples,), float64
        Read and written: upper bound on the distance of each sample to its centre.
    lower : ndarray of shape (n_samples, n_groups), float64
        Read and written: per-group lower bounds on the distance to the group's centres
        other than the sample's own.
    use_bounds : bool
        False on the first pass: all distances are computed.
    eps : float
        Relative rounding margin of directly computed distances and of the bound updates.
    delta_scale : float
        See above.
    """
    n_samples, n_features = X.shape
    n_clusters = centers_t.shape[1]
    n_groups = gstart.shape[0] - 1
    n_blocks = _n_blocks(n_samples)
    group_shift = np.zeros(n_groups)
    group_of = np.empty(n_clusters, dtype=np.int64)
    for g in range(n_groups):
        for p in range(gstart[g], gstart[g + 1]):
            group_of[perm[p]] = g
            if shift[perm[p]] > group_shift[g]:
                group_shift[g] = shift[perm[p]]
        group_shift[g] *= 1.0 + eps
    c_max_sq = 0.0
    for j in range(n_clusters):
        if centers_sq[j] > c_max_sq:
            c_max_sq = centers_sq[j]
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        todo = np.empty(end - start, dtype=np.int64)
        buf = np.empty((min(CHUNK_SIZE, end - start), n_features), dtype=X.dtype)
        vals = np.empty(n_clusters)
        n_todo = 0
        changed = 0
        # 1. bounds: which samples may change label
        for i in range(start, end):
            if not use_bounds:
                todo[n_todo] = i
                n_todo += 1
                continue
            a = labels[i]
            u = upper[i] + shift[a] * (1.0 + eps)
            glb = np.inf
            for g in range(n_groups):
                lg = lower[i, g] - group_shift[g]
                lower[i, g] = lg
                if lg < glb:
                    glb = lg
            upper[i] = u
            two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
            others = max(2.0 * half_sep[a] - u, glb)
            if others > u and others * others - u * u > two_delta:
                continue
            u = math.sqrt(_sqdist_one_dense(X, i, centers, a)) * (1.0 + eps)
            upper[i] = u
            others = max(2.0 * half_sep[a] - u, glb)
            if others > u and others * others - u * u > two_delta:
                continue
            todo[n_todo] = i
            n_todo += 1
        # 2. all distances for the rest: rows (gathered unless contiguous) times the
        #    centres (BLAS), ranked as in the plain kernel; fresh bounds
        for t0 in range(0, n_todo, CHUNK_SIZE):
            m = min(CHUNK_SIZE, n_todo - t0)
            if use_bounds:
                for r in range(m):
                    i = todo[t0 + r]
                    for f in range(n_features):
                        buf[r, f] = X[i, f]
                D = np.dot(buf[:m], centers_t)
            else:
                D = np.dot(X[start + t0 : start + t0 + m], centers_t)
            for r in range(m):
                i = todo[t0 + r]
                best = 0
                best_val = np.inf
                for j in range(n_clusters):
                    v = centers_sq[j] - 2.0 * D[r, j]
                    vals[j] = v
                    if v < best_val:
                        best_val = v
                        best = j
                delta = delta_scale * (x_sq[i] + c_max_sq)
                vals[best] = np.inf  # the group bounds exclude the sample's own centre
                for g in range(n_groups):
                    mg = np.inf
                    for p in range(gstart[g], gstart[g + 1]):
                        mg = min(mg, vals[perm[p]])
                    lower[i, g] = math.sqrt(max(x_sq[i] + mg - delta, 0.0)) * (1.0 - eps)
                upper[i] = math.sqrt(max(x_sq[i] + best_val + delta, 0.0)) * (1.0 + eps)
                if best != labels[i]:
                    changed += 1
                    labels[i] = best
        # 3. partial sums, in sample order (bit-identical to the plain Lloyd kernel)
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
            for i in range(start, end):
                label = labels[i]
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
def _row_sq_norms(X, out):
    """Squared norm of each row, accumulated in float64; writes ``out`` (n_samples,)."""
    for i in prange(X.shape[0]):
        acc = 0.0
        for f in range(X.shape[1]):
            v = np.float64(X[i, f])
            acc += v * v
        out[i] = acc


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
        pot = np.zeros(n_trials)
        for i in range(start, end):
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_fast(X, i, candidates[t]))
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot[t] += np.float64(d) * sample_weight[i]
        for t in range(n_trials):
            pots[b, t] = pot[t]


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
