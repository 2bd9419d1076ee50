"""Plain PyTorch modules for sequence classification (recurrent and Transformer encoders).

Every shape is a constructor argument and every ``forward`` returns logits; nothing here
imports scikit-learn. The estimators in ``_lstm.py`` and ``_transformer.py`` build these
modules at fit time with the shapes they learn from the data.

Input conventions (shared by both classifier modules)
------------------------------------------------------
- ``input_type='tokens'``: ``X`` is an integer (or integral float) tensor of shape
  ``(n, T)`` holding token ids in ``[0, vocab_size)``; ids ``>= vocab_size`` map to one
  extra, shared out-of-vocabulary embedding row. ``padding_idx`` marks padding.
- ``input_type='continuous'``: ``X`` is a float tensor of shape ``(n, T, C)``. When
  ``padding_value`` is not None, a time step whose every channel equals ``padding_value``
  (NaN allowed: every channel is NaN) is padding.

Padding is trailing: the length of a sequence is one past its last non-padding step (at
least 1, so that an all-padding sequence is read as its first step). Steps at or after the
length never influence the output, so appending padding never changes a prediction; a
padding step inside a sequence is read as zeros (the padding embedding for tokens).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._seq_input import ConvolutionalBranch, SequenceInput, _valid_mask, sequence_lengths

__all__ = [
    "sinusoidal_positional_encoding",
    "sequence_lengths",
    "SequenceInput",
    "ConvolutionalBranch",
    "AdditiveAttentionPooling",
    "masked_pool",
    "RecurrentClassifierModule",
    "MultiHeadSelfAttention",
    "TransformerEncoderBlock",
    "TransformerClassifierModule",
]


def sinusoidal_positional_encoding(n_positions, d_model, base=10000.0, dtype=None, device=None):
    """Sinusoidal positional encoding of "Attention is all you need".

    ``PE[pos, 2i] = sin(pos / base**(2i / d_model))`` and
    ``PE[pos, 2i + 1] = cos(pos / base**(2i / d_model))``.

    Parameters
    ----------
    n_positions : int
        Number of positions ``0 .. n_positions - 1``.
    d_model : int
        Encoding size (odd sizes are allowed: the last column is a sine).
    base : float, default=10000.0
        The constant ``k`` of the formula.
    dtype, device : torch dtype and device of the result (default float32 on CPU).

    Returns
    -------
    pe : Tensor of shape (n_positions, d_model)
    """
    dtype = torch.float32 if dtype is None else dtype
    # computed in float64, then cast, so that float32 and float64 encodings agree
    pos = torch.arange(n_positions, dtype=torch.float64, device=device)[:, None]
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64, device=device)
    angle = pos / base ** (two_i / d_model)  # (n_positions, ceil(d_model / 2))
    pe = torch.empty(n_positions, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


class AdditiveAttentionPooling(nn.Module):
    """Additive (Bahdanau) attention pooling over time with a learned query.

    ``score_t = v^T tanh(W h_t + b)``, ``alpha = softmax(score)`` over the non-padding steps,
    ``pooled = sum_t alpha_t h_t``. (Bahdanau's decoder state ``s_{t-1}`` is replaced by a
    constant learned query, absorbed into ``b``.)

    Parameters
    ----------
    input_dim : int
        Size of each hidden state ``h_t``.
    attention_dim : int
        Size of the hidden layer of the scoring network.
    """

    def __init__(self, input_dim, attention_dim):
        super().__init__()
        self.W = nn.Linear(input_dim, attention_dim)
        self.v = nn.Linear(attention_dim, 1, bias=False)

    def forward(self, H, mask):
        """Return ``(pooled, weights)`` of shapes (n, D) and (n, T); H (n, T, D), mask (n, T)."""
        scores = self.v(torch.tanh(self.W(H))).squeeze(-1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights.unsqueeze(1), H).squeeze(1), weights


def masked_pool(H, lengths, mode):
    """Pool hidden states over the valid steps.

    Parameters
    ----------
    H : Tensor of shape (n, T, D)
    lengths : int64 Tensor of shape (n,)
    mode : {'mean', 'max', 'last'}

    Returns
    -------
    pooled : Tensor of shape (n, D)
    """
    mask = _valid_mask(lengths, H.shape[1])
    if mode == "mean":
        total = (H * mask[..., None].to(H.dtype)).sum(dim=1)
        return total / lengths[:, None].to(H.dtype)
    if mode == "max":
        return H.masked_fill(~mask[..., None], float("-inf")).amax(dim=1)
    if mode == "last":
        return H[torch.arange(H.shape[0], device=H.device), lengths - 1]
    raise ValueError(f"unknown pooling {mode!r}")


_RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentClassifierModule(nn.Module):
    """Recurrent (LSTM / GRU / Elman RNN) sequence classifier returning logits.

    Padding never reaches the outputs at valid steps (see :meth:`encode`).

    Parameters
    ----------
    n_classes : int
        Number of output logits.
    input_type : {'tokens', 'continuous'}, default='continuous'
    n_channels : int, default=1
        Channels ``C`` of continuous input of shape (n, T, C).
    vocab_size : int or None, default=None
        Number of token ids (tokens only; see :class:`SequenceInput`).
    embedding_dim : int, default=64
        Embedding size for token input (continuous input is fed to the cells as is).
    padding_idx : int or None, default=0
    padding_value : float or None, default=None
    cell : {'lstm', 'gru', 'rnn'}, default='lstm'
    hidden_size : int, default=64
    num_layers : int, default=1
    bidirectional : bool, default=False
    dropout : float, default=0.0
        Dropout between recurrent layers and before the output layer.
    pooling : {'last', 'mean', 'max', 'attention'}, default='last'
        How hidden states are summarised over time. 'last' uses the final state of each
        direction (for the backward direction that is its state at the first step).
    attention_dim : int or None, default=None
        Hidden size of the attention scorer (default: the recurrent output size).
    embedding_dropout : float, default=0.0
        Training only: probability of zeroing the whole input vector of a time step (a
        token's embedding, or all channels of a real-valued step), independently for every
        step of every sequence; kept steps are scaled by ``1 / (1 - embedding_dropout)``
        (``torch.nn.functional.dropout1d`` with the steps as channels). For text this is
        word dropout: the model cannot rely on any single word.
    patch_size : int, default=1
        Continuous input: steps per patch (see :class:`SequenceInput`); patches are
        projected to ``embedding_dim`` values.
    standardize : {'channel', 'feature'}, bool or None, default=False
        Continuous input: standardisation layer (see :class:`SequenceInput`).
    n_steps : int or None, default=None
        Steps of the input, for ``standardize='feature'``.
    conv_branch : tuple of int or None, default=None
        Continuous input: output channels of a parallel :class:`ConvolutionalBranch` whose
        pooled features are concatenated with the recurrent summary before the output layer
        (LSTM-FCN).
    summary_dropout : float, default=0.0
        With ``conv_branch``: dropout on the recurrent summary before the concatenation
        (LSTM-FCN uses 0.8).
    """

    def __init__(
        self,
        n_classes,
        input_type="continuous",
        n_channels=1,
        vocab_size=None,
        embedding_dim=64,
        padding_idx=0,
        padding_value=None,
        cell="lstm",
        hidden_size=64,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        pooling="last",
        attention_dim=None,
        embedding_dropout=0.0,
        patch_size=1,
        standardize=False,
        n_steps=None,
        conv_branch=None,
        summary_dropout=0.0,
    ):
        super().__init__()
        if cell not in _RNN_CELLS:
            raise ValueError(f"cell must be one of {sorted(_RNN_CELLS)}, got {cell!r}")
        if pooling not in ("last", "mean", "max", "attention"):
            raise ValueError(f"unknown pooling {pooling!r}")
        self.input = SequenceInput(
            input_type,
            n_channels=n_channels,
            vocab_size=vocab_size,
            embedding_dim=embedding_dim if input_type == "tokens" or patch_size > 1 else None,
            padding_idx=padding_idx,
            padding_value=padding_value,
            patch_size=patch_size,
            standardize=standardize,
            n_steps=n_steps,
            conv_branch=conv_branch,
        )
        self.cell = cell
        self.pooling = pooling
        self.rnn = _RNN_CELLS[cell](
            input_size=self.input.output_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = hidden_size * (2 if bidirectional else 1)
        self.attention = (
            AdditiveAttentionPooling(self.output_dim, attention_dim or self.output_dim)
            if pooling == "attention"
            else None
        )
        self.dropout = nn.Dropout(dropout)
        self.embedding_dropout = float(embedding_dropout)
        self.summary_dropout = nn.Dropout(summary_dropout)
        branch = self.input.branch
        self.head = nn.Linear(self.output_dim + (branch.output_dim if branch else 0), n_classes)

    def encode(self, X):
        """Run the recurrent layers on the padded batch (no packing).

        Every recurrence that reads a sequence forwards is causal, so trailing padding never
        reaches the outputs at valid steps: the padded batch runs through ``self.rnn`` as is
        (torch's fast path for equal lengths) unless the RNN is bidirectional and some
        sequence ends before the last step, in which case :meth:`_encode_bidirectional`
        reverses each sequence within its own length. The results equal those of
        ``pack_padded_sequence`` to float rounding.

        Returns
        -------
        H : Tensor of shape (n, T, output_dim)
            Top-layer outputs, zero at padding steps.
        lengths : int64 Tensor of shape (n,)
        h_last : Tensor of shape (n, output_dim)
            Final state of each direction of the top layer: the forward output at step
            ``length - 1`` and the backward output at step 0.
        """
        H, lengths, h_last, _ = self._encode(X)
        return H, lengths, h_last

    def _encode(self, X):
        """:meth:`encode` plus the convolutional branch's features (None without)."""
        Z, lengths, features = self.input.read(X)
        if self.training and self.embedding_dropout > 0:
            # (n, T, D) read as (N, C, L): dropout1d zeroes whole steps
            Z = F.dropout1d(Z, self.embedding_dropout, training=True)
        valid = _valid_mask(lengths, Z.shape[1])
        if self.rnn.bidirectional and not bool(valid.all()):
            H = self._encode_bidirectional(Z, lengths)
        else:
            H, _ = self.rnn(Z)
        H = H.masked_fill(~valid[..., None], 0.0)
        h_last = H[torch.arange(H.shape[0], device=H.device), lengths - 1]
        if self.rnn.bidirectional:
            hidden = self.rnn.hidden_size
            h_last = torch.cat([h_last[:, :hidden], H[:, 0, hidden:]], dim=1)
        return H, lengths, h_last, features

    def _encode_bidirectional(self, Z, lengths):
        """Bidirectional layers on sequences of unequal lengths, with ``self.rnn``'s weights.

        Layer by layer and direction by direction, through a one-layer unidirectional
        template of the same cell built on the meta device (no memory, no random numbers)
        and called with the weights of ``self.rnn``. The backward direction reads each
        sequence reversed within its own length (padding stays at the end), and its output
        is put back in order. Dropout ``self.rnn.dropout`` is applied between layers in
        training, as ``nn.LSTM`` does.

        Parameters
        ----------
        Z : Tensor of shape (n, T, input_size)
        lengths : int64 Tensor of shape (n,)

        Returns
        -------
        H : Tensor of shape (n, T, 2 * hidden_size)
            Top-layer outputs; arbitrary at padding steps.
        """
        rnn = self.rnn
        steps = torch.arange(Z.shape[1], device=Z.device)[None, :]
        # reverses each sequence within its length; an involution, the identity on padding
        reverse = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
        reverse = reverse[..., None]
        extra = {"nonlinearity": rnn.nonlinearity} if self.cell == "rnn" else {}

        def run(template, layer, suffix, inputs):
            weights = {
                f"{name}_l0": getattr(rnn, f"{name}_l{layer}{suffix}")
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            }
            return torch.func.functional_call(template, weights, (inputs,))[0]

        H = Z
        for layer in range(rnn.num_layers):
            if layer > 0 and self.training and rnn.dropout > 0:
                H = F.dropout(H, rnn.dropout, training=True)
            template = type(rnn)(
                H.shape[-1], rnn.hidden_size, batch_first=True, device="meta", **extra
            )
            forward = run(template, layer, "", H)
            backward = run(template, layer, "_reverse", H.gather(1, reverse.expand_as(H)))
            backward = backward.gather(1, reverse.expand_as(backward))
            H = torch.cat([forward, backward], dim=2)
        return H

    def pool(self, X):
        """Return ``(pooled, attention_weights)``; weights are None unless pooling='attention'."""
        pooled, weights, _ = self._pool(X)
        return pooled, weights

    def _pool(self, X):
        H, lengths, h_last, features = self._encode(X)
        if self.pooling == "last":
            return h_last, None, features
        if self.pooling == "attention":
            return (*self.attention(H, _valid_mask(lengths, H.shape[1])), features)
        return masked_pool(H, lengths, self.pooling), None, features

    def forward(self, X):
        pooled, _, features = self._pool(X)
        if features is not None:
            pooled = torch.cat([self.summary_dropout(pooled), features], dim=1)
        return self.head(self.dropout(pooled))

    def attention_weights(self, X):
        """Attention-pooling weights over the steps, (n, T); pooling='attention' only."""
        if self.pooling != "attention":
            raise ValueError("attention weights exist only with pooling='attention'")
        return self.pool(X)[1]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention.

    ``Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V`` per head, heads concatenated and
    mixed by an output projection.

    Parameters
    ----------
    d_model : int
    n_heads : int
        Must divide ``d_model``.
    dropout : float, default=0.0
        Dropout on the attention weights.
    """

    def __init__(self, d_model, n_heads, dropout=0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_k = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x, valid, causal=False, need_weights=False):
        """Self-attention over ``x`` of shape (n, T, d_model).

        Parameters
        ----------
        x : Tensor of shape (n, T, d_model)
        valid : bool Tensor of shape (n, T)
            Keys that may be attended to (False at padding).
        causal : bool
            If True, step t attends only to steps <= t.
        need_weights : bool
            Also return the attention weights of shape (n, n_heads, T, T).
        """
        n, T, d = x.shape
        q, k, v = self.qkv(x).view(n, T, 3, self.n_heads, self.d_k).permute(2, 0, 3, 1, 4)
        allowed = valid[:, None, None, :]  # (n, 1, 1, T): True where attention is allowed
        if causal:
            allowed = allowed & torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)
            weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
            out = F.dropout(weights, p, self.training) @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        out = self.out(out.transpose(1, 2).reshape(n, T, d))
        return (out, weights) if need_weights else out


class TransformerEncoderBlock(nn.Module):
    """Pre-norm Transformer encoder block: self-attention then a GELU feed-forward network,
    each wrapped in a residual connection."""

    def __init__(self, d_model, n_heads, dim_feedforward, dropout=0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadSelfAttention(d_model, n_heads, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, valid, causal=False, need_weights=False):
        """Return the block's output (n, T, d_model), and with ``need_weights`` also the
        attention weights (n, n_heads, T, T)."""
        attended = self.attn(self.norm1(x), valid, causal=causal, need_weights=need_weights)
        if need_weights:
            attended, weights = attended
        x = x + self.dropout(attended)
        x = x + self.dropout(self.ff(self.norm2(x)))
        return (x, weights) if need_weights else x


class TransformerClassifierModule(nn.Module):
    """Transformer-encoder sequence classifier returning logits.

    Parameters
    ----------
    n_classes : int
    input_type : {'tokens', 'continuous'}, default='continuous'
    n_channels : int, default=1
        Channels ``C`` of continuous input (n, T, C), projected linearly to ``d_model``.
    vocab_size : int or None, default=None
        Number of token ids (tokens only); tokens are embedded in ``d_model`` dimensions.
    padding_idx : int or None, default=0
    padding_value : float or None, default=None
    d_model : int, default=64
    n_heads : int, default=4
    num_layers : int, default=2
    dim_feedforward : int, default=128
    dropout : float, default=0.1
    positional_encoding : {'sinusoidal', 'learned'} or None, default='sinusoidal'
    max_len : int or None, default=None
        Number of learned positions (required for 'learned'); longer input is an error.
    causal : bool, default=False
        Causal self-attention: step t attends only to steps <= t.
    pooling : {'cls', 'mean', 'last'}, default='mean'
        'cls' prepends a learned classification token at position 0 and reads its output.
    patch_size : int, default=1
        Continuous input: steps per patch, each patch projected to one ``d_model`` token
        (see :class:`SequenceInput`).
    standardize : {'channel', 'feature'}, bool or None, default=False
        Continuous input: standardisation layer (see :class:`SequenceInput`).
    n_steps : int or None, default=None
        Steps of the input, for ``standardize='feature'``.
    conv_branch : tuple of int or None, default=None
        Continuous input: output channels of a parallel :class:`ConvolutionalBranch` whose
        pooled features are concatenated with the pooled encoder output before the output
        layer.
    summary_dropout : float, default=0.0
        With ``conv_branch``: dropout on the pooled encoder output before the concatenation.
    """

    def __init__(
        self,
        n_classes,
        input_type="continuous",
        n_channels=1,
        vocab_size=None,
        padding_idx=0,
        padding_value=None,
        d_model=64,
        n_heads=4,
        num_layers=2,
        dim_feedforward=128,
        dropout=0.1,
        positional_encoding="sinusoidal",
        max_len=None,
        causal=False,
        pooling="mean",
        patch_size=1,
        standardize=False,
        n_steps=None,
        conv_branch=None,
        summary_dropout=0.0,
    ):
        super().__init__()
        if pooling not in ("cls", "mean", "last"):
            raise ValueError(f"unknown pooling {pooling!r}")
        if positional_encoding not in ("sinusoidal", "learned", None):
            raise ValueError(f"unknown positional_encoding {positional_encoding!r}")
        self.input = SequenceInput(
            input_type,
            n_channels=n_channels,
            vocab_size=vocab_size,
            embedding_dim=d_model,
            padding_idx=padding_idx,
            padding_value=padding_value,
            patch_size=patch_size,
            standardize=standardize,
            n_steps=n_steps,
            conv_branch=conv_branch,
        )
        self.d_model = d_model
        self.causal = causal
        self.pooling = pooling
        self.positional_encoding = positional_encoding
        n_extra = 1 if pooling == "cls" else 0
        if positional_encoding == "learned":
            if max_len is None:
                raise ValueError("positional_encoding='learned' needs max_len")
            self.position_embedding = nn.Parameter(torch.zeros(max_len + n_extra, d_model))
            nn.init.normal_(self.position_embedding, std=0.02)
        else:
            self.position_embedding = None
        self.cls_token = (
            nn.Parameter(torch.randn(1, 1, d_model) * 0.02) if pooling == "cls" else None
        )
        self.embed_dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerEncoderBlock(d_model, n_heads, dim_feedforward, dropout)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.summary_dropout = nn.Dropout(summary_dropout)
        branch = self.input.branch
        self.head = nn.Linear(d_model + (branch.output_dim if branch else 0), n_classes)

    def _embed(self, X):
        Z, lengths, _ = self._embed_with_features(X)
        return Z, lengths

    def _embed_with_features(self, X):
        Z, lengths, features = self.input.read(X)
        if self.input.input_type == "tokens":
            Z = Z * math.sqrt(self.d_model)  # as in "Attention is all you need"
        if self.cls_token is not None:
            Z = torch.cat([self.cls_token.to(Z.dtype).expand(Z.shape[0], 1, -1), Z], dim=1)
            lengths = lengths + 1
        n_steps = Z.shape[1]
        if self.positional_encoding == "sinusoidal":
            Z = Z + sinusoidal_positional_encoding(
                n_steps, self.d_model, dtype=Z.dtype, device=Z.device
            )
        elif self.positional_encoding == "learned":
            if n_steps > self.position_embedding.shape[0]:
                raise ValueError(
                    f"sequences of {n_steps} steps exceed the {self.position_embedding.shape[0]}"
                    " learned positions (max_len)"
                )
            Z = Z + self.position_embedding[:n_steps]
        return self.embed_dropout(Z), lengths, features

    def encode(self, X):
        """Return ``(H, lengths)``: final-layer states (n, T', d_model) and lengths (n,).

        ``T' = T + 1`` with pooling='cls' (the classification token is step 0).
        """
        H, lengths, _ = self._encode(X)
        return H, lengths

    def _encode(self, X):
        """:meth:`encode` plus the convolutional branch's features (None without)."""
        Z, lengths, features = self._embed_with_features(X)
        valid = _valid_mask(lengths, Z.shape[1])
        for block in self.blocks:
            Z = block(Z, valid, causal=self.causal)
        return self.norm(Z), lengths, features

    def attention_weights(self, X):
        """Self-attention weights of every block, stacked: (n, num_layers, n_heads, T', T').

        ``weights[i, l, h, q, k]`` is the weight that query step ``q`` gives to key step
        ``k`` in head ``h`` of block ``l`` (the same computation as :meth:`encode`).
        """
        Z, lengths = self._embed(X)
        valid = _valid_mask(lengths, Z.shape[1])
        maps = []
        for block in self.blocks:
            Z, weights = block(Z, valid, causal=self.causal, need_weights=True)
            maps.append(weights)
        return torch.stack(maps, dim=1)

    def forward(self, X):
        H, lengths, features = self._encode(X)
        if self.pooling == "cls":
            pooled = H[:, 0]
        else:
            pooled = masked_pool(H, lengths, self.pooling)
        if features is not None:
            pooled = torch.cat([self.summary_dropout(pooled), features], dim=1)
        return self.head(pooled)
