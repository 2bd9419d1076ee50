"""Building blocks shared by the Numba kernels: sample blocks and the parallel loop over them,
register tiles (4 x 4 products over samples transposed into tiles), padding and the fast-math
switches.

Sample blocks
-------------
Samples are split into at most ``MAX_BLOCKS`` contiguous blocks of at least ``CHUNK_SIZE``
samples, whose boundaries depend only on ``n_samples`` (never on the thread count). A
parallel loop runs over blocks; each block writes its own slice of the partial results,
which the caller reduces serially in block order, so results are bit-identical whatever the
number of threads.

The parallel loop, compiled once
--------------------------------
Numba compiles a ``parallel=True`` function slowly, and more slowly the more code it holds:
the parallel loop's body becomes a separate function into which everything it calls is
linked and optimised again, once more for the wrapper that runs it on the thread pool and
once more for the function itself. :func:`for_each_block` is a parallel loop that holds
nothing but a call, through a function pointer, to a separately compiled, serial *block
kernel*: the block kernel is compiled (or loaded from the cache) once, and the loop links
none of its code (the docs' benchmarks page has the figures). A block kernel is called once
per block (at most ``MAX_BLOCKS`` calls per pass), so the indirect call costs nothing
measurable.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._numba_config import CACHE

# samples per block are at least this many (small data runs in one block)
CHUNK_SIZE = 256
# the number of blocks never exceeds this; it bounds the partial-sum buffers' size
MAX_BLOCKS = 64


@njit(cache=CACHE)
def _n_blocks(n_samples):
    """Number of sample blocks for ``n_samples`` (0 for no samples; depends on
    ``n_samples`` only)."""
    if n_samples == 0:
        return 0
    n_chunks = (n_samples + CHUNK_SIZE - 1) // CHUNK_SIZE
    return min(n_chunks, MAX_BLOCKS)


def n_blocks(n_samples):
    """:func:`_n_blocks` in Python, at least 1 (the first dimension of the partial-result
    buffers, which the kernels never index when there are no samples)."""
    n_chunks = -(-n_samples // CHUNK_SIZE)
    return max(min(n_chunks, MAX_BLOCKS), 1)


@njit(cache=CACHE, inline="always")
def _block_bounds(b, n_blocks, n_samples):
    """``(start, end)`` of block ``b``."""
    return b * n_samples // n_blocks, (b + 1) * n_samples // n_blocks


class _BlockKernel:
    """A compiled block kernel for one type of its arguments, passed to a compiled function
    by address (Numba's first-class function protocol: ``__wrapper_address__`` and
    ``signature``). Its Numba type is stored (``_numba_type_``): typing the protocol object
    afresh at every call costs more than a small pass."""

    def __init__(self, kernel, argtypes):
        kernel.compile(argtypes)  # (from the on-disk cache when it holds it)
        cres = kernel.overloads[argtypes]
        self._signature = cres.signature
        self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
        self._numba_type_ = types.FunctionType(cres.signature)

    def __wrapper_address__(self):
        return self._address

    def signature(self):
        return self._signature


_KERNELS = {}


def _arg_key(a):
    # what decides Numba's type of a kernel argument, cheaply (numba.typeof of a tuple goes
    # through Python and costs far more than a small pass)
    if isinstance(a, np.ndarray):
        return (a.dtype.num, a.ndim, a.flags.c_contiguous, a.flags.writeable, a.flags.aligned)
    return type(a)


def _block_kernel(kernel, args):
    key = (kernel, *map(_arg_key, args))
    compiled = _KERNELS.get(key)
    if compiled is None:
        argtypes = (numba.typeof(args), types.int64, types.int64, types.int64)
        compiled = _KERNELS[key] = _BlockKernel(kernel, argtypes)
    return compiled


@njit(cache=CACHE, parallel=True)
def _for_each_block(kernel, n_samples, out, *args):
    # (the arguments come one by one, which Numba types quickly at the call, not as a tuple)
    n_blocks = _n_blocks(n_samples)
    for b in prange(n_blocks):
        bi = np.int64(b)  # (the loop index is unsigned inside the parallel loop's body)
        start, end = _block_bounds(bi, n_blocks, n_samples)
        out[b] = kernel(args, bi, start, end)


def for_each_block(kernel, args, n_samples, out):
    """``out[b] = kernel(args, b, start, end)`` for every sample block, in parallel.

    Parameters
    ----------
    kernel : numba dispatcher
        A serial ``@njit`` function ``kernel(args, b, start, end)`` of samples
        ``start:end`` (block ``b``, int64), returning a number; it writes only block
        ``b``'s share of the arrays in ``args``.
    args : tuple
        The kernel's arguments (arrays and scalars), passed as one tuple.
    n_samples : int
    out : ndarray of shape (n_blocks(n_samples),)
        Written: the kernel's return value for each block.
    """
    _for_each_block(_block_kernel(kernel, args), n_samples, out, *args)


@njit(cache=CACHE)
def _for_each_block_serial(kernel, n_samples, out, *args):
    # :func:`_for_each_block` without the parallel loop (much cheaper to compile)
    n_blocks = _n_blocks(n_samples)
    for b in range(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        out[b] = kernel(args, b, start, end)


def for_each_block_threads(kernel, args, n_samples, out):
    """:func:`for_each_block`, run by a serial loop when Numba runs on one thread (e.g.
    for small passes, see :func:`~sklearn_deep._numba_config.threads_for`): the same
    blocks in the same order, so the same results, and no parallel loop to compile for
    small data (a parallel loop costs about a second of compilation per signature)."""
    if numba.get_num_threads() == 1:
        _for_each_block_serial(_block_kernel(kernel, args), n_samples, out, *args)
    else:
        _for_each_block(_block_kernel(kernel, args), n_samples, out, *args)


@njit(cache=CACHE, parallel=True)
def _for_each_chunk(kernel, n_samples, chunk, out, *args):
    for b in prange(out.shape[0]):
        bi = np.int64(b)  # (the loop index is unsigned inside the parallel loop's body)
        start = bi * chunk
        out[b] = kernel(args, bi, start, min(n_samples, start + chunk))


def for_each_chunk(kernel, args, n_samples, chunk, out):
    """``out[b] = kernel(args, b, start, end)`` for chunks of ``chunk`` samples, in parallel.

    :func:`for_each_block` with the caller's partition: chunk ``b`` is samples
    ``b * chunk:min(n_samples, (b + 1) * chunk)``, for ``b < len(out)`` (for partial results
    whose size bounds the number of chunks, e.g. one scatter matrix per component and chunk).

    Parameters
    ----------
    kernel : numba dispatcher
        A serial ``@njit`` function ``kernel(args, b, start, end)`` as for
        :func:`for_each_block`.
    args : tuple
        The kernel's arguments (arrays and scalars), passed as one tuple.
    n_samples : int
    chunk : int
        Samples per chunk (``len(out) * chunk >= n_samples``).
    out : ndarray of shape (n_chunks,)
        Written: the kernel's return value for each chunk.
    """
    _for_each_chunk(_block_kernel(kernel, args), n_samples, chunk, out, *args)


# ---------------------------------------------------------------------------------------------
# register tiles: samples transposed, 4 x 4 products
TILE_SAMPLES = 128
# row length of the transposed sample tiles: not a multiple of 4 KiB / 8, so that the rows
# written by a transposition do not all fall into the same cache sets
TILE_STRIDE = TILE_SAMPLES + 16
# fast-math switches, only ever on plain accumulations (never where -inf, log-sum-exp,
# Cholesky or convergence tests live): products with fused multiply-adds only, and sums
# that may also be reassociated (e.g. vectorised over their terms)
_PRODUCT_FASTMATH = {"contract"}
_ACCUM_FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=CACHE, inline="always")
def _pad4(n):
    """``n`` rounded up to a multiple of 4 (the register tiles' padding)."""
    return (n + 3) // 4 * 4


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
    dtype, so the values are exactly those of the scalar loop; a float32 ``Xt`` of float64
    ``X`` gets them rounded to float32 (as the scalar loop's assignment rounds). ``X`` and
    ``Xt`` are C-contiguous 2-D arrays and ``mean`` a contiguous 1-D array of X's dtype; the
    caller guarantees ``f + 3 < X.shape[1]`` and ``r + 3 < Xt.shape[1]``.
    """
    sig = types.void(X, i0, i1, i2, i3, f, mean, Xt, r)

    def codegen(context, builder, signature, args):
        x_ty, mean_ty, xt_ty = (signature.args[k] for k in (0, 6, 7))
        vec_ty = ir.VectorType(context.get_value_type(x_ty.dtype), 4)
        out_ty = ir.VectorType(context.get_value_type(xt_ty.dtype), 4)
        align = x_ty.dtype.bitwidth // 8
        out_align = xt_ty.dtype.bitwidth // 8
        x_arr = context.make_array(x_ty)(context, builder, args[0])
        mean_arr = context.make_array(mean_ty)(context, builder, args[6])
        xt_arr = context.make_array(xt_ty)(context, builder, args[7])

        def index(k):
            return context.cast(builder, args[k], signature.args[k], types.intp)

        def ptr(ty, arr, idx, vt=vec_ty):
            p = cgutils.get_item_pointer(context, builder, ty, arr, idx, wraparound=False)
            return builder.bitcast(p, vt.as_pointer())

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
        if xt_ty.dtype != x_ty.dtype:
            cols = [builder.fptrunc(col, out_ty) for col in cols]
        for c in range(4):
            fc = builder.add(fi, ir.Constant(fi.type, c))
            builder.store(cols[c], ptr(xt_ty, xt_arr, [fc, ri], out_ty), align=out_align)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=CACHE)
def _gather_transposed(X, mean, rows, r0, m, Xt):
    """``Xt[:n_features, r] = X[rows[r0 + r]] - mean`` for ``r < m``: 4 x 4 blocks through
    vector shuffles, the remainders elementwise (the difference in X's dtype, rounded to
    Xt's)."""
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
