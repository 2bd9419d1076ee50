"""Numba kernels for k-means: assignment, centre update, inertia and k-means++ seeding.

Layout conventions
------------------
* Dense data ``X`` is a C-contiguous ``(n_samples, n_features)`` array of float32 or float64;
  centres have the same dtype. Sparse data is CSR, passed as ``(data, indices, indptr)``.
* Dense kernels take a ``mean`` and work on ``X - mean``, computed on the fly exactly as a
  centred copy would hold it (so the estimator centres the data, as scikit-learn does,
  without copying it).
* Samples are split into at most ``MAX_BLOCKS`` contiguous blocks whose boundaries depend only
  on ``n_samples`` (never on the thread count). ``prange`` runs over blocks; each block writes
  its own slice of the partial-sum buffers, which the caller reduces serially in block order.
  Results are therefore bit-identical whatever the number of threads.
* The Lloyd kernels rank centres as scikit-learn does, by ``||c||^2 - 2 <x, c>``. The cross
  term comes from fused register tiles (:func:`_dot_tile4`, in X's dtype, vectorised over
  samples transposed in tiles of ``TILE_SAMPLES``) for at most ``FUSED_MAX_CLUSTERS``
  centres or float32 data, else from a BLAS product over chunks of samples (run with BLAS
  limited to one thread). The bound-based iteration (Yinyang's group bounds; Hamerly's
  single bound with the fused tiles) skips a sample only when its bounds prove, beyond the
  rounding error of that computation, that the label stays: it gives the labels of the
  plain kernel.
* The per-block centre sums are running sums: a pass moves only the samples whose label
  changes (:func:`_move_sample`), in sample order, so the plain and the bounded kernels
  keep bit-identical sums.
* Other distances (transform, inertia, bounds, k-means++) are accumulated directly, feature
  by feature, as ``sum_f (x_f - c_f) ** 2``. The k-means++ steps on float64 data may first
  screen samples in float32 (:func:`_kmeanspp_trials_screened`); a rounding-error bound makes
  the screen exact, so that the potentials stay bit-identical.
* Centre sums, cluster weights, potentials and inertia are accumulated in float64.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._kernel_blocks import for_each_block
from .._numba_config import CACHE

# samples per block are at least this many (small data runs in one block)
CHUNK_SIZE = 256
# the number of blocks never exceeds this; it bounds the partial-sum buffers' size
MAX_BLOCKS = 64
# up to this many centres (any number for float32 data), the ranking products run in the
# fused register-tiled kernel (samples transposed into a (n_features, TILE_SAMPLES) buffer);
# above it, BLAS
FUSED_MAX_CLUSTERS = 64
TILE_SAMPLES = 128
# row length of the transposed sample tiles: not a multiple of 4 KiB / 8, so that the rows
# written by a transposition do not all fall into the same cache sets
TILE_STRIDE = TILE_SAMPLES + 16
# samples whose widened bounds fail get the exact distance to their own centre and a
# second test only when a full ranking costs more than this many multiply-adds
# (n_clusters * n_features): below, the second test costs more than the rankings it saves
# (measured: fits 5-15% faster without it at 16 x 16, 16 x 32, 16 x 64 and 4 x 8; no gain
# from skipping it at 64 x 64 and 64 x 256)
RETEST_MIN_WORK = 2048
# fast-math flag of the plain product accumulations: fused multiply-adds only
_PRODUCT_FASTMATH = {"contract"}


@njit(cache=CACHE)
def _n_blocks(n_samples):
    """Number of sample blocks for ``n_samples`` (depends on ``n_samples`` only)."""
    if n_samples == 0:
        return 0
    n_chunks = (n_samples + CHUNK_SIZE - 1) // CHUNK_SIZE
    return min(n_chunks, MAX_BLOCKS)


@njit(cache=CACHE, inline="always")
def _block_bounds(b, n_blocks, n_samples):
    return b * n_samples // n_blocks, (b + 1) * n_samples // n_blocks


# ---------------------------------------------------------------------------------------------
# distance helpers (inlined into the kernels)


@njit(cache=CACHE, inline="always")
def _sqdist_all_dense(X, i, centers_t, acc):
    """Squared distances from ``X[i]`` to every centre; ``centers_t`` is (n_features, k).

    Writes ``acc`` of shape (n_clusters,), same dtype as X (vectorised over centres).
    """
    n_features, n_clusters = centers_t.shape
    for j in range(n_clusters):
        acc[j] = 0.0
    for f in range(n_features):
        xf = X[i, f]
        for j in range(n_clusters):
            diff = xf - centers_t[f, j]
            acc[j] += diff * diff


@njit(cache=CACHE, fastmath=True)
def _sqdist_one_fast(X, mean, i, centers, j):
    """``sum_f ((X[i, f] - mean[f]) - centers[j, f]) ** 2``, the centred value in X's dtype,
    the rest in float64 (fastmath: reassociated)."""
    acc = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f] - mean[f]) - np.float64(centers[j, f])
        acc += diff * diff
    return acc


@njit(cache=CACHE, fastmath=True)
def _sqdist_rows_shifted(X, i, shifted, t):
    """``sum_f (X[i, f] - shifted[t, f]) ** 2`` in float64 (fastmath: reassociated)."""
    acc = 0.0
    for f in range(X.shape[1]):
        diff = np.float64(X[i, f]) - shifted[t, f]
        acc += diff * diff
    return acc


# ---------------------------------------------------------------------------------------------
# fused ranking products for few centres: samples transposed, register tiles


def _use_fused(n_clusters, itemsize):
    """Whether the ranking products run in the fused tiles (else BLAS)."""
    return n_clusters <= FUSED_MAX_CLUSTERS or itemsize == 4


@njit(cache=CACHE, inline="always")
def _pad4(n):
    return (n + 3) // 4 * 4


@njit(cache=CACHE)
def _pack_centers(centers_t, centers_sq, dtype_like):
    """Zero-padded centres ``U`` (n_features_pad4, n_clusters_pad4) and their squared norms
    ``csq`` (n_clusters_pad4,) in X's dtype; padded centres get ``csq = inf``."""
    n_features, n_clusters = centers_t.shape
    U = np.zeros((_pad4(n_features), _pad4(n_clusters)), dtype=dtype_like.dtype)
    csq = np.full(_pad4(n_clusters), np.inf, dtype=dtype_like.dtype)
    for f in range(n_features):
        for j in range(n_clusters):
            U[f, j] = centers_t[f, j]
    for j in range(n_clusters):
        csq[j] = centers_sq[j]
    return U, csq


@njit(cache=CACHE, fastmath=_PRODUCT_FASTMATH)
def _dot_tile4(Xt, m, U, j, acc):
    """``acc[c, :m] = Xt[:, :m].T @ U[:, j + c]`` for ``c < 4``: a 4 x 4 register tile.

    Each pass over the samples reads four rows of ``Xt`` and updates four rows of ``acc``
    (16 multiply-adds per 4 loads and 4 stores). ``Xt`` (n_features_pad4, TILE_SAMPLES)
    and ``U`` (n_features_pad4, n_clusters_pad4) are zero-padded; ``acc`` is (4, TILE_SAMPLES),
    all in X's dtype.
    """
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    for p in range(0, U.shape[0], 4):
        x0 = Xt[p]
        x1 = Xt[p + 1]
        x2 = Xt[p + 2]
        x3 = Xt[p + 3]
        u00 = U[p, j]
        u01 = U[p, j + 1]
        u02 = U[p, j + 2]
        u03 = U[p, j + 3]
        u10 = U[p + 1, j]
        u11 = U[p + 1, j + 1]
        u12 = U[p + 1, j + 2]
        u13 = U[p + 1, j + 3]
        u20 = U[p + 2, j]
        u21 = U[p + 2, j + 1]
        u22 = U[p + 2, j + 2]
        u23 = U[p + 2, j + 3]
        u30 = U[p + 3, j]
        u31 = U[p + 3, j + 1]
        u32 = U[p + 3, j + 2]
        u33 = U[p + 3, j + 3]
        if p == 0:
            for i in range(m):
                a0[i] = u00 * x0[i] + u10 * x1[i] + u20 * x2[i] + u30 * x3[i]
                a1[i] = u01 * x0[i] + u11 * x1[i] + u21 * x2[i] + u31 * x3[i]
                a2[i] = u02 * x0[i] + u12 * x1[i] + u22 * x2[i] + u32 * x3[i]
                a3[i] = u03 * x0[i] + u13 * x1[i] + u23 * x2[i] + u33 * x3[i]
        else:
            for i in range(m):
                a0[i] = a0[i] + u00 * x0[i] + u10 * x1[i] + u20 * x2[i] + u30 * x3[i]
                a1[i] = a1[i] + u01 * x0[i] + u11 * x1[i] + u21 * x2[i] + u31 * x3[i]
                a2[i] = a2[i] + u02 * x0[i] + u12 * x1[i] + u22 * x2[i] + u32 * x3[i]
                a3[i] = a3[i] + u03 * x0[i] + u13 * x1[i] + u23 * x2[i] + u33 * x3[i]


@intrinsic
def _transpose4_centred(typingctx, X, i0, i1, i2, i3, f, mean, Xt, r):
    """``Xt[f + c, r + q] = X[i_q, f + c] - mean[f + c]`` for ``c, q < 4``.

    A 4 x 4 block transposed with vector shuffles (four row loads, eight shuffles, four
    stores), which Numba's loops do not generate. The subtraction is elementwise, in X's
    dtype, so the values are exactly those of the scalar loop. ``X`` and ``Xt`` are
    C-contiguous 2-D arrays and ``mean`` a contiguous 1-D array of one float dtype; the
    caller guarantees ``f + 3 < X.shape[1]`` and ``r + 3 < Xt.shape[1]``.
    """
    sig = types.void(X, i0, i1, i2, i3, f, mean, Xt, r)

    def codegen(context, builder, signature, args):
        x_ty, mean_ty, xt_ty = (signature.args[k] for k in (0, 6, 7))
        vec_ty = ir.VectorType(context.get_value_type(x_ty.dtype), 4)
        align = x_ty.dtype.bitwidth // 8
        x_arr = context.make_array(x_ty)(context, builder, args[0])
        mean_arr = context.make_array(mean_ty)(context, builder, args[6])
        xt_arr = context.make_array(xt_ty)(context, builder, args[7])

        def index(k):
            return context.cast(builder, args[k], signature.args[k], types.intp)

        def ptr(ty, arr, idx):
            p = cgutils.get_item_pointer(context, builder, ty, arr, idx, wraparound=False)
            return builder.bitcast(p, vec_ty.as_pointer())

        fi = index(5)
        mv = builder.load(ptr(mean_ty, mean_arr, [fi]), align=align)
        v = [
            builder.fsub(builder.load(ptr(x_ty, x_arr, [index(k), fi]), align=align), mv)
            for k in (1, 2, 3, 4)
        ]
        i32x4 = ir.VectorType(ir.IntType(32), 4)

        def shuffle(a, b, idx):
            return builder.shuffle_vector(a, b, ir.Constant(i32x4, idx))

        lo01 = shuffle(v[0], v[1], [0, 4, 1, 5])  # x0 y0 x1 y1
        hi01 = shuffle(v[0], v[1], [2, 6, 3, 7])  # x2 y2 x3 y3
        lo23 = shuffle(v[2], v[3], [0, 4, 1, 5])
        hi23 = shuffle(v[2], v[3], [2, 6, 3, 7])
        cols = (
            shuffle(lo01, lo23, [0, 1, 4, 5]),
            shuffle(lo01, lo23, [2, 3, 6, 7]),
            shuffle(hi01, hi23, [0, 1, 4, 5]),
            shuffle(hi01, hi23, [2, 3, 6, 7]),
        )
        ri = index(8)
        for c in range(4):
            fc = builder.add(fi, ir.Constant(fi.type, c))
            builder.store(cols[c], ptr(xt_ty, xt_arr, [fc, ri]), align=align)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=CACHE)
def _gather_transposed(X, mean, rows, r0, m, Xt):
    """``Xt[:n_features, r] = X[rows[r0 + r]] - mean`` for ``r < m``: 4 x 4 blocks through
    vector shuffles, the remainders elementwise."""
    n_features = X.shape[1]
    m4 = m // 4 * 4
    d4 = n_features // 4 * 4
    for r in range(0, m4, 4):
        i0 = rows[r0 + r]
        i1 = rows[r0 + r + 1]
        i2 = rows[r0 + r + 2]
        i3 = rows[r0 + r + 3]
        for f in range(0, d4, 4):
            _transpose4_centred(X, i0, i1, i2, i3, f, mean, Xt, r)
        for f in range(d4, n_features):
            mf = mean[f]
            Xt[f, r] = X[i0, f] - mf
            Xt[f, r + 1] = X[i1, f] - mf
            Xt[f, r + 2] = X[i2, f] - mf
            Xt[f, r + 3] = X[i3, f] - mf
    for r in range(m4, m):
        i = rows[r0 + r]
        for f in range(n_features):
            Xt[f, r] = X[i, f] - mean[f]


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
def _argmin_fused(Xt, m, U, csq, acc, best, best_val):
    """First argmin over centres of ``csq[j] - 2 <x, c_j>`` for the ``m`` samples in ``Xt``.

    Writes ``best`` (int32) and ``best_val`` (X's dtype), both of shape (TILE_SAMPLES,).
    """
    two = Xt.dtype.type(2.0)
    for i in range(m):
        best_val[i] = np.inf
        best[i] = 0
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    for j in range(0, U.shape[1], 4):
        _dot_tile4(Xt, m, U, j, acc)
        # the four centres of the tile in order, one load and store of the running best
        c0 = csq[j]
        c1 = csq[j + 1]
        c2 = csq[j + 2]
        c3 = csq[j + 3]
        j0 = np.int32(j)
        for i in range(m):
            bv = best_val[i]
            bi = best[i]
            v = c0 - two * a0[i]
            lt = v < bv
            bv = v if lt else bv
            bi = j0 if lt else bi
            v = c1 - two * a1[i]
            lt = v < bv
            bv = v if lt else bv
            bi = j0 + 1 if lt else bi
            v = c2 - two * a2[i]
            lt = v < bv
            bv = v if lt else bv
            bi = j0 + 2 if lt else bi
            v = c3 - two * a3[i]
            lt = v < bv
            bv = v if lt else bv
            bi = j0 + 3 if lt else bi
            best_val[i] = bv
            best[i] = bi


# ---------------------------------------------------------------------------------------------
# running centre sums


@njit(cache=CACHE)
def _move_sample(X, mean, i, w, old, new, b, sums, wsums, counts):
    """Move sample ``X[i] - mean`` (weight ``w``) from cluster ``old`` (-1: none) to ``new``
    in the running sums of block ``b``.

    ``sums`` (n_blocks, n_clusters, n_features), ``wsums`` (n_blocks, n_clusters), float64,
    and ``counts`` (n_blocks, n_clusters), int64 (members of non-zero weight), are read and
    written. A cluster left without members of non-zero weight gets sums of exactly zero
    (no rounding residue), so that it is seen as empty exactly when a recomputed sum is.
    """
    n_features = X.shape[1]
    if old >= 0:
        wsums[b, old] -= w
        for f in range(n_features):
            sums[b, old, f] -= (X[i, f] - mean[f]) * w
        if w != 0:
            counts[b, old] -= 1
            if counts[b, old] == 0:
                wsums[b, old] = 0.0
                for f in range(n_features):
                    sums[b, old, f] = 0.0
    wsums[b, new] += w
    for f in range(n_features):
        sums[b, new, f] += (X[i, f] - mean[f]) * w
    if w != 0:
        counts[b, new] += 1


# ---------------------------------------------------------------------------------------------
# Lloyd (plain) iterations


@njit(cache=CACHE)
def _gemm_rows_argmin(D, r, centers_sq):
    """First argmin over centres of ``||c||^2 - 2 <x, c>`` for row ``r`` of ``D = X C^T``.

    Returns ``(best, best_val, second_val)`` (float64 values, without ``||x||^2``).
    """
    best = 0
    best_val = centers_sq[0] - 2.0 * D[r, 0]
    second_val = np.inf
    for j in range(1, D.shape[1]):
        v = centers_sq[j] - 2.0 * D[r, j]
        if v < best_val:
            second_val = best_val
            best_val = v
            best = j
        elif v < second_val:
            second_val = v
    return best, best_val, second_val


def _lloyd_iter_dense(
    X,
    mean,
    sample_weight,
    centers_t,
    centers_sq,
    labels,
    sums,
    wsums,
    counts,
    n_changed,
    update_centers,
):
    """One plain Lloyd E-step (and running M-step sums) on dense data.

    As scikit-learn, centres are ranked by ``||c_j||^2 - 2 <x, c_j>``. Up to
    ``FUSED_MAX_CLUSTERS`` centres the cross term comes from the fused register tiles
    (:func:`_dot_tile4`, X's dtype); above, from a BLAS product over chunks of
    ``CHUNK_SIZE`` samples (call with BLAS limited to one thread: the kernel is already
    parallel over blocks).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    mean : ndarray of shape (n_features,), X's dtype
        The kernels work on ``X - mean`` (computed on the fly, as the centred copy of X
        would hold it), so that X need not be copied.
    sample_weight : ndarray of shape (n_samples,), X's dtype
    centers_t : ndarray of shape (n_features, n_clusters), X's dtype
        The current centres (in the centred coordinates), transposed.
    centers_sq : ndarray of shape (n_clusters,), float64
        Squared norms of the centres.
    labels : ndarray of shape (n_samples,), int32
        Read and written: index of the closest centre (first one on ties); -1 before the
        first pass.
    sums, wsums, counts : ndarrays of shape (n_blocks, n_clusters[, n_features])
        Running per-block sums of the weighted samples, of their weights (float64) and
        member counts (int64) per cluster (see :func:`_move_sample`), zero before the first
        pass; updated for the samples whose label changes when ``update_centers``.
    n_changed : ndarray of shape (n_blocks,), int64
        Written: number of labels that changed in each block.
    update_centers : bool

    Notes
    -----
    A Python function: it runs one of two serial block kernels (:func:`_lloyd_block_fused`,
    :func:`_lloyd_block_gemm`) over the sample blocks in parallel
    (:func:`~sklearn_deep._kernel_blocks.for_each_block`), so that a fit compiles only the
    kernel it runs, and no large parallel function.
    """
    if _use_fused(centers_t.shape[1], X.itemsize):
        U, csq = _pack_centers(centers_t, centers_sq, X[:0, 0])
        args = (X, mean, sample_weight, U, csq, labels, sums, wsums, counts, update_centers)
        for_each_block(_lloyd_block_fused, args, X.shape[0], n_changed)
    else:
        args = (
            X,
            mean,
            sample_weight,
            centers_t,
            centers_sq,
            labels,
            sums,
            wsums,
            counts,
            update_centers,
        )
        for_each_block(_lloyd_block_gemm, args, X.shape[0], n_changed)


@njit(cache=CACHE)
def _lloyd_block_fused(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_lloyd_iter_dense` with the fused tiles
    (``U``, ``csq`` from :func:`_pack_centers`); returns the number of changed labels."""
    (
        X,
        mean,
        sample_weight,
        U,
        csq,
        labels,
        sums,
        wsums,
        counts,
        update_centers,
    ) = args
    changed = 0
    Xt = np.zeros((U.shape[0], TILE_STRIDE), dtype=X.dtype)
    acc = np.empty((4, TILE_SAMPLES), dtype=X.dtype)
    best = np.empty(TILE_SAMPLES, dtype=np.int32)
    best_val = np.empty(TILE_SAMPLES, dtype=X.dtype)
    rows = np.arange(start, end)
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        _gather_transposed(X, mean, rows, s - start, m, Xt)
        _argmin_fused(Xt, m, U, csq, acc, best, best_val)
        for r in range(m):
            i = s + r
            if best[r] != labels[i]:
                changed += 1
                if update_centers:
                    _move_sample(
                        X, mean, i, sample_weight[i], labels[i], best[r], b, sums, wsums, counts
                    )
                labels[i] = best[r]
    return changed


@njit(cache=CACHE)
def _lloyd_block_gemm(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_lloyd_iter_dense` with a BLAS product
    over chunks of ``CHUNK_SIZE`` samples; returns the number of changed labels."""
    (
        X,
        mean,
        sample_weight,
        centers_t,
        centers_sq,
        labels,
        sums,
        wsums,
        counts,
        update_centers,
    ) = args
    n_features = X.shape[1]
    changed = 0
    buf = np.empty((min(CHUNK_SIZE, end - start), n_features), dtype=X.dtype)
    for s in range(start, end, CHUNK_SIZE):
        e = min(s + CHUNK_SIZE, end)
        for r in range(e - s):
            for f in range(n_features):
                buf[r, f] = X[s + r, f] - mean[f]
        D = np.dot(buf[: e - s], centers_t)
        for r in range(e - s):
            i = s + r
            label, _, _ = _gemm_rows_argmin(D, r, centers_sq)
            if label != labels[i]:
                changed += 1
                if update_centers:
                    _move_sample(
                        X, mean, i, sample_weight[i], labels[i], label, b, sums, wsums, counts
                    )
                labels[i] = label
    return changed


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


@njit(cache=CACHE)
def _bounds_filter(
    X,
    mean,
    centers,
    labels,
    x_sq,
    half_sep,
    shift,
    group_shift,
    upper,
    lower,
    c_max_sq,
    eps,
    delta_scale,
    use_bounds,
    retest,
    start,
    end,
    todo,
    flagged,
    ok,
    dist,
):
    """Widen the bounds of samples ``start:end`` by the centre moves and list in ``todo``
    those whose bounds cannot prove that their label stays (all of them unless
    ``use_bounds``); returns their number. See :func:`_yinyang_iter_dense`.

    Tiles of samples: a branch-free pass lists in ``flagged`` (int64, (TILE_SAMPLES,)) the
    samples whose widened bounds fail; those get the exact distance to their centre and
    are tested again when ``retest`` (the lists are compacted without branches: the
    outcome of a bound test is unpredictable); without ``retest`` they go to ``todo``
    directly.
    """
    n_groups = lower.shape[1]
    n_todo = 0
    if not use_bounds:
        for i in range(start, end):
            todo[n_todo] = i
            n_todo += 1
        return n_todo
    grow = 1.0 + eps
    for s in range(start, end, TILE_SAMPLES):
        m = min(TILE_SAMPLES, end - s)
        if n_groups == 1:  # Hamerly: vectorised over samples
            gs = group_shift[0]
            for r in range(m):
                i = s + r
                a = labels[i]
                u = upper[i] + shift[a] * grow
                glb = lower[i, 0] - gs
                lower[i, 0] = glb
                upper[i] = u
                two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
                sep = 2.0 * half_sep[a] - u
                others = sep if sep > glb else glb
                ok[r] = (others > u) & (others * others - u * u > two_delta)
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
                sep = 2.0 * half_sep[a] - u
                others = sep if sep > glb else glb
                ok[r] = (others > u) & (others * others - u * u > two_delta)
        if not retest:
            # ranked in full straight away (fresh bounds come with the ranking)
            for r in range(m):
                todo[n_todo] = s + r
                n_todo += not ok[r]
            continue
        n_flagged = 0
        for r in range(m):
            flagged[n_flagged] = s + r
            n_flagged += not ok[r]
        for q in range(n_flagged):
            i = flagged[q]
            dist[q] = _sqdist_one_fast(X, mean, i, centers, labels[i])
        for q in range(n_flagged):
            i = flagged[q]
            a = labels[i]
            u = math.sqrt(dist[q]) * grow
            upper[i] = u
            glb = lower[i, 0]
            for g in range(1, n_groups):
                glb = lower[i, g] if lower[i, g] < glb else glb
            two_delta = 2.0 * delta_scale * (x_sq[i] + c_max_sq)
            sep = 2.0 * half_sep[a] - u
            others = sep if sep > glb else glb
            passed = (others > u) & (others * others - u * u > two_delta)
            todo[n_todo] = i
            n_todo += not passed
    return n_todo


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
        False on the first pass: all distances are computed.
    eps : float
        Relative rounding margin of directly computed distances and of the bound updates.
    delta_scale : float
        See above.

    Notes
    -----
    A Python function: it runs one of two serial block kernels (:func:`_yinyang_block_fused`,
    :func:`_yinyang_block_gemm`) over the sample blocks in parallel
    (:func:`~sklearn_deep._kernel_blocks.for_each_block`), so that a fit compiles only the
    kernel it runs, and no large parallel function.
    """
    n_features = X.shape[1]
    n_clusters = centers_t.shape[1]
    group_shift, group_of, c_max_sq = _yinyang_prepare(perm, gstart, shift, centers_sq, eps)
    retest = n_clusters * n_features > RETEST_MIN_WORK
    if _use_fused(n_clusters, X.itemsize):
        U, csq = _pack_centers(centers_t, centers_sq, X[:0, 0])
        args = (
            X,
            mean,
            sample_weight,
            centers,
            U,
            csq,
            x_sq,
            group_of,
            half_sep,
            shift,
            group_shift,
            upper,
            lower,
            labels,
            sums,
            wsums,
            counts,
            use_bounds,
            update_centers,
            retest,
            c_max_sq,
            eps,
            delta_scale,
        )
        for_each_block(_yinyang_block_fused, args, X.shape[0], n_changed)
    else:
        args = (
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
            group_shift,
            upper,
            lower,
            labels,
            sums,
            wsums,
            counts,
            use_bounds,
            update_centers,
            retest,
            c_max_sq,
            eps,
            delta_scale,
        )
        for_each_block(_yinyang_block_gemm, args, X.shape[0], n_changed)


@njit(cache=CACHE)
def _yinyang_prepare(perm, gstart, shift, centers_sq, eps):
    """Per-pass constants of :func:`_yinyang_iter_dense`: each group's largest centre move
    (widened by ``1 + eps``), each centre's group (int64, (n_clusters,)) and the largest
    squared centre norm."""
    n_clusters = perm.shape[0]
    n_groups = gstart.shape[0] - 1
    group_shift = _group_shifts(perm, gstart, shift, eps)
    group_of = np.empty(n_clusters, dtype=np.int64)
    for g in range(n_groups):
        for p in range(gstart[g], gstart[g + 1]):
            group_of[perm[p]] = g
    c_max_sq = 0.0
    for j in range(n_clusters):
        if centers_sq[j] > c_max_sq:
            c_max_sq = centers_sq[j]
    return group_shift, group_of, c_max_sq


@njit(cache=CACHE)
def _yinyang_block_fused(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_yinyang_iter_dense`, ranked with the
    fused tiles; returns the number of changed labels."""
    (
        X,
        mean,
        sample_weight,
        centers,
        U,
        csq,
        x_sq,
        group_of,
        half_sep,
        shift,
        group_shift,
        upper,
        lower,
        labels,
        sums,
        wsums,
        counts,
        use_bounds,
        update_centers,
        retest,
        c_max_sq,
        eps,
        delta_scale,
    ) = args
    todo = np.empty(end - start, dtype=np.int64)
    flagged = np.empty(TILE_SAMPLES, dtype=np.int64)
    ok = np.empty(TILE_SAMPLES, dtype=np.bool_)
    dist = np.empty(TILE_SAMPLES)
    n_todo = _bounds_filter(
        X,
        mean,
        centers,
        labels,
        x_sq,
        half_sep,
        shift,
        group_shift,
        upper,
        lower,
        c_max_sq,
        eps,
        delta_scale,
        use_bounds,
        retest,
        start,
        end,
        todo,
        flagged,
        ok,
        dist,
    )
    return _bounded_rows_fused(
        X,
        mean,
        sample_weight,
        U,
        csq,
        x_sq,
        group_of,
        lower.shape[1],
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
    )


@njit(cache=CACHE)
def _yinyang_block_gemm(args, b, start, end):
    """Samples ``start:end`` (block ``b``) of :func:`_yinyang_iter_dense`, ranked with a
    BLAS product; returns the number of changed labels."""
    (
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
        group_shift,
        upper,
        lower,
        labels,
        sums,
        wsums,
        counts,
        use_bounds,
        update_centers,
        retest,
        c_max_sq,
        eps,
        delta_scale,
    ) = args
    todo = np.empty(end - start, dtype=np.int64)
    flagged = np.empty(TILE_SAMPLES, dtype=np.int64)
    ok = np.empty(TILE_SAMPLES, dtype=np.bool_)
    dist = np.empty(TILE_SAMPLES)
    n_todo = _bounds_filter(
        X,
        mean,
        centers,
        labels,
        x_sq,
        half_sep,
        shift,
        group_shift,
        upper,
        lower,
        c_max_sq,
        eps,
        delta_scale,
        use_bounds,
        retest,
        start,
        end,
        todo,
        flagged,
        ok,
        dist,
    )
    return _bounded_rows_gemm(
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
    )


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


@njit(cache=CACHE, parallel=True)
def _lloyd_iter_sparse(
    data,
    indices,
    indptr,
    sample_weight,
    centers,
    centers_sq_norms,
    labels,
    sums,
    wsums,
    n_changed,
    update_centers,
):
    """One plain Lloyd E-step (and partial M-step) on CSR data.

    Same contract as :func:`_lloyd_iter_dense`; the label minimises
    ``||c_j||^2 - 2 <x, c_j>`` (as scikit-learn does for sparse input). ``centers`` is
    (n_clusters, n_features) and ``centers_sq_norms`` (n_clusters,), both X's dtype.
    """
    n_samples = indptr.shape[0] - 1
    n_clusters = centers.shape[0]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        changed = 0
        if update_centers:
            sums[b, :, :] = 0.0
            wsums[b, :] = 0.0
        for i in range(start, end):
            label = 0
            best = np.inf
            for j in range(n_clusters):
                dot = data.dtype.type(0.0)
                for p in range(indptr[i], indptr[i + 1]):
                    dot += centers[j, indices[p]] * data[p]
                sq = centers_sq_norms[j] - 2 * dot
                if sq < best:
                    best = sq
                    label = j
            if label != labels[i]:
                changed += 1
                labels[i] = label
            if update_centers:
                w = sample_weight[i]
                wsums[b, label] += w
                for p in range(indptr[i], indptr[i + 1]):
                    sums[b, label, indices[p]] += data[p] * w
        n_changed[b] = changed


@njit(cache=CACHE)
def _half_separation_into(centers, eps, out):
    n_clusters, n_features = centers.shape
    out[:] = np.inf
    for j in range(n_clusters):
        for jj in range(j + 1, n_clusters):
            acc = 0.0
            for f in range(n_features):
                diff = np.float64(centers[j, f]) - np.float64(centers[jj, f])
                acc += diff * diff
            d = 0.5 * math.sqrt(acc) * (1.0 - eps)
            if d < out[j]:
                out[j] = d
            if d < out[jj]:
                out[jj] = d


@njit(cache=CACHE)
def _half_separation(centers, eps):
    """Half the distance from each centre to its closest other centre, shrunk by ``eps``.

    Returns ndarray of shape (n_clusters,), float64 (``inf`` when there is one centre).
    """
    out = np.empty(centers.shape[0])
    _half_separation_into(centers, eps, out)
    return out


# ---------------------------------------------------------------------------------------------
# M-step helpers


@njit(cache=CACHE)
def _reduce_blocks(sums, wsums, centers_sum, weight_in_clusters):
    """Serial, block-ordered reduction of the partial sums.

    Writes ``centers_sum`` (n_clusters, n_features) and ``weight_in_clusters`` (n_clusters,),
    both float64.
    """
    n_blocks, n_clusters, n_features = sums.shape
    centers_sum[:, :] = 0.0
    weight_in_clusters[:] = 0.0
    for b in range(n_blocks):
        for j in range(n_clusters):
            weight_in_clusters[j] += wsums[b, j]
            for f in range(n_features):
                centers_sum[j, f] += sums[b, j, f]


@njit(cache=CACHE)
def _average_centers(centers_sum, weight_in_clusters, centers_new):
    """Divide the sums by the weights, as scikit-learn's ``_average_centers``.

    A cluster with zero weight copies the row of the heaviest cluster (in loop order, like
    scikit-learn). Writes ``centers_new`` (n_clusters, n_features, X's dtype).
    """
    n_clusters, n_features = centers_sum.shape
    argmax_weight = 0
    for j in range(1, n_clusters):
        if weight_in_clusters[j] > weight_in_clusters[argmax_weight]:
            argmax_weight = j
    for j in range(n_clusters):
        if weight_in_clusters[j] > 0:
            alpha = 1.0 / weight_in_clusters[j]
            for f in range(n_features):
                centers_sum[j, f] *= alpha
        else:
            for f in range(n_features):
                centers_sum[j, f] = centers_sum[argmax_weight, f]
    for j in range(n_clusters):
        for f in range(n_features):
            centers_new[j, f] = centers_sum[j, f]


@njit(cache=CACHE)
def _center_shift(centers_old, centers_new, shift):
    """Euclidean distance between old and new centres; writes ``shift`` (float64)."""
    n_clusters, n_features = centers_old.shape
    for j in range(n_clusters):
        acc = 0.0
        for f in range(n_features):
            diff = np.float64(centers_new[j, f]) - np.float64(centers_old[j, f])
            acc += diff * diff
        shift[j] = math.sqrt(acc)


@njit(cache=CACHE)
def _finish_mstep(
    centers_sum, weight_in_clusters, centers_old, centers_new, shift, half_sep, eps, bounded
):
    """Average the reduced sums into ``centers_new``, then write ``shift`` and ``half_sep``.

    ``centers_sum`` (float64) is overwritten by the averages; ``half_sep`` of the new centres
    (see :func:`_half_separation`) is only computed when ``bounded``.
    """
    _average_centers(centers_sum, weight_in_clusters, centers_new)
    _center_shift(centers_old, centers_new, shift)
    if bounded:
        _half_separation_into(centers_new, eps, half_sep)


# ---------------------------------------------------------------------------------------------
# inertia, per-sample distances


@njit(cache=CACHE)
def _column_mean(X):
    """``X.mean(axis=0)`` for a C-contiguous X with at least two columns, bit for bit.

    NumPy reduces such an array row after row, each column in X's dtype, then divides by
    ``n_samples``; this does the same additions in the same order without NumPy's
    per-row loop overhead (5-6 times faster at 16 columns). With one column NumPy sums
    pairwise instead: the caller uses NumPy there.
    """
    n_samples, n_features = X.shape
    acc = np.zeros(n_features, dtype=X.dtype)
    for i in range(n_samples):
        for f in range(n_features):
            acc[f] += X[i, f]
    out = np.empty(n_features, dtype=X.dtype)
    count = X.dtype.type(n_samples)
    for f in range(n_features):
        out[f] = acc[f] / count
    return out


@njit(cache=CACHE)
def _column_var(X):
    """``X.var(axis=0)`` for a C-contiguous X with at least two columns, bit for bit, and
    without NumPy's temporary copy of X (the same operations in the same order as
    :func:`numpy.var`: the column means, then the sums of squared deviations, row after
    row, in X's dtype)."""
    n_samples, n_features = X.shape
    mean = _column_mean(X)
    acc = np.zeros(n_features, dtype=X.dtype)
    for i in range(n_samples):
        for f in range(n_features):
            diff = X[i, f] - mean[f]
            acc[f] += diff * diff
    count = X.dtype.type(n_samples)
    for f in range(n_features):
        acc[f] = acc[f] / count
    return acc


@njit(cache=CACHE, parallel=True)
def _row_sq_norms(X, mean, out):
    """Squared norm of each row of ``X - mean``, accumulated in float64; writes ``out``
    (n_samples,)."""
    for i in prange(X.shape[0]):
        acc = 0.0
        for f in range(X.shape[1]):
            v = np.float64(X[i, f] - mean[f])
            acc += v * v
        out[i] = acc


@njit(cache=CACHE, parallel=True)
def _inertia_dense(X, mean, sample_weight, centers, labels, single_label=-1):
    """Weighted sum of squared distances of each sample of ``X - mean`` to its assigned
    centre (float64; see :func:`_sqdist_one_fast`).

    Only samples with label ``single_label`` count when it is >= 0.
    """
    n_samples = X.shape[0]
    n_blocks = _n_blocks(n_samples)
    partial = np.zeros(max(n_blocks, 1))
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = 0.0
        for i in range(start, end):
            j = labels[i]
            if single_label < 0 or j == single_label:
                acc += _sqdist_one_fast(X, mean, i, centers, j) * sample_weight[i]
        partial[b] = acc
    total = 0.0
    for b in range(n_blocks):
        total += partial[b]
    return total


@njit(cache=CACHE, inline="always")
def _sqdist_sparse_dense(data, indices, start, end, center, center_sq_norm):
    """``sum (x - c)^2`` for a CSR row against a dense centre, as scikit-learn computes it."""
    acc = data.dtype.type(0.0)
    for p in range(start, end):
        ci = center[indices[p]]
        tmp = data[p] - ci
        acc += tmp * tmp - ci * ci
    acc += center_sq_norm
    if acc < 0:
        acc = data.dtype.type(0.0)
    return acc


@njit(cache=CACHE, parallel=True)
def _inertia_sparse(
    data, indices, indptr, sample_weight, centers, centers_sq_norms, labels, single_label=-1
):
    """Sparse counterpart of :func:`_inertia_dense` (float64 result)."""
    n_samples = indptr.shape[0] - 1
    n_blocks = _n_blocks(n_samples)
    partial = np.zeros(max(n_blocks, 1))
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = 0.0
        for i in range(start, end):
            j = labels[i]
            if single_label < 0 or j == single_label:
                d = _sqdist_sparse_dense(
                    data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
                )
                acc += np.float64(d) * sample_weight[i]
        partial[b] = acc
    total = 0.0
    for b in range(n_blocks):
        total += partial[b]
    return total


@njit(cache=CACHE, parallel=True)
def _sqdist_to_assigned_sparse(data, indices, indptr, centers, centers_sq_norms, labels, out):
    """Squared distance of each CSR row to its assigned centre; writes ``out`` (n_samples,)."""
    n_samples = indptr.shape[0] - 1
    for i in prange(n_samples):
        j = labels[i]
        out[i] = _sqdist_sparse_dense(
            data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
        )


@njit(cache=CACHE, parallel=True)
def _euclidean_dense(X, centers_t, out):
    """Euclidean distances to every centre; writes ``out`` (n_samples, n_clusters)."""
    n_samples = X.shape[0]
    n_clusters = centers_t.shape[1]
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        acc = np.empty(n_clusters, dtype=X.dtype)
        for i in range(start, end):
            _sqdist_all_dense(X, i, centers_t, acc)
            for j in range(n_clusters):
                out[i, j] = math.sqrt(acc[j])


@njit(cache=CACHE, parallel=True)
def _euclidean_sparse(data, indices, indptr, centers, centers_sq_norms, out):
    """Euclidean distances of CSR rows to every centre; writes ``out`` (n_samples, k)."""
    n_samples = indptr.shape[0] - 1
    n_clusters = centers.shape[0]
    for i in prange(n_samples):
        for j in range(n_clusters):
            d = _sqdist_sparse_dense(
                data, indices, indptr[i], indptr[i + 1], centers[j], centers_sq_norms[j]
            )
            out[i, j] = math.sqrt(d)


# ---------------------------------------------------------------------------------------------
# k-means++ seeding
#
# Plain pass (:func:`_kmeanspp_trials_dense`): each greedy step streams X once for its
# candidates (one row at a time, the candidates' direct differences reduced along the row).
# At (200k, 64, 256) float64 on the 2-core development machine a pass takes 5.5-7 ms, against
# 3.3 ms to stream X alone, and none of these was faster end to end: 2 x 4 and 4 x 4 register
# blocks of rows x candidates; transposed sample tiles gathered on the fly; candidates in the
# vector lanes (hand-written LLVM IR, software prefetch, the ||x||^2 - 2 <x, c> + ||c||^2
# form); BLAS products over chunks; a bit mask instead of writing every trial's distances;
# triangle-inequality pruning (prunes 1-4% of the rows of that overlapping data).
#
# Screened pass (:func:`_kmeanspp_trials_screened`, float64 X): a float32 copy of the
# centred X, stored in transposed tiles of SCREEN_TILE samples, is streamed instead (half the
# bytes, no distance buffers written, and 16 samples x 8 candidates per register tile). A
# rigorous bound on the rounding of both computations tells when every candidate's float64
# distance is at least the sample's current closest distance; only the other samples (about 1%
# late in the seeding at (200k, 64, 256), 10-15% of that data at 16-32 features) get their
# exact float64 distances, from X, computed as the plain pass computes them. The potentials and
# the chosen centres are therefore bit-identical to the plain pass. 2.2-2.5 ms a pass at
# (200k, 64, 256). The screen loses while many samples are flagged (the first steps, and the
# whole of a short seeding, where the copy does not pay for itself), hence the adaptive switch
# of :func:`_kmeanspp_dense`.


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_dense(X, mean, sample_weight, candidates, closest, dist_trials, pots):
    """Squared distances to the candidate centres, capped by the current closest distance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,), X's dtype
        Distances are those of the rows of ``X - mean`` (computed on the fly).
    sample_weight : ndarray of shape (n_samples,)
    candidates : ndarray of shape (n_trials, n_features), X's dtype
    closest : ndarray of shape (n_samples,), X's dtype
        Squared distance of each sample to its closest chosen centre (``inf`` before the
        first centre).
    dist_trials : ndarray of shape (n_trials, n_samples), X's dtype
        Written: ``min(closest, ||x - candidate||^2)``, computed in float64.
    pots : ndarray of shape (n_blocks, n_trials), float64
        Written: per-block weighted potentials ``sum w * dist_trials``.
    """
    n_samples = X.shape[0]
    n_trials = candidates.shape[0]
    n_blocks = _n_blocks(n_samples)
    shifted = _shift_candidates(candidates, mean)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        pot = np.zeros(n_trials)
        for i in range(start, end):
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_shifted(X, i, shifted, t))
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot[t] += np.float64(d) * sample_weight[i]
        for t in range(n_trials):
            pots[b, t] = pot[t]


@njit(cache=CACHE)
def _shift_candidates(candidates, mean):
    """``candidates + mean`` in float64: ``||(x - mean) - c||`` as ``||x - (c + mean)||``, one
    subtraction per feature, not two."""
    n_trials, n_features = candidates.shape
    shifted = np.empty((n_trials, n_features))
    for t in range(n_trials):
        for f in range(n_features):
            shifted[t, f] = np.float64(candidates[t, f]) + np.float64(mean[f])
    return shifted


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_dense_counted(
    X, mean, sample_weight, candidates, closest, dist_trials, pots, improved_counts
):
    """:func:`_kmeanspp_trials_dense` (the same values) that also counts, per block, the
    samples that some candidate brings closer than ``closest``, in ``improved_counts``
    (int64, (n_blocks,)): what decides whether the float32 screen pays off. (A separate
    kernel: the count slows the pass by about 15% at 16 features.)"""
    n_samples = X.shape[0]
    n_trials = candidates.shape[0]
    n_blocks = _n_blocks(n_samples)
    shifted = _shift_candidates(candidates, mean)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        pot = np.zeros(n_trials)
        n_improved = 0
        for i in range(start, end):
            cl = closest[i]
            improved = False
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_shifted(X, i, shifted, t))
                improved |= d < cl
                if cl < d:
                    d = cl
                dist_trials[t, i] = d
                pot[t] += np.float64(d) * sample_weight[i]
            n_improved += improved
        for t in range(n_trials):
            pots[b, t] = pot[t]
        improved_counts[b] = n_improved


SCREEN_TILE = 16
SCREEN_GROUP = 8
# the float32 screen needs |x - m| well inside float32's range; beyond, the plain pass runs
SCREEN_MAX_NORM = 1e18
# adaptive screening (``_kmeanspp_dense(screen=1)``): the screen runs from the step after one
# where fewer than SCREEN_ON_FRACTION of the samples had a candidate closer than their closest
# centre (with at least SCREEN_MIN_STEPS steps left to pay for the copy), and stops above
# SCREEN_OFF_FRACTION. Measured (200k samples, 24-64 features): the screened pass costs
# about 0.4 + 3.5 f plain passes when a fraction f of the samples is flagged
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


@intrinsic
def _prefetch(typingctx, X, i, f):
    """Prefetch, for reading, the cache line that holds ``X[i, f]``."""
    sig = types.void(X, i, f)

    def codegen(context, builder, signature, args):
        x_ty, i_ty, f_ty = signature.args
        x_arr = context.make_array(x_ty)(context, builder, args[0])
        i = context.cast(builder, args[1], i_ty, types.intp)
        f = context.cast(builder, args[2], f_ty, types.intp)
        p = cgutils.get_item_pointer(context, builder, x_ty, x_arr, [i, f], wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        pf = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0i8",
        )
        builder.call(
            pf,
            [
                builder.bitcast(p, i8p),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
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


@njit(cache=CACHE)
def _kmeanspp_first(X, mean, sample_weight, first):
    """The distances to the first centre, ``X[first] - mean``: returns ``closest``
    (n_samples,), X's dtype, the per-block sums of ``sample_weight * closest`` (float64,
    (n_blocks,)) and their sum in block order (the potential)."""
    n_samples, n_features = X.shape
    n_blocks = _n_blocks(n_samples)
    cand = np.empty((1, n_features), dtype=X.dtype)
    for f in range(n_features):
        cand[0, f] = X[first, f] - mean[f]
    first_dist = np.empty((1, n_samples), dtype=X.dtype)
    pots = np.zeros((n_blocks, 1))
    no_centre = np.full(n_samples, np.inf, dtype=X.dtype)
    _kmeanspp_trials_dense(X, mean, sample_weight, cand, no_centre, first_dist, pots)
    current_pot = 0.0
    for b in range(n_blocks):  # block order, as ``pots.sum(axis=0)``
        current_pot += pots[b, 0]
    return first_dist[0], pots[:, 0].copy(), current_pot


@njit(cache=CACHE)
def _kmeanspp_candidates(X, mean, sample_weight, closest, block_pots, rand_vals, pot, ids, cand):
    """Draw the candidates of one step: ``ids`` (int64, (n_trials,)) from the uniform draws
    ``rand_vals`` scaled by the potential ``pot``, and their rows of ``X - mean`` into
    ``cand`` (n_trials, n_features)."""
    n_trials = ids.shape[0]
    targets = np.empty(n_trials)
    for t in range(n_trials):
        targets[t] = rand_vals[t] * pot
    _kmeanspp_searchsorted_blocks(sample_weight, closest, block_pots, targets, ids)
    for t in range(n_trials):
        for f in range(X.shape[1]):
            cand[t, f] = X[ids[t], f] - mean[f]


@njit(cache=CACHE)
def _kmeanspp_best(pots, block_pots):
    """The candidate of smallest potential (first one on ties, as ``np.argmin``), each summed
    in block order; copies its per-block potentials into ``block_pots``. Returns ``(best,
    potential)``."""
    n_blocks, n_trials = pots.shape
    best = 0
    best_pot = np.inf
    for t in range(n_trials):
        pot = 0.0
        for b in range(n_blocks):
            pot += pots[b, t]
        if t == 0 or pot < best_pot:
            best = t
            best_pot = pot
    for b in range(n_blocks):
        block_pots[b] = pots[b, best]
    return best, best_pot


def _kmeanspp_may_screen(n_clusters, itemsize, screen):
    """Whether :func:`_kmeanspp_dense` may run a step through the screen with these
    arguments (else :func:`_kmeanspp_dense_plain` gives the same centres and compiles far
    less)."""
    n_steps = n_clusters - 1
    return itemsize == 8 and (screen == 2 or (screen == 1 and n_steps - 1 >= SCREEN_MIN_STEPS))


@njit(cache=CACHE)
def _kmeanspp_dense_plain(X, mean, sample_weight, first, rand_vals):
    """:func:`_kmeanspp_dense` without the float32 screen (the same centres): the loop of
    scikit-learn's ``_kmeans_plusplus`` compiled whole. Returns ``indices`` (int64,
    (n_clusters,))."""
    n_samples, n_features = X.shape
    n_steps, n_trials = rand_vals.shape
    n_blocks = _n_blocks(n_samples)
    indices = np.empty(n_steps + 1, dtype=np.int64)
    indices[0] = first
    closest, block_pots, current_pot = _kmeanspp_first(X, mean, sample_weight, first)
    pots = np.zeros((n_blocks, n_trials))
    cand = np.empty((n_trials, n_features), dtype=X.dtype)
    candidate_ids = np.empty(n_trials, dtype=np.int64)
    # two distance buffers used in turn: the best candidate's row becomes ``closest`` (read
    # by the next pass, which writes the other buffer)
    buffers = np.empty((2, n_trials if n_steps else 0, n_samples), dtype=X.dtype)
    for c in range(1, n_steps + 1):
        _kmeanspp_candidates(
            X,
            mean,
            sample_weight,
            closest,
            block_pots,
            rand_vals[c - 1],
            current_pot,
            candidate_ids,
            cand,
        )
        dist = buffers[c % 2]
        _kmeanspp_trials_dense(X, mean, sample_weight, cand, closest, dist, pots)
        best, current_pot = _kmeanspp_best(pots, block_pots)
        closest = buffers[c % 2][best]
        indices[c] = candidate_ids[best]
    return indices


@njit(cache=CACHE)
def _kmeanspp_dense(X, mean, sample_weight, first, rand_vals, screen=0):
    """Greedy k-means++ on dense ``X - mean``, the loop of scikit-learn's
    ``_kmeans_plusplus`` compiled whole (no Python work between the parallel passes).

    Parameters
    ----------
    X, mean, sample_weight
        As in :func:`_kmeanspp_trials_dense`.
    first : int
        Index of the first centre.
    rand_vals : ndarray of shape (n_clusters - 1, n_local_trials), float64
        The uniform draws of each later step (``random_state.uniform``, drawn at once:
        the same values as one call per step); scaled by the current potential here.
    screen : {0, 1, 2}, default=0
        Whether steps run through the float32 screen (:func:`_kmeanspp_trials_screened`;
        float64 X only, and only where X's centred norms stay below ``SCREEN_MAX_NORM``):
        0 never; 1 when it pays off: from the step after one where fewer than
        ``SCREEN_ON_FRACTION`` of the samples had a candidate closer than their closest
        centre, back to the plain pass above ``SCREEN_OFF_FRACTION`` (the screen computes
        those samples' distances twice); 2 from the first step on. The result is the same
        in every case.

    Returns
    -------
    indices : ndarray of shape (n_clusters,), int64
        Row of X chosen for each centre.
    n_screened : int
        The number of steps that ran through the screen.
    """
    n_samples, n_features = X.shape
    n_steps, n_trials = rand_vals.shape
    n_blocks = _n_blocks(n_samples)
    indices = np.empty(n_steps + 1, dtype=np.int64)
    indices[0] = first
    # closest distances, and their per-block sums (the potential's terms) for the search
    closest, block_pots, current_pot = _kmeanspp_first(X, mean, sample_weight, first)
    pots = np.zeros((n_blocks, n_trials))
    cand = np.empty((n_trials, n_features), dtype=X.dtype)
    candidate_ids = np.empty(n_trials, dtype=np.int64)
    counts = np.zeros(n_blocks, dtype=np.int64)

    can_screen = screen > 0 and X.itemsize == 8
    screening = False
    # the screening copy and its buffers, allocated when first needed
    m = np.zeros(0)
    tiles = np.empty((0, 0, SCREEN_TILE), dtype=np.float32)
    ynorm = np.empty(0)
    n_groups = (n_trials + SCREEN_GROUP - 1) // SCREEN_GROUP
    S = np.zeros((n_groups * SCREEN_GROUP, n_features), dtype=np.float32)
    shifted = np.empty((n_trials, n_features))
    rows = np.empty(0, dtype=np.intp)
    vals = np.empty((0, 0))
    # two distance buffers for the plain pass, used in turn: the best candidate's row becomes
    # ``closest`` (read by the next pass, which writes the other buffer)
    buffers = np.empty((2, 0, 0), dtype=X.dtype)
    fraction = 1.0
    n_screened = 0
    for c in range(1, n_steps + 1):
        if (
            can_screen
            and not screening
            and (screen == 2 or (fraction < SCREEN_ON_FRACTION and n_steps - c >= SCREEN_MIN_STEPS))
        ):
            if tiles.shape[0] == 0:  # build the copy
                m = _screen_shift(X)
                n_tiles = (n_samples + SCREEN_TILE - 1) // SCREEN_TILE
                tiles = np.empty((n_tiles, n_features, SCREEN_TILE), dtype=np.float32)
                ynorm = np.empty(n_samples)
                if _screen_copy(X, m, tiles, ynorm) > SCREEN_MAX_NORM:
                    can_screen = False  # (the copy is released: the plain pass goes on)
                    tiles = np.empty((1, 0, SCREEN_TILE), dtype=np.float32)
                    ynorm = np.empty(0)
                else:
                    rows = np.empty(n_samples, dtype=np.intp)
                    vals = np.empty((n_samples, n_trials))
            if can_screen:
                screening = True
                closest = closest.copy()  # updated in place from now on
                buffers = np.empty((2, 0, 0), dtype=X.dtype)
        _kmeanspp_candidates(
            X,
            mean,
            sample_weight,
            closest,
            block_pots,
            rand_vals[c - 1],
            current_pot,
            candidate_ids,
            cand,
        )
        if screening:
            # the candidates as the plain pass holds them (shifted back by the mean)
            zmax = 0.0
            for t in range(n_trials):
                zz = 0.0
                for f in range(n_features):
                    s = np.float64(cand[t, f]) + np.float64(mean[f])
                    shifted[t, f] = s
                    v = s - m[f]
                    S[t, f] = np.float32(v)
                    zz += v * v
                zmax = max(zmax, math.sqrt(zz))
            for t in range(n_trials, n_groups * SCREEN_GROUP):
                for f in range(n_features):
                    S[t, f] = S[0, f]
            _kmeanspp_trials_screened(
                X, sample_weight, shifted, S, zmax, tiles, ynorm, closest, pots, rows, vals, counts
            )
        else:
            if buffers.shape[1] == 0:
                buffers = np.empty((2, n_trials, n_samples), dtype=X.dtype)
            dist = buffers[c % 2]
            # count the samples that get closer only while the screen could still take over
            count = can_screen and (screen == 2 or n_steps - c > SCREEN_MIN_STEPS)
            if count:
                _kmeanspp_trials_dense_counted(
                    X, mean, sample_weight, cand, closest, dist, pots, counts
                )
            else:
                _kmeanspp_trials_dense(X, mean, sample_weight, cand, closest, dist, pots)
                counts[:] = n_samples
        best, current_pot = _kmeanspp_best(pots, block_pots)
        if screening:
            _kmeanspp_take_screened(closest, rows, vals, counts, best)
            n_screened += 1
        else:
            closest = buffers[c % 2][best]
        indices[c] = candidate_ids[best]
        if can_screen:
            # (the screen flags a superset of the improved samples, by the bound's slack only)
            fraction = counts.sum() / n_samples
            if screening and screen == 1 and fraction > SCREEN_OFF_FRACTION:
                screening = False
    return indices, n_screened


@njit(cache=CACHE)
def _kmeanspp_searchsorted_blocks(sample_weight, closest, block_pots, targets, out):
    """:func:`_kmeanspp_searchsorted`, exactly, without running the cumulative sum from the
    start for every search (float64 data; float32 data take the sequential search).

    ``block_pots`` holds the sum of ``sample_weight * closest`` over each sample block (as
    the trial kernels accumulate it). The sequential cumulative sum and the sum started from
    the block prefixes both lie within ``gamma_n * total`` of the exact prefix sums
    (``gamma_n = n u / (1 - n u)``, recursive summation of non-negative terms), hence within
    ``slack = 2 gamma_n total`` of each other, and both are non-decreasing. A search starts
    at the block whose prefix is below ``target - slack`` and scans from there; its index is
    the sequential search's when the value there is at least ``target + slack`` and the one
    before is below ``target - slack``. Otherwise (a value within the slack of the target,
    rare in float64) the sequential search decides. Writes ``out`` (int64).
    """
    n_samples = closest.shape[0]
    n_blocks = block_pots.shape[0]
    if closest.itemsize != 8 or n_blocks < 2:
        _kmeanspp_searchsorted(sample_weight, closest, targets, out)
        return
    prefix = np.empty(n_blocks + 1)
    prefix[0] = 0.0
    for b in range(n_blocks):
        prefix[b + 1] = prefix[b] + block_pots[b]
    nu = n_samples * 2.0**-53
    slack = 4.0 * nu / (1.0 - nu) * prefix[n_blocks]  # twice the bound above, for margin
    for t in range(targets.shape[0]):
        v = targets[t]
        b = 0
        while b + 1 < n_blocks and prefix[b + 1] < v - slack:
            b += 1
        start, _ = _block_bounds(b, n_blocks, n_samples)
        cum = prefix[b]
        before = cum  # value at the index before the one found (prefix[b] < v - slack)
        found = -1
        for i in range(start, n_samples):
            before = cum
            cum += sample_weight[i] * closest[i]
            if cum >= v:
                found = i
                break
        # (at the block's first sample, ``before`` is prefix[b], below the target - slack
        # for b > 0)
        exact = found >= 0 and cum >= v + slack and (found == 0 or before < v - slack)
        if not exact:
            _kmeanspp_searchsorted(sample_weight, closest, targets, out)
            return
        out[t] = found


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_sparse(
    data, indices, indptr, x_sq_norms, sample_weight, candidates, closest, dist_trials, pots
):
    """Sparse counterpart of :func:`_kmeanspp_trials_dense`.

    Distances are ``||x||^2 + ||c||^2 - 2 <x, c>`` clipped at 0, in float64 (as
    scikit-learn's ``euclidean_distances``); ``candidates`` are dense rows.
    """
    n_samples = indptr.shape[0] - 1
    n_trials, n_features = candidates.shape
    n_blocks = _n_blocks(n_samples)
    cand_norms = np.zeros(n_trials)
    for t in range(n_trials):
        for f in range(n_features):
            cand_norms[t] += np.float64(candidates[t, f]) * np.float64(candidates[t, f])
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        for t in range(n_trials):
            pot = 0.0
            for i in range(start, end):
                dot = 0.0
                for p in range(indptr[i], indptr[i + 1]):
                    dot += np.float64(data[p]) * np.float64(candidates[t, indices[p]])
                acc = np.float64(x_sq_norms[i]) + cand_norms[t] - 2.0 * dot
                if acc < 0.0:
                    acc = 0.0
                d = data.dtype.type(acc)
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot += np.float64(d) * sample_weight[i]
            pots[b, t] = pot


@njit(cache=CACHE)
def _kmeanspp_searchsorted(sample_weight, closest, rand_vals, out):
    """``searchsorted(cumsum(sample_weight * closest), rand_vals)``, clipped to n - 1.

    The cumulative sum runs sequentially in X's dtype, like ``np.cumsum``, without storing
    it: one pass over the samples, stopping at the largest value. Writes ``out`` (int64).
    """
    n_samples = closest.shape[0]
    n_vals = rand_vals.shape[0]
    # the values' order, by insertion (a handful of values: far less to compile than argsort)
    order = np.arange(n_vals)
    for a in range(1, n_vals):
        o = order[a]
        v = rand_vals[o]
        q = a
        while q > 0 and rand_vals[order[q - 1]] > v:
            order[q] = order[q - 1]
            q -= 1
        order[q] = o
    k = 0
    cum = closest.dtype.type(0.0)
    for i in range(n_samples):
        if k >= n_vals:
            break
        cum += sample_weight[i] * closest[i]
        while k < n_vals and cum >= rand_vals[order[k]]:
            out[order[k]] = i
            k += 1
    while k < n_vals:
        out[order[k]] = n_samples - 1
        k += 1


@njit(cache=CACHE)
def _weighted_choice_ok(sample_weight, total):
    """Whether ``p = sample_weight / total`` passes ``RandomState.choice``'s checks with room to
    spare (non-negative, summing to 1 well within NumPy's tolerance); else the caller lets
    NumPy decide (and raise)."""
    if not (total > 0.0 and total < np.inf):
        return False
    s = 0.0
    comp = 0.0
    for i in range(sample_weight.shape[0]):
        w = sample_weight[i]
        if not (w >= 0.0):
            return False
        y = np.float64(w / total) - comp  # Kahan summation, as NumPy checks the sum
        t = s + y
        comp = (t - s) - y
        s = t
    return abs(s - 1.0) <= 1e-9


@njit(cache=CACHE)
def _weighted_choice(sample_weight, total, u):
    """``RandomState.choice(n, p=sample_weight / total)`` given its uniform draw ``u``: the
    same float64 cumulative sum ``cdf`` of ``p`` (in ``p``'s dtype, then widened), divided by
    its last value, and the first index with ``cdf > u`` (``searchsorted(side='right')``)."""
    n_samples = sample_weight.shape[0]
    last = 0.0
    for i in range(n_samples):
        last += np.float64(sample_weight[i] / total)
    cum = 0.0
    for i in range(n_samples):
        cum += np.float64(sample_weight[i] / total)
        if cum / last > u:
            return i
    return n_samples - 1
