"""k-means kernels: the full rankings of the samples whose bounds fail (Yinyang and Hamerly
passes of :mod:`._kmeans_bounds`), ranked exactly as the plain Lloyd pass ranks them, with
fresh bounds.

The arguments come in the tuples of :func:`._kmeans_bounds._yinyang_iter_dense`:
``data = (X, mean, sample_weight, centers, labels, sums, wsums, counts)``, ``bounds =
(x_sq, half_sep, shift, group_shift, upper, lower, c_max_sq, eps, delta_scale)`` and the
ranking's centres, ``(U, csq)`` (fused tiles) or ``(centers_t, centers_sq, perm, gstart)``
(BLAS)."""

import math

import numpy as np
from numba import njit

from .._kernel_blocks import CHUNK_SIZE, TILE_SAMPLES, TILE_STRIDE, _gather_transposed
from .._numba_config import CACHE
from ._kmeans_common import _relabel_rows
from ._kmeans_rank import _rank_tile


@njit(cache=CACHE)
def _bounded_rows_fused(data, bounds, update_centers, rank, todo, n_todo, b):
    """The rows ``todo[:n_todo]``, gathered and transposed, ranked with the micro-kernel
    :func:`~._kmeans_rank._rank_tile` (``rank = (U, csq)``, as the plain pass ranks them);
    fresh bounds from the smallest and second smallest values (every group gets the lower
    bound on the distance to all the other centres: the fused passes use one group, and
    the bound is valid for any grouping); returns the number of changed labels."""
    X, mean = data[0], data[1]
    x_sq, upper, lower = bounds[0], bounds[4], bounds[5]
    c_max_sq, eps, delta_scale = bounds[6], bounds[7], bounds[8]
    U, csq = rank
    n_groups = lower.shape[1]
    Xt = np.zeros((U.shape[0], TILE_STRIDE), dtype=X.dtype)
    best = np.empty(TILE_SAMPLES, dtype=np.int32)
    b1 = np.empty(TILE_SAMPLES, dtype=X.dtype)
    b2 = np.empty(TILE_SAMPLES, dtype=X.dtype)
    xs = np.empty(TILE_SAMPLES)
    up_t = np.empty(TILE_SAMPLES)
    lo_t = np.empty(TILE_SAMPLES)
    changed = 0
    for t0 in range(0, n_todo, TILE_SAMPLES):
        m = min(TILE_SAMPLES, n_todo - t0)
        _gather_transposed(X, mean, todo, t0, m, Xt)
        _rank_tile(Xt, m, U, csq, best, b1, b2)
        # the bounds in tile order (vectorised), then scattered to the samples
        for r in range(m):
            xs[r] = x_sq[todo[t0 + r]]
        for r in range(m):
            dl_r = delta_scale * (xs[r] + c_max_sq)
            up = xs[r] + b1[r] + dl_r
            lo = xs[r] + b2[r] - dl_r
            up_t[r] = math.sqrt(up if up > 0.0 else 0.0) * (1.0 + eps)
            lo_t[r] = math.sqrt(lo if lo > 0.0 else 0.0) * (1.0 - eps)
        for r in range(m):
            i = todo[t0 + r]
            upper[i] = up_t[r]
            for g in range(n_groups):
                lower[i, g] = lo_t[r]
        changed += _relabel_rows(data, todo, t0, best, m, b, update_centers)
    return changed


@njit(cache=CACHE)
def _bounded_rows_gemm(data, bounds, update_centers, rank, todo, n_todo, b):
    """The rows ``todo[:n_todo]``, gathered and centred, times the centres with BLAS
    (``rank = (centers_t, centers_sq, perm, gstart)``), ranked as the plain pass ranks
    them; fresh per-group bounds; returns the number of changed labels."""
    X, mean = data[0], data[1]
    x_sq, upper, lower = bounds[0], bounds[4], bounds[5]
    c_max_sq, eps, delta_scale = bounds[6], bounds[7], bounds[8]
    centers_t, centers_sq, perm, gstart = rank
    n_features = X.shape[1]
    n_clusters = centers_t.shape[1]
    n_groups = gstart.shape[0] - 1
    buf = np.empty((min(CHUNK_SIZE, n_todo), n_features), dtype=X.dtype)
    vals = np.empty(n_clusters)
    labels_new = np.empty(CHUNK_SIZE, dtype=np.int32)
    changed = 0
    for t0 in range(0, n_todo, CHUNK_SIZE):
        m = min(CHUNK_SIZE, n_todo - t0)
        for r in range(m):
            i = todo[t0 + r]
            for f in range(n_features):
                buf[r, f] = X[i, f] - mean[f]
        D = np.dot(buf[:m], centers_t)
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
            labels_new[r] = best
        changed += _relabel_rows(data, todo, t0, labels_new, m, b, update_centers)
    return changed
