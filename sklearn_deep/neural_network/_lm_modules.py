"""Plain PyTorch module of the causal language model (decoder-only Transformer or RNN).

Nothing here imports scikit-learn. :class:`CausalLanguageModule` reads token ids of shape
``(n, T)`` and returns next-token logits of shape ``(n, T, vocab_size)``: ``logits[:, t]``
scores ``x_t`` given ``x_0 .. x_{t-1}`` (a learned beginning-of-sequence vector stands in
front of ``x_0``, so ``logits[:, 0]`` is ``p(x_0)``). The padding id is never predicted (its
logit is ``-inf``) and its embedding is the zero vector.

The Transformer reuses :class:`~sklearn_deep.neural_network._seq_modules.TransformerEncoderBlock`
with ``causal=True`` for the full forward pass; :func:`cached_block_step` runs the same block
on new positions only, with the keys and values of the earlier positions cached (its weights
are the block's own), which is what makes generation linear in the number of new tokens.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._seq_modules import TransformerEncoderBlock, sinusoidal_positional_encoding

__all__ = ["CausalLanguageModule", "cached_block_step"]

_RNN_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def cached_block_step(block, x, cache):
    """Run a pre-norm :class:`TransformerEncoderBlock` causally on new positions only.

    Equal (to float rounding) to the rows of ``block(full, valid, causal=True)`` at the new
    positions, where ``full`` is the whole sequence so far, without recomputing the earlier
    positions: their keys and values come from ``cache``.

    Parameters
    ----------
    block : TransformerEncoderBlock
        The block whose parameters are used (norms, ``attn.qkv``, ``attn.out``, ``ff``).
    x : Tensor of shape (n, S, d_model)
        Block input at the ``S`` new positions.
    cache : tuple of two Tensors of shape (n, n_heads, P, d_k), or None
        Keys and values of the ``P`` earlier positions (None: ``P = 0``).

    Returns
    -------
    out : Tensor of shape (n, S, d_model)
        Block output at the new positions.
    cache : tuple of two Tensors of shape (n, n_heads, P + S, d_k)
        Keys and values of every position so far.
    """
    attn = block.attn
    n, S, d = x.shape
    q, k, v = attn.qkv(block.norm1(x)).view(n, S, 3, attn.n_heads, attn.d_k).permute(2, 0, 3, 1, 4)
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    P = k.shape[2] - S
    keys = torch.arange(P + S, device=x.device)
    allowed = keys[None, :] <= (P + torch.arange(S, device=x.device))[:, None]  # (S, P + S)
    p = attn.dropout if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
    out = attn.out(out.transpose(1, 2).reshape(n, S, d))
    x = x + block.dropout(out)
    x = x + block.dropout(block.ff(block.norm2(x)))
    return x, (k, v)


class CausalLanguageModule(nn.Module):
    """Autoregressive next-token model: decoder-only causal Transformer, LSTM or GRU.

    ``p(x_0, ..., x_{T-1}) = prod_t p(x_t | x_<t)``. The input of step ``t`` is the embedding
    of ``x_{t-1}`` (a learned beginning-of-sequence vector at ``t = 0``); the output layer
    shares the token embedding (weight tying) plus a bias per token.

    Parameters
    ----------
    vocab_size : int
        Number of token ids ``V``; inputs lie in ``[0, V)``.
    cell : {'transformer', 'lstm', 'gru'}, default='transformer'
    embedding_dim : int, default=64
        Token embedding size ``D`` (the ``d_model`` of the Transformer).
    hidden_size : int, default=128
        Hidden units of each recurrent layer (RNN cells only).
    n_heads : int, default=4
        Attention heads (Transformer only); must divide ``embedding_dim``.
    num_layers : int, default=2
        Transformer blocks or stacked recurrent layers.
    dim_feedforward : int, default=256
        Hidden size of the Transformer's feed-forward networks.
    dropout : float, default=0.1
        Dropout on the embeddings, inside the blocks / between recurrent layers, and before
        the output layer.
    padding_idx : int or None, default=0
        Padding id: zero embedding, never predicted.
    """

    def __init__(
        self,
        vocab_size,
        cell="transformer",
        embedding_dim=64,
        hidden_size=128,
        n_heads=4,
        num_layers=2,
        dim_feedforward=256,
        dropout=0.1,
        padding_idx=0,
    ):
        super().__init__()
        if cell != "transformer" and cell not in _RNN_CELLS:
            raise ValueError(f"cell must be 'transformer', 'lstm' or 'gru', got {cell!r}")
        self.vocab_size = int(vocab_size)
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.embedding = nn.Embedding(self.vocab_size, embedding_dim, padding_idx=padding_idx)
        nn.init.normal_(self.embedding.weight, std=embedding_dim**-0.5)
        if padding_idx is not None:
            with torch.no_grad():
                self.embedding.weight[padding_idx].zero_()
        self.bos = nn.Parameter(torch.randn(embedding_dim) * embedding_dim**-0.5)
        self.drop = nn.Dropout(dropout)
        if cell == "transformer":
            self.blocks = nn.ModuleList(
                TransformerEncoderBlock(embedding_dim, n_heads, dim_feedforward, dropout)
                for _ in range(num_layers)
            )
            self.norm = nn.LayerNorm(embedding_dim)
            self.rnn = None
            out_dim = embedding_dim
        else:
            self.blocks = None
            self.rnn = _RNN_CELLS[cell](
                embedding_dim,
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
            out_dim = hidden_size
        self.projection = nn.Linear(out_dim, embedding_dim) if out_dim != embedding_dim else None
        self.output_bias = nn.Parameter(torch.zeros(self.vocab_size))
        # -inf at the padding id (a buffer, so that no optimizer ever updates it)
        output_mask = torch.zeros(self.vocab_size)
        if padding_idx is not None:
            output_mask[padding_idx] = -math.inf
        self.register_buffer("output_mask", output_mask)

    # ------------------------------------------------------------------ pieces
    def _embed_inputs(self, X, with_bos):
        """Embeddings of the step inputs: (n, T, D) for ids X of shape (n, T)."""
        Z = self.embedding(X.long())
        if with_bos:
            bos = self.bos.to(Z.dtype).expand(Z.shape[0], 1, -1)
            Z = torch.cat([bos, Z[:, :-1]], dim=1)
        if self.cell == "transformer":
            Z = Z * math.sqrt(self.embedding_dim)
        return Z

    def _positions(self, start, n_steps, like):
        pe = sinusoidal_positional_encoding(
            start + n_steps, self.embedding_dim, dtype=like.dtype, device=like.device
        )
        return pe[start:]

    def output_logits(self, H):
        """Next-token logits (..., V) from top-layer states H (..., hidden); padding -inf."""
        H = self.drop(H)
        if self.projection is not None:
            H = self.projection(H)
        bias = self.output_bias + self.output_mask.to(self.output_bias.dtype)
        return F.linear(H, self.embedding.weight, bias)

    # ------------------------------------------------------------------ full pass
    def hidden(self, X):
        """Top-layer states of every step, (n, T, hidden) for ids X of shape (n, T)."""
        Z = self._embed_inputs(X, with_bos=True)
        if self.cell == "transformer":
            Z = self.drop(Z + self._positions(0, Z.shape[1], Z))
            valid = torch.ones(Z.shape[:2], dtype=torch.bool, device=Z.device)
            for block in self.blocks:
                Z = block(Z, valid, causal=True)
            return self.norm(Z)
        H, _ = self.rnn(self.drop(Z))
        return H

    def forward(self, X):
        """Next-token logits of every step.

        Parameters
        ----------
        X : int Tensor of shape (n, T)
            Token ids.

        Returns
        -------
        logits : Tensor of shape (n, T, vocab_size)
            ``logits[:, t]`` scores ``x_t`` given ``x_<t``.
        """
        return self.output_logits(self.hidden(X))

    def target_log_probs(self, X, chunk_size=4096):
        """``log p(x_t | x_<t)`` of every token of X, (n, T), without holding (n, T, V).

        The output layer and its log-softmax run on ``chunk_size`` positions at a time.
        (At a padding token the value is ``-inf``: padding is never predicted.)
        """
        H = self.hidden(X)
        flat_h = H.reshape(-1, H.shape[-1])
        flat_x = X.reshape(-1).long()
        out = torch.empty(flat_x.shape, dtype=H.dtype, device=H.device)
        for start in range(0, flat_x.shape[0], chunk_size):
            stop = start + chunk_size
            logp = torch.log_softmax(self.output_logits(flat_h[start:stop]), dim=-1)
            out[start:stop] = logp.gather(-1, flat_x[start:stop, None]).squeeze(-1)
        return out.reshape(X.shape)

    # ------------------------------------------------------------------ incremental
    def start(self, X):
        """Read a prompt and return the logits of the token after it, and the state.

        Parameters
        ----------
        X : int Tensor of shape (n, T), T >= 0
            Prompt ids (no padding: every row is read in full).

        Returns
        -------
        logits : Tensor of shape (n, vocab_size)
            Scores of the next token ``x_T``.
        state : object
            Keys/values of every block (Transformer) or the recurrent state, for :meth:`step`.
        """
        n = X.shape[0]
        bos = self.bos.expand(n, 1, -1)
        if self.cell == "transformer":
            bos = bos * math.sqrt(self.embedding_dim)
        Z = torch.cat([bos, self._embed_inputs(X, with_bos=False)], dim=1)
        return self._advance(Z, self._empty_state())

    def step(self, ids, state):
        """Feed one token per row and return the logits of the next one, and the new state.

        Parameters
        ----------
        ids : int Tensor of shape (n,)
        state : object from :meth:`start` or :meth:`step`

        Returns
        -------
        logits : Tensor of shape (n, vocab_size)
        state : object
        """
        return self._advance(self._embed_inputs(ids[:, None], with_bos=False), state)

    def _empty_state(self):
        if self.cell == "transformer":
            return {"position": 0, "cache": [None] * len(self.blocks)}
        return {"hidden": None}

    def _advance(self, Z, state):
        """Run new step inputs Z (n, S, D) from ``state``; logits of the last step."""
        if self.cell == "transformer":
            position = state["position"]
            Z = self.drop(Z + self._positions(position, Z.shape[1], Z))
            caches = []
            for block, cache in zip(self.blocks, state["cache"]):
                Z, cache = cached_block_step(block, Z, cache)
                caches.append(cache)
            H = self.norm(Z[:, -1])
            state = {"position": position + Z.shape[1], "cache": caches}
        else:
            out, hidden = self.rnn(self.drop(Z), state["hidden"])
            H = out[:, -1]
            state = {"hidden": hidden}
        return self.output_logits(H), state
