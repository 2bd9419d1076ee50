"""skorch callbacks built from the estimators' flat parameters (one function per concern)."""

import torch

__all__ = ["early_stopping_callback", "lr_schedule_callback"]


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
