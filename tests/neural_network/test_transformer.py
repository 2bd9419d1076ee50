"""TransformerClassifier: causal masking, positional encodings, padding, pipelines, real data.

Also the one Pipeline + GridSearchCV(n_jobs=2) test shared by both sequence classifiers
(spawning the workers dominates its cost, so it runs once).
"""

import importlib.util

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_deep.neural_network import LSTMClassifier, TransformerClassifier
from sklearn_deep.preprocessing import TextToSequence

FAST = dict(
    d_model=16, n_heads=2, num_layers=1, dim_feedforward=32, max_epochs=15, lr=5e-3, random_state=0
)


def _token_task(n=200, T=10, vocab=15, seed=0):
    """Class 1 iff token 3 occurs; random lengths, padded with 0 at the end."""
    rng = np.random.default_rng(seed)
    X = rng.integers(4, vocab, size=(n, T))
    y = rng.integers(0, 2, size=n)
    pos = rng.integers(0, T // 2, size=n)
    X[y == 1, pos[y == 1]] = 3
    lengths = rng.integers(T // 2 + 1, T + 1, size=n)
    for row, length in zip(X, lengths):
        row[length:] = 0
    return X, y


def _module_logits(clf, X):
    module = clf.module_.double().eval()
    with torch.no_grad():
        return module(torch.as_tensor(X)).numpy()


@pytest.mark.parametrize(
    "params",
    [
        dict(pooling="mean"),
        dict(pooling="cls", positional_encoding="learned"),
        dict(pooling="last", causal=True),
    ],
)
def test_learns_tokens_and_padding_never_changes_predictions(params):
    X, y = _token_task()
    clf = TransformerClassifier(**FAST, **params).fit(X, y)
    assert clf.score(X, y) > 0.85
    logits = np.log(clf.predict_proba(X))
    for i in range(0, len(X), 25):
        length = int(np.flatnonzero(X[i])[-1]) + 1
        short = _module_logits(clf, X[i : i + 1, :length])
        np.testing.assert_allclose(logits[i] - logits[i].max(), short[0] - short[0].max())


def test_causal_representation_at_t_ignores_later_tokens():
    X, y = _token_task(n=80)
    clf = TransformerClassifier(causal=True, pooling="last", **FAST).fit(X, y)
    module = clf.module_.double().eval()
    X2 = X.copy()
    X2[:, 4:] = np.random.default_rng(1).integers(4, 15, size=(len(X), X.shape[1] - 4))
    with torch.no_grad():
        H, _ = module.encode(torch.as_tensor(X))
        H2, _ = module.encode(torch.as_tensor(X2))
    np.testing.assert_allclose(H[:, :4].numpy(), H2[:, :4].numpy(), atol=1e-12)
    assert not np.allclose(H[:, 4:].numpy(), H2[:, 4:].numpy())


@pytest.mark.parametrize(
    "params", [dict(pooling="mean"), dict(pooling="cls"), dict(pooling="last", causal=True)]
)
def test_attention_weights_are_masked_distributions(params):
    X, y = _token_task(n=80)
    clf = TransformerClassifier(**{**FAST, "num_layers": 2, "max_epochs": 2}, **params)
    clf.fit(X, y)
    proba = clf.predict_proba(X)
    w = clf.attention_weights(X)
    extra = 1 if params["pooling"] == "cls" else 0
    T = X.shape[1] + extra
    assert w.shape == (len(X), 2, 2, T, T) and w.dtype == np.float64
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, atol=1e-12)
    lengths = np.array([np.flatnonzero(r)[-1] + 1 for r in X]) + extra
    for row, length in zip(w, lengths):
        assert (row[..., length:] == 0).all()  # padding keys get no weight
        assert (row[..., :length] > 0).any()
    if params.get("causal"):
        assert (np.triu(w, k=1) == 0).all()
        assert (np.tril(w[..., : X.shape[1] // 2, : X.shape[1] // 2]) > 0).any()
    # batch size does not matter, and asking for the weights leaves the model unchanged
    np.testing.assert_allclose(clf.attention_weights(X[17:31]), w[17:31], atol=1e-12)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_attention_weights_path_computes_the_fast_attention():
    """The blocks' explicit softmax path (which returns the weights) gives the outputs of the
    fused scaled_dot_product_attention path used in training and predict."""
    X, y = _token_task(n=40)
    for causal in (False, True):
        clf = TransformerClassifier(
            **{**FAST, "num_layers": 2, "max_epochs": 2}, causal=causal, pooling="last"
        ).fit(X, y)
        module = clf.module_.double().eval()
        with torch.no_grad():
            Z, lengths = module._embed(torch.as_tensor(X))
            valid = torch.arange(Z.shape[1])[None, :] < lengths[:, None]
            for block in module.blocks:
                fast = block(Z, valid, causal=causal)
                Z, weights = block(Z, valid, causal=causal, need_weights=True)
                np.testing.assert_allclose(Z.numpy(), fast.numpy(), atol=1e-12)
        assert weights.shape == (len(X), 2, X.shape[1], X.shape[1])


def test_attention_weights_any_token_length_but_same_channels():
    X, y = _token_task(n=40)
    clf = TransformerClassifier(**{**FAST, "max_epochs": 1}).fit(X, y)
    weights = clf.attention_weights(X[:, :-1])  # token ids: any number of steps
    assert weights.shape[-2:] == (X.shape[1] - 1, X.shape[1] - 1)
    rng = np.random.default_rng(0)
    series = rng.normal(size=(30, 10, 2))
    reg = TransformerClassifier(**{**FAST, "max_epochs": 1}).fit(series, np.arange(30) % 2)
    assert reg.attention_weights(series[:, :7]).shape[-1] == 7
    with pytest.raises(ValueError, match="channels must match"):
        reg.attention_weights(series[:, :, :1])
    with pytest.raises(ValueError, match="expecting 10 features"):  # 2-D: a table (T=10)
        reg.attention_weights(series[:, :7].reshape(30, -1))


def test_permutation_invariance_needs_no_positional_encoding():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 15, size=(120, 8))  # no padding
    y = (X == 3).any(axis=1).astype(int)
    perm = rng.permutation(8)
    bag = TransformerClassifier(positional_encoding=None, pooling="mean", **FAST).fit(X, y)
    np.testing.assert_allclose(bag.predict_proba(X), bag.predict_proba(X[:, perm]), atol=1e-10)
    seq = TransformerClassifier(positional_encoding="sinusoidal", pooling="mean", **FAST)
    seq.fit(X, y)
    assert not np.allclose(seq.predict_proba(X), seq.predict_proba(X[:, perm]), atol=1e-6)


def test_multivariate_and_nan_padded_input():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 9, 2))
    y = (X[:, :3, 1].sum(axis=1) > 0).astype(int)
    lengths = rng.integers(4, 10, size=100)
    for row, length in zip(X, lengths):
        row[length:] = np.nan
    clf = TransformerClassifier(padding_value=np.nan, **FAST).fit(X, y)
    flat = clone(clf).set_params(input_shape=(9, 2)).fit(X.reshape(100, -1), y)
    np.testing.assert_allclose(clf.predict_proba(X), flat.predict_proba(X.reshape(100, -1)))
    i = int(np.argmin(lengths))
    short = _module_logits(clf, X[i : i + 1, : lengths[i]])[0]
    expected = np.exp(short - short.max()) / np.exp(short - short.max()).sum()
    np.testing.assert_allclose(clf.predict_proba(X[i : i + 1])[0], expected)


def test_parameter_errors():
    X, y = _token_task(n=40)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        TransformerClassifier(d_model=10, n_heads=4, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="pooling='cls'"):
        TransformerClassifier(causal=True, pooling="cls", max_epochs=1).fit(X, y)


DOCS_POS = ["great fun film", "a great story", "loved it, great", "fun and moving", "superb"]
DOCS_NEG = ["dull boring film", "a bad story", "hated it, bad", "boring and slow", "awful"]


def test_text_pipelines_in_grid_search_n_jobs_2():
    docs = (DOCS_POS + DOCS_NEG) * 4
    y = np.array(([1] * 5 + [0] * 5) * 4)
    pipe = Pipeline([("tokens", TextToSequence()), ("clf", LSTMClassifier())])
    grid = GridSearchCV(
        pipe,
        {
            "clf": [
                LSTMClassifier(hidden_size=16, embedding_dim=16, max_epochs=8, random_state=0),
                TransformerClassifier(**FAST),
            ],
            "clf__max_epochs": [4, 8],
        },
        cv=2,
        n_jobs=2,
    ).fit(docs, y)
    assert grid.best_score_ > 0.6
    assert grid.predict(["great fun", "boring bad"]).tolist() == [1, 0]
    assert {type(p["clf"]).__name__ for p in grid.cv_results_["params"]} == {
        "LSTMClassifier",
        "TransformerClassifier",
    }


@pytest.mark.skipif(importlib.util.find_spec("sktime") is None, reason="sktime not installed")
def test_real_data_italy_power_demand():
    from sklearn_deep.datasets import load_italy_power_demand

    X_tr, y_tr = load_italy_power_demand(split="train", return_X_y=True)
    X_te, y_te = load_italy_power_demand(split="test", return_X_y=True)
    clf = TransformerClassifier(max_epochs=30, random_state=0).fit(X_tr, y_tr)
    assert clf.score(X_te, y_te) > 0.9  # published 1-NN DTW: 0.95, ROCKET: 0.97


def test_conv_branch_default_and_options_for_series():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 10, 2))
    y = (X[:, :3, 0].sum(axis=1) > 0).astype(int)
    default = TransformerClassifier(**FAST).fit(X, y).module_.input.branch
    assert [conv.out_channels for conv in default.convs] == [64, 128, 64]
    no_branch = TransformerClassifier(conv_branch=None, **FAST).fit(X, y)
    assert no_branch.module_.input.branch is None
    clf = TransformerClassifier(conv_branch=(8,), summary_dropout=0.5, **FAST).fit(X, y)
    assert [conv.out_channels for conv in clf.module_.input.branch.convs] == [8]
    assert clf.module_.summary_dropout.p == 0.5
    with pytest.raises(ValueError, match="conv_branch must be None"):
        TransformerClassifier(conv_branch=(0,), **FAST).fit(X, y)
