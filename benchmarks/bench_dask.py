"""Benchmark KMeans / GaussianMixture on Dask arrays (a LocalCluster of worker processes).

Cases, all on one ``distributed.LocalCluster`` (``--workers`` processes x 1 thread, one Numba
and OpenMP thread per worker), the same data and the same chunks for every implementation:

* **Lloyd per iteration**: n x 16 float32, k = 32, 20 iterations (tol = 0) from the same
  initial centres: ours on Dask (X persisted on the workers) vs dask-ml's ``KMeans`` on Dask,
  vs ours and scikit-learn in memory on as many threads as the cluster has. Ours on Dask and
  in memory run back to back, ``--repeats`` times interleaved (medians, per-pair ratios,
  per-iteration cost after the first, and CPU seconds over client, scheduler and workers,
  which do not depend on the rest of the machine's load). Same inertia expected.
* **Initialisation**: ours (k-means|| + Lloyd, 10 iterations) vs dask-ml (k-means|| + 10
  iterations): wall time and final inertia.
* **GaussianMixture** full covariance, n x 16 float64, k = 16, 10 EM iterations from the
  same parameters: ours on Dask vs ours in memory vs scikit-learn in memory.
* **Weak scaling**: Lloyd per iteration with 1 worker on n/2 samples and 2 workers on n.
* ``--out-of-core``: workers limited to 1 GiB, a 4 GiB float32 array built lazily by
  ``da.random`` (never held whole), KMeans fit; peak worker memory (not run by ``--quick``).

The kernels are warmed in the client first (the workers then load the on-disk Numba cache);
the first fit on the cluster is reported separately. Run by hand (never in CI)::

    python benchmarks/bench_dask.py --quick          # n = 400k / 200k (a shared 2-core box)
    python benchmarks/bench_dask.py                  # n = 10M (Lloyd) / 2M (init) / 4M (GMM)
    python benchmarks/bench_dask.py --n-lloyd 2000000 --n-gmm 1000000   # reduced sizes

Results go to ``benchmarks/results/dask[_quick].json`` (or ``--out``).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# set in each worker after it starts (``LocalCluster(env=...)``): fine as long as this main
# module, which the spawned workers import, does not import Numba at its top
_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def _meta(args):
    import dask
    import distributed
    import numba
    import sklearn

    try:
        import dask_ml

        dask_ml_version = dask_ml.__version__
    except ImportError:  # pragma: no cover
        dask_ml_version = None
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = bool(
        subprocess.run(
            # (the results files themselves do not count)
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":!benchmarks/results",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "sklearn": sklearn.__version__,
        "dask": dask.__version__,
        "distributed": distributed.__version__,
        "dask_ml": dask_ml_version,
        "cpu_count": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "workers": args.workers,
        "threads_per_worker": 1,
        "worker_env": _ENV,
        "quick": args.quick,
    }


def _cluster(n_workers, memory_limit="auto"):
    import distributed

    cluster = distributed.LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        memory_limit=memory_limit,
        env=_ENV,
    )
    return cluster, distributed.Client(cluster)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _warm():
    """Compile / load the kernels in this process so that the workers find the cache."""
    import dask
    import dask.array as da

    from sklearn_deep.cluster import KMeans
    from sklearn_deep.mixture import GaussianMixture

    rng = np.random.default_rng(0)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in (np.float32, np.float64):
            Xn = rng.normal(size=(400, 16)).astype(dtype)
            X = da.from_array(Xn, chunks=200)
            KMeans(4, n_init=1, max_iter=2, random_state=0).fit(X)
            KMeans(32, init=Xn[:32], n_init=1, max_iter=3).fit(Xn)
            GaussianMixture(2, max_iter=2, random_state=0).fit(X)
            GaussianMixture(2, max_iter=2, random_state=0).fit(Xn)


def _data(n, d, dtype, n_chunks, seed):
    """Overlapping Gaussian blobs as a persisted dask array (and the NumPy copy)."""
    import dask.array as da
    import distributed

    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 2.0, (32, d))
    X = (centers[rng.integers(0, 32, n)] + rng.normal(size=(n, d))).astype(dtype)
    Xd = da.from_array(X, chunks=(-(-n // n_chunks), d)).persist()
    distributed.wait(Xd)
    return X, Xd


def _blocks_per_worker(client, Xd):
    who = client.who_has(Xd)
    counts = {}
    for workers in who.values():
        for w in workers:
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts.values())


def _inertia(X, centers):
    """Inertia of ``centers`` on ``X`` (float64), the same formula for every contender."""
    from sklearn.metrics import pairwise_distances_argmin_min

    _, dist = pairwise_distances_argmin_min(X, np.asarray(centers, dtype=X.dtype))
    return float(np.sum(dist.astype(np.float64) ** 2))


class _InMemoryThreads:
    """In-memory fits on as many threads as the cluster has (Numba and BLAS)."""

    def __init__(self, n_threads):
        self.n_threads = n_threads

    def __enter__(self):
        from threadpoolctl import threadpool_limits

        from sklearn_deep._numba_config import numba_threads

        self._numba = numba_threads(self.n_threads)
        self._numba.__enter__()
        self._blas = threadpool_limits(self.n_threads)
        return self

    def __exit__(self, *exc):
        self._blas.restore_original_limits()
        self._numba.__exit__(*exc)


def _worker_peak_rss_mb(client):
    def peak():
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    return sorted(client.run(peak).values())


def _cpu_s(client):
    """CPU seconds used so far by this process (client, scheduler) and the workers."""
    import psutil

    def worker_cpu():
        import psutil

        t = psutil.Process().cpu_times()
        return t.user + t.system

    t = psutil.Process().cpu_times()
    return t.user + t.system + sum(client.run(worker_cpu).values())


def _paired(runs, reps, client=None, cpu=None):
    """Run the ``(name, fn)`` pairs interleaved ``reps`` times: per name the list of
    ``(seconds, result)``; with ``client``, ``cpu[name]`` gets the CPU seconds of each run
    over this process and the workers (independent of the other load on the machine)."""
    out = {name: [] for name, _ in runs}
    for _ in range(reps):
        for name, fn in runs:
            c0 = None if client is None else _cpu_s(client)
            out[name].append(_timed(fn))
            if client is not None:
                cpu.setdefault(name, []).append(_cpu_s(client) - c0)
    return out


def _cpu_per_iter(cpu, runs, name):
    return float(np.median([c / r.n_iter_ for c, (_, r) in zip(cpu[name], runs[name])]))


def _paired_ratio(a, b):
    """Median over repeats of the ratio of per-iteration times of ``a`` and ``b``."""
    return float(
        np.median([(ta / ra.n_iter_) / (tb / rb.n_iter_) for (ta, ra), (tb, rb) in zip(a, b)])
    )


def _marginal(full, one):
    """Median over repeats of ``(t_full - t_one) / (n_iter_full - 1)``."""
    return float(
        np.median([(tf - t1) / max(rf.n_iter_ - 1, 1) for (tf, rf), (t1, _) in zip(full, one)])
    )


def _median_per_iter(timings):
    return float(np.median([t / max(r.n_iter_, 1) for t, r in timings]))


def bench_lloyd(n, n_chunks, n_threads, reps, dask_ml_iters, results, client):
    from sklearn.cluster import KMeans as SkKMeans

    from sklearn_deep.cluster import KMeans

    k, d, iters = 32, 16, 20
    X, Xd = _data(n, d, np.float32, n_chunks, 0)
    init = X[np.random.default_rng(1).choice(n, k, replace=False)].copy()
    out = {
        "n_samples": n,
        "n_features": d,
        "n_clusters": k,
        "max_iter": iters,
        "n_chunks": n_chunks,
        "blocks_per_worker": _blocks_per_worker(client, Xd),
        "repeats": reps,
    }
    kw = dict(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0)

    t_first, _ = _timed(lambda: KMeans(**{**kw, "max_iter": 1}).fit(Xd))
    out["ours_dask_first_fit_1iter_s"] = t_first
    kw1 = {**kw, "max_iter": 1}
    cpu = {}
    with _InMemoryThreads(n_threads):
        runs = _paired(
            [
                ("dask", lambda: KMeans(**kw).fit(Xd)),
                ("memory", lambda: KMeans(**kw).fit(X)),
                ("dask_1", lambda: KMeans(**kw1).fit(Xd)),
                ("memory_1", lambda: KMeans(**kw1).fit(X)),
            ],
            reps,
            client,
            cpu,
        )
        t_sk, sk = _timed(lambda: SkKMeans(**kw).fit(X))
    ours, mem = runs["dask"][-1][1], runs["memory"][-1][1]
    out["ours_dask_n_iter"] = int(ours.n_iter_)
    out["ours_dask_s_per_iter"] = _median_per_iter(runs["dask"])
    out["ours_dask_s_per_iter_all"] = [t / r.n_iter_ for t, r in runs["dask"]]
    out["ours_dask_inertia"] = ours.inertia_
    out["ours_memory_n_iter"] = int(mem.n_iter_)
    out["ours_memory_s_per_iter"] = _median_per_iter(runs["memory"])
    out["ours_memory_s_per_iter_all"] = [t / r.n_iter_ for t, r in runs["memory"]]
    out["ours_memory_inertia"] = mem.inertia_
    out["inertia_rel_diff_dask_vs_memory"] = abs(ours.inertia_ - mem.inertia_) / mem.inertia_
    # float32: the centring mean is rounded differently (Dask sums blocks in float64), so a
    # few samples at near-ties may change cluster
    out["labels_differing_dask_vs_memory"] = int(np.sum(ours.labels_.compute() != mem.labels_))
    out["sklearn_memory_s_per_iter"] = t_sk / sk.n_iter_
    out["sklearn_memory_inertia"] = float(sk.inertia_)
    out["peak_worker_rss_mb_after_ours"] = _worker_peak_rss_mb(client)
    try:
        from dask_ml.cluster import KMeans as DaskMLKMeans
    except ImportError:  # pragma: no cover
        DaskMLKMeans = None
    if DaskMLKMeans is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, dml = _timed(
                lambda: DaskMLKMeans(n_clusters=k, init=init, max_iter=dask_ml_iters, tol=0).fit(Xd)
            )
        out["dask_ml_max_iter"] = dask_ml_iters
        out["dask_ml_s_per_iter"] = t / max(dml.n_iter_, 1)
        out["dask_ml_n_iter"] = int(dml.n_iter_)
        out["dask_ml_inertia_recomputed"] = _inertia(X, dml.cluster_centers_)
        out["ratio_dask_ml_over_ours_dask"] = (
            out["dask_ml_s_per_iter"] / out["ours_dask_s_per_iter"]
        )
    out["ratio_ours_dask_over_ours_memory"] = (
        out["ours_dask_s_per_iter"] / out["ours_memory_s_per_iter"]
    )
    # the same ratio per pair of back-to-back fits (robust to a load that drifts between
    # repeats), and per iteration after the first: (fit of 20 - fit of 1) / 19
    out["ratio_ours_dask_over_ours_memory_paired_median"] = _paired_ratio(
        runs["dask"], runs["memory"]
    )
    # CPU seconds per iteration over the client, scheduler and workers: what the fit costs
    # whatever else runs on the machine
    out["ours_dask_cpu_s_per_iter"] = _cpu_per_iter(cpu, runs, "dask")
    out["ours_memory_cpu_s_per_iter"] = _cpu_per_iter(cpu, runs, "memory")
    out["ratio_cpu_ours_dask_over_ours_memory"] = (
        out["ours_dask_cpu_s_per_iter"] / out["ours_memory_cpu_s_per_iter"]
    )
    out["ours_dask_marginal_s_per_iter"] = _marginal(runs["dask"], runs["dask_1"])
    out["ours_memory_marginal_s_per_iter"] = _marginal(runs["memory"], runs["memory_1"])
    out["ratio_marginal_ours_dask_over_ours_memory"] = (
        out["ours_dask_marginal_s_per_iter"] / out["ours_memory_marginal_s_per_iter"]
    )
    out["ratio_ours_dask_over_sklearn_memory"] = (
        out["ours_dask_s_per_iter"] / out["sklearn_memory_s_per_iter"]
    )
    results["lloyd"] = out
    print(json.dumps(out, indent=1), flush=True)


def bench_init(n, n_chunks, results, client):
    """k-means|| + 10 Lloyd iterations, ours vs dask-ml's, on the same persisted array."""
    from sklearn_deep.cluster import KMeans

    k = 32
    X, Xd = _data(n, 16, np.float32, n_chunks, 0)
    out = {"n_samples": n, "n_clusters": k, "n_chunks": n_chunks}
    t, ours_init = _timed(lambda: KMeans(k, max_iter=10, tol=0, random_state=0).fit(Xd))
    out["ours_kmeans_parallel_plus_10_iter_s"] = t
    out["ours_kmeans_parallel_plus_10_iter_inertia"] = ours_init.inertia_
    try:
        from dask_ml.cluster import KMeans as DaskMLKMeans
    except ImportError:  # pragma: no cover
        DaskMLKMeans = None
    if DaskMLKMeans is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, dml_init = _timed(
                lambda: DaskMLKMeans(n_clusters=k, max_iter=10, tol=0, random_state=0).fit(Xd)
            )
        out["dask_ml_kmeans_parallel_plus_10_iter_s"] = t
        out["dask_ml_kmeans_parallel_plus_10_iter_inertia_recomputed"] = _inertia(
            X, dml_init.cluster_centers_
        )
    results["init"] = out
    print(json.dumps(out, indent=1), flush=True)


def bench_gmm(n, n_chunks, n_threads, reps, sklearn_iters, results, client):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from sklearn_deep.mixture import GaussianMixture

    k, d, iters = 16, 16, 10
    X, Xd = _data(n, d, np.float64, n_chunks, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = GaussianMixture(k, max_iter=1, init_params="random_from_data", random_state=0)
        start.fit(X[: min(n, 50_000)])
    kw = dict(
        n_components=k,
        covariance_type="full",
        max_iter=iters,
        tol=0,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    out = {
        "n_samples": n,
        "n_features": d,
        "n_components": k,
        "max_iter": iters,
        "n_chunks": n_chunks,
        "blocks_per_worker": _blocks_per_worker(client, Xd),
        "repeats": reps,
    }
    cpu = {}
    with warnings.catch_warnings(), _InMemoryThreads(n_threads):
        warnings.simplefilter("ignore")
        runs = _paired(
            [
                ("dask", lambda: GaussianMixture(**kw).fit(Xd)),
                ("memory", lambda: GaussianMixture(**kw).fit(X)),
            ],
            reps,
            client,
            cpu,
        )
        t_sk, sk = _timed(lambda: SkGaussianMixture(**{**kw, "max_iter": sklearn_iters}).fit(X))
    ours, mem = runs["dask"][-1][1], runs["memory"][-1][1]
    out["ours_dask_s_per_iter"] = _median_per_iter(runs["dask"])
    out["ours_dask_s_per_iter_all"] = [t / r.n_iter_ for t, r in runs["dask"]]
    out["ours_dask_lower_bound"] = float(ours.lower_bound_)
    out["ours_memory_s_per_iter"] = _median_per_iter(runs["memory"])
    out["ours_memory_s_per_iter_all"] = [t / r.n_iter_ for t, r in runs["memory"]]
    out["ours_memory_lower_bound"] = float(mem.lower_bound_)
    out["lower_bound_rel_diff_dask_vs_memory"] = abs(
        (ours.lower_bound_ - mem.lower_bound_) / mem.lower_bound_
    )
    out["sklearn_memory_max_iter"] = sklearn_iters
    out["sklearn_memory_s_per_iter"] = t_sk / sk.n_iter_
    out["ratio_ours_dask_over_ours_memory"] = (
        out["ours_dask_s_per_iter"] / out["ours_memory_s_per_iter"]
    )
    out["ratio_ours_dask_over_ours_memory_paired_median"] = _paired_ratio(
        runs["dask"], runs["memory"]
    )
    out["ours_dask_cpu_s_per_iter"] = _cpu_per_iter(cpu, runs, "dask")
    out["ours_memory_cpu_s_per_iter"] = _cpu_per_iter(cpu, runs, "memory")
    out["ratio_cpu_ours_dask_over_ours_memory"] = (
        out["ours_dask_cpu_s_per_iter"] / out["ours_memory_cpu_s_per_iter"]
    )
    out["ratio_sklearn_memory_over_ours_dask"] = (
        out["sklearn_memory_s_per_iter"] / out["ours_dask_s_per_iter"]
    )
    out["peak_worker_rss_mb"] = _worker_peak_rss_mb(client)
    results["gmm_full"] = out
    print(json.dumps(out, indent=1), flush=True)


def _lloyd_per_iter(n, n_chunks):
    from sklearn_deep.cluster import KMeans

    X, Xd = _data(n, 16, np.float32, n_chunks, 4)
    init = X[:32].copy()
    KMeans(32, init=init, n_init=1, max_iter=1).fit(Xd)  # workers load the kernels
    t, km = _timed(lambda: KMeans(32, init=init, n_init=1, max_iter=20, tol=0).fit(Xd))
    return t / km.n_iter_


def bench_out_of_core(results):
    import dask.array as da

    from sklearn_deep.cluster import KMeans

    cluster, client = _cluster(2, memory_limit="1GiB")
    try:
        n = (4 << 30) // (16 * 4)
        X = da.random.RandomState(0).normal(size=(n, 16), chunks=(1 << 20, 16)).astype("float32")
        t, km = _timed(
            lambda: KMeans(32, init="random", n_init=1, max_iter=3, tol=0, random_state=0).fit(X)
        )

        def peak_rss_mb():
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        results["out_of_core"] = {
            "array_gib": X.nbytes / 2**30,
            "worker_memory_limit_gib": 1,
            "iterations": km.n_iter_,
            "fit_s": t,
            "peak_worker_rss_mb": client.run(peak_rss_mb),
        }
        print(json.dumps(results["out_of_core"], indent=1), flush=True)
    finally:
        client.close()
        cluster.close()


def main():
    # the in-memory reference's threads sleep when idle, as the workers' do (CPU times)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    warnings.filterwarnings("ignore", message="Sending large graph")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a shared machine)")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-lloyd", type=int, default=None, help="samples, Lloyd case")
    parser.add_argument("--n-init", type=int, default=None, help="samples, k-means|| case")
    parser.add_argument("--n-gmm", type=int, default=None, help="samples, mixture case")
    parser.add_argument("--repeats", type=int, default=3, help="paired repeats (medians)")
    parser.add_argument(
        "--cases", default="lloyd,init,gmm,scaling", help="comma-separated cases to run"
    )
    parser.add_argument("--out-of-core", action="store_true", help="also the 4 GiB fit")
    parser.add_argument(
        "--out-of-core-only", action="store_true", help="only the 4 GiB fit (no warm-up)"
    )
    args = parser.parse_args()
    out_path = args.out or ROOT / "benchmarks" / "results" / (
        "dask_quick.json" if args.quick else "dask.json"
    )
    n_lloyd = args.n_lloyd or (400_000 if args.quick else 10_000_000)
    n_init = args.n_init or (400_000 if args.quick else 2_000_000)
    n_gmm = args.n_gmm or (200_000 if args.quick else 4_000_000)
    n_chunks = 4 * args.workers
    cases = set(args.cases.split(","))

    results = {"meta": _meta(args)}
    if args.out_of_core_only:
        bench_out_of_core(results)
        results["meta"]["loadavg_end"] = os.getloadavg()
        out_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {out_path}")
        return
    out_path.parent.mkdir(parents=True, exist_ok=True)

    def save():  # after each case: a run cut short keeps what it measured
        results["meta"]["loadavg_end"] = os.getloadavg()
        out_path.write_text(json.dumps(results, indent=2) + "\n")

    t, _ = _timed(_warm)
    results["meta"]["client_warmup_s"] = t
    results["meta"]["in_memory_threads"] = args.workers
    cluster, client = _cluster(args.workers)
    try:
        if "lloyd" in cases:
            bench_lloyd(n_lloyd, n_chunks, args.workers, args.repeats, 10, results, client)
            save()
        if "init" in cases:
            bench_init(n_init, n_chunks, results, client)
            save()
        if "gmm" in cases:
            bench_gmm(n_gmm, n_chunks, args.workers, args.repeats, 1, results, client)
            save()
    finally:
        client.close()
        cluster.close()

    if "scaling" in cases:
        scaling = {}
        for workers, n in ((1, n_lloyd // 2), (2, n_lloyd)):
            cluster, client = _cluster(workers)
            try:
                scaling[f"{workers}_workers_n{n}_s_per_iter"] = _lloyd_per_iter(n, 4 * workers)
            finally:
                client.close()
                cluster.close()
        results["weak_scaling_lloyd"] = scaling
        print(json.dumps(scaling, indent=1), flush=True)

    if args.out_of_core:
        bench_out_of_core(results)
    save()
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
