"""Causal (autoregressive) language model over token-id sequences: a density estimator."""

import copy
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._batching import _forked_torch_rng
from ._callbacks import loss_plateau
from ._lm_modules import CausalLanguageModule

__all__ = ["CausalLanguageModel"]

# an inferred vocabulary larger than this is almost surely not token ids (e.g. ids 10**9)
_MAX_INFERRED_VOCAB = 2**20
_SCORE_BATCH_SIZE = 64


class CausalLanguageModel(DensityMixin, BaseEstimator):
    """Autoregressive language model ``p(x) = prod_t p(x_t | x_<t)`` over token sequences.

    A decoder-only Transformer (sinusoidal positions, causal multi-head self-attention: step
    ``t`` attends to steps ``<= t`` only) or a recurrent network (LSTM / GRU, autoregressive by
    construction) reads the tokens left to right and predicts each next token; the output
    layer shares the token embedding. Trained by minimising the next-token cross-entropy
    (the negative log-likelihood per token) with Adam and gradient-norm clipping.

    Input ``X`` is an integer array of token ids of shape (n_samples, T), one sequence per
    row, e.g. the output of :class:`~sklearn_deep.preprocessing.TextToSequence` (raw text goes
    through a :class:`~sklearn.pipeline.Pipeline` with it). Sequences are padded at the end
    with ``padding_idx`` (0, as ``TextToSequence`` does): padding tokens are never predicted
    and never counted in a likelihood, and a sequence is its tokens up to its last
    non-padding one. Floating arrays are accepted when every value is a non-negative integer.

    Parameters
    ----------
    cell : {'transformer', 'lstm', 'gru'}, default='transformer'
        Decoder-only causal Transformer, or a recurrent network.
    embedding_dim : int, default=64
        Token embedding size (the ``d_model`` of the Transformer).
    hidden_size : int, default=128
        Hidden units per recurrent layer (``'lstm'`` / ``'gru'`` only).
    n_heads : int, default=4
        Attention heads (Transformer only); must divide ``embedding_dim``.
    num_layers : int, default=2
        Transformer blocks, or stacked recurrent layers.
    dim_feedforward : int, default=256
        Hidden size of the Transformer's feed-forward networks.
    dropout : float, default=0.1
        Dropout on embeddings, inside the blocks / between recurrent layers, and before the
        output layer (training only).
    context_length : int, default=128
        Longest stretch of tokens the model reads at once. Training cuts every sequence into
        consecutive windows of this many tokens (each read from the beginning-of-sequence
        state). The Transformer scores longer sequences with windows that overlap by half, so
        every token after the first window is predicted from at least ``context_length // 2``
        earlier tokens, and generation keeps at most this many positions in its cache. The
        recurrent models score and generate over whole sequences, carrying their state.
    vocab_size : int or None, default=None
        Number of token ids ``V``. None: the largest id seen in ``fit`` plus one (pass
        ``TextToSequence().vocab_size_`` to reserve ids that the training data lacks).
    padding_idx : int or None, default=0
        Padding id (never predicted, masked); None: no padding.
    lr : float, default=2e-3
        Adam learning rate.
    weight_decay : float, default=0.0
        L2 penalty of Adam.
    batch_size : int, default=32
        Training windows per mini-batch.
    max_epochs : int or 'auto', default='auto'
        Passes over the training windows. 'auto': enough epochs for about 1,000 optimizer
        steps, between 5 and 100 epochs.
    tol : float, default=1e-3
        Convergence tolerance per epoch on the mean training loss (nats per token), the
        classifiers' rule: training stops once the mean loss of the last
        ``k = n_iter_no_change`` epochs is less than ``k * tol * max(1, previous)`` below the
        mean ``previous`` of the ``k`` epochs before, or less than the standard error of that
        difference (a fall within the epoch-to-epoch noise).
    n_iter_no_change : int, default=5
        Window of the convergence test, in epochs.
    gradient_clipping : float or None, default=1.0
        Largest gradient norm (None: no clipping).
    warm_start : bool, default=False
        Continue training the fitted model on the next ``fit`` instead of starting afresh.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and dropout (in a forked torch RNG: the global torch
        RNG is untouched). :meth:`generate` has its own ``random_state``.
    device : str or torch.device, default='cpu'
        Torch device for training and generation.
    verbose : int, default=0
        Print the training loss of every epoch when positive.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained torch module (in eval mode): next-token logits of shape
        ``(n, T, vocab_size_)`` for ids of shape ``(n, T)``.
    vocab_size_ : int
        Number of token ids ``V``.
    loss_curve_ : list of float
        Mean training loss (nats per token) of every epoch.
    n_iter_ : int
        Epochs trained (over all ``fit`` calls with ``warm_start``).
    n_features_in_ : int
        Width ``T`` of ``X`` in ``fit``; scoring takes the same width (pad shorter sequences).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame ``X`` with string column names.

    See Also
    --------
    sklearn_deep.preprocessing.TextToSequence : raw text to padded token ids and back.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.neural_network import CausalLanguageModel
    >>> X = np.tile([[1, 2, 3, 4, 1, 2, 3, 4]], (16, 1))
    >>> lm = CausalLanguageModel(num_layers=1, max_epochs=60, random_state=0).fit(X)
    >>> bool(lm.perplexity(X) < 1.5)
    True
    >>> lm.generate([[1, 2]], 4, temperature=0).tolist()
    [[1, 2, 3, 4, 1, 2]]
    """

    _parameter_constraints: dict = {
        "cell": [StrOptions({"transformer", "lstm", "gru"})],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dim_feedforward": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "context_length": [Interval(Integral, 2, None, closed="left")],
        "vocab_size": [Interval(Integral, 1, None, closed="left"), None],
        "padding_idx": [Interval(Integral, 0, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "gradient_clipping": [Interval(Real, 0, None, closed="neither"), None],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        cell="transformer",
        embedding_dim=64,
        hidden_size=128,
        n_heads=4,
        num_layers=2,
        dim_feedforward=256,
        dropout=0.1,
        context_length=128,
        vocab_size=None,
        padding_idx=0,
        lr=2e-3,
        weight_decay=0.0,
        batch_size=32,
        max_epochs="auto",
        tol=1e-3,
        n_iter_no_change=5,
        gradient_clipping=1.0,
        warm_start=False,
        random_state=None,
        device="cpu",
        verbose=0,
    ):
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.n_heads = n_heads
        self.num_layers = num_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.padding_idx = padding_idx
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.gradient_clipping = gradient_clipping
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ validation
    def _check_token_ids(self, X, what="X"):
        """Integer ndarray (int64 copy) of the ids in a validated numeric array."""
        if not np.issubdtype(X.dtype, np.integer):
            if not np.array_equal(X, np.round(X)):
                raise ValueError(
                    f"{type(self).__name__} reads token ids: {what} must hold non-negative "
                    "integers, but it has non-integral values. Map text to ids with "
                    "sklearn_deep.preprocessing.TextToSequence."
                )
            if X.size and np.abs(X).max() >= 2**53:
                raise ValueError(f"{what} has token ids too large to be exact in float64.")
        if X.size and X.min() < 0:
            raise ValueError(
                f"Negative values in data passed to {type(self).__name__}: token ids must be "
                f"non-negative integers; {what} contains {X.min():g}."
            )
        return np.array(X, dtype=np.int64)

    def _validate_X(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype="numeric")
        return self._check_token_ids(X)

    def _check_vocabulary(self, X, what="X"):
        if X.size and X.max() >= self.vocab_size_:
            raise ValueError(
                f"{what} contains token id {int(X.max())}, but the model knows ids "
                f"0 .. {self.vocab_size_ - 1} (vocab_size_={self.vocab_size_}). Map unseen "
                "tokens to an unknown id (as TextToSequence does), or set vocab_size in fit."
            )

    def _lengths(self, X):
        """One past the last non-padding token of every row (0 for an all-padding row)."""
        if self.padding_idx is None:
            return np.full(X.shape[0], X.shape[1], dtype=np.int64)
        real = X != self.padding_idx
        steps = np.arange(1, X.shape[1] + 1)
        return (real * steps).max(axis=1, initial=0)

    # ------------------------------------------------------------------ windows
    def _train_windows(self, X):
        """Consecutive windows of ``context_length`` tokens of every row, padded: (m, L)."""
        L = int(self.context_length)
        lengths = self._lengths(X)
        width = int(min(L, max(1, lengths.max(initial=0))))
        pad = 0 if self.padding_idx is None else self.padding_idx
        rows = []
        for row, n in zip(X, lengths):
            for start in range(0, n, width):
                piece = row[start : start + width]
                if self.padding_idx is None and piece.size < width:
                    piece = row[n - width : n]  # no padding id: a full, overlapping window
                elif self.padding_idx is not None and not (piece != pad).any():
                    continue
                rows.append(np.pad(piece, (0, width - piece.size), constant_values=pad))
        if not rows:
            raise ValueError(
                f"X holds no tokens: every sequence is empty (only padding_idx={self.padding_idx})."
            )
        return np.stack(rows)

    def _score_windows(self, X):
        """Windows for scoring: ``(windows (m, W), row (m,), start (m,), first_scored (m,))``.

        The recurrent models read each row whole; the Transformer reads rows longer than
        ``context_length`` in windows that overlap by half (see ``context_length``).
        """
        lengths = self._lengths(X)
        pad = 0 if self.padding_idx is None else self.padding_idx
        if self.cell != "transformer" or lengths.max(initial=0) <= self.context_length:
            width = int(max(1, lengths.max(initial=0)))
            n = X.shape[0]
            return X[:, :width], np.arange(n), np.zeros(n, np.int64), np.zeros(n, np.int64)
        L = int(self.context_length)
        stride = L // 2
        windows, rows, starts, firsts = [], [], [], []
        for i, (row, n) in enumerate(zip(X, lengths)):
            start = 0
            while True:
                piece = row[start : min(start + L, n)]
                windows.append(np.pad(piece, (0, L - piece.size), constant_values=pad))
                rows.append(i)
                starts.append(start)
                firsts.append(0 if start == 0 else start + L - stride)
                if start + L >= n:
                    break
                start += stride
        return np.stack(windows), np.array(rows), np.array(starts), np.array(firsts)

    # ------------------------------------------------------------------ training
    def _build_module(self):
        return CausalLanguageModule(
            self.vocab_size_,
            cell=self.cell,
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            n_heads=self.n_heads,
            num_layers=self.num_layers,
            dim_feedforward=self.dim_feedforward,
            dropout=self.dropout,
            padding_idx=self.padding_idx,
        )

    def _init_output_bias(self, X):
        """Start the output bias at the log unigram frequencies of the training tokens
        (add-one smoothed), so that training starts from the unigram model, not from a
        uniform guess over the vocabulary."""
        counts = np.bincount(X.ravel(), minlength=self.vocab_size_)[: self.vocab_size_]
        counts = counts.astype(np.float64) + 1.0
        log_freq = np.log(counts / counts.sum())
        with torch.no_grad():
            self.module_.output_bias.copy_(torch.from_numpy(log_freq - log_freq.mean()))

    def _seed(self, offset=0):
        rs = check_random_state(self.random_state)
        return (int(rs.randint(np.iinfo(np.int32).max)) + offset) % (2**31 - 1)

    def _n_epochs(self, n_windows):
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        steps_per_epoch = math.ceil(n_windows / self.batch_size)
        return int(np.clip(math.ceil(1000 / steps_per_epoch), 5, 100))

    def _loss(self, module, batch):
        logits = module(batch)
        ignore = -100 if self.padding_idx is None else self.padding_idx
        return F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch.reshape(-1), ignore_index=ignore
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on token-id sequences.

        Parameters
        ----------
        X : array-like of shape (n_samples, T)
            Token ids (non-negative integers), padded at the end with ``padding_idx``.
        y : None
            Ignored.

        Returns
        -------
        self : CausalLanguageModel
            Fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "module_")
        X = self._validate_X(X, reset=True)
        if self.cell == "transformer" and self.embedding_dim % self.n_heads:
            raise ValueError(
                f"embedding_dim={self.embedding_dim} must be divisible by n_heads={self.n_heads}."
            )
        if warm:
            self._check_vocabulary(X)
        else:
            if self.vocab_size is not None:
                vocab = int(self.vocab_size)
            else:
                vocab = int(X.max()) + 1 if X.size else 1
                if vocab > _MAX_INFERRED_VOCAB:
                    raise ValueError(
                        f"X contains token id {vocab - 1}: inferring vocab_size={vocab} would "
                        "build an embedding that large. Map tokens to consecutive ids with "
                        "sklearn_deep.preprocessing.TextToSequence, or set vocab_size."
                    )
            if self.padding_idx is not None:
                vocab = max(vocab, int(self.padding_idx) + 1)
            self.vocab_size_ = vocab
            self._check_vocabulary(X)
        windows = torch.from_numpy(self._train_windows(X))
        seed = self._seed(offset=self.n_iter_ if warm else 0)
        device = torch.device(self.device)
        with _forked_torch_rng(seed, self.device):
            if not warm:
                self.module_ = self._build_module()
                self._init_output_bias(X)
                self.module_.to(device)
                self._optimizer = torch.optim.Adam(
                    self.module_.parameters(), lr=self.lr, weight_decay=self.weight_decay
                )
                self.loss_curve_ = []
                self.n_iter_ = 0
            else:
                for group in self._optimizer.param_groups:
                    group.update(lr=self.lr, weight_decay=self.weight_decay)
            self._train(windows, self._n_epochs(windows.shape[0]), device)
        return self

    def _train(self, windows, n_epochs, device):
        module, optimizer = self.module_, self._optimizer
        module.train()
        start, converged = len(self.loss_curve_), False
        try:
            for _ in range(n_epochs):
                tic = time.perf_counter()
                order = torch.randperm(windows.shape[0])
                total, count = 0.0, 0
                for start in range(0, windows.shape[0], self.batch_size):
                    batch = windows[order[start : start + self.batch_size]].to(device)
                    n_tokens = (
                        int((batch != self.padding_idx).sum())
                        if (self.padding_idx is not None)
                        else batch.numel()
                    )
                    loss = self._loss(module, batch)
                    if not torch.isfinite(loss):
                        raise ValueError(
                            f"The training loss became non-finite ({loss.item()}) at epoch "
                            f"{self.n_iter_ + 1}; lower lr (lr={self.lr}) or set "
                            "gradient_clipping."
                        )
                    optimizer.zero_grad()
                    loss.backward()
                    if self.gradient_clipping is not None:
                        torch.nn.utils.clip_grad_norm_(module.parameters(), self.gradient_clipping)
                    optimizer.step()
                    total += loss.item() * n_tokens
                    count += n_tokens
                epoch_loss = total / max(count, 1)
                self.loss_curve_.append(epoch_loss)
                self.n_iter_ += 1
                if self.verbose:
                    print(
                        f"epoch {self.n_iter_:4d}  loss {epoch_loss:.4f} nats/token  "
                        f"({time.perf_counter() - tic:.2f} s)"
                    )
                if loss_plateau(self.loss_curve_[start:], self.n_iter_no_change, self.tol):
                    converged = True  # the classifiers' rule (TrainingMonitor)
                    break
        finally:
            module.eval()
        if not converged:
            warnings.warn(
                f"{type(self).__name__}: the training loss was still improving after "
                f"{n_epochs} epochs (max_epochs={self.max_epochs!r}); increase max_epochs "
                "or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ scoring
    def _token_log_probs(self, X):
        """Log-probability of every token of X (int64, validated): (n, T), 0 at padding.

        Computed in float64 on a copy of the module, window by window (windows sorted by
        length and batched with the width of their longest, so padding costs little).
        """
        windows, rows, starts, firsts = self._score_windows(X)
        module = copy.deepcopy(self.module_).to(dtype=torch.float64).eval()
        device = torch.device(self.device)
        chunk = max(1, 2**22 // self.vocab_size_)
        out = np.zeros(X.shape, dtype=np.float64)
        win_lengths = self._lengths(windows)
        order = np.argsort(win_lengths, kind="stable")
        with torch.no_grad():
            for b in range(0, order.size, _SCORE_BATCH_SIZE):
                idx = order[b : b + _SCORE_BATCH_SIZE]
                width = int(max(1, win_lengths[idx].max()))
                ids = np.ascontiguousarray(windows[idx, :width])
                batch = torch.from_numpy(ids).to(device)
                logp = module.target_log_probs(batch, chunk).cpu().numpy()
                for j, w in enumerate(idx):
                    pos = starts[w] + np.arange(width)
                    keep = (pos >= firsts[w]) & (pos < X.shape[1])
                    if self.padding_idx is not None:
                        keep &= ids[j] != self.padding_idx
                    out[rows[w], pos[keep]] = logp[j, keep]
        return out

    def score_samples(self, X):
        """Log-likelihood of each sequence, ``sum_t log p(x_t | x_<t)`` over its tokens.

        Parameters
        ----------
        X : array-like of shape (n_samples, T)
            Token ids, padded at the end with ``padding_idx``.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
            In nats; 0 for an empty (all-padding) sequence.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        self._check_vocabulary(X)
        return self._token_log_probs(X).sum(axis=1)

    def _n_tokens(self, X):
        if self.padding_idx is None:
            return X.size
        return int((X != self.padding_idx).sum())

    def score(self, X, y=None):
        """Mean log-likelihood per token (nats), over every non-padding token of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, T)
            Token ids.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``score_samples(X).sum() / n_tokens``; higher is better.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        self._check_vocabulary(X)
        n_tokens = self._n_tokens(X)
        if n_tokens == 0:
            raise ValueError("X holds no tokens (only padding): the score is undefined.")
        return float(self._token_log_probs(X).sum() / n_tokens)

    def perplexity(self, X):
        """Perplexity ``exp(-score(X))``: the geometric mean of ``1 / p(x_t | x_<t)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, T)
            Token ids.

        Returns
        -------
        perplexity : float
            At least 1; lower is better.
        """
        return float(np.exp(-self.score(X)))

    # ------------------------------------------------------------------ generation
    def _check_prompt(self, prompt):
        prompt = check_array(prompt, dtype="numeric", ensure_min_features=0, input_name="prompt")
        prompt = self._check_token_ids(prompt, what="prompt")
        self._check_vocabulary(prompt, what="prompt")
        return prompt

    @staticmethod
    def _sample(logits, temperature, top_k, rng):
        """Next ids (n,) from float64 logits (n, V) (-inf where impossible)."""
        if temperature == 0:
            return logits.argmax(axis=1)
        logits = logits / temperature
        if top_k is not None and top_k < logits.shape[1]:
            kth = np.partition(logits, -top_k, axis=1)[:, -top_k][:, None]
            logits = np.where(logits >= kth, logits, -np.inf)
        logits = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        cdf = np.cumsum(p, axis=1)
        u = rng.uniform(size=(logits.shape[0], 1)) * cdf[:, -1:]
        ids = (cdf <= u).sum(axis=1)
        return np.minimum(ids, logits.shape[1] - 1)

    def generate(self, prompt, max_new_tokens, *, temperature=1.0, top_k=None, random_state=None):
        """Continue each prompt by sampling ``max_new_tokens`` tokens, one at a time.

        Each token is drawn from ``p(x_t | x_<t)`` with its logits divided by
        ``temperature`` (0: the most probable token, greedy decoding), optionally among the
        ``top_k`` most probable tokens only; padding is never drawn. The Transformer caches
        the keys and values of the positions read so far and the recurrent models carry
        their state, so each new token costs one step, not a pass over the whole prefix.

        Parameters
        ----------
        prompt : array-like of shape (n_prompts, T)
            Token ids, each row padded at the end with ``padding_idx``; ``T = 0`` or an
            all-padding row starts from the beginning of a sequence.
        max_new_tokens : int
            Tokens to add to each prompt.
        temperature : float, default=1.0
            Non-negative; lower is more conservative, 0 is greedy decoding.
        top_k : int or None, default=None
            Sample among the ``top_k`` most probable tokens only.
        random_state : int, RandomState instance or None, default=None
            Seeds the sampling (the same seed gives the same sequences).

        Returns
        -------
        sequences : ndarray of shape (n_prompts, T + max_new_tokens), dtype=int64
            Each prompt (without its padding) followed by its new tokens, padded at the end
            with ``padding_idx``.
        """
        return self._generate(prompt, max_new_tokens, temperature, top_k, random_state, True)

    def _generate(self, prompt, max_new_tokens, temperature, top_k, random_state, use_cache):
        check_is_fitted(self)
        if not isinstance(max_new_tokens, Integral) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens must be a non-negative int, got {max_new_tokens!r}.")
        if not isinstance(temperature, Real) or not temperature >= 0:
            raise ValueError(f"temperature must be a float >= 0, got {temperature!r}.")
        if top_k is not None and (not isinstance(top_k, Integral) or top_k < 1):
            raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}.")
        prompt = self._check_prompt(prompt)
        rng = check_random_state(random_state)
        lengths = self._lengths(prompt)
        pad = 0 if self.padding_idx is None else self.padding_idx
        out = np.full((prompt.shape[0], prompt.shape[1] + max_new_tokens), pad, np.int64)
        # prompts of equal length are continued together
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            new = self._continue(
                prompt[rows, :length], max_new_tokens, temperature, top_k, rng, use_cache
            )
            out[rows, :length] = prompt[rows, :length]
            out[rows, length : length + max_new_tokens] = new
        return out

    def _continue(self, prefix, n_new, temperature, top_k, rng, use_cache):
        """New ids (n, n_new) after the prompts ``prefix`` (n, length), all of one length."""
        module, device = self.module_, torch.device(self.device)
        transformer = self.cell == "transformer"
        L = int(self.context_length)
        tokens = prefix.copy()
        new = np.empty((prefix.shape[0], n_new), np.int64)
        with torch.inference_mode():

            def restart(context):
                # the Transformer reads at most context_length positions, the BOS included
                if transformer and context.shape[1] > L - 1:
                    context = context[:, -(L // 2) :]
                return module.start(torch.from_numpy(np.ascontiguousarray(context)).to(device))

            logits, state = restart(tokens) if use_cache else (None, None)
            for t in range(n_new):
                if not use_cache:
                    context = tokens[:, -(L - 1) :] if transformer else tokens
                    x = torch.from_numpy(np.ascontiguousarray(context)).to(device)
                    dummy = torch.zeros((x.shape[0], 1), dtype=x.dtype, device=device)
                    logits = module(torch.cat([x, dummy], dim=1))[:, -1]
                ids = self._sample(logits.double().cpu().numpy(), temperature, top_k, rng)
                new[:, t] = ids
                tokens = np.concatenate([tokens, ids[:, None]], axis=1)
                if use_cache and t + 1 < n_new:
                    if transformer and state["position"] >= L:
                        logits, state = restart(tokens)
                    else:
                        step = torch.from_numpy(ids).to(device)
                        logits, state = module.step(step, state)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # token ids: scikit-learn's checks then feed non-negative integers
        tags.input_tags.categorical = True
        tags.input_tags.positive_only = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags
