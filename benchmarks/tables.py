"""Write the tables of ``docs/benchmarks.rst`` from the current results in ``results/``.

Run by hand after a benchmark (never in CI)::

    python benchmarks/tables.py        # writes docs/benchmark_tables.inc
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
RESULTS = HERE / "results"
OUT = HERE.parent / "docs" / "benchmark_tables.inc"


def _table(title, header, rows, note):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = " ".join("=" * w for w in widths)

    def fmt(row):
        return " ".join(str(x).ljust(w) for x, w in zip(row, widths))

    body = [line, fmt(header), line, *map(fmt, rows), line]
    return "\n".join([title, "~" * len(title), "", note, "", *body, ""])


def _note(d):
    machine = d.get("machine") if isinstance(d.get("machine"), dict) else {}
    load = machine.get("load_average_at_start") or d.get("load_average_at_start")
    load = f", load average at start {load[0]:.1f}" if load else ""
    return f"``{d.get('benchmark')}``, commit ``{d.get('git_commit', '?')}``{load}."


def kmeans():
    d = json.loads((RESULTS / "kmeans.json").read_text())

    def best_sk(c):
        return min(c[k]["median_s"] for k in ("sklearn_lloyd", "sklearn_elkan") if k in c)

    def opt(c, key, fmt):
        return fmt.format(c[key]) if key in c else "-"

    rows = [
        (
            c.get("data", "blobs"),
            f"{c['n_samples']:,} x {c['n_features']}, k={c['n_clusters']}",
            c["dtype"],
            f"{c['sklearn_deep']['median_s']:.3f}",
            f"{best_sk(c):.3f}",
            f"{c['speedup_vs_best_sklearn']:.2f}x",
            f"{c['cpu_speedup_vs_best_sklearn']:.2f}x",
            opt(c, "limit_s", "{:.3f}"),
            opt(c, "ours_vs_limit", "{:.2f}"),
            f"{c['kmeans_plusplus']['speedup']:.2f}x" if "kmeans_plusplus" in c else "-",
        )
        for c in d["cases"]
    ]
    header = (
        "data",
        "size",
        "dtype",
        "ours (s)",
        "scikit-learn (s)",
        "fit",
        "fit CPU",
        "limit (s)",
        "ours / limit",
        "k-means++",
    )
    threads = d.get("threads_flag") or d.get("numba_threads")
    note = (
        "20 Lloyd iterations from the same k-means++ centres (``tol=0``), "
        f"{threads} thread(s); ratios are scikit-learn's time (its fastest algorithm run) "
        "over ours, in wall and CPU time. *limit*: the iterations' distance products "
        "(``2 n k d`` flops each) at the peak rate of a NumPy matrix product measured in "
        "the same run. " + _note(d)
    )
    return _table("KMeans (benchmarks/bench_kmeans.py)", header, rows, note)


def kmeans_paired():
    path = RESULTS / "kmeans_paired.json"
    if not path.exists():
        return ""
    d = json.loads(path.read_text())
    rows = [
        (
            f"{c['n_samples']:,} x {c['n_features']}, k={c['n_clusters']}",
            c["dtype"],
            f"{c['fit_ratio_median']:.2f}x",
            f"{c['kmeans_plusplus_ratio_median']:.2f}x",
        )
        for c in d["cases"]
    ]
    note = (
        "Median over interleaved repeats of the per-repeat ratio (robust to a busy "
        f"machine){' at n / 10' if d.get('quick') else ''}. " + _note(d)
    )
    return _table(
        "KMeans, paired (benchmarks/bench_kmeans_paired.py)",
        ("data", "dtype", "fit", "k-means++"),
        rows,
        note,
    )


def compile_times():
    path = RESULTS / "compile.json"
    if not path.exists():
        return ""
    d = json.loads(path.read_text())
    rows = []
    for run in d["runs"]:
        for name, cold in run["cold_first_fit_s"].items():
            rows.append(
                (
                    name,
                    run["dtype"],
                    f"{cold:.1f}",
                    f"{run['cold_first_fit_cpu_s'][name]:.1f}",
                    f"{run['warm_first_fit_s'][name]:.2f}",
                )
            )
    note = (
        "First fit in a fresh process, default parameters, 3000 x 8 data: cold (empty "
        "Numba cache, wall and CPU seconds) and warm (kernels loaded from the cache). " + _note(d)
    )
    return _table(
        "Compilation (benchmarks/bench_compile.py)",
        ("estimator", "dtype", "cold (s)", "cold CPU (s)", "warm (s)"),
        rows,
        note,
    )


def gmm():
    d = json.loads((RESULTS / "gmm.json").read_text())
    rows = [
        (
            c.get("model", "GaussianMixture"),
            f"{c['n_samples']:,} x {c['n_features']}, k={c['n_components']}",
            c["dtype"],
            f"{c['ours_ms_per_iter']:.2f}",
            f"{c['sklearn_ms_per_iter']:.1f}",
            f"{c['speedup_vs_sklearn']:.1f}x",
            f"{c['score_samples_speedup']:.1f}x" if "score_samples_speedup" in c else "",
        )
        for c in d["results"] + d.get("bgm_results", [])
        if "speedup_vs_sklearn" in c
    ]
    note = (
        "Milliseconds per EM iteration (20 iterations, ``tol=0``, full covariances, the same "
        "initial parameters for both) and ratios, scikit-learn's time over ours"
        f"{' (--quick sizes)' if d.get('quick') else ''}. " + _note(d)
    )
    return _table(
        "GaussianMixture (benchmarks/bench_gmm.py)",
        (
            "model",
            "data",
            "dtype",
            "ours (ms)",
            "scikit-learn (ms)",
            "EM iteration",
            "score_samples",
        ),
        rows,
        note,
    )


def gmm_paired():
    d = json.loads((RESULTS / "gmm.json").read_text()).get("paired")
    if not d:
        return ""

    def pair(values, fmt):
        return " / ".join(fmt.format(v) for v in values)

    rows = [
        (
            c.get("model", "GaussianMixture"),
            f"{c['n_samples']:,} x {c['n_features']}, k={c['n_components']}",
            c["dtype"],
            pair(c["before"], "{:.1f}"),
            pair(c["after"], "{:.1f}"),
            pair(c["ours_ms_per_iter_before"], "{:.2f}"),
            pair(c["ours_ms_per_iter_after"], "{:.2f}"),
        )
        for c in d["cases"]
    ]
    header = ("model", "data", "dtype", "ratio before", "ratio after", "ms before", "ms after")
    note = f"Before: ``{d['before'][:7]}``, after: ``{d['after'][:7]}``. " + d["note"]
    return _table("GaussianMixture, before / after the chunk kernels", header, rows, note)


def cnn():
    d = json.loads((RESULTS / "cnn.json").read_text())
    acc, ovh = d.get("accuracy_run"), d.get("overhead")
    rows = []
    if acc:
        rows.append(
            (
                "test accuracy",
                f"{acc['test_accuracy']:.4f}",
                f"{acc['n_train']:,} training images, {acc['epochs']} epochs, fit "
                f"{acc['fit_wall_s']:.0f} s wall / {acc['fit_cpu_s']:.0f} s CPU",
            )
        )
    if ovh:
        rows.append(
            (
                "fit overhead",
                f"{ovh['fit_ratio_estimator_over_hand_written']:.2f}x",
                f"CNNClassifier.fit over a hand-written PyTorch loop, {ovh['n_train']:,} "
                f"images, {ovh['epochs']} epochs",
            )
        )
    return _table(
        "CNNClassifier on Fashion-MNIST (benchmarks/bench_cnn.py)",
        ("measure", "value", "setting"),
        rows,
        _note(d),
    )


def sequence():
    d = json.loads((RESULTS / "sequence.json").read_text())
    rows = []
    for name, case in d.get("ucr", {}).items():
        base = case["sklearn_1nn_euclidean"]["accuracy"]
        for model in ("lstm", "transformer"):
            if model in case:
                rows.append((name, model, f"{case[model]['accuracy']:.3f}", f"{base:.3f} (1-NN)"))
    bbc = d.get("bbc", {})
    svc = bbc.get("sklearn_tfidf_linearsvc")
    for model in ("lstm", "transformer"):
        if model in bbc and svc:
            rows.append(
                (
                    f"BBC news ({bbc['n_splits']}-fold)",
                    model,
                    f"{bbc[model]['mean_accuracy']:.3f}",
                    f"{svc['mean_accuracy']:.3f} (TF-IDF + LinearSVC)",
                )
            )
    return _table(
        "Sequence classifiers (benchmarks/bench_sequence.py)",
        ("data", "model", "accuracy", "scikit-learn baseline"),
        rows,
        "Test accuracy on the official UCR/UEA splits; BBC news: mean over stratified folds. "
        + _note(d),
    )


def main():
    parts = [kmeans(), kmeans_paired(), compile_times(), gmm(), gmm_paired(), cnn(), sequence()]
    text = ".. generated by benchmarks/tables.py from benchmarks/results/*.json\n\n"
    OUT.write_text(text + "\n".join(p for p in parts if p))
    print(f"written {OUT}")


if __name__ == "__main__":
    main()
