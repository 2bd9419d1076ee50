"""Recurrent (LSTM / GRU / RNN) sequence classifier on skorch."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._seq_modules import RecurrentClassifierModule
from ._sequence_base import BaseSequenceClassifier

__all__ = ["LSTMClassifier"]


class LSTMClassifier(BaseSequenceClassifier):
    """Recurrent neural network classifier for sequences: LSTM, GRU or Elman RNN cells.

    The sequence (token embeddings, or the raw channels of a real-valued series) runs through
    ``num_layers`` recurrent layers, optionally bidirectional; padding never reaches the
    outputs at the valid steps (the backward direction reads each sequence reversed within
    its own length). The hidden states are summarised over time ('last' state, 'mean', 'max'
    or additive 'attention' pooling), then a linear layer gives the class logits. For
    real-valued series a fully convolutional branch runs in parallel by default and its
    pooled features join the summary before that layer (LSTM-FCN, see ``conv_branch``).
    Trained with mini-batch gradient descent and gradient-norm clipping through a skorch net built
    in ``fit``.

    Input ``X`` (the kind is fixed in ``fit``):

    - token ids: integer array of shape (n_samples, T), e.g. from
      :class:`~sklearn_deep.preprocessing.TextToSequence` (``padding_idx=0`` pads);
    - univariate sequences: float array of shape (n_samples, T) (tabular data is read this
      way, one step per feature);
    - multivariate sequences: (n_samples, T, C), or (n_samples, T * C) with
      ``input_shape=(T, C)``;
    - variable-length sequences: padded at the end with ``padding_idx`` (tokens) or with
      ``padding_value`` on every channel (floats; NaN allowed). Padding never changes a
      prediction.

    Parameters
    ----------
    cell : {'lstm', 'gru', 'rnn'}, default='lstm'
        Recurrent cell: long short-term memory, gated recurrent unit, or Elman RNN (tanh).
    hidden_size : int, default=64
        Hidden units per direction and layer.
    num_layers : int, default=1
        Stacked recurrent layers.
    bidirectional : bool, default=False
        Also run the sequence backwards and concatenate both directions.
    dropout : float, default=0.0
        Dropout between recurrent layers and before the output layer.
    pooling : {'last', 'mean', 'max', 'attention'}, default='last'
        Summary over time: the final state of each direction, the mean or the max of the
        hidden states over the non-padding steps, or additive (Bahdanau) attention
        ``alpha = softmax_t(v^T tanh(W h_t + b))`` over the non-padding steps.
    attention_dim : int or None, default=None
        Hidden size of the attention scorer (None: the recurrent output size).
    embedding_dim : int, default=64
        Size ``D`` of the ``V x D`` token embedding (token input only).
    embedding_dropout : float, default=0.0
        Word dropout, during training only: probability of zeroing the whole input vector
        of a time step (a token's embedding, or every channel of a real-valued step),
        independently for each step of each sequence; the kept steps are scaled by
        ``1 / (1 - embedding_dropout)``. It keeps a text model from relying on a few words.
    embedding_init : {'normal', 'svd'}, default='svd'
        Initial token embedding (token input only). 'normal': random ``N(0, 1/D)`` rows.
        'svd': latent semantic analysis of the training documents, unsupervised (y unused):
        each token seen in ``fit`` starts at its row of ``V S`` from a truncated SVD
        ``U S V^T`` of the sublinear tf-idf document x token matrix (rows l2-normalised),
        scaled to a root-mean-square norm of 1, so tokens used in the same documents start
        close together; unseen ids keep the random rows, padding stays zero. The SVD is
        seeded by ``random_state``. The default: from a random start the recurrent cells
        learn topics from a few hundred documents far more slowly (BBC news, 600 training
        articles of 128 words: 0.53 accuracy from 'normal', 0.85 from 'svd').
    input_type : {'auto', 'tokens', 'continuous'}, default='auto'
        'auto' reads a 2-D integer array as token ids and anything else as real values.
    input_shape : tuple of (int, int) or None, default=None
        ``(T, C)`` of one sample when a 2-D X holds flattened multivariate sequences.
    vocab_size : int or None, default=None
        Number of token ids ``V``; None takes the largest id seen in ``fit`` plus one.
        Larger ids share one out-of-vocabulary embedding.
    padding_idx : int or None, default=0
        Token id used for padding (its embedding is zero and it is masked).
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
    conv_branch : tuple of int or None, default=(64, 64, 64)
        Real-valued sequences only (ignored for token ids): output channels of the layers of
        a fully convolutional branch run in parallel with the recurrent layers, as in
        LSTM-FCN (Karim et al., 2018). Each layer is a 'same' 1-D convolution (kernel sizes
        7, 5, then 3) with batch normalisation and a ReLU, at the full resolution of the
        series (before ``patch_size``); the last feature map is averaged over the
        non-padding steps and concatenated with the recurrent summary before the output
        layer. The convolutions find local shapes anywhere in the series, which the
        recurrent layers alone learn poorly from a few dozen series (test accuracy on
        z-normalised UCR series, mean of 3 seeds: ArrowHead 0.65 without, 0.83 with;
        JapaneseVowels 0.72 and 0.80; one seed: OSULeaf 0.61 and 0.94). None: no branch.
    summary_dropout : float, default=0.8
        With ``conv_branch``, during training only: dropout on the recurrent summary before
        it is concatenated with the convolutional features (LSTM-FCN's 0.8), so that the
        classifier cannot rest on the recurrent summary alone, which memorises tiny
        training sets.
    gradient_clipping : float or None, default=1.0
        Clip the global gradient norm to this value (None: no clipping).
    optimizer : {'adam', 'sgd', 'rmsprop'}, default='adam'
        Optimisation algorithm.
    lr : float, default=5e-3
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
        The trained ``RecurrentClassifierModule``.
    history_ : skorch.History
        Per-epoch training history.
    n_iter_ : int
        Epochs trained.

    See Also
    --------
    TransformerClassifier : Self-attention sequence classifier.
    sklearn_deep.preprocessing.TextToSequence : Raw text to padded token ids.

    Notes
    -----
    The token embedding is the parameter ``input.embedding.weight`` of ``module_``; skorch
    parameter groups give it its own optimiser settings, e.g.
    ``optimizer__param_groups=[("input.embedding.*", {"lr": 3e-2, "weight_decay": 1e-5})]``.
    On small text corpora a faster-learning embedding helps: with Adam, each entry of the
    embedding (initialised ``N(0, 1/D)``, entries of size about ``1/sqrt(D)``) moves by at
    most about ``lr`` per update, so the rows of rare words otherwise stay close to their
    random start (``embedding_init='svd'`` starts them from the training documents instead).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.neural_network import LSTMClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 12, 2))  # 200 series, 12 steps, 2 channels
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = LSTMClassifier(hidden_size=16, max_epochs=15, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseSequenceClassifier._parameter_constraints,
        "cell": [StrOptions({"lstm", "gru", "rnn"})],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "pooling": [StrOptions({"last", "mean", "max", "attention"})],
        "attention_dim": [Interval(Integral, 1, None, closed="left"), None],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "embedding_dropout": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        cell="lstm",
        hidden_size=64,
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        pooling="last",
        attention_dim=None,
        embedding_dim=64,
        embedding_dropout=0.0,
        embedding_init="svd",
        input_type="auto",
        input_shape=None,
        vocab_size=None,
        padding_idx=0,
        padding_value=np.nan,
        patch_size="auto",
        standardize="auto",
        conv_branch=(64, 64, 64),
        summary_dropout=0.8,
        gradient_clipping=1.0,
        optimizer="adam",
        lr=5e-3,
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
        self.cell = cell
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.pooling = pooling
        self.attention_dim = attention_dim
        self.embedding_dim = embedding_dim
        self.embedding_dropout = embedding_dropout
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

    def _build_module(self, sample_shape, n_classes):
        return RecurrentClassifierModule, {
            "n_classes": n_classes,
            **self._input_module_kwargs(sample_shape),
            "embedding_dim": self.embedding_dim,
            "cell": self.cell,
            "hidden_size": self.hidden_size,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "pooling": self.pooling,
            "attention_dim": self.attention_dim,
            "embedding_dropout": self.embedding_dropout,
            **self._branch_module_kwargs(),
        }

    def attention_weights(self, X):
        """Attention weights over time of ``pooling='attention'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, T) or (n_samples, T, C)
            Samples, as in ``predict``.

        Returns
        -------
        weights : ndarray of shape (n_samples, T')
            Non-negative, zero on padding steps, each row sums to one. ``T'`` is the number
            of steps read: ``ceil(T / p)`` for patches of ``p`` steps (see ``patch_size``).
        """
        check_is_fitted(self)
        if self.pooling != "attention":
            raise ValueError(
                f"attention_weights needs pooling='attention', got pooling={self.pooling!r}."
            )
        return self._module_outputs(X, lambda module, xb: module.attention_weights(xb))
