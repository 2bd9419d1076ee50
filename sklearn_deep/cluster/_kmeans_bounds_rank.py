"""k-means kernels: the full rankings of the samples whose bounds fail (Yinyang and Hamerly
passes of :mod:`._kmeans_bounds`), ranked exactly as the plain Lloyd pass ranks them, with
fresh bounds."""

import math

import numpy as np
from numba import njit

from .._kernel_blocks import (
    CHUNK_SIZE,
    TILE_SAMPLES,
    TILE_STRIDE,
    _dot_tile4,
    _gather_transposed,
)
from .._numba_config import CACHE
from ._kmeans_common import _move_sample


@njit(cache=CACHE)
def _two_smallest_tile4(acc, m, csq, j, b1, b2, i1):
    """Fold the values ``csq[j + c] - 2 acc[c]`` of the four centres of a tile, in order,
    into the running smallest ``b1`` (first index ``i1``) and second smallest ``b2``
    (one load and store of them per sample; padded centres have ``csq = inf``)."""
    two = acc.dtype.type(2.0)
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    c0 = csq[j]
    c1 = csq[j + 1]
    c2 = csq[j + 2]
    c3 = csq[j + 3]
    j0 = np.int32(j)
    for r in range(m):
        o1 = b1[r]
        o2 = b2[r]
        oi = i1[r]
        v = c0 - two * a0[r]
        lt = v < o1
        o2 = o1 if lt else (v if v < o2 else o2)
        o1 = v if lt else o1
        oi = j0 if lt else oi
        v = c1 - two * a1[r]
        lt = v < o1
        o2 = o1 if lt else (v if v < o2 else o2)
        o1 = v if lt else o1
        oi = j0 + 1 if lt else oi
        v = c2 - two * a2[r]
        lt = v < o1
        o2 = o1 if lt else (v if v < o2 else o2)
        o1 = v if lt else o1
        oi = j0 + 2 if lt else oi
        v = c3 - two * a3[r]
        lt = v < o1
        o2 = o1 if lt else (v if v < o2 else o2)
        o1 = v if lt else o1
        oi = j0 + 3 if lt else oi
        b1[r] = o1
        b2[r] = o2
        i1[r] = oi


@njit(cache=CACHE)
def _bounded_rows_gemm(
    X,
    mean,
    sample_weight,
    centers_t,
    centers_sq,
    x_sq,
    perm,
    gstart,
    upper,
    lower,
    labels,
    sums,
    wsums,
    counts,
    update_centers,
    c_max_sq,
    eps,
    delta_scale,
    todo,
    n_todo,
    b,
):
    """Step 2 of :func:`_yinyang_iter_dense` with BLAS: the rows ``todo[:n_todo]``, gathered
    and centred, times the centres, ranked; fresh bounds; returns the number of changed
    labels."""
    n_features = X.shape[1]
    n_clusters = centers_t.shape[1]
    n_groups = gstart.shape[0] - 1
    buf = np.empty((min(CHUNK_SIZE, n_todo), n_features), dtype=X.dtype)
    vals = np.empty(n_clusters)
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
            if best != labels[i]:
                changed += 1
                if update_centers:
                    _move_sample(
                        X, mean, i, sample_weight[i], labels[i], best, b, sums, wsums, counts
                    )
                labels[i] = best
    return changed


@njit(cache=CACHE)
def _bounded_rows_fused(
    X,
    mean,
    sample_weight,
    U,
    csq,
    x_sq,
    group_of,
    n_groups,
    upper,
    lower,
    labels,
    sums,
    wsums,
    counts,
    update_centers,
    c_max_sq,
    eps,
    delta_scale,
    todo,
    n_todo,
    b,
):
    """Step 2 of :func:`_yinyang_iter_dense` with fused tiles: the rows ``todo[:n_todo]``,
    gathered and transposed, ranked with :func:`_dot_tile4` exactly as in
    :func:`_argmin_fused`, keeping per group the two smallest values (vectorised over
    samples); fresh bounds; returns the number of changed labels."""
    n_clusters = group_of.shape[0]
    dt = X.dtype
    two = dt.type(2.0)
    Xt = np.zeros((U.shape[0], TILE_STRIDE), dtype=dt)
    acc = np.empty((4, TILE_SAMPLES), dtype=dt)
    gb1 = np.empty((n_groups, TILE_SAMPLES), dtype=dt)
    gb2 = np.empty((n_groups, TILE_SAMPLES), dtype=dt)
    gi1 = np.empty((n_groups, TILE_SAMPLES), dtype=np.int32)
    xs = np.empty(TILE_SAMPLES)
    dl = np.empty(TILE_SAMPLES)
    bound = np.empty(TILE_SAMPLES)
    best = np.empty(TILE_SAMPLES, dtype=np.int32)
    best_val = np.empty(TILE_SAMPLES, dtype=dt)
    best_g = np.empty(TILE_SAMPLES, dtype=np.int64)
    changed = 0
    for t0 in range(0, n_todo, TILE_SAMPLES):
        m = min(TILE_SAMPLES, n_todo - t0)
        _gather_transposed(X, mean, todo, t0, m, Xt)
        gb1[:, :m] = np.inf
        gb2[:, :m] = np.inf
        gi1[:, :m] = 0
        for j in range(0, U.shape[1], 4):
            _dot_tile4(Xt, m, U, j, acc)
            if n_groups == 1:
                _two_smallest_tile4(acc, m, csq, j, gb1[0], gb2[0], gi1[0])
                continue
            for c in range(min(4, n_clusters - j)):
                jc = np.int32(j + c)
                g = group_of[jc]
                cs = csq[jc]
                a = acc[c]
                b1 = gb1[g]
                b2 = gb2[g]
                i1 = gi1[g]
                for r in range(m):
                    v = cs - two * a[r]
                    o1 = b1[r]
                    o2 = b2[r]
                    lt1 = v < o1
                    b2[r] = o1 if lt1 else (v if v < o2 else o2)
                    b1[r] = v if lt1 else o1
                    i1[r] = jc if lt1 else i1[r]
        if n_groups == 1:  # Hamerly: the bounds straight from the two smallest values
            b1 = gb1[0]
            b2 = gb2[0]
            i1 = gi1[0]
            for r in range(m):
                i = todo[t0 + r]
                xsq_i = x_sq[i]
                dl_i = delta_scale * (xsq_i + c_max_sq)
                up = xsq_i + b1[r] + dl_i
                lo = xsq_i + b2[r] - dl_i
                upper[i] = math.sqrt(up if up > 0.0 else 0.0) * (1.0 + eps)
                lower[i, 0] = math.sqrt(lo if lo > 0.0 else 0.0) * (1.0 - eps)
            for r in range(m):
                i = todo[t0 + r]
                if i1[r] != labels[i]:
                    changed += 1
                    if update_centers:
                        _move_sample(
                            X, mean, i, sample_weight[i], labels[i], i1[r], b, sums, wsums, counts
                        )
                    labels[i] = i1[r]
            continue
        # the first smallest value over the groups (first index on ties, as the plain
        # kernel's argmin)
        for r in range(m):
            best_val[r] = gb1[0, r]
            best[r] = gi1[0, r]
            best_g[r] = 0
        for g in range(1, n_groups):
            for r in range(m):
                v = gb1[g, r]
                if v < best_val[r] or (v == best_val[r] and gi1[g, r] < best[r]):
                    best_val[r] = v
                    best[r] = gi1[g, r]
                    best_g[r] = g
        for r in range(m):
            i = todo[t0 + r]
            xs[r] = x_sq[i]
            dl[r] = delta_scale * (x_sq[i] + c_max_sq)
        for r in range(m):
            bound[r] = math.sqrt(max(xs[r] + best_val[r] + dl[r], 0.0)) * (1.0 + eps)
        for r in range(m):
            upper[todo[t0 + r]] = bound[r]
        # per group, the smallest value over the centres other than the sample's own
        for g in range(n_groups):
            for r in range(m):
                v = gb2[g, r] if best_g[r] == g else gb1[g, r]
                bound[r] = math.sqrt(max(xs[r] + v - dl[r], 0.0)) * (1.0 - eps)
            for r in range(m):
                lower[todo[t0 + r], g] = bound[r]
        for r in range(m):
            i = todo[t0 + r]
            if best[r] != labels[i]:
                changed += 1
                if update_centers:
                    _move_sample(
                        X, mean, i, sample_weight[i], labels[i], best[r], b, sums, wsums, counts
                    )
                labels[i] = best[r]
    return changed
