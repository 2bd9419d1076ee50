"""Benchmark sklearn_deep's KMeans against scikit-learn's (lloyd and elkan), in one process.

For each (n_samples, n_features, n_clusters), dtype and data set, the same data and the same
initial centres (k-means++ from a fixed seed) go to every implementation, with ``n_init=1,
max_iter=20, tol=0``. Reported: median fit time, ratio to scikit-learn's fastest, inertia
(and whether the labels agree), peak extra resident memory of one fit, the time of
``kmeans_plusplus`` alone (same seed, same chosen indices), and the **limit**: the time of
the iterations' distance products (``2 n k d`` flops each) at the peak rate of a large NumPy
matrix product measured in the same run (same dtype and threads). A fresh interpreter
measures the first-call latency (Numba kernels loaded from the on-disk cache).

Two data sets: ``blobs`` (centres in a box, isotropic noise: easy, the bounds prune most
samples after a few iterations) and ``overlapping`` (random full covariances, centres spread
``3 / sqrt(d)`` per coordinate, so that the overlap grows with the dimension and labels keep
changing: the bounds prune little and the distance products dominate).

Run by hand (never in CI)::

    python benchmarks/bench_kmeans.py            # full: n = 100k, 1M, 200k
    python benchmarks/bench_kmeans.py --quick    # n / 10, fewer repeats
    python benchmarks/bench_kmeans.py --cases 0 2 --dtypes float32   # a subset
    python benchmarks/bench_kmeans.py --data overlapping --threads 1

Results go to ``benchmarks/results/kmeans.json`` (``--out`` to change).
"""

import argparse
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _bench_meta import finish, metadata  # noqa: E402

CASES = [(100_000, 16, 16), (1_000_000, 16, 32), (200_000, 64, 256)]
DTYPES = [np.float64, np.float32]
DATA = ["blobs", "overlapping"]


def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:  # pragma: no cover - not Linux / not permitted
        return False


def _peak_extra_mb(fn):
    """Peak resident memory above the level before ``fn()`` (MiB), Linux only."""
    if not _reset_hwm():
        return float("nan")
    before = _rss_mb()
    fn()
    return _hwm_mb() - before


def _median_time(fn, repeats, cpu_times=None):
    """Median wall time of ``repeats`` calls; CPU times (all threads) go to ``cpu_times``."""
    times = []
    out = None
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - start)
        if cpu_times is not None:
            cpu_times.append(time.process_time() - cpu)
    return float(np.median(times)), times, out


# short fits are repeated until their repeats take about this long (at most MAX_REPEATS):
# three repeats of a 20-50 ms fit gave medians 1.5x apart between runs on this machine
MIN_SECONDS = 0.5
MAX_REPEATS = 25


def _repeats_for(fn, repeats):
    """``repeats``, or more for a short ``fn`` (timed once here) up to ``MIN_SECONDS``."""
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(repeats, min(MAX_REPEATS, math.ceil(MIN_SECONDS / max(once, 1e-9))))


def make_data(n, d, k, dtype, seed=0):
    """Gaussian blobs: k centres in a box, overlapping enough that 20 iterations run."""
    rng = np.random.RandomState(seed)
    centers = rng.uniform(-10, 10, size=(k, d))
    labels = rng.randint(k, size=n)
    X = centers[labels] + rng.normal(scale=4.0, size=(n, d))
    return np.ascontiguousarray(X, dtype=dtype)


def make_overlapping(n, d, k, dtype, seed=0):
    """Gaussian blobs with random full covariances (``A A^T`` with ``A`` of N(0, 1/d)
    entries: unit variance per feature on average) around centres of N(0, 9/d) coordinates:
    the centres stay about 4 apart while the noise grows with sqrt(d), so the clusters
    overlap more in higher dimension and the labels keep changing."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0 / np.sqrt(d), size=(k, d))
    labels = rng.randint(k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        idx = np.flatnonzero(labels == j)
        A = rng.normal(size=(d, d)) / np.sqrt(d)
        X[idx] = centers[j] + rng.normal(size=(idx.size, d)) @ A.T
    return np.ascontiguousarray(X, dtype=dtype)


GENERATORS = {"blobs": make_data, "overlapping": make_overlapping}


def peak_gemm_flops(dtype, size=2048, repeats=5):
    """Flop rate of a NumPy ``size x size`` matrix product (BLAS, its default threads)."""
    rng = np.random.RandomState(0)
    A = rng.rand(size, size).astype(dtype)
    B = rng.rand(size, size).astype(dtype)
    med, _, _ = _median_time(lambda: A @ B, repeats)
    return 2.0 * size**3 / med


def first_call_latency():
    """Fresh interpreter, warm on-disk cache: first and second fit of a small problem."""
    code = (
        "import time, numpy as np\n"
        "from sklearn_deep.cluster import KMeans\n"
        "X = np.random.RandomState(0).randn(20000, 8)\n"
        "t = time.perf_counter(); KMeans(8, random_state=0).fit(X); t1 = time.perf_counter() - t\n"
        "t = time.perf_counter(); KMeans(8, random_state=0).fit(X); t2 = time.perf_counter() - t\n"
        "print(t1, t2)\n"
    )
    # run twice: the first run fills the cache if needed, the second is the measurement
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    first, second = float(out[0]), float(out[1])
    return {"first_fit_s": first, "second_fit_s": second, "jit_overhead_s": first - second}


def bench_case(n, d, k, dtype, repeats, data="blobs", peak=None, elkan=True, kmeanspp=True):
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    from sklearn_deep.cluster import KMeans, kmeans_plusplus

    X = GENERATORS[data](n, d, k, dtype)
    init, _ = kmeans_plusplus(X, k, random_state=0)
    params = dict(n_clusters=k, init=init, n_init=1, max_iter=20, tol=0)
    impls = {
        "sklearn_deep": lambda: KMeans(**params).fit(X),
        "sklearn_lloyd": lambda: SkKMeans(algorithm="lloyd", **params).fit(X),
        "sklearn_elkan": lambda: SkKMeans(algorithm="elkan", **params).fit(X),
    }
    if not elkan:
        del impls["sklearn_elkan"]
    row = {
        "data": data,
        "n_samples": n,
        "n_features": d,
        "n_clusters": k,
        "dtype": np.dtype(dtype).name,
    }
    fits = {}
    for name, fn in impls.items():
        fn()  # warm-up (JIT, caches, page faults)
        cpu = []
        med, times, est = _median_time(fn, _repeats_for(fn, repeats), cpu)
        fits[name] = est
        row[name] = {
            "median_s": med,
            "times_s": times,
            "median_cpu_s": float(np.median(cpu)),
            "inertia": float(est.inertia_),
            "n_iter": int(est.n_iter_),
            "peak_extra_mb": _peak_extra_mb(fn),
        }
    ref = fits["sklearn_lloyd"]
    ours = fits["sklearn_deep"]
    sk = [name for name in impls if name != "sklearn_deep"]
    best_sk = min(row[name]["median_s"] for name in sk)
    row["speedup_vs_best_sklearn"] = best_sk / row["sklearn_deep"]["median_s"]
    for name in sk:
        key = "speedup_vs_" + name.split("_")[1]
        row[key] = row[name]["median_s"] / row["sklearn_deep"]["median_s"]
    best_sk_cpu = min(row[name]["median_cpu_s"] for name in sk)
    row["cpu_speedup_vs_best_sklearn"] = best_sk_cpu / row["sklearn_deep"]["median_cpu_s"]
    row["inertia_rel_diff"] = abs(ours.inertia_ - ref.inertia_) / ref.inertia_
    row["labels_equal_fraction"] = float(np.mean(ours.labels_ == ref.labels_))
    if peak:
        # the distance products of the iterations at the measured peak rate
        row["peak_gemm_gflops"] = peak / 1e9
        row["limit_s"] = ours.n_iter_ * 2.0 * n * k * d / peak
        row["ours_vs_limit"] = row["sklearn_deep"]["median_s"] / row["limit_s"]

    if not kmeanspp:
        return row
    # k-means++ alone, same seed
    kpp_ours = _median_time(lambda: kmeans_plusplus(X, k, random_state=1), repeats)
    kpp_sk = _median_time(lambda: sk_kmeans_plusplus(X, k, random_state=1), repeats)
    row["kmeans_plusplus"] = {
        "sklearn_deep_s": kpp_ours[0],
        "sklearn_s": kpp_sk[0],
        "speedup": kpp_sk[0] / kpp_ours[0],
        "same_indices": bool(np.array_equal(kpp_ours[2][1], kpp_sk[2][1])),
    }
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n / 10 and fewer repeats")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--cases",
        type=int,
        nargs="+",
        default=None,
        help=f"indices into {CASES} (default: all)",
    )
    parser.add_argument(
        "--dtypes", nargs="+", default=None, choices=["float64", "float32"], help="default: both"
    )
    parser.add_argument("--data", nargs="+", default=DATA, choices=DATA, help="default: both")
    parser.add_argument("--no-elkan", action="store_true", help="skip scikit-learn's elkan")
    parser.add_argument("--no-kmeanspp", action="store_true", help="skip kmeans_plusplus timings")
    parser.add_argument(
        "--threads", type=int, default=None, help="Numba and BLAS/OpenMP threads (default: all)"
    )
    args = parser.parse_args(argv)
    cases = [CASES[i] for i in args.cases] if args.cases is not None else CASES
    dtypes = [np.dtype(t).type for t in args.dtypes] if args.dtypes else DTYPES

    import numba
    from threadpoolctl import threadpool_info, threadpool_limits

    if args.threads:
        import sklearn.cluster  # noqa: F401  (loads scikit-learn's OpenMP runtime first)

        numba.set_num_threads(args.threads)
        _limits = threadpool_limits(args.threads)  # noqa: F841  (held for the whole run)

    repeats = args.repeats or (2 if args.quick else 3)
    scale = 10 if args.quick else 1
    results = metadata("kmeans", args.quick)
    results.update(
        {
            "settings": {"n_init": 1, "max_iter": 20, "tol": 0, "init": "k-means++ (seed 0)"},
            "threads": {
                "numba": numba.get_num_threads(),
                "numba_layer": None,
                "threadpoolctl": [
                    {k: i.get(k) for k in ("user_api", "internal_api", "num_threads")}
                    for i in threadpool_info()
                ],
            },
            "env": {
                k: os.environ.get(k)
                for k in (
                    "OMP_WAIT_POLICY",
                    "OMP_NUM_THREADS",
                    "NUMBA_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS",
                )
            },
            "repeats": repeats,
            "threads_flag": args.threads,
            "cases": [],
        }
    )
    results["first_call"] = first_call_latency()
    print(f"first call (fresh process, warm cache): {results['first_call']}")
    peaks = {np.dtype(t).name: peak_gemm_flops(t) for t in dtypes}
    results["peak_gemm_gflops"] = {t: p / 1e9 for t, p in peaks.items()}
    print(f"peak GEMM rate (GFlop/s): {results['peak_gemm_gflops']}")
    header = (
        f"{'data':>11} {'n':>9} {'d':>3} {'k':>4} {'dtype':>7} | {'ours':>8} {'lloyd':>8}"
        f" {'elkan':>8} | {'x best':>6} {'cpu x':>6} | {'limit':>6} | {'iters':>5} |"
        f" {'inertia rel':>11} | {'k++ x':>6} {'same':>5}"
    )
    print(header)
    for data in args.data:
        for n, d, k in cases:
            for dtype in dtypes:
                peak = peaks[np.dtype(dtype).name]
                row = bench_case(
                    n // scale,
                    d,
                    k,
                    dtype,
                    repeats,
                    data,
                    peak,
                    elkan=not args.no_elkan,
                    kmeanspp=not args.no_kmeanspp,
                )
                results["cases"].append(row)
                _print_row(row)
    try:
        results["threads"]["numba_layer"] = numba.threading_layer()
    except ValueError:  # pragma: no cover
        pass
    out = args.out or Path(__file__).parent / "results" / "kmeans.json"
    finish(results, out)


def _print_row(row):
    d, k = row["n_features"], row["n_clusters"]
    print(
        f"{row['data']:>11} {row['n_samples']:>9} {d:>3} {k:>4} {row['dtype']:>7} | "
        f"{row['sklearn_deep']['median_s']:8.3f} {row['sklearn_lloyd']['median_s']:8.3f} "
        f"{row.get('sklearn_elkan', {}).get('median_s', float('nan')):8.3f} | "
        f"{row['speedup_vs_best_sklearn']:6.2f} "
        f"{row['cpu_speedup_vs_best_sklearn']:6.2f} | "
        f"{row.get('limit_s', float('nan')):6.3f} | "
        f"{row['sklearn_deep']['n_iter']:>2}/{row['sklearn_lloyd']['n_iter']:<2} | "
        f"{row['inertia_rel_diff']:11.2e} | "
        f"{row.get('kmeans_plusplus', {}).get('speedup', float('nan')):6.2f} "
        f"{row.get('kmeans_plusplus', {}).get('same_indices', '-')!s:>5}",
        flush=True,
    )


if __name__ == "__main__":
    main()
