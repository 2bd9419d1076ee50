"""Numba kernels of the Dask support: one-pass-per-block column statistics."""

import numpy as np
from numba import njit

from .._numba_config import CACHE


@njit(cache=CACHE)
def _column_moments_dense(X, with_m2):
    """Column sums and sums of squared deviations from the block's column means.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C order
    with_m2 : bool
        False: only the sums (one pass); ``m2`` is left at zero.

    Returns
    -------
    sums : ndarray of shape (n_features,), float64
    m2 : ndarray of shape (n_features,), float64
        ``sum_i (x_if - mean_f) ** 2``, accumulated in float64 (Chan et al.'s blocks).
    """
    n_samples, n_features = X.shape
    sums = np.zeros(n_features)
    for i in range(n_samples):
        for f in range(n_features):
            sums[f] += X[i, f]
    m2 = np.zeros(n_features)
    if n_samples == 0 or not with_m2:
        return sums, m2
    mean = sums / n_samples
    for i in range(n_samples):
        for f in range(n_features):
            d = np.float64(X[i, f]) - mean[f]
            m2[f] += d * d
    return sums, m2
