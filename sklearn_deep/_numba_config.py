"""Shared Numba configuration: the caching switch and a thread-count context manager.

Kernel modules import ``CACHE`` from here and decorate with ``@njit(cache=CACHE)``.
Set the environment variable ``SKLEARN_DEEP_NUMBA_CACHE=0`` to disable on-disk caching
(e.g. on a read-only install).
"""

import os
from contextlib import contextmanager

import numba

CACHE = os.environ.get("SKLEARN_DEEP_NUMBA_CACHE", "1") not in ("0", "false", "False", "")


def effective_n_threads(n_threads=None):
    """Number of Numba threads to use: ``n_threads`` clipped to Numba's pool size.

    ``None`` means the current Numba setting (``numba.get_num_threads()``), which follows
    ``NUMBA_NUM_THREADS`` and :func:`numba.set_num_threads`.
    """
    max_threads = numba.config.NUMBA_NUM_THREADS
    if n_threads is None:
        return numba.get_num_threads()
    return int(max(1, min(int(n_threads), max_threads)))


@contextmanager
def numba_threads(n_threads=None):
    """Run the enclosed block with ``n_threads`` Numba threads, then restore the old count."""
    previous = numba.get_num_threads()
    numba.set_num_threads(effective_n_threads(n_threads))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
