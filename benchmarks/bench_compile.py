"""Cold and warm first-fit times of the Numba estimators, and what Numba spends its time on.

For each dtype, a fresh interpreter with an empty ``NUMBA_CACHE_DIR`` fits ``KMeans()`` and
then ``GaussianMixture()`` (default parameters, full covariance) on a small array: the
**cold** first fit of each, which is mostly Numba compiling the kernels the fit takes. A
second fresh interpreter with the same cache directory then fits them again: the **warm**
first fit (kernels loaded from the on-disk cache). Numba's compile events of the cold run
give the top compiled functions by compile time (CPU time of the compiling thread,
inclusive of what they compile in turn, and exclusive of it). On a shared machine the CPU
times are the steadier figures; the wall times are what a user waits.

Run by hand (never in CI)::

    python benchmarks/bench_compile.py              # float64 and float32
    python benchmarks/bench_compile.py --quick      # float64 only
    python benchmarks/bench_compile.py --estimators KMeans --dtypes float64

Results go to ``benchmarks/results/compile.json`` (``--out`` to change).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _bench_meta import finish, metadata  # noqa: E402

# run in the child interpreter: fit the estimators in order, time each first fit, and
# record Numba's compile events (start/end of each dispatcher's compile of one signature)
_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from numba.core import event

estimators, dtype, n_samples, n_features = sys.argv[1].split(","), sys.argv[2], 3000, 8
rng = np.random.RandomState(0)
X = (rng.randn(n_samples, n_features) + rng.randint(0, 4, (n_samples, 1)) * 3).astype(dtype)
out = {"import_s": None, "fits": {}, "fits_cpu": {}, "events": []}
starts = {}


class _Listener(event.Listener):
    def on_start(self, ev):
        starts[id(ev.data["dispatcher"]), str(ev.data["args"])] = time.thread_time()

    def on_end(self, ev):
        key = id(ev.data["dispatcher"]), str(ev.data["args"])
        disp = ev.data["dispatcher"]
        name = disp.py_func.__module__ + "." + disp.py_func.__qualname__
        out["events"].append([name, str(ev.data["args"]), starts.pop(key), time.thread_time()])


t = time.perf_counter()
from sklearn_deep.cluster import KMeans
from sklearn_deep.mixture import GaussianMixture
out["import_s"] = time.perf_counter() - t
make = {"KMeans": lambda: KMeans(random_state=0),
        "GaussianMixture": lambda: GaussianMixture(n_components=4, random_state=0)}
with event.install_listener("numba:compile", _Listener()):
    for name in estimators:
        t, c = time.perf_counter(), time.process_time()
        make[name]().fit(X)
        out["fits"][name] = time.perf_counter() - t
        out["fits_cpu"][name] = time.process_time() - c
print(json.dumps(out))
"""


def _run_child(estimators, dtype, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, ",".join(estimators), dtype],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _top_functions(events, top):
    """Inclusive and exclusive compile time per function (summed over its signatures)."""
    events = sorted(events, key=lambda e: e[2])
    incl, excl, sigs = {}, {}, {}
    for k, (name, _, start, end) in enumerate(events):
        dur = end - start
        inner = 0.0
        # direct children: events nested in this one, not nested in another nested one
        last_end = start
        for _, _, s2, e2 in events[k + 1 :]:
            if s2 >= end:
                break
            if s2 >= last_end and e2 <= end:
                inner += e2 - s2
                last_end = e2
        incl[name] = incl.get(name, 0.0) + dur
        excl[name] = excl.get(name, 0.0) + dur - inner
        sigs[name] = sigs.get(name, 0) + 1
    rows = [
        {
            "function": name,
            "signatures": sigs[name],
            "inclusive_s": round(incl[name], 3),
            "exclusive_s": round(excl[name], 3),
        }
        for name in incl
    ]
    rows.sort(key=lambda r: -r["exclusive_s"])
    return rows[:top], len(events)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="float64 only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--dtypes", default=None, help="comma-separated, e.g. float32,float64")
    parser.add_argument("--estimators", default="KMeans,GaussianMixture")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    dtypes = (args.dtypes or ("float64" if args.quick else "float64,float32")).split(",")
    estimators = args.estimators.split(",")

    import numba

    results = metadata("compile", args.quick)
    results.update(
        {
            "numba_max_threads": numba.config.NUMBA_NUM_THREADS,
            "data": "3000 x 8, four offset blobs",
            "runs": [],
        }
    )
    for dtype in dtypes:
        with tempfile.TemporaryDirectory(prefix="sklearn_deep_compile_") as cache:
            start = time.perf_counter()
            cold = _run_child(estimators, dtype, cache)
            cold_total = time.perf_counter() - start
            start = time.perf_counter()
            warm = _run_child(estimators, dtype, cache)
            warm_total = time.perf_counter() - start
        top, n_compiled = _top_functions(cold["events"], args.top)
        run = {
            "dtype": dtype,
            "cold_first_fit_s": {k: round(v, 3) for k, v in cold["fits"].items()},
            "cold_first_fit_cpu_s": {k: round(v, 3) for k, v in cold["fits_cpu"].items()},
            "warm_first_fit_s": {k: round(v, 4) for k, v in warm["fits"].items()},
            "cold_process_s": round(cold_total, 2),
            "warm_process_s": round(warm_total, 2),
            "warm_import_s": round(warm["import_s"], 3),
            "signatures_compiled": n_compiled,
            "top_compiled": top,
            "events": cold["events"] if os.environ.get("BENCH_COMPILE_EVENTS") else None,
        }
        results["runs"].append(run)
        print(
            f"{dtype}: cold {run['cold_first_fit_s']} (CPU {run['cold_first_fit_cpu_s']})  "
            f"warm {run['warm_first_fit_s']}  "
            f"({n_compiled} signatures compiled)"
        )
        for row in top:
            print(
                f"    {row['exclusive_s']:7.2f} s excl {row['inclusive_s']:7.2f} s incl "
                f"x{row['signatures']}  {row['function']}"
            )
    finish(results, args.out or REPO / "benchmarks" / "results" / "compile.json")


if __name__ == "__main__":
    main()
