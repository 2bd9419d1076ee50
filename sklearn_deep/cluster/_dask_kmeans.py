"""KMeans on dask arrays: Lloyd iterations mapped over the row blocks on the workers.

:class:`~sklearn_deep.cluster.KMeans` dispatches here when ``X`` is a ``dask.array.Array``.
Each Lloyd iteration runs our Numba E-step kernels on the row blocks, on the workers, and
brings back per-cluster weighted sums and weights (``O(n_clusters * n_features)``); the
client adds them up and computes the new centres (:mod:`._dask_lloyd`: with state and
bounds kept by the workers on a persisted X, stateless passes otherwise). Samples are
clustered centred on the column means, as in memory, so that from the same initial centres
the labels are identical and the inertia agrees to rounding.

``init='k-means++'`` uses k-means|| (Bahmani et al., 2012, "Scalable K-Means++"), the
initialisation of dask-ml and Spark MLlib: ``_KMEANS_PARALLEL_ROUNDS`` rounds, each sampling
every point independently with probability ``min(1, l * w d^2(x, C) / phi(C))``
(``l = 2 * n_clusters``), then the candidates, weighted by the weight of the samples
closest to them, are reduced to ``n_clusters`` centres by a weighted k-means++ and Lloyd in
memory. It is not the same draw as in-memory k-means++ (the centres differ; their quality
is comparable).
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import _is_arraylike_not_scalar, check_is_fitted

from ..utils._dask import (
    _block_seeds,
    _BlockMapper,
    _check_dask_sample_weight,
    _check_dask_X,
    _column_mean_var,
    _row_blocks,
    _task_threads,
)
from ._dask_lloyd import (
    _inertia_block,
    _kmeans_single_dask,
    _label_block,
    _labels_array,
    _ones_like_rows,
    _sq_dist_to_assigned,
)
from ._kmeans_common import _euclidean_dense

# rounds of k-means|| sampling (Spark MLlib's default initSteps is 2; 5 follows Bahmani et
# al.'s observation that a few rounds with oversampling 2k match k-means++'s quality)
_KMEANS_PARALLEL_ROUNDS = 5


###############################################################################
# per-block tasks (run on the workers)


def _min_dist_update_block(X, sample_weight, dmin, x_mean, new_points):
    """k-means|| distances: ``min(dmin, d^2(x, new_points))`` and its weighted sum."""
    X = np.ascontiguousarray(X)
    labels = _label_block(X, x_mean, new_points)
    d = _sq_dist_to_assigned(X, x_mean, new_points, labels)
    if dmin is not None:
        np.minimum(d, dmin, out=d)
    sw = _ones_like_rows(X, sample_weight)
    return d, float(np.dot(d, sw))


def _sample_block(X, sample_weight, dmin, x_mean, factor, seed):
    """k-means|| draw: keep each row with probability ``min(1, factor * w * dmin)``."""
    sw = _ones_like_rows(X, sample_weight)
    p = np.minimum(1.0, factor * sw * dmin)
    keep = np.random.RandomState(seed).uniform(size=p.shape[0]) < p
    return np.asarray(X)[keep] - x_mean


def _candidate_weights_block(X, sample_weight, x_mean, candidates):
    labels = _label_block(X, x_mean, candidates)
    sw = _ones_like_rows(np.asarray(X), sample_weight)
    return np.bincount(labels, weights=sw, minlength=candidates.shape[0])


def _weighted_keys_block(sample_weight, n_rows, n_keep, seed, offset):
    """Efraimidis-Spirakis keys ``u^(1/w)`` of a block's rows; the ``n_keep`` largest."""
    rs = np.random.RandomState(seed)
    u = rs.uniform(size=n_rows)
    w = np.ones(n_rows) if sample_weight is None else np.asarray(sample_weight, np.float64)
    with np.errstate(divide="ignore"):
        keys = np.where(w > 0, np.log(u) / np.where(w > 0, w, 1.0), -np.inf)
    n_keep = min(n_keep, n_rows)
    idx = np.argpartition(keys, -n_keep)[-n_keep:] if n_keep else np.empty(0, np.intp)
    return keys[idx], idx + offset


###############################################################################
# helpers (client side)


def _delayed(func, nout=None):
    import dask

    return dask.delayed(func, pure=True, nout=nout)


def _blocks_and_weights(X, sample_weight):
    xb = _row_blocks(X)
    wb = [None] * len(xb) if sample_weight is None else _row_blocks(sample_weight)
    return xb, wb


def _offsets(X):
    return np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(np.int64)


def _gather_rows(X, indices):
    """Rows ``X[indices]`` (in the order of ``indices``) as a NumPy array."""
    indices = np.asarray(indices, dtype=np.int64)
    order = np.argsort(indices, kind="stable")
    rows = np.asarray(X[indices[order]].compute())
    out = np.empty_like(rows)
    out[order] = rows
    return out


def _weighted_sample_indices(X, sample_weight, n, random_state):
    """``n`` distinct row indices drawn with probability proportional to the weights (one
    pass, Efraimidis-Spirakis)."""
    import dask

    wb = [None] * X.numblocks[0] if sample_weight is None else _row_blocks(sample_weight)
    seeds = _block_seeds(random_state, len(wb))
    tasks = [
        _delayed(_weighted_keys_block)(w, rows, n, seed, off)
        for w, rows, seed, off in zip(wb, X.chunks[0], seeds, _offsets(X))
    ]
    parts = dask.compute(*tasks)
    keys = np.concatenate([p[0] for p in parts])
    idx = np.concatenate([p[1] for p in parts])
    best = np.argsort(-keys, kind="stable")[:n]
    return idx[best]


def _kmeans_parallel(X, sample_weight, n_clusters, random_state, x_mean, rounds=None):
    """k-means|| initial centres (in the coordinates of ``X - x_mean``).

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), X's dtype
    """
    import dask

    from ._kmeans import KMeans

    rounds = _KMEANS_PARALLEL_ROUNDS if rounds is None else rounds
    xb, wb = _blocks_and_weights(X, sample_weight)
    oversampling = 2 * n_clusters
    first = _gather_rows(X, _weighted_sample_indices(X, sample_weight, 1, random_state))
    candidates = [first - x_mean]
    new_points = candidates[0]
    dmin = [None] * len(xb)
    update = _delayed(_min_dist_update_block, nout=2)
    for _ in range(rounds):
        parts = [update(x, w, d, x_mean, new_points) for x, w, d in zip(xb, wb, dmin)]
        dmin = [p[0] for p in parts]
        dmin = list(dask.persist(*dmin))
        phi = float(sum(dask.compute(*[p[1] for p in parts])))
        if phi == 0:
            break
        seeds = _block_seeds(random_state, len(xb))
        draws = dask.compute(
            *[
                _delayed(_sample_block)(x, w, d, x_mean, oversampling / phi, s)
                for x, w, d, s in zip(xb, wb, dmin, seeds)
            ]
        )
        new_points = np.concatenate(draws).astype(X.dtype, copy=False)
        if new_points.shape[0] == 0:
            break
        candidates.append(new_points)
    candidates = np.ascontiguousarray(np.concatenate(candidates), dtype=X.dtype)
    if candidates.shape[0] < n_clusters:
        # degenerate data (many duplicates): top up with weighted random rows
        extra = _gather_rows(
            X, _weighted_sample_indices(X, sample_weight, n_clusters, random_state)
        )
        candidates = np.concatenate([candidates, extra - x_mean])[:n_clusters]
        return np.ascontiguousarray(candidates, dtype=X.dtype)
    weights = np.sum(
        dask.compute(
            *[_delayed(_candidate_weights_block)(x, w, x_mean, candidates) for x, w in zip(xb, wb)]
        ),
        axis=0,
    )
    keep = weights > 0
    if np.count_nonzero(keep) >= n_clusters:
        candidates, weights = candidates[keep], weights[keep]
    else:
        weights = np.where(keep, weights, np.min(weights[keep], initial=1.0) * 1e-3)
    km = KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state)
    km.fit(candidates, sample_weight=weights.astype(X.dtype))
    return np.ascontiguousarray(km.cluster_centers_, dtype=X.dtype)


###############################################################################
# estimator entry points (called by KMeans when X is a dask array)


def _fit_dask(est, X, sample_weight=None):
    """``KMeans.fit`` on a dask array (parameters already validated by ``_fit_context``)."""
    X = _check_dask_X(X, estimator=est, reset=True)
    if X.shape[0] < est.n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={est.n_clusters}.")
    sample_weight = _check_dask_sample_weight(sample_weight, X)
    x_mean, variances = _column_mean_var(X, with_var=est.tol != 0)
    x_mean = x_mean.astype(X.dtype)
    # the tolerance as in memory: mean feature variance * tol
    est._tol = 0 if est.tol == 0 else float(np.mean(variances) * est.tol)
    n_init = est.n_init
    if n_init == "auto":
        n_init = 1 if not (callable(est.init) or est.init == "random") else 10
    init = est.init
    if _is_arraylike_not_scalar(init):
        if n_init != 1 and est.n_init != "auto":
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"{est.__class__.__name__} instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
        n_init = 1
        init = check_array(init, dtype=X.dtype, copy=True, order="C")
        est._validate_center_shape(X, init)
        init = init - x_mean
    elif isinstance(init, str) and sample_weight is not None:
        if bool((sample_weight < 0).any().compute()):
            raise ValueError(
                f"init={init!r} samples points with probability proportional to "
                "sample_weight, which has negative values: probabilities are not "
                "non-negative. Pass non-negative sample_weight."
            )
    est._n_init = n_init
    est._algorithm = est.algorithm
    random_state = check_random_state(est.random_state)

    mapper = _BlockMapper(X, sample_weight)
    best = None
    for _ in range(n_init):
        if isinstance(init, str) and init == "k-means++":
            centers_init = _kmeans_parallel(X, sample_weight, est.n_clusters, random_state, x_mean)
        elif isinstance(init, str) and init == "random":
            idx = _weighted_sample_indices(X, sample_weight, est.n_clusters, random_state)
            centers_init = _gather_rows(X, idx) - x_mean
        elif callable(init):
            centers_init = init(X - x_mean, est.n_clusters, random_state=random_state)
            centers_init = check_array(centers_init, dtype=X.dtype, copy=True, order="C")
            est._validate_center_shape(X, centers_init)
        else:
            centers_init = init
        if est.verbose:
            print("Initialization complete")
        run = _kmeans_single_dask(
            mapper,
            X.chunks[0],
            centers_init.astype(X.dtype),
            x_mean,
            est.max_iter,
            est._tol,
            est.verbose,
        )
        if best is None or run[1] < best[1]:
            best = run
    label_blocks, inertia, centers, n_iter, counts = best
    distinct_clusters = np.count_nonzero(counts)
    if distinct_clusters < est.n_clusters:
        warnings.warn(
            f"Number of distinct clusters ({distinct_clusters}) found smaller than "
            f"n_clusters ({est.n_clusters}). Possibly due to duplicate points in X.",
            ConvergenceWarning,
            stacklevel=3,
        )
    est.cluster_centers_ = centers + x_mean
    est._n_features_out = est.cluster_centers_.shape[0]
    est.labels_ = _labels_array(X.chunks[0], label_blocks)
    est.inertia_ = inertia
    est.n_iter_ = n_iter
    return est


def _check_fitted_dask(est, X):
    check_is_fitted(est)
    return _check_dask_X(X, dtype=est.cluster_centers_.dtype, estimator=est, reset=False)


def _predict_block(X, centers):
    X = np.ascontiguousarray(X)
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    return _label_block(X, np.zeros(X.shape[1], dtype=X.dtype), centers)


def _predict_dask(est, X):
    """Lazy labels, chunked as the rows of ``X``."""
    X = _check_fitted_dask(est, X)
    return X.map_blocks(
        _predict_block,
        est.cluster_centers_,
        dtype=np.int32,
        drop_axis=1,
        meta=np.empty(0, np.int32),
    )


def _transform_block(X, centers):
    X = np.ascontiguousarray(X)
    dtype = np.result_type(X.dtype, centers.dtype)
    X = np.ascontiguousarray(X, dtype=dtype)
    out = np.empty((X.shape[0], centers.shape[0]), dtype=dtype)
    with _task_threads():
        _euclidean_dense(X, np.ascontiguousarray(centers.T, dtype=dtype), out)
    return out


def _transform_dask(est, X):
    """Lazy distances to the centres, chunked as the rows of ``X``."""
    X = _check_fitted_dask(est, X)
    centers = est.cluster_centers_
    dtype = np.result_type(X.dtype, centers.dtype)
    return X.map_blocks(
        _transform_block,
        centers,
        dtype=dtype,
        chunks=(X.chunks[0], (centers.shape[0],)),
        meta=np.empty((0, 0), dtype),
    )


def _score_block(X, sample_weight, centers):
    X = np.ascontiguousarray(X)
    centers = np.ascontiguousarray(centers, dtype=X.dtype)
    zero = np.zeros(X.shape[1], dtype=X.dtype)
    labels = _label_block(X, zero, centers)
    return _inertia_block(X, sample_weight, labels, zero, centers)


def _score_dask(est, X, sample_weight=None):
    """Opposite of the inertia of ``X`` (computed: a float)."""
    import dask

    X = _check_fitted_dask(est, X)
    sample_weight = _check_dask_sample_weight(sample_weight, X)
    xb, wb = _blocks_and_weights(X, sample_weight)
    parts = dask.compute(
        *[_delayed(_score_block)(x, w, est.cluster_centers_) for x, w in zip(xb, wb)]
    )
    return -float(sum(parts))
