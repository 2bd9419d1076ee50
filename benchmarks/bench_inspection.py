"""sklearn_deep.inspection acceptance measurements (issue 16): attacks, defence, attributions.

Run by hand (never in the tests)::

    python benchmarks/bench_inspection.py            # 3 seeds, 20 epochs
    python benchmarks/bench_inspection.py --quick    # 1 seed (smoke run)

Setup: digits X/16 as (n, 1, 8, 8), stratified 75/25 split, a small CNN (3x3 convolutions with
32 and 64 channels, max pooling, one hidden layer of 256 units) trained 20 epochs.
Per seed it measures

- clean accuracy; FGSM accuracy at eps .1/.2/.3; PGD-10 at .1/.2; targeted PGD-20 at .3
  (fraction of test samples predicted as the target, target = (label + 1) mod 10);
- adversarial training (``AdversarialTraining(attack='fgsm', eps=.2, ratio=.5)`` through
  ``callbacks=``): clean, FGSM .2 and PGD-10 .2 accuracy next to the undefended model's;
- saliency faithfulness: mean drop of p(predicted) when the top-8 pixels by |gradient|,
  grad x input or guided backprop are set to 0, and for 8 random pixels;
- activation maximisation of each class logit: how many of the 10 images are predicted as
  their class;
- token saliency on a synthetic task (length 12, label = token 7 present): fraction of the
  positive sequences whose planted token ranks first, for an LSTM and a Transformer;
- the largest difference to captum (Saliency, GuidedBackprop, LayerGradCam + bilinear) when
  captum is installed.

Each row is checked against the issue's target; results go to
``benchmarks/results/inspection[_quick].json`` (``--out`` to change) with the git commit.
"""

import argparse
import copy
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import sklearn
import skorch
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from sklearn_deep.inspection import (
    AdversarialTraining,
    activation_maximization,
    adversarial_accuracy,
    grad_cam,
    pgd,
    saliency_map,
    token_saliency,
)
from sklearn_deep.neural_network import CNNClassifier, LSTMClassifier, TransformerClassifier

CNN = dict(
    input_shape=None,
    channels=(32, 64),
    kernel_size=3,
    dense_units=(256,),
    lr=2e-3,
    batch_size=32,
)
CLIP = (0.0, 1.0)


def _commit():
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:  # pragma: no cover
        return None


def _digits(seed):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)


def attacks(clf, X, y, seed):
    fg = adversarial_accuracy(clf, X, y, eps=(0.1, 0.2, 0.3), clip=CLIP).accuracy
    pg = adversarial_accuracy(
        clf,
        X,
        y,
        attack="pgd",
        eps=(0.1, 0.2),
        clip=CLIP,
        attack_params={"n_steps": 10, "random_state": seed},
    ).accuracy
    target = clf.classes_[(np.searchsorted(clf.classes_, y) + 1) % len(clf.classes_)]
    adv = pgd(clf, X, target, eps=0.3, n_steps=20, targeted=True, clip=CLIP, random_state=seed)
    return {
        "fgsm_0.1": fg[0],
        "fgsm_0.2": fg[1],
        "fgsm_0.3": fg[2],
        "pgd10_0.1": pg[0],
        "pgd10_0.2": pg[1],
        "targeted_pgd20_0.3_success": float(np.mean(clf.predict(adv) == target)),
    }


def faithfulness(clf, X, seed, k=8):
    n = len(X)
    codes = np.searchsorted(clf.classes_, clf.predict(X))
    p0 = clf.predict_proba(X)[np.arange(n), codes]
    flat = X.reshape(n, -1)

    def drop(scores):
        order = np.argsort(-scores.reshape(n, -1), axis=1)[:, :k]
        Xz = flat.copy()
        np.put_along_axis(Xz, order, 0.0, axis=1)
        return float(np.mean(p0 - clf.predict_proba(Xz.reshape(X.shape))[np.arange(n), codes]))

    rng = np.random.default_rng(seed)
    return {
        "drop_abs_gradient": drop(np.abs(saliency_map(clf, X))),
        "drop_grad_x_input": drop(saliency_map(clf, X, method="grad_x_input")),
        "drop_guided_backprop": drop(saliency_map(clf, X, method="guided_backprop")),
        "drop_random": drop(rng.random(X.shape)),
    }


def act_max(clf, seed):
    hits = 0
    for label in clf.classes_:
        res = activation_maximization(clf, unit=label, n_steps=200, clip=CLIP, random_state=seed)
        hits += int(clf.predict(res.X)[0] == label)
    return hits


def token_task(n, rng, T=12, V=20, planted=7):
    X = rng.integers(1, V, size=(n, T))
    X[X == planted] = planted + 1
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, T, n)
    X[y == 1, pos[y == 1]] = planted
    return X, y, pos


def tokens(seed, epochs):
    rng = np.random.default_rng(seed)
    X, y, _ = token_task(1200, rng)
    Xt, yt, pt = token_task(400, rng)
    out = {}
    models = {
        "lstm": LSTMClassifier(
            hidden_size=32, embedding_dim=16, pooling="max", max_epochs=epochs, random_state=seed
        ),
        "transformer": TransformerClassifier(
            d_model=32,
            n_heads=2,
            num_layers=1,
            dim_feedforward=64,
            max_epochs=epochs,
            random_state=seed,
        ),
    }
    for name, est in models.items():
        est.fit(X, y)
        pos = yt == 1
        s = token_saliency(est, Xt[pos], target=1)
        g = token_saliency(est, Xt[pos], target=1, method="gradient")
        out[name] = {
            "accuracy": float(est.score(Xt, yt)),
            "planted_first_grad_x_input": float(np.mean(s.argmax(1) == pt[pos])),
            "planted_first_gradient_norm": float(np.mean(g.argmax(1) == pt[pos])),
        }
    return out


def captum_diff(clf, X):
    try:
        from captum.attr import GuidedBackprop, LayerAttribution, LayerGradCam, Saliency
    except ImportError:
        return None
    m = copy.deepcopy(clf.module_).double().eval()
    x = torch.tensor(X, requires_grad=True)
    t = torch.tensor(np.searchsorted(clf.classes_, clf.predict(X)))
    conv = [mod for mod in m.modules() if isinstance(mod, nn.Conv2d)][-1]
    gc = LayerGradCam(m, conv).attribute(x, target=t, relu_attributions=True)
    gc = LayerAttribution.interpolate(gc, X.shape[2:], interpolate_mode="bilinear")[:, 0]
    refs = {
        "saliency": (Saliency(m).attribute(x, target=t, abs=False), saliency_map(clf, X)),
        "guided_backprop": (
            GuidedBackprop(m).attribute(x, target=t),
            saliency_map(clf, X, method="guided_backprop"),
        ),
        "grad_cam": (gc, grad_cam(clf, X)),
    }
    return {k: float(np.abs(r.detach().numpy() - g).max()) for k, (r, g) in refs.items()}


def run_seed(seed, epochs):
    X_tr, X_te, y_tr, y_te = _digits(seed)
    row = {"seed": seed}
    t0 = time.perf_counter()
    plain = CNNClassifier(**CNN, max_epochs=epochs, random_state=seed).fit(X_tr, y_tr)
    row["fit_s"] = time.perf_counter() - t0
    row["clean"] = float(plain.score(X_te, y_te))
    row.update(attacks(plain, X_te, y_te, seed))
    adv = AdversarialTraining(attack="fgsm", eps=0.2, ratio=0.5, clip=CLIP)
    t0 = time.perf_counter()
    robust = CNNClassifier(**CNN, max_epochs=epochs, random_state=seed, callbacks=[adv])
    robust.fit(X_tr, y_tr)
    row["adv_fit_s"] = time.perf_counter() - t0
    row["adv_clean"] = float(robust.score(X_te, y_te))
    r = adversarial_accuracy(robust, X_te, y_te, eps=(0.2,), clip=CLIP).accuracy[0]
    row["adv_fgsm_0.2"] = float(r)
    row["adv_pgd10_0.2"] = float(
        adversarial_accuracy(
            robust,
            X_te,
            y_te,
            attack="pgd",
            eps=(0.2,),
            clip=CLIP,
            attack_params={"n_steps": 10, "random_state": seed},
        ).accuracy[0]
    )
    row.update(faithfulness(plain, X_te, seed))
    row["act_max_hits_of_10"] = act_max(plain, seed)
    row["tokens"] = tokens(seed, epochs=8)
    row["captum_max_abs_diff"] = captum_diff(plain, X_te[:100])
    return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in row.items()}


def checks(r):
    """(description, value, passed) for every acceptance row of the issue."""
    t = r["tokens"]
    cap = r["captum_max_abs_diff"] or {}
    return [
        ("clean >= .93", r["clean"], r["clean"] >= 0.93),
        ("FGSM .1 <= .75", r["fgsm_0.1"], r["fgsm_0.1"] <= 0.75),
        ("FGSM .2 <= .25", r["fgsm_0.2"], r["fgsm_0.2"] <= 0.25),
        ("FGSM .3 <= .05", r["fgsm_0.3"], r["fgsm_0.3"] <= 0.05),
        ("PGD-10 .1 <= FGSM .1 + .02", r["pgd10_0.1"], r["pgd10_0.1"] <= r["fgsm_0.1"] + 0.02),
        ("PGD-10 .2 <= .10", r["pgd10_0.2"], r["pgd10_0.2"] <= 0.10),
        (
            "targeted PGD-20 .3 >= .80",
            r["targeted_pgd20_0.3_success"],
            r["targeted_pgd20_0.3_success"] >= 0.8,
        ),
        ("adv. training clean >= .92", r["adv_clean"], r["adv_clean"] >= 0.92),
        ("adv. training FGSM .2 >= .35", r["adv_fgsm_0.2"], r["adv_fgsm_0.2"] >= 0.35),
        (
            "adv. training FGSM .2 >= undefended + .25",
            r["adv_fgsm_0.2"] - r["fgsm_0.2"],
            r["adv_fgsm_0.2"] >= r["fgsm_0.2"] + 0.25,
        ),
        ("adv. training PGD .2 >= .25", r["adv_pgd10_0.2"], r["adv_pgd10_0.2"] >= 0.25),
        (
            "|gradient| top-8 drop >= 2x random",
            r["drop_abs_gradient"] / max(r["drop_random"], 1e-12),
            r["drop_abs_gradient"] >= 2 * r["drop_random"],
        ),
        (
            "grad x input or guided backprop top-8 drop >= .6",
            max(r["drop_grad_x_input"], r["drop_guided_backprop"]),
            max(r["drop_grad_x_input"], r["drop_guided_backprop"]) >= 0.6,
        ),
        ("activation maximisation >= 9/10", r["act_max_hits_of_10"], r["act_max_hits_of_10"] >= 9),
        (
            "token saliency LSTM >= .85",
            t["lstm"]["planted_first_grad_x_input"],
            t["lstm"]["planted_first_grad_x_input"] >= 0.85,
        ),
        (
            "token saliency Transformer >= .85",
            t["transformer"]["planted_first_grad_x_input"],
            t["transformer"]["planted_first_grad_x_input"] >= 0.85,
        ),
        (
            "captum max |diff| <= 1e-6",
            max(cap.values()) if cap else None,
            bool(cap) and max(cap.values()) <= 1e-6,
        ),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--out", type=Path, default=None, help="results JSON path")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    seeds = [0] if args.quick else [0, 1, 2]
    t0 = time.perf_counter()
    rows = []
    for seed in seeds:
        row = run_seed(seed, args.epochs)
        row["checks"] = [
            {"check": c, "value": None if v is None else float(v), "passed": bool(p)}
            for c, v, p in checks(row)
        ]
        rows.append(row)
        for c in row["checks"]:
            value = "None" if c["value"] is None else f"{c['value']:.4g}"
            print(f"seed {seed}  {'ok  ' if c['passed'] else 'FAIL'}  {c['check']}: {value}")
    result = {
        "benchmark": "inspection",
        "git_commit": _commit(),
        "quick": args.quick,
        "epochs": args.epochs,
        "cnn": {k: v for k, v in CNN.items()},
        "all_passed": all(c["passed"] for r in rows for c in r["checks"]),
        "seeds": rows,
        "wall_s": time.perf_counter() - t0,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "sklearn": sklearn.__version__,
        },
        "torch_threads": torch.get_num_threads(),
        "load_avg": os.getloadavg(),
        "machine": platform.machine(),
    }
    out = args.out or Path(__file__).parent / "results" / (
        "inspection_quick.json" if args.quick else "inspection.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"all passed: {result['all_passed']}  ({result['wall_s']:.0f} s) -> {out}")


if __name__ == "__main__":
    main()
