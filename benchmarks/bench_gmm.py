"""Benchmark sklearn_deep's GaussianMixture against scikit-learn's (and Intel oneDAL's EM-GMM).

For each (n_samples, n_features, n_components) and dtype, the same data and the same
initial parameters (weights, means, precisions) go to every implementation, with
``covariance_type='full', max_iter=20, tol=0``. Reported per case: time per EM iteration
(fit time / 20; the fit also validates the data and runs one final E-step, for both
estimators), the ratio to scikit-learn, the relative difference of the final
log-likelihood lower bound, and ``score_samples`` throughput. scikit-learn and
sklearn_deep run in this process on the same arrays; the JIT is warmed first.

oneDAL (``daal4py.em_gmm``) is an optional second peer, run in a subprocess of another
interpreter (``--onedal-python``, e.g. a throwaway venv with scikit-learn-intelex) on the
same data and initial parameters, saved to a temporary ``.npz``.

BayesianGaussianMixture (variational EM, Dirichlet-process prior, the default) is timed
the same way at (50k, 8, 8) and (200k, 16, 16), full covariances: ``init_params=
'random_from_data'``, the same ``random_state`` for both, ``max_iter=20, tol=0``; time per
variational EM iteration (fit time / 20) and the relative difference of the final ELBO.

Run by hand (never in CI)::

    python benchmarks/bench_gmm.py                  # n = 50k, 200k, 20k
    python benchmarks/bench_gmm.py --quick          # n / 10 (>= 20 d k), one repeat
    python benchmarks/bench_gmm.py --models bgm     # BayesianGaussianMixture only
    python benchmarks/bench_gmm.py --onedal-python /tmp/dalvenv/bin/python

Results go to ``benchmarks/results/gmm.json`` (``--out`` to change), with the metadata keys
every benchmark records (``benchmarks/_bench_meta.py``: git commit, versions, threads, machine
load at start and end).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _bench_meta import finish, metadata  # noqa: E402

CASES = [(50_000, 8, 8), (200_000, 16, 16), (20_000, 64, 8)]
BGM_CASES = [(50_000, 8, 8), (200_000, 16, 16)]
DTYPES = [np.float64, np.float32]
MAX_ITER = 20

_ONEDAL_SCRIPT = r"""
import json, sys, time
import numpy as np
import daal4py as d4p
data = np.load(sys.argv[1])
n_threads, repeats = int(sys.argv[2]), int(sys.argv[3])
d4p.daalinit(n_threads)
X = data["X"]
fptype = "float" if X.dtype == np.float32 else "double"
k = data["weights"].shape[0]
covariances = [np.ascontiguousarray(c) for c in data["covariances"]]
algo = d4p.em_gmm(nComponents=k, fptype=fptype, maxIterations=int(data["max_iter"]),
                  accuracyThreshold=0.0, covarianceStorage="full",
                  regularizationFactor=float(data["reg_covar"]))
args = (X, data["weights"][None, :], data["means"], covariances)
algo.compute(*args)  # warm-up
times = []
for _ in range(repeats):
    t = time.perf_counter()
    result = algo.compute(*args)
    times.append(time.perf_counter() - t)
print(json.dumps({"fit_s": min(times), "n_iter": int(np.ravel(result.nIterations)[0]),
                  "goal": float(np.ravel(result.goalFunction)[0]),
                  "means": np.asarray(result.means).tolist(),
                  "version": str(d4p._get__version__())}))
"""


def make_problem(n_samples, n_features, n_components, dtype, seed=0):
    """Anisotropic Gaussian blobs and deterministic initial parameters."""
    rng = np.random.RandomState(seed)
    centers = 3.0 * rng.randn(n_components, n_features)
    labels = rng.randint(n_components, size=n_samples)
    X = rng.randn(n_samples, n_features)
    for k in range(n_components):
        idx = labels == k
        A = np.eye(n_features) + 0.2 * rng.randn(n_features, n_features)
        X[idx] = X[idx] @ A + centers[k]
    X = X.astype(dtype)
    precision = np.linalg.inv(np.cov(X.T.astype(np.float64)))
    init = dict(
        weights_init=np.full(n_components, 1.0 / n_components, dtype=dtype),
        means_init=X[rng.choice(n_samples, n_components, replace=False)].copy(),
        precisions_init=np.repeat(precision[None], n_components, axis=0).astype(dtype),
    )
    return X, init


def best_time(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def run_onedal(python, X, init, n_threads, repeats, reg_covar):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        covariances = np.linalg.inv(init["precisions_init"].astype(np.float64)).astype(X.dtype)
        np.savez(
            path,
            X=X,
            weights=init["weights_init"],
            means=init["means_init"],
            covariances=covariances,
            max_iter=MAX_ITER,
            reg_covar=reg_covar,
        )
        proc = subprocess.run(
            [python, "-c", _ONEDAL_SCRIPT, path, str(n_threads), str(repeats)],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_bgm(cases, scale, repeats):
    """Variational EM: ms per iteration, ours vs scikit-learn, from the same start."""
    from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture

    from sklearn_deep.mixture import BayesianGaussianMixture

    rows = []
    for n_samples, n_features, n_components in cases:
        n_samples = max(n_samples // scale, 20 * n_features * n_components)
        for dtype in DTYPES:
            X, _ = make_problem(n_samples, n_features, n_components, dtype)
            params = dict(
                n_components=n_components,
                covariance_type="full",
                tol=0,
                max_iter=MAX_ITER,
                init_params="random_from_data",
                random_state=0,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                BayesianGaussianMixture(**{**params, "max_iter": 2}).fit(X)  # warm the JIT
                t_ours, ours = best_time(
                    lambda p=params, X=X: BayesianGaussianMixture(**p).fit(X), repeats
                )
                t_sk, theirs = best_time(
                    lambda p=params, X=X: SkBayesianGaussianMixture(**p).fit(X),
                    max(1, repeats - 1),
                )
            lb_sk = float(np.ravel(theirs.lower_bound_)[0])
            row = {
                "model": "BayesianGaussianMixture",
                "n_samples": n_samples,
                "n_features": n_features,
                "n_components": n_components,
                "dtype": np.dtype(dtype).name,
                "ours_ms_per_iter": 1e3 * t_ours / MAX_ITER,
                "sklearn_ms_per_iter": 1e3 * t_sk / MAX_ITER,
                "speedup_vs_sklearn": t_sk / t_ours,
                "lower_bound_ours": float(ours.lower_bound_),
                "lower_bound_sklearn": lb_sk,
                "lower_bound_rel_diff": abs(float(ours.lower_bound_) - lb_sk) / abs(lb_sk),
                "means_max_abs_diff": float(np.max(np.abs(ours.means_ - theirs.means_))),
            }
            rows.append(row)
            print(
                f"BGM n={n_samples:>7} d={n_features:>2} k={n_components:>2} "
                f"{row['dtype']:>7}: ours {row['ours_ms_per_iter']:8.2f} ms/iter, "
                f"sklearn {row['sklearn_ms_per_iter']:8.2f} ms/iter "
                f"(x{row['speedup_vs_sklearn']:.1f}); "
                f"ELBO rel diff {row['lower_bound_rel_diff']:.1e}",
                flush=True,
            )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n / 10, one repeat")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for Numba and BLAS (default: Numba's current setting)",
    )
    parser.add_argument(
        "--onedal-python",
        default=None,
        help="interpreter with daal4py (default: /tmp/dalvenv/bin/python if any)",
    )
    parser.add_argument(
        "--models",
        choices=["gmm", "bgm", "both"],
        default="both",
        help="GaussianMixture (EM), BayesianGaussianMixture (variational EM) or both",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    # (the metadata first: the git commit of the code that runs, the load at the start)
    report = metadata("gmm", args.quick)

    import numba
    from sklearn.mixture import GaussianMixture as SkGaussianMixture
    from threadpoolctl import threadpool_info, threadpool_limits

    from sklearn_deep._numba_config import numba_threads
    from sklearn_deep.mixture import GaussianMixture

    n_threads = args.threads or numba.get_num_threads()
    repeats = args.repeats or (1 if args.quick else 3)
    onedal_python = args.onedal_python
    if onedal_python is None and os.path.exists("/tmp/dalvenv/bin/python"):
        onedal_python = "/tmp/dalvenv/bin/python"
    scale = 10 if args.quick else 1
    reg_covar = 1e-6

    results = []
    with threadpool_limits(n_threads), numba_threads(n_threads):
        blas = [
            {k: info[k] for k in ("internal_api", "version", "num_threads")}
            for info in threadpool_info()
        ]
        for n_samples, n_features, n_components in CASES if args.models != "bgm" else []:
            # enough samples per component for well-conditioned float32 covariances
            n_samples = max(n_samples // scale, 20 * n_features * n_components)
            for dtype in DTYPES:
                X, init = make_problem(n_samples, n_features, n_components, dtype)
                params = dict(
                    n_components=n_components,
                    covariance_type="full",
                    tol=0,
                    max_iter=MAX_ITER,
                    reg_covar=reg_covar,
                    **init,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    # warm the JIT (kernels are loaded from the on-disk cache) and the caches
                    GaussianMixture(**{**params, "max_iter": 2}).fit(X)
                    t_ours, ours = best_time(
                        lambda p=params, X=X: GaussianMixture(**p).fit(X), repeats
                    )
                    t_sk, theirs = best_time(
                        lambda p=params, X=X: SkGaussianMixture(**p).fit(X), max(1, repeats - 1)
                    )
                ours.score_samples(X)
                s_ours, _ = best_time(lambda g=ours, X=X: g.score_samples(X), repeats)
                s_sk, _ = best_time(lambda g=theirs, X=X: g.score_samples(X), max(1, repeats - 1))
                lb_rel = abs(ours.lower_bound_ - theirs.lower_bound_) / abs(theirs.lower_bound_)
                row = {
                    "n_samples": n_samples,
                    "n_features": n_features,
                    "n_components": n_components,
                    "dtype": np.dtype(dtype).name,
                    "ours_ms_per_iter": 1e3 * t_ours / MAX_ITER,
                    "sklearn_ms_per_iter": 1e3 * t_sk / MAX_ITER,
                    "speedup_vs_sklearn": t_sk / t_ours,
                    "lower_bound_ours": float(ours.lower_bound_),
                    "lower_bound_sklearn": float(theirs.lower_bound_),
                    "lower_bound_rel_diff": float(lb_rel),
                    "means_max_abs_diff": float(np.max(np.abs(ours.means_ - theirs.means_))),
                    "score_samples_ours_Msamples_per_s": n_samples / s_ours / 1e6,
                    "score_samples_sklearn_Msamples_per_s": n_samples / s_sk / 1e6,
                    "score_samples_speedup": s_sk / s_ours,
                }
                if onedal_python:
                    dal = run_onedal(onedal_python, X, init, n_threads, repeats, reg_covar)
                    row["onedal"] = {k: v for k, v in dal.items() if k != "means"}
                    if "fit_s" in dal:
                        row["onedal_ms_per_iter"] = 1e3 * dal["fit_s"] / max(1, dal["n_iter"])
                        row["speedup_vs_onedal"] = (
                            row["onedal_ms_per_iter"] / row["ours_ms_per_iter"]
                        )
                        row["onedal_means_max_abs_diff"] = float(
                            np.max(np.abs(np.asarray(dal["means"]) - theirs.means_))
                        )
                results.append(row)
                dal_txt = (
                    f"  oneDAL {row['onedal_ms_per_iter']:8.2f} ms "
                    f"(ours x{row['speedup_vs_onedal']:.2f})"
                    if "onedal_ms_per_iter" in row
                    else ""
                )
                print(
                    f"n={n_samples:>7} d={n_features:>2} k={n_components:>2} "
                    f"{row['dtype']:>7}: ours {row['ours_ms_per_iter']:8.2f} ms/iter, "
                    f"sklearn {row['sklearn_ms_per_iter']:8.2f} ms/iter "
                    f"(x{row['speedup_vs_sklearn']:.1f}){dal_txt}; "
                    f"lb rel diff {lb_rel:.1e}; "
                    f"score_samples x{row['score_samples_speedup']:.1f}",
                    flush=True,
                )

        bgm_results = bench_bgm(BGM_CASES, scale, repeats) if args.models != "gmm" else []

    report.update(
        {
            "description": (
                "GaussianMixture EM and BayesianGaussianMixture variational EM, "
                "covariance_type='full', max_iter=20, tol=0"
            ),
            "repeats": repeats,
            "numba_threads": n_threads,
            "numba_threading_layer": numba.threading_layer(),
            "blas": blas,
            "onedal_python": onedal_python,
            "env": {
                k: os.environ.get(k)
                for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "NUMBA_NUM_THREADS")
            },
            "results": results,
            "bgm_results": bgm_results,
        }
    )
    finish(report, args.out or REPO / "benchmarks" / "results" / "gmm.json")


if __name__ == "__main__":
    sys.exit(main())
