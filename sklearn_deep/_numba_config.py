"""Shared Numba configuration: the caching switch, thread policy and compile reports.

Kernel modules import ``CACHE`` from here and decorate with ``@njit(cache=CACHE)``.
Set the environment variable ``SKLEARN_DEEP_NUMBA_CACHE=0`` to disable on-disk caching.

Where the cache goes: Numba writes it next to the package's sources (``__pycache__``) when
that directory is writable, else (a read-only install) under the user's cache directory
(``~/.cache/numba`` on Linux); the environment variable ``NUMBA_CACHE_DIR`` overrides both.
``python -m sklearn_deep.compile`` fills it ahead of time.
"""

import os
import sys
import time
from contextlib import contextmanager

import numba
from numba.core import event

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


# below this much work per pass (n_samples * n_clusters * n_features) the kernels run on one
# thread: waking the thread pool costs more than it saves (much more on a busy machine)
PARALLEL_MIN_WORK = 1 << 18


def threads_for_work(work, n_threads=None):
    """Numba threads for a pass of ``work`` multiply-adds: one below ``PARALLEL_MIN_WORK``,
    else :func:`effective_n_threads` of ``n_threads``."""
    return 1 if work < PARALLEL_MIN_WORK else effective_n_threads(n_threads)


def threads_for(work):
    """Context: :func:`numba_threads` set by :func:`threads_for_work` for a pass of ``work``
    multiply-adds (one thread for small passes; results never depend on it)."""
    return numba_threads(threads_for_work(work))


def cache_location(dispatcher):
    """Directory of ``dispatcher``'s on-disk cache, or None when caching is off."""
    impl = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    return impl


class _CompileReport(event.Listener):
    def __init__(self, who, stream):
        self.who = who
        self.stream = stream
        self.n_compiled = 0
        self.depth = 0
        self.start = None

    def on_start(self, ev):
        if self.start is None:
            self.start = time.perf_counter()
            where = cache_location(ev.data["dispatcher"])
            where = f"cache: {where}" if where else "on-disk cache off"
            print(
                f"[{self.who}] compiling Numba kernels (first use of this code path and "
                f"dtype; once per machine with the cache), {where}",
                file=self.stream,
                flush=True,
            )
        self.n_compiled += 1

    def on_end(self, ev):
        pass


@contextmanager
def report_compilation(verbose, who, stream=None):
    """With ``verbose``, say when the enclosed block compiles Numba kernels (on first use
    with an empty cache) and where their cache goes; then how many and how long."""
    if not verbose:
        yield
        return
    report = _CompileReport(who, stream or sys.stdout)
    with event.install_listener("numba:compile", report):
        yield
    if report.start is not None:
        print(
            f"[{who}] compiled {report.n_compiled} Numba functions in "
            f"{time.perf_counter() - report.start:.1f} s",
            file=report.stream,
            flush=True,
        )
