"""Gaussian Mixture Model fitted by EM on Numba kernels (drop-in for scikit-learn 1.9's)."""

import math
from contextlib import nullcontext

import numpy as np
from scipy import linalg
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions

from .._numba_config import numba_threads
from . import _gaussian_mixture_kernels as _k
from ._base import BaseMixture, EStepResult, _check_shape

# What ``_estimate_log_prob_norm`` returns besides ``log_prob_norm``: kernel modes.
_MODES = {
    None: _k.MODE_NONE,
    "weighted_log_prob": _k.MODE_WEIGHTED_LOG_PROB,
    "resp": _k.MODE_RESP,
}
# Samples per E-step block and per M-step sub-block (cache locality only).
_BLOCK = 256
# Upper bounds on the number of M-step partial results and on their memory.
_MAX_CHUNKS = 64
_MAX_PARTIAL_BYTES = 32 << 20
# The fused EM iteration moves its second moments from the old to the new means, which
# costs about ``eps * (1 + delta_p delta_q / sigma_pq)`` relative accuracy. It is redone
# the plain way when a mean moved farther than this (squared, in units of the new
# variance of the feature): about 1e-13 (float64) or 2e-6 (float32) at most.
_MAX_SHIFT_SQUARED = {np.float64: 1e3, np.float32: 25.0}
# Below this many multiply-adds a kernel runs on the calling thread: waking a thread pool
# costs more than the work (and far more on a busy machine). Results are the same.
_MIN_PARALLEL_WORK = 1 << 20


def _threads_for(work):
    """Context: one Numba thread for small kernels, the user's setting otherwise."""
    return numba_threads(1) if work < _MIN_PARALLEL_WORK else nullcontext()


def _chunking(n_samples, n_components, n_features):
    """Chunk size of the M-step reduction: a function of the data shape only.

    The M-step accumulates one partial result per chunk (in parallel) and the caller
    reduces them in chunk order, so results never depend on the number of threads.

    Returns
    -------
    chunk : int
    n_chunks : int
    """
    per_chunk = 8 * n_components * n_features * (n_features + 2) + 8
    max_chunks = max(1, min(_MAX_CHUNKS, _MAX_PARTIAL_BYTES // per_chunk))
    chunk = -(-n_samples // max_chunks)
    chunk = max(_BLOCK, -(-chunk // _BLOCK) * _BLOCK)
    return chunk, -(-n_samples // chunk)


def _as_float_array(array, allow_nd=True):
    return check_array(array, dtype=[np.float64, np.float32], ensure_2d=False, allow_nd=allow_nd)


def _work_arrays(*arrays):
    """Cast to a common floating dtype, C-contiguous (what the kernels expect)."""
    dtype = np.result_type(*[np.asarray(a).dtype for a in arrays], np.float32)
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


###############################################################################
# Gaussian mixture shape checkers used by the GaussianMixture class


def _check_weights(weights, n_components):
    """Check the user provided 'weights'.

    Parameters
    ----------
    weights : array-like of shape (n_components,)
        The proportions of components of each mixture.

    n_components : int
        Number of components.

    Returns
    -------
    weights : ndarray of shape (n_components,)
    """
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")

    # check range
    if any(np.less(weights, 0.0)) or any(np.greater(weights, 1.0)):
        raise ValueError(
            "The parameter 'weights' should be in the range "
            f"[0, 1], but got max value {np.min(weights):.5f}, "
            f"min value {np.max(weights):.5f}"
        )

    # check normalization
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not np.allclose(float(np.abs(1.0 - np.sum(weights))), 0.0, atol=atol):
        raise ValueError(
            "The parameter 'weights' should be normalized, "
            f"but got sum(weights) = {np.sum(weights):.5f}"
        )
    return weights


def _check_means(means, n_components, n_features):
    """Validate the provided 'means'.

    Parameters
    ----------
    means : array-like of shape (n_components, n_features)
        The centers of the current components.

    n_components : int
        Number of components.

    n_features : int
        Number of features.

    Returns
    -------
    means : ndarray of shape (n_components, n_features)
    """
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_precision_positivity(precision, covariance_type):
    """Check a precision vector is positive-definite."""
    if np.any(np.less_equal(precision, 0.0)):
        raise ValueError(f"'{covariance_type} precision' should be positive")


def _check_precision_matrix(precision, covariance_type):
    """Check a precision matrix is symmetric and positive-definite."""
    if not (
        np.all(np.isclose(precision, precision.T)) and np.all(np.linalg.eigvalsh(precision) > 0.0)
    ):
        raise ValueError(f"'{covariance_type} precision' should be symmetric, positive-definite")


def _check_precisions_full(precisions, covariance_type):
    """Check the precision matrices are symmetric and positive-definite."""
    for i in range(precisions.shape[0]):
        _check_precision_matrix(precisions[i, :, :], covariance_type)


def _check_precisions(precisions, covariance_type, n_components, n_features):
    """Validate user provided precisions.

    Parameters
    ----------
    precisions : array-like
        'full' : shape of (n_components, n_features, n_features)
        'tied' : shape of (n_features, n_features)
        'diag' : shape of (n_components, n_features)
        'spherical' : shape of (n_components,)

    covariance_type : str

    n_components : int
        Number of components.

    n_features : int
        Number of features.

    Returns
    -------
    precisions : ndarray
    """
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=covariance_type == "full",
    )

    precisions_shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }
    _check_shape(precisions, precisions_shape[covariance_type], f"{covariance_type} precision")

    _check_precisions = {
        "full": _check_precisions_full,
        "tied": _check_precision_matrix,
        "diag": _check_precision_positivity,
        "spherical": _check_precision_positivity,
    }
    _check_precisions[covariance_type](precisions, covariance_type)
    return precisions


###############################################################################
# Gaussian mixture parameters estimators (used by the M-Step), on the Numba kernels


def _moments(X, resp, second):
    """Chunked ``resp.sum(0)``, ``resp.T @ X`` (and ``resp.T @ X**2``), reduced serially.

    Returns float64 arrays ``nk`` (n_components,), ``sx`` and ``sxx`` (n_components,
    n_features); ``sxx`` is None unless ``second``.
    """
    n, d = X.shape
    k = resp.shape[1]
    chunk, n_chunks = _chunking(n, k, d)
    nk_part = np.empty((n_chunks, k))
    sx_part = np.empty((n_chunks, k, d))
    sxx_part = np.empty((n_chunks, k, d) if second else (1, 1, 1))
    with _threads_for(n * k * d * (2 if second else 1)):
        _k._mstep_moments(X, resp, chunk, second, nk_part, sx_part, sxx_part)
    sxx = sxx_part.sum(axis=0) if second else None
    return nk_part.sum(axis=0), sx_part.sum(axis=0), sxx


def _scatter_full(X, resp, means):
    """Chunked ``sum_i resp[i, k] (x_i - mu_k)(x_i - mu_k)^T``, float64, reduced serially."""
    n, d = X.shape
    k = resp.shape[1]
    chunk, n_chunks = _chunking(n, k, d)
    part = np.empty((n_chunks, k, d, d))
    with _threads_for(n * k * d * (d + 3) // 2):
        _k._mstep_scatter_full(X, resp, means, chunk, min(_BLOCK, chunk), part)
    return part.sum(axis=0)


def _gram(X):
    """``X.T @ X``, float64: the scatter kernel with one component, unit weights, zero mean."""
    n, d = X.shape
    ones = np.ones((n, 1), dtype=X.dtype)
    return _scatter_full(X, ones, np.zeros((1, d), dtype=X.dtype))[0]


def _add_to_diagonal(matrix, value):
    matrix.flat[:: matrix.shape[0] + 1] += value


def _full_from_scatter(scatter, nk, reg_covar, dtype):
    covariances = (scatter / np.asarray(nk, dtype=np.float64)[:, None, None]).astype(dtype)
    for k in range(covariances.shape[0]):
        _add_to_diagonal(covariances[k], reg_covar)
    return covariances


def _tied_from_gram(gram, nk, means, reg_covar, dtype):
    nk = np.asarray(nk, dtype=dtype)
    avg_X2 = gram.astype(dtype)
    avg_means2 = nk * means.T @ means
    covariance = avg_X2 - avg_means2
    covariance /= np.sum(nk)
    _add_to_diagonal(covariance, reg_covar)
    return covariance


def _diag_from_moments(sxx, nk, means, reg_covar, dtype):
    avg_X2 = sxx.astype(dtype) / np.asarray(nk, dtype=dtype)[:, np.newaxis]
    avg_means2 = means**2
    return avg_X2 - avg_means2 + reg_covar


def _broadcast_means(means, resp, X, dtype):
    return np.ascontiguousarray(
        np.broadcast_to(np.asarray(means, dtype=dtype), (resp.shape[1], X.shape[1]))
    )


def _estimate_gaussian_covariances_full(resp, X, nk, means, reg_covar):
    """Estimate the full covariance matrices.

    Parameters
    ----------
    resp : array-like of shape (n_samples, n_components)

    X : array-like of shape (n_samples, n_features)

    nk : array-like of shape (n_components,)

    means : array-like of shape (n_components, n_features)

    reg_covar : float

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
        The covariance matrix of the current components.
    """
    # scikit-learn stores full covariances in the dtype of X (even with float64 resp)
    x_dtype = np.result_type(np.asarray(X).dtype, np.float32)
    X, resp = _work_arrays(X, resp)
    means = _broadcast_means(means, resp, X, X.dtype)
    return _full_from_scatter(_scatter_full(X, resp, means), nk, reg_covar, x_dtype)


def _estimate_gaussian_covariances_tied(resp, X, nk, means, reg_covar):
    """Estimate the tied covariance matrix.

    Parameters
    ----------
    resp : array-like of shape (n_samples, n_components)

    X : array-like of shape (n_samples, n_features)

    nk : array-like of shape (n_components,)

    means : array-like of shape (n_components, n_features)

    reg_covar : float

    Returns
    -------
    covariance : ndarray of shape (n_features, n_features)
        The tied covariance matrix of the components.
    """
    X, resp = _work_arrays(X, resp)
    means = _broadcast_means(means, resp, X, X.dtype)
    return _tied_from_gram(_gram(X), nk, means, reg_covar, X.dtype)


def _estimate_gaussian_covariances_diag(resp, X, nk, means, reg_covar):
    """Estimate the diagonal covariance vectors.

    Parameters
    ----------
    resp : array-like of shape (n_samples, n_components)

    X : array-like of shape (n_samples, n_features)

    nk : array-like of shape (n_components,)

    means : array-like of shape (n_components, n_features)

    reg_covar : float

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features)
        The covariance vector of the current components.
    """
    X, resp = _work_arrays(X, resp)
    means = _broadcast_means(means, resp, X, X.dtype)
    _, _, sxx = _moments(X, resp, True)
    return _diag_from_moments(sxx, nk, means, reg_covar, X.dtype)


def _estimate_gaussian_covariances_spherical(resp, X, nk, means, reg_covar):
    """Estimate the spherical variance values.

    Parameters
    ----------
    resp : array-like of shape (n_samples, n_components)

    X : array-like of shape (n_samples, n_features)

    nk : array-like of shape (n_components,)

    means : array-like of shape (n_components, n_features)

    reg_covar : float

    Returns
    -------
    variances : ndarray of shape (n_components,)
        The variance values of each components.
    """
    return np.mean(_estimate_gaussian_covariances_diag(resp, X, nk, means, reg_covar), axis=1)


class _ShiftedMoments:
    """M-step sums of one fused EM pass, taken about the means ``center`` of its E-step.

    ``_estimate_gaussian_parameters`` accepts an instance in place of the
    responsibilities (full covariances only), so the M-step goes through the same
    function either way.

    Parameters
    ----------
    nk : ndarray of shape (n_components,), float64
        ``sum_i r_ik``.
    sx : ndarray of shape (n_components, n_features), float64
        ``sum_i r_ik (x_i - center_k)``.
    scatter : ndarray of shape (n_components, n_features, n_features), float64
        ``sum_i r_ik (x_i - center_k)(x_i - center_k)^T``.
    center : ndarray of shape (n_components, n_features)
        The means of the E-step, in the dtype of ``X``.
    """

    def __init__(self, nk, sx, scatter, center):
        self.nk, self.sx, self.scatter, self.center = nk, sx, scatter, center
        self.dtype = center.dtype
        # the counts and new means exactly as scikit-learn: (resp.T @ X) / (nk + 10 eps)
        self.nk_reg = nk.astype(self.dtype) + 10 * np.finfo(self.dtype).eps
        self.means = (sx + nk[:, np.newaxis] * center).astype(self.dtype) / self.nk_reg[
            :, np.newaxis
        ]
        self.delta = self.means.astype(np.float64) - center

    def accurate(self, reg_covar, prior_scale=None):
        """Whether moving the scatter to the new means keeps full accuracy.

        The move costs about ``eps * delta_kp**2 / Sigma_kpp`` relative accuracy; see
        ``_MAX_SHIFT_SQUARED``.

        Parameters
        ----------
        reg_covar : float
        prior_scale : ndarray of shape (n_features,) or None
            The diagonal of a prior scatter added to ``n_k Sigma_k`` downstream (the
            Wishart prior of :class:`BayesianGaussianMixture`). A feature is then also
            accurate when the absolute error, about ``eps * n_k * delta_kp**2``, is small
            against ``prior_scale[p]``: a nearly empty component may move far.
        """
        max_shift = _MAX_SHIFT_SQUARED[self.dtype.type]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            second = np.diagonal(self.scatter, axis1=1, axis2=2) / self.nk[:, np.newaxis]
            variances = second - self.delta**2 + reg_covar
            ratio = self.delta**2 / variances
            # a variance lost to cancellation (<= 0) or NaN sums also take the plain way
            ok = (variances > 0) & (ratio <= max_shift)
            if prior_scale is not None:
                shift = self.nk[:, np.newaxis] * self.delta**2
                ok |= np.isfinite(second) & (shift <= max_shift * prior_scale)
        return bool(np.all(ok))

    def estimate(self, reg_covar):
        """``nk, means, covariances`` as :func:`_estimate_gaussian_parameters` returns them."""
        nk, sx, delta = self.nk_reg, self.sx, self.delta
        # scatter about the new means: S - s delta^T - delta s^T + n delta delta^T
        scatter = (
            self.scatter
            - sx[:, :, np.newaxis] * delta[:, np.newaxis, :]
            - delta[:, :, np.newaxis] * sx[:, np.newaxis, :]
            + self.nk[:, np.newaxis, np.newaxis] * delta[:, :, np.newaxis] * delta[:, np.newaxis, :]
        )
        return nk, self.means, _full_from_scatter(scatter, nk, reg_covar, self.dtype)


def _estimate_gaussian_parameters(X, resp, reg_covar, covariance_type):
    """Estimate the Gaussian distribution parameters (the M-step statistics).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The input data array.

    resp : array-like of shape (n_samples, n_components)
        The responsibilities for each data sample in X.

    reg_covar : float
        The regularization added to the diagonal of the covariance matrices.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The type of precision matrices.

    Returns
    -------
    nk : ndarray of shape (n_components,)
        The numbers of data samples in the current components.

    means : ndarray of shape (n_components, n_features)
        The centers of the current components.

    covariances : ndarray
        The covariance matrix of the current components.
        The shape depends of the covariance_type.
    """
    if isinstance(resp, _ShiftedMoments):  # the fused EM pass (full covariances)
        return resp.estimate(reg_covar)
    x_dtype = np.result_type(np.asarray(X).dtype, np.float32)
    X, resp = _work_arrays(X, resp)
    dtype = X.dtype
    second = covariance_type in ("diag", "spherical")
    nk64, sx, sxx = _moments(X, resp, second)
    nk = nk64.astype(dtype) + 10 * np.finfo(dtype).eps
    means = sx.astype(dtype) / nk[:, np.newaxis]
    if covariance_type == "full":
        # stored in the dtype of X, as scikit-learn does (float64 resp on float32 X)
        covariances = _full_from_scatter(_scatter_full(X, resp, means), nk, reg_covar, x_dtype)
    elif covariance_type == "tied":
        covariances = _tied_from_gram(_gram(X), nk, means, reg_covar, dtype)
    else:
        covariances = _diag_from_moments(sxx, nk, means, reg_covar, dtype)
        if covariance_type == "spherical":
            covariances = np.mean(covariances, axis=1)
    return nk, means, covariances


def _compute_precision_cholesky(covariances, covariance_type):
    """Compute the Cholesky decomposition of the precisions.

    Parameters
    ----------
    covariances : array-like
        The covariance matrix of the current components.
        The shape depends of the covariance_type.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The type of precision matrices.

    Returns
    -------
    precisions_cholesky : ndarray
        The Cholesky decomposition of sample precisions of the current
        components. The shape depends of the covariance_type.
    """
    estimate_precision_error_message = (
        "Fitting the mixture model failed because some components have "
        "ill-defined empirical covariance (for instance caused by singleton "
        "or collapsed samples). Try to decrease the number of components, "
        "increase reg_covar, or scale the input data."
    )
    covariances = np.asarray(covariances)
    dtype = covariances.dtype
    if dtype == np.float32:
        estimate_precision_error_message += (
            " The numerical accuracy can also be improved by passing float64"
            " data instead of float32."
        )

    if covariance_type in ("full", "tied"):
        cov = covariances if covariance_type == "full" else covariances[np.newaxis]
        cov = np.ascontiguousarray(cov, dtype=np.result_type(dtype, np.float32))
        precisions_chol = np.empty_like(cov)
        if _k._precision_cholesky_full(cov, precisions_chol) >= 0:
            raise ValueError(estimate_precision_error_message)
        if covariance_type == "tied":
            precisions_chol = precisions_chol[0]
    else:
        if np.any(covariances <= 0.0):
            raise ValueError(estimate_precision_error_message)
        precisions_chol = 1.0 / np.sqrt(covariances)
    return precisions_chol


def _flipudlr(array):
    """Reverse the rows and columns of an array."""
    return np.flip(np.flip(array, axis=1), axis=0)


def _compute_precision_cholesky_from_precisions(precisions, covariance_type):
    r"""Compute the Cholesky decomposition of precisions using precisions themselves.

    The factor is the upper-triangular ``U`` with ``precision = U @ U.T``: the Cholesky
    factor of the row- and column-reversed precision, reversed back (scikit-learn #26415).

    Parameters
    ----------
    precisions : array-like
        The precision matrix of the current components.
        The shape depends on the covariance_type.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}
        The type of precision matrices.

    Returns
    -------
    precisions_cholesky : ndarray
        The Cholesky decomposition of sample precisions of the current
        components. The shape depends on the covariance_type.
    """
    if covariance_type == "full":
        precisions_cholesky = np.stack(
            [
                _flipudlr(linalg.cholesky(_flipudlr(precisions[i, :, :]), lower=True))
                for i in range(precisions.shape[0])
            ]
        )
    elif covariance_type == "tied":
        precisions_cholesky = _flipudlr(linalg.cholesky(_flipudlr(precisions), lower=True))
    else:
        precisions_cholesky = np.sqrt(precisions)
    return precisions_cholesky


###############################################################################
# Gaussian mixture probability estimators


def _compute_log_det_cholesky(matrix_chol, covariance_type, n_features):
    """Compute the log-det of the Cholesky decomposition of matrices.

    Parameters
    ----------
    matrix_chol : array-like
        Cholesky decompositions of the matrices.
        'full' : shape of (n_components, n_features, n_features)
        'tied' : shape of (n_features, n_features)
        'diag' : shape of (n_components, n_features)
        'spherical' : shape of (n_components,)

    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    n_features : int
        Number of features.

    Returns
    -------
    log_det_precision_chol : ndarray of shape (n_components,)
        The determinant of the precision matrix for each component.
    """
    if covariance_type == "full":
        n_components, _, _ = matrix_chol.shape
        log_det_chol = np.sum(
            np.log(np.reshape(matrix_chol, (n_components, -1))[:, :: n_features + 1]),
            axis=1,
        )
    elif covariance_type == "tied":
        log_det_chol = np.sum(np.log(np.diag(matrix_chol)))
    elif covariance_type == "diag":
        log_det_chol = np.sum(np.log(matrix_chol), axis=1)
    else:
        log_det_chol = n_features * np.log(matrix_chol)
    return log_det_chol


def _estep(X, means, precisions_chol, covariance_type, weights, mode, log_weights=None):
    """Run the E-step kernel of ``covariance_type``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        Shape depends on ``covariance_type``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    weights : ndarray of shape (n_components,) or None
        Mixture weights; None gives plain per-component log-densities.
    mode : int
        What to return as ``out`` (``MODE_*`` of the kernel module).
    log_weights : ndarray of shape (n_components,), float64, or None
        Used in place of ``log(weights)`` when given (``weights`` must then be None):
        any per-component term added to the log-densities.

    Returns
    -------
    log_prob_norm : ndarray of shape (n_samples,)
        ``log sum_k w_k N(x_i | mu_k, Sigma_k)``.
    out : ndarray of shape (n_samples, n_components) or None
    """
    arrays = [X, means, precisions_chol] + ([] if weights is None else [weights])
    dtype = np.result_type(*[np.asarray(a).dtype for a in arrays], np.float32)
    X = np.ascontiguousarray(X, dtype=dtype)
    means = np.ascontiguousarray(means, dtype=dtype)
    precisions_chol = np.ascontiguousarray(precisions_chol, dtype=dtype)
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    if log_weights is not None:
        log_weights = np.ascontiguousarray(log_weights, dtype=np.float64)
    elif weights is None:
        log_weights = np.zeros(n_components)
    else:
        with np.errstate(divide="ignore"):
            log_weights = np.log(np.asarray(weights, dtype=np.float64))
    log_det = np.asarray(
        _compute_log_det_cholesky(precisions_chol, covariance_type, n_features),
        dtype=np.float64,
    )
    log_prob_norm = np.empty(n_samples, dtype=dtype)
    if mode == _k.MODE_NONE:
        out = np.empty((0, n_components), dtype=dtype)
    else:
        out = np.empty((n_samples, n_components), dtype=dtype)
    work = n_samples * n_components * (n_features * (n_features + 1) // 2 + 4)
    with _threads_for(work):
        if covariance_type in ("full", "tied"):
            # tied: the full kernel with the shared factor repeated for every component
            factors = precisions_chol
            if covariance_type == "tied":
                factors = np.broadcast_to(precisions_chol, (n_components,) + precisions_chol.shape)
                log_det = np.full(n_components, float(log_det))
            triangular = not np.any(np.tril(factors, -1))
            # zero-pad rows and columns to a multiple of 4: the kernel works in 4 x 4 tiles
            d_pad = -(-n_features // 4) * 4
            padded = np.zeros((n_components, d_pad, d_pad), dtype=dtype)
            padded[:, :n_features, :n_features] = factors
            _k._estep_full(
                X, means, padded, triangular, log_det, log_weights, _BLOCK, mode, out, log_prob_norm
            )
        else:
            precisions = precisions_chol**2
            if covariance_type == "spherical":
                precisions = np.repeat(precisions[:, np.newaxis], n_features, axis=1)
            _k._estep_diag(
                X,
                means,
                np.ascontiguousarray(precisions),
                log_det,
                log_weights,
                _BLOCK,
                mode,
                out,
                log_prob_norm,
            )
    return log_prob_norm, (None if mode == _k.MODE_NONE else out)


def _estimate_log_gaussian_prob(X, means, precisions_chol, covariance_type):
    """Estimate the log Gaussian probability.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)

    means : array-like of shape (n_components, n_features)

    precisions_chol : array-like
        Cholesky decompositions of the precision matrices.
        'full' : shape of (n_components, n_features, n_features)
        'tied' : shape of (n_features, n_features)
        'diag' : shape of (n_components, n_features)
        'spherical' : shape of (n_components,)

    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    log_prob : ndarray of shape (n_samples, n_components)
    """
    _, log_prob = _estep(
        X, means, precisions_chol, covariance_type, None, _k.MODE_WEIGHTED_LOG_PROB
    )
    return log_prob


def _fused_em_pass_full(X, means, precisions_chol, log_weights, reg_covar, prior_scale=None):
    """E-step and M-step sums of one EM iteration, full covariances, in one pass over ``X``.

    The fused kernel returns the M-step sums about the current means ``m_k``:
    ``n_k``, ``s_k = sum_i r_ik (x_i - m_k)`` and ``S_k = sum_i r_ik (x_i - m_k)
    (x_i - m_k)^T``, wrapped in :class:`_ShiftedMoments` (which moves them to the new
    means). Used by :class:`GaussianMixture` and :class:`BayesianGaussianMixture`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
        Cast to the dtype of ``X``.
    precisions_chol : ndarray of shape (n_components, n_features, n_features)
        Cast to the dtype of ``X``.
    log_weights : ndarray of shape (n_components,), float64
        Added to each component's log-density (``log pi_k``, plus any variational
        terms).
    reg_covar : float
    prior_scale : ndarray of shape (n_features,) or None
        See :meth:`_ShiftedMoments.accurate`.

    Returns
    -------
    log_prob_norm_sum : float
        ``sum_i log sum_k exp(log N(x_i | mu_k, Sigma_k) + log_weights_k)``.
    rlogr_sum : float
        ``sum_ik r_ik log r_ik``.
    moments : _ShiftedMoments or None
        None when moving the sums to the new means would lose accuracy (a mean moved
        many standard deviations; see ``_MAX_SHIFT_SQUARED``): the caller then redoes the
        iteration the plain way, E-step then M-step, as scikit-learn does.
    """
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    means = np.ascontiguousarray(means, dtype=dtype)
    prec_chol = np.asarray(precisions_chol, dtype=dtype)
    log_weights = np.ascontiguousarray(log_weights, dtype=np.float64)
    log_det = np.asarray(_compute_log_det_cholesky(prec_chol, "full", n_features), dtype=np.float64)
    d_pad = -(-n_features // 4) * 4
    padded = np.zeros((n_components, d_pad, d_pad), dtype=dtype)
    padded[:, :n_features, :n_features] = prec_chol
    triangular = not np.any(np.tril(prec_chol, -1))
    chunk, n_chunks = _chunking(n_samples, n_components, n_features)
    lpn_part = np.empty(n_chunks)
    rlogr_part = np.empty(n_chunks)
    nk_part = np.empty((n_chunks, n_components))
    sx_part = np.empty((n_chunks, n_components, n_features))
    scatter_part = np.empty((n_chunks, n_components, n_features, n_features))
    work = n_samples * n_components * (n_features * (n_features + 1) + 8)
    with _threads_for(work):
        _k._em_pass_full(
            X,
            means,
            padded,
            triangular,
            log_det,
            log_weights,
            chunk,
            min(_BLOCK, chunk),
            lpn_part,
            rlogr_part,
            nk_part,
            sx_part,
            scatter_part,
        )
    moments = _ShiftedMoments(
        nk_part.sum(axis=0), sx_part.sum(axis=0), scatter_part.sum(axis=0), means
    )
    if not moments.accurate(reg_covar, prior_scale):
        moments = None
    return lpn_part.sum(), rlogr_part.sum(), moments


class GaussianMixture(BaseMixture):
    """Gaussian Mixture, fitted by EM on Numba kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture` (scikit-learn
    1.9): same parameters, attributes, warnings and errors, and the same draws from
    ``random_state``, so a fit from the same ``random_state`` gives the same model up to
    floating-point rounding. The E-step (log-densities through the triangular precision
    factor, log-sum-exp, responsibilities) and the M-step (weighted sufficient
    statistics per fixed-size chunk, reduced serially) run in parallel Numba kernels;
    results do not depend on the number of threads. float32 input stays float32.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.

    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        String describing the type of covariance parameters to use.
        Must be one of:

        - 'full': each component has its own general covariance matrix.
        - 'tied': all components share the same general covariance matrix.
        - 'diag': each component has its own diagonal covariance matrix.
        - 'spherical': each component has its own single variance.

    tol : float, default=1e-3
        The convergence threshold. EM iterations will stop when the
        lower bound average gain is below this threshold.

    reg_covar : float, default=1e-6
        Non-negative regularization added to the diagonal of covariance.
        Allows to assure that the covariance matrices are all positive.

    max_iter : int, default=100
        The number of EM iterations to perform.

    n_init : int, default=1
        The number of initializations to perform. The best results are kept.

    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
default='kmeans'
        The method used to initialize the weights, the means and the
        precisions.

        - 'kmeans' : responsibilities are initialized using kmeans.
        - 'k-means++' : use the k-means++ method to initialize.
        - 'random' : responsibilities are initialized randomly.
        - 'random_from_data' : initial means are randomly selected data points.

    weights_init : array-like of shape (n_components, ), default=None
        The user-provided initial weights.
        If it is None, weights are initialized using the `init_params` method.

    means_init : array-like of shape (n_components, n_features), default=None
        The user-provided initial means,
        If it is None, means are initialized using the `init_params` method.

    precisions_init : array-like, default=None
        The user-provided initial precisions (inverse of the covariance
        matrices).
        If it is None, precisions are initialized using the 'init_params'
        method.
        The shape depends on 'covariance_type'::

            (n_components,)                        if 'spherical',
            (n_features, n_features)               if 'tied',
            (n_components, n_features)             if 'diag',
            (n_components, n_features, n_features) if 'full'

    random_state : int, RandomState instance or None, default=None
        Controls the random seed given to the method chosen to initialize the
        parameters (see `init_params`).
        In addition, it controls the generation of random samples from the
        fitted distribution (see the method `sample`).
        Pass an int for reproducible output across multiple function calls.

    warm_start : bool, default=False
        If 'warm_start' is True, the solution of the last fitting is used as
        initialization for the next call of fit(). This can speed up
        convergence when fit is called several times on similar problems.
        In that case, 'n_init' is ignored and only a single initialization
        occurs upon the first call.

    verbose : int, default=0
        Enable verbose output. If 1 then it prints the current
        initialization and each iteration step. If greater than 1 then
        it prints also the log probability and the time needed
        for each step.

    verbose_interval : int, default=10
        Number of iteration done before the next print.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weights of each mixture components.

    means_ : ndarray of shape (n_components, n_features)
        The mean of each mixture component.

    covariances_ : ndarray
        The covariance of each mixture component.
        The shape depends on `covariance_type`::

            (n_components,)                        if 'spherical',
            (n_features, n_features)               if 'tied',
            (n_components, n_features)             if 'diag',
            (n_components, n_features, n_features) if 'full'

    precisions_ : ndarray
        The precision matrices (inverses of the covariances) for each component.
        Same shapes as `covariances_`.

    precisions_cholesky_ : ndarray
        The Cholesky factors of the precision matrices: upper triangular ``U`` with
        ``precision = U @ U.T`` for 'full' and 'tied', square roots otherwise.
        Same shapes as `covariances_`.

    converged_ : bool
        True when convergence of the best fit of EM was reached, False otherwise.

    n_iter_ : int
        Number of step used by the best fit of EM to reach the convergence.

    lower_bound_ : float
        Lower bound value on the log-likelihood (of the training data with
        respect to the model) of the best fit of EM.

    lower_bounds_ : list of float of length `n_iter_`
        The lower bound values on the log-likelihood from each
        iteration of the best fit of EM.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X`
        has feature names that are all strings.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The scikit-learn estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.mixture import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.sort(gm.means_[:, 0])
    array([ 1., 10.])
    >>> bool(gm.predict([[0, 0]])[0] != gm.predict([[12, 3]])[0])
    True
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        super().__init__(
            n_components=n_components,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
        )

        self.covariance_type = covariance_type
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    def _check_parameters(self, X):
        """Check the Gaussian mixture parameters are well defined (never reassigns them)."""
        _, n_features = X.shape

        if self.weights_init is not None:
            _check_weights(self.weights_init, self.n_components)

        if self.means_init is not None:
            _check_means(self.means_init, self.n_components, n_features)

        if self.precisions_init is not None:
            _check_precisions(
                self.precisions_init, self.covariance_type, self.n_components, n_features
            )

        self._check_init_params_config()

    def _initialize_parameters(self, X, random_state):
        # If all the initial parameters are all provided, then there is no need to run
        # the initialization.
        compute_resp = (
            self.weights_init is None or self.means_init is None or self.precisions_init is None
        )
        if compute_resp:
            super()._initialize_parameters(X, random_state)
        else:
            self._initialize(X, None)

    def _initialize(self, X, resp):
        """Initialization of the Gaussian mixture parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        resp : array-like of shape (n_samples, n_components) or None
        """
        n_samples, _ = X.shape
        weights_init = None if self.weights_init is None else _as_float_array(self.weights_init)
        means_init = None if self.means_init is None else _as_float_array(self.means_init)
        precisions_init = (
            None if self.precisions_init is None else _as_float_array(self.precisions_init)
        )
        weights, means, covariances = None, None, None
        if resp is not None:
            weights, means, covariances = _estimate_gaussian_parameters(
                X, resp, self.reg_covar, self.covariance_type
            )
            if weights_init is None:
                weights /= n_samples

        self.weights_ = weights if weights_init is None else np.array(weights_init)
        self.means_ = means if means_init is None else np.array(means_init)

        if precisions_init is None:
            self.covariances_ = covariances
            self.precisions_cholesky_ = _compute_precision_cholesky(
                covariances, self.covariance_type
            )
        else:
            self.precisions_cholesky_ = _compute_precision_cholesky_from_precisions(
                precisions_init, self.covariance_type
            )
            # scikit-learn leaves covariances_ unset here (so max_iter=0 fails there);
            # the inverse of the given precisions is what it stands for.
            if self.covariance_type in ("full", "tied"):
                self.covariances_ = np.linalg.inv(precisions_init)
            else:
                self.covariances_ = 1.0 / precisions_init

    def _e_step(self, X, fuse=True):
        """E step; for full covariances, one pass that also sums the M-step statistics.

        The fused kernel returns the M-step sums about the current means ``m_k``:
        ``n_k``, ``s_k = sum_i r_ik (x_i - m_k)`` and ``S_k = sum_i r_ik (x_i - m_k)
        (x_i - m_k)^T``. With the new means ``mu_k = m_k + delta_k`` the scatter about them
        is exactly ``S_k - s_k delta_k^T - delta_k s_k^T + n_k delta_k delta_k^T``. That
        shift loses about ``eps * delta_kp**2 / Sigma_kpp`` relative accuracy, so when
        a mean moves by many standard deviations (early iterations from a poor start;
        see ``_MAX_SHIFT_SQUARED``) the E-step is redone the plain way and the M-step
        works from the responsibilities, as scikit-learn does.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        fuse : bool, default=True
            Allow the fused pass (``False``: always the plain E-step).

        Returns
        -------
        estep : EStepResult
        """
        dtype = np.asarray(X).dtype
        fused = (
            fuse
            and self.covariance_type == "full"
            # mixed precisions (float32 X, float64 initial parameters) follow the
            # plain path, whose dtype promotions are scikit-learn's
            and all(
                np.asarray(a).dtype == dtype
                for a in (self.weights_, self.means_, self.precisions_cholesky_)
            )
        )
        if fused:
            with np.errstate(divide="ignore"):
                log_weights = np.log(np.asarray(self.weights_, dtype=np.float64))
            lpn_sum, rlogr, moments = _fused_em_pass_full(
                X, self.means_, self.precisions_cholesky_, log_weights, self.reg_covar
            )
            if moments is not None:
                return EStepResult(dtype.type(lpn_sum / X.shape[0]), moments=moments, rlogr=rlogr)
        log_prob_norm, resp = self._estimate_log_prob_norm(X, "resp")
        return EStepResult(np.mean(log_prob_norm), resp=resp)

    def _m_step(self, X, estep):
        """M step: maximum-likelihood weights, means and covariances.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        estep : EStepResult
            The responsibilities, or the sums of a fused pass.
        """
        self.weights_, self.means_, self.covariances_ = _estimate_gaussian_parameters(
            X, estep.statistics, self.reg_covar, self.covariance_type
        )
        self.weights_ /= np.sum(self.weights_)
        self.precisions_cholesky_ = _compute_precision_cholesky(
            self.covariances_, self.covariance_type
        )

    def _compute_lower_bound(self, estep):
        """The mean log-likelihood of the E-step."""
        return estep.log_prob_norm

    def _estimate_log_prob_norm(self, X, out):
        return _estep(
            X,
            self.means_,
            self.precisions_cholesky_,
            self.covariance_type,
            self.weights_,
            _MODES[out],
        )

    def _get_parameters(self):
        return (
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
        )

    def _set_parameters(self, params):
        (
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
        ) = params

        # Attributes computation
        if self.covariance_type == "full":
            self.precisions_ = np.empty_like(self.precisions_cholesky_)
            for k in range(self.precisions_cholesky_.shape[0]):
                prec_chol = self.precisions_cholesky_[k, :, :]
                self.precisions_[k, :, :] = prec_chol @ prec_chol.T
        elif self.covariance_type == "tied":
            self.precisions_ = self.precisions_cholesky_ @ self.precisions_cholesky_.T
        else:
            self.precisions_ = self.precisions_cholesky_**2

    def _n_parameters(self):
        """Return the number of free parameters in the model."""
        _, n_features = self.means_.shape
        if self.covariance_type == "full":
            cov_params = self.n_components * n_features * (n_features + 1) / 2.0
        elif self.covariance_type == "diag":
            cov_params = self.n_components * n_features
        elif self.covariance_type == "tied":
            cov_params = n_features * (n_features + 1) / 2.0
        elif self.covariance_type == "spherical":
            cov_params = self.n_components
        mean_params = n_features * self.n_components
        return int(cov_params + mean_params + self.n_components - 1)

    def bic(self, X):
        """Bayesian information criterion for the current model on the input X.

        Parameters
        ----------
        X : array of shape (n_samples, n_dimensions)
            The input samples.

        Returns
        -------
        bic : float
            The lower the better.
        """
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * math.log(X.shape[0])

    def aic(self, X):
        """Akaike information criterion for the current model on the input X.

        Parameters
        ----------
        X : array of shape (n_samples, n_dimensions)
            The input samples.

        Returns
        -------
        aic : float
            The lower the better.
        """
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()
