"""Mini-batch k-means: a drop-in for :class:`sklearn.cluster.MiniBatchKMeans` (1.9).

Same parameters, defaults, attributes, random-number use, early stopping (exponentially
weighted average of the batch inertia, squared centre change against ``tol``), random
reassignment of light centres and ``partial_fit``. Labels and inertia come from our Lloyd
E-step kernel; the incremental centre update (``c_j <- (c_j W_j + sum_i w_i x_i) / (W_j +
sum_i w_i)``) is a few NumPy lines on the mini-batch, in the order scikit-learn's Cython
update adds the samples. Streaming: ``partial_fit`` on successive chunks (a loop over the
blocks of a dask array, or ``dask_ml.wrappers.Incremental``).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import _fit_context
from sklearn.cluster import MiniBatchKMeans as _SkMiniBatchKMeans
from sklearn.utils import check_array, check_random_state
from sklearn.utils.extmath import row_norms
from sklearn.utils.validation import _check_sample_weight, _is_arraylike_not_scalar, validate_data

from .._numba_config import effective_n_threads
from ._kmeans import KMeans
from ._kmeans_core import _labels_inertia, _threads_for, _writeable

###############################################################################
# one mini-batch step


def _minibatch_update(X, sample_weight, centers_old, centers_new, weight_sums, labels):
    """Move each centre to the weighted mean of its old position (weight ``weight_sums``)
    and its new members, as scikit-learn's ``_minibatch_update_dense``.

    ``centers_new`` (may be ``centers_old``) and ``weight_sums`` are written.
    """
    if sp.issparse(X):
        X = X.toarray()
    dtype = centers_old.dtype
    n_clusters = centers_old.shape[0]
    wsum = np.bincount(labels, weights=sample_weight, minlength=n_clusters).astype(dtype)
    touched = wsum > 0
    acc = np.asarray(centers_old * weight_sums[:, np.newaxis], dtype=dtype)
    # samples added one after another in index order, as the Cython loop does
    np.add.at(acc, labels, X * sample_weight[:, np.newaxis].astype(dtype))
    new_weights = weight_sums + wsum
    out = centers_old.copy()
    out[touched] = acc[touched] * (1 / new_weights[touched])[:, np.newaxis]
    centers_new[...] = out
    weight_sums[touched] = new_weights[touched]


def _mini_batch_step(
    X,
    sample_weight,
    centers,
    centers_new,
    weight_sums,
    random_state,
    random_reassign=False,
    reassignment_ratio=0.01,
    verbose=False,
):
    """One mini-batch step (scikit-learn's ``_mini_batch_step``); returns the batch inertia
    of the centres before the update."""
    with _threads_for(X.shape[0], *centers.shape):
        labels, inertia = _labels_inertia(X, sample_weight, centers)
    _minibatch_update(X, sample_weight, centers, centers_new, weight_sums, labels)

    if random_reassign and reassignment_ratio > 0:
        to_reassign = weight_sums < reassignment_ratio * weight_sums.max()
        # pick at most .5 * batch_size samples as new centers
        if to_reassign.sum() > 0.5 * X.shape[0]:
            indices_dont_reassign = np.argsort(weight_sums)[int(0.5 * X.shape[0]) :]
            to_reassign[indices_dont_reassign] = False
        n_reassigns = to_reassign.sum()
        if n_reassigns:
            new_centers = random_state.choice(X.shape[0], replace=False, size=n_reassigns)
            if verbose:
                print(f"[MiniBatchKMeans] Reassigning {n_reassigns} cluster centers.")
            rows = X[new_centers]
            centers_new[to_reassign] = rows.toarray() if sp.issparse(rows) else rows
        # reset counts of reassigned centers, but not too small (scikit-learn's heuristic)
        weight_sums[to_reassign] = np.min(weight_sums[~to_reassign])
    return inertia


###############################################################################
# estimator


class MiniBatchKMeans(KMeans):
    """Mini-Batch K-Means clustering, a drop-in for :class:`sklearn.cluster.MiniBatchKMeans`.

    Labels and inertia use the Numba E-step of :class:`~sklearn_deep.cluster.KMeans`; the
    centre updates, early stopping and random reassignment follow scikit-learn 1.9 step for
    step (same random-number use: from the same ``random_state`` and data the same
    mini-batches are drawn).

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters to form as well as the number of centroids to generate.
    init : {'k-means++', 'random'}, callable or array-like of shape \
            (n_clusters, n_features), default='k-means++'
        Method for initialization (on ``init_size`` random samples).
    max_iter : int, default=100
        Maximum number of passes over the complete dataset before stopping.
    batch_size : int, default=1024
        Size of the mini batches.
    verbose : int, default=0
        Verbosity mode.
    compute_labels : bool, default=True
        Compute label assignment and inertia for the complete dataset once the
        minibatch optimization has converged in fit.
    random_state : int, RandomState instance or None, default=None
        Determines random number generation for centroid initialization and random
        reassignment.
    tol : float, default=0.0
        Early stopping on the normalised squared centre change (0 disables it).
    max_no_improvement : int or None, default=10
        Early stopping after this many consecutive mini-batches without improvement of the
        smoothed inertia (None disables it).
    init_size : int, default=None
        Number of samples to randomly sample for speeding up the initialization
        (default ``3 * batch_size``, at least ``3 * n_clusters``).
    n_init : 'auto' or int, default="auto"
        Number of random initializations tried (the best on the validation set is kept).
    reassignment_ratio : float, default=0.01
        Fraction of the maximum number of counts below which a centre is reassigned.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Coordinates of cluster centers.
    labels_ : ndarray of shape (n_samples,)
        Labels of each point (if compute_labels is set to True).
    inertia_ : float
        The value of the inertia criterion associated with the chosen partition if
        compute_labels is set to True, else the smoothed batch inertia times the sum of
        the sample weights.
    n_iter_ : int
        Number of iterations over the full dataset.
    n_steps_ : int
        Number of minibatches processed.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit (string feature names only).

    See Also
    --------
    KMeans : The classic implementation of the clustering method.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.cluster import MiniBatchKMeans
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [4, 2], [4, 0], [4, 4],
    ...               [4, 5], [0, 1], [2, 2], [3, 2], [5, 5], [1, -1]])
    >>> kmeans = MiniBatchKMeans(n_clusters=2, random_state=0, batch_size=6, n_init="auto")
    >>> kmeans = kmeans.partial_fit(X[0:6, :])
    >>> kmeans = kmeans.partial_fit(X[6:12, :])
    >>> kmeans.cluster_centers_
    array([[3.375, 3.   ],
           [0.75 , 0.5  ]])
    >>> kmeans.predict([[0, 0], [4, 4]])
    array([1, 0], dtype=int32)
    """

    _parameter_constraints: dict = dict(_SkMiniBatchKMeans._parameter_constraints)

    # KMeans's input checks read it; mini-batch k-means has no algorithm parameter
    algorithm = "lloyd"

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        max_iter=100,
        batch_size=1024,
        verbose=0,
        compute_labels=True,
        random_state=None,
        tol=0.0,
        max_no_improvement=10,
        init_size=None,
        n_init="auto",
        reassignment_ratio=0.01,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.verbose = verbose
        self.compute_labels = compute_labels
        self.random_state = random_state
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.init_size = init_size
        self.n_init = n_init
        self.reassignment_ratio = reassignment_ratio

    def _check_params_vs_input(self, X):
        super()._check_params_vs_input(X, default_n_init=3)
        self._batch_size = min(self.batch_size, X.shape[0])
        self._init_size = self.init_size
        if self._init_size is None:
            self._init_size = 3 * self._batch_size
            if self._init_size < self.n_clusters:
                self._init_size = 3 * self.n_clusters
        elif self._init_size < self.n_clusters:
            import warnings

            warnings.warn(
                (
                    f"init_size={self._init_size} should be larger than "
                    f"n_clusters={self.n_clusters}. Setting it to "
                    "min(3*n_clusters, n_samples)"
                ),
                RuntimeWarning,
                stacklevel=2,
            )
            self._init_size = 3 * self.n_clusters
        self._init_size = min(self._init_size, X.shape[0])

    def _mini_batch_convergence(
        self, step, n_steps, n_samples, centers_squared_diff, batch_inertia
    ):
        """Early stopping (scikit-learn's rules): EWA of the batch inertia, ``tol``."""
        batch_inertia /= self._batch_size
        step = step + 1
        if step == 1:
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch inertia: {batch_inertia}")
            return False
        if self._ewa_inertia is None:
            self._ewa_inertia = batch_inertia
        else:
            alpha = min(self._batch_size * 2.0 / (n_samples + 1), 1)
            self._ewa_inertia = self._ewa_inertia * (1 - alpha) + batch_inertia * alpha
        if self.verbose:
            print(
                f"Minibatch step {step}/{n_steps}: mean batch inertia: "
                f"{batch_inertia}, ewa inertia: {self._ewa_inertia}"
            )
        if self._tol > 0.0 and centers_squared_diff <= self._tol:
            if self.verbose:
                print(f"Converged (small centers change) at step {step}/{n_steps}")
            return True
        if self._ewa_inertia_min is None or self._ewa_inertia < self._ewa_inertia_min:
            self._no_improvement = 0
            self._ewa_inertia_min = self._ewa_inertia
        else:
            self._no_improvement += 1
        if self.max_no_improvement is not None and self._no_improvement >= self.max_no_improvement:
            if self.verbose:
                print(f"Converged (lack of improvement in inertia) at step {step}/{n_steps}")
            return True
        return False

    def _random_reassign(self):
        """Reassign every ``10 * n_clusters`` samples, or at once if a centre is empty."""
        self._n_since_last_reassign += self._batch_size
        if (self._counts == 0).any() or self._n_since_last_reassign >= (10 * self.n_clusters):
            self._n_since_last_reassign = 0
            return True
        return False

    def _validate(self, X, reset):
        X = validate_data(
            self,
            X,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            accept_large_sparse=False,
            reset=reset,
        )
        return self._prepare_input(X)

    def _labels_inertia_full(self, X, sample_weight):
        with _threads_for(X.shape[0], *self.cluster_centers_.shape):
            return _labels_inertia(X, sample_weight, self.cluster_centers_)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Compute the centroids on X by chunking it into mini-batches.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training instances to cluster (converted to C order; sparse to CSR).
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X (mini-batches are drawn with
            probability proportional to them). Not used during initialization if `init`
            is a callable or a user provided array.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X = self._validate(X, reset=True)
        self._check_params_vs_input(X)
        random_state = check_random_state(self.random_state)
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        self._n_threads = effective_n_threads()
        n_samples = X.shape[0]

        init = self.init
        if _is_arraylike_not_scalar(init):
            init = check_array(init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)

        x_squared_norms = row_norms(X, squared=True)
        validation_indices = random_state.randint(0, n_samples, self._init_size)
        X_valid = self._prepare_input(X[validation_indices])
        sample_weight_valid = sample_weight[validation_indices]

        best_inertia = None
        for init_idx in range(self._n_init):
            if self.verbose:
                print(f"Init {init_idx + 1}/{self._n_init} with method {init}")
            cluster_centers = self._init_centroids(
                X,
                x_squared_norms=x_squared_norms,
                init=init,
                random_state=random_state,
                init_size=self._init_size,
                sample_weight=sample_weight,
            )
            with _threads_for(X_valid.shape[0], *cluster_centers.shape):
                _, inertia = _labels_inertia(X_valid, sample_weight_valid, cluster_centers)
            if self.verbose:
                print(f"Inertia for init {init_idx + 1}/{self._n_init}: {inertia}")
            if best_inertia is None or inertia < best_inertia:
                init_centers = cluster_centers
                best_inertia = inertia

        centers = np.ascontiguousarray(init_centers, dtype=X.dtype)
        centers_new = np.empty_like(centers)
        self._counts = np.zeros(self.n_clusters, dtype=X.dtype)
        self._ewa_inertia = None
        self._ewa_inertia_min = None
        self._no_improvement = 0
        self._n_since_last_reassign = 0

        sum_of_weights = np.sum(sample_weight)
        n_steps = (self.max_iter * n_samples) // self._batch_size
        normalized_sample_weight = sample_weight / sum_of_weights
        unit_sample_weight = np.ones_like(sample_weight, shape=(self._batch_size,))

        i = -1
        for i in range(n_steps):
            minibatch_indices = random_state.choice(
                n_samples, self._batch_size, p=normalized_sample_weight, replace=True
            )
            # batches are drawn with probability ~ sample_weight: unit weights inside
            batch_inertia = _mini_batch_step(
                X=self._prepare_input(X[minibatch_indices]),
                sample_weight=unit_sample_weight,
                centers=centers,
                centers_new=centers_new,
                weight_sums=self._counts,
                random_state=random_state,
                random_reassign=self._random_reassign(),
                reassignment_ratio=self.reassignment_ratio,
                verbose=self.verbose,
            )
            if self._tol > 0.0:
                centers_squared_diff = np.sum((centers_new - centers) ** 2)
            else:
                centers_squared_diff = 0
            centers, centers_new = centers_new, centers
            if self._mini_batch_convergence(
                i, n_steps, n_samples, centers_squared_diff, batch_inertia
            ):
                break

        self.cluster_centers_ = centers
        self._n_features_out = self.cluster_centers_.shape[0]
        self.n_steps_ = i + 1
        self.n_iter_ = int(np.ceil(((i + 1) * self._batch_size) / n_samples))
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia_full(X, sample_weight)
        else:
            self.inertia_ = self._ewa_inertia * sum_of_weights
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update k means estimate on a single mini-batch X.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training instances to cluster (converted to C order; sparse to CSR).
        y : Ignored
            Not used, present here for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights for each observation in X. Not used during initialization if
            `init` is a callable or a user provided array.

        Returns
        -------
        self : object
            Return updated estimator.
        """
        has_centers = hasattr(self, "cluster_centers_")
        X = self._validate(X, reset=not has_centers)
        self._random_state = getattr(self, "_random_state", check_random_state(self.random_state))
        sample_weight = _writeable(_check_sample_weight(sample_weight, X, dtype=X.dtype))
        self.n_steps_ = getattr(self, "n_steps_", 0)
        x_squared_norms = row_norms(X, squared=True)

        if not has_centers:
            self._check_params_vs_input(X)
            self._n_threads = effective_n_threads()
            init = self.init
            if _is_arraylike_not_scalar(init):
                init = check_array(init, dtype=X.dtype, copy=True, order="C")
                self._validate_center_shape(X, init)
            self.cluster_centers_ = np.ascontiguousarray(
                self._init_centroids(
                    X,
                    x_squared_norms=x_squared_norms,
                    init=init,
                    random_state=self._random_state,
                    init_size=self._init_size,
                    sample_weight=sample_weight,
                ),
                dtype=X.dtype,
            )
            self._counts = np.zeros(self.n_clusters, dtype=X.dtype)
            self._n_since_last_reassign = 0

        _mini_batch_step(
            X,
            sample_weight=sample_weight,
            centers=self.cluster_centers_,
            centers_new=self.cluster_centers_,
            weight_sums=self._counts,
            random_state=self._random_state,
            random_reassign=self._random_reassign(),
            reassignment_ratio=self.reassignment_ratio,
            verbose=self.verbose,
        )
        if self.compute_labels:
            self.labels_, self.inertia_ = self._labels_inertia_full(X, sample_weight)
        self.n_steps_ += 1
        self._n_features_out = self.cluster_centers_.shape[0]
        return self
