"""CNNClassifier on Fashion-MNIST: test accuracy, wall/CPU time, and overhead vs a plain loop.

Run by hand (never in the tests)::

    python benchmarks/bench_cnn.py            # full: 60k training images, accuracy run + overhead
    python benchmarks/bench_cnn.py --quick    # 6k training images, 2 epochs (smoke run)

Data: the IDX files of Debian's ``dataset-fashion-mnist`` (``apt-get install
dataset-fashion-mnist``) through :func:`sklearn_deep.datasets.load_fashion_mnist`.

1. Accuracy: ``CNNClassifier`` (2-D input with ``input_shape=(1, 28, 28)``) trained on the
   official training set, scored on the official test set; wall and process CPU time of
   ``fit`` are reported (the machine may be shared: CPU time / threads is the unshared wall
   time estimate).
2. Overhead: the same ``ConvNet`` module, data, epochs, batch size and optimiser trained by a
   hand-written PyTorch loop (tensor slicing, ``randperm`` shuffling) and by
   ``CNNClassifier.fit`` (validation, label encoding, skorch's loop and callbacks); runs
   alternate and the minimum of each is compared. Prediction times (ours evaluates in
   float64 for row-order invariance, the loop in float32) are reported alongside.

Results go to ``benchmarks/results/cnn.json`` (``--out`` to change), with the metadata keys
every benchmark records (``benchmarks/_bench_meta.py``: git commit, versions, threads, machine
load at start and end).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import skorch
import torch
from torch import nn

from sklearn_deep.datasets import load_fashion_mnist
from sklearn_deep.neural_network import CNNClassifier, ConvNet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _bench_meta import finish, metadata  # noqa: E402

ARCH = dict(
    channels=(32, 64, 128),
    kernel_size=3,
    normalization="batch",
    pooling="max",
    dense_units=(256,),
    dropout=0.3,
)
TRAIN = dict(
    optimizer="adam", lr=2e-3, lr_schedule="cosine", batch_size=128, criterion__label_smoothing=0.1
)


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def hand_written_fit(X, y, epochs, batch_size, lr, seed):
    """The baseline: a plain PyTorch training loop over the same ConvNet."""
    torch.manual_seed(seed)
    module = ConvNet((1, 28, 28), 10, **ARCH)
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32).reshape(-1, 1, 28, 28))
    yt = torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    criterion = nn.CrossEntropyLoss(label_smoothing=TRAIN["criterion__label_smoothing"])
    n = len(Xt)
    for _ in range(epochs):
        module.train()
        order = torch.randperm(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = criterion(module(Xt[idx]), yt[idx])
            loss.backward()
            optimizer.step()
        scheduler.step()
    return module


def hand_written_predict(module, X):
    module.eval()
    with torch.no_grad():
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32).reshape(-1, 1, 28, 28))
        return torch.cat([module(Xt[i : i + 1024]) for i in range(0, len(Xt), 1024)]).argmax(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6k training images, 2 epochs")
    parser.add_argument("--epochs", type=int, default=18, help="epochs of the accuracy run")
    parser.add_argument("--augmentation", default="flip", help="comma list or 'none'")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--overhead-samples", type=int, default=10000)
    parser.add_argument("--overhead-epochs", type=int, default=2)
    parser.add_argument("--overhead-repeats", type=int, default=2)
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    X_train, y_train = load_fashion_mnist(subset="train", return_X_y=True)
    X_test, y_test = load_fashion_mnist(subset="test", return_X_y=True)
    X_train = X_train.astype(np.float32) / 255.0
    X_test = X_test.astype(np.float32) / 255.0
    epochs = args.epochs
    if args.quick:
        X_train, y_train = X_train[:6000], y_train[:6000]
        X_test, y_test = X_test[:2000], y_test[:2000]
        epochs = 2
        args.overhead_samples, args.overhead_epochs, args.overhead_repeats = 2000, 1, 1
    aug = None if args.augmentation == "none" else tuple(args.augmentation.split(","))

    result = metadata("cnn", args.quick)
    result["versions"].update(torch=torch.__version__, skorch=skorch.__version__)
    result.update(
        {
            "torch_threads": torch.get_num_threads(),
            "architecture": {k: list(v) if isinstance(v, tuple) else v for k, v in ARCH.items()},
            "training": dict(TRAIN),
        }
    )

    # warm-up: torch's lazy initialisation and oneDNN kernel selection
    CNNClassifier(input_shape=(1, 28, 28), max_epochs=1, **ARCH, **TRAIN).fit(
        X_train[:512], y_train[:512]
    )

    if not args.skip_accuracy:
        clf = CNNClassifier(
            input_shape=(1, 28, 28),
            max_epochs=epochs,
            augmentation=aug,
            random_state=args.seed,
            verbose=1,
            **ARCH,
            **TRAIN,
        )
        _, wall, cpu = _timed(lambda: clf.fit(X_train, y_train))
        (acc, pred_wall, _) = _timed(lambda: clf.score(X_test, y_test))
        result["accuracy_run"] = {
            "n_train": len(X_train),
            "n_test": len(X_test),
            "epochs": epochs,
            "augmentation": list(aug) if aug else None,
            "test_accuracy": acc,
            "fit_wall_s": wall,
            "fit_cpu_s": cpu,
            "fit_cpu_s_per_thread": cpu / args.threads,
            "predict_wall_s": pred_wall,
            "train_loss_per_epoch": [float(v) for v in clf.history_[:, "train_loss"]],
        }
        print(f"test accuracy {acc:.4f}; fit {wall:.0f} s wall, {cpu:.0f} s CPU")

    if not args.skip_overhead:
        n = args.overhead_samples
        Xo, yo = X_train[:n], y_train[:n]
        ep, bs, lr = args.overhead_epochs, TRAIN["batch_size"], TRAIN["lr"]
        ours, hand, ours_pred, hand_pred = [], [], [], []
        for _ in range(args.overhead_repeats):
            module, w, _ = _timed(lambda: hand_written_fit(Xo, yo, ep, bs, lr, args.seed))
            hand.append(w)
            hand_pred.append(_timed(lambda m=module: hand_written_predict(m, X_test))[1])
            clf = CNNClassifier(
                input_shape=(1, 28, 28), max_epochs=ep, random_state=args.seed, **ARCH, **TRAIN
            )
            _, w, _ = _timed(lambda c=clf: c.fit(Xo, yo))
            ours.append(w)
            ours_pred.append(_timed(lambda c=clf: c.predict(X_test))[1])
        result["overhead"] = {
            "n_train": n,
            "epochs": ep,
            "batch_size": bs,
            "hand_written_fit_s": hand,
            "estimator_fit_s": ours,
            "fit_ratio_estimator_over_hand_written": min(ours) / min(hand),
            "hand_written_predict_float32_s": hand_pred,
            "estimator_predict_float64_s": ours_pred,
            "predict_ratio": min(ours_pred) / min(hand_pred),
        }
        print(
            f"fit overhead ratio {min(ours) / min(hand):.3f} "
            f"(ours {min(ours):.1f} s, hand-written {min(hand):.1f} s)"
        )

    finish(result, args.out or REPO / "benchmarks" / "results" / "cnn.json")


if __name__ == "__main__":
    main()
