"""Lloyd's algorithm on dask arrays: the per-block tasks and the client's loop.

Two ways to run, chosen by :class:`~sklearn_deep.utils._dask._BlockMapper`:

* **On the futures of a persisted X** (a ``distributed`` cluster): each block keeps its
  k-means state on the worker that holds it -- labels, the Yinyang/Hamerly distance bounds
  and the running per-cluster sums of the in-memory kernel -- so an iteration runs the same
  bounded kernel as in memory (:func:`_yinyang_iter_dense`), which skips the samples whose
  bounds prove that their label stays and only moves the samples whose label changed. One
  task per block per iteration updates the state in place and a second, tiny one hands its
  ``O(n_clusters * n_features)`` statistics to a tree reduction; only these travel.
* **Otherwise** (lazily built X, local schedulers): each iteration computes a graph of
  stateless plain Lloyd passes (:func:`_lloyd_iter_dense`) over the blocks as they are read
  or recomputed from their source; nothing but the statistics is kept.

Both stop exactly as in memory. Strict convergence (no label changed) needs no labels from
the previous pass in the stateless case: when no label changes, the sums, hence the new
centres, are those of the previous pass bit for bit, their shift is zero and the tolerance
test (``shift <= tol``, ``tol >= 0``) stops the loop at the same iteration; the labels are
then recomputed for the returned centres, as in memory.
"""

import numpy as np

from .._kernel_blocks import n_blocks
from ..utils._dask import _first, _second, _task_threads
from ._kmeans_bounds import _yinyang_iter_dense
from ._kmeans_common import _finish_mstep, _inertia_dense, _reduce_blocks, _row_sq_norms
from ._kmeans_core import (
    _bound_eps,
    _center_groups,
    _gemm_delta_scale,
    _n_groups,
    _sq_norms,
    _threads_for,
)
from ._kmeans_lloyd import _lloyd_iter_dense

###############################################################################
# per-block tasks (run on the workers)


def _ones_like_rows(X, sample_weight):
    if sample_weight is None:
        return np.ones(X.shape[0], dtype=X.dtype)
    return np.ascontiguousarray(sample_weight, dtype=X.dtype)


def _label_block(X, x_mean, centers, sample_weight=None, sums=False):
    """Labels of ``X - x_mean`` (the plain E-step kernel) and, with ``sums``, the reduced
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


def _inertia_block(X, sample_weight, labels, x_mean, centers):
    X = np.ascontiguousarray(X)
    if X.shape[0] == 0:
        return 0.0
    sw = _ones_like_rows(X, sample_weight)
    with _task_threads():
        return float(_inertia_dense(X, x_mean, sw, centers, labels, -1))


def _lloyd_stats_block(X, sample_weight, x_mean, centers, with_inertia):
    """One stateless Lloyd pass on a block: ``(centers_sum, weight_in_clusters, inertia)``;
    ``inertia`` (of the old centres) only ``with_inertia``."""
    labels, centers_sum, weight = _label_block(X, x_mean, centers, sample_weight, sums=True)
    inertia = _inertia_block(X, sample_weight, labels, x_mean, centers) if with_inertia else 0.0
    return centers_sum, weight, inertia


def _final_block(X, sample_weight, x_mean, centers):
    """Labels for the final centres, the block's inertia and label counts."""
    labels = _label_block(X, x_mean, centers)
    inertia = _inertia_block(X, sample_weight, labels, x_mean, centers)
    return labels, (inertia, np.bincount(labels, minlength=centers.shape[0]))


class _BoundsState:
    """The k-means state of one block kept on its worker between iterations (the buffers
    of the in-memory ``_kmeans_single`` for the block's rows)."""

    def __init__(self, X, x_mean, n_clusters, n_groups):
        n, n_features = X.shape
        nb = n_blocks(n)
        self.iteration = -1
        self.labels = np.full(n, -1, dtype=np.int32)
        self.upper = np.zeros(n)
        self.lower = np.zeros((n, n_groups))
        self.x_sq = np.empty(n)
        self.sums = np.zeros((nb, n_clusters, n_features))
        self.wsums = np.zeros((nb, n_clusters))
        self.counts = np.zeros((nb, n_clusters), dtype=np.int64)
        self.n_changed = np.zeros(nb, dtype=np.int64)
        if n:
            with _task_threads():
                _row_sq_norms(X, x_mean, self.x_sq)


def _bounds_step_block(X, sample_weight, previous, iteration, update_centers, m):
    """One bounded Lloyd pass on a block, updating its state in place.

    ``previous`` is the block's ``(state, stats)`` of the previous pass (None before the
    first); ``m`` the client's ``dict`` of centres, ``half_sep``, ``shift`` and the
    constant bound parameters. Returns ``(state, (centers_sum, weight_in_clusters,
    n_changed))``.
    """
    X = np.ascontiguousarray(X)
    centers = m["centers"]
    n_clusters, n_features = centers.shape
    if previous is None:
        state = _BoundsState(X, m["x_mean"], n_clusters, m["gstart"].shape[0] - 1)
    else:
        state = previous[0]
    if state.iteration != iteration - 1:
        # the state is updated in place: a pass must run once, in order
        raise RuntimeError(
            f"k-means state of a block at iteration {state.iteration} given to pass "
            f"{iteration}: a task ran twice (a worker was lost?). Fit again."
        )
    n = X.shape[0]
    if n:
        sw = _ones_like_rows(X, sample_weight)
        with _task_threads(), _threads_for(n, n_clusters, n_features):
            _yinyang_iter_dense(
                X,
                m["x_mean"],
                sw,
                centers,
                np.ascontiguousarray(centers.T),
                _sq_norms(centers),
                state.x_sq,
                m["perm"],
                m["gstart"],
                m["half_sep"],
                m["shift"],
                state.upper,
                state.lower,
                state.labels,
                state.sums,
                state.wsums,
                state.counts,
                state.n_changed,
                iteration > 0,
                update_centers,
                m["eps"],
                m["delta_scale"],
            )
    state.iteration = iteration
    centers_sum = np.empty((n_clusters, n_features))
    weight_in_clusters = np.empty(n_clusters)
    _reduce_blocks(state.sums, state.wsums, centers_sum, weight_in_clusters)
    return state, (centers_sum, weight_in_clusters, int(state.n_changed.sum()))


def _bounds_final_block(X, sample_weight, previous, x_mean, centers):
    """The labels of a block's state and ``(inertia, label counts)``."""
    labels = previous[0].labels
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


def _farthest_block(X, sample_weight, labels, offset, x_mean, centers, n_far):
    """The ``n_far`` samples of the block farthest from their assigned centre:
    ``(distances, global indices, rows of X - x_mean, weights, labels)``; ``labels`` is
    the block's ``(state, stats)`` pair, or None to label the block first."""
    X = np.ascontiguousarray(X)
    if labels is None:
        labels = _label_block(X, x_mean, centers)
    else:
        labels = labels[0].labels
    d = _sq_dist_to_assigned(X, x_mean, centers, labels)
    n_far = min(n_far, X.shape[0])
    idx = np.argpartition(d, -n_far)[-n_far:] if n_far else np.empty(0, dtype=np.intp)
    sw = _ones_like_rows(X, sample_weight)
    return d[idx], idx + offset, X[idx] - x_mean, sw[idx], labels[idx]


###############################################################################
# client side


def _offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64)


def _relocate_empty_dask(
    mapper, chunks, label_blocks, x_mean, centers_old, centers_sum, weight_in_clusters
):
    """Dask twin of ``_relocate_empty_clusters``: empty clusters get the samples farthest
    from their centres (one extra pass, only when a cluster is empty). ``label_blocks``:
    per block, its ``(state, stats)`` future, or None to relabel the block."""
    empty_clusters = np.where(np.equal(weight_in_clusters, 0))[0]
    n_empty = empty_clusters.shape[0]
    if n_empty == 0:
        return
    if label_blocks is None:
        label_blocks = [None] * mapper.n_blocks
    parts = mapper.compute(
        _farthest_block,
        mapper.w,
        label_blocks,
        _offsets(chunks),
        x_mean=x_mean,
        centers=centers_old,
        n_far=n_empty,
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


def _kmeans_single_dask(mapper, chunks, centers_init, x_mean, max_iter, tol, verbose):
    """Lloyd's algorithm on a dask array, the dask twin of ``_kmeans_single``.

    Parameters
    ----------
    mapper : _BlockMapper
        Over X and sample_weight.
    chunks : tuple of int
        X's row chunks.
    centers_init : ndarray of shape (n_clusters, n_features)
        In the centred coordinates of ``X - x_mean``.

    Returns
    -------
    labels : list of dask.delayed or distributed.Future
        One int32 array per row block, held by the workers.
    inertia : float
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    label_counts : ndarray of shape (n_clusters,)
    """
    dtype = np.asarray(centers_init).dtype
    centers = np.array(centers_init, dtype=dtype, order="C")
    centers_new = np.zeros_like(centers)
    n_clusters, n_features = centers.shape
    center_shift = np.zeros(n_clusters)
    half_sep = np.zeros(n_clusters)
    bounded = mapper.on_futures and n_clusters > 1
    if bounded:
        perm, gstart = _center_groups(centers, _n_groups(n_clusters, dtype))
        eps = _bound_eps(dtype, n_features)
        const = dict(
            x_mean=x_mean,
            perm=perm,
            gstart=gstart,
            eps=eps,
            delta_scale=_gemm_delta_scale(dtype, n_features),
        )
        state = [None] * mapper.n_blocks

        def bounded_pass(i, update_centers):
            m = dict(const, centers=centers, half_sep=half_sep, shift=center_shift)
            return mapper.submit(
                _bounds_step_block,
                mapper.x,
                mapper.w,
                state,
                iteration=i,
                update_centers=update_centers,
                m=m,
            )

    else:
        eps = 0.0
    strict_convergence = False
    for i in range(max_iter):
        if bounded:
            state = bounded_pass(i, True)
            centers_sum, weight_in_clusters, n_changed = mapper.gather_sum(
                mapper.submit(_second, state)
            )
            inertia = None
        else:
            centers_sum, weight_in_clusters, inertia = mapper.sum(
                _lloyd_stats_block,
                mapper.w,
                x_mean=x_mean,
                centers=centers,
                with_inertia=bool(verbose),
            )
            n_changed = None
        if not np.all(weight_in_clusters):
            _relocate_empty_dask(
                mapper,
                chunks,
                state if bounded else None,
                x_mean,
                centers,
                centers_sum,
                weight_in_clusters,
            )
        _finish_mstep(
            centers_sum,
            weight_in_clusters,
            centers,
            centers_new,
            center_shift,
            half_sep,
            eps,
            bounded,
        )
        if verbose and inertia is not None:
            print(f"Iteration {i}, inertia {inertia}.")
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
    if bounded:
        if not strict_convergence:
            # labels for the returned centres (the bounds skip most samples)
            state = bounded_pass(i + 1, False)
        finals = mapper.submit(
            _bounds_final_block, mapper.x, mapper.w, state, x_mean=x_mean, centers=centers
        )
        labels = mapper.submit(_first, finals)
        inertia, counts = mapper.gather_sum(mapper.submit(_second, finals))
        del state, finals
    else:
        labels, inertia, counts = _final_pass(mapper, x_mean, centers)
    return labels, float(inertia), centers, i + 1, counts


def _final_pass(mapper, x_mean, centers):
    """Labels (persisted per block) for ``centers``, the inertia and the label counts."""
    import dask

    final = dask.delayed(_final_block, pure=True, nout=2)
    parts = [final(x, w, x_mean, centers) for x, w in zip(mapper.x, mapper.w)]
    labels = list(dask.persist(*[p[0] for p in parts]))
    stats = dask.compute(*[p[1] for p in parts])
    inertia = float(sum(s[0] for s in stats))
    counts = np.sum([s[1] for s in stats], axis=0)
    return labels, inertia, counts


def _labels_array(chunks, label_blocks):
    """A dask array of the per-block label results (delayed or futures)."""
    import dask.array as da

    return da.concatenate(
        [da.from_delayed(lab, shape=(n,), dtype=np.int32) for lab, n in zip(label_blocks, chunks)]
    )
