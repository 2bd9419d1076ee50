"""KMeans on dask arrays: Lloyd iterations mapped over the row blocks on the workers.

:class:`~sklearn_deep.cluster.KMeans` dispatches here when ``X`` is a ``dask.array.Array``.
Each Lloyd iteration runs one task per row block: the Numba E-step kernel labels the block
and returns its per-cluster weighted sums and weights (``O(n_clusters * n_features)``);
the client adds them up and computes the new centres. Labels stay on the workers
(``dask.persist``) so that strict convergence (no label changed) is detected as in memory.
Samples are clustered centred on the column means, as in memory, so that from the same
initial centres the labels are identical and the inertia agrees to rounding.

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

from .._kernel_blocks import n_blocks
from ..utils._dask import (
    _block_seeds,
    _check_dask_sample_weight,
    _check_dask_X,
    _column_mean_var,
    _row_blocks,
    _task_threads,
)
from ._kmeans_common import _euclidean_dense, _finish_mstep, _inertia_dense, _reduce_blocks
from ._kmeans_core import _sq_norms, _threads_for
from ._kmeans_lloyd import _lloyd_iter_dense

# rounds of k-means|| sampling (Spark MLlib's default initSteps is 2; 5 follows Bahmani et
# al.'s observation that a few rounds with oversampling 2k match k-means++'s quality)
_KMEANS_PARALLEL_ROUNDS = 5


###############################################################################
# per-block tasks (run on the workers)


def _ones_like_rows(X, sample_weight):
    if sample_weight is None:
        return np.ones(X.shape[0], dtype=X.dtype)
    return np.ascontiguousarray(sample_weight, dtype=X.dtype)


def _label_block(X, x_mean, centers, sample_weight=None, sums=False):
    """Labels of ``X - x_mean`` (the E-step kernel) and, with ``sums``, the reduced
    per-cluster weighted sums and weights of the block (float64)."""
    X = np.ascontiguousarray(X)
    sw = _ones_like_rows(X, sample_weight)
    n = X.shape[0]
    n_clusters, n_features = centers.shape
    labels = np.full(n, -1, dtype=np.int32)
    nb = n_blocks(n)  # the kernel writes n_changed[b] for every block b
    shape = (nb, n_clusters) if sums else (nb, 0)
    block_sums = np.zeros(shape + ((n_features,) if sums else (0,)))
    wsums = np.zeros(shape)
    counts = np.zeros(shape, dtype=np.int64)
    n_changed = np.zeros(nb, dtype=np.int64)
    if n:
        with _task_threads(), _threads_for(n, n_clusters, n_features):
            _lloyd_iter_dense(
                X,
                x_mean,
                sw,
                np.ascontiguousarray(centers.T),
                _sq_norms(centers),
                labels,
                block_sums,
                wsums,
                counts,
                n_changed,
                sums,
            )
    if not sums:
        return labels
    centers_sum = np.empty((n_clusters, n_features))
    weight_in_clusters = np.empty(n_clusters)
    _reduce_blocks(block_sums, wsums, centers_sum, weight_in_clusters)
    return labels, centers_sum, weight_in_clusters


def _lloyd_block(X, sample_weight, prev_labels, x_mean, centers, with_inertia):
    """One Lloyd E-step on a block: ``(labels, (centers_sum, weight_in_clusters,
    n_changed, inertia))``; ``inertia`` (of the old centres) only ``with_inertia``."""
    labels, centers_sum, weight = _label_block(X, x_mean, centers, sample_weight, sums=True)
    n_changed = labels.shape[0] if prev_labels is None else int(np.sum(labels != prev_labels))
    inertia = 0.0
    if with_inertia:
        inertia = _inertia_block(X, sample_weight, labels, x_mean, centers)
    return labels, (centers_sum, weight, n_changed, inertia)


def _inertia_block(X, sample_weight, labels, x_mean, centers):
    X = np.ascontiguousarray(X)
    if X.shape[0] == 0:
        return 0.0
    sw = _ones_like_rows(X, sample_weight)
    with _task_threads():
        return float(_inertia_dense(X, x_mean, sw, centers, labels, -1))


def _final_block(X, sample_weight, x_mean, centers):
    """Labels for the final centres, the block's inertia and label counts."""
    labels = _label_block(X, x_mean, centers)
    inertia = _inertia_block(X, sample_weight, labels, x_mean, centers)
    return labels, (inertia, np.bincount(labels, minlength=centers.shape[0]))


def _sq_dist_to_assigned(X, x_mean, centers, labels):
    """float64 squared distance of each row of ``X - x_mean`` to ``centers[labels]``."""
    out = np.empty(X.shape[0])
    step = 1 << 14
    for s in range(0, X.shape[0], step):
        diff = X[s : s + step] - x_mean
        diff -= centers[labels[s : s + step]]
        out[s : s + step] = np.einsum("ij,ij->i", diff, diff, dtype=np.float64)
    return out


def _farthest_block(X, sample_weight, labels, x_mean, centers, n_far, offset):
    """The ``n_far`` samples of the block farthest from their assigned centre:
    ``(distances, global indices, rows of X - x_mean, weights, labels)``."""
    X = np.ascontiguousarray(X)
    d = _sq_dist_to_assigned(X, x_mean, centers, labels)
    n_far = min(n_far, X.shape[0])
    idx = np.argpartition(d, -n_far)[-n_far:] if n_far else np.empty(0, dtype=np.intp)
    sw = _ones_like_rows(X, sample_weight)
    return d[idx], idx + offset, X[idx] - x_mean, sw[idx], labels[idx]


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


def _relocate_empty_dask(
    X, sample_weight, labels, x_mean, centers_old, centers_sum, weight_in_clusters
):
    """Dask twin of ``_relocate_empty_clusters``: empty clusters get the samples farthest
    from their centres (one extra pass, only when a cluster is empty)."""
    import dask

    empty_clusters = np.where(np.equal(weight_in_clusters, 0))[0]
    n_empty = empty_clusters.shape[0]
    if n_empty == 0:
        return
    xb, wb = _blocks_and_weights(X, sample_weight)
    parts = dask.compute(
        *[
            _delayed(_farthest_block)(x, w, lab, x_mean, centers_old, n_empty, off)
            for x, w, lab, off in zip(xb, wb, labels, _offsets(X))
        ]
    )
    d = np.concatenate([p[0] for p in parts])
    if d.size == 0 or np.max(d) == 0:
        return
    rows = np.concatenate([p[2] for p in parts])
    sw = np.concatenate([p[3] for p in parts])
    lab = np.concatenate([p[4] for p in parts])
    far = np.argsort(-d, kind="stable")[:n_empty]
    for idx in range(n_empty):
        new_cluster_id = empty_clusters[idx]
        far_idx = far[idx]
        weight = sw[far_idx]
        old_cluster_id = lab[far_idx]
        row = rows[far_idx]
        centers_sum[old_cluster_id] -= row * weight
        centers_sum[new_cluster_id] = row * weight
        weight_in_clusters[new_cluster_id] = weight
        weight_in_clusters[old_cluster_id] -= weight


def _kmeans_single_dask(X, sample_weight, centers_init, x_mean, max_iter, tol, verbose):
    """Lloyd's algorithm on a dask array, the dask twin of ``_kmeans_single``.

    Returns
    -------
    labels : list of persisted dask.delayed
        One int32 array per row block.
    inertia : float
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    label_counts : ndarray of shape (n_clusters,)
    """
    import dask

    xb, wb = _blocks_and_weights(X, sample_weight)
    centers = np.array(centers_init, dtype=X.dtype, order="C")
    centers_new = np.zeros_like(centers)
    n_clusters, n_features = centers.shape
    labels = [None] * len(xb)
    center_shift = np.zeros(n_clusters)
    half_sep = np.empty(n_clusters)
    step = _delayed(_lloyd_block, nout=2)
    strict_convergence = False
    for i in range(max_iter):
        parts = [
            step(x, w, lab, x_mean, centers, bool(verbose)) for x, w, lab in zip(xb, wb, labels)
        ]
        labels = list(dask.persist(*[p[0] for p in parts]))
        stats = dask.compute(*[p[1] for p in parts])
        centers_sum = np.sum([s[0] for s in stats], axis=0)
        weight_in_clusters = np.sum([s[1] for s in stats], axis=0)
        n_changed = sum(s[2] for s in stats)
        if not np.all(weight_in_clusters):
            _relocate_empty_dask(
                X, sample_weight, labels, x_mean, centers, centers_sum, weight_in_clusters
            )
        _finish_mstep(
            centers_sum,
            weight_in_clusters,
            centers,
            centers_new,
            center_shift,
            half_sep,
            0.0,
            False,
        )
        if verbose:
            print(f"Iteration {i}, inertia {sum(s[3] for s in stats)}.")
        centers, centers_new = centers_new, centers
        if i > 0 and n_changed == 0:
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            strict_convergence = True
            break
        center_shift_tot = (center_shift**2).sum()
        if center_shift_tot <= tol:
            if verbose:
                print(
                    f"Converged at iteration {i}: center shift "
                    f"{center_shift_tot} within tolerance {tol}."
                )
            break
    del strict_convergence  # the final pass below labels with the returned centres anyway
    final = _delayed(_final_block, nout=2)
    parts = [final(x, w, x_mean, centers) for x, w in zip(xb, wb)]
    labels = list(dask.persist(*[p[0] for p in parts]))
    stats = dask.compute(*[p[1] for p in parts])
    inertia = float(sum(s[0] for s in stats))
    counts = np.sum([s[1] for s in stats], axis=0)
    return labels, inertia, centers, i + 1, counts


def _labels_array(X, label_blocks):
    import dask.array as da

    return da.concatenate(
        [
            da.from_delayed(lab, shape=(n,), dtype=np.int32)
            for lab, n in zip(label_blocks, X.chunks[0])
        ]
    )


###############################################################################
# estimator entry points (called by KMeans when X is a dask array)


def _fit_dask(est, X, sample_weight=None):
    """``KMeans.fit`` on a dask array (parameters already validated by ``_fit_context``)."""
    X = _check_dask_X(X, estimator=est, reset=True)
    if X.shape[0] < est.n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={est.n_clusters}.")
    sample_weight = _check_dask_sample_weight(sample_weight, X)
    x_mean, variances = _column_mean_var(X)
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
            X,
            sample_weight,
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
    est.labels_ = _labels_array(X, label_blocks)
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
