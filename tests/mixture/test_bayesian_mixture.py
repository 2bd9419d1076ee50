"""BayesianGaussianMixture: scikit-learn parity from the same start, the fused pass, and
properties of variational EM (the ELBO never decreases, surplus components are emptied by
a Dirichlet-process prior, responsibilities sum to one)."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import mixture as sk_mixture
from sklearn.exceptions import ConvergenceWarning

from sklearn_deep.mixture import BayesianGaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PRIOR_TYPES = ["dirichlet_process", "dirichlet_distribution"]
_seeds = st.integers(0, 2**31 - 1)


def _blobs(
    seed, n_components=3, n_features=3, n_per_blob=100, sep=8.0, dtype=np.float64, shared=False
):
    """Anisotropic blobs, centres at least ``1.5 * sep`` apart (one shape if ``shared``)."""
    rng = np.random.RandomState(seed)
    centers = rng.uniform(-3 * sep, 3 * sep, size=(n_components, n_features))
    while (
        n_components > 1
        and min(np.linalg.norm(a - b) for i, a in enumerate(centers) for b in centers[i + 1 :])
        < 1.5 * sep
    ):
        centers = rng.uniform(-3 * sep, 3 * sep, size=(n_components, n_features))
    shape = np.eye(n_features) + 0.3 * rng.randn(n_features, n_features)
    blobs = [
        c
        + rng.randn(n_per_blob, n_features)
        @ (shape if shared else np.eye(n_features) + 0.3 * rng.randn(n_features, n_features))
        for c in centers
    ]
    return np.vstack(blobs).astype(dtype)


def _fitted_attributes(model):
    concentration = model.weight_concentration_
    if isinstance(concentration, tuple):
        concentration = np.concatenate(concentration)
    return {
        "weight_concentration_": concentration,
        "mean_precision_": model.mean_precision_,
        "means_": model.means_,
        "degrees_of_freedom_": model.degrees_of_freedom_,
        "covariances_": model.covariances_,
        "precisions_": model.precisions_,
        "precisions_cholesky_": model.precisions_cholesky_,
        "weights_": model.weights_,
        # scikit-learn's 'tied' bounds are (1,) arrays, ours floats
        "lower_bounds_": np.asarray(model.lower_bounds_, dtype=np.float64).ravel(),
    }


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init_params", ["kmeans", "random"])
def test_same_fit_as_scikit_learn(covariance_type, prior_type, dtype, init_params):
    """From the same random_state (same initial responsibilities), the same model."""
    X = _blobs(0, dtype=dtype)
    params = dict(
        n_components=5,
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=init_params,
        max_iter=40,
        random_state=1,
    )
    if dtype == np.float32:  # the same number of iterations (no stop decided by rounding)
        params.update(tol=0.0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**params).fit(X)
        theirs = sk_mixture.BayesianGaussianMixture(**params).fit(X)
    # float32: our kernels run in float32, scikit-learn's BGM promotes to float64
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-3, atol=2e-3)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    for name, expected in _fitted_attributes(theirs).items():
        actual = _fitted_attributes(ours)[name]
        scale = np.max(np.abs(expected)) if name != "lower_bounds_" else 1.0
        assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=tol["rtol"])
    for name in (
        "weight_concentration_prior_",
        "mean_precision_prior_",
        "degrees_of_freedom_prior_",
    ):
        assert_allclose(getattr(ours, name), getattr(theirs, name))
    assert_allclose(ours.mean_prior_, theirs.mean_prior_, rtol=1e-6)
    assert_allclose(ours.covariance_prior_, theirs.covariance_prior_, rtol=1e-6)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=tol["rtol"] * 100)
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=tol["atol"] * 100)
    if dtype == np.float64:
        assert_array_equal(ours.predict(X), theirs.predict(X))
        assert_allclose(ours.sample(7)[0], theirs.sample(7)[0], rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_fused_iteration_equals_plain_iteration(dtype, prior_type):
    """The one-pass variational EM iteration (full covariances) = E-step, M-step, ELBO."""
    X = _blobs(3, dtype=dtype)
    start = BayesianGaussianMixture(
        n_components=4, weight_concentration_prior_type=prior_type, max_iter=2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(X)
    fused, plain = (
        BayesianGaussianMixture(n_components=4, weight_concentration_prior_type=prior_type)
        for _ in range(2)
    )
    for model in (fused, plain):
        model._check_parameters(X)
        model._set_parameters(start._get_parameters())
    assert fused._e_step(X).moments is not None  # this start takes the fused pass
    bound_fused = fused._em_iteration(X)
    estep = plain._e_step(X, fuse=False)
    assert estep.moments is None and estep.resp is not None
    plain._m_step(X, estep)
    bound_plain = plain._compute_lower_bound(estep)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    assert_allclose(bound_fused, bound_plain, **tol)
    for a, b in zip(fused._get_parameters(), plain._get_parameters()):
        if isinstance(a, tuple):  # the Beta parameters of the Dirichlet process
            a, b = np.concatenate(a), np.concatenate(b)
        assert_allclose(a, b, **tol)


@settings(max_examples=12, deadline=None)
@given(
    seed=_seeds,
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    prior_type=st.sampled_from(PRIOR_TYPES),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_elbo_never_decreases(seed, covariance_type, prior_type, dtype):
    """Each variational EM step maximises the ELBO over one factor: it never goes down."""
    rng = np.random.RandomState(seed)
    X = _blobs(seed, n_components=rng.randint(1, 4), n_features=rng.randint(1, 4), sep=3.0)
    X = X.astype(dtype)
    model = BayesianGaussianMixture(
        n_components=rng.randint(1, 7),
        covariance_type=covariance_type,
        weight_concentration_prior_type=prior_type,
        init_params=str(rng.choice(["kmeans", "random", "random_from_data"])),
        tol=0.0,
        max_iter=25,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    bounds = np.asarray(model.lower_bounds_, dtype=np.float64)
    slack = (1e-4 if dtype == np.float32 else 1e-9) * np.abs(bounds[1:]) + 1e-9
    assert np.all(np.diff(bounds) >= -slack)


@settings(max_examples=12, deadline=None)
@given(seed=_seeds, covariance_type=st.sampled_from(["full", "diag", "spherical"]))
def test_dirichlet_process_empties_surplus_components(seed, covariance_type):
    """Three times too many components on separated blobs: the surplus get no data.

    A surplus component keeps the prior's share of the stick, about 1 / n_samples of the
    weight (its Beta posterior is Beta(1, n_after + gamma)), and under one sample.
    'tied' is left out: one shared covariance can keep an elongated blob split in two at a
    local optimum of the ELBO (scikit-learn stops at the same split, e.g. seed 31341).
    An axis-aligned ('diag') or round ('spherical') covariance cannot follow a correlated
    blob and may give one outlying sample a component of its own, again a local optimum
    scikit-learn reaches too (seed 368612649, 'diag'): where the surplus holds a sample, the
    fit must be the one scikit-learn finds from the same start.
    """
    rng = np.random.RandomState(seed)
    n_true = rng.randint(2, 5)
    X = _blobs(seed, n_components=n_true, n_features=rng.randint(1, 4), sep=8.0, shared=True)
    params = dict(
        n_components=3 * n_true,
        covariance_type=covariance_type,
        weight_concentration_prior_type="dirichlet_process",
        max_iter=200,
        random_state=seed,
    )
    model = BayesianGaussianMixture(**params).fit(X)
    counts = np.sort(model.weight_concentration_[0] - 1.0)[::-1]  # nk, the effective counts
    weights = np.sort(model.weights_)[::-1]
    if covariance_type != "full" and counts[n_true:].sum() >= 1.0:
        reference = sk_mixture.BayesianGaussianMixture(**params).fit(X)
        assert_allclose(counts, np.sort(reference.weight_concentration_[0] - 1.0)[::-1], atol=1e-6)
        return
    assert counts[n_true:].sum() < 1.0
    assert weights[n_true:].max() < 3.0 / X.shape[0]
    assert weights[:n_true].min() > 0.5 / n_true


@settings(max_examples=10, deadline=None)
@given(
    seed=_seeds,
    covariance_type=st.sampled_from(COVARIANCE_TYPES),
    prior_type=st.sampled_from(PRIOR_TYPES),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_responsibilities_sum_to_one(seed, covariance_type, prior_type, dtype):
    rng = np.random.RandomState(seed)
    X = _blobs(seed, n_components=2, n_features=2, sep=4.0).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = BayesianGaussianMixture(
            n_components=rng.randint(1, 6),
            covariance_type=covariance_type,
            weight_concentration_prior_type=prior_type,
            max_iter=10,
            random_state=seed,
        ).fit(X)
    X_new = (rng.randn(50, 2) * 20).astype(dtype)  # far from the data too
    resp = model.predict_proba(X_new)
    assert resp.dtype == dtype
    assert np.all(resp >= 0)
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-6)
    assert_array_equal(model.predict(X_new), resp.argmax(axis=1))


def test_float32_stays_float32_in_the_kernels():
    """float32 data: responsibilities and scores in float32, close to the float64 fit."""
    X = _blobs(5)
    params = dict(n_components=3, max_iter=30, random_state=0)
    m64 = BayesianGaussianMixture(**params).fit(X)
    m32 = BayesianGaussianMixture(**params).fit(X.astype(np.float32))
    assert m32.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert m32.score_samples(X.astype(np.float32)).dtype == np.float32
    assert_allclose(m32.means_, m64.means_, rtol=1e-4, atol=1e-4)
    assert_allclose(m32.lower_bound_, m64.lower_bound_, rtol=1e-5)


def test_thread_count_does_not_change_the_fit():
    from sklearn_deep._numba_config import numba_threads

    X = _blobs(7, n_per_blob=2000)  # enough work for the parallel kernels
    params = dict(n_components=4, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with numba_threads(1):
            one = BayesianGaussianMixture(**params).fit(X)
        two = BayesianGaussianMixture(**params).fit(X)
    for a, b in zip(_fitted_attributes(one).values(), _fitted_attributes(two).values()):
        assert_array_equal(a, b)


def test_bad_priors_are_refused_with_scikit_learn_messages():
    X = _blobs(0)
    with pytest.raises(ValueError, match="'degrees_of_freedom_prior' should be greater than 2"):
        BayesianGaussianMixture(degrees_of_freedom_prior=1.0).fit(X)
    with pytest.raises(ValueError, match="'weight_concentration_prior' parameter"):
        BayesianGaussianMixture(weight_concentration_prior=0.0).fit(X)
    with pytest.raises(ValueError, match="The parameter 'means' should have the shape"):
        BayesianGaussianMixture(mean_prior=np.zeros(2)).fit(X)
    with pytest.raises(ValueError, match="'full covariance_prior' should have the shape"):
        BayesianGaussianMixture(covariance_prior=np.eye(2)).fit(X)
    with pytest.raises(ValueError, match="symmetric, positive-definite"):
        BayesianGaussianMixture(covariance_prior=-np.eye(3)).fit(X)
