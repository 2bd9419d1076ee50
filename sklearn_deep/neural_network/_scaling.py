"""Input checks and scaling statistics of the neural classifiers (NumPy only).

The statistics are learned in ``fit`` and copied into the module's
:class:`~sklearn_deep.neural_network.Standardize` layer by the estimators.
"""

import warnings

import numpy as np

__all__ = ["check_float32_range", "columns_differ_in_scale", "standardization_statistics"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X, name="X"):
    """Raise scikit-learn's ``ValueError`` when floating ``X`` holds values that overflow
    float32 (the networks train in float32; NaN, used as padding, is ignored here)."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating) or X.size == 0 or X.dtype == np.float32:
        return
    with np.errstate(invalid="ignore"):
        too_large = np.nanmax(np.abs(X)) >= _FLOAT32_MAX if not np.isnan(X).all() else False
    if too_large:
        raise ValueError(
            f"Input {name} contains infinity or a value too large for dtype('float32'): the "
            f"networks compute in float32; rescale {name} (e.g. with StandardScaler)."
        )


def columns_differ_in_scale(X, ratio=10.0):
    """Whether the columns of a 2-D ``X`` (NaN ignored) differ in standard deviation, or in
    mean relative to the overall spread, by more than ``ratio``: unscaled tabular features,
    which one statistic for all columns would crush (a column in thousands next to one in
    tenths), rather than the steps of a series.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> columns_differ_in_scale(rng.normal(size=(50, 4)) * [1, 1, 1, 1000])
    True
    >>> columns_differ_in_scale(rng.normal(size=(50, 40)))
    False
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] < 2 or np.isnan(X).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        std = np.nanstd(X, axis=0)
        mean = np.nanmean(X, axis=0)
    positive = std[std > 0]
    if positive.size and positive.max() > ratio * positive.min():
        return True
    spread = max(float(np.nanstd(X)), np.finfo(np.float64).tiny)
    return bool(np.nanmax(mean) - np.nanmin(mean) > ratio * spread)


def standardization_statistics(X, axis, valid=None):
    """Per-channel (or per-feature) mean and scale of ``X`` for a :class:`Standardize` layer.

    Parameters
    ----------
    X : ndarray of shape (n_samples, ...)
        Training inputs, as the module reads them.
    axis : tuple of int
        Axes reduced over (always including 0); the others keep their length.
    valid : ndarray of bool or None, default=None
        Broadcastable to ``X``: which entries count (padding steps do not).

    Returns
    -------
    mean, scale : ndarray of float64
        Shaped like ``X[0]`` with the reduced axes (other than 0) kept as length 1. ``scale``
        is the standard deviation, or 1 where the data is constant.
    """
    X = np.asarray(X, dtype=np.float64)
    if valid is None:
        valid = ~np.isnan(X)
    else:
        valid = np.broadcast_to(valid, X.shape) & ~np.isnan(X)
    Xv = np.where(valid, X, 0.0)
    count = valid.sum(axis=axis, keepdims=True)
    safe = np.maximum(count, 1)
    mean = Xv.sum(axis=axis, keepdims=True) / safe
    var = (np.where(valid, X - mean, 0.0) ** 2).sum(axis=axis, keepdims=True) / safe
    scale = np.sqrt(var)
    constant = (count == 0) | (scale <= 1e-7 * np.maximum(1.0, np.abs(mean)))
    scale = np.where(constant, 1.0, scale)
    mean = np.where(count == 0, 0.0, mean)
    return mean[0], scale[0]
