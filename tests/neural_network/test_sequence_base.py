"""Shared sequence input handling: the LSA ('svd') initialisation of the token embedding."""

import numpy as np
import pytest
from skorch.callbacks import Callback

from sklearn_deep.neural_network import LSTMClassifier, TransformerClassifier
from sklearn_deep.neural_network._sequence_base import svd_token_embedding


def _lsa_oracle(X, n_rows, padding_idx, k):
    """Dense NumPy LSA: sublinear tf, smoothed idf, l2 rows, full SVD, rows of V S."""
    counts = np.zeros((X.shape[0], n_rows))
    for i, row in enumerate(X):
        for t in row:
            if t != padding_idx:
                counts[i, min(t, n_rows - 1)] += 1
    seen = np.flatnonzero(counts.sum(axis=0))
    counts = counts[:, seen]
    tf = np.where(counts > 0, 1 + np.log(np.where(counts > 0, counts, 1)), 0)
    df = (counts > 0).sum(axis=0)
    idf = np.log((1 + len(X)) / (1 + df)) + 1
    M = tf * idf
    M /= np.linalg.norm(M, axis=1, keepdims=True)
    _, s, Vt = np.linalg.svd(M, full_matrices=False)
    return seen, Vt[:k].T * s[:k]


def _corpus(n=80, T=12, vocab=25, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(1, vocab, size=(n, T))
    X[: n // 2, 0], X[: n // 2, 1] = 30, 31  # tokens 30 and 31 always occur together
    X[:, T - 3 :] = 0  # padding
    y = (np.arange(n) < n // 2).astype(int)
    return X, y


@pytest.mark.parametrize("k", [4, 64])  # randomized SVD, and the dense path (k > rank)
def test_svd_token_embedding_matches_dense_lsa(k):
    X, _ = _corpus()
    rows, vectors = svd_token_embedding(X, 40, 0, k, random_state=0)
    seen, expected = _lsa_oracle(X, 40, 0, k)
    np.testing.assert_array_equal(rows, seen)
    assert 0 not in rows  # padding is never counted
    assert vectors.shape == (len(seen), k)
    expected /= np.sqrt((expected**2).sum(axis=1).mean())  # the common scale: RMS norm 1
    np.testing.assert_allclose(np.sqrt((vectors**2).sum(axis=1).mean()), 1.0)
    n = min(k, expected.shape[1])
    signs = np.sign((vectors[:, :n] * expected[:, :n]).sum(axis=0))
    np.testing.assert_allclose(vectors[:, :n] * signs, expected[:, :n], atol=1e-6)
    np.testing.assert_array_equal(vectors[:, n:], 0)  # fewer singular vectors than columns
    # deterministic for a given seed
    np.testing.assert_array_equal(svd_token_embedding(X, 40, 0, k, random_state=0)[1], vectors)


class _InitialEmbedding(Callback):
    """Record the embedding as training begins (after initialisation)."""

    def on_train_begin(self, net, **kwargs):
        self.weight_ = net.module_.input.embedding.weight.detach().numpy().copy()


def _initial_embedding(cls, **params):
    X, y = _corpus()
    clf = cls(max_epochs=1, random_state=0, vocab_size=40, callbacks=[_InitialEmbedding()])
    net = clf.set_params(**params).fit(X, y).net_  # the estimator fits a copy of the callback
    (record,) = [cb for _, cb in net.callbacks_ if isinstance(cb, _InitialEmbedding)]
    return record.weight_


@pytest.mark.parametrize(
    "cls, params",
    [(LSTMClassifier, dict(embedding_dim=16)), (TransformerClassifier, dict(d_model=16))],
)
def test_svd_embedding_init(cls, params):
    W = _initial_embedding(cls, embedding_init="svd", **params)
    W_normal = _initial_embedding(cls, embedding_init="normal", **params)
    assert W.shape == (41, 16)  # vocab_size ids plus the out-of-vocabulary row
    np.testing.assert_array_equal(W[0], 0)  # padding row stays zero
    # tokens that always co-occur start nearly parallel
    cos = W[30] @ W[31] / np.linalg.norm(W[30]) / np.linalg.norm(W[31])
    assert cos > 0.99
    X, _ = _corpus()
    rows, vectors = svd_token_embedding(X, 41, 0, 16, random_state=0)
    unseen = np.setdiff1d(np.arange(1, 41), rows)  # ids 25..29, 32..39 and the OOV row
    assert unseen.size == 14
    np.testing.assert_array_equal(W[unseen], W_normal[unseen])  # the default random rows
    assert not np.allclose(W[rows], W_normal[rows])
    np.testing.assert_allclose(np.sqrt((W[rows] ** 2).sum(axis=1).mean()), 1.0, rtol=1e-5)
    # deterministic for a given random_state
    np.testing.assert_array_equal(_initial_embedding(cls, embedding_init="svd", **params), W)


def test_svd_embedding_init_ignores_continuous_input_and_validates():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6, 2)), rng.integers(0, 2, size=40)
    a = LSTMClassifier(embedding_init="svd", max_epochs=2, random_state=0).fit(X, y)
    b = LSTMClassifier(max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    with pytest.raises(ValueError, match="embedding_init"):
        LSTMClassifier(embedding_init="lsa").fit(X, y)
