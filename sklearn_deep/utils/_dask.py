"""Shared helpers for estimators that accept dask arrays (the optional ``dask`` extra).

Nothing here imports dask at module level: :func:`_is_dask_array` only looks at the type
of its argument, so ``import sklearn_deep`` works without dask installed.

Design (shared by :mod:`sklearn_deep.cluster._dask_kmeans` and
:mod:`sklearn_deep.mixture._dask_mixture`): each iteration maps a small per-block function
over the row blocks on the workers -- it runs our Numba kernels on the block and returns
sufficient statistics of size ``O(n_clusters * n_features**2)`` -- and the client reduces
these statistics and does the tiny M-step (:class:`_BlockMapper`: tasks on the futures of a
persisted X, else one graph per iteration; actors for per-block state). The samples are
never gathered on the client.
"""

import os
import threading
from contextlib import contextmanager

import numpy as np

from .._numba_config import numba_threads


def _is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing dask)."""
    cls = type(X)
    return cls.__name__ == "Array" and cls.__module__.split(".")[0] == "dask"


def _task_numba_threads():
    """Numba threads used by one task on a worker.

    One by default: a worker already runs ``threads_per_worker`` tasks at once, so one
    Numba thread per task uses the cores the cluster was given and never oversubscribes
    them. Set ``SKLEARN_DEEP_DASK_NUMBA_THREADS`` (in the workers' environment) to change it.
    """
    return max(1, int(os.environ.get("SKLEARN_DEEP_DASK_NUMBA_THREADS", "1")))


# Kernel calls of tasks that share a process run one at a time: the BLAS thread limits the
# kernels set (threadpoolctl) are process-wide. Tasks in different worker processes run in
# parallel; prefer worker processes to threads.
_KERNEL_LOCK = threading.RLock()


@contextmanager
def _task_threads():
    """Context for the kernel calls of one dask task: the process-wide kernel lock and
    :func:`_task_numba_threads` Numba threads."""
    with _KERNEL_LOCK, numba_threads(_task_numba_threads()):
        yield


def _check_dask_X(X, dtype=None, estimator=None, reset=True):
    """Validate a dask array of samples: 2-D, known row chunks, one column chunk.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    dtype : dtype or None
        float32 and float64 are kept; anything else is cast to ``dtype`` (default float64).
    estimator : estimator or None
        With ``reset=True`` its ``n_features_in_`` is set (and ``feature_names_in_``
        removed); with ``reset=False`` the number of features is checked against it.

    Returns
    -------
    X : dask.array.Array
        Float, chunked along rows only.
    """
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D dask array, got a {X.ndim}D one instead: reshape your data "
            "to (n_samples, n_features)."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError(
            "The dask array X has unknown chunk sizes; call X.compute_chunk_sizes() first."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64 if dtype is None else dtype)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    if estimator is not None:
        n_features = X.shape[1]
        if reset:
            estimator.n_features_in_ = n_features
            if hasattr(estimator, "feature_names_in_"):
                del estimator.feature_names_in_
        elif n_features != estimator.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {estimator.__class__.__name__} "
                f"is expecting {estimator.n_features_in_} features as input."
            )
    return X


def _check_dask_sample_weight(sample_weight, X):
    """Sample weights as a dask array with ``X``'s row chunks, in ``X``'s dtype, or None.

    A NumPy array or a scalar is accepted too.
    """
    import dask.array as da

    if sample_weight is None:
        return None
    if np.isscalar(sample_weight):
        return da.full(X.shape[0], sample_weight, dtype=X.dtype, chunks=(X.chunks[0],))
    if not _is_dask_array(sample_weight):
        sample_weight = np.asarray(sample_weight)
        if sample_weight.ndim != 1:
            raise ValueError("Sample weights must be 1D array or scalar")
        sample_weight = da.from_array(sample_weight, chunks=(X.chunks[0],))
    if sample_weight.ndim != 1:
        raise ValueError("Sample weights must be 1D array or scalar")
    if sample_weight.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight.shape == {sample_weight.shape}, expected {(X.shape[0],)}!")
    sample_weight = sample_weight.astype(X.dtype)
    if sample_weight.chunks[0] != X.chunks[0]:
        sample_weight = sample_weight.rechunk((X.chunks[0],))
    return sample_weight


def _row_blocks(X):
    """One ``dask.delayed`` per row block of a 2-D (one column chunk) or 1-D dask array."""
    blocks = X.to_delayed()
    return list(blocks[:, 0] if X.ndim == 2 else blocks)


def _block_seeds(random_state, n_blocks):
    """Independent 32-bit seeds for per-block random draws, from ``random_state``."""
    return random_state.randint(np.iinfo(np.int32).max, size=n_blocks)


def _column_moments_block(X, with_var=True):
    """Count, float64 column sums, sums of squared deviations from the block mean, and
    whether all values are finite, of one block (Chan et al.'s parallel variance)."""
    from ._dask_kernels import _column_moments_dense

    X = np.ascontiguousarray(X)
    s, m2 = _column_moments_dense(X, with_var)
    return X.shape[0], s, m2, bool(np.isfinite(s).all() and np.isfinite(m2).all())


def _column_mean_var(X, with_var=True):
    """Column means and variances of a dask array in one pass (float64), checking that X
    holds no NaN or infinity.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    with_var : bool
        False: the means only (each task reads its block once); ``var`` is zeros.

    Returns
    -------
    mean : ndarray of shape (n_features,), float64
    var : ndarray of shape (n_features,), float64
    """
    parts = _BlockMapper(X).compute(_column_moments_block, with_var=with_var)
    if not all(p[3] for p in parts):
        raise ValueError("Input X contains NaN or infinity.")
    n_tot, mean, m2 = 0, np.zeros(X.shape[1]), np.zeros(X.shape[1])
    for n, s, block_m2, _ in parts:
        if n == 0:
            continue
        block_mean = s / n
        delta = block_mean - mean
        total = n_tot + n
        m2 = m2 + block_m2 + delta**2 * (n_tot * n / total)
        mean = mean + delta * (n / total)
        n_tot = total
    return mean, m2 / max(n_tot, 1)


###############################################################################
# running per-block tasks: futures on a distributed cluster, else dask graphs

# above this many per-block results, they are added on the workers in groups of this many
_FAN_IN = 16


def _distributed_client():
    """The ``distributed.Client`` that dask computes with now, or None (local schedulers)."""
    import dask

    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - dask without distributed
        return None
    get = dask.base.get_scheduler()
    client = getattr(get, "__self__", None)
    return client if isinstance(client, Client) else None


def _persisted_blocks(client, arr):
    """Futures of the row blocks of ``arr`` (in order) when ``arr`` is persisted on
    ``client``'s cluster -- its blocks are results held by the workers, not a computation
    still to run -- else None."""
    from dask.core import flatten
    from distributed import futures_of

    if arr is None:
        return None
    futures = {f.key: f for f in futures_of(arr) if f.client is client}
    keys = list(flatten(arr.__dask_keys__()))
    if not keys or any(k not in futures for k in keys):
        return None
    return [futures[k] for k in keys]


def _add_stats(*parts):
    """Element-wise sum of tuples of sufficient statistics (arrays or numbers; None stays
    None), in the order given."""
    out = list(parts[0])
    for part in parts[1:]:
        for i, value in enumerate(part):
            if value is not None:
                out[i] = out[i] + value
    return tuple(out)


class _BlockMapper:
    """Runs one task per row block of ``X`` (with its ``sample_weight`` block) and brings
    back the small results.

    When dask computes on a ``distributed`` cluster and ``X`` is persisted there, the tasks
    are submitted directly on the futures of its blocks (``Client.map``: no graph to build
    or optimise per iteration; each task runs where its block lives) and the results are
    added on the workers in groups of ``_FAN_IN`` (a tree reduction) before they travel to
    the client. A not persisted ``sample_weight`` is then persisted once (``1 / n_features``
    of ``X``'s size). Otherwise (lazily built ``X``, local schedulers) each call computes
    a graph of the per-block tasks: ``X``'s blocks are read or recomputed from their source
    every time, which keeps the memory needed at one block per task.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One column chunk.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        With ``X``'s row chunks.
    """

    def __init__(self, X, sample_weight=None):
        self.n_blocks = X.numblocks[0]
        self.client = _distributed_client()
        x = None if self.client is None else _persisted_blocks(self.client, X)
        if x is not None:
            w = [None] * self.n_blocks
            if sample_weight is not None:
                w = _persisted_blocks(self.client, sample_weight)
                if w is None:
                    w = _persisted_blocks(self.client, self.client.persist(sample_weight))
            self.x, self.w = x, w
        else:
            self.client = None
            self.x = _row_blocks(X)
            self.w = [None] * self.n_blocks if sample_weight is None else _row_blocks(sample_weight)

    @property
    def on_futures(self):
        """Whether the tasks run on the futures of a persisted ``X``."""
        return self.client is not None

    def submit(self, func, *iterables, **kwargs):
        """Futures of ``func(*args, **kwargs)`` for each ``args`` in ``zip(*iterables)``
        (only :attr:`on_futures`)."""
        return self.client.map(func, *iterables, pure=False, **kwargs)

    def actors(self, cls, offsets, *args):
        """One ``cls(offsets, blocks, weights, *args)`` actor per worker, given the blocks
        that the worker holds, in order (only :attr:`on_futures`). Returns the actor futures (keep
        them while the actors are used), the actor handles and, per actor, the indices of
        its blocks."""
        who_has = self.client.who_has(self.x)
        groups = {}
        for i, x in enumerate(self.x):
            holders = sorted(who_has.get(x.key, ()))
            groups.setdefault(holders[0] if holders else None, []).append(i)
        futures, indices = [], []
        for worker, idx in groups.items():
            futures.append(
                self.client.submit(
                    cls,
                    [int(offsets[i]) for i in idx],
                    [self.x[i] for i in idx],
                    [self.w[i] for i in idx],
                    *args,
                    actor=True,
                    pure=False,
                    workers=None if worker is None else [worker],
                )
            )
            indices.append(idx)
        return futures, [f.result() for f in futures], indices

    def from_actors(self, func, actor_futures, indices):
        """Futures of ``func(actor, j)`` for block ``j`` of each actor, run on the actor's
        worker, in the order of the blocks."""
        out = [None] * self.n_blocks
        who = self.client.who_has(actor_futures)
        for future, idx in zip(actor_futures, indices):
            workers = list(who.get(future.key, ())) or None
            for j, i in enumerate(idx):
                out[i] = self.client.submit(func, future, j, pure=False, workers=workers)
        return out

    def compute(self, func, *iterables, **kwargs):
        """``[func(x, *args, **kwargs) for each block x]`` (``iterables``: one more value
        per block each), computed on the workers; the list of results."""
        if self.on_futures:
            return self.client.gather(self.submit(func, self.x, *iterables, **kwargs))
        import dask

        task = dask.delayed(func, pure=True)
        calls = [task(x, *args, **kwargs) for x, *args in zip(self.x, *iterables)]
        return list(dask.compute(*calls)) if calls else []

    def gather_sum(self, futures):
        """:func:`_add_stats` of the results of ``futures``, reduced on the workers in groups
        of ``_FAN_IN`` first when there are more."""
        while len(futures) > _FAN_IN:
            futures = [
                self.client.submit(_add_stats, *futures[i : i + _FAN_IN], pure=False)
                for i in range(0, len(futures), _FAN_IN)
            ]
        return _add_stats(*self.client.gather(futures))

    def sum(self, func, *iterables, **kwargs):
        """:func:`_add_stats` of :meth:`compute`'s results (tuples of statistics)."""
        if self.on_futures:
            return self.gather_sum(self.submit(func, self.x, *iterables, **kwargs))
        return _add_stats(*self.compute(func, *iterables, **kwargs))
