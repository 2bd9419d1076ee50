"""k-means++ on float64 data: the float32 screening pass, exact by a rounding-error bound.

A float32 copy of the centred X, in transposed tiles of ``SCREEN_TILE`` samples, is streamed
instead of X; only the samples the screen cannot rule out get their exact float64
distances, so that the potentials, hence the chosen centres, are those of the plain pass
bit for bit (see :func:`_kmeanspp_trials_screened`).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._kernel_blocks import _block_bounds, _n_blocks, _prefetch
from .._numba_config import CACHE
from ._kmeans_common import _sqdist_rows_shifted

SCREEN_TILE = 16
SCREEN_GROUP = 8
# the float32 screen needs |x - m| well inside float32's range; beyond, the plain pass runs
SCREEN_MAX_NORM = 1e18
# adaptive screening (``_kmeanspp_dense(screen=1)``): the screen runs from the step after one
# where fewer than SCREEN_ON_FRACTION of the samples had a candidate closer than their closest
# centre (with at least SCREEN_MIN_STEPS steps left to pay for the copy), and stops above
# SCREEN_OFF_FRACTION (thresholds from the measured cost of a screened pass, in the docs'
# benchmarks page)
SCREEN_ON_FRACTION = 0.25
SCREEN_OFF_FRACTION = 0.5
SCREEN_MIN_STEPS = 24


@intrinsic
def _screen_tile(typingctx, T, j, S, g, out):
    """``out[c, r] = sum_f (T[j, f, r] - S[8 g + c, f]) ** 2`` for ``c < 8``, ``r < 16``.

    float32 throughout: the tile ``T[j]`` (n_features, 16) holds 16 samples transposed, ``S``
    (n_groups * 8, n_features) the candidates; eight 16-lane accumulators stay in registers
    (one vector load of the tile and eight broadcasts per feature). ``out`` is (>= 8, 16).
    """
    sig = types.void(T, j, S, g, out)

    def codegen(context, builder, signature, args):
        t_ty, j_ty, s_ty, g_ty, out_ty = signature.args
        vec = ir.VectorType(ir.FloatType(), SCREEN_TILE)
        i32 = ir.IntType(32)
        intp = context.get_value_type(types.intp)
        t_arr = context.make_array(t_ty)(context, builder, args[0])
        s_arr = context.make_array(s_ty)(context, builder, args[2])
        out_arr = context.make_array(out_ty)(context, builder, args[4])
        j = context.cast(builder, args[1], j_ty, types.intp)
        c0 = builder.mul(
            context.cast(builder, args[3], g_ty, types.intp), ir.Constant(intp, SCREEN_GROUP)
        )
        n_features = builder.extract_value(t_arr.shape, 1)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma.v16f32"
        )
        accs = []
        for _ in range(SCREEN_GROUP):
            a = cgutils.alloca_once(builder, vec)
            builder.store(ir.Constant(vec, [0.0] * SCREEN_TILE), a)
            accs.append(a)
        splat = ir.Constant(ir.VectorType(i32, SCREEN_TILE), [0] * SCREEN_TILE)
        zero = ir.Constant(intp, 0)
        with cgutils.for_range(builder, n_features) as loop:
            f = loop.index
            xp = cgutils.get_item_pointer(
                context, builder, t_ty, t_arr, [j, f, zero], wraparound=False
            )
            x = builder.load(builder.bitcast(xp, vec.as_pointer()), align=4)
            for c in range(SCREEN_GROUP):
                sp = cgutils.get_item_pointer(
                    context,
                    builder,
                    s_ty,
                    s_arr,
                    [builder.add(c0, ir.Constant(intp, c)), f],
                    wraparound=False,
                )
                s = builder.insert_element(
                    ir.Constant(vec, ir.Undefined), builder.load(sp), ir.Constant(i32, 0)
                )
                s = builder.shuffle_vector(s, ir.Constant(vec, ir.Undefined), splat)
                diff = builder.fsub(x, s)
                builder.store(builder.call(fma, [diff, diff, builder.load(accs[c])]), accs[c])
        for c in range(SCREEN_GROUP):
            op = cgutils.get_item_pointer(
                context, builder, out_ty, out_arr, [ir.Constant(intp, c), zero], wraparound=False
            )
            builder.store(builder.load(accs[c]), builder.bitcast(op, vec.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=CACHE, parallel=True)
def _screen_copy(X, m, tiles, ynorm):
    """The screening copy: ``tiles[j, f, r] = float32(X[16 j + r, f] - m[f])`` (zero past the
    last sample) and ``ynorm[i] = ||X[i] - m||`` (float64). Returns ``max(ynorm)``."""
    n_samples, n_features = X.shape
    n_tiles = tiles.shape[0]
    tile_max = np.zeros(n_tiles)
    for j in prange(n_tiles):
        for r in range(SCREEN_TILE):
            i = j * SCREEN_TILE + r
            if i < n_samples:
                acc = 0.0
                for f in range(n_features):
                    v = np.float64(X[i, f]) - m[f]
                    tiles[j, f, r] = np.float32(v)
                    acc += v * v
                ynorm[i] = math.sqrt(acc)
                tile_max[j] = max(tile_max[j], ynorm[i])
            else:
                for f in range(n_features):
                    tiles[j, f, r] = np.float32(0.0)
    return tile_max.max() if n_tiles > 0 else 0.0


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_screened(
    X, sample_weight, shifted, S, zmax, tiles, ynorm, closest, pots, rows, vals, counts
):
    """:func:`_kmeanspp_trials_dense` through the float32 screening copy: the same ``pots``,
    bit for bit; the capped distances are written for the samples that need them only.

    The screen computes ``q = ||x~ - s~||^2`` in float32, where ``x~ = float32(x - m)`` and
    ``s~ = float32(s - m)`` (``s`` a candidate as the plain pass holds it, ``m`` any shift).
    Each coordinate is within ``eps |.|`` of its exact value (``eps`` just above 2**-24), so
    ``||x - s|| >= sqrt(Q) - e`` with ``e = eps (||x - m|| + ||s - m||)``; the float32 sum
    of squares obeys ``q <= Q (1 + g32)`` and the plain pass's float64 one ``d >= D (1 - g64)``
    (``g = 2 (n_features + 4) u``, above the textbook ``gamma_{n_features + 2}``). With
    ``(a + e)^2 <= a^2 (1 + eta) + e^2 (1 + 1 / eta)``, ``q >= thr`` where
    ``thr = (cl (1 + eta) / (1 - g64) + e^2 (1 + 1 / eta) + 2**-100) (1 + g32)`` (rounded up)
    proves ``d >= cl``: the capped distance is ``cl`` (the ``2**-100`` covers underflow).
    A sample with a candidate below ``thr`` is flagged; flagged samples get every
    candidate's exact distance, as the plain pass computes it.

    Parameters
    ----------
    X, sample_weight, closest, pots
        As in :func:`_kmeanspp_trials_dense` (X float64).
    shifted : ndarray of shape (n_trials, n_features), float64
        The candidates in X's frame (``candidate + mean``).
    S : ndarray of shape (n_groups * 8, n_features), float32
        ``float32(shifted - m)``, padded by repeating a candidate.
    zmax : float
        ``max_t ||shifted[t] - m||``.
    tiles, ynorm
        The screening copy of :func:`_screen_copy`.
    rows : ndarray of shape (n_samples,), intp
        Written: block ``b``'s flagged samples, in order, from its first sample's position.
    vals : ndarray of shape (n_samples, n_trials), float64
        Written alongside ``rows``: ``min(closest, ||x - candidate||^2)``.
    counts : ndarray of shape (n_blocks,), intp
        Written: the number of flagged samples of each block.
    """
    n_samples, n_features = X.shape
    n_trials = shifted.shape[0]
    n_groups = S.shape[0] // SCREEN_GROUP
    n_blocks = _n_blocks(n_samples)
    u32 = 2.0**-24
    eps = (1.001 * u32 + 2.0**-50) * (1.0 + 2.0**-30)
    g32 = 2.0 * (n_features + 4) * u32
    g64 = 2.0 * (n_features + 4) * 2.0**-53
    eta = 2.0**-20
    # (1 + 2**-21) covers the float64 rounding of thr and its rounding to float32
    slack = (1.0 + g32) * (1.0 + 2.0**-21)
    k1 = (1.0 + eta) / (1.0 - g64) * slack
    k2 = (1.0 + 1.0 / eta) * slack
    k3 = 2.0**-100 * slack
    e0 = math.sqrt(n_features) * 2.0**-140 + eps * zmax
    line = max(64 // X.itemsize, 1)
    ahead = 8
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        pot = np.zeros(n_trials)
        out = np.empty((n_groups * SCREEN_GROUP, SCREEN_TILE), dtype=np.float32)
        low = np.empty(SCREEN_TILE, dtype=np.float32)
        cnt = 0
        # 1. screen: list the samples with a candidate below their threshold
        for j in range(start // SCREEN_TILE, (end - 1) // SCREEN_TILE + 1):
            for g in range(n_groups):
                _screen_tile(tiles, j, S, g, out[g * SCREEN_GROUP :])
            base = j * SCREEN_TILE
            for r in range(SCREEN_TILE):
                low[r] = out[0, r]
            for t in range(1, n_trials):
                for r in range(SCREEN_TILE):
                    low[r] = min(low[r], out[t, r])
            for r in range(max(start - base, 0), min(end - base, SCREEN_TILE)):
                e = eps * ynorm[base + r] + e0
                thr = np.float32(closest[base + r] * k1 + e * e * k2 + k3)
                rows[start + cnt] = base + r
                cnt += low[r] < thr
        # 2. exact distances of the flagged samples (all candidates: a ruled-out candidate's
        # distance is >= closest, so the cap gives closest as the plain pass does)
        stop = start + cnt
        for p in range(start, min(start + ahead, stop)):
            for f in range(0, n_features, line):
                _prefetch(X, rows[p], f)
        for p in range(start, stop):
            if p + ahead < stop:
                for f in range(0, n_features, line):
                    _prefetch(X, rows[p + ahead], f)
            i = rows[p]
            cl = closest[i]
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_shifted(X, i, shifted, t))
                vals[p, t] = min(d, cl)
        # 3. potentials, summed in sample order as the plain pass sums them
        p = start
        for i in range(start, end):
            w = sample_weight[i]
            if p < stop and rows[p] == i:
                for t in range(n_trials):
                    pot[t] += np.float64(vals[p, t]) * w
                p += 1
            else:
                v = np.float64(closest[i]) * w
                for t in range(n_trials):
                    pot[t] += v
        counts[b] = cnt
        for t in range(n_trials):
            pots[b, t] = pot[t]


@njit(cache=CACHE, parallel=True)
def _kmeanspp_take_screened(closest, rows, vals, counts, best):
    """``closest`` becomes candidate ``best``'s capped distances (flagged samples only: the
    others keep theirs)."""
    n_samples = closest.shape[0]
    n_blocks = counts.shape[0]
    for b in prange(n_blocks):
        start, _ = _block_bounds(b, n_blocks, n_samples)
        for k in range(counts[b]):
            closest[rows[start + k]] = vals[start + k, best]


@njit(cache=CACHE, parallel=True)
def _screen_shift(X):
    """Column means of X in float64 (block partial sums): the screening copy's centre."""
    n_samples, n_features = X.shape
    n_blocks = _n_blocks(n_samples)
    partial = np.zeros((max(n_blocks, 1), n_features))
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        for i in range(start, end):
            for f in range(n_features):
                partial[b, f] += X[i, f]
    m = np.zeros(n_features)
    for b in range(n_blocks):
        for f in range(n_features):
            m[f] += partial[b, f]
    for f in range(n_features):
        m[f] /= max(n_samples, 1)
    return m
