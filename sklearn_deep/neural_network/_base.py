"""Shared scikit-learn shell around a skorch net, for every neural classifier.

:class:`BaseNeuralClassifier` *composes* a :class:`skorch.NeuralNetClassifier`, built afresh in
``fit`` and stored as ``net_``; it does not subclass skorch (skorch nets fail most of
scikit-learn's estimator checks). The base takes care of everything that is not architecture:

- ``__init__`` only stores its arguments: the explicit parameters, and skorch-style routed
  parameters (``module__*``, ``optimizer__*``, ``criterion__*``, ``callbacks__*``,
  ``iterator_train__*``, ``iterator_valid__*``) given as keyword arguments, which
  ``get_params`` reports and ``set_params`` accepts, so ``clone`` and ``GridSearchCV`` can
  sweep them (other keyword arguments are rejected at ``fit``, since scikit-learn's checks
  require ``__init__`` not to raise);
- validation with scikit-learn's ``validate_data`` (NaN/inf, complex, object, sparse, 1-D and
  empty inputs give scikit-learn's errors), float32 tensors for training;
- label encoding (``classes_`` holds the user's labels, strings included; one class is an
  error), cross-entropy on logits;
- a fresh module, optimizer and callbacks per ``fit`` (``warm_start`` and ``partial_fit``
  continue training instead), all inside a forked torch RNG seeded from ``random_state``, so
  fits are reproducible and the user's global torch RNG is untouched;
- ``train_split=None`` by default; ``early_stopping=True`` holds out a stratified
  ``validation_fraction`` and stops after ``n_iter_no_change`` epochs without improvement of
  the validation loss, restoring the best weights;
- learning-rate schedules, optimisers, ``verbose`` (skorch's epoch table), ``device``;
- prediction in float64 on a float64 copy of the module, so results do not depend on the order
  or the batching of the rows (float32 CPU kernels are not row-order invariant at 1e-9).

Extension point
---------------
A concrete classifier subclasses :class:`BaseNeuralClassifier` and

1. declares every hyperparameter explicitly in its own ``__init__`` (its architecture
   parameters *and* the base's training parameters, passed on with
   ``super().__init__(optimizer=optimizer, ..., **routed_params)``), extends
   ``_parameter_constraints`` with ``{**BaseNeuralClassifier._parameter_constraints, ...}``
   and may change the training defaults in its signature;
2. implements ``_prepare_X(self, X, y="no_validation", *, reset)``: call
   ``validate_data(self, X, y, reset=reset, ...)`` with the options it needs and reshape X to
   what its module expects, ``(n_samples, *sample_shape)``. Return ``X`` alone when
   ``y == "no_validation"``, else ``(X, y)``. Floating arrays are cast by the base to float32 for
   training and float64 for prediction; integer arrays (token ids) are kept as int64. It may
   store data-derived values (vocabulary size, say) in private attributes when ``reset``;
3. implements ``_build_module(self, sample_shape, n_classes)`` returning
   ``(module_class, kwargs)``: a plain ``nn.Module`` class returning logits and the keyword
   arguments that give it its shapes and architecture; the user's ``module__*`` parameters
   override or extend these kwargs;
4. may override ``_train_batch_transform(self, sample_shape)`` to return a callable applied to
   every *training* batch tensor (data augmentation), never at prediction time, and
   ``_callback_list(self, seed)`` to append skorch callbacks (gradient clipping, say) to the
   list the base builds afresh for every fit;
5. may extend ``__sklearn_tags__``.

Fitted attributes set by the base: ``classes_``, ``n_features_in_`` (and
``feature_names_in_``, by ``validate_data``), ``net_`` (the skorch net), ``module_`` (the
trained torch module), ``history_`` (skorch's History) and ``n_iter_`` (epochs trained).
"""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from torch import nn

from ._batching import TensorBatchIterator, _forked_torch_rng
from ._callbacks import TrainingMonitor, early_stopping_callback, lr_schedule_callback
from ._modules import Standardize
from ._scaling import check_float32_range, standardization_statistics

__all__ = ["BaseNeuralClassifier", "TensorBatchIterator"]

_ROUTED_PREFIXES = (
    "module__",
    "optimizer__",
    "criterion__",
    "callbacks__",
    "iterator_train__",
    "iterator_valid__",
)

_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}

_PREDICT_BATCH_SIZE = 1024

# max_epochs='auto': epochs for about this many optimizer steps, within these bounds
_AUTO_STEPS = 2000
_AUTO_MIN_EPOCHS = 10
_AUTO_MAX_EPOCHS = 200
# ... and at most about this many training FLOPs (3x the forward count: forward and backward),
# a minute or two on a 2-core CPU; a CUDA device gets _CUDA_FLOPS_FACTOR times more
_AUTO_TRAINING_FLOPS = 5e12
_CUDA_FLOPS_FACTOR = 100
# The convergence rule's windows (``tol``) span at least this many optimizer steps: on tiny
# data sets (a few batches per epoch) ``n_iter_no_change`` epochs are too few steps to tell
# slow progress from mini-batch and batch-norm noise, so plateaus would be declared, the
# learning rate cut and training stopped before the training set is fitted.
_PLATEAU_MIN_STEPS = 100


def forward_flops(module, x):
    """FLOPs of ``module(x)``: torch's ``FlopCounterMode`` (matrix products, convolutions,
    attention) plus the recurrent layers, which it does not see (``2 x steps x`` the weights
    of every layer and direction)."""
    from torch.nn.utils.rnn import PackedSequence
    from torch.utils.flop_counter import FlopCounterMode

    recurrent = []

    def count(layer, inputs, output):
        seq = inputs[0]
        steps = seq.data.shape[0] if isinstance(seq, PackedSequence) else seq.shape[:-1].numel()
        weights = sum(w.numel() for name, w in layer.named_parameters() if "weight" in name)
        recurrent.append(2 * steps * weights)

    hooks = [m.register_forward_hook(count) for m in module.modules() if isinstance(m, nn.RNNBase)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    return counter.get_total_flops() + sum(recurrent)


class BaseNeuralClassifier(ClassifierMixin, BaseEstimator):
    """Base class of the neural classifiers: a scikit-learn shell around a skorch net.

    Not for direct use: see the module docstring for the extension point, and
    :class:`~sklearn_deep.neural_network.CNNClassifier` for an example.

    Parameters
    ----------
    optimizer : {'adam', 'sgd', 'rmsprop'}, default='adam'
        Optimisation algorithm.
    lr : float, default=1e-3
        Learning rate.
    momentum : float, default=0.9
        Momentum of 'sgd' and 'rmsprop' (ignored by 'adam').
    weight_decay : float, default=0.0
        L2 penalty (the optimiser's ``weight_decay``).
    lr_schedule : {'step', 'cosine'} or None, default=None
        Per-epoch schedule: 'step' divides the learning rate by 10 every ``max_epochs // 3``
        epochs, 'cosine' anneals it to zero over ``max_epochs`` epochs.
    max_epochs : int or 'auto', default='auto'
        Most passes over the training data in ``fit``. 'auto' sizes the budget from the data:
        enough epochs for about 2,000 optimizer steps (``ceil(2000 / batches_per_epoch)``)
        but at most about ``5e12`` training FLOPs (counted on the network for one sample;
        100 times more on a CUDA device), at least 10 and at most 200 epochs, so that small
        data sets get enough steps and large or long inputs a bounded time. The convergence
        rule (``tol``) may end training earlier.
    tol : float or None, default=1e-4
        Convergence tolerance on the training loss (``MLPClassifier``'s, per epoch, on
        window means): a plateau is ``k`` epochs whose mean loss is less than
        ``k * tol * max(1, previous)`` below the mean ``previous`` of the ``k`` epochs
        before, or less than the standard error of that difference. ``k`` is
        ``n_iter_no_change``, or more on tiny data sets, so that a window spans at least 100
        optimizer steps (``ceil(100 / batches_per_epoch)`` epochs: 20 for 36 samples in
        batches of 8), enough to tell slow progress from mini-batch noise. The first three
        plateaus divide the learning rate by 5 (with ``lr_schedule=None``), the next one ends
        training (never in the first tenth of the budget). When the budget ends while the
        loss still fell by more than ``tol``, ``fit`` warns with a ``ConvergenceWarning``.
        With ``early_stopping=True`` the validation loss decides instead. None trains for
        the whole budget, without the warning.
    batch_size : int or 'auto', default=32
        Mini-batch size; 'auto' uses ``clip(n_samples // 8, 8, 64)``.
    early_stopping : bool, default=False
        Hold out a stratified ``validation_fraction`` of the training data and stop when the
        validation loss has not improved for ``n_iter_no_change`` epochs (the best weights are
        restored).
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    n_iter_no_change : int, default=10
        Patience, in epochs, of the convergence rule (``tol``; more epochs on tiny data
        sets, see ``tol``) and of early stopping.
    warm_start : bool, default=False
        Continue training the fitted module on the next ``fit`` instead of starting afresh.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and augmentation.
    device : str, default='cpu'
        Torch device, e.g. 'cpu' or 'cuda'.
    verbose : int, default=0
        Print skorch's per-epoch table when positive.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks, copied afresh for every fit.
    **routed_params : dict
        skorch-style routed parameters: ``module__*``, ``optimizer__*``, ``criterion__*``,
        ``callbacks__*``, ``iterator_train__*`` and ``iterator_valid__*``.
    """

    _parameter_constraints: dict = {
        "optimizer": [StrOptions(set(_OPTIMIZERS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"step", "cosine"}), None],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "device": [str, torch.device],
        "verbose": ["verbose"],
        "callbacks": [list, None],
    }

    def __init__(
        self,
        *,
        optimizer="adam",
        lr=1e-3,
        momentum=0.9,
        weight_decay=0.0,
        lr_schedule=None,
        max_epochs="auto",
        tol=1e-4,
        batch_size=32,
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
        self.optimizer = optimizer
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.tol = tol
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.random_state = random_state
        self.device = device
        self.verbose = verbose
        self.callbacks = callbacks
        for key, value in routed_params.items():
            # stored as given (checked in fit): scikit-learn's checks expect __init__ not to raise
            setattr(self, key, value)

    # ------------------------------------------------------------------ parameters
    def _extra_params(self):
        """Keyword arguments beyond the signature (routed parameters, or base parameters that a
        subclass leaves out of its own signature); reported by get_params so clone keeps them."""
        explicit = set(self._get_param_names())
        return {
            k: v
            for k, v in vars(self).items()
            if k not in explicit and not k.startswith("_") and not k.endswith("_")
        }

    def _routed_params(self):
        """skorch-style routed parameters (``module__*``, ``optimizer__*``, ...)."""
        return {k: v for k, v in self._extra_params().items() if k.startswith(_ROUTED_PREFIXES)}

    def _validate_params(self):
        super()._validate_params()
        base = set(BaseNeuralClassifier._get_param_names())
        unknown = [
            k for k in self._extra_params() if not k.startswith(_ROUTED_PREFIXES) and k not in base
        ]
        if unknown:
            raise InvalidParameterError(
                f"Unknown parameters {unknown} for {type(self).__name__}: keyword arguments "
                f"beyond the signature must be skorch-style routed parameters starting with "
                f"one of {_ROUTED_PREFIXES}."
            )

    def get_params(self, deep=True):
        """Get parameters, including skorch-style routed ones (``module__*``, ...).

        Parameters
        ----------
        deep : bool, default=True
            Also return the parameters of sub-objects that are estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        params.update(self._extra_params())
        return params

    def set_params(self, **params):
        """Set parameters, including skorch-style routed ones (``module__dropout=0.5``, ...).

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : estimator instance
        """
        extra = self._extra_params()
        routed = {
            k: params.pop(k) for k in list(params) if k.startswith(_ROUTED_PREFIXES) or k in extra
        }
        super().set_params(**params)
        for key, value in routed.items():
            setattr(self, key, value)
        return self

    # ------------------------------------------------------------------ extension point
    def _prepare_X(self, X, y="no_validation", *, reset):
        """Validate X (and y) and reshape X for the module; see the module docstring.

        The default treats X as a 2-D float matrix of shape (n_samples, n_features).
        """
        out = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        return out

    def _build_module(self, sample_shape, n_classes):
        """Return ``(module_class, kwargs)`` for one sample of shape ``sample_shape``."""
        raise NotImplementedError

    def _train_batch_transform(self, sample_shape):
        """Callable applied to every training batch (augmentation), or None."""
        return None

    def _init_module_from_data(self, module, X, seed):
        """Overwrite initial weights of a freshly initialised ``module`` from the training
        inputs ``X`` (as returned by ``_prepare_X``); ``seed`` is this fit's seed. Default:
        nothing (the module's own random initialisation)."""

    def _standardization_statistics(self, X):
        """``(mean, scale)`` for the module's :class:`Standardize` layer from the training
        inputs ``X`` (as returned by ``_prepare_X``), or None when the module has none.
        Default: per channel (axis 1) of float input."""
        if not np.issubdtype(np.asarray(X).dtype, np.floating):
            return None
        return standardization_statistics(X, axis=(0, *range(2, np.ndim(X))))

    def _fit_standardization(self, module, X):
        """Learn the input standardisation of a fresh ``module`` from the training inputs."""
        layers = [m for m in module.modules() if isinstance(m, Standardize)]
        if not layers:
            return
        stats = self._standardization_statistics(X)
        if stats is None:
            return
        for layer in layers:
            layer.set_statistics(*stats)

    def _check_sample_shape(self, sample_shape):
        """Raise when prediction samples of ``sample_shape`` do not fit the fitted module
        (the default: the shape seen in ``fit``)."""
        if tuple(sample_shape) != self._sample_shape:
            raise ValueError(
                f"X has samples of shape {tuple(sample_shape)}, but {type(self).__name__} was "
                f"fitted on samples of shape {self._sample_shape}."
            )

    def _validated(self, X, y="no_validation", *, reset):
        """``_prepare_X`` plus the float32 range check of the networks' input."""
        out = self._prepare_X(X, y, reset=reset)
        check_float32_range(out if isinstance(y, str) and y == "no_validation" else out[0])
        return out

    # ------------------------------------------------------------------ internals
    def _seed(self, offset=0):
        rs = check_random_state(self.random_state)
        return (int(rs.randint(np.iinfo(np.int32).max)) + offset) % (2**31 - 1)

    def _encode_y(self, y, classes=None):
        """Fit the label encoder (``classes_``) on ``classes`` or y and return codes for y."""
        check_classification_targets(y)
        self._label_encoder = LabelEncoder().fit(y if classes is None else classes)
        self.classes_ = self._label_encoder.classes_
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {self.classes_[0]!r}."
            )
        return self._transform_y(y)

    def _transform_y(self, y):
        check_classification_targets(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}."
            )
        return self._label_encoder.transform(y)

    def _callback_list(self, seed):
        """Fresh skorch callbacks for one fit (subclasses may append their own; ``seed`` is
        this fit's torch seed, for callbacks that draw random numbers)."""
        callbacks = copy.deepcopy(self.callbacks) if self.callbacks is not None else []
        epochs = self._n_epochs
        callbacks.append(
            (
                "training_monitor",
                TrainingMonitor(
                    None if self.early_stopping else self.tol,
                    self.n_iter_no_change,
                    min_epochs=max(1, epochs // 10),
                    lr_factor=0.2 if self.lr_schedule is None else None,
                    min_steps=_PLATEAU_MIN_STEPS,
                ),
            )
        )
        schedule = lr_schedule_callback(self.lr_schedule, epochs)
        if schedule is not None:
            callbacks.append(("lr_schedule", schedule))
        if self.early_stopping:
            callbacks.append(
                ("early_stopping", early_stopping_callback(self.n_iter_no_change, self.verbose))
            )
        return callbacks

    def _effective_batch_size(self, n_samples):
        """``batch_size``, or for 'auto' ``clip(n_samples // 8, 8, 64)``: several steps per
        epoch on tiny data sets, 64-sample batches on large ones."""
        if self.batch_size == "auto":
            return int(min(64, max(8, n_samples // 8)))
        return int(self.batch_size)

    def _budget_epochs(self, n_samples, sample_shape, n_classes):
        """Epochs of one ``fit``: ``max_epochs``, or for 'auto' about ``_AUTO_STEPS``
        optimizer steps and at most ``_AUTO_TRAINING_FLOPS`` of training, clipped to
        [``_AUTO_MIN_EPOCHS``, ``_AUTO_MAX_EPOCHS``]."""
        if self.max_epochs != "auto":
            return int(self.max_epochs)
        n_train = n_samples
        if self.early_stopping:
            n_train = max(1, n_samples - int(np.ceil(self.validation_fraction * n_samples)))
        batches = max(1, -(-n_train // self._effective_batch_size(n_samples)))
        epochs = -(-_AUTO_STEPS // batches)
        if epochs > _AUTO_MIN_EPOCHS:
            limit = _AUTO_TRAINING_FLOPS
            if torch.device(self.device).type == "cuda":
                limit *= _CUDA_FLOPS_FACTOR
            per_epoch = 3 * n_train * self._sample_flops(sample_shape, n_classes)
            epochs = min(epochs, int(limit // max(per_epoch, 1)))
        return int(min(_AUTO_MAX_EPOCHS, max(_AUTO_MIN_EPOCHS, epochs)))

    def _sample_flops(self, sample_shape, n_classes):
        """Forward FLOPs of the network for one sample of ``sample_shape``, counted on a
        throw-away copy (built without touching the global random state)."""
        module_cls, module_kwargs = self._build_module(tuple(sample_shape), n_classes)
        with torch.random.fork_rng(devices=[]):
            module = module_cls(**module_kwargs).eval()
        tokens = getattr(self, "_input_kind", None) == "tokens"
        x = torch.ones((1, *sample_shape), dtype=torch.int64 if tokens else torch.float32)
        return forward_flops(module, x)

    def _make_net(self, sample_shape, n_classes, seed, n_samples):
        from skorch import NeuralNetClassifier
        from skorch.dataset import ValidSplit

        self._n_epochs = self._budget_epochs(n_samples, sample_shape, n_classes)
        module_cls, module_kwargs = self._build_module(tuple(sample_shape), n_classes)
        optimizer_kwargs = {"weight_decay": self.weight_decay}
        if self.optimizer in ("sgd", "rmsprop"):
            optimizer_kwargs["momentum"] = self.momentum
        kwargs = {f"module__{k}": v for k, v in module_kwargs.items()}
        kwargs.update({f"optimizer__{k}": v for k, v in optimizer_kwargs.items()})
        if not self.verbose:
            kwargs["callbacks__print_log"] = None
        kwargs.update(self._routed_params())
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(
                self.validation_fraction, stratified=True, random_state=seed % (2**31 - 1)
            )
        return NeuralNetClassifier(
            module=module_cls,
            criterion=nn.CrossEntropyLoss,
            optimizer=_OPTIMIZERS[self.optimizer],
            lr=self.lr,
            max_epochs=self._n_epochs,
            batch_size=self._effective_batch_size(n_samples),
            iterator_train=TensorBatchIterator,
            iterator_valid=TensorBatchIterator,
            iterator_train__shuffle=True,
            iterator_train__transform=self._train_batch_transform(tuple(sample_shape)),
            iterator_train__device=self.device,
            train_split=train_split,
            callbacks=self._callback_list(seed),
            classes=list(range(n_classes)),
            verbose=self.verbose,
            device=self.device,
            **kwargs,
        )

    @staticmethod
    def _as_tensor(X, dtype):
        """Tensor of ``X`` in ``dtype`` if floating, else int64 (token ids); never a view of a
        read-only array (torch warns about those)."""
        X = np.asarray(X)
        X = np.ascontiguousarray(
            X, dtype=dtype if np.issubdtype(X.dtype, np.floating) else np.int64
        )
        if not X.flags.writeable:
            X = X.copy()
        return torch.from_numpy(X)

    def _train_epochs(self, X, y_codes, epochs, seed, initialize):
        X_t = self._as_tensor(X, np.float32)
        y_t = torch.from_numpy(np.ascontiguousarray(y_codes, dtype=np.int64))
        net = self.net_
        start = len(net.history) if not initialize else 0
        with _forked_torch_rng(seed, self.device):
            if initialize:
                net.initialize()
                self._fit_standardization(net.module_, X)
                self._init_module_from_data(net.module_, X, seed)
            net.notify("on_train_begin", X=X_t, y=y_t)
            try:
                net.fit_loop(X_t, y_t, epochs=epochs)
            except KeyboardInterrupt:  # skorch's way of stopping early
                pass
            net.notify("on_train_end", X=X_t, y=y_t)
        self.module_ = net.module_
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        monitor = dict(net.callbacks_).get("training_monitor")
        still_improving = monitor is not None and monitor.still_improving_
        stopped = len(net.history) - start < epochs  # stopped before the budget's end
        return stopped, still_improving

    def _warn_if_not_converged(self, outcome, epochs):
        stopped, still_improving = outcome
        if stopped or not (still_improving or self.early_stopping):
            return
        warnings.warn(
            f"Stochastic Optimizer: Maximum iterations ({epochs}) reached and the "
            "optimization hasn't converged yet: the training loss was still falling. "
            "Increase max_epochs.",
            ConvergenceWarning,
            stacklevel=3,
        )

    def _check_continuation(self, sample_shape):
        if tuple(sample_shape) != self._sample_shape:
            raise ValueError(
                f"X has samples of shape {tuple(sample_shape)}, but {type(self).__name__} "
                f"was fitted on samples of shape {self._sample_shape}; refit from scratch "
                "(warm_start=False) to change the input shape."
            )

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Train the network on (X, y) for ``max_epochs`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training data (see the subclass for the accepted shapes).
        y : array-like of shape (n_samples,)
            Class labels (any hashable labels, strings included).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        warm = self.warm_start and hasattr(self, "net_")
        if warm:
            previous_classes = self.classes_
        X, y = self._validated(X, y, reset=True)
        codes = self._encode_y(y)
        if warm:
            self._check_continuation(X.shape[1:])
            if not np.array_equal(previous_classes, self.classes_):
                raise ValueError(
                    f"warm_start can only be used where y has the same classes as in the "
                    f"previous call to fit. Previously got {previous_classes.tolist()}, y has "
                    f"{self.classes_.tolist()}."
                )
            seed = self._seed(offset=len(self.net_.history))
            self._n_epochs = self._budget_epochs(X.shape[0], X.shape[1:], len(self.classes_))
        else:
            self._sample_shape = tuple(X.shape[1:])
            seed = self._seed()
            self.net_ = self._make_net(self._sample_shape, len(self.classes_), seed, X.shape[0])
        outcome = self._train_epochs(X, codes, self._n_epochs, seed, initialize=not warm)
        self._warn_if_not_converged(outcome, self._n_epochs)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Train for one epoch on (X, y), without re-initialising a fitted network.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            Every label that y may contain; required on the first call.

        Returns
        -------
        self : object
            Updated estimator.
        """
        first = not hasattr(self, "net_")
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            X, y = self._validated(X, y, reset=True)
            codes = self._encode_y(y, classes=classes)
            self._sample_shape = tuple(X.shape[1:])
            seed = self._seed()
            self.net_ = self._make_net(self._sample_shape, len(self.classes_), seed, X.shape[0])
        else:
            if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
                raise ValueError(
                    f"classes={np.unique(classes).tolist()} is not the same as on the first "
                    f"call to partial_fit, {self.classes_.tolist()}."
                )
            X, y = self._validated(X, y, reset=False)
            self._check_continuation(X.shape[1:])
            codes = self._transform_y(y)
            seed = self._seed(offset=len(self.net_.history))
        self._train_epochs(X, codes, 1, seed, initialize=first)
        return self

    def _module_outputs(self, X, run):
        """``run(module, batch)`` over ``X`` in batches, on a float64 copy of the fitted module
        in eval mode (no gradients), the batch outputs concatenated along the first axis into
        a float64 ndarray. ``X`` is validated as in ``predict``."""
        check_is_fitted(self)
        X = self._validated(X, reset=False)
        self._check_sample_shape(X.shape[1:])
        device = self.net_.device
        batch = self._predict_batch_size(X.shape[1:])
        module = copy.deepcopy(self.module_).to(dtype=torch.float64).eval()
        out = None
        with torch.no_grad():
            for start in range(0, X.shape[0], batch):
                xb = self._as_tensor(X[start : start + batch], np.float64)
                result = run(module, xb.to(device) if device is not None else xb)
                result = result.cpu().numpy()
                if out is None:
                    out = np.empty((X.shape[0], *result.shape[1:]), dtype=np.float64)
                out[start : start + batch] = result
        return out

    def _predict_batch_size(self, sample_shape):
        """Rows per forward pass at prediction for samples of ``sample_shape``."""
        return _PREDICT_BATCH_SIZE

    def _logits(self, X):
        """Float64 logits of shape (n_samples, n_classes) from a float64 copy of the module."""
        return self._module_outputs(X, lambda module, xb: module(xb))

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits, computed in float64).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        logits = self._logits(X)
        if not np.isfinite(logits).all():
            raise ValueError(
                "The network's outputs are not finite for some rows of X: their values are "
                "far outside the range seen in fit (overflow in the network)."
            )
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """Most probable class label of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, ...)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels taken from ``classes_``.
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        tags.classifier_tags.multi_label = False
        tags.non_deterministic = False
        return tags
