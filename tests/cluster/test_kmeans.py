"""KMeans behaviour: scikit-learn's own expectations (ported from
sklearn/cluster/tests/test_k_means.py) and equivalence with scikit-learn from the same start."""

import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import KMeans as SkKMeans
from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import pairwise_distances, pairwise_distances_argmin
from sklearn.metrics.cluster import v_measure_score
from sklearn.utils.extmath import row_norms

from sklearn_deep._numba_config import numba_threads
from sklearn_deep.cluster import KMeans, k_means, kmeans_plusplus
from sklearn_deep.cluster._kmeans_core import _is_same_clustering, _labels_inertia

# non centered, sparse centers to check the
centers = np.array(
    [
        [0.0, 5.0, 0.0, 0.0, 0.0],
        [1.0, 1.0, 4.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 5.0, 1.0],
    ]
)
n_samples = 100
n_clusters, n_features = centers.shape
X, true_labels = make_blobs(n_samples=n_samples, centers=centers, cluster_std=1.0, random_state=42)
X_csr = sp.csr_matrix(X)
data_containers = [np.array, sp.csr_matrix, sp.csr_array]
data_ids = ["dense", "sparse_matrix", "sparse_array"]


def _check_fitted_model(km):
    centers = km.cluster_centers_
    assert centers.shape == (n_clusters, n_features)
    labels = km.labels_
    assert np.unique(labels).shape[0] == n_clusters
    assert_allclose(v_measure_score(true_labels, labels), 1.0)
    assert km.inertia_ > 0.0


# --------------------------------------------------------------------------------------------
# scikit-learn's expectations


@pytest.mark.parametrize("array_constr", data_containers, ids=data_ids)
@pytest.mark.parametrize("algo", ["lloyd", "elkan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_results(array_constr, algo, dtype):
    Xs = array_constr([[0, 0], [0.5, 0], [0.5, 1], [1, 1]], dtype=dtype)
    sample_weight = [3, 1, 1, 3]
    init_centers = np.array([[0, 0], [1, 1]], dtype=dtype)
    kmeans = KMeans(n_clusters=2, n_init=1, init=init_centers, algorithm=algo)
    kmeans.fit(Xs, sample_weight=sample_weight)
    assert_array_equal(kmeans.labels_, [0, 0, 1, 1])
    assert_allclose(kmeans.inertia_, 0.375)
    assert_allclose(kmeans.cluster_centers_, np.array([[0.125, 0], [0.875, 1]], dtype=dtype))
    assert kmeans.n_iter_ == 2
    assert kmeans.cluster_centers_.dtype == dtype


@pytest.mark.parametrize("array_constr", data_containers, ids=data_ids)
@pytest.mark.parametrize("algo", ["lloyd", "elkan"])
def test_kmeans_relocated_clusters(array_constr, algo):
    Xs = array_constr([[0, 0], [0.5, 0], [0.5, 1], [1, 1]])
    init_centers = np.array([[0.5, 0.5], [3, 3]])
    kmeans = KMeans(n_clusters=2, n_init=1, init=init_centers, algorithm=algo).fit(Xs)
    assert_allclose(kmeans.inertia_, 0.25)
    assert kmeans.n_iter_ == 3
    try:
        assert_array_equal(kmeans.labels_, [0, 0, 1, 1])
        assert_allclose(kmeans.cluster_centers_, [[0.25, 0], [0.75, 1]])
    except AssertionError:
        assert_array_equal(kmeans.labels_, [1, 1, 0, 0])
        assert_allclose(kmeans.cluster_centers_, [[0.75, 1.0], [0.25, 0.0]])


@pytest.mark.parametrize("distribution", ["normal", "blobs"])
@pytest.mark.parametrize("array_constr", [np.array, sp.csr_matrix], ids=data_ids[:2])
@pytest.mark.parametrize("tol", [1e-2, 1e-8, 0])
def test_kmeans_elkan_results(distribution, array_constr, tol):
    rnd = np.random.RandomState(0)
    if distribution == "normal":
        Xs = rnd.normal(size=(2000, 10))
    else:
        Xs = make_blobs(random_state=rnd)[0]
    Xs[Xs < 0] = 0
    Xs = array_constr(Xs)
    km_lloyd = KMeans(n_clusters=5, random_state=0, n_init=1, tol=tol).fit(Xs)
    km_elkan = KMeans(algorithm="elkan", n_clusters=5, random_state=0, n_init=1, tol=tol).fit(Xs)
    assert_allclose(km_elkan.cluster_centers_, km_lloyd.cluster_centers_)
    assert_array_equal(km_elkan.labels_, km_lloyd.labels_)
    assert km_elkan.n_iter_ == km_lloyd.n_iter_
    assert km_elkan.inertia_ == pytest.approx(km_lloyd.inertia_, rel=1e-6)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_kmeans_convergence(algorithm):
    Xs = np.random.RandomState(0).normal(size=(5000, 10))
    km = KMeans(algorithm=algorithm, n_clusters=5, random_state=0, n_init=1, tol=0, max_iter=300)
    km.fit(Xs)
    assert km.n_iter_ < 300


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
@pytest.mark.parametrize(
    "init",
    ["random", "k-means++", centers.copy(), lambda X, k, random_state: centers.copy()],
    ids=["random", "k-means++", "ndarray", "callable"],
)
def test_all_init(input_data, init):
    n_init = 10 if isinstance(init, str) else 1
    km = KMeans(init=init, n_clusters=n_clusters, random_state=42, n_init=n_init)
    _check_fitted_model(km.fit(input_data))


@pytest.mark.parametrize(
    "init, expected_n_init",
    [
        ("k-means++", 1),
        ("random", 10),
        (lambda X, k, random_state: random_state.uniform(size=(k, X.shape[1])), 10),
        ("array-like", 1),
    ],
)
def test_kmeans_init_auto_with_initial_centroids(init, expected_n_init):
    rng = np.random.RandomState(0)
    Xs = rng.randn(100, 10)
    if isinstance(init, str) and init == "array-like":
        init = rng.randn(5, 10)
    kmeans = KMeans(n_clusters=5, init=init, n_init="auto").fit(Xs)
    assert kmeans._n_init == expected_n_init


def test_fortran_aligned_data():
    km_c = KMeans(n_clusters=n_clusters, init=centers, n_init=1, random_state=0).fit(X)
    km_f = KMeans(
        n_clusters=n_clusters, init=np.asfortranarray(centers), n_init=1, random_state=0
    ).fit(np.asfortranarray(X))
    assert_allclose(km_c.cluster_centers_, km_f.cluster_centers_)
    assert_array_equal(km_c.labels_, km_f.labels_)


@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("tol", [1e-2, 0])
def test_kmeans_verbose(algorithm, tol, capsys):
    Xs = np.random.RandomState(0).normal(size=(2000, 10))
    KMeans(
        algorithm=algorithm,
        n_clusters=n_clusters,
        random_state=42,
        init="random",
        n_init=1,
        tol=tol,
        verbose=1,
    ).fit(Xs)
    out = capsys.readouterr().out
    assert re.search(r"Initialization complete", out)
    assert re.search(r"Iteration [0-9]+, inertia", out)
    if tol == 0:
        assert re.search(r"strict convergence", out)
    else:
        assert re.search(r"center shift .* within tolerance", out)


def test_warning_n_init_precomputed_centers():
    with pytest.warns(
        RuntimeWarning, match="Explicit initial center position passed: performing only one init"
    ):
        KMeans(init=centers, n_clusters=n_clusters, n_init=10).fit(X)


def test_kmeans_copyx():
    my_X = X.copy()
    km = KMeans(copy_x=False, n_clusters=n_clusters, random_state=42).fit(my_X)
    _check_fitted_model(km)
    assert_allclose(my_X, X)


def test_copy_x_true_leaves_input_untouched():
    my_X = X.copy()
    KMeans(n_clusters=n_clusters, random_state=42).fit(my_X)
    assert_array_equal(my_X, X)


def test_score_max_iter():
    Xs = np.random.RandomState(0).randn(100, 10)
    s1 = KMeans(n_init=1, random_state=0, max_iter=1).fit(Xs).score(Xs)
    s2 = KMeans(n_init=1, random_state=0, max_iter=10).fit(Xs).score(Xs)
    assert s2 > s1


@pytest.mark.parametrize("array_constr", [np.array, sp.csr_matrix], ids=data_ids[:2])
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
@pytest.mark.parametrize("max_iter", [2, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kmeans_predict(algorithm, array_constr, max_iter, dtype):
    Xs, _ = make_blobs(n_samples=200, n_features=10, centers=10, random_state=0)
    Xs = array_constr(Xs, dtype=dtype)
    km = KMeans(
        n_clusters=10,
        init="random",
        n_init=10,
        max_iter=max_iter,
        random_state=0,
        algorithm=algorithm,
    ).fit(Xs)
    labels = km.labels_
    assert_array_equal(km.predict(Xs), labels)
    assert_array_equal(km.fit_predict(Xs), labels)
    assert_array_equal(km.predict(km.cluster_centers_), np.arange(10))


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csr_array])
def test_dense_sparse(container):
    sample_weight = np.random.RandomState(0).random_sample((n_samples,))
    km_dense = KMeans(n_clusters=n_clusters, random_state=0, n_init=1)
    km_dense.fit(X, sample_weight=sample_weight)
    km_sparse = KMeans(n_clusters=n_clusters, random_state=0, n_init=1)
    km_sparse.fit(container(X), sample_weight=sample_weight)
    assert_array_equal(km_dense.labels_, km_sparse.labels_)
    assert_allclose(km_dense.cluster_centers_, km_sparse.cluster_centers_)


@pytest.mark.parametrize("init", ["random", "k-means++", centers], ids=["random", "k++", "nd"])
def test_predict_dense_sparse(init):
    n_init = 10 if isinstance(init, str) else 1
    km = KMeans(n_clusters=n_clusters, init=init, n_init=n_init, random_state=0)
    km.fit(X_csr)
    assert_array_equal(km.predict(X), km.labels_)
    km.fit(X)
    assert_array_equal(km.predict(X_csr), km.labels_)


@pytest.mark.parametrize("array_constr", [np.array, sp.csr_matrix], ids=data_ids[:2])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("init", ["k-means++", "ndarray"])
def test_integer_input(array_constr, dtype, init):
    X_dense = np.array([[0, 0], [10, 10], [12, 9], [-1, 1], [2, 0], [8, 10]])
    Xs = array_constr(X_dense, dtype=dtype)
    n_init = 1 if init == "ndarray" else 10
    init = X_dense[:2] if init == "ndarray" else init
    km = KMeans(n_clusters=2, init=init, n_init=n_init, random_state=0).fit(Xs)
    assert km.cluster_centers_.dtype == np.float64
    assert_allclose(v_measure_score(km.labels_, [0, 1, 1, 0, 0, 1]), 1.0)


def test_transform():
    km = KMeans(n_clusters=n_clusters, random_state=0).fit(X)
    Xt = km.transform(km.cluster_centers_)
    assert_allclose(Xt, pairwise_distances(km.cluster_centers_))
    assert_array_equal(Xt.diagonal(), np.zeros(n_clusters))
    assert_allclose(km.transform(X), pairwise_distances(X, km.cluster_centers_))
    assert_allclose(km.transform(X_csr), pairwise_distances(X, km.cluster_centers_))


def test_fit_transform():
    X1 = KMeans(random_state=0, n_init=1).fit(X).transform(X)
    X2 = KMeans(random_state=0, n_init=1).fit_transform(X)
    assert_allclose(X1, X2)


def test_n_init():
    previous_inertia = np.inf
    for n_init in [1, 5, 10]:
        km = KMeans(
            n_clusters=n_clusters, init="random", n_init=n_init, random_state=0, max_iter=1
        ).fit(X)
        assert km.inertia_ <= previous_inertia
        previous_inertia = km.inertia_


def test_n_init_picks_best_run():
    # the kept run is the best of the n_init single runs drawn from the same RandomState
    Xs = np.random.RandomState(3).randn(300, 4)
    rs = np.random.RandomState(7)
    inertias = []
    for _ in range(6):
        km = KMeans(n_clusters=7, init="random", n_init=1, random_state=rs).fit(Xs)
        inertias.append(km.inertia_)
    best = KMeans(n_clusters=7, init="random", n_init=6, random_state=7).fit(Xs)
    assert best.inertia_ == pytest.approx(min(inertias), rel=1e-12)
    assert best.inertia_ < max(inertias)


def test_k_means_function():
    cluster_centers, labels, inertia = k_means(X, n_clusters=n_clusters, random_state=0)
    assert cluster_centers.shape == (n_clusters, n_features)
    assert np.unique(labels).shape[0] == n_clusters
    assert_allclose(v_measure_score(true_labels, labels), 1.0)
    assert inertia > 0.0
    *_, n_iter = k_means(X, n_clusters=n_clusters, random_state=0, return_n_iter=True)
    assert n_iter >= 1


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
def test_float_precision(input_data):
    km = KMeans(n_init=1, random_state=0)
    inertia, Xt, centers_, labels = {}, {}, {}, {}
    for dtype in [np.float64, np.float32]:
        Xd = input_data.astype(dtype, copy=False)
        km.fit(Xd)
        inertia[dtype] = km.inertia_
        Xt[dtype] = km.transform(Xd)
        centers_[dtype] = km.cluster_centers_
        labels[dtype] = km.labels_
        assert km.cluster_centers_.dtype == dtype
        assert Xt[dtype].dtype == dtype
    rtol = 1e-4
    assert_allclose(inertia[np.float32], inertia[np.float64], rtol=rtol)
    assert_allclose(Xt[np.float32], Xt[np.float64], atol=Xt[np.float64].max() * rtol)
    assert_allclose(
        centers_[np.float32], centers_[np.float64], atol=centers_[np.float64].max() * rtol
    )
    assert_array_equal(labels[np.float32], labels[np.float64])


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64])
def test_centers_not_mutated(dtype):
    X_new_type = X.astype(dtype, copy=False)
    centers_new_type = centers.astype(dtype, copy=False)
    km = KMeans(init=centers_new_type, n_clusters=n_clusters, n_init=1).fit(X_new_type)
    assert not np.may_share_memory(km.cluster_centers_, centers_new_type)
    assert_array_equal(centers_new_type, centers.astype(dtype))


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
def test_kmeans_init_fitted_centers(input_data):
    km1 = KMeans(n_clusters=n_clusters).fit(input_data)
    km2 = KMeans(n_clusters=n_clusters, init=km1.cluster_centers_, n_init=1).fit(input_data)
    assert_allclose(km1.cluster_centers_, km2.cluster_centers_)


def test_kmeans_warns_less_centers_than_unique_points():
    Xs = np.asarray([[0, 0], [0, 1], [1, 0], [1, 0]])
    km = KMeans(n_clusters=4, random_state=0)
    msg = (
        r"Number of distinct clusters \(3\) found smaller than "
        r"n_clusters \(4\). Possibly due to duplicate points in X."
    )
    with pytest.warns(ConvergenceWarning, match=msg):
        km.fit(Xs)
    assert set(km.labels_) == set(range(3))


def _sort_centers(c):
    return np.sort(c, axis=0)


@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_vs_repeated(seed):
    sample_weight = np.random.RandomState(seed).randint(1, 5, size=n_samples)
    X_repeat = np.repeat(X, sample_weight, axis=0)
    km = KMeans(init=centers, n_init=1, n_clusters=n_clusters, random_state=seed)
    km_weighted = clone(km).fit(X, sample_weight=sample_weight)
    km_repeated = clone(km).fit(X_repeat)
    assert_array_equal(km_repeated.labels_, np.repeat(km_weighted.labels_, sample_weight))
    assert_allclose(km_weighted.inertia_, km_repeated.inertia_)
    assert_allclose(
        _sort_centers(km_weighted.cluster_centers_), _sort_centers(km_repeated.cluster_centers_)
    )


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
def test_unit_weights_vs_no_weights(input_data):
    km = KMeans(n_clusters=n_clusters, random_state=0, n_init=1)
    km_none = clone(km).fit(input_data, sample_weight=None)
    km_ones = clone(km).fit(input_data, sample_weight=np.ones(n_samples))
    assert_array_equal(km_none.labels_, km_ones.labels_)
    assert_allclose(km_none.cluster_centers_, km_ones.cluster_centers_)


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
def test_scaled_weights(input_data):
    sample_weight = np.random.RandomState(0).uniform(size=n_samples)
    km = KMeans(n_clusters=n_clusters, random_state=0, n_init=1)
    km_orig = clone(km).fit(input_data, sample_weight=sample_weight)
    km_scaled = clone(km).fit(input_data, sample_weight=0.5 * sample_weight)
    assert_array_equal(km_orig.labels_, km_scaled.labels_)
    assert_allclose(km_orig.cluster_centers_, km_scaled.cluster_centers_)


def test_kmeans_elkan_iter_attribute():
    assert KMeans(algorithm="elkan", max_iter=1).fit(X).n_iter_ == 1


@pytest.mark.parametrize("array_constr", data_containers, ids=data_ids)
def test_kmeans_empty_cluster_relocated(array_constr):
    Xs = array_constr([[-1], [1]])
    km = KMeans(n_clusters=2, init=np.array([[-1], [10]]), n_init=1)
    km.fit(Xs, sample_weight=[1.9, 0.1])
    assert len(set(km.labels_)) == 2
    assert_allclose(km.cluster_centers_, [[-1], [1]])


def test_result_equal_in_diff_n_threads():
    Xs = np.random.RandomState(0).normal(size=(3000, 10))
    with numba_threads(1):
        km1 = KMeans(n_clusters=n_clusters, random_state=0).fit(Xs)
    with numba_threads(2):
        km2 = KMeans(n_clusters=n_clusters, random_state=0).fit(Xs)
    assert_array_equal(km1.labels_, km2.labels_)
    # fixed sample blocks: even the floating-point sums agree bit for bit
    assert_array_equal(km1.cluster_centers_, km2.cluster_centers_)
    assert km1.inertia_ == km2.inertia_


def test_warning_elkan_1_cluster():
    with pytest.warns(
        RuntimeWarning, match="algorithm='elkan' doesn't make sense for a single cluster"
    ):
        KMeans(n_clusters=1, algorithm="elkan").fit(X)


@pytest.mark.parametrize("array_constr", data_containers, ids=data_ids)
@pytest.mark.parametrize("algo", ["lloyd", "elkan"])
def test_k_means_1_iteration(array_constr, algo):
    Xs = np.random.RandomState(0).uniform(size=(100, 5))
    init_centers = Xs[:5]

    def py_kmeans(X, init):
        new_centers = init.copy()
        labels = pairwise_distances_argmin(X, init)
        for label in range(init.shape[0]):
            new_centers[label] = X[labels == label].mean(axis=0)
        labels = pairwise_distances_argmin(X, new_centers)
        return labels, new_centers

    py_labels, py_centers = py_kmeans(Xs, init_centers)
    km = KMeans(n_clusters=5, n_init=1, init=init_centers, algorithm=algo, max_iter=1)
    km.fit(array_constr(Xs))
    assert_array_equal(py_labels, km.labels_)
    assert_allclose(py_centers, km.cluster_centers_)


def test_n_init_auto():
    assert KMeans(n_init="auto", init="k-means++").fit(X)._n_init == 1
    assert KMeans(n_init="auto", init="random").fit(X)._n_init == 10


def test_sample_weight_unchanged():
    Xs = np.array([[1], [2], [4]])
    sample_weight = np.array([0.5, 0.2, 0.3])
    KMeans(n_clusters=2, random_state=0).fit(Xs, sample_weight=sample_weight)
    assert_array_equal(sample_weight, np.array([0.5, 0.2, 0.3]))


_MSG_K = r"The shape of the initial centers .* does not match the number of clusters"
_MSG_F = r"The shape of the initial centers .* does not match the number of features of the data"


@pytest.mark.parametrize(
    "param, match",
    [
        ({"n_clusters": n_samples + 1}, r"n_samples.* should be >= n_clusters"),
        ({"init": X[:2]}, _MSG_K),
        ({"init": lambda X_, k, random_state: X_[:2]}, _MSG_K),
        ({"init": X[:8, :2]}, _MSG_F),
        ({"init": lambda X_, k, random_state: X_[:8, :2]}, _MSG_F),
    ],
)
def test_wrong_params(param, match):
    km = KMeans(n_init=1)
    with pytest.raises(ValueError, match=match):
        km.set_params(**param).fit(X)


@pytest.mark.parametrize(
    "param, match",
    [
        ({"n_clusters": 0}, r"The 'n_clusters' parameter of KMeans must be an int in the range"),
        ({"n_init": 0}, r"The 'n_init' parameter of KMeans must be"),
        ({"max_iter": 0}, r"The 'max_iter' parameter of KMeans must be"),
        ({"tol": -1.0}, r"The 'tol' parameter of KMeans must be"),
        ({"algorithm": "full"}, r"The 'algorithm' parameter of KMeans must be"),
        ({"init": "kmeans"}, r"The 'init' parameter of KMeans must be"),
    ],
)
def test_parameter_constraints(param, match):
    with pytest.raises(ValueError, match=match):
        KMeans(**param).fit(X)


def test_kmeans_plusplus_wrong_params():
    with pytest.raises(ValueError, match=r"The length of x_squared_norms .* should be equal"):
        kmeans_plusplus(X, n_clusters, x_squared_norms=X[:2])


@pytest.mark.parametrize("input_data", [X, X_csr], ids=data_ids[:2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_plusplus_output(input_data, dtype):
    data = input_data.astype(dtype)
    centers_, indices = kmeans_plusplus(data, n_clusters, random_state=0)
    assert indices.shape[0] == n_clusters
    assert (indices >= 0).all() and (indices <= data.shape[0]).all()
    assert centers_.shape[0] == n_clusters
    assert centers_.dtype == dtype
    assert (centers_.max(axis=0) <= data.max(axis=0)).all()
    assert (centers_.min(axis=0) >= data.min(axis=0)).all()
    assert_allclose(X[indices].astype(dtype), centers_)


@pytest.mark.parametrize("x_squared_norms", [row_norms(X, squared=True), None])
def test_kmeans_plusplus_norms(x_squared_norms):
    centers_, indices = kmeans_plusplus(X, n_clusters, x_squared_norms=x_squared_norms)
    assert_allclose(X[indices], centers_)


def test_kmeans_plusplus_dataorder():
    centers_c, _ = kmeans_plusplus(X, n_clusters, random_state=0)
    centers_f, _ = kmeans_plusplus(np.asfortranarray(X), n_clusters, random_state=0)
    assert_allclose(centers_c, centers_f)


def test_is_same_clustering():
    labels1 = np.array([1, 0, 0, 1, 2, 0, 2, 1], dtype=np.int32)
    assert _is_same_clustering(labels1, labels1, 3)
    labels2 = np.array([0, 2, 2, 0, 1, 2, 1, 0], dtype=np.int32)
    assert _is_same_clustering(labels1, labels2, 3)
    labels3 = np.array([1, 0, 0, 2, 2, 0, 2, 1], dtype=np.int32)
    assert not _is_same_clustering(labels1, labels3, 3)


@pytest.mark.parametrize(
    "kwargs", ({"init": np.str_("k-means++")}, {"init": [[0, 0], [1, 1]], "n_init": 1})
)
def test_kmeans_with_array_like_or_np_scalar_init(kwargs):
    Xs = np.asarray([[0, 0], [0.5, 0], [0.5, 1], [1, 1]], dtype=np.float64)
    KMeans(n_clusters=2, **kwargs).fit(Xs)


def test_feature_names_out():
    kmeans = KMeans().fit(X)
    names_out = kmeans.get_feature_names_out()
    assert_array_equal([f"kmeans{i}" for i in range(kmeans.cluster_centers_.shape[0])], names_out)


@pytest.mark.parametrize("csr_container", [sp.csr_matrix, None])
def test_predict_does_not_change_cluster_centers(csr_container):
    Xs, _ = make_blobs(n_samples=200, n_features=10, centers=10, random_state=0)
    if csr_container is not None:
        Xs = csr_container(Xs)
    kmeans = KMeans()
    y_pred1 = kmeans.fit_predict(Xs)
    kmeans.cluster_centers_.setflags(write=False)
    kmeans.labels_.setflags(write=False)
    assert_array_equal(y_pred1, kmeans.predict(Xs))


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_sample_weight_init(init):
    rng = np.random.RandomState(0)
    Xs, _ = make_blobs(n_samples=200, n_features=10, centers=10, random_state=0)
    x_squared_norms = row_norms(Xs, squared=True)
    kmeans = KMeans()
    kw = dict(X=Xs, x_squared_norms=x_squared_norms, init=init, n_centroids=5)
    clusters_weighted = kmeans._init_centroids(
        sample_weight=rng.uniform(size=Xs.shape[0]), random_state=np.random.RandomState(0), **kw
    )
    clusters = kmeans._init_centroids(
        sample_weight=np.ones(Xs.shape[0]), random_state=np.random.RandomState(0), **kw
    )
    with pytest.raises(AssertionError):
        assert_allclose(clusters_weighted, clusters)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_sample_weight_zero(init):
    rng = np.random.RandomState(0)
    Xs, _ = make_blobs(n_samples=100, n_features=5, centers=5, random_state=0)
    sample_weight = rng.uniform(size=Xs.shape[0])
    sample_weight[::2] = 0
    clusters_weighted = KMeans()._init_centroids(
        X=Xs,
        x_squared_norms=row_norms(Xs, squared=True),
        init=init,
        sample_weight=sample_weight,
        n_centroids=10,
        random_state=np.random.RandomState(0),
    )
    d = pairwise_distances(Xs[::2], clusters_weighted)
    assert not np.any(np.isclose(d, 0))


@pytest.mark.parametrize("array_constr", data_containers, ids=data_ids)
@pytest.mark.parametrize("algorithm", ["lloyd", "elkan"])
def test_relocating_with_duplicates(algorithm, array_constr):
    Xs = np.array([[0, 0], [1, 1], [1, 1], [1, 0], [0, 1]])
    km = KMeans(n_clusters=5, init=Xs, algorithm=algorithm)
    msg = r"Number of distinct clusters \(4\) found smaller than n_clusters \(5\)"
    with pytest.warns(ConvergenceWarning, match=msg):
        km.fit(array_constr(Xs))
    assert km.n_iter_ == 1


def test_labels_inertia_helper():
    km = KMeans(n_clusters=3, random_state=0).fit(X)
    labels, inertia = _labels_inertia(X, np.ones(n_samples), km.cluster_centers_)
    assert_array_equal(labels, km.labels_)
    assert inertia == pytest.approx(km.inertia_, rel=1e-10)


# --------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_inf_rejected(bad):
    Xs = X.copy()
    Xs[3, 1] = bad
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        KMeans(n_clusters=2).fit(Xs)
    km = KMeans(n_clusters=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="Input X contains"):
        km.predict(Xs)


def test_1d_and_empty_rejected():
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array instead"):
        KMeans(n_clusters=2).fit(X[:, 0])
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        KMeans(n_clusters=2).fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"n_samples=3 should be >= n_clusters=8"):
        KMeans().fit(X[:3])


def test_predict_wrong_n_features():
    km = KMeans(n_clusters=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but KMeans is expecting 5"):
        km.predict(X[:, :2])


def test_negative_weights():
    sw = np.ones(n_samples)
    sw[0] = -1
    # randomised initialisations sample with probability proportional to the weights
    for init in ["k-means++", "random"]:
        with pytest.raises(ValueError, match="probabilities are not non-negative"):
            KMeans(n_clusters=2, init=init).fit(X, sample_weight=sw)
        with pytest.raises(ValueError, match="probabilities are not non-negative"):
            SkKMeans(n_clusters=2, init=init).fit(X, sample_weight=sw)
    with pytest.raises(ValueError, match="Sample weights must be 1D array or scalar"):
        KMeans(n_clusters=2).fit(X, sample_weight=np.ones((n_samples, 2)))
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(100,\)"):
        KMeans(n_clusters=2).fit(X, sample_weight=np.ones(3))


def test_import_does_not_import_torch():
    code = "import sys, sklearn_deep.cluster; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------
# equivalence with scikit-learn from the same start


def _datasets():
    rng = np.random.RandomState(0)
    blobs, _ = make_blobs(n_samples=1500, n_features=6, centers=5, cluster_std=2.5, random_state=1)
    aniso = rng.randn(800, 3) @ np.array([[3.0, 0.2, 0.0], [0.0, 0.5, 0.1], [0.0, 0.0, 2.0]])
    uniform = rng.uniform(-1, 1, size=(1000, 12))
    sparse_like = rng.rand(600, 30) * (rng.rand(600, 30) < 0.2)
    return {"blobs": blobs, "aniso": aniso, "uniform": uniform, "sparse_like": sparse_like}


DATASETS = _datasets()


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse_input", [False, True])
def test_same_as_sklearn_from_explicit_init(name, dtype, weighted, sparse_input):
    Xd = DATASETS[name].astype(dtype)
    rng = np.random.RandomState(5)
    k = 6
    init = Xd[rng.choice(Xd.shape[0], k, replace=False)]
    sw = rng.uniform(0.2, 3.0, size=Xd.shape[0]) if weighted else None
    Xin = sp.csr_matrix(Xd) if sparse_input else Xd
    ours = KMeans(n_clusters=k, init=init, n_init=1, max_iter=100).fit(Xin, sample_weight=sw)
    ref = SkKMeans(n_clusters=k, init=init, n_init=1, max_iter=100).fit(Xin, sample_weight=sw)
    rtol = 1e-6 if dtype == np.float64 else 1e-4
    assert_array_equal(ours.labels_, ref.labels_)
    assert ours.n_iter_ == ref.n_iter_
    assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    assert_allclose(ours.inertia_, ref.inertia_, rtol=rtol)
    assert ours.cluster_centers_.dtype == dtype


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_as_sklearn_same_random_state(name, init, dtype):
    # the random state is consumed exactly as scikit-learn does: same seeds, same result
    Xd = DATASETS[name].astype(dtype)
    sw = np.random.RandomState(1).uniform(0.5, 2.0, size=Xd.shape[0])
    for seed in (0, 1):
        kw = dict(n_clusters=5, init=init, random_state=seed, n_init=2)
        ours = KMeans(**kw).fit(Xd, sample_weight=sw)
        ref = SkKMeans(**kw).fit(Xd, sample_weight=sw)
        rtol = 1e-6 if dtype == np.float64 else 1e-4
        assert_array_equal(ours.labels_, ref.labels_)
        assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
        assert ours.n_iter_ == ref.n_iter_


@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kmeans_plusplus_same_indices_as_sklearn(sparse_input, dtype):
    Xd = DATASETS["blobs"].astype(dtype)
    Xin = sp.csr_matrix(Xd) if sparse_input else Xd
    sw = np.random.RandomState(0).uniform(0.1, 2.0, size=Xd.shape[0])
    for seed in range(3):
        for weights in (None, sw):
            c1, i1 = kmeans_plusplus(Xin, 12, sample_weight=weights, random_state=seed)
            c2, i2 = sk_kmeans_plusplus(Xin, 12, sample_weight=weights, random_state=seed)
            assert_array_equal(i1, i2)
            assert_array_equal(c1, c2)


def test_random_state_instance_consumed_like_sklearn():
    # a shared RandomState ends in the same state after our fit and after scikit-learn's
    Xd = DATASETS["aniso"]
    rs1, rs2 = np.random.RandomState(3), np.random.RandomState(3)
    KMeans(n_clusters=4, init="random", n_init=3, random_state=rs1).fit(Xd)
    SkKMeans(n_clusters=4, init="random", n_init=3, random_state=rs2).fit(Xd)
    assert rs1.randint(1 << 30) == rs2.randint(1 << 30)
    KMeans(n_clusters=4, random_state=rs1).fit(Xd)
    SkKMeans(n_clusters=4, random_state=rs2).fit(Xd)
    assert rs1.randint(1 << 30) == rs2.randint(1 << 30)


def test_same_as_sklearn_with_empty_cluster_relocation():
    # far-away initial centres are emptied and relocated to the farthest points
    rng = np.random.RandomState(0)
    Xd = rng.randn(400, 3)
    init = np.vstack([Xd[:3], [[50.0, 50, 50], [-40.0, 0, 0], [0.0, 60, 0]]])
    sw = rng.uniform(0.5, 1.5, size=400)
    for Xin in (Xd, sp.csr_matrix(Xd)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ours = KMeans(n_clusters=6, init=init, n_init=1).fit(Xin, sample_weight=sw)
            ref = SkKMeans(n_clusters=6, init=init, n_init=1).fit(Xin, sample_weight=sw)
        assert_array_equal(ours.labels_, ref.labels_)
        assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-6, atol=1e-9)
        assert ours.n_iter_ == ref.n_iter_
        assert len(set(ours.labels_)) == 6


def test_old_faithful_like_sklearn():
    from sklearn_deep.datasets import load_old_faithful

    Xd = load_old_faithful().data
    for seed in range(3):
        ours = KMeans(n_clusters=2, random_state=seed).fit(Xd)
        ref = SkKMeans(n_clusters=2, random_state=seed).fit(Xd)
        assert_array_equal(ours.labels_, ref.labels_)
        assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-9)


def test_f32_input_stays_f32():
    Xd = DATASETS["uniform"].astype(np.float32)
    km = KMeans(n_clusters=4, random_state=0).fit(Xd)
    assert km.cluster_centers_.dtype == np.float32
    assert km.transform(Xd).dtype == np.float32
    assert km.labels_.dtype == np.int32
    assert km.predict(Xd).dtype == np.int32


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("k", [3, 17, 40, 70])
def test_bounded_run_equals_plain_lloyd(dtype, k, monkeypatch):
    # the Yinyang-accelerated run and the plain Lloyd run agree exactly
    from sklearn_deep.cluster import _kmeans_core
    from sklearn_deep.cluster._kmeans_core import _kmeans_single

    monkeypatch.setattr(_kmeans_core, "BOUNDS_MIN_WORK", 0)  # bounds even for small data

    rng = np.random.RandomState(k)
    Xd = rng.randn(3000, 6).astype(dtype) * rng.uniform(0.5, 3, size=6).astype(dtype)
    Xd -= Xd.mean(axis=0)
    sw = rng.uniform(0.5, 2, size=3000).astype(dtype)
    init = Xd[rng.choice(3000, k, replace=False)]
    fast = _kmeans_single(Xd, sw, init.copy(), max_iter=50, tol=0, use_bounds=True)
    plain = _kmeans_single(Xd, sw, init.copy(), max_iter=50, tol=0, use_bounds=False)
    assert_array_equal(fast[0], plain[0])
    assert_array_equal(fast[2], plain[2])  # identical sums: bit-identical centres
    assert fast[1] == plain[1]
    assert fast[3] == plain[3]


def test_read_only_input_gives_the_same_result():
    # read-only buffers (joblib memory maps in GridSearchCV) are copied, not compiled for
    rng = np.random.RandomState(0)
    X = rng.randn(500, 3)
    sw = rng.uniform(0.5, 2, size=500)
    ref = KMeans(3, random_state=0, n_init=2).fit(X, sample_weight=sw)
    X_ro, sw_ro = X.copy(), sw.copy()
    X_ro.setflags(write=False)
    sw_ro.setflags(write=False)
    km = KMeans(3, random_state=0, n_init=2).fit(X_ro, sample_weight=sw_ro)
    assert_array_equal(km.labels_, ref.labels_)
    assert km.inertia_ == ref.inertia_
    assert_array_equal(km.predict(X_ro), ref.predict(X))
    assert km.score(X_ro, sample_weight=sw_ro) == ref.score(X, sample_weight=sw)
    assert_array_equal(
        kmeans_plusplus(X_ro, 3, random_state=1)[1], kmeans_plusplus(X, 3, random_state=1)[1]
    )


def test_csr_with_duplicate_entries_counts_them_once_summed():
    # duplicate (row, column) entries of a CSR matrix that was not sum_duplicates-ed stand
    # for their sum, as in X.toarray(): [[2], [6]] here (scikit-learn reports 2.0 for 8.0)
    X = sp.csr_matrix(([1.0, 1, 3, 3], [0, 0, 0, 0], [0, 2, 4]), shape=(2, 1))
    assert not X.has_canonical_format
    Xd = X.toarray()
    km = KMeans(1, n_init=1, random_state=0).fit(X)
    ref = KMeans(1, n_init=1, random_state=0).fit(Xd)
    assert_allclose(km.cluster_centers_, [[4.0]])
    assert km.inertia_ == pytest.approx(8.0)
    assert km.score(X) == pytest.approx(-8.0)
    assert_allclose(km.transform(X), [[2.0], [2.0]])
    assert km.inertia_ == pytest.approx(ref.inertia_)
    assert_allclose(km.transform(X), ref.transform(Xd))
    assert X.nnz == 4  # the caller's matrix is left as it was
    # more columns and rows, duplicates scattered: same as the dense data
    rng = np.random.RandomState(0)
    rows = rng.randint(40, size=300)
    cols = rng.randint(5, size=300)
    Xs = sp.coo_matrix((rng.randn(300), (rows, cols)), shape=(40, 5)).tocsr(copy=False)
    Xs = sp.csr_matrix((Xs.data, Xs.indices, Xs.indptr), shape=Xs.shape)
    dup = sp.csr_matrix(
        (np.repeat(Xs.data / 2, 2), np.repeat(Xs.indices, 2), Xs.indptr * 2), shape=Xs.shape
    )
    init = Xs.toarray()[:3]
    a = KMeans(3, init=init, n_init=1).fit(dup)
    b = KMeans(3, init=init, n_init=1).fit(Xs.toarray())
    assert_array_equal(a.labels_, b.labels_)
    assert a.inertia_ == pytest.approx(b.inertia_)
    assert a.score(dup) == pytest.approx(b.score(Xs.toarray()))
    assert_allclose(a.transform(dup), b.transform(Xs.toarray()))


def test_verbose_reports_compilation_only_when_numba_compiles(capsys):
    from numba import njit

    from sklearn_deep._numba_config import report_compilation

    fresh = njit(lambda x: x + 1)  # (not cached: compiles on its first call)
    with report_compilation(True, "KMeans"):
        fresh(1)
    out = capsys.readouterr().out
    assert "[KMeans] compiling Numba kernels" in out
    assert "[KMeans] compiled 1 Numba functions" in out
    with report_compilation(True, "KMeans"):
        fresh(2)  # compiled: nothing to say
    with report_compilation(False, "KMeans"):
        njit(lambda x: x - 1)(1)
    assert capsys.readouterr().out == ""
    X = np.random.RandomState(0).randn(300, 2)
    KMeans(2, n_init=1, random_state=0).fit(X)  # kernels compiled (or loaded) for this path
    KMeans(2, n_init=1, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "Initialization complete" in out and "compiling" not in out
