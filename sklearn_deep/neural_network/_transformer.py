"""Transformer-encoder sequence classifier on skorch."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._seq_modules import TransformerClassifierModule
from ._sequence_base import BaseSequenceClassifier

__all__ = ["TransformerClassifier"]


class TransformerClassifier(BaseSequenceClassifier):
    """Transformer-encoder classifier for sequences (multi-head self-attention).

    Tokens are embedded (real-valued steps are projected linearly) into ``d_model``
    dimensions, a positional encoding is added, and ``num_layers`` pre-norm encoder blocks
    apply multi-head scaled dot-product self-attention
    ``softmax(Q K^T / sqrt(d_k)) V`` and a GELU feed-forward network, each with a residual
    connection. Padding is masked out of the attention. The sequence is summarised by a
    classification token ('cls'), the mean over the non-padding steps, or the last
    non-padding step, and a linear layer gives the class logits. For real-valued series a
    fully convolutional branch runs in parallel by default and its pooled features join the
    summary before that layer (see ``conv_branch``).

    Input ``X``: as :class:`LSTMClassifier` (token ids (n, T); univariate (n, T) floats;
    multivariate (n, T, C) or (n, T * C) with ``input_shape``; padded variable-length
    sequences).

    Parameters
    ----------
    d_model : int, default=64
        Model width (embedding size); a multiple of ``n_heads``.
    n_heads : int, default=4
        Attention heads.
    num_layers : int, default=2
        Encoder blocks.
    dim_feedforward : int, default=128
        Hidden units of the feed-forward network of each block.
    dropout : float, default=0.1
        Dropout on embeddings, attention weights and residual branches.
    positional_encoding : {'sinusoidal', 'learned'} or None, default='sinusoidal'
        'sinusoidal': ``PE(pos, 2i) = sin(pos / 10000^(2i/d_model))``,
        ``PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))``; 'learned': one trained vector per
        position (for the sequence length seen in ``fit``); None: no position information
        (with 'mean' pooling the model is then invariant to permutations of the steps).
    causal : bool, default=False
        Causal self-attention: step t attends only to steps ``<= t``, so the representation
        at t never depends on later steps. Incompatible with ``pooling='cls'``.
    pooling : {'cls', 'mean', 'last'}, default='mean'
        'cls' prepends a learned classification token and reads its output; 'mean' averages
        the non-padding steps; 'last' reads the last non-padding step.
    embedding_init : {'normal', 'svd'}, default='normal'
        Initial token embedding (token input only). 'normal': random ``N(0, 1/D)`` rows.
        'svd': latent semantic analysis of the training documents, unsupervised (y unused):
        each token seen in ``fit`` starts at its row of ``V S`` from a truncated SVD
        ``U S V^T`` of the sublinear tf-idf document x token matrix (rows l2-normalised),
        scaled to a root-mean-square norm of 1, so tokens used in the same documents start
        close together; unseen ids keep the random rows, padding stays zero. The SVD is
        seeded by ``random_state``.
    input_type : {'auto', 'tokens', 'continuous'}, default='auto'
        'auto' reads a 2-D integer array as token ids and anything else as real values.
    input_shape : tuple of (int, int) or None, default=None
        ``(T, C)`` of one sample when a 2-D X holds flattened multivariate sequences.
    vocab_size : int or None, default=None
        Number of token ids ``V`` of the ``V x d_model`` embedding; None takes the largest id
        seen in ``fit`` plus one. Larger ids share one out-of-vocabulary embedding.
    padding_idx : int or None, default=0
        Token id used for padding (masked).
    padding_value : float or None, default=np.nan
        Value marking padding steps of real-valued sequences (every channel equal to it):
        by default NaN, so variable-length series padded with NaN at the end (as the UCR/UEA
        loaders return them) work as they are. None: no padding (NaN is then an error).
    patch_size : int, 'auto' or None, default='auto'
        Read non-overlapping patches of ``patch_size`` steps as one step, so a long sequence
        costs tens of steps, not hundreds: for real-valued series all the patch's values
        projected linearly (a strided convolution), for tokens the mean embedding of its
        tokens (a bag of words for each stretch of a long text). 'auto' uses the smallest
        patch that reads the fitted length ``T`` in at most 64 patches (``ceil(T / 64)``; no
        patching up to 64 steps). 1 or None turns patching off.
    standardize : {'auto', 'channel'} or None, default='auto'
        Real-valued sequences only: standardisation learned in ``fit`` (padding excluded) and
        kept in the module, so raw, z-normalised and unscaled inputs train alike. 'channel':
        one mean and standard deviation per channel. 'auto': per channel, except for a 2-D
        ``X`` read as a univariate sequence (no ``input_shape``) whose columns differ in
        scale or offset by more than 10x (an unscaled table), standardised per column. None
        feeds the values as they are.
    conv_branch : tuple of int or None, default=(64, 128, 64)
        Real-valued sequences only (ignored for token ids): output channels of the layers of
        a fully convolutional branch run in parallel with the encoder, as in LSTM-FCN
        (Karim et al., 2018). Each layer is a 'same' 1-D convolution (kernel sizes 7, 5,
        then 3) with batch normalisation and a ReLU, at the full resolution of the series
        (before ``patch_size``); the last feature map is averaged over the non-padding
        steps and concatenated with the pooled encoder output before the output layer.
        The convolutions find local shapes anywhere in the series, which self-attention
        over patches learns poorly from a few dozen series (mean test accuracy over 3
        seeds, z-normalised UCR series: ArrowHead 0.71 without, 0.82 with; the default
        is wider than :class:`LSTMClassifier`'s, 0.79 with ``(64, 64, 64)``). None: no
        branch.
    summary_dropout : float, default=0.8
        With ``conv_branch``, during training only: dropout on the pooled encoder output
        before it is concatenated with the convolutional features, so that the classifier
        cannot rest on the encoder alone, which memorises tiny training sets.
    gradient_clipping : float or None, default=1.0
        Clip the global gradient norm to this value (None: no clipping).
    optimizer : {'adam', 'sgd', 'rmsprop'}, default='adam'
        Optimisation algorithm.
    lr : float, default=2e-3
        Learning rate.
    momentum : float, default=0.9
        Momentum of 'sgd' and 'rmsprop' (ignored by 'adam').
    weight_decay : float, default=0.0
        L2 penalty.
    lr_schedule : {'step', 'cosine'} or None, default=None
        Per-epoch learning-rate schedule. None divides the learning rate by 5 on a
        plateau of the training loss (at most 3 times; see ``tol``).
    max_epochs : int or 'auto', default='auto'
        Most passes over the training data. 'auto': enough epochs for about 2,000 optimizer
        steps but at most about ``5e12`` training FLOPs (counted on the network for one
        sample; 100 times more on a CUDA device), at least 10 and at most 200 epochs (small
        data sets get enough steps, large or long inputs a bounded time); the convergence
        rule (``tol``) usually stops earlier.
    tol : float or None, default=1e-4
        Convergence tolerance on the training loss (``MLPClassifier``'s, per epoch, on
        window means): a plateau is ``k`` epochs whose mean loss is less than
        ``k * tol * max(1, previous)`` below the mean ``previous`` of the ``k`` epochs
        before, or less than the standard error of that difference. ``k`` is
        ``n_iter_no_change``, or more on tiny data sets, so that a window spans at least 100
        optimizer steps (``ceil(100 / batches_per_epoch)`` epochs: 20 for 36 samples in
        batches of 8), enough to tell slow progress from mini-batch noise. The first three
        plateaus divide the learning rate by 5 (with ``lr_schedule=None``), the next one ends
        training. When the budget ends while the loss still fell by more than ``tol``,
        ``fit`` warns with a ``ConvergenceWarning``. None trains for the whole budget.
    batch_size : int or 'auto', default='auto'
        Mini-batch size; 'auto' uses ``clip(n_samples // 8, 8, 64)`` (several steps per
        epoch on tiny data sets, batches of 64 on large ones).
    early_stopping : bool, default=False
        Stop when the loss on a held-out ``validation_fraction`` stops improving.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    n_iter_no_change : int, default=10
        Patience, in epochs, of the convergence rule (more epochs on tiny data sets, see
        ``tol``) and of early stopping.
    warm_start : bool, default=False
        Continue training on the next ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and dropout.
    device : str, default='cpu'
        Torch device.
    verbose : int, default=0
        Print the per-epoch table when positive.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks.
    **routed_params : dict
        skorch-style routed parameters (``module__*``, ``optimizer__*``, ...).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of columns of X seen in ``fit`` (time steps for 2-D and 3-D X).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X has string column names.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net.
    module_ : torch.nn.Module
        The trained
        ``TransformerClassifierModule``.
    history_ : skorch.History
        Per-epoch training history.
    n_iter_ : int
        Epochs trained.

    See Also
    --------
    LSTMClassifier : Recurrent sequence classifier.
    sklearn_deep.preprocessing.TextToSequence : Raw text to padded token ids.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.neural_network import TransformerClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(1, 20, size=(300, 10))  # token ids, 0 would be padding
    >>> y = (X == 7).any(axis=1).astype(int)  # does token 7 occur?
    >>> clf = TransformerClassifier(d_model=32, max_epochs=15, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseSequenceClassifier._parameter_constraints,
        "d_model": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "dim_feedforward": [Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "positional_encoding": [StrOptions({"sinusoidal", "learned"}), None],
        "causal": ["boolean"],
        "pooling": [StrOptions({"cls", "mean", "last"})],
    }

    def __init__(
        self,
        *,
        d_model=64,
        n_heads=4,
        num_layers=2,
        dim_feedforward=128,
        dropout=0.1,
        positional_encoding="sinusoidal",
        causal=False,
        pooling="mean",
        embedding_init="normal",
        input_type="auto",
        input_shape=None,
        vocab_size=None,
        padding_idx=0,
        padding_value=np.nan,
        patch_size="auto",
        standardize="auto",
        conv_branch=(64, 128, 64),
        summary_dropout=0.8,
        gradient_clipping=1.0,
        optimizer="adam",
        lr=2e-3,
        momentum=0.9,
        weight_decay=0.0,
        lr_schedule=None,
        max_epochs="auto",
        tol=1e-4,
        batch_size="auto",
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        warm_start=False,
        random_state=None,
        device="cpu",
        verbose=0,
        callbacks=None,
        **routed_params,
    ):
        super().__init__(
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            lr_schedule=lr_schedule,
            max_epochs=max_epochs,
            tol=tol,
            batch_size=batch_size,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            warm_start=warm_start,
            random_state=random_state,
            device=device,
            verbose=verbose,
            callbacks=callbacks,
            **routed_params,
        )
        self.d_model = d_model
        self.n_heads = n_heads
        self.num_layers = num_layers
        self.dim_feedforward = dim_feedforward
        self.dropout = dropout
        self.positional_encoding = positional_encoding
        self.causal = causal
        self.pooling = pooling
        self.embedding_init = embedding_init
        self.input_type = input_type
        self.input_shape = input_shape
        self.vocab_size = vocab_size
        self.padding_idx = padding_idx
        self.padding_value = padding_value
        self.patch_size = patch_size
        self.standardize = standardize
        self.conv_branch = conv_branch
        self.summary_dropout = summary_dropout
        self.gradient_clipping = gradient_clipping

    def _attention_bytes(self, sample_shape, itemsize, training):
        """Bytes of the attention maps of one sample of ``sample_shape`` (every block's
        ``n_heads x T' x T'`` scores, softmax weights and, in training, their gradients)."""
        n_tokens = -(-int(sample_shape[0]) // self._patch_size(sample_shape))
        n_tokens += self.pooling == "cls"
        copies = 4 * self.num_layers if training else 2
        return copies * self.n_heads * n_tokens**2 * itemsize

    def _memory_parts(self, sample_shape, itemsize, training):
        n_tokens = -(-int(sample_shape[0]) // self._patch_size(sample_shape))
        advice = (
            "Keep fewer tokens per sequence (e.g. TextToSequence(max_len=256)), or use a "
            "smaller batch_size."
            if self._input_kind == "tokens"
            else "Read the series in patches (patch_size='auto' or a larger patch_size), or "
            "use a smaller batch_size."
        )
        attention = (
            self._attention_bytes(sample_shape, itemsize, training),
            f"the self-attention maps of the {n_tokens} tokens they are read as",
            advice,
        )
        return [*super()._memory_parts(sample_shape, itemsize, training), attention]

    def _build_module(self, sample_shape, n_classes):
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be a multiple of n_heads={self.n_heads}."
            )
        if self.causal and self.pooling == "cls":
            raise ValueError(
                "causal=True with pooling='cls' would let the classification token see only "
                "itself; use pooling='last' or 'mean'."
            )
        return TransformerClassifierModule, {
            "n_classes": n_classes,
            **self._input_module_kwargs(sample_shape),
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "num_layers": self.num_layers,
            "dim_feedforward": self.dim_feedforward,
            "dropout": self.dropout,
            "positional_encoding": self.positional_encoding,
            "max_len": -(-int(sample_shape[0]) // self._patch_size(sample_shape)),
            "causal": self.causal,
            "pooling": self.pooling,
            **self._branch_module_kwargs(),
        }

    def attention_weights(self, X):
        """Self-attention weights of every encoder block.

        The same forward pass as ``predict`` (eval mode, float64), returning the softmax
        weights ``softmax(Q K^T / sqrt(d_k))`` of each head, after the padding and causal
        masks.

        Parameters
        ----------
        X : array-like of shape (n_samples, T) or (n_samples, T, C)
            Samples, as in ``predict``.

        Returns
        -------
        weights : ndarray of shape (n_samples, num_layers, n_heads, T', T')
            ``weights[i, l, h, q, k]``: the weight that query step ``q`` gives to key step
            ``k`` in head ``h`` of block ``l``. Each row (last axis) sums to one and is zero
            on padding keys and, with ``causal=True``, on keys after ``q``. ``T'`` is the
            number of steps read: ``ceil(T / p)`` for patches of ``p`` steps (see
            ``patch_size``), plus 1 with ``pooling='cls'``, whose classification token is
            step 0.
        """
        return self._module_outputs(X, lambda module, xb: module.attention_weights(xb))
