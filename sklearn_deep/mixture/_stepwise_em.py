"""Stepwise (online) EM for :class:`~sklearn_deep.mixture.GaussianMixture` on mini-batches.

:meth:`GaussianMixture.partial_fit <sklearn_deep.mixture.GaussianMixture.partial_fit>` calls
:func:`_partial_fit` (see the Scaling out guide). Stepwise EM (Cappé & Moulines, 2009; Liang &
Klein, 2009) keeps running averages of the per-sample sufficient statistics,

    s <- (1 - eta_t) s + eta_t s_hat(batch_t),    eta_t = (t + 2) ** -alpha,

with ``s_hat`` the batch averages of ``r_ik``, ``r_ik x_i`` and the second moments of the
covariance type, computed by the E-step kernels with the current parameters, and runs the
usual M-step on ``s``. For ``0.5 < alpha <= 1`` the step sizes satisfy Robbins-Monro's
conditions (``sum eta_t = inf``, ``sum eta_t**2 < inf``): on batches drawn independently from
the data, the parameters converge to a stationary point of the likelihood. ``alpha = 1``
weighs every batch seen equally (the first batch counts twice: ``eta_0 = 1``, the start);
smaller ``alpha`` forgets old batches, whose statistics were computed with older parameters,
faster. With one batch holding all the data and ``eta = 1`` each step is exactly one
iteration of batch EM (:func:`_partial_fit` with ``alpha=0``).

Full covariances keep the scatter about the current means (moved exactly to the new means
before each blend, as the fused in-memory pass does), so that data far from the origin lose
no accuracy; diagonal / spherical keep ``r_ik x_i**2`` and tied ``X^T X``.
"""

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from ._dask_mixture import _em_full_block, _first_moments_block
from ._gaussian_mstep import (
    _compute_precision_cholesky,
    _diag_from_moments,
    _ShiftedMoments,
    _tied_from_gram,
)


def _shift(stats, delta):
    """Move the running ``(nk, sx, scatter)`` about centres ``c`` to ``c + delta``."""
    nk, sx, scatter = stats
    scatter = (
        scatter
        - sx[:, :, np.newaxis] * delta[:, np.newaxis, :]
        - delta[:, :, np.newaxis] * sx[:, np.newaxis, :]
        + nk[:, np.newaxis, np.newaxis] * delta[:, :, np.newaxis] * delta[:, np.newaxis, :]
    )
    return nk, sx - nk[:, np.newaxis] * delta, scatter


def _batch_stats(est, X):
    """Per-sample averages of the batch's sufficient statistics under the current
    parameters, and the batch's mean log-likelihood."""
    n = X.shape[0]
    if est.covariance_type == "full":
        lpn, nk, sx, scatter = _em_full_block(
            X, est.weights_, np.asarray(est.means_, dtype=X.dtype), est.precisions_cholesky_
        )
        return (nk / n, sx / n, scatter / n), lpn / n
    spec = ("params", est.weights_, est.means_, est.precisions_cholesky_, est.covariance_type)
    second = est.covariance_type in ("diag", "spherical")
    tied = est.covariance_type == "tied"
    nk, sx, sxx, gram, lpn = _first_moments_block(X, spec, None, second, tied)
    return (nk / n, sx / n, (gram if tied else sxx) / n), lpn / n


def _m_step(est, stats, center, dtype):
    """Parameters from running statistics (the in-memory M-step's formulas)."""
    covariance_type = est.covariance_type
    if covariance_type == "full":
        nk, means, covariances = _ShiftedMoments(*stats, center).estimate(est.reg_covar)
    else:
        nk64, sx, second = stats
        nk = nk64.astype(dtype) + 10 * np.finfo(dtype).eps
        means = sx.astype(dtype) / nk[:, np.newaxis]
        if covariance_type == "tied":
            covariances = _tied_from_gram(second, nk, means, est.reg_covar, dtype)
        else:
            covariances = _diag_from_moments(second, nk, means, est.reg_covar, dtype)
            if covariance_type == "spherical":
                covariances = np.mean(covariances, axis=1)
    est.weights_ = nk / np.sum(nk)
    est.means_ = means
    est.covariances_ = covariances
    est.precisions_cholesky_ = _compute_precision_cholesky(covariances, covariance_type)
    est._set_parameters(est._get_parameters())  # precisions_


def _partial_fit(est, X, alpha=0.7):
    """One stepwise EM update of ``est`` (a GaussianMixture) from the mini-batch ``X``.

    The first call on an unfitted model initialises the parameters on the batch as ``fit``
    would (``init_params``, ``weights_init``...); after ``fit``, the stream starts from the
    fitted parameters. Each call then runs one E-step on the batch with the current
    parameters, blends its statistics into the running ones with step size
    ``eta_t = (t + 2) ** -alpha`` (``eta_0 = 1``) and runs the M-step.

    Parameters
    ----------
    est : GaussianMixture
    X : array-like of shape (n_samples, n_features)
    alpha : float, default=0.7
        Step-size decay, in ``(0.5, 1]`` for convergence (0: every step replaces the running
        statistics, batch EM on the batch).

    Returns
    -------
    est : GaussianMixture
        With ``lower_bound_`` the mean log-likelihood of the batch under the parameters
        before the update, and ``n_steps_`` the number of updates.
    """
    fitted = hasattr(est, "means_")
    X = validate_data(
        est, X, dtype=[np.float64, np.float32], ensure_min_samples=2, reset=not fitted
    )
    X = np.ascontiguousarray(X)
    if not fitted:
        if X.shape[0] < est.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {est.n_components}, n_samples = {X.shape[0]}"
            )
        est._check_parameters(X)
        est._initialize_parameters(X, check_random_state(est.random_state))
    if getattr(est, "_stepwise_means", None) is not est.means_:
        # a fresh model, or parameters set by ``fit`` since the last step: start the running
        # statistics from this batch (eta = 1), from the current parameters
        est.n_steps_ = 0
        est._stepwise_stats = None
    center = np.asarray(est.means_, dtype=X.dtype)
    batch, log_likelihood = _batch_stats(est, X)
    running = est._stepwise_stats
    if running is None:
        stats = batch
    else:
        eta = (est.n_steps_ + 2.0) ** -alpha
        if est.covariance_type == "full":
            running = _shift(running, center.astype(np.float64) - est._stepwise_center)
        stats = tuple((1 - eta) * r + eta * b for r, b in zip(running, batch))
    _m_step(est, stats, center, X.dtype)
    est._stepwise_stats = stats
    est._stepwise_center = center.astype(np.float64)
    est._stepwise_means = est.means_
    est.n_steps_ += 1
    est.lower_bound_ = float(log_likelihood)
    est.converged_ = False
    est.n_iter_ = est.n_steps_
    return est
