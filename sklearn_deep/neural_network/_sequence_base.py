"""Input handling shared by the sequence classifiers (LSTMClassifier, TransformerClassifier).

:class:`BaseSequenceClassifier` plugs into the extension point of
:class:`~sklearn_deep.neural_network._base.BaseNeuralClassifier`: ``_prepare_X`` turns every
accepted input into what the modules of ``_seq_modules`` read, ``(n, T)`` int64 token ids or
``(n, T, C)`` floats, and records (when fitting) the input type and vocabulary size that
``_build_module`` passes on. It also adds gradient-norm clipping, and the optional
data-driven initialisation of the token embedding (``embedding_init='svd'``, latent semantic
analysis of the training documents).
"""

import math
import os
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import _check_feature_names, check_array, validate_data

from ._base import BaseNeuralClassifier
from ._scaling import columns_differ_in_scale, standardization_statistics

_SEQUENCE_CONSTRAINTS = {
    "input_type": [StrOptions({"auto", "tokens", "continuous"})],
    "input_shape": [tuple, list, None],
    "vocab_size": [Interval(Integral, 1, None, closed="left"), None],
    "padding_idx": [Interval(Integral, 0, None, closed="left"), None],
    "padding_value": [Real, None],
    "gradient_clipping": [Interval(Real, 0, None, closed="neither"), None],
    "embedding_init": [StrOptions({"normal", "svd"})],
    "patch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
    "standardize": [StrOptions({"auto", "channel"}), None],
    "conv_branch": [tuple, list, None],
    "summary_dropout": [Interval(Real, 0, 1, closed="left")],
}

# patch_size='auto': long real-valued series are read in at most this many patches
_AUTO_PATCHES = 64

# largest token embedding (rows x embedding_dim x 4 bytes, with Adam's two moments and the
# gradient: x 4) that X's largest id may ask for before it is an error
_MAX_EMBEDDING_BYTES = 2 * 1024**3
# memory of the feature maps (attention maps, convolutional branch) of one forward pass at
# prediction: the batch is cut to fit
_PREDICT_MEMORY = 512 * 1024**2


def _memory_limit():
    """Half of the memory available now (all of it if the system does not say)."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return float("inf")
    return available / 2


def svd_token_embedding(X, n_rows, padding_idx, n_components, random_state):
    """Token vectors from a truncated SVD (LSA) of the documents' tf-idf matrix.

    Each row of ``X`` is a document, each id a token; ids ``>= n_rows - 1`` count as id
    ``n_rows - 1`` (the shared out-of-vocabulary row of the embedding). The ``(n_samples,
    n_rows)`` count matrix (padding ignored) is weighted as in ``TfidfVectorizer(
    sublinear_tf=True)``: ``1 + log(tf)`` times the smoothed idf, rows l2-normalised, so that
    long articles and ubiquitous words do not dominate. Its truncated SVD ``U S V^T`` gives
    each token the row of ``V S`` (the classic LSA term vectors): tokens used in the same
    documents get nearly parallel vectors. The vectors are scaled by one common factor so that
    their root-mean-square norm is 1, the expected norm of the default ``N(0, 1/D)`` rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, T), int64
        Token ids.
    n_rows : int
        Rows ``V + 1`` of the embedding.
    padding_idx : int or None
        Padding id (never counted).
    n_components : int
        Embedding size ``D``. With fewer than ``D`` singular vectors (tiny data), the
        remaining columns are zero.
    random_state : int
        Seed of the start vector of the truncated SVD (ARPACK, ``scipy.sparse.linalg.svds``);
        the result is deterministic for a given seed, with signs fixed by ``svd_flip``.

    Returns
    -------
    rows : ndarray of shape (n_seen,), int64
        The ids that occur in X (padding excluded), in increasing order.
    vectors : ndarray of shape (n_seen, n_components), float64
        Their vectors.
    """
    ids = np.minimum(X, n_rows - 1).ravel()
    docs = np.repeat(np.arange(X.shape[0]), X.shape[1])
    keep = ids != padding_idx if padding_idx is not None else np.ones(ids.shape, bool)
    counts = sp.csr_matrix(
        (np.ones(int(keep.sum())), (docs[keep], ids[keep])), shape=(X.shape[0], n_rows)
    )
    counts.sum_duplicates()
    rows = np.flatnonzero(counts.getnnz(axis=0))
    vectors = np.zeros((rows.size, n_components))
    if rows.size == 0:
        return rows, vectors
    M = TfidfTransformer(sublinear_tf=True).fit_transform(counts[:, rows])
    k = min(n_components, *M.shape)
    if k < min(M.shape):  # ARPACK (exact to its tolerance), from a seeded start vector
        v0 = check_random_state(random_state).uniform(-1, 1, min(M.shape))
        U, s, Vt = svds(M, k, v0=v0)
        order = np.argsort(s)[::-1]
        U, s, Vt = U[:, order], s[order], Vt[order]
    else:  # the whole spectrum: a dense SVD of a small matrix
        U, s, Vt = np.linalg.svd(M.toarray(), full_matrices=False)
        s, U, Vt = s[:k], U[:, :k], Vt[:k]
    U, Vt = svd_flip(U, Vt)
    vectors[:, :k] = Vt.T * s
    rms = np.sqrt((vectors**2).sum(axis=1).mean())
    if rms > 0:
        vectors /= rms
    return rows, vectors


class TrimTrailingPadding:
    """Training-batch transform: drop the steps after the longest sequence of the batch.

    Variable-length data are padded to the longest sequence of the whole training set; a
    batch of shorter ones (most batches, for text) then trains on its own longest length,
    which the masked models read exactly as the padded batch (the same outputs and
    gradients), in a fraction of the time.

    Parameters
    ----------
    padding : int or float
        The padding token id, or the padding value of real-valued sequences (NaN allowed):
        a step is padding when every channel equals it.
    """

    def __init__(self, padding):
        self.padding = padding

    def __call__(self, xb):
        if xb.dim() < 2 or xb.shape[1] < 2:
            return xb
        if isinstance(self.padding, float) and math.isnan(self.padding):
            is_padding = torch.isnan(xb)
        else:
            is_padding = xb == self.padding
        if xb.dim() == 3:
            is_padding = is_padding.all(dim=2)
        observed = torch.nonzero(~is_padding.all(dim=0))
        length = int(observed[-1, 0]) + 1 if len(observed) else 1
        return xb if length == xb.shape[1] else xb[:, :length]


def _no_y(y):
    return isinstance(y, str) and y == "no_validation"


class BaseSequenceClassifier(BaseNeuralClassifier):
    """Sequence input handling for the neural sequence classifiers (not for direct use).

    Accepted ``X`` (the kind is fixed in ``fit``):

    - token ids: an integer array of shape (n_samples, T) (``input_type='auto'`` picks this
      for integer dtypes), ``padding_idx`` marking padding, ``vocab_size`` ids (default: the
      largest id seen in ``fit`` plus one; larger ids at prediction share one
      out-of-vocabulary embedding);
    - univariate sequences: a float array of shape (n_samples, T), e.g. tabular data, read
      as one channel;
    - multivariate sequences: (n_samples, T, C), or (n_samples, T * C) with
      ``input_shape=(T, C)`` (time-major rows: all channels of step 0, then step 1, ...);
    - variable-length sequences: padded at the end with ``padding_idx`` (tokens) or
      ``padding_value`` (floats; NaN allowed) on every channel. Padding is masked (the
      recurrent cells read each sequence within its own length), so it never changes a
      prediction.
    """

    _parameter_constraints: dict = {
        **BaseNeuralClassifier._parameter_constraints,
        **_SEQUENCE_CONSTRAINTS,
    }

    # ------------------------------------------------------------------ input
    def _nan_padding(self):
        return self.padding_value is not None and math.isnan(self.padding_value)

    def _input_shape(self):
        if self.input_shape is None:
            return None
        shape = tuple(int(s) for s in self.input_shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(
                f"input_shape must be (n_steps, n_channels) of positive ints, got "
                f"input_shape={self.input_shape!r}."
            )
        return shape

    def _prepare_X(self, X, y="no_validation", *, reset):
        kwargs = dict(
            reset=reset,
            dtype="numeric",
            allow_nd=True,
            ensure_all_finite="allow-nan" if self._nan_padding() else True,
        )
        if _no_y(y) and not reset and self._any_length(X):
            # any number of steps at prediction: n_features_in_ (the fitted T) is not checked
            kwargs.pop("reset")
            _check_feature_names(self, X, reset=False)
            X = check_array(X, **kwargs)
        elif _no_y(y):
            X = validate_data(self, X, **kwargs)
        else:
            X, y = validate_data(self, X, y, **kwargs)
        if X.ndim not in (2, 3):
            raise ValueError(
                f"Expected a 2-D array (n_samples, n_steps) or a 3-D array (n_samples, n_steps, "
                f"n_channels), got a {X.ndim}-D array of shape {X.shape}."
            )
        shape = self._input_shape()
        if reset:
            kind = self.input_type
            if kind == "auto":
                integer = np.issubdtype(X.dtype, np.integer)
                kind = "tokens" if X.ndim == 2 and shape is None and integer else "continuous"
            self._input_kind = kind
        if self._input_kind == "tokens":
            X = self._prepare_tokens(X, reset)
        else:
            table = X.ndim == 2 and shape is None
            X = self._prepare_continuous(X, shape)
            if reset:
                self._standardize = self.standardize
                if self.standardize == "auto":
                    by_step = table and columns_differ_in_scale(X[:, :, 0])
                    self._standardize = "feature" if by_step else "channel"
        return X if _no_y(y) else (X, y)

    def _any_length(self, X):
        """Whether prediction input ``X`` may have another number of steps than in ``fit``:
        token ids, and 3-D real-valued sequences (2-D real-valued X is a table whose columns
        are checked as scikit-learn checks features; pass it as (n, T, 1) to change T)."""
        if self._input_kind == "tokens":
            return True
        return np.ndim(X) == 3 if hasattr(X, "ndim") else np.asarray(X).ndim == 3

    def _prepare_tokens(self, X, reset):
        if X.ndim != 2:
            raise ValueError(
                f"Token ids must be a 2-D array (n_samples, n_steps), got shape {X.shape}."
            )
        if not np.issubdtype(X.dtype, np.integer):
            if np.isnan(X).any() or not np.array_equal(X, np.round(X)):
                raise ValueError(
                    "Token ids must be integers; X has non-integral values. Use "
                    "input_type='continuous' for real-valued sequences."
                )
        if X.size and X.min() < 0:
            raise ValueError(f"Token ids must be non-negative; X contains {int(X.min())}.")
        X = np.array(X, dtype=np.int64)  # a writable copy (torch cannot share read-only)
        if reset:
            if self.vocab_size is not None:
                vocab = int(self.vocab_size)
            else:
                vocab = int(X.max()) + 1 if X.size else 1
                dim = int(getattr(self, "embedding_dim", None) or getattr(self, "d_model", 64))
                need = (vocab + 1) * dim * 4 * 4
                if need > _MAX_EMBEDDING_BYTES:
                    raise ValueError(
                        f"X is read as token ids (an integer array) and its largest id is "
                        f"{vocab - 1}: an embedding with {vocab + 1} rows would need about "
                        f"{need / 1024**3:.1f} GB. Map the tokens to consecutive ids "
                        "(e.g. with sklearn_deep.preprocessing.TextToSequence), pass "
                        "vocab_size= (larger ids share one out-of-vocabulary row), or pass "
                        "input_type='continuous' if X holds real values."
                    )
                if self.padding_idx is not None:
                    vocab = max(vocab, int(self.padding_idx) + 1)
            if self.padding_idx is not None and self.padding_idx >= vocab:
                raise ValueError(f"padding_idx={self.padding_idx} must be < vocab_size={vocab}.")
            self._vocab_size = vocab
        return X

    def _prepare_continuous(self, X, shape):
        if not np.issubdtype(X.dtype, np.floating):
            X = X.astype(np.float64)
        if X.ndim == 2:
            if shape is None:
                X = X[:, :, None]
            elif shape[0] * shape[1] != X.shape[1]:
                raise ValueError(
                    f"input_shape={shape} needs {shape[0] * shape[1]} features, but X has "
                    f"{X.shape[1]} features."
                )
            else:
                X = X.reshape(X.shape[0], *shape)
        elif shape is not None and shape != X.shape[1:]:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, which does not match "
                f"input_shape={shape}; use input_shape=None for 3-D X."
            )
        if self._nan_padding():
            nan = np.isnan(X)
            if (nan & ~nan.all(axis=2, keepdims=True)).any():
                raise ValueError(
                    "Input X contains NaN in a time step that is not padding: with "
                    "padding_value=nan, a padding step has NaN on every channel."
                )
        return X

    def _patch_size(self, sample_shape):
        """Steps per patch for the fitted input; for 'auto' the smallest patch that reads
        ``T`` steps (tokens or real-valued) as at most ``_AUTO_PATCHES`` patches."""
        if self.patch_size is None:
            return 1
        if self.patch_size == "auto":
            return max(1, -(-int(sample_shape[0]) // _AUTO_PATCHES))
        return int(self.patch_size)

    def _input_module_kwargs(self, sample_shape):
        """Keyword arguments of the module's input layer, from the fitted input kind."""
        if self._input_kind == "tokens":
            return {
                "input_type": "tokens",
                "vocab_size": self._vocab_size,
                "padding_idx": self.padding_idx,
                "patch_size": self._patch_size(sample_shape),
            }
        return {
            "input_type": "continuous",
            "n_channels": int(sample_shape[1]),
            "padding_value": None if self.padding_value is None else float(self.padding_value),
            "patch_size": self._patch_size(sample_shape),
            "standardize": self._standardize,
            "n_steps": int(sample_shape[0]),
        }

    def _branch_module_kwargs(self):
        """``conv_branch`` and ``summary_dropout`` of the module: the convolutional branch
        reads real-valued series only (none for token ids)."""
        if self.conv_branch is None or self._input_kind == "tokens":
            return {}
        channels = tuple(self.conv_branch)
        if not channels or not all(
            isinstance(c, Integral) and not isinstance(c, bool) and c >= 1 for c in channels
        ):
            raise ValueError(
                "conv_branch must be None or a non-empty tuple of positive ints (the output "
                f"channels of each convolution), got conv_branch={self.conv_branch!r}."
            )
        return {
            "conv_branch": tuple(int(c) for c in channels),
            "summary_dropout": float(self.summary_dropout),
        }

    def _branch_bytes(self, sample_shape, itemsize, training):
        """Bytes of the convolutional branch's feature maps for one sample of
        ``sample_shape``: every layer's convolution, normalisation and activation outputs at
        full resolution (kept for the backward pass, with their gradients, in training)."""
        kwargs = self._branch_module_kwargs()
        if not kwargs:
            return 0
        copies = 8 if training else 2
        return copies * int(sample_shape[0]) * sum(kwargs["conv_branch"]) * itemsize

    def _memory_parts(self, sample_shape, itemsize, training):
        """The feature maps of one forward pass whose memory grows with the sequences:
        ``(bytes per sample, what they are, how to need less)`` for each (subclasses add
        theirs)."""
        branch = self._branch_bytes(sample_shape, itemsize, training)
        if not branch:
            return []
        return [
            (
                branch,
                f"the feature maps of the convolutional branch (conv_branch="
                f"{self.conv_branch!r}, at full resolution)",
                "Turn the branch off (conv_branch=None) or make it narrower, use a smaller "
                "batch_size, or resample the series to fewer steps.",
            )
        ]

    def _check_memory(self, sample_shape, batch, itemsize, training):
        """Raise a ValueError, naming the largest part, when the feature maps of a batch
        would take more than half of the memory available now."""
        parts = self._memory_parts(sample_shape, itemsize, training)
        need = batch * sum(part[0] for part in parts)
        limit = _memory_limit()
        if need > limit:
            _, what, advice = max(parts, key=lambda part: part[0])
            raise ValueError(
                f"Sequences of {sample_shape[0]} steps need about {need / 1024**3:.1f} GB for "
                f"{what} on a batch of {batch}, more than half of this machine's available "
                f"memory ({2 * limit / 1024**3:.1f} GB). {advice}"
            )

    def _predict_batch_size(self, sample_shape):
        batch = super()._predict_batch_size(sample_shape)
        per_sample = sum(part[0] for part in self._memory_parts(sample_shape, 8, False))
        if not per_sample:
            return batch
        self._check_memory(sample_shape, 1, 8, training=False)
        return int(max(1, min(batch, _PREDICT_MEMORY // per_sample)))

    def _make_net(self, sample_shape, n_classes, seed, n_samples):
        self._check_memory(sample_shape, self._effective_batch_size(n_samples), 4, training=True)
        return super()._make_net(sample_shape, n_classes, seed, n_samples)

    def _padding_steps(self, X):
        """Bool array (n, T): padding steps of continuous ``X`` of shape (n, T, C)."""
        if self.padding_value is None:
            return np.zeros(X.shape[:2], dtype=bool)
        if self._nan_padding():
            return np.isnan(X).all(axis=2)
        return (X == self.padding_value).all(axis=2)

    def _standardization_statistics(self, X):
        if self._input_kind == "tokens":
            return None
        valid = ~self._padding_steps(X)
        axis = (0,) if self._standardize == "feature" else (0, 1)
        return standardization_statistics(X, axis=axis, valid=valid[..., None])

    def _check_sample_shape(self, sample_shape):
        """Any number of steps; continuous input keeps the fitted number of channels."""
        sample_shape = tuple(sample_shape)
        if self._input_kind == "tokens" and len(sample_shape) == 1:
            return
        any_steps = self._standardize != "feature"  # per-step statistics fix the length
        if len(sample_shape) == 2 and sample_shape[1:] == self._sample_shape[1:] and any_steps:
            return
        if sample_shape == self._sample_shape:
            return
        raise ValueError(
            f"X has samples of shape {sample_shape}, but {type(self).__name__} was fitted on "
            f"samples of shape {self._sample_shape}: the number of channels must match "
            "(any number of steps is accepted)."
        )

    # ------------------------------------------------------------------ training
    def _init_module_from_data(self, module, X, seed):
        if self.embedding_init != "svd" or self._input_kind != "tokens":
            return
        embedding = module.input.embedding
        rows, vectors = svd_token_embedding(
            X, embedding.num_embeddings, self.padding_idx, embedding.embedding_dim, seed
        )
        with torch.no_grad():
            weight = embedding.weight
            weight[torch.from_numpy(rows)] = torch.from_numpy(vectors).to(weight)

    def _train_batch_transform(self, sample_shape):
        if self._input_kind == "tokens":
            padding = self.padding_idx
        elif self._standardize == "feature":  # per-step statistics need every step
            padding = None
        else:
            padding = None if self.padding_value is None else float(self.padding_value)
        return None if padding is None else TrimTrailingPadding(padding)

    def _callback_list(self, seed):
        callbacks = super()._callback_list(seed)
        if self.gradient_clipping is not None:
            from skorch.callbacks import GradientNormClipping

            callbacks.append(
                ("gradient_clipping", GradientNormClipping(float(self.gradient_clipping)))
            )
        return callbacks

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = self._nan_padding()
        return tags
