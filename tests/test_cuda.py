"""The CUDA paths, end to end: training, prediction, inspection and save/load of models that
live on a GPU. Skipped where torch sees no CUDA device (CI has none); run by hand on a GPU
machine: ``python -m pytest tests/test_cuda.py``."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0, stratify=y)


def _on_cuda(est):
    return {p.device.type for p in est.module_.parameters()} == {"cuda"}


@pytest.mark.parametrize(
    "name, kwargs, shape",
    [
        ("CNNClassifier", dict(input_shape=(1, 8, 8)), None),
        ("LSTMClassifier", dict(input_shape=(8, 8)), None),
        ("TransformerClassifier", dict(input_shape=(8, 8)), None),
        ("CNNClassifier", {}, (1, 64)),  # the 1-D default (FCN, batch norm, GAP head)
    ],
)
def test_classifier_trains_and_predicts_on_cuda(digits, name, kwargs, shape):
    from sklearn_deep import neural_network

    X_tr, X_te, y_tr, y_te = digits
    if shape is not None:
        X_tr, X_te = X_tr.reshape(-1, *shape), X_te.reshape(-1, *shape)
    cls = getattr(neural_network, name)
    gpu = cls(random_state=0, device="cuda", max_epochs=15, **kwargs).fit(X_tr, y_tr)
    assert _on_cuda(gpu)
    proba = gpu.predict_proba(X_te)
    assert isinstance(proba, np.ndarray) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert gpu.score(X_te, y_te) > 0.9
    # the same weights on the CPU give the same predictions (to float rounding)
    cpu = clone(gpu).set_params(device="cpu", max_epochs=1).fit(X_tr[:64], y_tr[:64])
    cpu.module_.load_state_dict({k: v.cpu() for k, v in gpu.module_.state_dict().items()})
    np.testing.assert_allclose(cpu.predict_proba(X_te), proba, atol=1e-4)


def test_variable_length_on_cuda(digits):
    from sklearn_deep.neural_network import LSTMClassifier

    X_tr, X_te, y_tr, _ = digits
    seq = X_tr.reshape(-1, 8, 8)
    seq_padded = seq.copy()
    seq_padded[::3, 6:] = np.nan  # some series end early
    est = LSTMClassifier(random_state=0, device="cuda", max_epochs=5).fit(seq_padded, y_tr)
    short = X_te.reshape(-1, 8, 8)[:10, :6]  # another length at predict
    padded = np.concatenate([short, np.full((10, 2, 8), np.nan)], axis=1)
    np.testing.assert_allclose(est.predict_proba(short), est.predict_proba(padded), atol=1e-5)


def test_inspection_on_cuda_matches_cpu(digits):
    from sklearn_deep.inspection import fgsm, grad_cam, pgd, saliency_map
    from sklearn_deep.neural_network import CNNClassifier

    X_tr, X_te, y_tr, y_te = digits
    gpu = CNNClassifier(input_shape=(1, 8, 8), random_state=0, device="cuda", max_epochs=10)
    gpu.fit(X_tr, y_tr)
    cpu = clone(gpu).set_params(device="cpu", max_epochs=1).fit(X_tr[:64], y_tr[:64])
    cpu.module_.load_state_dict({k: v.cpu() for k, v in gpu.module_.state_dict().items()})
    X = X_te[:20]
    np.testing.assert_allclose(saliency_map(gpu, X), saliency_map(cpu, X), atol=1e-4)
    np.testing.assert_allclose(grad_cam(gpu, X), grad_cam(cpu, X), atol=1e-4)
    adv = fgsm(gpu, X, eps=0.1)
    assert adv.shape == X.shape and np.abs(adv - X).max() <= 0.1 + 1e-6
    adv_pgd = pgd(gpu, X_te[:100], eps=0.2, random_state=0)
    assert gpu.score(adv_pgd, y_te[:100]) < gpu.score(X_te[:100], y_te[:100])


def test_dump_load_cuda_model(digits, tmp_path):
    from sklearn_deep.io import dump, load
    from sklearn_deep.neural_network import TransformerClassifier

    X_tr, X_te, y_tr, _ = digits
    est = TransformerClassifier(input_shape=(8, 8), random_state=0, device="cuda", max_epochs=3)
    est.fit(X_tr, y_tr)
    dump(est, tmp_path / "model.skd")
    loaded = load(tmp_path / "model.skd")
    assert _on_cuda(loaded)
    np.testing.assert_allclose(loaded.predict_proba(X_te), est.predict_proba(X_te), atol=1e-6)


def test_language_model_on_cuda():
    from sklearn_deep.neural_network import CausalLanguageModel

    rng = np.random.default_rng(0)
    X = rng.integers(1, 20, size=(64, 24))
    X[:, 1::2] = (X[:, 0::2] + 1) % 20  # a learnable pattern: every odd token follows the even
    lm = CausalLanguageModel(random_state=0, device="cuda").fit(X)
    assert _on_cuda(lm)
    assert np.isfinite(lm.score(X))
