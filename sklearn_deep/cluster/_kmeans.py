"""K-means clustering on Numba kernels: a drop-in for :class:`sklearn.cluster.KMeans`.

The estimator mirrors scikit-learn 1.9's ``KMeans`` (parameters, validation, warnings,
random-number consumption, convergence rules, empty-cluster relocation); the per-sample work
runs in :mod:`sklearn_deep.cluster._kmeans_core` and its kernel modules.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import (
    _check_sample_weight,
    _is_arraylike_not_scalar,
    check_is_fitted,
    validate_data,
)

from .._numba_config import (
    effective_n_threads,
    report_compilation,
)
from ..utils._dask import _is_dask_array  # dask dispatch
from . import _kmeans_kernels as _k
from ._kmeans_core import (
    _csr_parts,
    _is_same_clustering,
    _kmeans_plusplus,
    _kmeans_single,
    _labels_inertia,
    _sq_norms,
    _threads_for,
    _tolerance,
    _writeable,
    _x_mean,
)

###############################################################################
# k-means++


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "sample_weight": ["array-like", None],
        "x_squared_norms": ["array-like", None],
        "random_state": ["random_state"],
        "n_local_trials": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def kmeans_plusplus(
    X,
    n_clusters,
    *,
    sample_weight=None,
    x_squared_norms=None,
    random_state=None,
    n_local_trials=None,
):
    """Init n_clusters seeds according to (greedy) k-means++.

    Same contract and random-number consumption as
    :func:`sklearn.cluster.kmeans_plusplus`: for the same ``random_state`` it picks the same
    indices (up to floating-point ties).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to pick seeds from.
    n_clusters : int
        The number of centroids to initialize.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights for each observation in `X`. If `None`, all observations
        are assigned equal weight.
    x_squared_norms : array-like of shape (n_samples,), default=None
        Squared Euclidean norm of each data point.
    random_state : int or RandomState instance, default=None
        Determines random number generation for centroid initialization.
    n_local_trials : int, default=None
        The number of seeding trials for each center (except the first), of which the one
        reducing inertia the most is greedily chosen. None means ``2 + int(log(k))``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        The initial centers for k-means.
    indices : ndarray of shape (n_clusters,)
        The index location of the chosen centers in the data array X. For a
        given index and center, X[index] = center.

    Examples
    --------
    >>> from sklearn_deep.cluster import kmeans_plusplus
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> centers, indices = kmeans_plusplus(X, n_clusters=2, random_state=0)
    >>> centers
    array([[10,  2],
           [ 1,  0]])
    >>> indices
    array([3, 2])
    """
    check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
    sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype)

    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")

    if x_squared_norms is not None:
        x_squared_norms = check_array(x_squared_norms, dtype=X.dtype, ensure_2d=False)
        if x_squared_norms.shape[0] != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {x_squared_norms.shape[0]} should "
                f"be equal to the length of n_samples {X.shape[0]}."
            )
    # (computed by _kmeans_plusplus for sparse X only: dense distances are direct)

    random_state = check_random_state(random_state)
    with _threads_for(X.shape[0], n_clusters, X.shape[1]):
        centers, indices = _kmeans_plusplus(
            X, n_clusters, x_squared_norms, sample_weight, random_state, n_local_trials
        )
    return centers, indices


###############################################################################
# estimator


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """K-Means clustering (Numba kernels), a drop-in for :class:`sklearn.cluster.KMeans`.

    Same parameters, attributes, methods, warnings and errors as scikit-learn 1.9's
    ``KMeans``, and the same use of ``random_state``: for a given seed it finds the same
    clustering (up to floating-point ties). Dense data run Lloyd's algorithm accelerated by
    exact bounds (Hamerly's, or Yinyang's groups for many centres in float64) for both values
    of ``algorithm``; the labels are those plain Lloyd would give. Dense X is centred on the
    fly, never copied nor modified. Work is parallel over fixed sample blocks, so results do
    not depend on the number of Numba threads.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form as well as the number of centroids to generate.

    init : {'k-means++', 'random'}, callable or array-like of shape \
            (n_clusters, n_features), default='k-means++'
        Method for initialization: greedy k-means++, ``n_clusters`` random rows of X,
        explicit initial centres, or a callable ``init(X, n_clusters, random_state)``.

    n_init : 'auto' or int, default='auto'
        Number of runs with different centroid seeds; the best in inertia is kept.
        'auto' means 1 for 'k-means++' or an array, 10 for 'random' or a callable.

    max_iter : int, default=300
        Maximum number of iterations of the k-means algorithm for a single run.

    tol : float, default=1e-4
        Relative tolerance (times the mean feature variance) on the squared Frobenius norm
        of the centre shift between two iterations to declare convergence.

    verbose : int, default=0
        Verbosity mode.

    random_state : int, RandomState instance or None, default=None
        Determines random number generation for centroid initialization.

    copy_x : bool, default=True
        Accepted for compatibility. Dense X is never modified (the kernels centre it on the
        fly), so it is never copied; sparse X is copied when True.

    algorithm : {"lloyd", "elkan"}, default="lloyd"
        Accepted for compatibility; both run the same exact bound-accelerated Lloyd
        iteration and give the same result.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Coordinates of cluster centers.

    labels_ : ndarray of shape (n_samples,)
        Labels of each point.

    inertia_ : float
        Sum of squared distances of samples to their closest cluster center, weighted by
        the sample weights if provided.

    n_iter_ : int
        Number of iterations run.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature names
        that are all strings.

    See Also
    --------
    sklearn.cluster.KMeans : The reference implementation.

    Examples
    --------
    >>> from sklearn_deep.cluster import KMeans
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> kmeans = KMeans(n_clusters=2, random_state=0, n_init="auto").fit(X)
    >>> kmeans.labels_
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> kmeans.predict([[0, 0], [12, 3]])
    array([1, 0], dtype=int32)
    >>> kmeans.cluster_centers_
    array([[10.,  2.],
           [ 1.,  2.]])
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "init": [StrOptions({"k-means++", "random"}), callable, "array-like"],
        "n_init": [
            StrOptions({"auto"}),
            Interval(Integral, 1, None, closed="left"),
        ],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "copy_x": ["boolean"],
        "algorithm": [StrOptions({"lloyd", "elkan"})],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        verbose=0,
        random_state=None,
        copy_x=True,
        algorithm="lloyd",
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    # -- validation helpers (same messages as scikit-learn) -----------------------------------

    def _check_params_vs_input(self, X, default_n_init=10):
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")

        self._tol = _tolerance(X, self.tol)

        if self.n_init == "auto":
            if isinstance(self.init, str) and self.init == "k-means++":
                self._n_init = 1
            elif isinstance(self.init, str) and self.init == "random":
                self._n_init = default_n_init
            elif callable(self.init):
                self._n_init = default_n_init
            else:  # array-like
                self._n_init = 1
        else:
            self._n_init = self.n_init

        if _is_arraylike_not_scalar(self.init) and self._n_init != 1:
            warnings.warn(
                (
                    "Explicit initial center position passed: performing only"
                    f" one init in {self.__class__.__name__} instead of "
                    f"n_init={self._n_init}."
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._n_init = 1

        self._algorithm = self.algorithm
        if self._algorithm == "elkan" and self.n_clusters == 1:
            warnings.warn(
                (
                    "algorithm='elkan' doesn't make sense for a single "
                    "cluster. Using 'lloyd' instead."
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._algorithm = "lloyd"

    def _validate_center_shape(self, X, centers, n_centroids=None):
        if n_centroids is None:
            n_centroids = self.n_clusters
        if centers.shape[0] != n_centroids:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not "
                f"match the number of clusters {n_centroids}."
            )
        if centers.shape[1] != X.shape[1]:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not "
                f"match the number of features of the data {X.shape[1]}."
            )

    def _check_test_data(self, X):
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            reset=False,
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
        )
        return self._prepare_input(X)

    @staticmethod
    def _prepare_input(X):
        """CSR in canonical format (sorted indices, duplicate entries summed: the kernels'
        squared norms and products need one entry per position); writeable arrays (see
        :func:`_writeable`)."""
        if sp.issparse(X) and not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()  # (sorts the indices too)
        return _writeable(X)

    def _init_centroids(
        self,
        X,
        x_squared_norms,
        init,
        random_state,
        sample_weight,
        init_size=None,
        n_centroids=None,
        x_mean=None,
    ):
        """Compute the initial centroids (same random-number use as scikit-learn).

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        x_squared_norms : ndarray of shape (n_samples,) or None
        init : {'k-means++', 'random'}, callable or ndarray of shape (n_clusters, n_features)
        random_state : RandomState instance
        sample_weight : ndarray of shape (n_samples,)
        init_size : int, default=None
            Number of samples to randomly sample for the initialization.
        n_centroids : int, default=None
            Number of centroids (default ``self.n_clusters``).
        x_mean : ndarray of shape (n_features,), default=None
            Dense X is initialised as ``X - x_mean`` (centred on the fly); the centres are
            in those coordinates.

        Returns
        -------
        centers : ndarray of shape (n_clusters, n_features)
        """
        n_samples = X.shape[0]
        n_clusters = self.n_clusters if n_centroids is None else n_centroids

        if init_size is not None and init_size < n_samples:
            init_indices = random_state.randint(0, n_samples, init_size)
            X = X[init_indices]
            if x_squared_norms is not None:
                x_squared_norms = x_squared_norms[init_indices]
            n_samples = X.shape[0]
            sample_weight = sample_weight[init_indices]

        if isinstance(init, str) and init == "k-means++":
            centers, _ = _kmeans_plusplus(
                X,
                n_clusters,
                random_state=random_state,
                x_squared_norms=x_squared_norms,
                sample_weight=sample_weight,
                x_mean=x_mean if not sp.issparse(X) else None,
            )
        elif isinstance(init, str) and init == "random":
            seeds = random_state.choice(
                n_samples,
                size=n_clusters,
                replace=False,
                p=sample_weight / sample_weight.sum(),
            )
            centers = X[seeds]
            if x_mean is not None and not sp.issparse(X):
                centers = centers - x_mean
        elif _is_arraylike_not_scalar(self.init):
            centers = init
        elif callable(init):
            if x_mean is not None and not sp.issparse(X):
                X = X - x_mean  # the callable sees the centred data, as in scikit-learn
            centers = init(X, n_clusters, random_state=random_state)
            centers = check_array(centers, dtype=X.dtype, copy=False, order="C")
            self._validate_center_shape(X, centers, n_centroids=n_clusters)

        if sp.issparse(centers):
            centers = centers.toarray()

        return centers

    # -- fitting ------------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training instances to cluster. Converted to C order (copied if needed); sparse
            input is converted to CSR.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X. If None, all observations are assigned
            equal weight. `sample_weight` is not used during initialization if `init` is a
            callable or a user provided array.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        # --- dask dispatch (sklearn_deep.cluster._dask_kmeans) ---
        if _is_dask_array(X):
            return _dask_kmeans._fit_dask(self, X, sample_weight)
        # --- end dask dispatch ---
        # dense X is never modified (the kernels centre it on the fly), so it is not copied
        # whatever copy_x says
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            copy=self.copy_x and sp.issparse(X),
            accept_large_sparse=False,
        )
        X = self._prepare_input(X)

        self._check_params_vs_input(X)

        random_state = check_random_state(self.random_state)
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        self._n_threads = effective_n_threads()

        init = self.init
        init_is_array_like = _is_arraylike_not_scalar(init)
        if init_is_array_like:
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)
        elif isinstance(init, str) and np.any(sample_weight < 0):
            # scikit-learn fails here too (inside RandomState.choice); say why
            raise ValueError(
                f"init={init!r} samples points with probability proportional to "
                "sample_weight, which has negative values: probabilities are not "
                "non-negative. Pass non-negative sample_weight."
            )

        # (with verbose: whether Numba compiles kernels for this fit, and where they go)
        with report_compilation(self.verbose, type(self).__name__):
            if not sp.issparse(X):
                # the data are clustered centred (as scikit-learn does, for accuracy), as
                # X - X_mean computed on the fly
                X_mean = _x_mean(X)
                if init_is_array_like:
                    init -= X_mean
                x_squared_norms = None  # dense kernels compute differences directly
            else:
                X_mean = None
                x_squared_norms = row_norms(X, squared=True)

            with _threads_for(X.shape[0], self.n_clusters, X.shape[1]):
                best = self._fit_runs(X, sample_weight, init, x_squared_norms, random_state, X_mean)
        best_labels, best_centers, best_inertia, best_n_iter = best

        if not sp.issparse(X):
            best_centers += X_mean

        distinct_clusters = np.count_nonzero(np.bincount(best_labels, minlength=self.n_clusters))
        if distinct_clusters < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({distinct_clusters}) found smaller than "
                f"n_clusters ({self.n_clusters}). Possibly due to duplicate points "
                "in X.",
                ConvergenceWarning,
                stacklevel=2,
            )

        self.cluster_centers_ = best_centers
        self._n_features_out = self.cluster_centers_.shape[0]
        self.labels_ = best_labels
        self.inertia_ = best_inertia
        self.n_iter_ = best_n_iter
        return self

    def _fit_runs(self, X, sample_weight, init, x_squared_norms, random_state, x_mean=None):
        """The n_init loop: returns (labels, centers, inertia, n_iter) of the best run."""
        best_inertia, best_labels = None, None
        for _ in range(self._n_init):
            centers_init = self._init_centroids(
                X,
                x_squared_norms=x_squared_norms,
                init=init,
                random_state=random_state,
                sample_weight=sample_weight,
                x_mean=x_mean,
            )
            if self.verbose:
                print("Initialization complete")

            labels, inertia, centers, n_iter_ = _kmeans_single(
                X,
                sample_weight,
                centers_init,
                max_iter=self.max_iter,
                verbose=self.verbose,
                tol=self._tol,
                x_mean=x_mean,
            )

            if best_inertia is None or (
                inertia < best_inertia
                and not _is_same_clustering(labels, best_labels, self.n_clusters)
            ):
                best_labels = labels
                best_centers = centers
                best_inertia = inertia
                best_n_iter = n_iter_
        return best_labels, best_centers, best_inertia, best_n_iter

    def fit_predict(self, X, y=None, sample_weight=None):
        """Compute cluster centers and predict cluster index for each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def predict(self, X):
        """Predict the closest cluster each sample in X belongs to.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to predict.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        # --- dask dispatch (sklearn_deep.cluster._dask_kmeans) ---
        if _is_dask_array(X):
            return _dask_kmeans._predict_dask(self, X)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = np.ones(X.shape[0], dtype=X.dtype)
        with _threads_for(*X.shape[:1], *self.cluster_centers_.shape):
            return _labels_inertia(X, sample_weight, self.cluster_centers_, return_inertia=False)

    def fit_transform(self, X, y=None, sample_weight=None):
        """Compute clustering and transform X to cluster-distance space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            X transformed in the new space.
        """
        return self.fit(X, sample_weight=sample_weight)._transform(X)

    def transform(self, X):
        """Transform X to a cluster-distance space.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data to transform.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_clusters)
            Euclidean distance of each sample to each cluster centre.
        """
        # --- dask dispatch (sklearn_deep.cluster._dask_kmeans) ---
        if _is_dask_array(X):
            return _dask_kmeans._transform_dask(self, X)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = self._check_test_data(X)
        return self._transform(X)

    def _transform(self, X):
        """Guts of transform (no validation of X beyond dtype/layout)."""
        # --- dask dispatch (sklearn_deep.cluster._dask_kmeans) ---
        if _is_dask_array(X):
            return _dask_kmeans._transform_dask(self, X)
        # --- end dask dispatch ---
        X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32], order="C")
        dtype = np.result_type(X.dtype, self.cluster_centers_.dtype)
        X = self._prepare_input(X.astype(dtype, copy=False))
        centers = np.ascontiguousarray(self.cluster_centers_, dtype=dtype)
        out = np.empty((X.shape[0], centers.shape[0]), dtype=X.dtype)
        if sp.issparse(X):
            _k._euclidean_sparse(*_csr_parts(X), centers, _sq_norms(centers), out)
        else:
            _k._euclidean_dense(X, np.ascontiguousarray(centers.T), out)
        return out

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the value of X on the K-means objective.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            New data.
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X.

        Returns
        -------
        score : float
            Opposite of the value of X on the K-means objective.
        """
        # --- dask dispatch (sklearn_deep.cluster._dask_kmeans) ---
        if _is_dask_array(X):
            return _dask_kmeans._score_dask(self, X, sample_weight)
        # --- end dask dispatch ---
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        with _threads_for(X.shape[0], *self.cluster_centers_.shape):
            _, scores = _labels_inertia(X, sample_weight, self.cluster_centers_)
        return -scores

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "sample_weight": ["array-like", None],
        "return_n_iter": [bool],
    },
    prefer_skip_nested_validation=False,
)
def k_means(
    X,
    n_clusters,
    *,
    sample_weight=None,
    init="k-means++",
    n_init="auto",
    max_iter=300,
    verbose=False,
    tol=1e-4,
    random_state=None,
    copy_x=True,
    algorithm="lloyd",
    return_n_iter=False,
):
    """Perform K-means clustering (functional interface of :class:`~sklearn_deep.cluster.KMeans`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The observations to cluster.
    n_clusters : int
        The number of clusters to form.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights for each observation in `X`.
    init, n_init, max_iter, verbose, tol, random_state, copy_x, algorithm
        See :class:`~sklearn_deep.cluster.KMeans`.
    return_n_iter : bool, default=False
        Whether or not to return the number of iterations.

    Returns
    -------
    centroid : ndarray of shape (n_clusters, n_features)
    label : ndarray of shape (n_samples,)
    inertia : float
    best_n_iter : int
        Returned only if `return_n_iter` is True.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.cluster import k_means
    >>> X = np.array([[1, 2], [1, 4], [1, 0],
    ...               [10, 2], [10, 4], [10, 0]])
    >>> centroid, label, inertia = k_means(X, n_clusters=2, random_state=0)
    >>> label
    array([1, 1, 1, 0, 0, 0], dtype=int32)
    >>> float(inertia)
    16.0
    """
    est = KMeans(
        n_clusters=n_clusters,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        verbose=verbose,
        tol=tol,
        random_state=random_state,
        copy_x=copy_x,
        algorithm=algorithm,
    ).fit(X, sample_weight=sample_weight)
    if return_n_iter:
        return est.cluster_centers_, est.labels_, est.inertia_, est.n_iter_
    return est.cluster_centers_, est.labels_, est.inertia_


# dask dispatch: imported last (it imports helpers from this module)
from . import _dask_kmeans  # noqa: E402
