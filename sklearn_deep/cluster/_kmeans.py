"""K-means clustering on Numba kernels: a drop-in for :class:`sklearn.cluster.KMeans`.

The estimator mirrors scikit-learn 1.9's ``KMeans`` (parameters, validation, warnings,
random-number consumption, convergence rules, empty-cluster relocation); the per-sample work
runs in :mod:`sklearn_deep.cluster._kmeans_kernels`.
"""

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.extmath import row_norms
from sklearn.utils.parallel import _get_threadpool_controller
from sklearn.utils.sparsefuncs import mean_variance_axis
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_is_fitted,
    validate_data,
)

from .._kernel_blocks import n_blocks
from .._numba_config import (
    effective_n_threads,
    numba_threads,
    report_compilation,
    threads_for_work,
)
from . import _kmeans_kernels as _k

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
        with numba_threads(threads_for_work(work)):
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


def _n_groups(n_clusters, dtype):
    """Number of Yinyang centre groups: one (Hamerly's bound) where the fused tiles rank
    the centres (full rankings are cheap there, and the bookkeeping of several groups
    costs more than it saves), else groups of about 8 centres."""
    if _k._use_fused(n_clusters, np.dtype(dtype).itemsize):
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


###############################################################################
# k-means++


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "sample_weight": ["array-like", None],
        "x_squared_norms": ["array-like", None],
        "random_state": ["random_state"],
        "n_local_trials": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def kmeans_plusplus(
    X,
    n_clusters,
    *,
    sample_weight=None,
    x_squared_norms=None,
    random_state=None,
    n_local_trials=None,
):
    """Init n_clusters seeds according to (greedy) k-means++.

    Same contract and random-number consumption as
    :func:`sklearn.cluster.kmeans_plusplus`: for the same ``random_state`` it picks the same
    indices (up to floating-point ties).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to pick seeds from.
    n_clusters : int
        The number of centroids to initialize.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights for each observation in `X`. If `None`, all observations
        are assigned equal weight.
    x_squared_norms : array-like of shape (n_samples,), default=None
        Squared Euclidean norm of each data point.
    random_state : int or RandomState instance, default=None
        Determines random number generation for centroid initialization.
    n_local_trials : int, default=None
        The number of seeding trials for each center (except the first), of which the one
        reducing inertia the most is greedily chosen. None means ``2 + int(log(k))``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        The initial centers for k-means.
    indices : ndarray of shape (n_clusters,)
        The index location of the chosen centers in the data array X. For a
        given index and center, X[index] = center.

    Examples
    --------
    >>> from sklearn_deep.cluster import kmeans_plusplus
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> centers, indices = kmeans_plusplus(X, n_clusters=2, random_state=0)
    >>> centers
    array([[10,  2],
           [ 1,  0]])
    >>> indices
    array([3, 2])
    """
    check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)

    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")

    if x_squared_norms is not None:
        x_squared_norms = check_array(x_squared_norms, dtype=X.dtype, ensure_2d=False)
        if x_squared_norms.shape[0] != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {x_squared_norms.shape[0]} should "
                f"be equal to the length of n_samples {X.shape[0]}."
            )
    # (computed by _kmeans_plusplus for sparse X only: dense distances are direct)

    random_state = check_random_state(random_state)
    with _threads_for(X.shape[0], n_clusters, X.shape[1]):
        centers, indices = _kmeans_plusplus(
            X, n_clusters, x_squared_norms, sample_weight, random_state, n_local_trials
        )
    return centers, indices


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
        if _k._kmeanspp_may_screen(n_clusters, X.itemsize, screen):
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

    Dense data use exact bounds when ``use_bounds`` (same labels as plain Lloyd);
    sparse data use plain Lloyd. Convergence rules follow scikit-learn: strict convergence
    when the labels do not change, else the squared centre shift against ``tol``; a final
    E-step makes the labels match the returned centres. Dense data are clustered as
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
    bounded = use_bounds and not is_sparse and n_clusters > 1

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
    if bounded:
        # Yinyang: groups of centres, fixed from the initial centres
        perm, gstart = _center_groups(centers, _n_groups(n_clusters, dtype))
        upper = np.zeros(n_samples)
        lower = np.zeros((n_samples, gstart.shape[0] - 1))
        x_sq = np.empty(n_samples)
        _k._row_sq_norms(X, x_mean, x_sq)
        delta_scale = _gemm_delta_scale(dtype, n_features)

    def e_step(centers, update_centers, first):
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
        elif bounded:
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
                not first,
                update_centers,
                eps,
                delta_scale,
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
            )

    strict_convergence = False
    for i in range(max_iter):
        e_step(centers, True, i == 0)
        _k._reduce_blocks(sums, wsums, centers_sum, weight_in_clusters)
        if not np.all(weight_in_clusters):
            _relocate_empty_clusters(
                X, sample_weight, centers, centers_sum, weight_in_clusters, labels, x_mean
            )
        # writes centers_new, center_shift (used by the next pass to widen the bounds)
        # and half_sep of the new centres
        _k._finish_mstep(
            centers_sum,
            weight_in_clusters,
            centers,
            centers_new,
            center_shift,
            half_sep,
            eps,
            bounded,
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
        e_step(centers, False, False)

    inertia = _inertia(X, sample_weight, centers, labels, x_mean=x_mean)
    return labels, inertia, centers, i + 1


###############################################################################
# estimator


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """K-Means clustering (Numba kernels), a drop-in for :class:`sklearn.cluster.KMeans`.

    Same parameters, attributes, methods, warnings and errors as scikit-learn 1.9's
    ``KMeans``, and the same use of ``random_state``: for a given seed it finds the same
    clustering (up to floating-point ties). Dense data run Lloyd's algorithm accelerated by
    exact bounds (Hamerly's, or Yinyang's groups for many centres in float64) for both values
    of ``algorithm``; the labels are those plain Lloyd would give. Dense X is centred on the
    fly, never copied nor modified. Work is parallel over fixed sample blocks, so results do
    not depend on the number of Numba threads.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form as well as the number of centroids to generate.

    init : {'k-means++', 'random'}, callable or array-like of shape \
            (n_clusters, n_features), default='k-means++'
        Method for initialization: greedy k-means++, ``n_clusters`` random rows of X,
        explicit initial centres, or a callable ``init(X, n_clusters, random_state)``.

    n_init : 'auto' or int, default='auto'
        Number of runs with different centroid seeds; the best in inertia is kept.
        'auto' means 1 for 'k-means++' or an array, 10 for 'random' or a callable.

    max_iter : int, default=300
        Maximum number of iterations of the k-means algorithm for a single run.

    tol : float, default=1e-4
        Relative tolerance (times the mean feature variance) on the squared Frobenius norm
        of the centre shift between two iterations to declare convergence.

    verbose : int, default=0
        Verbosity mode.

    random_state : int, RandomState instance or None, default=None
        Determines random number generation for centroid initialization.

    copy_x : bool, default=True
        Accepted for compatibility. Dense X is never modified (the kernels centre it on the
        fly), so it is never copied; sparse X is copied when True.

    algorithm : {"lloyd", "elkan"}, default="lloyd"
        Accepted for compatibility; both run the same exact bound-accelerated Lloyd
        iteration and give the same result.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Coordinates of cluster centers.

    labels_ : ndarray of shape (n_samples,)
        Labels of each point.

    inertia_ : float
        Sum of squared distances of samples to their closest cluster center, weighted by
        the sample weights if provided.

    n_iter_ : int
        Number of iterations run.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature names
        that are all strings.

    See Also
    --------
    sklearn.cluster.KMeans : The reference implementation.

    Examples
    --------
    >>> from sklearn_deep.cluster import KMeans
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> kmeans = KMeans(n_clusters=2, random_state=0, n_init="auto").fit(X)
    >>> kmeans.labels_
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> kmeans.predict([[0, 0], [12, 3]])
    array([1, 0], dtype=int32)
    >>> kmeans.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), callable, "array-like"],
        "n_init": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "copy_x": ["boolean"],
        "algorithm": [StrOptions({"lloyd", "elkan"})],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        verbose=0,
        random_state=None,
        copy_x=True,
        algorithm="lloyd",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    # -- validation helpers (same messages as scikit-learn) -----------------------------------

    def _check_params_vs_input(self, X, default_n_init=10):
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")

        self._tol = _tolerance(X, self.tol)

        if self.n_init == "auto":
            if isinstance(self.init, str) and self.init == "k-means++":
                self._n_init = 1
            elif isinstance(self.init, str) and self.init == "random":
                self._n_init = default_n_init
            elif callable(self.init):
                self._n_init = default_n_init
            else:  # array-like
                self._n_init = 1
        else:
            self._n_init = self.n_init

        if _is_arraylike_not_scalar(self.init) and self._n_init != 1:
            warnings.warn(
                (
                    "Explicit initial center position passed: performing only"
                    f" one init in {self.__class__.__name__} instead of "
                    f"n_init={self._n_init}."
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._n_init = 1

        self._algorithm = self.algorithm
        if self._algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                (
                    "algorithm='elkan' doesn't make sense for a single "
                    "cluster. Using 'lloyd' instead."
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._algorithm = "lloyd"

    def _validate_center_shape(self, X, centers, n_centroids=None):
        if n_centroids is None:
            n_centroids = self.n_clusters
        if centers.shape[0] != n_centroids:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not "
                f"match the number of clusters {n_centroids}."
            )
        if centers.shape[1] != X.shape[1]:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not "
                f"match the number of features of the data {X.shape[1]}."
            )

    def _check_test_data(self, X):
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            reset=False,
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
        )
        return self._prepare_input(X)

    @staticmethod
    def _prepare_input(X):
        """CSR in canonical format (sorted indices, duplicate entries summed: the kernels'
        squared norms and products need one entry per position); writeable arrays (see
        :func:`_writeable`)."""
        if sp.issparse(X) and not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()  # (sorts the indices too)
        return _writeable(X)

    def _init_centroids(
        self,
        X,
        x_squared_norms,
        init,
        random_state,
        sample_weight,
        init_size=None,
        n_centroids=None,
        x_mean=None,
    ):
        """Compute the initial centroids (same random-number use as scikit-learn).

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        x_squared_norms : ndarray of shape (n_samples,) or None
        init : {'k-means++', 'random'}, callable or ndarray of shape (n_clusters, n_features)
        random_state : RandomState instance
        sample_weight : ndarray of shape (n_samples,)
        init_size : int, default=None
            Number of samples to randomly sample for the initialization.
        n_centroids : int, default=None
            Number of centroids (default ``self.n_clusters``).
        x_mean : ndarray of shape (n_features,), default=None
            Dense X is initialised as ``X - x_mean`` (centred on the fly); the centres are
            in those coordinates.

        Returns
        -------
        centers : ndarray of shape (n_clusters, n_features)
        """
        n_samples = X.shape[0]
        n_clusters = self.n_clusters if n_centroids is None else n_centroids

        if init_size is not None and init_size < n_samples:
            init_indices = random_state.randint(0, n_samples, init_size)
            X = X[init_indices]
            if x_squared_norms is not None:
                x_squared_norms = x_squared_norms[init_indices]
            n_samples = X.shape[0]
            sample_weight = sample_weight[init_indices]

        if isinstance(init, str) and init == "k-means++":
            centers, _ = _kmeans_plusplus(
                X,
                n_clusters,
                random_state=random_state,
                x_squared_norms=x_squared_norms,
                sample_weight=sample_weight,
                x_mean=x_mean if not sp.issparse(X) else None,
            )
        elif isinstance(init, str) and init == "random":
            seeds = random_state.choice(
                n_samples,
                size=n_clusters,
                replace=False,
                p=sample_weight / sample_weight.sum(),
            )
            centers = X[seeds]
            if x_mean is not None and not sp.issparse(X):
                centers = centers - x_mean
        elif _is_arraylike_not_scalar(self.init):
            centers = init
        elif callable(init):
            if x_mean is not None and not sp.issparse(X):
                X = X - x_mean  # the callable sees the centred data, as in scikit-learn
            centers = init(X, n_clusters, random_state=random_state)
            centers = check_array(centers, dtype=X.dtype, copy=False, order="C")
            self._validate_center_shape(X, centers, n_centroids=n_clusters)

        if sp.issparse(centers):
            centers = centers.toarray()

        return centers

    # -- fitting ------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training instances to cluster. Converted to C order (copied if needed); sparse
            input is converted to CSR.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X. If None, all observations are assigned
            equal weight. `sample_weight` is not used during initialization if `init` is a
            callable or a user provided array.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        # dense X is never modified (the kernels centre it on the fly), so it is not copied
        # whatever copy_x says
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            copy=self.copy_x and sp.issparse(X),
            accept_large_sparse=False,
        )
        X = self._prepare_input(X)

        self._check_params_vs_input(X)

        random_state = check_random_state(self.random_state)
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        self._n_threads = effective_n_threads()

        init = self.init
        init_is_array_like = _is_arraylike_not_scalar(init)
        if init_is_array_like:
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)
        elif isinstance(init, str) and np.any(sample_weight < 0):
            # scikit-learn fails here too (inside RandomState.choice); say why
            raise ValueError(
                f"init={init!r} samples points with probability proportional to "
                "sample_weight, which has negative values: probabilities are not "
                "non-negative. Pass non-negative sample_weight."
            )

        # (with verbose: whether Numba compiles kernels for this fit, and where they go)
        with report_compilation(self.verbose, type(self).__name__):
            if not sp.issparse(X):
                # the data are clustered centred (as scikit-learn does, for accuracy), as
                # X - X_mean computed on the fly
                X_mean = _x_mean(X)
                if init_is_array_like:
                    init -= X_mean
                x_squared_norms = None  # dense kernels compute differences directly
            else:
                X_mean = None
                x_squared_norms = row_norms(X, squared=True)

            with _threads_for(X.shape[0], self.n_clusters, X.shape[1]):
                best = self._fit_runs(X, sample_weight, init, x_squared_norms, random_state, X_mean)
        best_labels, best_centers, best_inertia, best_n_iter = best

        if not sp.issparse(X):
            best_centers += X_mean

        distinct_clusters = np.count_nonzero(np.bincount(best_labels, minlength=self.n_clusters))
        if distinct_clusters < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct_clusters}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points "
                "in X.",
                ConvergenceWarning,
                stacklevel=2,
            )

        self.cluster_centers_ = best_centers
        self._n_features_out = self.cluster_centers_.shape[0]
        self.labels_ = best_labels
        self.inertia_ = best_inertia
        self.n_iter_ = best_n_iter
        return self

    def _fit_runs(self, X, sample_weight, init, x_squared_norms, random_state, x_mean=None):
        """The n_init loop: returns (labels, centers, inertia, n_iter) of the best run."""
        best_inertia, best_labels = None, None
        for _ in range(self._n_init):
            centers_init = self._init_centroids(
                X,
                x_squared_norms=x_squared_norms,
                init=init,
                random_state=random_state,
                sample_weight=sample_weight,
                x_mean=x_mean,
            )
            if self.verbose:
                print("Initialization complete")

            labels, inertia, centers, n_iter_ = _kmeans_single(
                X,
                sample_weight,
                centers_init,
                max_iter=self.max_iter,
                verbose=self.verbose,
                tol=self._tol,
                x_mean=x_mean,
            )

            if best_inertia is None or (
                inertia < best_inertia
                and not _is_same_clustering(labels, best_labels, self.n_clusters)
            ):
                best_labels = labels
                best_centers = centers
                best_inertia = inertia
                best_n_iter = n_iter_
        return best_labels, best_centers, best_inertia, best_n_iter

    def fit_predict(self, X, y=None, sample_weight=None):
        """Compute cluster centers and predict cluster index for each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def predict(self, X):
        """Predict the closest cluster each sample in X belongs to.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to predict.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = np.ones(X.shape[0], dtype=X.dtype)
        with _threads_for(*X.shape[:1], *self.cluster_centers_.shape):
            return _labels_inertia(X, sample_weight, self.cluster_centers_, return_inertia=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Compute clustering and transform X to cluster-distance space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            X transformed in the new space.
        """
        return self.fit(X, sample_weight=sample_weight)._transform(X)

    def transform(self, X):
        """Transform X to a cluster-distance space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Euclidean distance of each sample to each cluster centre.
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        return self._transform(X)

    def _transform(self, X):
        """Guts of transform (no validation of X beyond dtype/layout)."""
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C")
        dtype = np.result_type(X.dtype, self.cluster_centers_.dtype)
        X = self._prepare_input(X.astype(dtype, copy=False))
        centers = np.ascontiguousarray(self.cluster_centers_, dtype=dtype)
        out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
        if sp.issparse(X):
            _k._euclidean_sparse(*_csr_parts(X), centers, _sq_norms(centers), out)
        else:
            _k._euclidean_dense(X, np.ascontiguousarray(centers.T), out)
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the value of X on the K-means objective.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        score : float
            Opposite of the value of X on the K-means objective.
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        with _threads_for(X.shape[0], *self.cluster_centers_.shape):
            _, scores = _labels_inertia(X, sample_weight, self.cluster_centers_)
        return -scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "sample_weight": ["array-like", None],
        "return_n_iter": [bool],
    },
    prefer_skip_nested_validation=False,
)
def k_means(
    X,
    n_clusters,
    *,
    sample_weight=None,
    init="k-means++",
    n_init="auto",
    max_iter=300,
    verbose=False,
    tol=1e-4,
    random_state=None,
    copy_x=True,
    algorithm="lloyd",
    return_n_iter=False,
):
    """Perform K-means clustering (functional interface of :class:`KMeans`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The observations to cluster.
    n_clusters : int
        The number of clusters to form.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights for each observation in `X`.
    init, n_init, max_iter, verbose, tol, random_state, copy_x, algorithm
        See :class:`KMeans`.
    return_n_iter : bool, default=False
        Whether or not to return the number of iterations.

    Returns
    -------
    centroid : ndarray of shape (n_clusters, n_features)
    label : ndarray of shape (n_samples,)
    inertia : float
    best_n_iter : int
        Returned only if `return_n_iter` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.cluster import k_means
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> centroid, label, inertia = k_means(X, n_clusters=2, random_state=0)
    >>> label
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> float(inertia)
    16.0
    """
    est = KMeans(
        n_clusters=n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        verbose=verbose,
        tol=tol,
        random_state=random_state,
        copy_x=copy_x,
        algorithm=algorithm,
    ).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_
