"""GaussianMixture on dask arrays: each EM iteration maps the Numba kernels over row blocks.

:class:`~sklearn_deep.mixture.GaussianMixture` dispatches here when ``X`` is a
``dask.array.Array``. Each EM iteration runs one task per row block that returns the
block's sufficient statistics -- ``sum_i r_ik``, ``sum_i r_ik x_i`` and, by covariance type,
the weighted scatter matrices (full), ``sum_i r_ik x_i**2`` (diag, spherical) or ``X^T X``
(tied, computed once) -- and the sum of the log-likelihoods; the client adds them up and
does the M-step exactly as in memory. For full covariances the E- and M-step share one pass
(the fused kernel, scatter about the current means, moved exactly to the new ones), with the
same fall-back to two passes as in memory when a mean moves too far. From the same initial
parameters the fit follows the in-memory one to rounding (the sums are added in another
order).

Initialisation: ``init_params='random_from_data'`` draws the same rows as in memory;
``'kmeans'`` runs the dask KMeans (k-means|| initialisation); ``'k-means++'`` starts from
k-means|| centres (not data points); ``'random'`` draws the random responsibilities per block
(another random stream than in memory).
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..utils._dask import (
    _block_seeds,
    _BlockMapper,
    _check_dask_X,
    _column_mean_var,
    _persisted_blocks,
    _task_threads,
)
from ._gaussian_checks import _as_float_array
from ._gaussian_estep import _compute_log_det_cholesky, _estep
from ._gaussian_estep_kernels import MODE_RESP
from ._gaussian_fused_kernels import _em_pass_full
from ._gaussian_mixture import GaussianMixture
from ._gaussian_mstep import (
    _BLOCK,
    _chunking,
    _compute_precision_cholesky,
    _compute_precision_cholesky_from_precisions,
    _diag_from_moments,
    _estimate_gaussian_parameters,
    _full_from_scatter,
    _gram,
    _moments,
    _scatter_full,
    _ShiftedMoments,
    _tied_from_gram,
)

###############################################################################
# per-block tasks (run on the workers)


def _block_resp(X, spec, labels):
    """Responsibilities of a block and the sum of its log-likelihoods (0 unless from
    parameters).

    ``spec`` is ``("params", weights, means, precisions_cholesky, covariance_type)``,
    ``("labels", n_components)`` (one-hot of ``labels``) or ``("random", n_components,
    seed)``.
    """
    kind = spec[0]
    n = X.shape[0]
    if kind == "params":
        _, weights, means, prec_chol, covariance_type = spec
        log_prob_norm, resp = _estep(X, means, prec_chol, covariance_type, weights, MODE_RESP)
        return resp, float(np.sum(log_prob_norm, dtype=np.float64))
    if kind == "labels":
        resp = np.zeros((n, spec[1]), dtype=X.dtype)
        resp[np.arange(n), np.asarray(labels)] = 1
        return resp, 0.0
    resp = np.asarray(np.random.RandomState(spec[2]).uniform(size=(n, spec[1])), dtype=X.dtype)
    resp /= np.sum(resp, axis=1)[:, np.newaxis]
    return resp, 0.0


def _first_moments_block(X, spec, labels, second, gram):
    """``(nk, sx, sxx or None, X^T X or None, sum of log-likelihoods)`` of one block."""
    X = np.ascontiguousarray(X)
    with _task_threads():
        resp, lpn = _block_resp(X, spec, labels)
        Xw, resp = _work(X, resp)
        nk, sx, sxx = _moments(Xw, resp, second)
        g = _gram(Xw) if gram else None
    return nk, sx, sxx, g, lpn


def _scatter_block(X, spec, labels, means):
    """``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T`` of one block (float64)."""
    X = np.ascontiguousarray(X)
    with _task_threads():
        resp, _ = _block_resp(X, spec, labels)
        Xw, resp = _work(X, resp)
        return (_scatter_full(Xw, resp, np.ascontiguousarray(means, dtype=Xw.dtype)),)


def _work(X, resp):
    dtype = np.result_type(X.dtype, resp.dtype, np.float32)
    return np.ascontiguousarray(X, dtype=dtype), np.ascontiguousarray(resp, dtype=dtype)


def _em_full_block(X, weights, means, prec_chol):
    """The fused E+M pass (full covariances) on one block, as ``_em_iteration`` in memory:
    ``(sum of log-likelihoods, nk, sx, scatter)`` about the current means."""
    X = np.ascontiguousarray(X)
    dtype = X.dtype
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    means = np.ascontiguousarray(means, dtype=dtype)
    prec_chol = np.asarray(prec_chol, dtype=dtype)
    with np.errstate(divide="ignore"):
        log_weights = np.log(np.asarray(weights, dtype=np.float64))
    log_det = np.asarray(_compute_log_det_cholesky(prec_chol, "full", n_features), dtype=np.float64)
    d_pad = -(-n_features // 4) * 4
    padded = np.zeros((n_components, d_pad, d_pad), dtype=dtype)
    padded[:, :n_features, :n_features] = prec_chol
    triangular = not np.any(np.tril(prec_chol, -1))
    chunk, n_chunks = _chunking(n_samples, n_components, n_features)
    lpn_part = np.zeros(n_chunks)
    rlogr_part = np.zeros(n_chunks)  # written by the kernel; unused (no variational bound)
    nk_part = np.zeros((n_chunks, n_components))
    sx_part = np.zeros((n_chunks, n_components, n_features))
    scatter_part = np.zeros((n_chunks, n_components, n_features, n_features))
    if n_samples:
        with _task_threads():
            _em_pass_full(
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
    return lpn_part.sum(), nk_part.sum(axis=0), sx_part.sum(axis=0), scatter_part.sum(axis=0)


def _estimate_block(X, est, mode):
    X = np.ascontiguousarray(X)
    with _task_threads():
        return est._estimate_log_prob_norm(X, mode)


def _predict_block(X, est):
    _, weighted_log_prob = _estimate_block(X, est, "weighted_log_prob")
    return np.argmax(weighted_log_prob, axis=1)


def _proba_block(X, est):
    return _estimate_block(X, est, "resp")[1]


def _score_samples_block(X, est):
    return _estimate_block(X, est, None)[0]


###############################################################################
# client side


class _DaskEM:
    """EM statistics of one fit on a dask array (keeps ``X^T X`` for tied covariances)."""

    def __init__(self, est, X):
        self.est, self.X = est, X
        self.mapper = _BlockMapper(X)
        self.n_blocks = X.numblocks[0]
        self.n_samples = X.shape[0]
        self.gram = None

    def stats(self, spec, label_blocks=None):
        """M-step quantities ``(nk, means, covariances)`` from a responsibilities spec
        (see :func:`_block_resp`; a list: one per block), and the mean log-likelihood
        (of ``"params"`` specs), as ``_estimate_gaussian_parameters`` computes them."""
        covariance_type = self.est.covariance_type
        labels = label_blocks or [None] * self.n_blocks
        specs = spec if isinstance(spec, list) else [spec] * self.n_blocks
        spec = specs[0]
        second = covariance_type in ("diag", "spherical")
        want_gram = covariance_type == "tied" and self.gram is None
        nk64, sx, sxx, gram, lpn = self.mapper.sum(
            _first_moments_block, specs, labels, second=second, gram=want_gram
        )
        if want_gram:
            self.gram = gram
        lpn = float(lpn)
        x_dtype = self.X.dtype
        dtype = self._work_dtype(spec)
        nk = nk64.astype(dtype) + 10 * np.finfo(dtype).eps
        means = sx.astype(dtype) / nk[:, np.newaxis]
        reg_covar = self.est.reg_covar
        if covariance_type == "full":
            (scatter,) = self.mapper.sum(_scatter_block, specs, labels, means=means)
            covariances = _full_from_scatter(scatter, nk, reg_covar, x_dtype)
        elif covariance_type == "tied":
            covariances = _tied_from_gram(self.gram, nk, means, reg_covar, dtype)
        else:
            covariances = _diag_from_moments(sxx, nk, means, reg_covar, dtype)
            if covariance_type == "spherical":
                covariances = np.mean(covariances, axis=1)
        return (nk, means, covariances), dtype.type(lpn / self.n_samples)

    def _label_blocks(self, labels):
        """Per-block handles on a dask array of labels, as the mapper takes them."""
        if self.mapper.on_futures:
            client = self.mapper.client
            return _persisted_blocks(client, client.persist(labels))
        return list(labels.to_delayed())

    def _work_dtype(self, spec):
        arrays = [np.empty(0, self.X.dtype)]
        if spec[0] == "params":
            arrays += [np.asarray(a) for a in spec[1:4]]
        return np.result_type(*[a.dtype for a in arrays], np.float32)

    def params_spec(self):
        est = self.est
        return (
            "params",
            est.weights_,
            est.means_,
            est.precisions_cholesky_,
            est.covariance_type,
        )

    def m_step(self, nk, means, covariances):
        """``GaussianMixture._m_step`` from reduced statistics."""
        est = self.est
        est.weights_, est.means_, est.covariances_ = nk, means, covariances
        est.weights_ = est.weights_ / np.sum(est.weights_)
        est.precisions_cholesky_ = _compute_precision_cholesky(
            est.covariances_, est.covariance_type
        )

    def em_iteration(self):
        """One EM iteration; returns the lower bound (mean log-likelihood of the E-step)."""
        est = self.est
        dtype = self.X.dtype
        fused = est.covariance_type == "full" and all(
            np.asarray(a).dtype == dtype
            for a in (est.weights_, est.means_, est.precisions_cholesky_)
        )
        if fused:
            means_old = np.ascontiguousarray(est.means_, dtype=dtype)
            lpn, nk, sx, scatter = self.mapper.sum(
                _em_full_block,
                weights=est.weights_,
                means=means_old,
                prec_chol=est.precisions_cholesky_,
            )
            moments = _ShiftedMoments(nk, sx, scatter, means_old)
            if moments.accurate(est.reg_covar):
                nk, means, covariances = _estimate_gaussian_parameters(
                    None, moments, est.reg_covar, "full"
                )
                self.m_step(nk, means, covariances)
                return dtype.type(lpn / self.n_samples)
        (nk, means, covariances), lower_bound = self.stats(self.params_spec())
        self.m_step(nk, means, covariances)
        return lower_bound

    def initialize(self, random_state):
        """``_initialize_parameters`` + ``_initialize`` on a dask array."""
        est = self.est
        X = self.X
        n_components = est.n_components
        compute_resp = (
            est.weights_init is None or est.means_init is None or est.precisions_init is None
        )
        params = None
        if compute_resp:
            if est.init_params == "kmeans":
                from ..cluster import KMeans

                km = KMeans(n_clusters=n_components, n_init=1, random_state=random_state).fit(X)
                label_blocks = self._label_blocks(km.labels_)
                params, _ = self.stats(("labels", n_components), label_blocks)
            elif est.init_params == "random":
                # each block draws its own responsibilities, from its own seed
                seeds = _block_seeds(random_state, self.n_blocks)
                params, _ = self.stats([("random", n_components, s) for s in seeds])
            else:
                if est.init_params == "random_from_data":
                    indices = random_state.choice(self.n_samples, size=n_components, replace=False)
                    from ..cluster._dask_kmeans import _gather_rows

                    rows = _gather_rows(X, indices)
                else:  # k-means++: k-means|| centres
                    from ..cluster._dask_kmeans import _kmeans_parallel

                    mean, _ = _column_mean_var(X, with_var=False)
                    mean = mean.astype(X.dtype)
                    rows = _kmeans_parallel(X, None, n_components, random_state, mean) + mean
                resp = np.eye(n_components, dtype=X.dtype)
                params = _estimate_gaussian_parameters(
                    rows, resp, est.reg_covar, est.covariance_type
                )
        self._set_initial(params)

    def _set_initial(self, params):
        """The end of ``GaussianMixture._initialize`` (user-given parameters win)."""
        est = self.est
        weights_init = None if est.weights_init is None else _as_float_array(est.weights_init)
        means_init = None if est.means_init is None else _as_float_array(est.means_init)
        precisions_init = (
            None if est.precisions_init is None else _as_float_array(est.precisions_init)
        )
        weights, means, covariances = None, None, None
        if params is not None:
            weights, means, covariances = params
            if weights_init is None:
                weights = weights / self.n_samples
        est.weights_ = weights if weights_init is None else np.array(weights_init)
        est.means_ = means if means_init is None else np.array(means_init)
        if precisions_init is None:
            est.covariances_ = covariances
            est.precisions_cholesky_ = _compute_precision_cholesky(covariances, est.covariance_type)
        else:
            est.precisions_cholesky_ = _compute_precision_cholesky_from_precisions(
                precisions_init, est.covariance_type
            )
            if est.covariance_type in ("full", "tied"):
                est.covariances_ = np.linalg.inv(precisions_init)
            else:
                est.covariances_ = 1.0 / precisions_init


def _fit_predict_dask(est, X):
    """``BaseMixture.fit_predict`` on a dask array: returns lazy labels."""
    if not isinstance(est, GaussianMixture) or type(est)._m_step is not GaussianMixture._m_step:
        raise NotImplementedError(
            f"{est.__class__.__name__} does not support dask arrays; pass a NumPy array "
            "(GaussianMixture supports dask arrays)."
        )
    X = _check_dask_X(X, estimator=est, reset=True)
    if X.shape[0] < 2:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a minimum "
            f"of 2 is required by {est.__class__.__name__}."
        )
    if X.shape[0] < est.n_components:
        raise ValueError(
            "Expected n_samples >= n_components "
            f"but got n_components = {est.n_components}, n_samples = {X.shape[0]}"
        )
    est._check_parameters(X)
    em = _DaskEM(est, X)

    do_init = not (est.warm_start and hasattr(est, "converged_"))
    n_init = est.n_init if do_init else 1
    max_lower_bound = -np.inf
    best_lower_bounds = []
    est.converged_ = False
    random_state = check_random_state(est.random_state)
    for init in range(n_init):
        est._print_verbose_msg_init_beg(init)
        if do_init:
            em.initialize(random_state)
        lower_bound = -np.inf if do_init else est.lower_bound_
        current_lower_bounds = []
        if est.max_iter == 0:
            best_params = est._get_parameters()
            best_n_iter = 0
        else:
            converged = False
            for n_iter in range(1, est.max_iter + 1):
                prev_lower_bound = lower_bound
                lower_bound = em.em_iteration()
                current_lower_bounds.append(lower_bound)
                change = lower_bound - prev_lower_bound
                est._print_verbose_msg_iter_end(n_iter, change)
                if abs(change) < est.tol:
                    converged = True
                    break
            est._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best_params = est._get_parameters()
                best_n_iter = n_iter
                best_lower_bounds = current_lower_bounds
                est.converged_ = converged
    if not est.converged_ and est.max_iter > 0:
        warnings.warn(
            "Best performing initialization did not converge. Try different init parameters, "
            "or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    est._set_parameters(best_params)
    est.n_iter_ = best_n_iter
    est.lower_bound_ = max_lower_bound
    est.lower_bounds_ = best_lower_bounds
    return _map_rows(est, X, _predict_block, np.intp, None)


def _map_rows(est, X, func, dtype, n_cols):
    if n_cols is None:
        return X.map_blocks(func, est, dtype=dtype, drop_axis=1, meta=np.empty(0, dtype))
    return X.map_blocks(
        func, est, dtype=dtype, chunks=(X.chunks[0], (n_cols,)), meta=np.empty((0, 0), dtype)
    )


def _check_fitted_dask(est, X):
    check_is_fitted(est)
    return _check_dask_X(X, estimator=est, reset=False)


def _out_dtype(est, X):
    return np.result_type(X.dtype, est.means_.dtype, est.precisions_cholesky_.dtype, np.float32)


def _predict_dask(est, X):
    """Lazy component labels, chunked as the rows of ``X``."""
    X = _check_fitted_dask(est, X)
    return _map_rows(est, X, _predict_block, np.intp, None)


def _predict_proba_dask(est, X):
    """Lazy responsibilities of shape (n_samples, n_components)."""
    X = _check_fitted_dask(est, X)
    return _map_rows(est, X, _proba_block, _out_dtype(est, X), est.n_components)


def _score_samples_dask(est, X):
    """Lazy per-sample log-likelihoods."""
    X = _check_fitted_dask(est, X)
    return _map_rows(est, X, _score_samples_block, _out_dtype(est, X), None)
