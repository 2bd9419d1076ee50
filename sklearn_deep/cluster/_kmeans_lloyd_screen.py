"""k-means kernels: plain Lloyd passes on float64 data, screened in float32.

The samples are ranked by the float32 micro-kernel (half the work and the registers of the
float64 one); a rounding-error bound then tells, for each sample, whether its float32 best
centre is certainly the float64 one: the gap between its smallest and second smallest
float32 values must exceed twice the bound. Every other sample (a near-tie, or values out
of float32's range) is ranked again in float64 with the arithmetic of the float64
micro-kernel, operation for operation (:func:`_exact_best`), so that the labels and the
running centre sums are those of the float64 plain pass, bit for bit.

The bound. For the centred sample ``x`` and a centre ``c`` (float64), the float64 kernel
computes ``V = fl(csq - 2 fl(<c, x>))`` and the float32 kernel ``W = fl32(fl32(csq) - 2
fl32(<fl32(c), fl32(x)>))``, each product chain a sequence of fused multiply-adds over the
``d`` features. With ``u = 2**-24``, ``S = sum_p |c_p x_p| <= ||c|| ||x||`` and ``gamma_d =
d u / (1 - d u)``, both differ from the exact ``csq - 2 <c, x>`` by at most ``u csq + 2 (2 u
+ u**2 + gamma_d (1 + u)**2) S + u |W|`` (the float64 terms are 2**29 times smaller), and
``|W| <= csq + 2 S (1 + ...)``: below ``u (2 csq + (2 d + 6) ||c|| ||x||)`` up to second-
order terms, which the factor ``SCREEN_SAFETY`` covers, with ``csq`` and ``||c||`` taken at
their largest over the centres. ``||x||`` is the largest over the tile of 128 samples, from
the float32 tile itself (relative error below ``(d + 2) u``). Values below float32's normal
range lose at most ``2**-150`` each (the rounded inputs, products and sums): absolute terms
in ``d 2**-149 (1 + ||c|| + ||x||)`` cover them. Centres beyond ``SCREEN_MAX_NORM`` turn the
screen off; a sample whose values overflow gets a non-finite gap or bound and is ranked in
float64.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._kernel_blocks import (
    TILE_SAMPLES,
    TILE_STRIDE,
    _block_bounds,
    _gather_transposed,
    _n_blocks,
    _pad4,
    _prefetch,
    for_each_block_threads,
    n_blocks,
)
from .._numba_config import CACHE
from ._kmeans_common import _relabel_rows
from ._kmeans_rank import _rank_tile

# the screen needs |x - mean| and the centres well inside float32's range (squares < 3e38)
SCREEN_MAX_NORM = 1e18
SCREEN_SAFETY = 1.25
_U32 = 2.0**-24


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (float64), the scalar form of the micro-kernel's fma."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(f64, [f64, f64, f64]), "llvm.fma.f64"
        )
        return builder.call(fn, args)

    return sig, codegen


def screen_bound(centers_sq, n_features):
    """``(a, b)`` of the screen's bound ``a + b ||x||`` on the error of either kernel's value,
    or None when the centres are too large for float32 (see the module docstring)."""
    max_csq = float(np.max(centers_sq)) if centers_sq.shape[0] else 0.0
    c_max = math.sqrt(max_csq)
    if not c_max <= SCREEN_MAX_NORM:
        return None
    u = _U32 + 2.0**-52  # the float64 kernel's own rounding, counted in
    d = n_features
    a = SCREEN_SAFETY * (2.0 * u * max_csq + (4 * d + 8) * 2.0**-149 * (1.0 + c_max))
    b = SCREEN_SAFETY * (u * (2 * d + 6) * c_max * (1.0 + (d + 2) * _U32) + d * 2.0**-149)
    return a, b


@njit(cache=CACHE)
def _pack_centers_f32(U, csq):
    """float32 copies of the packed centres ``U`` and their norms ``csq`` (inf stays inf)."""
    U32 = np.empty(U.shape, dtype=np.float32)
    for f in range(U.shape[0]):
        for j in range(U.shape[1]):
            U32[f, j] = U[f, j]
    csq32 = np.empty(csq.shape[0], dtype=np.float32)
    for j in range(csq.shape[0]):
        csq32[j] = csq[j]
    return U32, csq32


@njit(cache=CACHE)
def _exact_best(X, mean, i, U, csq, n_clusters):
    """First argmin over the centres of ``csq[j] - 2 <x, c_j>`` for ``x = X[i] - mean``, with
    the float64 micro-kernel's arithmetic: fused multiply-adds over the features in order
    from zero, then a rounded product and a rounded difference."""
    best = 0
    best_val = np.inf
    for j in range(n_clusters):
        acc = 0.0
        for f in range(X.shape[1]):
            acc = _fma(U[f, j], X[i, f] - mean[f], acc)
        twice = 2.0 * acc
        v = csq[j] - twice
        if v < best_val:
            best_val = v
            best = j
    return best


# ---------------------------------------------------------------------------------------------
# float32 sample tiles, transposed once per fit


@njit(cache=CACHE)
def _tile_offsets(n_samples):
    """``offsets[b]``: index of block ``b``'s first tile (``offsets[-1]`` tiles in all); a
    block's tiles start at its first sample, ``TILE_SAMPLES`` samples each."""
    nb = _n_blocks(n_samples)
    offsets = np.zeros(nb + 1, dtype=np.int64)
    for b in range(nb):
        start, end = _block_bounds(b, nb, n_samples)
        offsets[b + 1] = offsets[b] + (end - start + TILE_SAMPLES - 1) // TILE_SAMPLES
    return offsets


@njit(cache=CACHE)
def _tile_block(args, b, start, end):
    """Block ``b``'s tiles of :func:`sample_tiles` and their largest squared norms."""
    X, mean, tiles, offsets, tile_sq = args
    rows = np.arange(start, end)
    sq = np.empty(TILE_SAMPLES, dtype=np.float32)
    t = offsets[b]
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        Xt = tiles[t]
        _gather_transposed(X, mean, rows, s - start, m, Xt)
        tile_sq[t] = _largest_sq_norm(Xt, m, X.shape[1], sq)
        t += 1
    return 0


@njit(cache=CACHE, inline="always")
def _largest_sq_norm(Xt, m, n_features, sq):
    """Largest squared norm (float32 sums) of the ``m`` samples of the float32 tile ``Xt``,
    as float64 (never NaN: a sum of squares; inf when one overflows)."""
    sq[:m] = 0.0
    for f in range(n_features):
        for r in range(m):
            sq[r] += Xt[f, r] * Xt[f, r]
    sq_max = sq[0]
    for r in range(1, m):
        if sq[r] > sq_max:
            sq_max = sq[r]
    return np.float64(sq_max)


def sample_tiles(X, mean):
    """The centred samples ``X - mean`` in float32, transposed in tiles once for a fit.

    Returns ``(tiles, offsets, tile_sq)``: ``tiles`` of shape (n_tiles, n_features_pad4,
    TILE_SAMPLES), each as :func:`~sklearn_deep._kernel_blocks._gather_transposed` writes
    it (the difference in X's dtype, rounded to float32; zero padding), in the order in
    which the block kernels visit them (:func:`_tile_offsets`), and each tile's largest
    squared norm. The plain passes then rank straight from the tiles: no transposition,
    and half the bytes of float64 X read per pass. The copy takes half of float64 X's
    memory (all of float32 X's; scikit-learn copies X to centre it).
    """
    n_samples, n_features = X.shape
    offsets = _tile_offsets(n_samples)
    tiles = np.zeros((offsets[-1], _pad4(n_features), TILE_SAMPLES), dtype=np.float32)
    tile_sq = np.empty(offsets[-1])
    out = np.zeros(n_blocks(n_samples), dtype=np.int64)
    for_each_block_threads(_tile_block, (X, mean, tiles, offsets, tile_sq), n_samples, out)
    return tiles, offsets, tile_sq


def no_tiles(n_features, dtype=np.float32):
    """The ``(tiles, offsets, tile_sq)`` that tell the kernels to transpose on the fly (the
    tiles' ``dtype`` that of the tiles the kernel would rank)."""
    return (
        np.zeros((0, _pad4(n_features), TILE_SAMPLES), dtype=dtype),
        np.zeros(1, dtype=np.int64),
        np.zeros(0),
    )


# ---------------------------------------------------------------------------------------------
# the screened pass


@njit(cache=CACHE)
def _lloyd_block_screened(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of a float64 plain Lloyd pass, ranked in float32
    and checked by the screen's bound (module docstring); returns the number of changed
    labels. ``args``: the data tuple of :func:`~._kmeans_common._relabel_rows` with the
    packed float64 centres ``U`` in the centres' place, then ``update_centers``, ``csq``,
    ``U32``, ``csq32``, the bound's ``a`` and ``b``, the number of centres, then the
    ``(tiles, offsets, tile_sq)`` of :func:`sample_tiles` or :func:`no_tiles`."""
    data, update_centers, csq = args[:8], args[8], args[9]
    U32, csq32, bound_a, bound_b, n_clusters = args[10], args[11], args[12], args[13], args[14]
    tiles, offsets, tile_sq = args[15], args[16], args[17]
    X, mean, U = data[0], data[1], data[3]
    changed = 0
    copied = tiles.shape[0] > 0
    buf = np.zeros((U32.shape[0], 0 if copied else TILE_STRIDE), dtype=np.float32)
    best = np.empty(TILE_SAMPLES, dtype=np.int32)
    b1 = np.empty(TILE_SAMPLES, dtype=np.float32)
    b2 = np.empty(TILE_SAMPLES, dtype=np.float32)
    sq = np.empty(TILE_SAMPLES, dtype=np.float32)
    rows = np.arange(start, end)
    t = offsets[b] if copied else 0
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        if copied:
            Xt = tiles[t]
            sq_max = tile_sq[t]
            t += 1
        else:
            Xt = buf
            _gather_transposed(X, mean, rows, s - start, m, Xt)
            sq_max = _largest_sq_norm(Xt, m, X.shape[1], sq)
        _rank_tile(Xt, m, U32, csq32, best, b1, b2)
        # the bound at the tile's largest ||x||, rounded up to float32 (the float32 gap's
        # own rounding is far inside SCREEN_SAFETY); NaN or inf anywhere: ranked in float64
        x_max = math.sqrt(sq_max)
        thr = np.float32(2.0 * (bound_a + bound_b * x_max) * (1.0 + 4 * _U32))
        for r in range(m):
            if not (b2[r] - b1[r] > thr):
                best[r] = _exact_best(X, mean, s + r, U, csq, n_clusters)
        if copied and update_centers:
            # X itself is read only for the samples that move: fetch their rows ahead (one
            # thread, overlapping data, 20 passes: (1M, 16, 32) 391 -> 357 ms, (100k, 16, 16)
            # 29.7 -> 28.4 ms; a move missed in the cache cost 40-45 ns, 18 in float32)
            labels = data[4]
            for r in range(m):
                if best[r] != labels[s + r]:
                    for f in range(0, X.shape[1], 8):
                        _prefetch(X, s + r, f)
        changed += _relabel_rows(data, rows, s - start, best, m, b, update_centers)
    return changed


def screened_args(data, update_centers, U, csq, n_clusters, tiles):
    """The argument tuple of :func:`_lloyd_block_screened`, or None when the centres are too
    large for the screen. ``data`` is the tuple of :func:`~._kmeans_common._relabel_rows`
    with ``U`` in the centres' place; ``U``, ``csq`` come from
    :func:`~._kmeans_lloyd._pack_centers`; ``tiles`` from :func:`sample_tiles` or
    :func:`no_tiles`."""
    bound = screen_bound(csq[:n_clusters], data[0].shape[1])
    if bound is None:
        return None
    U32, csq32 = _pack_centers_f32(U, csq)
    return (*data, update_centers, csq, U32, csq32, bound[0], bound[1], n_clusters, *tiles)
