"""LSTMClassifier: input kinds, padding, cells, attention, pipelines, real data."""

import importlib.util
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from torch import nn

from sklearn_deep.neural_network import LSTMClassifier

FAST = dict(hidden_size=16, embedding_dim=16, max_epochs=8, random_state=0)


def _token_task(n=240, T=10, vocab=15, seed=0):
    """Class 1 iff token 3 occurs; sequences of random length, padded with 0 at the end."""
    rng = np.random.default_rng(seed)
    X = rng.integers(4, vocab, size=(n, T))
    y = rng.integers(0, 2, size=n)
    pos = rng.integers(0, T // 2, size=n)
    X[y == 1, pos[y == 1]] = 3
    lengths = rng.integers(T // 2 + 1, T + 1, size=n)
    for row, length in zip(X, lengths):
        row[length:] = 0
    return X, y


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _module_proba(clf, X):
    module = clf.module_.double().eval()
    with torch.no_grad():
        return _softmax(module(torch.as_tensor(X)).numpy())


def test_token_ids_learn_and_padding_never_changes_predictions():
    X, y = _token_task()
    clf = LSTMClassifier(pooling="max", **FAST).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.module_.input.vocab_size == X.max() + 1
    proba = clf.predict_proba(X)
    # the same sequences without their trailing padding, one at a time
    for i in range(0, len(X), 40):
        length = int(np.flatnonzero(X[i])[-1]) + 1
        np.testing.assert_allclose(proba[i : i + 1], _module_proba(clf, X[i : i + 1, :length]))
    # ids never seen in fit share the out-of-vocabulary row instead of failing
    X_oov = X.copy()
    X_oov[:, 0] = 99
    assert clf.predict(X_oov).shape == y.shape
    # integral floats are read as the same token ids
    np.testing.assert_allclose(clf.predict_proba(X.astype(float)), proba)


@pytest.mark.parametrize("cell, torch_cls", [("lstm", nn.LSTM), ("gru", nn.GRU), ("rnn", nn.RNN)])
def test_cell_choice_is_honoured(cell, torch_cls):
    X, y = _token_task(n=60)
    clf = LSTMClassifier(cell=cell, bidirectional=True, num_layers=2, **FAST).fit(X, y)
    assert type(clf.module_.rnn) is torch_cls
    assert clf.module_.rnn.bidirectional and clf.module_.rnn.num_layers == 2


def test_attention_weights_sum_to_one_over_non_padding():
    X, y = _token_task(n=80)
    clf = LSTMClassifier(pooling="attention", **FAST).fit(X, y)
    w = clf.attention_weights(X)
    assert w.shape == X.shape
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    lengths = np.array([np.flatnonzero(r)[-1] + 1 for r in X])
    assert all(
        (row[length:] == 0).all() and (row[:length] > 0).all() for row, length in zip(w, lengths)
    )
    with pytest.raises(ValueError, match="pooling='attention'"):
        LSTMClassifier(**FAST).fit(X, y).attention_weights(X)


def _variable_length_series(n=90, T=12, C=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, C))
    y = (X[:, :4, 0].mean(axis=1) > 0).astype(int)
    lengths = rng.integers(5, T + 1, size=n)
    for row, length in zip(X, lengths):
        row[length:] = np.nan
    return X, y, lengths


def test_nan_and_value_padding_are_equivalent_and_ignored():
    X, y, lengths = _variable_length_series()
    nan_clf = LSTMClassifier(pooling="mean", padding_value=np.nan, **FAST).fit(X, y)
    X0 = np.nan_to_num(X, nan=-5.0)
    val_clf = LSTMClassifier(pooling="mean", padding_value=-5.0, **FAST).fit(X0, y)
    np.testing.assert_allclose(nan_clf.predict_proba(X), val_clf.predict_proba(X0), atol=1e-10)
    # padding contents are irrelevant: a prediction equals the unpadded sequence's
    i = int(np.argmin(lengths))
    np.testing.assert_allclose(
        nan_clf.predict_proba(X[i : i + 1]), _module_proba(nan_clf, X[i : i + 1, : lengths[i]])
    )
    assert nan_clf.__sklearn_tags__().input_tags.allow_nan
    X_bad = X.copy()
    X_bad[0, 0, 1] = np.nan  # NaN in one channel of a real step
    with pytest.raises(ValueError, match="NaN"):
        nan_clf.predict(X_bad)
    with pytest.raises(ValueError, match="NaN"):
        LSTMClassifier(padding_value=None, **FAST).fit(X, y)  # no padding: NaN is an error


def test_multivariate_3d_and_flat_with_input_shape_agree():
    X, y, _ = _variable_length_series()
    X = np.nan_to_num(X)
    clf3 = LSTMClassifier(**FAST).fit(X, y)
    clf2 = LSTMClassifier(input_shape=(12, 3), **FAST).fit(X.reshape(len(X), -1), y)
    np.testing.assert_allclose(clf3.predict_proba(X), clf2.predict_proba(X.reshape(len(X), -1)))
    assert clf3.module_.input.output_dim == 3
    with pytest.raises(ValueError, match="input_shape"):
        LSTMClassifier(input_shape=(5, 3), **FAST).fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="3-D"):
        clf3.predict(X[..., None])


def test_reproducible_string_labels_and_pickle():
    X, y = _token_task(n=80)
    labels = np.array(["neg", "pos"])[y]
    a = LSTMClassifier(dropout=0.3, num_layers=2, **FAST).fit(X, labels)
    b = clone(a).fit(X, labels)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert set(a.predict(X)) <= {"neg", "pos"}
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.predict_proba(X), a.predict_proba(X))


def test_token_input_errors():
    X, y = _token_task(n=40)
    with pytest.raises(ValueError, match="non-negative"):
        LSTMClassifier(**FAST).fit(X - 5, y)
    with pytest.raises(ValueError, match="integral"):
        LSTMClassifier(input_type="tokens", **FAST).fit(X + 0.5, y)
    with pytest.raises(ValueError, match="padding_idx"):
        LSTMClassifier(vocab_size=3, padding_idx=5, **FAST).fit(X, y)


@pytest.mark.skipif(importlib.util.find_spec("sktime") is None, reason="sktime not installed")
def test_real_data_italy_power_demand():
    from sklearn_deep.datasets import load_italy_power_demand

    X_tr, y_tr = load_italy_power_demand(split="train", return_X_y=True)
    X_te, y_te = load_italy_power_demand(split="test", return_X_y=True)
    clf = LSTMClassifier(max_epochs=30, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.9  # published 1-NN DTW: 0.95, ROCKET: 0.97


def test_embedding_dropout_regularises_training_only():
    X, y = _token_task(n=120)
    plain = LSTMClassifier(pooling="max", **FAST).fit(X, y)
    dropped = LSTMClassifier(pooling="max", embedding_dropout=0.3, **FAST).fit(X, y)
    assert dropped.module_.embedding_dropout == 0.3
    # the same initialisation, trained on different (dropped-out) inputs
    assert not np.allclose(plain.predict_proba(X), dropped.predict_proba(X))
    assert dropped.score(X, y) > 0.8
    # prediction is deterministic (no dropout at prediction time)
    np.testing.assert_array_equal(dropped.predict_proba(X), dropped.predict_proba(X))
    with pytest.raises(ValueError, match="embedding_dropout"):
        LSTMClassifier(embedding_dropout=1.0).fit(X, y)


def test_conv_branch_default_for_series_not_for_tokens():
    X, y, lengths = _variable_length_series()
    clf = LSTMClassifier(**FAST).fit(X, y)
    branch = clf.module_.input.branch
    assert [conv.out_channels for conv in branch.convs] == [64, 64, 64]
    assert clf.module_.summary_dropout.p == 0.8
    # the branch sees the full-resolution series and ignores its padding
    i = int(np.argmin(lengths))
    np.testing.assert_allclose(
        clf.predict_proba(X[i : i + 1]), _module_proba(clf, X[i : i + 1, : lengths[i]])
    )
    small = LSTMClassifier(conv_branch=[4, 8], **FAST).fit(X, y)
    assert [conv.out_channels for conv in small.module_.input.branch.convs] == [4, 8]
    assert LSTMClassifier(conv_branch=None, **FAST).fit(X, y).module_.input.branch is None
    X_tok, y_tok = _token_task(n=60)
    assert LSTMClassifier(**FAST).fit(X_tok, y_tok).module_.input.branch is None


@pytest.mark.parametrize("conv_branch", [(), (8, 0), (8, 2.5), (True,)])
def test_conv_branch_errors(conv_branch):
    X, y, _ = _variable_length_series(n=30)
    with pytest.raises(ValueError, match="conv_branch must be None or a non-empty tuple"):
        LSTMClassifier(conv_branch=conv_branch, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="summary_dropout"):
        LSTMClassifier(summary_dropout=1.0, **FAST).fit(X, y)
