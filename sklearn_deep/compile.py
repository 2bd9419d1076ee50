"""Build the Numba cache ahead of time, so that no fit compiles at run time.

The estimators' kernels are compiled by Numba on first use (per dtype and code path) and
cached on disk; a fresh machine with an empty cache pays the compilation once. Run this
module where the cache should be built, e.g. in a Docker image build, a CI cache step or
on each Dask worker::

    python -m sklearn_deep.compile                      # float64 and float32, all estimators
    python -m sklearn_deep.compile --dtypes float64 --estimators KMeans

It fits each estimator on small synthetic data along every code path a fit, ``predict``,
``transform`` and ``score`` take (dense and sparse input, few and many clusters, every
covariance type), which compiles their kernels into the cache. The cache goes where Numba
puts it: next to the package's sources when they are writable, else under the user's cache
directory (``~/.cache/numba``); set ``NUMBA_CACHE_DIR`` to choose (the same value must be set
when the estimators run).
"""

import argparse
import sys
import time

import numpy as np

ESTIMATORS = ("KMeans", "GaussianMixture")
DTYPES = ("float64", "float32")


def _data(dtype, n_samples=600, n_features=30, seed=0):
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-8, 8, size=(20, n_features))
    X = centres[rng.randint(20, size=n_samples)] + rng.randn(n_samples, n_features)
    return np.ascontiguousarray(X, dtype=dtype)


def _warm_kmeans(dtype):
    import scipy.sparse as sp

    from .cluster import KMeans

    X = _data(dtype)
    # few clusters (fused ranking tiles, Hamerly bounds), many (BLAS products and Yinyang
    # groups for float64; the float32 screen of k-means++ for float64)
    for n_clusters in (8, 80):
        km = KMeans(n_clusters, n_init=1, random_state=0).fit(X)
        km.predict(X)
        km.transform(X)
        km.score(X)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 6, X, 0).astype(dtype))
    km = KMeans(8, n_init=1, random_state=0).fit(Xs)
    km.predict(Xs)
    km.transform(Xs)
    km.score(Xs)


def _warm_gaussian_mixture(dtype):
    from .mixture import GaussianMixture

    X = _data(dtype, n_features=5)
    for covariance_type in ("full", "tied", "diag", "spherical"):
        gm = GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
        gm.predict_proba(X)
        gm.score_samples(X)


_WARM = {"KMeans": _warm_kmeans, "GaussianMixture": _warm_gaussian_mixture}


def compile_all(dtypes=DTYPES, estimators=ESTIMATORS, stream=None):
    """Compile (or load from the cache) every kernel of ``estimators`` for ``dtypes``.

    Parameters
    ----------
    dtypes : sequence of {"float64", "float32"}
    estimators : sequence of {"KMeans", "GaussianMixture"}
    stream : file-like, default=None
        Where progress goes (None: standard output).

    Returns
    -------
    seconds : dict
        ``{(estimator, dtype): seconds}`` spent on each.
    """
    from numba.core import event

    from ._numba_config import cache_location

    stream = sys.stdout if stream is None else stream
    for name in estimators:
        if name not in _WARM:
            raise ValueError(f"estimators must be among {sorted(_WARM)}, got {name!r}")
    for dtype in dtypes:
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtypes must be float32 or float64, got {dtype!r}")

    caches = set()

    class _Where(event.Listener):
        def on_start(self, ev):
            where = cache_location(ev.data["dispatcher"])
            if where:
                caches.add(where)

        def on_end(self, ev):
            pass

    seconds = {}
    with event.install_listener("numba:compile", _Where()):
        for dtype in dtypes:
            for name in estimators:
                start = time.perf_counter()
                _WARM[name](np.dtype(dtype).type)
                seconds[name, dtype] = time.perf_counter() - start
                print(f"{name} {dtype}: {seconds[name, dtype]:.1f} s", file=stream, flush=True)
    if caches:
        print("cache written to:", *sorted(caches), sep="\n  ", file=stream)
    else:
        print("nothing to compile: the cache was complete", file=stream)
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_deep.compile", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--dtypes", default=",".join(DTYPES), help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--estimators",
        default=",".join(ESTIMATORS),
        help="comma-separated (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    try:
        compile_all(args.dtypes.split(","), args.estimators.split(","))
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
