"""The functional core of k-means, behind :class:`~sklearn_deep.cluster.KMeans`: one
k-means run (Lloyd's algorithm with exact bounds), k-means++ seeding, labels and inertia,
empty-cluster relocation, on validated data. The per-sample work runs in the kernel modules
listed in :mod:`sklearn_deep.cluster._kmeans_kernels`.
"""

import time
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import row_norms
from sklearn.utils.parallel import _get_threadpool_controller
from sklearn.utils.sparsefuncs import mean_variance_axis

from .._kernel_blocks import n_blocks
from .._numba_config import threads_for
from . import _kmeans_kernels as _k
from ._kmeans_bounds import _PassSchedule

###############################################################################
# helpers shared by the estimator and the public functions


@contextmanager
def _threads_for(n_samples, n_clusters, n_features):
    """Thread settings for the kernels: BLAS on one thread (the kernels call it inside
    their own parallel loop, as scikit-learn does) and Numba's thread policy of
    :func:`~sklearn_deep._numba_config.threads_for_work` (results are identical whatever the
    thread count)."""
    work = n_samples * max(n_clusters, 1) * max(n_features, 4)
    with _get_threadpool_controller().limit(limits=1, user_api="blas"):
        with threads_for(work):
            yield


def _writeable(X):
    """X itself, or a copy if its buffer is read-only (a memory map, e.g. from joblib in
    GridSearchCV): Numba types read-only arrays apart and would compile every kernel again
    for them. The kernels never write to X."""
    if sp.issparse(X):
        if not (X.data.flags.writeable and X.indices.flags.writeable):
            return X.copy()
        return X
    if not X.flags.writeable:
        return X.copy()
    return X


def _csr_parts(X):
    return X.data, X.indices, X.indptr


def _bound_eps(dtype, n_features):
    """Relative margin covering the rounding of computed distances (Yinyang bounds)."""
    return 16.0 * (n_features + 4) * float(np.finfo(dtype).eps)


def _gemm_delta_scale(dtype, n_features):
    """Rounding error of ``||x||^2 + ||c||^2 - 2 <x, c>``, relative to ``||x||^2 + ||c||^2``."""
    return 8.0 * (n_features + 4) * float(np.finfo(dtype).eps)


def _center_groups(centers, n_groups):
    """Split the centres into ``n_groups`` groups of nearby centres (Yinyang bounds).

    A few Lloyd iterations on the centres themselves, seeded by farthest-point traversal
    from centre 0; deterministic. Returns ``perm`` (centre indices, group by group) and
    ``gstart`` (group ``g`` is ``perm[gstart[g]:gstart[g + 1]]``), both int64.
    """
    n_clusters = centers.shape[0]
    c = centers.astype(np.float64)
    chosen = [0]
    d_min = ((c - c[0]) ** 2).sum(axis=1)
    for _ in range(1, n_groups):
        nxt = int(np.argmax(d_min))
        chosen.append(nxt)
        d_min = np.minimum(d_min, ((c - c[nxt]) ** 2).sum(axis=1))
    seeds = c[chosen].copy()
    group = np.zeros(n_clusters, dtype=np.int64)
    for _ in range(5):
        dist = ((c[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        group = dist.argmin(axis=1)
        for g in range(n_groups):
            members = c[group == g]
            if members.shape[0]:
                seeds[g] = members.mean(axis=0)
    # drop empty groups
    used = np.unique(group)
    perm = np.concatenate([np.flatnonzero(group == g) for g in used]).astype(np.int64)
    sizes = np.array([np.count_nonzero(group == g) for g in used], dtype=np.int64)
    gstart = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return perm, gstart


def _n_groups(n_clusters, n_features, dtype):
    """Number of Yinyang centre groups: one (Hamerly's bound) where the fused tiles rank
    the centres (full rankings are cheap there, and the bookkeeping of several groups
    costs more than it saves), else groups of about 8 centres."""
    if _k._use_fused(n_clusters, n_features, np.dtype(dtype).itemsize):
        return 1
    return max(1, round(n_clusters / 8))


def _sums_row_after_row(X):
    """Whether NumPy reduces dense X over axis 0 row after row (at least two columns, C
    order), the order the column kernels reproduce bit for bit; with one column it sums
    pairwise."""
    return X.shape[1] >= 2 and X.shape[0] > 0 and X.flags.c_contiguous


def _x_mean(X):
    """``X.mean(axis=0)`` of dense X, bit for bit (the kernel :func:`_column_mean` without
    NumPy's per-row overhead where it can)."""
    return _k._column_mean(X) if _sums_row_after_row(X) else X.mean(axis=0)


def _tolerance(X, tol):
    """Return a tolerance which is dependent on the dataset (mean feature variance * tol)."""
    if tol == 0:
        return 0
    if sp.issparse(X):
        variances = mean_variance_axis(X, axis=0)[1]
    else:
        if _sums_row_after_row(X):
            variances = _k._column_var(X)  # np.var(X, axis=0), without a copy of X
        else:
            variances = np.var(X, axis=0)
    return np.mean(variances) * tol


def _is_same_clustering(labels1, labels2, n_clusters):
    """Whether two labelings are the same up to a permutation of the labels."""
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    first = np.unique(labels1, return_index=True)[1]
    mapping[labels1[first]] = labels2[first]
    return bool(np.array_equal(mapping[labels1], labels2))


def _sq_norms(centers):
    c = np.asarray(centers, dtype=np.float64)
    return np.einsum("ij,ij->i", c, c)


def _labels_inertia(X, sample_weight, centers, n_threads=1, return_inertia=True):
    """E-step: labels of the closest centres and (optionally) the inertia.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        C-contiguous float32/float64 array or CSR matrix.
    sample_weight : ndarray of shape (n_samples,)
    centers : ndarray of shape (n_clusters, n_features)
    n_threads : int, default=1
        Kept for compatibility with scikit-learn's private helper; Numba's current thread
        setting is used.
    return_inertia : bool, default=True

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    inertia : float
        Only if ``return_inertia``.
    """
    n_samples = X.shape[0]
    labels = np.full(n_samples, -1, dtype=np.int32)
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    n_clusters, n_features = centers.shape
    nb = n_blocks(n_samples)
    dummy_sums = np.empty((nb, 0, 0))
    dummy_w = np.empty((nb, 0))
    dummy_counts = np.empty((nb, 0), dtype=np.int64)
    n_changed = np.zeros(nb, dtype=np.int64)
    if n_samples:
        if sp.issparse(X):
            norms = _sq_norms(centers)
            _k._lloyd_iter_sparse(
                *_csr_parts(X),
                sample_weight,
                centers,
                norms,
                labels,
                dummy_sums,
                dummy_w,
                n_changed,
                False,
            )
        else:
            centers_t = np.ascontiguousarray(centers.T)
            _k._lloyd_iter_dense(
                X,
                np.zeros(n_features, dtype=X.dtype),
                sample_weight,
                centers_t,
                _sq_norms(centers),
                labels,
                dummy_sums,
                dummy_w,
                dummy_counts,
                n_changed,
                False,
            )
    if not return_inertia:
        return labels
    return labels, _inertia(X, sample_weight, centers, labels)


def _inertia(X, sample_weight, centers, labels, single_label=-1, x_mean=None):
    """Weighted sum of squared distances to the assigned centres, of ``X - x_mean`` for
    dense X (``x_mean`` None: zeros)."""
    if X.shape[0] == 0:
        return 0.0
    if sp.issparse(X):
        return float(
            _k._inertia_sparse(
                *_csr_parts(X), sample_weight, centers, _sq_norms(centers), labels, single_label
            )
        )
    x_mean = _mean_or_zeros(x_mean, X)
    return float(_k._inertia_dense(X, x_mean, sample_weight, centers, labels, single_label))


def _mean_or_zeros(x_mean, X):
    if x_mean is None:
        return np.zeros(X.shape[1], dtype=X.dtype)
    return x_mean


# rows of X per chunk when the distances to the assigned centres are computed in NumPy
_RELOCATE_CHUNK = 4096


def _relocate_empty_clusters(
    X, sample_weight, centers_old, centers_sum, weight_in_clusters, labels, x_mean=None
):
    """Give empty clusters the samples farthest from their centres, as scikit-learn does.

    Dense samples are the rows of ``X - x_mean`` (``x_mean`` None: zeros). Modifies
    ``centers_sum`` (weighted sums) and ``weight_in_clusters`` in place.
    """
    empty_clusters = np.where(np.equal(weight_in_clusters, 0))[0]
    n_empty = empty_clusters.shape[0]
    if n_empty == 0:
        return
    if sp.issparse(X):
        distances = np.empty(X.shape[0], dtype=X.dtype)
        _k._sqdist_to_assigned_sparse(
            *_csr_parts(X), centers_old, _sq_norms(centers_old), labels, distances
        )
    else:
        x_mean = _mean_or_zeros(x_mean, X)
        # in chunks of rows (the same values as on the whole of X, without a copy of it)
        distances = np.empty(X.shape[0], dtype=X.dtype)
        for start in range(0, X.shape[0], _RELOCATE_CHUNK):
            rows = slice(start, start + _RELOCATE_CHUNK)
            diff = X[rows] - x_mean
            diff -= centers_old[labels[rows]]
            distances[rows] = (diff**2).sum(axis=1)
    if np.max(distances) == 0:
        return
    far_from_centers = np.argpartition(distances, -n_empty)[: -n_empty - 1 : -1]
    for idx in range(n_empty):
        new_cluster_id = empty_clusters[idx]
        far_idx = far_from_centers[idx]
        weight = sample_weight[far_idx]
        old_cluster_id = labels[far_idx]
        if sp.issparse(X):
            row = X[far_idx].toarray().ravel()
        else:
            row = X[far_idx] - x_mean
        centers_sum[old_cluster_id] -= row * weight
        centers_sum[new_cluster_id] = row * weight
        weight_in_clusters[new_cluster_id] = weight
        weight_in_clusters[old_cluster_id] -= weight


# below this much work (n_samples * n_clusters * n_features), dense k-means++ runs in NumPy
KMEANSPP_NUMPY_MAX_WORK = 1 << 18


def _weighted_choice(random_state, sample_weight):
    """``random_state.choice(n_samples, p=sample_weight / sample_weight.sum())``: the same
    index from the same single uniform draw, in one compiled pass instead of NumPy's checks,
    cumulative sum and normalisation over copies (NumPy itself decides, and raises, when the
    weights are not clearly valid probabilities)."""
    total = sample_weight.sum()
    if not _k._weighted_choice_ok(sample_weight, total):
        return random_state.choice(sample_weight.shape[0], p=sample_weight / total)
    return int(_k._weighted_choice_draw(sample_weight, total, random_state.random_sample()))


def _kmeans_plusplus(
    X,
    n_clusters,
    x_squared_norms,
    sample_weight,
    random_state,
    n_local_trials=None,
    x_mean=None,
):
    """Computational core of k-means++ (validated input; same RNG calls as scikit-learn).

    Dense X is seeded as ``X - x_mean`` when ``x_mean`` is given (centred on the fly; the
    centres are rows of ``X - x_mean``).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    n_clusters : int
    x_squared_norms : ndarray of shape (n_samples,) or None
        Used for sparse X (computed if None).
    sample_weight : ndarray of shape (n_samples,)
    random_state : RandomState instance
    n_local_trials : int, default=None
    x_mean : ndarray of shape (n_features,), default=None
        Dense float X only.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
    """
    n_samples, n_features = X.shape
    is_sparse = sp.issparse(X)
    if is_sparse:
        X = sp.csr_matrix(X)
        if not X.has_sorted_indices:
            X = X.sorted_indices()
    else:
        X = np.ascontiguousarray(X)
    X = _writeable(X)
    X_orig = X  # the centres are rows of X, in X's dtype (integers stay integers)
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    dtype = X.dtype
    sample_weight = _writeable(np.ascontiguousarray(sample_weight, dtype=dtype))

    centers = np.empty((n_clusters, n_features), dtype=X_orig.dtype)

    if n_local_trials is None:
        n_local_trials = 2 + int(np.log(n_clusters))

    center_id = _weighted_choice(random_state, sample_weight)

    if not is_sparse:
        centred = x_mean is not None
        mean = x_mean if centred else np.zeros(n_features, dtype=dtype)
        # the whole loop compiled; the uniform draws of all steps taken at once (the same
        # values, and the same final state of random_state, as one call per step)
        rand_vals = random_state.uniform(size=(n_clusters - 1, n_local_trials))
        # float64 data: the steps run through the float32 screen once few samples get closer
        # at each step (same centres; see _kmeans_kernels). Not float32 data: their copy
        # would be as large as X, for little gain
        screen = int(dtype == np.float64)
        if n_samples * n_clusters * n_features < KMEANSPP_NUMPY_MAX_WORK:
            # small data: NumPy, no kernel to compile
            indices = _k._kmeanspp_dense_numpy(X, mean, sample_weight, center_id, rand_vals)
        elif _k._kmeanspp_may_screen(n_clusters, X.itemsize, screen):
            indices, _ = _k._kmeanspp_dense(X, mean, sample_weight, center_id, rand_vals, screen)
        else:  # the same centres, without compiling the screen's kernels
            indices = _k._kmeanspp_dense_plain(X, mean, sample_weight, center_id, rand_vals)
        centers[:] = X_orig[indices] - mean if centred else X_orig[indices]
        return centers, indices

    # sparse X: the loop in Python around the sparse kernels
    indices = np.full(n_clusters, -1, dtype=int)
    if x_squared_norms is None:
        x_squared_norms = row_norms(X, squared=True)
    norms = np.ascontiguousarray(x_squared_norms, dtype=dtype)

    def trials(cand, closest, dist, pots):
        _k._kmeanspp_trials_sparse(*_csr_parts(X), norms, sample_weight, cand, closest, dist, pots)

    nb = n_blocks(n_samples)

    centers[0] = X_orig[[center_id]].toarray()
    indices[0] = center_id

    closest = np.full(n_samples, np.inf, dtype=dtype)
    dist = np.empty((1, n_samples), dtype=dtype)
    pots = np.zeros((nb, 1))
    trials(np.ascontiguousarray(centers[:1]), closest, dist, pots)
    closest = dist[0].copy()
    current_pot = pots.sum(axis=0)[0]

    dist = np.empty((n_local_trials, n_samples), dtype=dtype)
    pots = np.zeros((nb, n_local_trials))
    candidate_ids = np.empty(n_local_trials, dtype=np.int64)
    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        _k._kmeanspp_searchsorted(sample_weight, closest, rand_vals, candidate_ids)
        cand = np.ascontiguousarray(X[candidate_ids].toarray())
        trials(cand, closest, dist, pots)
        candidates_pot = pots.sum(axis=0)
        best = int(np.argmin(candidates_pot))
        current_pot = candidates_pot[best]
        closest[:] = dist[best]
        best_candidate = candidate_ids[best]
        centers[c] = X_orig[[best_candidate]].toarray()
        indices[c] = best_candidate

    return centers, indices


###############################################################################
# a single k-means run

# below this much work per pass (n_samples * n_clusters * n_features), plain passes only
BOUNDS_MIN_WORK = 1 << 18


def _kmeans_single(
    X,
    sample_weight,
    centers_init,
    max_iter=300,
    verbose=False,
    tol=1e-4,
    use_bounds=True,
    x_mean=None,
):
    """One k-means run (Lloyd's algorithm), from validated data and initial centres.

    Dense data use exact bounds when ``use_bounds`` and the passes are large enough
    (``BOUNDS_MIN_WORK``), on the passes where they pay (:class:`_PassSchedule`; the
    labels are those of plain Lloyd); sparse data use plain Lloyd. Convergence rules
    follow scikit-learn: strict convergence when the labels do not change, else the
    squared centre shift against ``tol``; a final E-step makes the labels match the
    returned centres. Dense data are clustered as
    ``X - x_mean`` (``x_mean`` None: zeros), centred on the fly: X is not copied, and the
    returned centres are in the centred coordinates.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    inertia : float
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    """
    n_samples, n_features = X.shape
    dtype = X.dtype
    n_clusters = centers_init.shape[0]
    is_sparse = sp.issparse(X)
    # small passes run plain: the bounds would save microseconds, and their kernels cost
    # seconds of compilation on a fresh machine
    work = n_samples * n_clusters * n_features
    bounded = use_bounds and not is_sparse and n_clusters > 1 and work >= BOUNDS_MIN_WORK

    centers = np.array(centers_init, dtype=dtype, order="C")  # written: not the caller's
    centers_new = np.zeros_like(centers)
    if not is_sparse:
        x_mean = _mean_or_zeros(x_mean, X)
    labels = np.full(n_samples, -1, dtype=np.int32)
    nb = n_blocks(n_samples)
    # running per-block sums (dense kernels update them for the samples that change label)
    sums = np.zeros((nb, n_clusters, n_features))
    wsums = np.zeros((nb, n_clusters))
    counts = np.zeros((nb, n_clusters), dtype=np.int64)
    n_changed = np.zeros(nb, dtype=np.int64)
    centers_sum = np.empty((n_clusters, n_features))
    weight_in_clusters = np.empty(n_clusters)
    center_shift = np.zeros(n_clusters)
    half_sep = np.empty(n_clusters)
    eps = _bound_eps(dtype, n_features)
    schedule = _PassSchedule(bounded)
    # the plain passes rank from float32 tiles of X - x_mean, transposed once here
    tiles = None
    if not is_sparse and _k._tiles_pay(n_samples, n_features, n_clusters, dtype, BOUNDS_MIN_WORK):
        tiles = _k.sample_tiles(X, x_mean)
    n_ranked = np.zeros(nb, dtype=np.int64)
    # the bounds' state, made before the first pass that uses them (on overlapping clusters
    # the schedule may never try them): Yinyang groups of centres, fixed from the centres of
    # that pass, the bounds and the samples' squared norms
    bound_state = []

    def bounds_for(centers):
        if not bound_state:
            perm, gstart = _center_groups(centers, _n_groups(n_clusters, n_features, dtype))
            x_sq = np.empty(n_samples)
            _k._row_sq_norms(X, x_mean, x_sq)
            upper = np.zeros(n_samples)
            lower = np.zeros((n_samples, gstart.shape[0] - 1))
            bound_state.extend([x_sq, perm, gstart, upper, lower])
        return bound_state

    def e_step(centers, update_centers, kind):
        if is_sparse:
            _k._lloyd_iter_sparse(
                *_csr_parts(X),
                sample_weight,
                centers,
                _sq_norms(centers),
                labels,
                sums,
                wsums,
                n_changed,
                update_centers,
            )
        elif kind != "plain":
            x_sq, perm, gstart, upper, lower = bounds_for(centers)
            _k._yinyang_iter_dense(
                X,
                x_mean,
                sample_weight,
                centers,
                np.ascontiguousarray(centers.T),
                _sq_norms(centers),
                x_sq,
                perm,
                gstart,
                half_sep,
                center_shift,
                upper,
                lower,
                labels,
                sums,
                wsums,
                counts,
                n_changed,
                kind == "bounded",
                update_centers,
                eps,
                _gemm_delta_scale(dtype, n_features),
                n_ranked,
            )
        else:
            _k._lloyd_iter_dense(
                X,
                x_mean,
                sample_weight,
                np.ascontiguousarray(centers.T),
                _sq_norms(centers),
                labels,
                sums,
                wsums,
                counts,
                n_changed,
                update_centers,
                tiles,
            )

    strict_convergence = False
    for i in range(max_iter):
        start = time.perf_counter()
        e_step(centers, True, schedule.kind)
        elapsed = time.perf_counter() - start
        n = max(n_samples, 1)
        schedule.after(n_ranked.sum() / n, elapsed, n_changed.sum() / n)
        _k._reduce_blocks(sums, wsums, centers_sum, weight_in_clusters)
        if not np.all(weight_in_clusters):
            _relocate_empty_clusters(
                X, sample_weight, centers, centers_sum, weight_in_clusters, labels, x_mean
            )
        # writes centers_new, center_shift (used by the next pass to widen the bounds)
        # and half_sep of the new centres (when the next pass uses the bounds)
        _k._finish_mstep(
            centers_sum,
            weight_in_clusters,
            centers,
            centers_new,
            center_shift,
            half_sep,
            eps,
            schedule.kind == "bounded",
        )

        if verbose:
            inertia = _inertia(X, sample_weight, centers, labels, x_mean=x_mean)
            print(f"Iteration {i}, inertia {inertia}.")

        centers, centers_new = centers_new, centers

        # the first pass always "changes" the labels from their -1 start (as scikit-learn)
        if i > 0 and n_changed.sum() == 0:
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            strict_convergence = True
            break
        else:
            center_shift_tot = (center_shift**2).sum()
            if center_shift_tot <= tol:
                if verbose:
                    print(
                        f"Converged at iteration {i}: center shift "
                        f"{center_shift_tot} within tolerance {tol}."
                    )
                break

    if not strict_convergence:
        # rerun E-step so that predicted labels match cluster centers
        e_step(centers, False, "bounded" if schedule.kind == "bounded" else "plain")

    inertia = _inertia(X, sample_weight, centers, labels, x_mean=x_mean)
    return labels, inertia, centers, i + 1
