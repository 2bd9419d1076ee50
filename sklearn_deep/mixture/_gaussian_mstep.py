"""M-step of the Gaussian mixtures: weighted moments, covariances, precision factors.

The Python side of the M-step kernels (``_gaussian_mixture_kernels``): each function
allocates the per-chunk partial results, runs a kernel and reduces them serially, so results
do not depend on the thread count. :class:`_ShiftedMoments` holds the sums of the fused
E-step pass (full covariances) and moves them to the new means.
"""

import numpy as np
from scipy import linalg

from .._numba_config import threads_for
from . import _gaussian_mixture_kernels as _k

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


def _work_arrays(*arrays):
    """Cast to a common floating dtype, C-contiguous (what the kernels expect)."""
    dtype = np.result_type(*[np.asarray(a).dtype for a in arrays], np.float32)
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


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
    with threads_for(n * k * d * (2 if second else 1)):
        _k._mstep_moments(X, resp, chunk, second, nk_part, sx_part, sxx_part)
    sxx = sxx_part.sum(axis=0) if second else None
    return nk_part.sum(axis=0), sx_part.sum(axis=0), sxx


def _full_sums(X, resp, center, scatter):
    """Chunked M-step sums of full covariances from ``resp``, about ``center``, reduced
    serially: ``nk`` (n_components,), ``sx = resp.T @ X - nk center`` (n_components,
    n_features) and, when ``scatter``, ``sum_i resp[i, k] (x_i - c_k)(x_i - c_k)^T``
    (n_components, n_features, n_features), else None; float64.

    (The kernel of the full-covariance E-step, which therefore compiles nothing more.)
    """
    n, d = X.shape
    k = resp.shape[1]
    chunk, n_chunks = _chunking(n, k, d)
    nk_part = np.empty((n_chunks, k))
    sx_part = np.empty((n_chunks, k, d))
    part = np.empty((n_chunks, k, d, d) if scatter else (0, 0, 0, 0))
    center = np.ascontiguousarray(center, dtype=X.dtype)
    with threads_for(n * k * d * ((d + 3) // 2 if scatter else 1)):
        _k._mstep_full_sums(
            X, resp, center, chunk, min(_BLOCK, chunk), scatter, nk_part, sx_part, part
        )
    return nk_part.sum(axis=0), sx_part.sum(axis=0), (part.sum(axis=0) if scatter else None)


def _scatter_full(X, resp, means):
    """Chunked ``sum_i resp[i, k] (x_i - mu_k)(x_i - mu_k)^T``, float64, reduced serially."""
    return _full_sums(X, resp, means, True)[2]


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

    Parameters as :func:`_estimate_gaussian_covariances_full`.

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

    Parameters as :func:`_estimate_gaussian_covariances_full`.

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

    Parameters as :func:`_estimate_gaussian_covariances_full`.

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
    # the fused pass's sums in place of resp (full covariances), so that every M-step goes
    # through this function, as scikit-learn's do (its tests count the calls)
    if isinstance(resp, _ShiftedMoments):
        return resp.estimate(reg_covar)
    x_dtype = np.result_type(np.asarray(X).dtype, np.float32)
    X, resp = _work_arrays(X, resp)
    dtype = X.dtype
    if covariance_type in ("full", "tied"):
        # (the kernel of the full E-step: no other to compile)
        nk64, sx, _ = _full_sums(X, resp, np.zeros((resp.shape[1], X.shape[1]), dtype), False)
    else:
        nk64, sx, sxx = _moments(X, resp, True)
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
