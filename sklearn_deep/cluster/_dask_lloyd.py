"""Lloyd's algorithm on dask arrays: the per-block tasks and the client's loop.

Two ways to run, chosen by :class:`~sklearn_deep.utils._dask._BlockMapper`:

* **On the futures of a persisted X** (a ``distributed`` cluster): one actor per worker
  (:class:`_KMeansActor`) holds the worker's blocks and their k-means state -- labels, the
  Yinyang/Hamerly distance bounds and the running per-cluster sums of the in-memory kernel
  -- so an iteration runs the same bounded kernel as in memory (:func:`_yinyang_iter_dense`),
  which skips the samples whose bounds prove that their label stays and only moves the
  samples whose label changed. The client calls each actor once per iteration, directly (no
  scheduler in between), and gets back ``O(n_clusters * n_features)`` statistics.
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
from ..utils._dask import _add_stats, _task_threads
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


class _BlockState:
    """One persisted block of X with its k-means state between iterations: the buffers of
    the in-memory ``_kmeans_single`` for the block's rows (labels, Yinyang/Hamerly bounds,
    squared norms and the running per-cluster sums)."""

    def __init__(self, X, sample_weight):
        self.X = np.ascontiguousarray(X)
        self.sample_weight = _ones_like_rows(self.X, sample_weight)

    def start(self, x_mean, n_clusters, n_groups):
        """Fresh state for a run of ``n_clusters`` centres in ``n_groups`` groups."""
        n, n_features = self.X.shape
        nb = n_blocks(n)
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
                _row_sq_norms(self.X, x_mean, self.x_sq)

    def step(self, first, update_centers, m):
        """One bounded Lloyd pass (:func:`_yinyang_iter_dense`), state updated in place;
        ``m``: the client's centres, ``half_sep``, ``shift`` and bound constants.
        Returns ``(centers_sum, weight_in_clusters, n_changed)``."""
        X = self.X
        centers = m["centers"]
        n_clusters, n_features = centers.shape
        if X.shape[0]:
            with _task_threads(), _threads_for(X.shape[0], n_clusters, n_features):
                _yinyang_iter_dense(
                    X,
                    m["x_mean"],
                    self.sample_weight,
                    centers,
                    np.ascontiguousarray(centers.T),
                    _sq_norms(centers),
                    self.x_sq,
                    m["perm"],
                    m["gstart"],
                    m["half_sep"],
                    m["shift"],
                    self.upper,
                    self.lower,
                    self.labels,
                    self.sums,
                    self.wsums,
                    self.counts,
                    self.n_changed,
                    not first,
                    update_centers,
                    m["eps"],
                    m["delta_scale"],
                )
        centers_sum = np.empty((n_clusters, n_features))
        weight_in_clusters = np.empty(n_clusters)
        _reduce_blocks(self.sums, self.wsums, centers_sum, weight_in_clusters)
        return centers_sum, weight_in_clusters, int(self.n_changed.sum())

    def farthest(self, offset, x_mean, centers, n_far):
        """:func:`_farthest_block` with the block's labels."""
        return _farthest_block(
            self.X, self.sample_weight, self.labels, offset, x_mean, centers, n_far
        )

    def final(self, x_mean, centers):
        """``(inertia, label counts)`` of the current labels for ``centers``."""
        inertia = _inertia_block(self.X, self.sample_weight, self.labels, x_mean, centers)
        return inertia, np.bincount(self.labels, minlength=centers.shape[0])


class _KMeansActor:
    """The persisted blocks of X that one worker holds, with their k-means states.

    A ``distributed`` actor (``Client.submit(..., actor=True)``), one per worker: the client
    calls its methods directly on the worker -- one round trip per call and per worker, no
    scheduler in between -- and gets back only statistics, added over the worker's blocks.

    Parameters
    ----------
    offsets : list of int
        Row offset in X of each block.
    blocks, weights : lists of ndarray
        The blocks of X and of the sample weights (None: unit weights).
    x_mean, n_clusters, n_groups
        Of the run (see :meth:`_BlockState.start`).
    """

    def __init__(self, offsets, blocks, weights, x_mean, n_clusters, n_groups):
        self.offsets = offsets
        self.blocks = [_BlockState(x, w) for x, w in zip(blocks, weights)]
        for b in self.blocks:
            b.start(x_mean, n_clusters, n_groups)

    def step(self, first, update_centers, m):
        return _add_stats(*[b.step(first, update_centers, m) for b in self.blocks])

    def farthest(self, x_mean, centers, n_far):
        parts = [
            b.farthest(off, x_mean, centers, n_far) for b, off in zip(self.blocks, self.offsets)
        ]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(5))

    def final(self, x_mean, centers):
        return _add_stats(*[b.final(x_mean, centers) for b in self.blocks])

    def get_labels(self, j):
        return self.blocks[j].labels


def _actor_labels(actor, j):
    """A task: the labels of block ``j`` of a worker's actor, as a result held there."""
    return actor.get_labels(j).result()


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
    ``(distances, global indices, rows of X - x_mean, weights, labels)``; ``labels`` None:
    label the block first."""
    X = np.ascontiguousarray(X)
    if labels is None:
        labels = _label_block(X, x_mean, centers)
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
    mapper, chunks, actors, x_mean, centers_old, centers_sum, weight_in_clusters
):
    """Dask twin of ``_relocate_empty_clusters``: empty clusters get the samples farthest
    from their centres (one extra pass, only when a cluster is empty). ``actors``: the
    blocks' :class:`_KMeansBlockActor` (their labels), or None to relabel the blocks."""
    empty_clusters = np.where(np.equal(weight_in_clusters, 0))[0]
    n_empty = empty_clusters.shape[0]
    if n_empty == 0:
        return
    if actors is None:
        parts = mapper.compute(
            _farthest_block,
            mapper.w,
            [None] * mapper.n_blocks,
            _offsets(chunks),
            x_mean=x_mean,
            centers=centers_old,
            n_far=n_empty,
        )
    else:
        calls = [a.farthest(x_mean, centers_old, n_empty) for a in actors]
        parts = [c.result() for c in calls]
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
        perm, gstart = _center_groups(centers, _n_groups(n_clusters, n_features, dtype))
        eps = _bound_eps(dtype, n_features)
        const = dict(
            x_mean=x_mean,
            perm=perm,
            gstart=gstart,
            eps=eps,
            delta_scale=_gemm_delta_scale(dtype, n_features),
        )
        actor_futures, actors, groups = mapper.actors(
            _KMeansActor, _offsets(chunks), x_mean, n_clusters, gstart.shape[0] - 1
        )

        def bounded_pass(first, update_centers):
            m = dict(const, centers=centers, half_sep=half_sep, shift=center_shift)
            calls = [a.step(first, update_centers, m) for a in actors]
            return _add_stats(*[c.result() for c in calls])

    else:
        eps = 0.0
    strict_convergence = False
    for i in range(max_iter):
        if bounded:
            centers_sum, weight_in_clusters, n_changed = bounded_pass(i == 0, True)
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
                actors if bounded else None,
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
            bounded_pass(False, False)
        inertia, counts = _add_stats(
            *[c.result() for c in [a.final(x_mean, centers) for a in actors]]
        )
        # the labels become ordinary results on the blocks' workers; then the actors go
        labels = mapper.from_actors(_actor_labels, actor_futures, groups)
        from distributed import wait

        wait(labels)
        del actors, actor_futures
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
