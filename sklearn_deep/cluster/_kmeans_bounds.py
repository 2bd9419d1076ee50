"""k-means kernels: exact bound-based passes on dense data (Yinyang group bounds; Hamerly's
single bound where the fused tiles rank the centres). A sample is skipped only when its
bounds prove, beyond the rounding error of the ranking, that its label stays: the labels
and centre sums are those of the plain Lloyd pass, bit for bit."""

import math

import numpy as np
from numba import njit

from .._kernel_blocks import TILE_SAMPLES, for_each_block_threads
from .._numba_config import CACHE
from ._kmeans_bounds_rank import _bounded_rows_fused, _bounded_rows_gemm
from ._kmeans_common import _sqdist_one_fast
from ._kmeans_lloyd import _pack_centers, _use_fused

# samples whose widened bounds fail get the exact distance to their own centre and a
# second test only when a full ranking costs more than this many multiply-adds
# (n_clusters * n_features): below, the second test costs more than the rankings it saves
# (measurements in the docs' benchmarks page)
RETEST_MIN_WORK = 2048


# bounds or plain passes. A bounded pass costs a filter over every sample plus, for the
# samples it cannot skip, more than a plain pass (gathered rows, fresh bounds): on
# overlapping clusters, where the bounds skip few samples, plain passes are faster. After a
# bounded pass slower than the last plain pass (or, before any plain pass, one that ranked
# more than BOUNDS_MAX_RANKED of the samples), the next passes are plain, for a run of
# PLAIN_RUN passes that doubles each time the bounds lose again; then a pass that ranks
# every sample and writes fresh bounds, and a bounded pass that is timed again. Every kind
# of pass gives the same labels and sums, bit for bit: the timings choose the speed only.
BOUNDS_MAX_RANKED = 0.5
PLAIN_RUN = 2
# the first passes are plain: the first moves every sample (from no label) and after it the
# centres jump from their seeds, so that bounds kept from it prune nothing (measured: the
# first bounded pass ranked every sample, on separated and on overlapping clusters alike)
PLAIN_START = 2
# ... and the bounds are tried (a pass writing fresh bounds, then a bounded pass) only after
# a plain pass that changed at most this fraction of the labels. The bounds skip only
# samples whose label stays, and while many labels change the centres move far and the
# bounds widen: measured on blobs and overlapping clusters, (100k, 16, 16) to
# (200k, 64, 256), the first bounded pass ranked about 5 to 15 times the fraction of labels
# that the plain pass before it changed (0.8-1.0 of the samples after a pass changing
# 17-19%, 0.02-0.3 after one changing 0.1-2.5%). A try on data where the bounds lose costs
# two passes' time (the fresh bounds are written by a full float64 ranking). 1% rather than
# 2%: measured over 12 shapes, (100k, 16, 16) to (200k, 64, 256), blobs and overlapping,
# both dtypes, 1% was as fast or faster (up to 1.14x on overlapping (1M, 16, 32) float64)
# except on float32 blobs (1M, 16, 32), 4% slower.
BOUNDS_MAX_CHANGED = 0.01


class _PassSchedule:
    """Which pass runs next: ``"bounded"`` (the bounds skip samples), ``"refresh"`` (the
    bounded kernel ranks every sample: fresh bounds) or ``"plain"`` (no bounds kept)."""

    def __init__(self, bounded):
        self.fixed = not bounded
        self.kind = "plain"
        self.plain_left = PLAIN_START
        self.run = PLAIN_RUN
        self.plain_seconds = None

    def after(self, ranked_fraction, seconds, changed_fraction=0.0):
        """Choose the next pass from the last one's fraction of samples ranked in full, its
        duration and the fraction of labels it changed."""
        if self.fixed:
            return
        if self.kind == "bounded":
            if self.plain_seconds is None:
                lost = ranked_fraction > BOUNDS_MAX_RANKED
            else:
                lost = seconds > self.plain_seconds
            if lost:
                self.kind, self.plain_left = "plain", self.run
                self.run *= 2
            else:
                self.run = PLAIN_RUN
        elif self.kind == "refresh":
            self.kind = "bounded"
        else:
            self.plain_seconds = seconds
            self.plain_left -= 1
            if self.plain_left <= 0 and changed_fraction <= BOUNDS_MAX_CHANGED:
                self.kind = "refresh"


# ---------------------------------------------------------------------------------------------
# exact bound-based iterations (dense): Yinyang group bounds, Hamerly's for one group


@njit(cache=CACHE)
def _group_shifts(perm, gstart, shift, eps):
    """Largest centre move per group, widened by ``1 + eps`` (float64, (n_groups,))."""
    n_groups = gstart.shape[0] - 1
    group_shift = np.zeros(n_groups)
    for g in range(n_groups):
        for p in range(gstart[g], gstart[g + 1]):
            if shift[perm[p]] > group_shift[g]:
                group_shift[g] = shift[perm[p]]
        group_shift[g] *= 1.0 + eps
    return group_shift


@njit(cache=CACHE, inline="always")
def _bound_test(u, glb, half_sep_a, two_delta):
    """Whether bounds ``u`` (own centre) and ``glb`` (every other centre) prove the label,
    beyond the rounding error ``two_delta`` of the squared distances."""
    sep = 2.0 * half_sep_a - u
    others = sep if sep > glb else glb
    return (others > u) & (others * others - u * u > two_delta)


@njit(cache=CACHE)
def _bounds_filter(data, bounds, retest, start, end, todo):
    """Widen the bounds of samples ``start:end`` by the centre moves and list in ``todo``
    those whose bounds cannot prove that their label stays; returns their number. See
    :func:`_yinyang_iter_dense` (``data`` and ``bounds`` are its tuples).

    Tiles of samples: a branch-free pass finds the samples whose widened bounds fail; with
    ``retest`` those get the exact distance to their centre and a second test, else they
    go to ``todo`` directly (the lists are compacted without branches: the outcome of a
    bound test is unpredictable).
    """
    X, mean, centers, labels = data[0], data[1], data[3], data[4]
    x_sq, half_sep, shift, group_shift, upper, lower = bounds[:6]
    c_max_sq, eps, delta_scale = bounds[6], bounds[7], bounds[8]
    n_groups = lower.shape[1]
    flagged = np.empty(TILE_SAMPLES, dtype=np.int64)
    ok = np.empty(TILE_SAMPLES, dtype=np.bool_)
    dist = np.empty(TILE_SAMPLES)
    n_todo = 0
    grow = 1.0 + eps
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        if n_groups == 1:  # Hamerly: vectorised over samples (lower as a 1-D view)
            gs = group_shift[0]
            low = lower.reshape(lower.shape[0])
            for r in range(m):
                i = s + r
                a = labels[i]
                u = upper[i] + shift[a] * grow
                glb = low[i] - gs
                low[i] = glb
                upper[i] = u
                two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
                ok[r] = _bound_test(u, glb, half_sep[a], two_delta)
        else:
            for r in range(m):
                i = s + r
                a = labels[i]
                u = upper[i] + shift[a] * grow
                glb = np.inf
                for g in range(n_groups):
                    lg = lower[i, g] - group_shift[g]
                    lower[i, g] = lg
                    glb = lg if lg < glb else glb
                upper[i] = u
                two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
                ok[r] = _bound_test(u, glb, half_sep[a], two_delta)
        n_flagged = 0
        for r in range(m):
            flagged[n_flagged] = s + r
            n_flagged += not ok[r]
        if not retest:
            # ranked in full straight away (fresh bounds come with the ranking)
            for q in range(n_flagged):
                todo[n_todo + q] = flagged[q]
            n_todo += n_flagged
            continue
        for q in range(n_flagged):
            i = flagged[q]
            dist[q] = _sqdist_one_fast(X, mean, i, centers, labels[i])
        for q in range(n_flagged):
            i = flagged[q]
            u = math.sqrt(dist[q]) * grow
            upper[i] = u
            glb = lower[i, 0]
            for g in range(1, n_groups):
                glb = lower[i, g] if lower[i, g] < glb else glb
            two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
            todo[n_todo] = i
            n_todo += not _bound_test(u, glb, half_sep[labels[i]], two_delta)
    return n_todo


@njit(cache=CACHE)
def _todo_list(args, start, end):
    """The samples of ``start:end`` to rank in full (all of them on a pass without bounds)
    and their number; writes that number to ``ranked[b]``."""
    data, bounds, flags = args[:8], args[8:17], args[17:20]
    todo = np.empty(end - start, dtype=np.int64)
    if flags[0]:  # use_bounds
        return todo, _bounds_filter(data, bounds, flags[2], start, end, todo)
    for r in range(end - start):
        todo[r] = start + r
    return todo, end - start


@njit(cache=CACHE)
def _yinyang_block_fused(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_yinyang_iter_dense`, ranked with the
    fused tiles; returns the number of changed labels."""
    todo, n_todo = _todo_list(args, start, end)
    args[20][b] = n_todo
    return _bounded_rows_fused(args[:8], args[8:17], args[18], args[21:], todo, n_todo, b)


@njit(cache=CACHE)
def _yinyang_block_gemm(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_yinyang_iter_dense`, ranked with a
    BLAS product; returns the number of changed labels."""
    todo, n_todo = _todo_list(args, start, end)
    args[20][b] = n_todo
    return _bounded_rows_gemm(args[:8], args[8:17], args[18], args[21:], todo, n_todo, b)


def _yinyang_iter_dense(
    X,
    mean,
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
    counts,
    n_changed,
    use_bounds,
    update_centers,
    eps,
    delta_scale,
    n_ranked=None,
):
    """One Lloyd iteration with Yinyang group bounds; same labels as :func:`_lloyd_iter_dense`.

    The centres are split into groups; each sample keeps an upper bound on the distance to
    its centre and, per group, a lower bound on the distance to the group's other centres.
    After the centres move, a group's bound drops by the largest move in the group only, so
    one centre travelling far does not invalidate every sample's bounds (as with a single
    Hamerly bound, which is the case of one group). Samples whose bounds cannot prove that
    their label stays get all distances, ranked exactly as the plain kernel ranks them
    (fused tiles for few centres, else a BLAS product over chunks), and fresh bounds.

    The bounds are on exact distances. A sample is skipped only when they prove that every
    other centre is farther by more than the rounding error ``delta`` of the computed
    squared distances, ``delta_i = delta_scale * (||x_i||^2 + max_j ||c_j||^2)``, so the
    computed argmin (hence the label) cannot change.

    Parameters
    ----------
    X, mean, sample_weight, centers_t, centers_sq, labels, sums, wsums, counts, n_changed,
    update_centers
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
        False: every sample is ranked in full (the first pass; fresh bounds for all).
    eps : float
        Relative rounding margin of directly computed distances and of the bound updates.
    delta_scale : float
        See above.
    n_ranked : ndarray of shape (n_blocks,), int64, default=None
        Written: the number of samples ranked in full in each block.

    Notes
    -----
    A Python function: it runs one of two serial block kernels (:func:`_yinyang_block_fused`,
    :func:`_yinyang_block_gemm`) over the sample blocks in parallel
    (:func:`~sklearn_deep._kernel_blocks.for_each_block_threads`), so that a fit compiles only the
    kernel it runs, and no large parallel function. Their arguments are one flat tuple,
    ``data + bounds + flags + (n_ranked,) + rank``:
    ``data = (X, mean, sample_weight, centers, labels, sums, wsums, counts)``,
    ``bounds = (x_sq, half_sep, shift, group_shift, upper, lower, c_max_sq, eps,
    delta_scale)``, ``flags = (use_bounds, update_centers, retest)`` and ``rank``, the
    centres as the ranking takes them.
    """
    n_features = X.shape[1]
    n_clusters = centers_t.shape[1]
    group_shift, c_max_sq = _yinyang_prepare(perm, gstart, shift, centers_sq, eps)
    retest = n_clusters * n_features > RETEST_MIN_WORK
    if n_ranked is None:
        n_ranked = np.empty_like(n_changed)
    data = (X, mean, sample_weight, centers, labels, sums, wsums, counts)
    bounds = (x_sq, half_sep, shift, group_shift, upper, lower, c_max_sq, eps, delta_scale)
    head = data + bounds + (bool(use_bounds), bool(update_centers), retest, n_ranked)
    if _use_fused(n_clusters, n_features, X.itemsize):
        rank = _pack_centers(centers_t, centers_sq, X[:0, 0])
        for_each_block_threads(_yinyang_block_fused, head + rank, X.shape[0], n_changed)
    else:
        rank = (centers_t, centers_sq, perm, gstart)
        for_each_block_threads(_yinyang_block_gemm, head + rank, X.shape[0], n_changed)


@njit(cache=CACHE)
def _yinyang_prepare(perm, gstart, shift, centers_sq, eps):
    """Per-pass constants of :func:`_yinyang_iter_dense`: each group's largest centre move
    (widened by ``1 + eps``) and the largest squared centre norm."""
    group_shift = _group_shifts(perm, gstart, shift, eps)
    c_max_sq = 0.0
    for j in range(centers_sq.shape[0]):
        if centers_sq[j] > c_max_sq:
            c_max_sq = centers_sq[j]
    return group_shift, c_max_sq
