"""Properties of the plain sequence modules (no scikit-learn involved)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from sklearn_deep.neural_network._seq_modules import (
    AdditiveAttentionPooling,
    RecurrentClassifierModule,
    TransformerClassifierModule,
    masked_pool,
    sequence_lengths,
    sinusoidal_positional_encoding,
)

VOCAB = 12


def _tokens(rng, n, T, lengths=None):
    X = rng.integers(1, VOCAB, size=(n, T))
    if lengths is not None:
        for row, length in zip(X, lengths):
            row[length:] = 0
    return torch.as_tensor(X)


@pytest.mark.parametrize("d_model", [1, 6, 7, 16])
def test_sinusoidal_encoding_matches_formula(d_model):
    pe = sinusoidal_positional_encoding(9, d_model, dtype=torch.float64)
    assert pe.shape == (9, d_model)
    for pos in range(9):
        for j in range(d_model):
            i = j // 2
            angle = pos / 10000 ** (2 * i / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert pe[pos, j].item() == pytest.approx(expected, abs=1e-12)
    # float32 is the float64 table rounded
    pe32 = sinusoidal_positional_encoding(9, d_model)
    assert pe32.dtype == torch.float32
    torch.testing.assert_close(pe32, pe.float())


def test_sequence_lengths_trailing_padding():
    pad = torch.tensor(
        [[False, False, True, True], [False, True, False, True], [True, True, True, True]]
    )
    # inner padding does not shorten a sequence; all-padding reads as length 1
    assert sequence_lengths(pad).tolist() == [2, 3, 1]


def _transformer(**kw):
    params = dict(
        n_classes=3,
        input_type="tokens",
        vocab_size=VOCAB,
        d_model=16,
        n_heads=2,
        num_layers=2,
        dim_feedforward=32,
        dropout=0.0,
    )
    params.update(kw)
    torch.manual_seed(0)
    return TransformerClassifierModule(**params).eval()


@settings(max_examples=25)
@given(t=st.integers(0, 7), seed=st.integers(0, 2**16))
def test_causal_attention_ignores_the_future(t, seed):
    module = _transformer(causal=True, pooling="last")
    rng = np.random.default_rng(seed)
    X = _tokens(rng, 4, 8)
    X2 = X.clone()
    X2[:, t + 1 :] = torch.as_tensor(rng.integers(1, VOCAB, size=(4, 8 - t - 1)))
    with torch.no_grad():
        H, _ = module.encode(X)
        H2, _ = module.encode(X2)
    torch.testing.assert_close(H[:, : t + 1], H2[:, : t + 1], atol=1e-6, rtol=1e-5)
    if t < 6:  # the future does change later steps, so the check above is not vacuous
        assert not torch.allclose(H[:, -1], H2[:, -1])


def test_non_causal_attention_sees_the_future():
    module = _transformer(causal=False, pooling="last")
    X = _tokens(np.random.default_rng(0), 4, 8)
    X2 = X.clone()
    X2[:, -1] = (X2[:, -1] % (VOCAB - 1)) + 1
    with torch.no_grad():
        assert not torch.allclose(module.encode(X)[0][:, 0], module.encode(X2)[0][:, 0])


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_permutation_invariance_without_positional_encoding(pooling):
    rng = np.random.default_rng(1)
    X = _tokens(rng, 5, 9)
    perm = torch.as_tensor(rng.permutation(9))
    no_pe = _transformer(positional_encoding=None, pooling=pooling)
    with_pe = _transformer(positional_encoding="sinusoidal", pooling=pooling)
    with torch.no_grad():
        torch.testing.assert_close(no_pe(X), no_pe(X[:, perm]), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(with_pe(X), with_pe(X[:, perm]), atol=1e-3)


def _recurrent(cell="lstm", pooling="last", bidirectional=False, **kw):
    params = dict(
        n_classes=3,
        input_type="tokens",
        vocab_size=VOCAB,
        embedding_dim=8,
        hidden_size=8,
        num_layers=2,
        cell=cell,
        pooling=pooling,
        bidirectional=bidirectional,
    )
    params.update(kw)
    torch.manual_seed(0)
    return RecurrentClassifierModule(**params).eval()


_ALL_MODELS = [
    *[
        (
            f"{cell}-{pooling}-{'bi' if bi else 'uni'}",
            lambda c=cell, p=pooling, b=bi, **kw: _recurrent(c, p, b, **kw),
        )
        for cell in ["lstm", "gru", "rnn"]
        for pooling in ["last", "mean", "max", "attention"]
        for bi in [False, True]
    ],
    *[
        (
            f"transformer-{pooling}-{pe}-{causal}",
            lambda p=pooling, e=pe, c=causal, **kw: _transformer(
                pooling=p, positional_encoding=e, causal=c, max_len=12, **kw
            ),
        )
        for pooling in ["cls", "mean", "last"]
        for pe in ["sinusoidal", "learned"]
        for causal in [False, True]
        if not (causal and pooling == "cls")
    ],
]


@pytest.mark.parametrize("make", [m for _, m in _ALL_MODELS], ids=[i for i, _ in _ALL_MODELS])
def test_appending_padding_never_changes_logits(make):
    rng = np.random.default_rng(2)
    lengths = [5, 1, 3, 5, 2]
    X = _tokens(rng, 5, 5, lengths)
    X[1, 0] = 0  # an empty (all padding) sequence reads as its first step
    module = make()
    X_padded = torch.cat([X, torch.zeros(5, 4, dtype=X.dtype)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(module(X), module(X_padded), atol=1e-6, rtol=1e-5)
        # and each row's logits do not depend on the padding of other rows in the batch
        torch.testing.assert_close(module(X[2:3, :3]), module(X)[2:3], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("padding_value", [0.0, float("nan"), -1.0])
@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_continuous_padding_is_ignored(padding_value, kind):
    rng = np.random.default_rng(3)
    X = torch.as_tensor(rng.normal(size=(4, 6, 3)), dtype=torch.float32)
    X_padded = torch.cat([X, torch.full((4, 3, 3), padding_value)], dim=1)
    shared = dict(input_type="continuous", n_channels=3, padding_value=padding_value)
    if kind == "gru":
        module = _recurrent("gru", "attention", True, **shared)
    else:
        module = _transformer(**shared)
    with torch.no_grad():
        out = module(X_padded)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(module(X), out, atol=1e-6, rtol=1e-5)


def test_cell_choice_is_honoured_and_matches_gate_equations():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 3)  # one time step from a zero state
    sig = torch.sigmoid
    for cell, torch_cls, n_gates in [("lstm", nn.LSTM, 4), ("gru", nn.GRU, 3), ("rnn", nn.RNN, 1)]:
        module = RecurrentClassifierModule(
            2, input_type="continuous", n_channels=3, cell=cell, hidden_size=5
        )
        assert type(module.rnn) is torch_cls
        W, b = module.rnn.weight_ih_l0, module.rnn.bias_ih_l0 + 0
        bh = module.rnn.bias_hh_l0
        assert W.shape == (n_gates * 5, 3)
        pre = x[:, 0] @ W.T + b
        if cell == "lstm":  # lecture notes: c = f*c0 + i*z, h = o*tanh(c), c0 = h0 = 0
            i, _, z, o = (pre + bh).chunk(4, dim=1)
            expected = sig(o) * torch.tanh(sig(i) * torch.tanh(z))
        elif cell == "gru":  # h = (1 - u) * n with h0 = 0; torch's reset acts on b_hn
            r, u, n = pre.chunk(3, dim=1)
            bhr, bhu, bhn = bh.chunk(3)
            expected = (1 - sig(u + bhu)) * torch.tanh(n + sig(r + bhr) * bhn)
        else:
            expected = torch.tanh(pre + bh)
        with torch.no_grad():
            _, _, h_last = module.encode(x)
        torch.testing.assert_close(h_last, expected.detach())


def _packed_encode(module, X):
    """``encode`` through ``pack_padded_sequence``: the reference for the padded fast path."""
    Z, lengths = module.input(X)
    packed = nn.utils.rnn.pack_padded_sequence(Z, lengths, batch_first=True, enforce_sorted=False)
    out, h_n = module.rnn(packed)
    h_n = h_n[0] if module.cell == "lstm" else h_n
    H, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=Z.shape[1])
    n_dir = 2 if module.rnn.bidirectional else 1
    return H, torch.cat([h_n[-n_dir + d] for d in range(n_dir)], dim=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("lengths", [[7, 3, 7, 1, 5], [7] * 5, [4, 2, 4, 1, 3]])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_encode_matches_packed_sequences(cell, bidirectional, num_layers, lengths, dtype):
    # outputs, final states and their gradients w.r.t. every weight equal those of packing
    module = _recurrent(cell, "last", bidirectional, num_layers=num_layers).to(dtype)
    X = _tokens(np.random.default_rng(5), 5, 7, lengths)
    H, lengths_out, h_last = module.encode(X)
    H_ref, h_last_ref = _packed_encode(module, X)
    torch.testing.assert_close(lengths_out, torch.as_tensor(lengths))
    torch.testing.assert_close(H, H_ref)
    torch.testing.assert_close(h_last, h_last_ref)
    torch.manual_seed(1)
    w_H, w_last = torch.randn_like(H), torch.randn_like(h_last)
    params = list(module.rnn.parameters()) + [module.input.embedding.weight]
    grads = torch.autograd.grad((H * w_H).sum() + (h_last * w_last).sum(), params)
    grads_ref = torch.autograd.grad((H_ref * w_H).sum() + (h_last_ref * w_last).sum(), params)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref)


def test_bidirectional_encode_keeps_the_random_stream():
    # the unequal-length path creates its per-layer templates without drawing random numbers
    module = _recurrent("lstm", "mean", True)
    X = _tokens(np.random.default_rng(6), 4, 6, [6, 2, 5, 3])
    state = torch.get_rng_state()
    with torch.no_grad():
        module(X)
    assert torch.equal(torch.get_rng_state(), state)


def test_attention_weights_sum_to_one_over_valid_steps():
    torch.manual_seed(0)
    pool = AdditiveAttentionPooling(4, 6)
    H = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 1])
    mask = torch.arange(5)[None] < lengths[:, None]
    pooled, weights = pool(H, mask)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(3))
    assert (weights[~mask] == 0).all() and (weights[mask] > 0).all()
    torch.testing.assert_close(pooled[2], H[2, 0])  # a single valid step gets all the weight
    # the recurrent module exposes them too
    module = _recurrent("gru", "attention")
    X = _tokens(np.random.default_rng(0), 3, 6, [6, 4, 2])
    _, w = module.pool(X)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(3))
    assert (w[1, 4:] == 0).all() and (w[2, 2:] == 0).all()


def test_masked_pool_modes():
    H = torch.arange(24.0).view(2, 4, 3)
    lengths = torch.tensor([2, 4])
    torch.testing.assert_close(masked_pool(H, lengths, "mean")[0], H[0, :2].mean(0))
    torch.testing.assert_close(masked_pool(H, lengths, "max")[0], H[0, 1])
    torch.testing.assert_close(masked_pool(H, lengths, "last"), torch.stack([H[0, 1], H[1, 3]]))


def test_out_of_vocabulary_ids_share_one_row_and_float64_runs():
    module = _recurrent("lstm", "mean")
    X = torch.tensor([[3, VOCAB, 0], [3, VOCAB + 7, 0]])
    with torch.no_grad():
        out = module(X)
        torch.testing.assert_close(out[0], out[1])
        module64 = module.double()
        assert module64(X).dtype == torch.float64
        assert module64(X.double()).dtype == torch.float64  # integral float ids are accepted


def test_learned_positions_reject_longer_sequences():
    module = _transformer(positional_encoding="learned", max_len=4)
    with pytest.raises(ValueError, match="max_len"):
        module(_tokens(np.random.default_rng(0), 2, 6))


def test_embedding_dropout_zeroes_whole_steps_in_training_only():
    rng = np.random.default_rng(4)
    X = _tokens(rng, 64, 10)  # no padding: every step is a word
    module = _recurrent("gru", "max", embedding_dropout=0.5)
    fed = []
    module.rnn.register_forward_pre_hook(lambda mod, args: fed.append(args[0]))
    with torch.no_grad():
        E = module.input.embedding(X)
        module.train()
        module(X)
        Z = fed[-1]
        dropped = (Z == 0).all(dim=-1)
        assert 0.35 < dropped.float().mean() < 0.65  # about half of the steps
        torch.testing.assert_close(Z[~dropped], 2 * E[~dropped])  # kept steps scaled by 1/(1-p)
        # every step is kept in evaluation mode: the logits are those of a module without it
        module.eval()
        torch.testing.assert_close(module(X), _recurrent("gru", "max")(X))


@pytest.mark.parametrize("padding_value", [float("nan"), -1.0])
@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_conv_branch_ignores_padding_and_joins_the_head(padding_value, kind):
    rng = np.random.default_rng(5)
    X = torch.as_tensor(rng.normal(size=(4, 9, 2)), dtype=torch.float32)
    X[1, 5:] = padding_value  # a shorter sequence inside the batch
    X_padded = torch.cat([X, torch.full((4, 3, 2), padding_value)], dim=1)
    shared = dict(
        input_type="continuous",
        n_channels=2,
        padding_value=padding_value,
        conv_branch=(4, 6),
        summary_dropout=0.8,
    )
    if kind == "lstm":
        module = _recurrent("lstm", "last", **shared)
        summary = module.output_dim
    else:
        module = _transformer(**shared)
        summary = module.d_model
    branch = module.input.branch
    assert [c.kernel_size[0] for c in branch.convs] == [7, 5]
    assert module.head.in_features == summary + 6
    with torch.no_grad():
        out = module(X_padded)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(module(X), out, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(module(X[1:2, :5]), out[1:2], atol=1e-6, rtol=1e-5)
        # the branch's features: the mean over the valid steps of its last feature map
        _, lengths, features = module.input.read(X)
        assert features.shape == (4, 6) and lengths.tolist() == [9, 5, 9, 9]
    # training mode: the summary dropout is random, and a single value per channel trains
    module.train()
    assert not torch.allclose(module(X), module(X))
    module(X[:1, :1]).sum().backward()


def test_conv_branch_needs_continuous_input():
    with pytest.raises(ValueError, match="conv_branch needs continuous input"):
        _recurrent(conv_branch=(4,))
