"""Small fitted networks shared by the inspection tests (trained once per session).

Every estimator gets explicit hyper-parameters: the tests must not depend on defaults.
"""

import numpy as np
import pytest
from inspection_models import LinearNetClassifier
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_deep.neural_network import CNNClassifier, LSTMClassifier, TransformerClassifier


@pytest.fixture(scope="session")
def digits():
    """Digits X/16 as (n, 1, 8, 8), stratified 75/25 split."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="session")
def cnn(digits):
    """A LeNet-like CNN with dropout, fitted on FLAT digits (n, 64) with input_shape."""
    X_tr, _, y_tr, _ = digits
    clf = CNNClassifier(
        input_shape=(1, 8, 8),
        channels=(8, 16),
        kernel_size=3,
        dense_units=(32,),
        dropout=0.2,
        max_epochs=10,
        batch_size=32,
        lr=2e-3,
        random_state=0,
    )
    return clf.fit(X_tr.reshape(len(X_tr), -1), y_tr)


@pytest.fixture(scope="session")
def cnn_gap(digits):
    """Conv stages with batch norm, then global average pooling -> one linear layer."""
    X_tr, _, y_tr, _ = digits
    clf = CNNClassifier(
        channels=(8, 16),
        kernel_size=3,
        normalization="batch",
        head="gap",
        dense_units=(),
        max_epochs=3,
        batch_size=32,
        random_state=0,
    )
    return clf.fit(X_tr, y_tr)


@pytest.fixture(scope="session")
def linear_net(digits):
    X_tr, _, y_tr, _ = digits
    return LinearNetClassifier(max_epochs=3, random_state=0).fit(X_tr.reshape(len(X_tr), -1), y_tr)


def make_token_task(n, rng, T=12, V=20, planted=7):
    """Random tokens in [1, V) without ``planted``; label 1 iff ``planted`` was put at one
    random position."""
    X = rng.integers(1, V, size=(n, T))
    X[X == planted] = planted + 1
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, T, n)
    X[y == 1, pos[y == 1]] = planted
    return X, y, pos


@pytest.fixture(scope="session")
def token_task():
    rng = np.random.default_rng(0)
    return make_token_task(800, rng), make_token_task(200, rng)


@pytest.fixture(scope="session")
def token_models(token_task):
    (X, y, _), _ = token_task
    lstm = LSTMClassifier(
        hidden_size=32,
        embedding_dim=16,
        pooling="max",
        max_epochs=6,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    transformer = TransformerClassifier(
        d_model=32,
        n_heads=2,
        num_layers=1,
        dim_feedforward=64,
        dropout=0.1,
        max_epochs=6,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    return {"lstm": lstm, "transformer": transformer}
