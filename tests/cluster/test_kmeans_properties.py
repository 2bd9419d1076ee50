"""Property-based tests of KMeans (hypothesis).

Hypothesis draws the problem (shape, number of clusters, weights, seed, translation); the
data themselves are Gaussian draws from the drawn seed, so exact distance ties (which any
implementation may break either way) have probability zero.
"""

import warnings

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist

from sklearn_deep.cluster import KMeans


@st.composite
def problems(draw, max_n=60, max_d=5, max_k=6, weighted=None):
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    k = draw(st.integers(1, min(n, max_k)))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([1e-2, 1.0, 1e3]))
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d) * scale
    if weighted is None:
        weighted = draw(st.booleans())
    sw = rng.uniform(0.1, 3.0, size=n) if weighted else None
    init = X[rng.choice(n, k, replace=False)].copy()
    return X, sw, k, init


def _fit(X, sw, k, init, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KMeans(n_clusters=k, init=init, n_init=1, **kw).fit(X, sample_weight=sw)


def _weighted_sse(X, sw, centers, labels):
    w = np.ones(X.shape[0]) if sw is None else sw
    return float(np.sum(w * ((X - centers[labels]) ** 2).sum(axis=1)))


@given(problems())
def test_inertia_never_increases_between_iterations(problem):
    X, sw, k, init = problem
    previous = np.inf
    for max_iter in range(1, 6):
        km = _fit(X, sw, k, init, max_iter=max_iter, tol=0)
        assert km.inertia_ <= previous * (1 + 1e-9) + 1e-12
        previous = km.inertia_


@given(problems() | problems(max_n=150, max_d=4, max_k=30))
def test_labels_are_argmin_and_inertia_recomputed(problem):
    X, sw, k, init = problem
    km = _fit(X, sw, k, init, max_iter=7)
    dist = cdist(X, km.cluster_centers_, "sqeuclidean")
    own = dist[np.arange(X.shape[0]), km.labels_]
    assert np.all(own <= dist.min(axis=1) * (1 + 1e-9) + 1e-12)
    atol = 1e-12 * X.shape[0] * np.abs(X).max() ** 2  # centring round trip (X - mean + mean)
    sse = _weighted_sse(X, sw, km.cluster_centers_, km.labels_)
    assert_allclose(km.inertia_, sse, rtol=1e-9, atol=atol)
    assert_array_equal(km.predict(X), km.labels_)
    assert_allclose(-km.score(X, sample_weight=sw), km.inertia_, rtol=1e-9, atol=atol)


@given(problems() | problems(max_n=150, max_d=4, max_k=30))
def test_centers_are_weighted_means_at_convergence(problem):
    X, sw, k, init = problem
    km = _fit(X, sw, k, init, max_iter=300, tol=0)
    w = np.ones(X.shape[0]) if sw is None else sw
    counts = np.bincount(km.labels_, minlength=k)
    if km.n_iter_ < 300 and np.all(counts > 0):
        for j in range(k):
            mask = km.labels_ == j
            mean = np.average(X[mask], axis=0, weights=w[mask])
            assert_allclose(km.cluster_centers_[j], mean, rtol=1e-9, atol=1e-9 * np.abs(X).max())


@given(problems(max_k=1))
def test_single_cluster_is_weighted_mean(problem):
    X, sw, _, _ = problem
    km = KMeans(n_clusters=1, random_state=0).fit(X, sample_weight=sw)
    w = np.ones(X.shape[0]) if sw is None else sw
    mean = np.average(X, axis=0, weights=w)
    assert_allclose(km.cluster_centers_[0], mean, rtol=1e-9, atol=1e-12 * np.abs(X).max())
    assert_array_equal(km.labels_, 0)
    sse = _weighted_sse(X, sw, mean[None, :], km.labels_)
    assert_allclose(km.inertia_, sse, rtol=1e-9, atol=1e-12 * X.shape[0] * np.abs(X).max() ** 2)


@given(problems(), st.floats(-100, 100), st.integers(0, 2**31 - 1))
def test_translation_equivariance(problem, magnitude, seed):
    X, sw, k, init = problem
    shift = np.random.RandomState(seed).randn(X.shape[1]) * magnitude
    km = _fit(X, sw, k, init, max_iter=20, tol=0)
    km_t = _fit(X + shift, sw, k, init + shift, max_iter=20, tol=0)
    scale = np.abs(X).max() + np.abs(shift).max()
    assert_array_equal(km.labels_, km_t.labels_)
    assert_allclose(km_t.cluster_centers_, km.cluster_centers_ + shift, atol=1e-9 * scale)
    assert_allclose(km_t.inertia_, km.inertia_, rtol=1e-6, atol=1e-9 * scale**2)


@given(problems(weighted=False), st.integers(0, 2**31 - 1))
def test_integer_weights_equal_repeated_samples(problem, seed):
    X, _, k, init = problem
    counts = np.random.RandomState(seed).randint(1, 4, size=X.shape[0])
    # tol=0: the tolerance is scaled by the unweighted variance, which repeating changes
    km_w = _fit(X, counts.astype(float), k, init, max_iter=30, tol=0)
    km_r = _fit(np.repeat(X, counts, axis=0), None, k, init, max_iter=30, tol=0)
    assert_array_equal(np.repeat(km_w.labels_, counts), km_r.labels_)
    # (n_iter_ may differ by one: w * x versus x + x + ... round differently, so a zero
    # centre shift, which stops a tol=0 run, can come out as a tiny non-zero one)
    scale = np.abs(X).max()
    assert_allclose(km_w.cluster_centers_, km_r.cluster_centers_, rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(km_w.inertia_, km_r.inertia_, rtol=1e-9, atol=1e-12 * scale**2)


@given(problems(max_n=40))
def test_float32_close_to_float64(problem):
    X, sw, k, init = problem
    km64 = _fit(X, sw, k, init, max_iter=1)
    km32 = _fit(X.astype(np.float32), sw, k, init, max_iter=1)
    assert km32.cluster_centers_.dtype == np.float32
    scale = np.abs(X).max()
    # one iteration from the same start: labels agree unless a point is nearly tied
    d64 = np.sort(cdist(X, km64.cluster_centers_, "sqeuclidean"), axis=1)
    if k == 1 or np.all(d64[:, 1] - d64[:, 0] > 1e-3 * scale**2):
        assert_array_equal(km32.labels_, km64.labels_)
        assert_allclose(km32.cluster_centers_, km64.cluster_centers_, atol=1e-4 * scale)
