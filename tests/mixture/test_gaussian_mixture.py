"""sklearn_deep.mixture.GaussianMixture against scikit-learn, NumPy/SciPy oracles and EM theory."""

import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy import linalg, stats
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_deep._numba_config import numba_threads
from sklearn_deep.mixture import GaussianMixture
from sklearn_deep.mixture._gaussian_mixture import (
    _compute_precision_cholesky,
    _estimate_gaussian_parameters,
)

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]
FITTED = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def _tol(dtype):
    return dict(rtol=2e-3, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-10)


def _blobs(seed=0, n_samples=300, n_features=3, n_components=3, dtype=np.float64, sep=6.0):
    """Well-separated anisotropic Gaussian blobs, their true labels and parameters."""
    rng = np.random.RandomState(seed)
    means = rng.randn(n_components, n_features) * sep
    factors = [
        np.eye(n_features) + 0.3 * rng.randn(n_features, n_features) for _ in range(n_components)
    ]
    labels = rng.randint(n_components, size=n_samples)
    labels[:n_components] = np.arange(n_components)
    X = np.empty((n_samples, n_features))
    for k in range(n_components):
        idx = labels == k
        X[idx] = rng.randn(idx.sum(), n_features) @ factors[k] + means[k]
    return X.astype(dtype), labels


def _initial_parameters(X, n_components, covariance_type, seed=0):
    """Deterministic, valid initial (weights, means, precisions) of the right shapes."""
    rng = np.random.RandomState(seed)
    n_samples, n_features = X.shape
    dtype = X.dtype
    weights = rng.rand(n_components) + 0.5
    weights = (weights / weights.sum()).astype(dtype)
    means = X[rng.choice(n_samples, n_components, replace=False)].astype(dtype)
    cov = np.cov(X.astype(np.float64).T) + 0.1 * np.eye(n_features)
    prec = linalg.inv(cov)
    precisions = {
        "full": np.stack([prec * (0.5 + k) for k in range(n_components)]),
        "tied": prec,
        "diag": np.stack([np.diag(prec) * (0.5 + k) for k in range(n_components)]),
        "spherical": np.array([np.mean(np.diag(prec)) * (0.5 + k) for k in range(n_components)]),
    }[covariance_type].astype(dtype)
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def _assert_same_fit(ours, theirs, dtype):
    tol = _tol(dtype)
    for name in FITTED:
        ours_value, theirs_value = getattr(ours, name), getattr(theirs, name)
        assert ours_value.dtype == theirs_value.dtype, name
        assert_allclose(ours_value, theirs_value, err_msg=name, **tol)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, **tol)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, **tol)
    assert type(ours.lower_bound_) is type(theirs.lower_bound_)


# ----------------------------------------------------------------------------------------
# Equivalence with scikit-learn
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_as_sklearn_from_same_initial_parameters(covariance_type, dtype):
    X, _ = _blobs(dtype=dtype, n_features=4)
    init = _initial_parameters(X, 3, covariance_type)
    params = dict(n_components=3, covariance_type=covariance_type, tol=0, max_iter=15, **init)
    with pytest.warns(ConvergenceWarning):
        ours = GaussianMixture(**params).fit(X)
    with pytest.warns(ConvergenceWarning):
        theirs = SkGaussianMixture(**params).fit(X)
    _assert_same_fit(ours, theirs, dtype)

    X_new, _ = _blobs(seed=1, n_features=4, dtype=dtype)
    tol = _tol(dtype)
    assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    for method in ["score_samples", "predict_proba"]:
        ours_value = getattr(ours, method)(X_new)
        theirs_value = getattr(theirs, method)(X_new)
        assert ours_value.dtype == theirs_value.dtype
        assert_allclose(ours_value, theirs_value, **tol)
    for method in ["score", "bic", "aic"]:
        assert_allclose(getattr(ours, method)(X_new), getattr(theirs, method)(X_new), **tol)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_same_as_sklearn_from_same_random_state(init_params, covariance_type):
    # same draws from the RandomState (k-means / k-means++ / uniform / choice): same fit
    X, _ = _blobs(seed=3, n_features=3, n_components=4, n_samples=250)
    rng_ours, rng_theirs = np.random.RandomState(7), np.random.RandomState(7)
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        init_params=init_params,
        n_init=2,
        max_iter=100,
        tol=1e-5,
    )
    ours = GaussianMixture(random_state=rng_ours, **params).fit(X)
    theirs = SkGaussianMixture(random_state=rng_theirs, **params).fit(X)
    _assert_same_fit(ours, theirs, np.float64)
    # the RandomState instances were consumed identically
    assert rng_ours.randint(1 << 30) == rng_theirs.randint(1 << 30)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_as_sklearn_default_parameters(dtype):
    X, _ = _blobs(seed=5, n_features=2, n_components=3, dtype=dtype)
    ours = GaussianMixture(n_components=3, random_state=0).fit(X)
    theirs = SkGaussianMixture(n_components=3, random_state=0).fit(X)
    _assert_same_fit(ours, theirs, dtype)
    assert_array_equal(ours.fit_predict(X), theirs.fit_predict(X))


def test_sample_draws_like_sklearn():
    X, _ = _blobs(seed=2)
    for covariance_type in COVARIANCE_TYPES:
        ours = GaussianMixture(3, covariance_type=covariance_type, random_state=4).fit(X)
        theirs = SkGaussianMixture(3, covariance_type=covariance_type, random_state=4).fit(X)
        X_ours, y_ours = ours.sample(50)
        X_theirs, y_theirs = theirs.sample(50)
        assert X_ours.dtype == X_theirs.dtype == np.float64
        assert_array_equal(y_ours, y_theirs)
        assert_allclose(X_ours, X_theirs, rtol=1e-8, atol=1e-8)


def test_warm_start_like_sklearn():
    X, _ = _blobs(seed=6)
    params = dict(n_components=3, warm_start=True, max_iter=2, random_state=0, tol=0)
    ours, theirs = GaussianMixture(**params), SkGaussianMixture(**params)
    for _ in range(3):
        with pytest.warns(ConvergenceWarning):
            ours.fit(X)
        with pytest.warns(ConvergenceWarning):
            theirs.fit(X)
        _assert_same_fit(ours, theirs, np.float64)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_with_float64_initial_parameters_dtype_like_sklearn(covariance_type):
    # float64 initial parameters promote the fit of float32 data to float64 in sklearn
    X, _ = _blobs(dtype=np.float32)
    init = _initial_parameters(X.astype(np.float64), 3, covariance_type)
    ours = GaussianMixture(3, covariance_type=covariance_type, max_iter=3, tol=0, **init)
    theirs = SkGaussianMixture(3, covariance_type=covariance_type, max_iter=3, tol=0, **init)
    with pytest.warns(ConvergenceWarning):
        ours.fit(X)
    with pytest.warns(ConvergenceWarning):
        theirs.fit(X)
    _assert_same_fit(ours, theirs, np.float32)
    assert ours.score_samples(X).dtype == theirs.score_samples(X).dtype


def test_verbose_output_like_sklearn(capsys):
    X, _ = _blobs()
    GaussianMixture(3, verbose=1, verbose_interval=1, random_state=0).fit(X)
    ours = capsys.readouterr().out
    SkGaussianMixture(3, verbose=1, verbose_interval=1, random_state=0).fit(X)
    assert ours == capsys.readouterr().out
    GaussianMixture(3, verbose=2, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "Initialization 0" in out and "lower bound" in out


# ----------------------------------------------------------------------------------------
# Properties of EM and of the fitted model
# ----------------------------------------------------------------------------------------

_seeds = st.integers(0, 2**16)


@settings(max_examples=15, deadline=None)
@given(
    seed=_seeds,
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    n_components=st.integers(1, 4),
    init_params=st.sampled_from(["kmeans", "random"]),
)
def test_lower_bound_never_decreases(seed, covariance_type, n_components, init_params):
    # reg_covar=0 makes the M-step the exact maximiser (seeding on single points would
    # need regularisation, hence only the inits that give every component many points)
    X, _ = _blobs(seed=seed, n_samples=120, n_features=2, n_components=3, sep=3.0)
    gm = GaussianMixture(
        n_components,
        covariance_type=covariance_type,
        reg_covar=0,
        init_params=init_params,
        max_iter=30,
        tol=0,
        random_state=seed,
    )
    with pytest.warns(ConvergenceWarning):
        gm.fit(X)
    bounds = np.asarray(gm.lower_bounds_)
    assert np.all(np.isfinite(bounds))
    # the EM theorem, up to rounding
    assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:]).max())


@settings(max_examples=15, deadline=None)
@given(
    seed=_seeds, covariance_type=st.sampled_from(COVARIANCE_TYPES), n_components=st.integers(1, 4)
)
def test_predict_proba_and_score_samples_match_scipy(seed, covariance_type, n_components):
    X, _ = _blobs(seed=seed, n_samples=80, n_features=3, n_components=3, sep=2.0)
    gm = GaussianMixture(
        n_components, covariance_type=covariance_type, max_iter=5, random_state=seed
    ).fit(X)
    proba = gm.predict_proba(X)
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(gm.predict(X), np.argmax(proba, axis=1))

    covariances = {
        "full": lambda c: c,
        "tied": lambda c: [c] * n_components,
        "diag": lambda c: [np.diag(v) for v in c],
        "spherical": lambda c: [v * np.eye(3) for v in c],
    }[covariance_type](gm.covariances_)
    log_dens = np.column_stack(
        [
            stats.multivariate_normal(mean, cov).logpdf(X)
            for mean, cov in zip(gm.means_, covariances)
        ]
    ).reshape(len(X), n_components)
    expected = logsumexp(log_dens + np.log(gm.weights_), axis=1)
    assert_allclose(gm.score_samples(X), expected, rtol=1e-9, atol=1e-9)
    assert_allclose(
        proba, np.exp(log_dens + np.log(gm.weights_) - expected[:, None]), rtol=1e-7, atol=1e-12
    )


@settings(max_examples=15, deadline=None)
@given(seed=_seeds, covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_permuting_components_leaves_likelihood_unchanged(seed, covariance_type):
    X, _ = _blobs(seed=seed, n_samples=90, n_features=2, n_components=3)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=seed).fit(X)
    perm = np.random.RandomState(seed).permutation(3)
    permuted = clone(gm)
    permuted.n_features_in_ = gm.n_features_in_

    def take(a):
        return a if covariance_type == "tied" else a[perm]

    permuted._set_parameters(
        (gm.weights_[perm], gm.means_[perm], take(gm.covariances_), take(gm.precisions_cholesky_))
    )
    assert_allclose(permuted.score_samples(X), gm.score_samples(X), rtol=1e-12)
    assert_allclose(permuted.predict_proba(X), gm.predict_proba(X)[:, perm], atol=1e-12)
    assert_allclose(permuted.precisions_, take(gm.precisions_))


@settings(max_examples=20, deadline=None)
@given(seed=_seeds, dtype=st.sampled_from([np.float64, np.float32]))
def test_one_hot_m_step_is_closed_form_mle(seed, dtype):
    rng = np.random.RandomState(seed)
    n_samples, n_features, n_components = 60, 3, 3
    X = (rng.randn(n_samples, n_features) * 3 + 1).astype(dtype)
    labels = rng.permutation(np.arange(n_samples) % n_components)
    resp = np.eye(n_components, dtype=dtype)[labels]
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for covariance_type in COVARIANCE_TYPES:
        nk, means, covariances = _estimate_gaussian_parameters(X, resp, 0.0, covariance_type)
        X64 = X.astype(np.float64)
        counts = np.bincount(labels)
        group_means = np.stack([X64[labels == k].mean(axis=0) for k in range(n_components)])
        group_covs = np.stack([np.cov(X64[labels == k].T, bias=True) for k in range(n_components)])
        assert nk.dtype == means.dtype == covariances.dtype == dtype
        assert_allclose(nk, counts, **tol)
        assert_allclose(means, group_means, **tol)
        expected = {
            "full": group_covs,
            "tied": np.einsum("k,kij->ij", counts, group_covs) / n_samples,
            "diag": np.stack([np.diag(c) for c in group_covs]),
            "spherical": np.stack([np.diag(c).mean() for c in group_covs]),
        }[covariance_type]
        assert_allclose(covariances, expected, **tol)


@settings(max_examples=8, deadline=None)
@given(seed=_seeds, covariance_type=st.sampled_from(COVARIANCE_TYPES))
def test_sample_then_refit_recovers_parameters(seed, covariance_type):
    rng = np.random.RandomState(seed)
    n_features = 2
    truth = GaussianMixture(3, covariance_type=covariance_type, random_state=seed)
    truth.n_features_in_ = n_features
    means = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]]) + rng.randn(3, n_features)
    weights = np.array([0.5, 0.3, 0.2])
    A = np.eye(n_features) + 0.3 * rng.randn(n_features, n_features)
    full = np.stack([A @ A.T * s for s in (1.0, 0.5, 1.5)])
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": np.stack([np.diag(c) for c in full]),
        "spherical": np.array([1.0, 0.5, 1.5]),
    }[covariance_type]
    truth._set_parameters(
        (weights, means, covariances, _compute_precision_cholesky(covariances, covariance_type))
    )
    X, y = truth.sample(6000)
    fitted = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert adjusted_rand_score(y, fitted.predict(X)) > 0.99
    order = [int(np.argmin(np.linalg.norm(fitted.means_ - m, axis=1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    assert_allclose(fitted.means_[order], means, atol=0.2)
    assert_allclose(fitted.weights_[order], weights, atol=0.04)
    fitted_cov = fitted.covariances_ if covariance_type == "tied" else fitted.covariances_[order]
    assert_allclose(fitted_cov, covariances, rtol=0.15, atol=0.15)


@settings(max_examples=15, deadline=None)
@given(
    seed=_seeds,
    dtype=st.sampled_from([np.float64, np.float32]),
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
)
def test_covariances_and_precisions_spd(seed, dtype, covariance_type):
    X, _ = _blobs(seed=seed, n_samples=60, n_features=3, n_components=2, dtype=dtype, sep=1.0)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=seed).fit(X)
    for name in ["covariances_", "precisions_"]:
        value = getattr(gm, name)
        assert value.dtype == dtype
        if covariance_type in ("full", "tied"):
            mats = value if covariance_type == "full" else value[None]
            assert_allclose(mats, np.swapaxes(mats, 1, 2), rtol=1e-5)
            assert np.all(np.linalg.eigvalsh(mats.astype(np.float64)) > 0)
        else:
            assert np.all(value > 0)
    assert np.all(np.isfinite(gm.means_)) and np.all(gm.weights_ > 0)
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-5)


# ----------------------------------------------------------------------------------------
# Determinism, threads, dtypes
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_thread_count_does_not_change_results(covariance_type):
    # several reduction chunks and several E-step blocks
    X, _ = _blobs(seed=8, n_samples=20_000, n_features=5, n_components=4)
    params = dict(
        n_components=4,
        covariance_type=covariance_type,
        random_state=0,
        init_params="random_from_data",
        max_iter=5,
        tol=0,
    )
    fits = []
    for n_threads in (1, 2):
        with numba_threads(n_threads), pytest.warns(ConvergenceWarning):
            fits.append(GaussianMixture(**params).fit(X))
    for name in FITTED:
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    with numba_threads(1):
        one = fits[0].predict_proba(X)
    with numba_threads(2):
        two = fits[0].predict_proba(X)
    assert_array_equal(one, two)


def test_float32_stays_float32():
    X, _ = _blobs(dtype=np.float32)
    gm = GaussianMixture(3, random_state=0).fit(X)
    for name in FITTED:
        assert getattr(gm, name).dtype == np.float32, name
    assert gm.score_samples(X).dtype == np.float32
    assert gm.predict_proba(X).dtype == np.float32
    assert isinstance(gm.lower_bound_, np.float32)
    # float64 data on a float32 model is scored in float64 (NumPy promotion, as sklearn)
    assert gm.score_samples(X.astype(np.float64)).dtype == np.float64


def test_fit_predict_equals_fit_then_predict():
    X, _ = _blobs(seed=9, n_samples=400, sep=1.5)
    for max_iter in (1, 3, 100):
        params = dict(n_components=3, max_iter=max_iter, random_state=1, n_init=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = GaussianMixture(**params).fit_predict(X)
            assert_array_equal(labels, GaussianMixture(**params).fit(X).predict(X))


def test_pickle_clone_pipeline_and_grid_search():
    X, _ = _blobs(seed=10, n_samples=200)
    gm = GaussianMixture(3, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(gm))
    assert_array_equal(restored.score_samples(X), gm.score_samples(X))
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    assert pipe.predict(X).shape == (200,)
    search = GridSearchCV(
        GaussianMixture(random_state=0), {"n_components": [1, 3]}, cv=2, n_jobs=2
    ).fit(X)
    assert search.best_params_ == {"n_components": 3}


# ----------------------------------------------------------------------------------------
# Bad input and ill-conditioned data
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_input_raises(value):
    X, _ = _blobs()
    X[3, 1] = value
    with pytest.raises(ValueError, match="Input X contains (NaN|infinity)"):
        GaussianMixture(2).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(_blobs()[0])
    with pytest.raises(ValueError, match="Input X contains"):
        gm.predict(X)


def test_bad_parameters_and_shapes():
    X, _ = _blobs(n_samples=20)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        GaussianMixture(21).fit(X)
    with pytest.raises(InvalidParameterError, match="n_components"):
        GaussianMixture(0).fit(X)
    with pytest.raises(InvalidParameterError, match="covariance_type"):
        GaussianMixture(2, covariance_type="banana").fit(X)
    with pytest.raises(InvalidParameterError, match="init_params"):
        GaussianMixture(2, init_params="banana").fit(X)
    with pytest.raises(ValueError, match=re.escape("'means' should have the shape of (2, 3)")):
        GaussianMixture(2, means_init=np.zeros((2, 4))).fit(X)
    with pytest.raises(ValueError, match="'full precision' should be symmetric, positive-def"):
        GaussianMixture(2, precisions_init=np.stack([np.eye(3), -np.eye(3)])).fit(X)
    with pytest.raises(ValueError, match="'diag precision' should be positive"):
        GaussianMixture(2, covariance_type="diag", precisions_init=-np.ones((2, 3))).fit(X)
    with pytest.raises(ValueError, match="should have the shape of"):
        GaussianMixture(2, covariance_type="tied", precisions_init=np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="should be normalized"):
        GaussianMixture(2, weights_init=[0.2, 0.2]).fit(X)
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        GaussianMixture(1).fit(X[:1])
    gm = GaussianMixture(2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        gm.predict(X[:, :2])
    with pytest.raises(NotFittedError):
        GaussianMixture(2).score_samples(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_ill_conditioned_data_raises_naming_reg_covar(covariance_type):
    # a component that collapses onto repeated points: sklearn's error, never NaN parameters
    X = np.vstack([np.zeros((5, 3)), np.ones((5, 3)), np.full((5, 3), 2.0)])
    gm = GaussianMixture(4, covariance_type=covariance_type, reg_covar=0, random_state=0)
    with pytest.warns(ConvergenceWarning), pytest.raises(ValueError, match="increase reg_covar"):
        gm.fit(X)
    with pytest.warns(ConvergenceWarning):  # k-means finds 3 distinct clusters out of 4
        gm.set_params(reg_covar=1e-6).fit(X)
    for name in FITTED:
        assert np.all(np.isfinite(getattr(gm, name)))


def test_zero_variance_feature():
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randn(100), np.full(100, 3.0)])
    with pytest.raises(ValueError, match="increase reg_covar"):
        GaussianMixture(2, reg_covar=0, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(X)
    assert np.all(np.isfinite(gm.score_samples(X)))
    with pytest.raises(ValueError, match="passing float64"):
        GaussianMixture(2, reg_covar=0, random_state=0).fit(X.astype(np.float32))


def test_zero_weight_component_is_never_chosen():
    X, _ = _blobs()
    gm = GaussianMixture(3, random_state=0).fit(X)
    gm.weights_ = np.array([0.5, 0.5, 0.0])
    proba = gm.predict_proba(X)
    assert np.all(proba[:, 2] == 0) and np.all(np.isfinite(proba))
    assert np.all(gm.predict(X) != 2)


def test_import_does_not_import_torch():
    code = "import sys, sklearn_deep.mixture; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
