"""The input layer of the sequence modules: padding, lengths, the convolutional branch.

:class:`SequenceInput` turns token ids or real-valued steps into the float sequence the
recurrent and attention layers read (with the conventions of :mod:`._seq_modules`), and runs
the optional :class:`ConvolutionalBranch` on real-valued input at full resolution.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._modules import Standardize

__all__ = ["sequence_lengths", "SequenceInput", "ConvolutionalBranch"]


def sequence_lengths(is_padding):
    """Lengths of right-padded sequences: one past the last non-padding step, at least 1.

    Parameters
    ----------
    is_padding : bool Tensor of shape (n, T)

    Returns
    -------
    lengths : int64 Tensor of shape (n,)
    """
    n_steps = is_padding.shape[1]
    steps = torch.arange(1, n_steps + 1, device=is_padding.device)
    return ((~is_padding).long() * steps).amax(dim=1).clamp(min=1)


def _valid_mask(lengths, n_steps):
    """Bool mask of shape (n, n_steps): True at steps before each sequence's length."""
    return torch.arange(n_steps, device=lengths.device)[None, :] < lengths[:, None]


class ConvolutionalBranch(nn.Module):
    """Fully convolutional branch of LSTM-FCN: 1-D convolutions, then global average pooling.

    The branch of Karim et al. (2018), "LSTM fully convolutional networks for time series
    classification": every layer is a 'same' ``Conv1d`` (kernel sizes 7, 5, then 3) with
    batch normalisation and a ReLU, at the full resolution of the series; the last feature
    map is averaged over the valid steps. Padding steps are zeroed after every layer, so
    trailing padding reads as the convolutions' own zero padding and never changes the
    features of a sequence.

    Parameters
    ----------
    n_channels : int
        Channels ``C`` of the input (n, T, C).
    channels : tuple of int
        Output channels of each layer.
    """

    def __init__(self, n_channels, channels):
        super().__init__()
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_in = n_channels
        for i, c_out in enumerate(channels):
            k = max(3, 7 - 2 * i)
            self.convs.append(nn.Conv1d(c_in, c_out, k, padding=k // 2))
            self.norms.append(nn.BatchNorm1d(c_out))
            c_in = c_out
        self.output_dim = c_in

    def forward(self, X, lengths):
        """Return the pooled features (n, output_dim) of X (n, T, C), zero at padding steps."""
        valid = _valid_mask(lengths, X.shape[1])
        keep = valid[:, None, :].to(X.dtype)
        H = X.transpose(1, 2)
        for conv, norm in zip(self.convs, self.norms):
            H = conv(H)
            if self.training and H.shape[0] * H.shape[2] == 1:
                # one value per channel (one sample of one step) has no batch statistics:
                # normalise it with the running ones rather than fail
                H = F.batch_norm(
                    H, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps
                )
            else:
                H = norm(H)
            H = torch.relu(H) * keep
        return H.sum(dim=2) / lengths[:, None].to(H.dtype)


class SequenceInput(nn.Module):
    """Turn raw input into a float sequence ``(n, T, D)`` plus lengths.

    Parameters
    ----------
    input_type : {'tokens', 'continuous'}
    n_channels : int
        Channels ``C`` of continuous input (ignored for tokens).
    vocab_size : int or None
        Number of token ids ``V`` (tokens only). The embedding holds ``V + 1`` rows: the
        last is shared by every id ``>= V`` (out of vocabulary).
    embedding_dim : int or None
        Output size ``D``. For tokens the embedding size (required). For continuous input,
        None keeps the ``C`` channels, an int adds a linear projection ``C -> D``.
    padding_idx : int or None, default=0
        Padding token id (tokens only); its embedding is the zero vector.
    padding_value : float or None, default=None
        Padding value of continuous input (NaN allowed).
    patch_size : int, default=1
        Non-overlapping patches of ``patch_size`` steps become one step, so a sequence of
        ``T`` steps is read as ``ceil(T / patch_size)`` steps (padded at the end to a whole
        number of patches). Continuous input: the patch's ``patch_size * C`` values are
        projected linearly (a strided convolution with kernel and stride ``patch_size``);
        needs ``embedding_dim``. Tokens: the mean embedding of the patch's tokens (padding
        excluded), a bag of words for each stretch of a long text.
    standardize : {'channel', 'feature'}, bool or None, default=False
        Continuous input only: a :class:`~sklearn_deep.neural_network.Standardize` layer
        before padding is zeroed and patches are formed, its statistics set by the
        estimator in ``fit``: one mean and scale per channel ('channel' or True), or per step
        and channel ('feature', for a table read as a sequence; needs ``n_steps``).
    n_steps : int or None, default=None
        Steps ``T`` of the input, for ``standardize='feature'``.
    conv_branch : tuple of int or None, default=None
        Continuous input only: output channels of a :class:`ConvolutionalBranch` that reads
        the (standardised, padding-zeroed) input at full resolution, before patching; its
        pooled features are returned by :meth:`read`.
    """

    def __init__(
        self,
        input_type="continuous",
        n_channels=1,
        vocab_size=None,
        embedding_dim=None,
        padding_idx=0,
        padding_value=None,
        patch_size=1,
        standardize=False,
        n_steps=None,
        conv_branch=None,
    ):
        super().__init__()
        if input_type not in ("tokens", "continuous"):
            raise ValueError(f"input_type must be 'tokens' or 'continuous', got {input_type!r}")
        self.input_type = input_type
        self.padding_idx = padding_idx
        self.padding_value = padding_value
        self.patch_size = int(patch_size)
        if self.patch_size < 1:
            raise ValueError(f"patch_size must be >= 1, got {patch_size}")
        if self.patch_size > 1 and embedding_dim is None:
            raise ValueError("patch_size > 1 needs an embedding_dim")
        if conv_branch is not None and input_type != "continuous":
            raise ValueError("conv_branch needs continuous input")
        self.branch = None if conv_branch is None else ConvolutionalBranch(n_channels, conv_branch)
        self.input_scaler = None
        if standardize and input_type == "continuous":
            by_step = standardize == "feature"
            if by_step and n_steps is None:
                raise ValueError("standardize='feature' needs n_steps")
            self.input_scaler = Standardize((n_steps, n_channels) if by_step else (n_channels,))
        if input_type == "tokens":
            if vocab_size is None or embedding_dim is None:
                raise ValueError("token input needs vocab_size and embedding_dim")
            self.vocab_size = int(vocab_size)
            self.embedding = nn.Embedding(
                self.vocab_size + 1, embedding_dim, padding_idx=padding_idx
            )
            # N(0, 1/D) rather than torch's N(0, 1): small random vectors that training moves
            # quickly (Adam steps are the same size whatever the scale of the weights)
            nn.init.normal_(self.embedding.weight, std=embedding_dim**-0.5)
            if padding_idx is not None:
                with torch.no_grad():
                    self.embedding.weight[padding_idx].zero_()
            self.projection = None
            self.output_dim = embedding_dim
        else:
            self.vocab_size = None
            self.embedding = None
            if embedding_dim is None:
                self.projection = None
                self.output_dim = n_channels
            else:
                self.projection = nn.Linear(n_channels * self.patch_size, embedding_dim)
                self.output_dim = embedding_dim

    def padding_mask(self, X):
        """Bool Tensor of shape (n, T), True at padding steps (before the length rule)."""
        if self.input_type == "tokens":
            if self.padding_idx is None:
                return torch.zeros(X.shape[:2], dtype=torch.bool, device=X.device)
            return X.long() == self.padding_idx
        if self.padding_value is None:
            return torch.zeros(X.shape[:2], dtype=torch.bool, device=X.device)
        if math.isnan(self.padding_value):
            return torch.isnan(X).all(dim=-1)
        return (X == self.padding_value).all(dim=-1)

    def forward(self, X):
        """Return ``(H, lengths)``: H of shape (n, T, D), lengths of shape (n,)."""
        H, lengths, _ = self.read(X)
        return H, lengths

    def read(self, X):
        """Return ``(H, lengths, features)``: H and lengths as :meth:`forward`, and the
        pooled features (n, conv_branch[-1]) of the convolutional branch (None without)."""
        is_padding = self.padding_mask(X)
        lengths = sequence_lengths(is_padding)
        if self.input_type == "tokens":
            ids = X.long().clamp(min=0, max=self.vocab_size)
            H = self.embedding(ids)
            if self.patch_size > 1:  # mean embedding of each patch's tokens, padding excluded
                p = self.patch_size
                n, T, D = H.shape
                n_patches = -(-T // p)
                H = F.pad(H, (0, 0, 0, n_patches * p - T)).reshape(n, n_patches, p, D)
                counts = F.pad((~is_padding).to(H.dtype), (0, n_patches * p - T))
                counts = counts.reshape(n, n_patches, p).sum(dim=2, keepdim=True)
                H = H.sum(dim=2) / counts.clamp(min=1.0)
                lengths = torch.div(lengths + p - 1, p, rounding_mode="floor")
            return H, lengths, None
        if self.input_scaler is not None:
            X = self.input_scaler(X)
        if self.padding_value is not None:  # padding steps read as zeros (NaN included)
            X = X.masked_fill(is_padding[..., None], 0.0)
        features = None if self.branch is None else self.branch(X, lengths)
        if self.patch_size > 1:
            p = self.patch_size
            n, T, C = X.shape
            X = F.pad(X, (0, 0, 0, (-T) % p)).reshape(n, -(-T // p), p * C)
            lengths = torch.div(lengths + p - 1, p, rounding_mode="floor")
        if self.projection is not None:
            X = self.projection(X)
        return X, lengths, features
