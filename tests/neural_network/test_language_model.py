"""CausalLanguageModel: a density estimator over token-id sequences (Transformer / RNN)."""

import copy
import itertools
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

from sklearn_deep.neural_network import CausalLanguageModel
from sklearn_deep.neural_network._lm_modules import CausalLanguageModule
from sklearn_deep.preprocessing import TextToSequence

CELLS = ["transformer", "lstm", "gru"]
SMALL = dict(embedding_dim=16, hidden_size=16, n_heads=2, num_layers=2, dim_feedforward=32)


def _pattern(n=16, period=(1, 2, 3, 4), T=8):
    return np.tile(np.resize(period, T), (n, 1))


def _fit(cell, X, **params):
    kwargs = dict(SMALL, cell=cell, max_epochs=3, random_state=0)
    kwargs.update(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return CausalLanguageModel(**kwargs).fit(X)


@pytest.fixture(scope="module")
def fitted():
    """One lightly trained model per cell (random-ish weights are enough for the properties)."""
    rng = np.random.default_rng(0)
    X = rng.integers(1, 6, size=(12, 10))
    return {cell: _fit(cell, X, context_length=4) for cell in CELLS}


# ---------------------------------------------------------------------------- module
@pytest.mark.parametrize("cell", CELLS)
def test_incremental_steps_equal_full_causal_forward(cell):
    """start + step (key/value cache or carried state) = the full causal forward pass."""
    torch.manual_seed(0)
    module = CausalLanguageModule(7, cell=cell, **SMALL).double().eval()
    X = torch.randint(1, 7, (3, 9))
    with torch.no_grad():
        full = module(X)  # (3, 9, 7): logits of x_t given x_<t
        logits, state = module.start(X[:, :4])
        torch.testing.assert_close(logits, full[:, 4])
        for t in range(4, 8):
            logits, state = module.step(X[:, t], state)
            torch.testing.assert_close(logits, full[:, t + 1])
        empty, _ = module.start(X[:, :0])
        torch.testing.assert_close(empty, full[:, 0])
        # the chunked log-probabilities match a plain log-softmax
        expected = torch.log_softmax(full, -1).gather(-1, X[..., None]).squeeze(-1)
        torch.testing.assert_close(module.target_log_probs(X, chunk_size=5), expected)
    assert torch.isinf(full[..., 0]).all()  # padding is never predicted


# ---------------------------------------------------------------------------- density
@pytest.mark.parametrize("cell", ["transformer", "lstm"])
@settings(max_examples=30)
@given(data=st.data())
def test_causality_property(fitted, cell, data):
    """Changing tokens after position t never changes log p(x_s | x_<s) for s <= t, nor the
    log-likelihood of the prefix (the Transformer reads these 10 steps in overlapping
    windows of context_length=4)."""
    lm = fitted[cell]
    row = data.draw(st.lists(st.integers(0, 5), min_size=10, max_size=10), label="row")
    t = data.draw(st.integers(0, 9), label="t")
    tail = data.draw(st.lists(st.integers(0, 5), min_size=9 - t, max_size=9 - t), label="tail")
    X = np.array([row, row[: t + 1] + tail])
    before = lm._token_log_probs(X)
    np.testing.assert_allclose(before[1, : t + 1], before[0, : t + 1], rtol=1e-12, atol=1e-12)
    prefix = np.array([row[: t + 1] + [0] * (9 - t)])
    np.testing.assert_allclose(
        lm.score_samples(prefix), before[0, : t + 1].sum(), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("cell", CELLS)
def test_probabilities_sum_to_one(cell):
    """exp(score_samples) over every sequence of length T of the 3 non-padding ids sums to 1."""
    X = np.array([[1, 2, 3, 1], [3, 3, 2, 1]])
    lm = _fit(cell, X, context_length=3)  # the Transformer reads length 4 in 2 windows
    every = np.array(list(itertools.product([1, 2, 3], repeat=4)))
    assert np.exp(lm.score_samples(every)).sum() == pytest.approx(1.0, abs=1e-9)
    # score is the mean log-likelihood per token, perplexity its exp(-.)
    Xp = np.array([[1, 2, 3, 0], [3, 0, 0, 0]])  # padding is not counted
    assert lm.score(Xp) == pytest.approx(lm.score_samples(Xp).sum() / 4)
    assert lm.perplexity(Xp) == pytest.approx(np.exp(-lm.score(Xp)))
    assert lm.score_samples(np.zeros((1, 4), int))[0] == 0.0


def test_without_padding_id_every_id_is_a_token():
    X = np.array([[0, 1, 2, 0, 1], [2, 0, 0, 1, 2]])
    lm = _fit("transformer", X, padding_idx=None, context_length=3)
    every = np.array(list(itertools.product([0, 1, 2], repeat=5)))
    assert np.exp(lm.score_samples(every)).sum() == pytest.approx(1.0, abs=1e-9)
    assert lm.score(X) == pytest.approx(lm.score_samples(X).sum() / X.size)
    assert lm.generate(np.zeros((2, 0), int), 4, random_state=0).shape == (2, 4)


def test_learns_a_pattern_and_generates_it():
    X = _pattern()
    for cell in ("transformer", "lstm"):
        lm = _fit(cell, X, max_epochs=60, lr=1e-2)
        assert lm.perplexity(X) < 1.2
        # an unseen order of the same ids is much less likely
        shuffled = np.tile([[4, 3, 2, 1, 4, 3, 2, 1]], (2, 1))
        assert lm.score(shuffled) < lm.score(X[:2]) - 1
        assert lm.generate([[2, 3]], 6, temperature=0).tolist() == [[2, 3, 4, 1, 2, 3, 4, 1]]


def test_float_ids_equal_int_ids_and_bad_input_errors():
    X = _pattern(n=6)
    lm = _fit("gru", X)
    np.testing.assert_array_equal(lm.score_samples(X), lm.score_samples(X.astype(float)))
    with pytest.raises(ValueError, match="non-integral"):
        lm.score_samples(X + 0.5)
    with pytest.raises(ValueError, match="Negative values in data"):
        lm.score_samples(-X)
    with pytest.raises(ValueError, match="vocab_size_=5"):
        lm.score_samples(X + 10)
    with pytest.raises(ValueError, match="vocab_size.*TextToSequence"):
        CausalLanguageModel().fit(np.array([[1, 10**9]]))
    with pytest.raises(ValueError, match="no tokens"):
        CausalLanguageModel().fit(np.zeros((3, 4), int))
    with pytest.raises(ValueError, match="divisible by n_heads"):
        CausalLanguageModel(embedding_dim=6, n_heads=4).fit(X)
    with pytest.raises(ValueError, match="8 features"):
        lm.score_samples(X[:, :5])


def test_non_finite_loss_is_an_error():
    X = _pattern(n=8)
    lm = CausalLanguageModel(
        **SMALL, lr=1e12, gradient_clipping=None, max_epochs=30, random_state=0
    )
    with pytest.raises(ValueError, match="non-finite"):
        lm.fit(X)


# ---------------------------------------------------------------------------- generation
def test_generate_reproducible_greedy_top_k_and_padding(fitted):
    lm = fitted["transformer"]
    prompt = np.array([[1, 2, 3, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
    a = lm.generate(prompt, 12, random_state=3)
    assert a.shape == (3, 16) and a.dtype == np.int64
    np.testing.assert_array_equal(a, lm.generate(prompt, 12, random_state=3))
    assert not np.array_equal(a, lm.generate(prompt, 12, random_state=4))
    # each prompt kept, continued right after its last token, padded at the end
    assert a[0, :3].tolist() == [1, 2, 3] and (a[0, 3:15] != 0).all() and a[0, 15] == 0
    assert a[1, 0] == 4 and (a[1, 1:13] != 0).all() and (a[1, 13:] == 0).all()
    assert (a[2, :12] != 0).all() and (a[2, 12:] == 0).all()
    greedy = lm.generate(prompt, 12, temperature=0)
    np.testing.assert_array_equal(lm.generate(prompt, 12, temperature=1e-9), greedy)
    np.testing.assert_array_equal(lm.generate(prompt, 12, top_k=1, random_state=0), greedy)
    # top_k=2: every token is one of the 2 most probable ones
    seq = lm.generate(prompt[:1], 1, top_k=2, random_state=0)[0, 3]
    logp = lm._token_log_probs(np.array([[1, 2, 3, 1, 2, 3, 4]]))
    assert logp.shape == (1, 7)
    full = lm.module_(torch.tensor([[1, 2, 3, 1]]))[0, 3].detach().numpy()
    assert seq in np.argsort(full)[-2:]
    with pytest.raises(ValueError, match="temperature"):
        lm.generate(prompt, 2, temperature=-1.0)
    with pytest.raises(ValueError, match="top_k"):
        lm.generate(prompt, 2, top_k=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        lm.generate(prompt, -1)
    with pytest.raises(ValueError, match="prompt contains token id 9"):
        lm.generate([[9]], 2)


@pytest.mark.parametrize("cell", CELLS)
def test_cached_generation_equals_naive(fitted, cell):
    """Greedy decoding with the key/value cache (or carried RNN state) gives the tokens of
    re-running the model over the whole prefix for every new token."""
    lm = _fit(cell, np.random.default_rng(1).integers(1, 6, size=(12, 10)), context_length=32)
    prompt = np.array([[1, 2, 3], [5, 4, 1]])
    cached = lm._generate(prompt, 20, 0.0, None, None, True)
    naive = lm._generate(prompt, 20, 0.0, None, None, False)
    np.testing.assert_array_equal(cached, naive)
    # beyond the Transformer's context the cache restarts from the last half: still valid ids
    long = fitted[cell].generate(prompt, 15, random_state=0)
    assert ((long[:, 3:] >= 1) & (long[:, 3:] < 6)).all()


# ---------------------------------------------------------------------------- shell
def test_seeding_warm_start_pickle_and_verbose(capsys):
    X = _pattern(n=8)
    state = torch.get_rng_state()
    a = _fit("transformer", X, max_epochs=2, verbose=1)
    assert torch.equal(state, torch.get_rng_state())  # the global torch RNG is untouched
    assert "loss" in capsys.readouterr().out
    b = _fit("transformer", X, max_epochs=2)
    np.testing.assert_array_equal(a.score_samples(X), b.score_samples(X))
    c = _fit("transformer", X, max_epochs=2, random_state=1)
    assert not np.allclose(a.score_samples(X), c.score_samples(X))
    # warm_start continues the same module; without it, fit starts afresh
    warm = copy.deepcopy(a).set_params(warm_start=True, verbose=0)
    module = warm.module_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.fit(X)
    assert warm.module_ is module and warm.n_iter_ == 4 and len(warm.loss_curve_) == 4
    assert warm.loss_curve_[:2] == a.loss_curve_
    restarted = _fit("transformer", X, max_epochs=2)
    assert restarted.n_iter_ == 2
    # pickling keeps the model
    again = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(again.score_samples(X), a.score_samples(X))


def test_convergence_stop_and_warning():
    X = _pattern(n=8)
    with pytest.warns(ConvergenceWarning, match="max_epochs"):
        CausalLanguageModel(**SMALL, max_epochs=2, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        # no window falls by 2 * 10 nats: a plateau as soon as two windows of 2 are known
        lm = CausalLanguageModel(
            **SMALL, tol=10.0, n_iter_no_change=2, max_epochs=50, random_state=0
        ).fit(X)
    assert lm.n_iter_ == 4
    # the default budget adapts: many epochs for one mini-batch, fewer for many
    assert CausalLanguageModel()._n_epochs(8) == 100
    assert CausalLanguageModel()._n_epochs(32 * 500) == 5


def test_pipeline_on_raw_text():
    docs = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog"] * 4
    pipe = make_pipeline(
        TextToSequence(), CausalLanguageModel(**SMALL, max_epochs=20, lr=1e-2, random_state=0)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(docs)
    assert pipe.score_samples(docs).shape == (12,)
    assert pipe.score(["the cat sat"]) > pipe.score(["mat the on"])
    tts, lm = pipe[0], pipe[-1]
    text = tts.inverse_transform(lm.generate(tts.transform(["the"]), 5, random_state=0))
    assert len(text) == 1 and text[0].startswith("the ")
    assert re.fullmatch(r"[a-z ]+", text[0]) and len(text[0].split()) == 6
