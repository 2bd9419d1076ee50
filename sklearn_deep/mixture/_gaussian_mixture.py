"""Gaussian Mixture Model fitted by EM on Numba kernels (drop-in for scikit-learn 1.9's).

The estimator; its steps live in ``_gaussian_estep`` and ``_gaussian_mstep``, the checks of
its initial parameters in ``_gaussian_checks`` and the kernels in
``_gaussian_mixture_kernels``.
"""

import math

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions

from ._base import BaseMixture, EStepResult
from ._gaussian_checks import _as_float_array, _check_means, _check_precisions, _check_weights
from ._gaussian_estep import (
    _MODES,
    _compute_log_det_cholesky,  # noqa: F401 (scikit-learn's private API, as its tests use it)
    _estep,
    _estimate_log_gaussian_prob,  # noqa: F401
    _fused_em_pass_full,
)
from ._gaussian_mstep import (
    _compute_precision_cholesky,
    _compute_precision_cholesky_from_precisions,
    _estimate_gaussian_covariances_diag,  # noqa: F401 (scikit-learn's private API)
    _estimate_gaussian_covariances_full,  # noqa: F401
    _estimate_gaussian_covariances_spherical,  # noqa: F401
    _estimate_gaussian_covariances_tied,  # noqa: F401
    _estimate_gaussian_parameters,
)


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

    n_steps_ : int
        Number of :meth:`partial_fit` updates since the stream started (since the last
        :meth:`fit`, or the first :meth:`partial_fit`). Only set by :meth:`partial_fit`.

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

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the model with one mini-batch by stepwise (online) EM.

        Not in scikit-learn's GaussianMixture: it streams data that does not fit in memory
        (a loop over the blocks of a Dask array, or ``dask_ml.wrappers.Incremental``).
        Stepwise EM (Cappé & Moulines, 2009; Liang & Klein, 2009) keeps running averages of
        the per-sample sufficient statistics, ``s <- (1 - eta_t) s + eta_t s_hat(batch_t)``
        with ``eta_t = (t + 2) ** -0.7``, and runs the usual M-step on them. The first call on
        an unfitted model initialises the parameters on its batch as :meth:`fit` would
        (``init_params``, ``weights_init``, ...), so that batch must contain samples of every
        component; after :meth:`fit` the stream starts from the fitted parameters.

        Convergence: on batches drawn independently from the data (shuffle rows stored in
        order first) the parameters converge to a stationary point of the likelihood; they
        do not equal batch EM's fit, and ``converged_`` stays False. Each step costs one
        E-step on the batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One mini-batch (at least 2 samples, and ``n_components`` on the first call).

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Updated; ``lower_bound_`` is the mean log-likelihood of the batch under the
            parameters before the update and ``n_iter_ == n_steps_`` the number of updates.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_deep.mixture import GaussianMixture
        >>> rng = np.random.default_rng(0)
        >>> X = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(8, 1, (500, 2))])
        >>> X = X[rng.permutation(len(X))]
        >>> gm = GaussianMixture(n_components=2, random_state=0)
        >>> for batch in np.array_split(X, 10):
        ...     gm = gm.partial_fit(batch)
        >>> [round(float(m)) for m in np.sort(gm.means_[:, 0])]
        [0, 8]
        """
        from ._stepwise_em import _partial_fit  # (imports this module)

        return _partial_fit(self, X)

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
