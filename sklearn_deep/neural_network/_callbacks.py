"""skorch callbacks built from the estimators' flat parameters (one function per concern)."""

import math

import torch
from skorch.callbacks import Callback

__all__ = [
    "TrainingMonitor",
    "early_stopping_callback",
    "loss_plateau",
    "lr_schedule_callback",
]


def _silent(*args, **kwargs):
    """A picklable sink that drops skorch's messages (``verbose=0``)."""


def lr_schedule_callback(schedule, max_epochs):
    """A per-epoch learning-rate schedule, or None.

    Parameters
    ----------
    schedule : {'step', 'cosine'} or None
        'step' multiplies the learning rate by 0.1 every ``max(1, max_epochs // 3)`` epochs;
        'cosine' anneals it to zero over ``max_epochs`` epochs.
    max_epochs : int
        Epochs of one ``fit``.

    Returns
    -------
    callback : skorch.callbacks.LRScheduler or None
    """
    from skorch.callbacks import LRScheduler

    if schedule is None:
        return None
    if schedule == "step":
        return LRScheduler(
            policy=torch.optim.lr_scheduler.StepLR, step_size=max(1, max_epochs // 3), gamma=0.1
        )
    if schedule == "cosine":
        return LRScheduler(policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max_epochs)
    raise ValueError(f"lr_schedule must be 'step', 'cosine' or None, got {schedule!r}.")


def early_stopping_callback(patience, verbose=0):
    """Stop when the validation loss has not improved for ``patience`` epochs; keep the best.

    Parameters
    ----------
    patience : int
        Epochs without improvement (relative threshold 1e-4) before stopping.
    verbose : int, default=0
        Print skorch's stopping message when positive.

    Returns
    -------
    callback : skorch.callbacks.EarlyStopping
        Monitors ``valid_loss`` and restores the best epoch's weights at the end of training.
    """
    from skorch.callbacks import EarlyStopping

    return EarlyStopping(
        monitor="valid_loss",
        patience=patience,
        load_best=True,
        sink=print if verbose else _silent,
    )


def loss_plateau(losses, k, tol):
    """Whether a training-loss curve ends on a plateau: the convergence rule of
    :class:`TrainingMonitor`, shared by every network of the package.

    The mean loss of the last ``k`` epochs is less than ``k * tol * max(1, previous)`` below
    the mean ``previous`` of the ``k`` epochs before (``MLPClassifier``'s ``tol`` per epoch,
    on window means), or that fall is smaller than its standard error (the windows'
    epoch-to-epoch noise). A steady trend is never taken for noise: for a loss falling
    linearly, the fall between the windows is about eight times its standard error.

    Parameters
    ----------
    losses : sequence of float
        Mean training loss of each epoch, oldest first.
    k : int
        Window length (``n_iter_no_change``).
    tol : float
        Tolerance per epoch.

    Returns
    -------
    plateau : bool
        False while fewer than ``2 k`` epochs are known.
    """
    if len(losses) < 2 * k:
        return False
    window, before = losses[-k:], losses[-2 * k : -k]
    last, previous = sum(window) / k, sum(before) / k
    spread = sum((x - last) ** 2 for x in window) + sum((x - previous) ** 2 for x in before)
    standard_error = math.sqrt(spread / (k - 1) / k) if k > 1 else 0.0
    return previous - last < max(k * tol * max(1.0, previous), standard_error)


class TrainingMonitor(Callback):
    """Convergence and divergence guard of one ``fit`` (a skorch callback).

    - **Divergence**: a non-finite training loss on any batch raises a ``ValueError`` at once,
      instead of training on to NaN weights (scikit-learn's ``MLPClassifier`` raises on
      non-finite weights in the same situation).
    - **Plateaus** (``tol`` not None): the training loss is on a plateau when its mean over
      the last ``k`` epochs (``n_iter_no_change``, or more with ``min_steps``) is less than
      ``k * tol * max(1, previous)`` below its mean ``previous`` over the ``k`` epochs
      before (``MLPClassifier``'s ``tol`` per epoch, on window means so that the noise of
      mini-batches and batch statistics is not taken for a plateau), or when that fall is
      smaller than its standard error (the windows' epoch-to-epoch noise): a fall within the
      noise is no evidence of learning.
      With ``lr_factor`` set, a plateau above 1% of the first epoch's loss multiplies the
      learning rate by ``lr_factor``, at most ``max_reductions`` times (as
      ``MLPClassifier``'s 'adaptive' learning rate and ``ReduceLROnPlateau``): a plateau of
      mini-batch noise is not convergence, smaller steps often get past it. Any other
      plateau is convergence: training stops, but not before ``min_epochs`` epochs. The
      learning rates are restored when training ends, so that a later warm start begins at
      ``lr`` again.
    - With ``min_steps``, the windows span at least ``min_steps`` optimizer steps:
      ``k = max(n_iter_no_change, ceil(min_steps / b))`` epochs, with ``b`` the training
      batches of the run's first epoch. On tiny data sets (a few batches per epoch),
      ``n_iter_no_change`` epochs are too few steps to tell slow progress from the noise of
      mini-batches and batch statistics.
    - **Best weights** (``tol`` not None): when training ends (on a plateau or at the end of
      the budget) with a last epoch's loss above the lowest epoch loss of the run, the
      module's weights and buffers of that lowest epoch are restored (as Keras's
      ``restore_best_weights``, on the training loss): a late spike of the optimiser is not
      returned as the model.
    - When the budget ends without that stop, :attr:`still_improving_` tells whether the loss
      still fell by more than ``tol`` (absolutely, as in ``MLPClassifier``) over the last
      ``k`` epochs: the estimator then warns that it has not converged.

    Attributes
    ----------
    converged_ : bool
        Whether the convergence rule stopped the last training run.
    still_improving_ : bool
        Whether the best training loss fell by more than ``tol`` over the last ``k`` epochs
        of the last run.
    best_epoch_ : int or None
        Epoch (counted from 1 in the last run) whose weights the module holds after a
        restore of the best weights, else None.
    window_ : int
        The window ``k``, in epochs, of the last run (``n_iter_no_change`` until its first
        epoch ends).
    """

    def __init__(
        self, tol, n_iter_no_change, min_epochs=0, lr_factor=None, max_reductions=3, min_steps=0
    ):
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.min_epochs = min_epochs
        self.lr_factor = lr_factor
        self.max_reductions = max_reductions
        self.min_steps = min_steps

    def initialize(self):
        self.converged_ = False
        self.still_improving_ = False
        self.best_epoch_ = None
        self._best_state = None
        self.window_ = self.n_iter_no_change
        self._batches = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.converged_ = False
        self.still_improving_ = False
        self.window_ = self.n_iter_no_change
        self._batches = 0
        self._since_change = 0
        self._losses = []
        self._reductions = 0
        self.best_epoch_ = None
        self._best_state = None
        self._best_loss = math.inf
        self._initial_lrs = [
            [group["lr"] for group in optimizer.param_groups] for optimizer in self._optimizers(net)
        ]

    @staticmethod
    def _optimizers(net):
        return [getattr(net, name + "_") for name in getattr(net, "_optimizers", ["optimizer"])]

    def on_train_end(self, net, **kwargs):
        if self._best_state is not None and self._losses[-1] > self._best_loss:
            net.module_.load_state_dict(self._best_state)
            self.best_epoch_ = self._best_epoch
        self._best_state = None
        if not self._reductions:
            return
        for optimizer, lrs in zip(self._optimizers(net), self._initial_lrs):
            for group, lr in zip(optimizer.param_groups, lrs):
                group["lr"] = lr

    def on_batch_end(self, net, batch=None, training=None, loss=None, **kwargs):
        if not training or loss is None:
            return
        self._batches += 1
        value = float(loss.detach().cpu()) if isinstance(loss, torch.Tensor) else float(loss)
        if not math.isfinite(value):
            raise ValueError(
                f"The training loss became non-finite ({value}) in epoch "
                f"{len(net.history)}: the optimisation diverged and no usable model was "
                f"learned. Lower the learning rate (lr={net.lr}) or scale the input (keep "
                "standardize on); the input data may contain very large values."
            )

    def on_epoch_end(self, net, **kwargs):
        loss = float(net.history[-1, "train_loss"])
        self._losses.append(loss)
        if len(self._losses) == 1 and self.min_steps and self._batches:
            self.window_ = max(self.n_iter_no_change, -(-self.min_steps // self._batches))
        if self.tol is None:
            return
        if loss < self._best_loss:
            self._best_loss = loss
            self._best_epoch = len(self._losses)
            self._best_state = {
                name: value.detach().clone() for name, value in net.module_.state_dict().items()
            }
        k = self.window_
        if len(self._losses) > k:
            self.still_improving_ = min(self._losses[:-k]) - min(self._losses) > self.tol
        else:
            self.still_improving_ = True
        self._since_change += 1
        if self._since_change < k or len(self._losses) < 2 * k:
            return
        if not loss_plateau(self._losses, k, self.tol):
            return
        last = sum(self._losses[-k:]) / k
        high = last > 0.01 * self._losses[0]  # a plateau well above zero loss: try smaller steps
        if self.lr_factor is not None and self._reductions < self.max_reductions and high:
            self._reductions += 1
            self._since_change = 0
            for optimizer in self._optimizers(net):
                for group in optimizer.param_groups:
                    group["lr"] *= self.lr_factor
        elif len(self._losses) >= self.min_epochs:
            self.converged_ = True
            raise KeyboardInterrupt  # skorch's way of stopping; caught by the estimator
