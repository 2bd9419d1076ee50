"""Convolutional neural network classifier (LeNet/ResNet-style) on skorch."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._augment import make_augmentation
from ._base import BaseNeuralClassifier
from ._modules import ConvNet
from ._scaling import columns_differ_in_scale, standardization_statistics

__all__ = ["CNNClassifier"]

# 1-D signals longer than this get max pooling after each stage (architecture 'auto')
_LONG_SIGNAL = 256


class CNNClassifier(BaseNeuralClassifier):
    """Convolutional neural network classifier for images, signals and tabular data.

    A LeNet-like network by default (two convolution + max-pooling stages with 6 and 16
    channels, 5x5 kernels, fully connected layers of 120 and 84 units), configurable into a
    small ResNet (``residual=True``, ``normalization='batch'``, ``head='gap'``). Trained with
    mini-batch gradient descent through a skorch net built in ``fit``; see
    :class:`~sklearn_deep.neural_network.BaseNeuralClassifier` for the shared behaviour.

    Input shapes:

    - 4-D ``X`` of shape (n_samples, channels, height, width): 2-D convolutions;
    - 3-D ``X`` of shape (n_samples, channels, length): 1-D convolutions;
    - 2-D ``X`` of shape (n_samples, n_features) with ``input_shape`` such as ``(1, 28, 28)``
      (flattened images, so the classifier works after any Pipeline step) or ``(C, L)``;
    - 2-D ``X`` without ``input_shape``: each row is a one-channel 1-D signal of length
      ``n_features``. Pooling skips dimensions shorter than ``pool_size``, so any number of
      features works, one included.

    Parameters
    ----------
    input_shape : tuple of int or None, default=None
        ``(channels, height, width)`` or ``(channels, length)`` of one sample when X is 2-D.
    channels : tuple of int or 'auto', default='auto'
        Output channels of each convolution stage. 'auto': ``(32, 64)`` for images,
        ``(64, 128, 64)`` for 1-D signals and rows (the FCN of Wang et al., 2017).
    kernel_size : int or 'auto', default='auto'
        Convolution kernel size (padded to keep the size, 'same', for odd kernels). 'auto':
        3 for images, 7 for signals.
    stride : int, default=1
        Stride of each stage's first convolution (strided convolution downsamples).
    pooling : {'max', 'avg', 'auto'} or None, default='auto'
        Pooling after each stage. 'auto': 'max' for images and for signals longer than 256
        steps (the cost of a stage grows with the length), None otherwise.
    pool_size : int, default=2
        Pooling window and stride.
    normalization : {'batch', 'group', 'auto'} or None, default='auto'
        Normalisation after each convolution. 'auto': 'batch'.
    residual : bool, default=False
        Use ResNet basic blocks (two convolutions and a skip connection) as stages; needs an
        odd ``kernel_size``.
    dropout : float, default=0.0
        Dropout probability before every fully connected layer.
    activation : {'relu', 'gelu'}, default='relu'
        Non-linearity.
    head : {'flatten', 'gap', 'auto'}, default='auto'
        Flatten the last feature map (LeNet) or use global average pooling, which reads
        signals of any length at prediction (3-D X). 'auto': 'flatten' for images, 'gap' for
        signals.
    dense_units : tuple of int or 'auto', default='auto'
        Hidden fully connected layers of the head. 'auto': ``(128,)`` for images, none (a
        linear layer on the pooled features) for signals.
    standardize : {'auto', 'channel', 'feature'} or None, default='auto'
        Input standardisation learned in ``fit`` (kept in the module as a
        :class:`~sklearn_deep.neural_network.Standardize` layer, applied to every input):
        'channel' uses one mean and standard deviation per input channel; 'feature' one per
        input value, as ``StandardScaler``. 'auto' is 'channel', except for 2-D X read as one
        channel whose columns differ in scale or offset by more than 10x (unscaled tabular
        features), which are standardised per feature. Raw pixels (0-16 or 0-255),
        z-normalised series and unscaled tables then train alike. None: no scaling.
    padding_value : float or None, default=np.nan
        Missing values: input values equal to it (NaN by default) read as the training mean
        (zero after standardisation). On 1-D signals, steps missing on every channel after
        the last observed one are padding: variable-length series padded with NaN (as the
        UCR/UEA loaders return them) are averaged over their own length. None: NaN is an
        error.
    augmentation : str, sequence of str, callable or None, default=None
        Data augmentation applied on the fly to training batches only, never at prediction:
        any of 'crop' (random crop after zero padding), 'flip' (horizontal flip), 'jitter'
        (brightness/contrast), 'blur' (Gaussian blur), 'affine' (small rotation, scale and
        shear), or a callable mapping a batch tensor of shape (batch, *sample_shape) to one of
        the same shape (e.g. :class:`~sklearn_deep.neural_network.BatchAugmentation`).
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
        Seeds initialisation, shuffling, dropout and augmentation.
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
        Number of features (the channel count for 3-D/4-D X).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X has string column names.
    net_ : skorch.NeuralNetClassifier
        The trained skorch net.
    module_ : torch.nn.Module
        The trained :class:`~sklearn_deep.neural_network.ConvNet`.
    history_ : skorch.History
        Per-epoch training history (``history_[:, 'train_loss']``).
    n_iter_ : int
        Epochs trained.

    See Also
    --------
    sklearn.neural_network.MLPClassifier : Fully connected network.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16  # pixels in [0, 1]
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=5, random_state=0)
    >>> clf.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]) > 0.85
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 10)
    >>> clf.module_.stage_shapes  # (channels, height, width) after each stage
    [(32, 4, 4), (64, 2, 2)]
    """

    _parameter_constraints: dict = {
        **BaseNeuralClassifier._parameter_constraints,
        "input_shape": [tuple, list, None],
        "channels": [tuple, list, StrOptions({"auto"})],
        "kernel_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "pooling": [StrOptions({"max", "avg", "auto"}), None],
        "pool_size": [Interval(Integral, 2, None, closed="left")],
        "normalization": [StrOptions({"batch", "group", "auto"}), None],
        "residual": ["boolean"],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "activation": [StrOptions({"relu", "gelu"})],
        "head": [StrOptions({"flatten", "gap", "auto"})],
        "dense_units": [tuple, list, StrOptions({"auto"})],
        "standardize": [StrOptions({"auto", "channel", "feature"}), None],
        "padding_value": [Real, None],
        "augmentation": [str, tuple, list, callable, None],
    }

    def __init__(
        self,
        *,
        input_shape=None,
        channels="auto",
        kernel_size="auto",
        stride=1,
        pooling="auto",
        pool_size=2,
        normalization="auto",
        residual=False,
        dropout=0.0,
        activation="relu",
        head="auto",
        dense_units="auto",
        standardize="auto",
        padding_value=np.nan,
        augmentation=None,
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
        self.input_shape = input_shape
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.pooling = pooling
        self.pool_size = pool_size
        self.normalization = normalization
        self.residual = residual
        self.dropout = dropout
        self.activation = activation
        self.head = head
        self.dense_units = dense_units
        self.standardize = standardize
        self.padding_value = padding_value
        self.augmentation = augmentation

    def _prepare_input(self, X, y="no_validation", *, reset):
        out = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=[np.float64, np.float32],
            allow_nd=True,
            ensure_all_finite="allow-nan" if self._nan_padding() else True,
        )
        X = out if isinstance(y, str) and y == "no_validation" else out[0]
        shape = None if self.input_shape is None else tuple(int(s) for s in self.input_shape)
        if shape is not None and len(shape) not in (2, 3):
            raise ValueError(
                f"input_shape must be (channels, height, width) or (channels, length), got "
                f"input_shape={self.input_shape}."
            )
        if X.ndim == 2:
            if shape is None:
                X = X.reshape(X.shape[0], 1, X.shape[1])
            elif int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"input_shape={shape} needs {int(np.prod(shape))} features, but X has "
                    f"{X.shape[1]} features."
                )
            else:
                X = X.reshape(X.shape[0], *shape)
        elif X.ndim in (3, 4):
            if shape is not None and shape != X.shape[1:]:
                raise ValueError(
                    f"X has samples of shape {X.shape[1:]}, which does not match "
                    f"input_shape={shape}; use input_shape=None for 3-D or 4-D X."
                )
        else:
            raise ValueError(
                f"Expected a 2-D, 3-D or 4-D array, got a {X.ndim}-D array of shape {X.shape}."
            )
        if isinstance(y, str) and y == "no_validation":
            return X
        return X, out[1]

    def _nan_padding(self):
        return self.padding_value is not None and bool(np.isnan(self.padding_value))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._nan_padding()
        return tags

    def _architecture(self, sample_shape):
        """The architecture parameters with every 'auto' resolved for ``sample_shape``.

        Images (``(C, H, W)``) get a LeNet-style network with batch normalisation: two stages
        of 3x3 convolutions with 32 and 64 channels and max pooling, a flattened feature map
        and one hidden layer of 128 units. Signals and rows (``(C, L)``) get the fully
        convolutional network of Wang et al. (2017), the published baseline of time-series
        classification: three stages of 64, 128 and 64 channels with kernel 7, batch
        normalisation, no pooling and a global-average-pooling head; a linear layer reads it.
        """
        image = len(sample_shape) == 3
        long = not image and sample_shape[-1] > _LONG_SIGNAL
        auto = {
            "channels": (32, 64) if image else (64, 128, 64),
            "kernel_size": 3 if image else 7,
            "pooling": "max" if image or long else None,
            "normalization": "batch",
            "head": "flatten" if image else "gap",
            "dense_units": (128,) if image else (),
        }
        return {
            name: default if getattr(self, name) == "auto" else getattr(self, name)
            for name, default in auto.items()
        }

    def _standardize_mode(self, X):
        """'channel', 'feature' or None: the standardisation of the module's input.

        'auto' standardises per channel, except for 2-D ``X`` read as one channel (no
        ``input_shape``) whose columns differ in scale by more than 10x (unscaled tabular
        features): those are standardised per feature, as ``StandardScaler`` would.
        """
        if self.standardize != "auto":
            return self.standardize
        one_channel = X.ndim == 3 and X.shape[1] == 1 and self.input_shape is None
        if one_channel and columns_differ_in_scale(X[:, 0]):
            return "feature"
        return "channel"

    def _standardization_statistics(self, X):
        if self._standardize == "feature":
            return standardization_statistics(X, axis=(0,))
        return super()._standardization_statistics(X)

    def _check_sample_shape(self, sample_shape):
        fitted = self._sample_shape
        if (
            self._arch["head"] == "gap"
            and self._standardize != "feature"
            and len(sample_shape) == len(fitted)
            and sample_shape[0] == fitted[0]
        ):
            return  # global average pooling reads any length
        super()._check_sample_shape(sample_shape)

    def _prepare_X(self, X, y="no_validation", *, reset):
        out = self._prepare_input(X, y, reset=reset)
        if reset:
            X_ = out if isinstance(y, str) and y == "no_validation" else out[0]
            self._standardize = self._standardize_mode(X_)
            self._arch = self._architecture(X_.shape[1:])
        return out

    def _build_module(self, sample_shape, n_classes):
        arch = self._architecture(sample_shape)
        channels = tuple(int(c) for c in arch["channels"])
        if not channels or min(channels) < 1:
            raise ValueError(
                f"channels must be a non-empty tuple of positive ints, got "
                f"channels={self.channels!r}."
            )
        if self.residual and arch["kernel_size"] % 2 == 0:
            raise ValueError(
                f"residual=True needs an odd kernel_size, got kernel_size={arch['kernel_size']}."
            )
        return ConvNet, {
            "input_shape": sample_shape,
            "n_classes": n_classes,
            "channels": channels,
            "kernel_size": arch["kernel_size"],
            "stride": self.stride,
            "pooling": arch["pooling"],
            "pool_size": self.pool_size,
            "normalization": arch["normalization"],
            "residual": self.residual,
            "dropout": self.dropout,
            "activation": self.activation,
            "head": arch["head"],
            "dense_units": tuple(int(u) for u in arch["dense_units"]),
            "standardize": self._standardize,
            "padding_value": None if self.padding_value is None else float(self.padding_value),
        }

    def _train_batch_transform(self, sample_shape):
        return make_augmentation(self.augmentation)
