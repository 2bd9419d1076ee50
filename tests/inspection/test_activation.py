"""Layer activations, Gram matrices, activation maximisation and DeepDream."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_deep.inspection import (
    activation_maximization,
    deep_dream,
    gram_matrix,
    layer_activations,
)


def _conv_names(est):
    return [k for k, m in est.module_.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]


def test_layer_activations_match_forward_hook(cnn, digits):
    X = digits[1][:12].reshape(12, -1)
    name = _conv_names(cnn)[0]
    A = layer_activations(cnn, X, layer=name, batch_size=5)
    store = {}
    layer = dict(cnn.module_.named_modules())[name]
    h = layer.register_forward_hook(lambda m, i, o: store.__setitem__("a", o.detach()))
    cnn.module_.eval()
    with torch.no_grad():
        cnn.module_(torch.tensor(X.reshape(12, 1, 8, 8), dtype=torch.float32))
    h.remove()
    assert A.shape == tuple(store["a"].shape) and A.dtype == np.float64
    np.testing.assert_allclose(A, store["a"].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="needs layer"):
        layer_activations(cnn, X, layer=None)
    with pytest.raises(ValueError, match="valid layer names"):
        layer_activations(cnn, X, layer="nope")


def test_layer_activations_of_token_models(token_models, token_task):
    X = token_task[1][0][:5]
    lstm = token_models["lstm"]
    name = [k for k, m in lstm.module_.named_modules() if isinstance(m, nn.Embedding)][0]
    E = layer_activations(lstm, X, layer=name)
    assert E.shape[:2] == X.shape


def test_gram_matrix_symmetric_psd(cnn, digits):
    X = digits[1][:20].reshape(20, -1)
    for name in _conv_names(cnn):
        G = gram_matrix(cnn, X, layer=name)
        A = layer_activations(cnn, X, layer=name)
        C = A.shape[1]
        assert G.shape == (20, C, C)
        np.testing.assert_allclose(G, np.transpose(G, (0, 2, 1)), atol=1e-12)
        eig = np.linalg.eigvalsh(G)
        assert eig.min() >= -1e-9 * max(1.0, eig.max())
        Fm = A.reshape(20, C, -1)
        np.testing.assert_allclose(G[3], Fm[3] @ Fm[3].T, rtol=1e-12)
        np.testing.assert_allclose(
            gram_matrix(cnn, X, layer=name, normalize=True), G / Fm.shape[2], rtol=1e-12
        )


def test_activation_maximization_reaches_each_class(cnn):
    hits = 0
    for label in cnn.classes_:
        res = activation_maximization(cnn, unit=label, n_steps=100, clip=(0, 1), random_state=0)
        assert res.X.shape == (1, 64)  # the estimator was fitted on flat X
        assert res.X.min() >= 0 and res.X.max() <= 1
        assert res.history.shape == (100,)
        assert res.activation > res.history[0]
        hits += cnn.predict(res.X)[0] == label
    assert hits >= 9
    again = activation_maximization(
        cnn, unit=cnn.classes_[0], n_steps=100, clip=(0, 1), random_state=0
    )
    first = activation_maximization(
        cnn, unit=cnn.classes_[0], n_steps=100, clip=(0, 1), random_state=0
    )
    np.testing.assert_array_equal(again.X, first.X)


def test_activation_maximization_of_a_channel(cnn_gap):
    name = _conv_names(cnn_gap)[-1]
    res = activation_maximization(cnn_gap, unit=3, layer=name, n_steps=30, random_state=0)
    assert res.X.shape == (1, 1, 8, 8)  # fitted on (n, 1, 8, 8) images
    assert res.activation > res.history[0]
    with pytest.raises(ValueError, match="not in classes_"):
        activation_maximization(cnn_gap, unit=99, n_steps=2)


def test_deep_dream_amplifies_layer(cnn, digits):
    X = digits[1][:6].reshape(6, -1)
    name = _conv_names(cnn)[-1]
    D = deep_dream(cnn, X, layer=name, n_steps=10, step_size=0.02, clip=(0, 1))
    assert D.shape == X.shape
    assert D.min() >= 0 and D.max() <= 1
    energy = [np.mean(layer_activations(cnn, Z, layer=name) ** 2, axis=(1, 2, 3)) for Z in (X, D)]
    assert np.all(energy[1] > energy[0])
