"""Base class for mixture models: the EM template method, as in scikit-learn 1.9.

Python loops run only over initialisations and EM iterations; all per-sample work is done
by the subclass's Numba kernels (see ``_gaussian_mixture_kernels.py``).
"""

import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real
from time import time
from typing import NamedTuple

import numpy as np
from sklearn._config import get_config
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._numba_config import report_compilation
from ..cluster import KMeans, kmeans_plusplus
from ..utils._dask import _is_dask_array  # dask dispatch


def _check_shape(param, param_shape, name):
    """Raise scikit-learn's ValueError unless ``param.shape == param_shape``.

    Parameters
    ----------
    param : ndarray
    param_shape : tuple of int
    name : str
    """
    if param.shape != param_shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {param_shape}, but got {param.shape}"
        )


def _kmeans_labels(X, n_clusters, random_state):
    """Labels of a single-restart k-means, drawing from ``random_state`` as scikit-learn."""
    return KMeans(n_clusters=n_clusters, n_init=1, random_state=random_state).fit(X).labels_


def _kmeans_plusplus_indices(X, n_clusters, random_state):
    """Indices of the k-means++ seeds, drawing from ``random_state`` as scikit-learn."""
    _, indices = kmeans_plusplus(X, n_clusters, random_state=random_state)
    return indices


class EStepResult(NamedTuple):
    """What an E-step hands to the M-step and to the lower bound.

    Either ``resp`` or ``moments`` is set: a plain E-step returns the responsibilities;
    a fused pass (full covariances) returns the M-step sums it accumulated instead.

    Attributes
    ----------
    log_prob_norm : float
        Mean over the samples of ``log p(x_i)`` under the current parameters.
    resp : ndarray of shape (n_samples, n_components) or None
        Responsibilities (not their logarithm: the kernel exponentiates them already).
    moments : object or None
        The M-step sums of a fused pass (``_ShiftedMoments``).
    rlogr : float or None
        ``sum_ik r_ik log r_ik`` when the fused pass computed it.
    """

    log_prob_norm: float
    resp: np.ndarray | None = None
    moments: object | None = None
    rlogr: float | None = None

    @property
    def statistics(self):
        """The input of ``_estimate_gaussian_parameters``: the sums, else ``resp``."""
        return self.resp if self.moments is None else self.moments


class BaseMixture(DensityMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class for mixture models fitted by EM.

    A template method, as scikit-learn's: ``fit_predict`` runs the ``n_init`` and
    iteration loops; one iteration is ``_e_step`` -> ``_m_step`` ->
    ``_compute_lower_bound`` (:meth:`_em_iteration`). Subclasses implement
    ``_check_parameters``, ``_initialize``, those three steps (on the kernels),
    ``_estimate_log_prob_norm`` (prediction) and ``_get_parameters``/``_set_parameters``.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components,
        tol,
        reg_covar,
        max_iter,
        n_init,
        init_params,
        random_state,
        warm_start,
        verbose,
        verbose_interval,
    ):
        self.n_components = n_components
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    @abstractmethod
    def _check_parameters(self, X):
        """Validate the user-provided initial parameters against ``X``."""

    def _check_init_params_config(self):
        # scikit-learn refuses the k-means based inits under array API dispatch; we keep
        # the same behaviour (our kernels are NumPy/Numba only).
        allowed_init_params = ["random", "random_from_data"]
        if get_config()["array_api_dispatch"] and self.init_params not in allowed_init_params:
            raise NotImplementedError(
                f"Allowed `init_params` are {allowed_init_params} if "
                f"'array_api_dispatch' is enabled. You passed "
                f"init_params={self.init_params!r}, which are not implemented to work "
                "with 'array_api_dispatch' enabled. Please disable "
                f"'array_api_dispatch' to use init_params={self.init_params!r}."
            )

    def _initialize_parameters(self, X, random_state):
        """Initialise the parameters, drawing from ``random_state`` exactly as scikit-learn.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        random_state : RandomState
        """
        n_samples, _ = X.shape

        if self.init_params == "kmeans":
            resp = np.zeros((n_samples, self.n_components), dtype=X.dtype)
            label = _kmeans_labels(X, self.n_components, random_state)
            resp[np.arange(n_samples), label] = 1
        elif self.init_params == "random":
            resp = np.asarray(
                random_state.uniform(size=(n_samples, self.n_components)), dtype=X.dtype
            )
            resp /= np.sum(resp, axis=1)[:, np.newaxis]
        elif self.init_params == "random_from_data":
            resp = np.zeros((n_samples, self.n_components), dtype=X.dtype)
            indices = random_state.choice(n_samples, size=self.n_components, replace=False)
            resp[indices, np.arange(self.n_components)] = 1
        elif self.init_params == "k-means++":
            resp = np.zeros((n_samples, self.n_components), dtype=X.dtype)
            indices = _kmeans_plusplus_indices(X, self.n_components, random_state)
            resp[indices, np.arange(self.n_components)] = 1

        self._initialize(X, resp)

    @abstractmethod
    def _initialize(self, X, resp):
        """Initialise the model parameters from responsibilities ``resp`` (or None)."""

    def fit(self, X, y=None):
        """Estimate model parameters with the EM algorithm.

        The method fits the model ``n_init`` times and sets the parameters with
        which the model has the largest likelihood or lower bound. Within each
        trial, the method iterates between E-step and M-step for ``max_iter``
        times until the change of likelihood or lower bound is less than
        ``tol``, otherwise, a ``ConvergenceWarning`` is raised.
        If ``warm_start`` is ``True``, then ``n_init`` is ignored and a single
        initialization is performed upon the first call. Upon consecutive
        calls, training starts where it left off.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        # parameters are validated in fit_predict
        self.fit_predict(X, y)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None):
        """Estimate model parameters using X and predict the labels for X.

        The method fits the model ``n_init`` times and sets the parameters with
        which the model has the largest likelihood or lower bound. Within each
        trial, the method iterates between E-step and M-step for `max_iter`
        times until the change of likelihood or lower bound is less than
        `tol`, otherwise, a :class:`~sklearn.exceptions.ConvergenceWarning` is
        raised. After fitting, it predicts the most probable label for the
        input data points.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        # --- dask dispatch (sklearn_deep.mixture._dask_mixture) ---
        if _is_dask_array(X):
            from . import _dask_mixture

            return _dask_mixture._fit_predict_dask(self, X)
        # --- end dask dispatch ---
        with report_compilation(self.verbose, type(self).__name__):
            return self._fit_predict(X)

    def _fit_predict(self, X):
        """The body of :meth:`fit_predict` (inside the compile report of ``verbose``)."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {X.shape[0]}"
            )
        self._check_parameters(X)
        X = np.ascontiguousarray(X)

        # if we enable warm_start, we will have a unique initialisation
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        n_init = self.n_init if do_init else 1

        max_lower_bound = -np.inf
        best_lower_bounds = []
        self.converged_ = False

        random_state = check_random_state(self.random_state)

        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)

            if do_init:
                self._initialize_parameters(X, random_state)

            lower_bound = -np.inf if do_init else self.lower_bound_
            current_lower_bounds = []

            if self.max_iter == 0:
                best_params = self._get_parameters()
                best_n_iter = 0
            else:
                converged = False
                for n_iter in range(1, self.max_iter + 1):
                    prev_lower_bound = lower_bound

                    lower_bound = self._em_iteration(X)
                    current_lower_bounds.append(lower_bound)

                    change = lower_bound - prev_lower_bound
                    self._print_verbose_msg_iter_end(n_iter, change)

                    if abs(change) < self.tol:
                        converged = True
                        break

                self._print_verbose_msg_init_end(lower_bound, converged)

                if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                    max_lower_bound = lower_bound
                    best_params = self._get_parameters()
                    best_n_iter = n_iter
                    best_lower_bounds = current_lower_bounds
                    self.converged_ = converged

        # Should only warn about convergence if max_iter > 0, otherwise
        # the user is assumed to have used 0-iters initialization
        # to get the initial means.
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                (
                    "Best performing initialization did not converge. "
                    "Try different init parameters, or increase max_iter, "
                    "tol, or check for degenerate data."
                ),
                ConvergenceWarning,
                stacklevel=2,
            )

        self._set_parameters(best_params)
        self.n_iter_ = best_n_iter
        self.lower_bound_ = max_lower_bound
        self.lower_bounds_ = best_lower_bounds

        # Always do a final e-step to guarantee that the labels returned by
        # fit_predict(X) are always consistent with fit(X).predict(X)
        # for any value of max_iter and tol (and any random_state).
        return self._predict_validated(X)

    def _em_iteration(self, X):
        """One EM iteration: the E-step, the M-step, then the lower bound.

        Returns
        -------
        lower_bound : float
        """
        estep = self._e_step(X)
        self._m_step(X, estep)
        return self._compute_lower_bound(estep)

    @abstractmethod
    def _e_step(self, X):
        """E step.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)

        Returns
        -------
        estep : EStepResult
        """

    @abstractmethod
    def _m_step(self, X, estep):
        """M step from the :class:`EStepResult` ``estep``."""

    @abstractmethod
    def _compute_lower_bound(self, estep):
        """Lower bound monitored by EM, after the M-step of ``estep``."""

    @abstractmethod
    def _get_parameters(self):
        pass

    @abstractmethod
    def _set_parameters(self, params):
        pass

    @abstractmethod
    def _estimate_log_prob_norm(self, X, out):
        """Run the E-step kernel on the fitted parameters.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        out : {None, 'weighted_log_prob', 'resp'}
            Which per-component array to return as well.

        Returns
        -------
        log_prob_norm : ndarray of shape (n_samples,)
        values : ndarray of shape (n_samples, n_components) or None
        """

    def _predict_validated(self, X):
        _, weighted_log_prob = self._estimate_log_prob_norm(X, "weighted_log_prob")
        return np.argmax(weighted_log_prob, axis=1)

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log-likelihood of each sample in `X` under the current model.
        """
        # --- dask dispatch (sklearn_deep.mixture._dask_mixture) ---
        if _is_dask_array(X):
            from . import _dask_mixture

            return _dask_mixture._score_samples_dask(self, X)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        log_prob_norm, _ = self._estimate_log_prob_norm(X, None)
        return log_prob_norm

    def score(self, X, y=None):
        """Compute the per-sample average log-likelihood of the given data X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_dimensions)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            Log-likelihood of `X` under the Gaussian mixture model.
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Predict the labels for the data samples in X using trained model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        # --- dask dispatch (sklearn_deep.mixture._dask_mixture) ---
        if _is_dask_array(X):
            from . import _dask_mixture

            return _dask_mixture._predict_dask(self, X)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return self._predict_validated(X)

    def predict_proba(self, X):
        """Evaluate the components' density for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            List of n_features-dimensional data points. Each row
            corresponds to a single data point.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Density of each Gaussian component for each sample in X.
        """
        # --- dask dispatch (sklearn_deep.mixture._dask_mixture) ---
        if _is_dask_array(X):
            from . import _dask_mixture

            return _dask_mixture._predict_proba_dask(self, X)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        _, resp = self._estimate_log_prob_norm(X, "resp")
        return resp

    def sample(self, n_samples=1):
        """Generate random samples from the fitted Gaussian distribution.

        Draws from ``check_random_state(self.random_state)`` in the same order as
        scikit-learn, so the same ``random_state`` gives the same samples.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Randomly generated sample.

        y : ndarray of shape (n_samples,)
            Component labels.
        """
        check_is_fitted(self)

        if n_samples < 1:
            raise ValueError(
                # scikit-learn prints n_components here (sic): kept for identical messages
                f"Invalid value for 'n_samples': {self.n_components:d} . The sampling "
                "requires at least one sample."
            )

        _, n_features = self.means_.shape
        rng = check_random_state(self.random_state)
        n_samples_comp = rng.multinomial(n_samples, self.weights_)

        if self.covariance_type == "full":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, covariance, int(sample))
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )
        elif self.covariance_type == "tied":
            X = np.vstack(
                [
                    rng.multivariate_normal(mean, self.covariances_, int(sample))
                    for (mean, sample) in zip(self.means_, n_samples_comp)
                ]
            )
        else:
            X = np.vstack(
                [
                    mean + rng.standard_normal(size=(sample, n_features)) * np.sqrt(covariance)
                    for (mean, covariance, sample) in zip(
                        self.means_, self.covariances_, n_samples_comp
                    )
                ]
            )

        y = np.concatenate(
            [np.full(int(n_samples_comp[i]), i, dtype=np.int64) for i in range(len(n_samples_comp))]
        )
        return np.asarray(X, dtype=np.float64), y

    def _print_verbose_msg_init_beg(self, n_init):
        """Print verbose message on initialization."""
        if self.verbose == 1:
            print(f"Initialization {n_init:d}")
        elif self.verbose >= 2:
            print(f"Initialization {n_init:d}")
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        """Print verbose message on initialization."""
        if n_iter % self.verbose_interval == 0:
            if self.verbose == 1:
                print(f"  Iteration {n_iter:d}")
            elif self.verbose >= 2:
                cur_time = time()
                print(
                    f"  Iteration {n_iter:d}\t time lapse "
                    f"{cur_time - self._iter_prev_time:.5f}s\t ll change {diff_ll:.5f}"
                )
                self._iter_prev_time = cur_time

    def _print_verbose_msg_init_end(self, lb, init_has_converged):
        """Print verbose message on the end of iteration."""
        converged_msg = "converged" if init_has_converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {converged_msg}.")
        elif self.verbose >= 2:
            t = time() - self._init_prev_time
            print(f"Initialization {converged_msg}. time lapse {t:.5f}s\t lower bound {lb:.5f}.")
