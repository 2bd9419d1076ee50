"""Paired timings of sklearn_deep's KMeans against scikit-learn's, robust to a noisy machine.

:mod:`bench_kmeans` times each implementation in a row of repeats, so a slow minute on a shared
machine can land on one implementation only. Here each repeat runs every implementation once,
back to back, in a shuffled order, and the figure reported is the median over repeats of the
per-repeat ratio (scikit-learn's fastest / ours). Same data, initial centres and settings as
:mod:`bench_kmeans` (``n_init=1, max_iter=20, tol=0``), plus ``kmeans_plusplus`` alone.

Run by hand (never in CI)::

    python benchmarks/bench_kmeans_paired.py --cases 0 2 --dtypes float64 --repeats 21
    python benchmarks/bench_kmeans_paired.py --quick        # n / 10, 7 repeats

Results go to ``benchmarks/results/kmeans_paired.json`` (``--out`` to change).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _bench_meta import finish, metadata  # noqa: E402
from bench_kmeans import CASES, make_data  # noqa: E402


def _time(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def paired_case(n, d, k, dtype, repeats, seed=0):
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus

    from sklearn_deep.cluster import KMeans, kmeans_plusplus

    X = make_data(n, d, k, dtype)
    init, _ = kmeans_plusplus(X, k, random_state=0)
    params = dict(n_clusters=k, init=init, n_init=1, max_iter=20, tol=0)
    fits = {
        "sklearn_deep": lambda: KMeans(**params).fit(X),
        "sklearn_lloyd": lambda: SkKMeans(algorithm="lloyd", **params).fit(X),
        "sklearn_elkan": lambda: SkKMeans(algorithm="elkan", **params).fit(X),
    }
    seedings = {
        "sklearn_deep": lambda: kmeans_plusplus(X, k, random_state=1),
        "sklearn": lambda: sk_kmeans_plusplus(X, k, random_state=1),
    }
    for fn in list(fits.values()) + list(seedings.values()):
        fn()  # warm-up
    rng = np.random.RandomState(seed)
    fit_times = {name: [] for name in fits}
    kpp_times = {name: [] for name in seedings}
    same_indices = True
    for _ in range(repeats):
        for name in rng.permutation(list(fits)):
            fit_times[name].append(_time(fits[name])[0])
        outs = {}
        for name in rng.permutation(list(seedings)):
            t, outs[name] = _time(seedings[name])
            kpp_times[name].append(t)
        same_indices &= bool(np.array_equal(outs["sklearn_deep"][1], outs["sklearn"][1]))
    ours = np.array(fit_times["sklearn_deep"])
    best_sk = np.minimum(fit_times["sklearn_lloyd"], fit_times["sklearn_elkan"])
    fit_ratio = best_sk / ours
    kpp_ratio = np.array(kpp_times["sklearn"]) / np.array(kpp_times["sklearn_deep"])
    return {
        "n_samples": n,
        "n_features": d,
        "n_clusters": k,
        "dtype": np.dtype(dtype).name,
        "fit_times_s": fit_times,
        "fit_ratio_median": float(np.median(fit_ratio)),
        "fit_ratio_quartiles": [float(q) for q in np.percentile(fit_ratio, [25, 75])],
        "kmeans_plusplus_times_s": kpp_times,
        "kmeans_plusplus_ratio_median": float(np.median(kpp_ratio)),
        "kmeans_plusplus_ratio_quartiles": [float(q) for q in np.percentile(kpp_ratio, [25, 75])],
        "kmeans_plusplus_same_indices": same_indices,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n / 10 and 7 repeats")
    parser.add_argument("--repeats", type=int, default=None, help="default: 15 (7 with --quick)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cases", type=int, nargs="+", default=None, help=f"indices into {CASES}")
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    args = parser.parse_args(argv)
    cases = [CASES[i] for i in args.cases] if args.cases is not None else CASES
    repeats = args.repeats or (7 if args.quick else 15)
    scale = 10 if args.quick else 1

    results = metadata("kmeans_paired", args.quick)
    results.update(
        {
            "repeats": repeats,
            "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
            "cases": [],
        }
    )
    print(f"{'n':>9} {'d':>3} {'k':>4} {'dtype':>7} | {'fit x (IQR)':>20} | {'k++ x (IQR)':>20}")
    for n, d, k in cases:
        for dtype in args.dtypes:
            row = paired_case(n // scale, d, k, np.dtype(dtype).type, repeats)
            results["cases"].append(row)
            fq, kq = row["fit_ratio_quartiles"], row["kmeans_plusplus_ratio_quartiles"]
            print(
                f"{n // scale:>9} {d:>3} {k:>4} {dtype:>7} | "
                f"{row['fit_ratio_median']:5.2f} ({fq[0]:.2f}-{fq[1]:.2f})       | "
                f"{row['kmeans_plusplus_ratio_median']:5.2f} ({kq[0]:.2f}-{kq[1]:.2f})",
                flush=True,
            )
    finish(results, args.out or Path(__file__).parent / "results" / "kmeans_paired.json")


if __name__ == "__main__":
    main()
