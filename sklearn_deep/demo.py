"""A tour of sklearn-deep in a few minutes: ``python -m sklearn_deep.demo``.

1. **Clustering and mixtures.** :class:`~sklearn_deep.cluster.KMeans` and
   :class:`~sklearn_deep.mixture.GaussianMixture` on the Old Faithful geyser data (shipped in the
   package) next to scikit-learn's: fit time, inertia / log-likelihood, agreement of the
   labels; then the same on a larger synthetic data set, where the compiled kernels pay off.
2. **A CNN in a grid search.** ``GridSearchCV`` over a
   ``Pipeline(MinMaxScaler, CNNClassifier)`` on scikit-learn's 8x8 digits, in two processes.
3. **Sequence models** (``LSTMClassifier`` and ``TransformerClassifier``) on ItalyPowerDemand,
   a UCR time-series data set shipped in sktime (skipped, with a message, when sktime is not
   installed).

It prints a compact report and writes its figures (PNG) to ``./demo_output`` (``--output DIR``).
``--quick`` runs a shortened version (used by the tests).
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

# --------------------------------------------------------------------------------------------
# small helpers: progress lines and the final report
# --------------------------------------------------------------------------------------------


class _Tour:
    """Prints progress as the tour goes and collects the lines of the final report."""

    def __init__(self, n_steps, stream=None):
        self.n_steps = n_steps
        self.stream = stream if stream is not None else sys.stdout
        self.report = []
        self.figures = []
        self.start = time.perf_counter()
        self._step = 0

    def say(self, message):
        elapsed = time.perf_counter() - self.start
        print(f"[{elapsed:6.1f}s] {message}", file=self.stream, flush=True)

    def step(self, title):
        self._step += 1
        print(file=self.stream)
        self.say(f"step {self._step}/{self.n_steps}: {title}")
        self.report.append(("section", f"{self._step}. {title}"))

    def add(self, line):
        self.report.append(("line", line))

    def print_report(self, output):
        width = 78
        lines = ["", "=" * width, "sklearn-deep tour: report".center(width), "=" * width]
        for kind, text in self.report:
            lines.append(text if kind == "section" else f"   {text}")
        lines.append("-" * width)
        if self.figures:
            lines.append(f"figures written to {output}/:")
            lines += [f"   {name}" for name in self.figures]
        lines.append(f"total time {time.perf_counter() - self.start:.1f} s")
        print("\n".join(lines), file=self.stream, flush=True)


def _timed(fit, repeats):
    """Median wall time of ``fit()`` over ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), result


def _ms(seconds):
    return f"{seconds * 1e3:8.2f} ms" if seconds < 1 else f"{seconds:8.2f} s "


def _save(tour, fig, output, name):
    path = Path(output) / name
    fig.savefig(path, dpi=110, bbox_inches="tight")
    tour.figures.append(name)
    tour.say(f"wrote {path}")


def _ellipse(ax, mean, cov, color):
    from matplotlib.patches import Ellipse

    eigvals, eigvecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigvecs[1, -1], eigvecs[0, -1]))
    for n_std in (1, 2):
        width, height = 2 * n_std * np.sqrt(eigvals[::-1])
        ax.add_patch(
            Ellipse(
                mean, width, height, angle=angle, fill=False, color=color, lw=1.5, alpha=1.0 / n_std
            )
        )


# --------------------------------------------------------------------------------------------
# 1. clustering and mixtures
# --------------------------------------------------------------------------------------------


def _clustering(tour, output, quick, plt):
    from sklearn.cluster import KMeans as SKKMeans
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture as SKGaussianMixture
    from sklearn.preprocessing import StandardScaler

    from sklearn_deep.cluster import KMeans
    from sklearn_deep.datasets import load_old_faithful
    from sklearn_deep.mixture import GaussianMixture

    tour.step("KMeans and GaussianMixture next to scikit-learn")
    X = StandardScaler().fit_transform(load_old_faithful().data)
    repeats = 3 if quick else 7

    tour.say("compiling the Numba kernels (first run only; cached on disk afterwards)...")
    t0 = time.perf_counter()
    KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    GaussianMixture(n_components=2, random_state=0).fit(X)
    tour.add(f"first fit (Numba compilation or cache load): {time.perf_counter() - t0:.1f} s")

    def compare(name, ours_factory, theirs_factory, data, metric, metric_name, labels):
        tour.say(f"timing {name} ({repeats} fits each)...")
        t_ours, ours = _timed(lambda: ours_factory().fit(data), repeats)
        t_sk, theirs = _timed(lambda: theirs_factory().fit(data), repeats)
        ari = adjusted_rand_score(labels(ours, data), labels(theirs, data))
        tour.add(f"{name:34s} ours {_ms(t_ours)}  sklearn {_ms(t_sk)}  ({t_sk / t_ours:4.1f}x)")
        tour.add(
            f"{'':34s} {metric_name} {metric(ours, data):.6g} vs {metric(theirs, data):.6g}, "
            f"labels agree (ARI) {ari:.3f}"
        )
        return ours

    def inertia(model, data):
        return model.inertia_

    def loglik(model, data):
        return model.score(data)

    def km_labels(model, data):
        return model.labels_

    def gm_labels(model, data):
        return model.predict(data)

    tour.add("Old Faithful (272 x 2, standardised):")
    km = compare(
        "  KMeans(n_clusters=2, n_init=10)",
        lambda: KMeans(n_clusters=2, n_init=10, random_state=0),
        lambda: SKKMeans(n_clusters=2, n_init=10, random_state=0),
        X,
        inertia,
        "inertia",
        km_labels,
    )
    gmm = compare(
        "  GaussianMixture(2, 'full')",
        lambda: GaussianMixture(n_components=2, random_state=0),
        lambda: SKGaussianMixture(n_components=2, random_state=0),
        X,
        loglik,
        "log-lik./sample",
        gm_labels,
    )

    if not quick:
        # the geyser data is tiny: fits take a millisecond either way. The kernels show on data
        # large enough for the per-sample work to dominate.
        repeats = 1
        Xb, _ = make_blobs(n_samples=200_000, n_features=16, centers=16, random_state=0)
        tour.add("synthetic blobs (200,000 x 16; one timed fit each, see benchmarks/):")
        compare(
            "  KMeans(n_clusters=16, n_init=1)",
            lambda: KMeans(n_clusters=16, n_init=1, random_state=0),
            lambda: SKKMeans(n_clusters=16, n_init=1, random_state=0),
            Xb,
            inertia,
            "inertia",
            km_labels,
        )
        Xg = Xb[:50_000, :8]
        compare(
            "  GaussianMixture(8, max_iter=10)",
            lambda: GaussianMixture(n_components=8, max_iter=10, tol=0, random_state=0),
            lambda: SKGaussianMixture(n_components=8, max_iter=10, tol=0, random_state=0),
            Xg,
            loglik,
            "log-lik./sample",
            gm_labels,
        )

    if plt is not None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True, sharey=True)
        colors = np.array(["tab:blue", "tab:orange"])
        axes[0].scatter(X[:, 0], X[:, 1], c=colors[km.labels_], s=10, alpha=0.7)
        axes[0].scatter(*km.cluster_centers_.T, marker="X", s=160, c="k")
        axes[0].set_title(f"KMeans: inertia {km.inertia_:.2f}")
        proba = gmm.predict_proba(X)[:, 1]
        axes[1].scatter(X[:, 0], X[:, 1], c=proba, cmap="coolwarm", vmin=0, vmax=1, s=10)
        for k in range(2):
            _ellipse(axes[1], gmm.means_[k], gmm.covariances_[k], plt.cm.coolwarm(float(k)))
        axes[1].set_title(f"GaussianMixture: log-likelihood {gmm.score(X):.3f} per sample")
        for ax in axes:
            ax.set_xlabel("eruption time (standardised)")
            ax.set_aspect("equal")
        axes[0].set_ylabel("waiting time (standardised)")
        fig.suptitle("Old Faithful")
        fig.tight_layout()
        _save(tour, fig, output, "old_faithful_clusters.png")
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# 2. GridSearchCV over a CNN in a Pipeline
# --------------------------------------------------------------------------------------------


def _cnn_grid_search(tour, output, quick, n_jobs, plt):
    from sklearn.datasets import load_digits
    from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler

    from sklearn_deep.neural_network import CNNClassifier

    tour.step("GridSearchCV over a CNNClassifier in a Pipeline (digits)")
    X, y = load_digits(return_X_y=True)
    if quick:
        X, y = X[:400], y[:400]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            (
                "cnn",
                CNNClassifier(
                    input_shape=(1, 8, 8),
                    kernel_size=3,
                    dense_units=(64,),
                    max_epochs=2 if quick else 10,
                    batch_size=32,
                    random_state=0,
                ),
            ),
        ]
    )
    grid = {
        "cnn__channels": [(8, 16)] if quick else [(8, 16), (16, 32)],
        "cnn__lr": [1e-3, 3e-3],
    }
    cv = 2 if quick else 3
    n_fits = cv * int(np.prod([len(v) for v in grid.values()]))
    search = GridSearchCV(pipe, grid, cv=cv, n_jobs=n_jobs, verbose=2)
    tour.say(
        f"{n_fits} fits ({cv}-fold CV x {n_fits // cv} candidates) in {n_jobs} processes, "
        "one line per finished fit:"
    )
    t0 = time.perf_counter()
    search.fit(X_train, y_train)
    elapsed = time.perf_counter() - t0
    y_pred = search.predict(X_test)
    test_acc = accuracy_score(y_test, y_pred)
    best = {k.removeprefix("cnn__"): v for k, v in search.best_params_.items()}
    tour.add(f"grid {grid}")
    tour.add(f"{n_fits} fits + refit in {elapsed:.1f} s (n_jobs={n_jobs})")
    tour.add(f"best {best}: CV accuracy {search.best_score_:.3f}")
    tour.add(f"test accuracy of the refitted pipeline: {test_acc:.3f} ({len(y_test)} images)")

    if plt is not None:
        cnn = search.best_estimator_.named_steps["cnn"]
        fig, (ax_loss, ax_cm) = plt.subplots(1, 2, figsize=(10, 4.2))
        ax_loss.plot(cnn.history_[:, "epoch"], cnn.history_[:, "train_loss"], marker="o", ms=3)
        ax_loss.set_yscale("log")
        ax_loss.set_xlabel("epoch")
        ax_loss.set_ylabel("training loss (cross-entropy)")
        ax_loss.set_title(f"best CNN {best}", fontsize=9)
        ConfusionMatrixDisplay.from_predictions(y_test, y_pred, ax=ax_cm, colorbar=False)
        ax_cm.set_title(f"test accuracy {test_acc:.3f}")
        fig.tight_layout()
        _save(tour, fig, output, "cnn_digits.png")
        plt.close(fig)


# --------------------------------------------------------------------------------------------
# 3. a sequence model on a UCR data set
# --------------------------------------------------------------------------------------------


def _sequence(tour, output, quick, plt):
    tour.step("sequence models on ItalyPowerDemand (UCR archive, shipped in sktime)")
    from sklearn_deep.datasets import load_italy_power_demand

    try:
        data = load_italy_power_demand()
    except ImportError as exc:
        tour.say(f"skipped: {exc}")
        tour.add(f"skipped ({exc})")
        return
    from sklearn.metrics import accuracy_score

    from sklearn_deep.neural_network import LSTMClassifier, TransformerClassifier

    train, test = data.split == "train", data.split == "test"
    X_train, y_train = data.data[train], data.target[train]
    X_test, y_test = data.data[test], data.target[test]
    tour.add(
        f"{len(X_train)} training / {len(X_test)} test days of {X_train.shape[1]} hourly "
        "readings; class: winter or summer month (official split)"
    )
    epochs = 5 if quick else 60
    models = {
        "LSTMClassifier": LSTMClassifier(
            hidden_size=32,
            bidirectional=True,
            pooling="attention",
            max_epochs=epochs,
            batch_size=16,
            random_state=0,
        ),
        "TransformerClassifier": TransformerClassifier(
            d_model=32,
            n_heads=4,
            num_layers=2,
            dim_feedforward=64,
            max_epochs=epochs,
            batch_size=16,
            random_state=0,
        ),
    }
    predictions = {}
    for name, model in models.items():
        tour.say(f"training {name} ({epochs} epochs)...")
        t0 = time.perf_counter()
        model.fit(X_train, y_train)
        elapsed = time.perf_counter() - t0
        predictions[name] = model.predict(X_test)
        acc = accuracy_score(y_test, predictions[name])
        tour.add(f"{name:22s} test accuracy {acc:.3f}, fit {elapsed:5.1f} s")

    if plt is not None:
        fig, (ax_data, ax_acc) = plt.subplots(
            1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]}
        )
        hours = np.arange(X_test.shape[1])
        for label, color in zip(np.unique(y_train), ["tab:blue", "tab:orange"]):
            members = X_test[y_test == label]
            mean, std = members.mean(axis=0), members.std(axis=0)
            ax_data.plot(hours, mean, color=color, lw=2, label=f"class {label} (mean ± std)")
            ax_data.fill_between(hours, mean - std, mean + std, color=color, alpha=0.2)
        ax_data.set_xlabel("hour of the day")
        ax_data.set_ylabel("power demand")
        ax_data.set_title("ItalyPowerDemand test days", fontsize=10)
        ax_data.legend(fontsize=8)
        names = list(predictions)
        accuracies = [accuracy_score(y_test, predictions[n]) for n in names]
        bars = ax_acc.bar(names, accuracies, color=["tab:green", "tab:purple"])
        ax_acc.bar_label(bars, fmt="%.3f")
        majority = max(np.mean(y_test == c) for c in np.unique(y_test))
        ax_acc.axhline(majority, color="k", ls="--", lw=1, label="majority class")
        ax_acc.set_ylim(0, 1.05)
        ax_acc.set_ylabel("test accuracy")
        ax_acc.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        _save(tour, fig, output, "italy_power_demand.png")
        plt.close(fig)


# --------------------------------------------------------------------------------------------


def main(argv=None):
    """Run the tour; ``argv`` as for the command line (``None`` reads ``sys.argv``)."""
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_deep.demo",
        description="A tour of sklearn-deep: clustering and mixtures next to scikit-learn, "
        "a grid search over a CNN, a sequence model on a UCR data set.",
    )
    parser.add_argument(
        "--output", default="demo_output", help="folder for the figures (default: %(default)s)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="a shortened tour (smaller data, fewer epochs)"
    )
    parser.add_argument(
        "--n-jobs", type=int, default=2, help="processes for GridSearchCV (default: %(default)s)"
    )
    parser.add_argument("--no-figures", action="store_true", help="do not write figures")
    args = parser.parse_args(argv)

    # The tour runs Numba's OpenMP kernels, then torch, which ships its own OpenMP runtime. With
    # the default active wait, the idle threads of one runtime spin on the cores that the other
    # needs and torch trains 10-100x slower on a small machine. A passive wait avoids it; it only
    # takes effect if set before either runtime starts, which is the case here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    plt = None
    if not args.no_figures:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("matplotlib is not installed: no figures (pip install matplotlib)")
    if plt is not None:
        Path(args.output).mkdir(parents=True, exist_ok=True)

    tour = _Tour(n_steps=3)
    tour.say(
        f"sklearn-deep tour{' (quick)' if args.quick else ''}; figures go to "
        f"{os.path.abspath(args.output) if plt is not None else '(none)'}"
    )
    with warnings.catch_warnings():
        # small grids and few epochs: convergence warnings would only clutter the tour
        warnings.simplefilter("ignore", category=UserWarning)
        _clustering(tour, args.output, args.quick, plt)

        import torch

        # The networks of the tour are tiny: one torch thread trains them faster than several
        # threads contending for a small machine (GridSearchCV's workers get one each too).
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            _cnn_grid_search(tour, args.output, args.quick, args.n_jobs, plt)
            _sequence(tour, args.output, args.quick, plt)
        finally:
            torch.set_num_threads(torch_threads)
    tour.print_report(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
