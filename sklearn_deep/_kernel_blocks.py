"""Building blocks shared by the Numba kernels: sample blocks and the parallel loop over them.

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
none of its code. Measured on a 2-core machine: compiling the parallel loop around the
bounded k-means pass took 3.0 s with the block kernel linked in and 0.5 s through the
pointer. A block kernel is called once per block (at most ``MAX_BLOCKS`` calls per pass),
so the indirect call costs nothing measurable.
"""

import numba
import numpy as np
from numba import njit, prange, types

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


class _BlockKernel(types.WrapperAddressProtocol):
    """A compiled block kernel for one type of its arguments, passed to a compiled function
    by address (Numba's first-class function protocol)."""

    def __init__(self, kernel, argtypes):
        kernel.compile(argtypes)  # (from the on-disk cache when it holds it)
        cres = kernel.overloads[argtypes]
        self._signature = cres.signature
        self._address = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)

    def __wrapper_address__(self):
        return self._address

    def signature(self):
        return self._signature


_KERNELS = {}


def _block_kernel(kernel, args):
    argtypes = (numba.typeof(args), types.int64, types.int64, types.int64)
    key = (kernel, argtypes)
    compiled = _KERNELS.get(key)
    if compiled is None:
        compiled = _KERNELS[key] = _BlockKernel(kernel, argtypes)
    return compiled


@njit(cache=CACHE, parallel=True)
def _for_each_block(kernel, args, n_samples, out):
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
    _for_each_block(_block_kernel(kernel, args), args, n_samples, out)
