"""E-step of the Gaussian mixtures: log-densities, responsibilities, the fused EM pass.

The Python side of the E-step kernels (``_gaussian_mixture_kernels``), shared by
:class:`GaussianMixture` and :class:`BayesianGaussianMixture` (which adds its variational
terms as per-component log-weights).
"""

import numpy as np

from .._numba_config import threads_for
from . import _gaussian_mixture_kernels as _k
from ._gaussian_mstep import _BLOCK, _chunking, _ShiftedMoments

# What ``_estimate_log_prob_norm`` returns besides ``log_prob_norm``: kernel modes.
_MODES = {
    None: _k.MODE_NONE,
    "weighted_log_prob": _k.MODE_WEIGHTED_LOG_PROB,
    "resp": _k.MODE_RESP,
}


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


def _padded_factors(factors):
    """Precision factors (n_components, n_features, n_features) zero-padded, rows and columns,
    to a multiple of 4 (the kernels work in 4 x 4 tiles), and whether they are upper
    triangular (the kernels then skip the zero lower part)."""
    n_components, n_features, _ = factors.shape
    d_pad = -(-n_features // 4) * 4
    padded = np.zeros((n_components, d_pad, d_pad), dtype=factors.dtype)
    padded[:, :n_features, :n_features] = factors
    return padded, not np.any(np.tril(factors, -1))


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
    with threads_for(work):
        if covariance_type in ("full", "tied"):
            # tied: the full kernel with the shared factor repeated for every component
            factors = precisions_chol
            if covariance_type == "tied":
                factors = np.broadcast_to(precisions_chol, (n_components,) + precisions_chol.shape)
                log_det = np.full(n_components, float(log_det))
            padded, triangular = _padded_factors(factors)
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


def _fused_sums(X, means, precisions_chol, log_weights):
    """The sums of one fused EM pass (full covariances), reduced over the chunks.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
        Cast to the dtype of ``X``.
    precisions_chol : ndarray of shape (n_components, n_features, n_features)
        Cast to the dtype of ``X``.
    log_weights : ndarray of shape (n_components,), float64
        Added to each component's log-density.

    Returns
    -------
    log_prob_norm_sum : float
    rlogr_sum : float
    nk : ndarray of shape (n_components,), float64
    sx : ndarray of shape (n_components, n_features), float64
        ``sum_i r_ik (x_i - m_k)`` about ``means``.
    scatter : ndarray of shape (n_components, n_features, n_features), float64
        ``sum_i r_ik (x_i - m_k)(x_i - m_k)^T``.
    """
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    means = np.ascontiguousarray(means, dtype=dtype)
    prec_chol = np.asarray(precisions_chol, dtype=dtype)
    log_weights = np.ascontiguousarray(log_weights, dtype=np.float64)
    log_det = np.asarray(_compute_log_det_cholesky(prec_chol, "full", n_features), dtype=np.float64)
    padded, triangular = _padded_factors(prec_chol)
    chunk, n_chunks = _chunking(n_samples, n_components, n_features)
    lpn_part = np.zeros(n_chunks)
    rlogr_part = np.zeros(n_chunks)
    nk_part = np.zeros((n_chunks, n_components))
    sx_part = np.zeros((n_chunks, n_components, n_features))
    scatter_part = np.zeros((n_chunks, n_components, n_features, n_features))
    work = n_samples * n_components * (n_features * (n_features + 1) + 8)
    with threads_for(work):
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
    sums = (nk_part, sx_part, scatter_part)
    return (lpn_part.sum(), rlogr_part.sum()) + tuple(a.sum(axis=0) for a in sums)


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
    lpn_sum, rlogr_sum, nk, sx, scatter = _fused_sums(X, means, precisions_chol, log_weights)
    moments = _ShiftedMoments(nk, sx, scatter, np.ascontiguousarray(means, dtype=X.dtype))
    if not moments.accurate(reg_covar, prior_scale):
        moments = None
    return lpn_sum, rlogr_sum, moments
