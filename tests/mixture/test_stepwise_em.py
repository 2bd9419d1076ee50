"""Stepwise (online) EM on mini-batches (GaussianMixture.partial_fit)."""

import warnings

import numpy as np
import pytest

from sklearn_deep.mixture import GaussianMixture
from sklearn_deep.mixture._stepwise_em import _partial_fit


def _data(n_per=400, seed=0):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0, 5.0], [4.0, 1.0, 5.0], [0.0, 5.0, 6.0]])
    X = np.concatenate([rng.normal(m, [1.0, 0.6, 0.8], (n_per, 3)) for m in means]) + 20.0
    rng.shuffle(X)
    return X


def _start(X, covariance_type):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = GaussianMixture(3, covariance_type=covariance_type, max_iter=1, random_state=0)
        g.fit(X[:200])
    return dict(weights_init=g.weights_, means_init=g.means_, precisions_init=g.precisions_)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_full_batch_steps_are_batch_em(covariance_type):
    """eta = 1 (alpha = 0) on the whole data: each step is one batch EM iteration."""
    X = _data()
    params = dict(covariance_type=covariance_type, **_start(X, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GaussianMixture(3, max_iter=5, tol=0, **params).fit(X)
    est = GaussianMixture(3, **params)
    bounds = [_partial_fit(est, X, alpha=0).lower_bound_ for _ in range(5)]
    np.testing.assert_allclose(bounds, ref.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-9)
    np.testing.assert_allclose(est.covariances_, ref.covariances_, rtol=1e-8)
    np.testing.assert_allclose(est.weights_, ref.weights_, rtol=1e-9)
    np.testing.assert_allclose(est.score(X), ref.score(X), rtol=1e-10)
    assert est.n_steps_ == 5


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_stream_improves_towards_batch_em(covariance_type):
    """On i.i.d. mini-batches the held-out log-likelihood rises and ends near batch EM's."""
    X = _data(seed=1)
    test = _data(n_per=300, seed=2)
    est = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    scores = []
    for start in range(0, X.shape[0], 100):
        _partial_fit(est, X[start : start + 100])
        scores.append(est.score(test))
    batch = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert scores[-1] > scores[0]
    assert scores[-1] > batch.score(test) - 0.02
    # deterministic for a random_state
    again = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for start in range(0, X.shape[0], 100):
        _partial_fit(again, X[start : start + 100])
    np.testing.assert_array_equal(again.means_, est.means_)


def test_after_fit_continues_from_fitted_parameters():
    """partial_fit after fit starts from the fitted model: its first step on the whole data
    is one more EM iteration; a later fit restarts the running statistics."""
    X = _data(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = GaussianMixture(3, max_iter=3, tol=0, random_state=0).fit(X)
        ref = GaussianMixture(3, max_iter=4, tol=0, random_state=0).fit(X)
    _partial_fit(est, X)
    np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-9)
    assert est.n_steps_ == 1
    _partial_fit(est, X[:500])
    assert est.n_steps_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    _partial_fit(est, X)
    assert est.n_steps_ == 1
    np.testing.assert_allclose(est.means_, ref.means_, rtol=1e-9)


def test_errors():
    est = GaussianMixture(3, random_state=0)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        _partial_fit(est, np.arange(4.0).reshape(2, 2))
    _partial_fit(est, _data()[:100])
    with pytest.raises(ValueError, match="X has 2 features"):
        _partial_fit(est, np.zeros((10, 2)))


def test_public_partial_fit_is_stepwise_em():
    """GaussianMixture.partial_fit runs the stepwise update (alpha 0.7), validates its
    parameters and returns the estimator."""
    X = _data(seed=4)
    est = GaussianMixture(3, random_state=0)
    ref = GaussianMixture(3, random_state=0)
    for start in range(0, X.shape[0], 200):
        assert est.partial_fit(X[start : start + 200]) is est
        _partial_fit(ref, X[start : start + 200])
    np.testing.assert_array_equal(est.means_, ref.means_)
    np.testing.assert_array_equal(est.covariances_, ref.covariances_)
    assert est.n_iter_ == est.n_steps_ == 6
    assert not est.converged_
    with pytest.raises(ValueError, match="covariance_type"):
        GaussianMixture(3, covariance_type="bogus").partial_fit(X)


def test_partial_fit_over_dask_blocks():
    """A loop over the blocks of a Dask array (rows shuffled) reaches batch EM's held-out
    score within a small margin."""
    da = pytest.importorskip("dask.array")
    X = da.from_array(_data(seed=5), chunks=(150, 3))
    test = _data(n_per=300, seed=6)
    gm = GaussianMixture(3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning from a partial_fit step
        for block in X.blocks:
            gm.partial_fit(block.compute())
    batch = GaussianMixture(3, random_state=0).fit(X.compute())
    assert gm.n_steps_ == X.numblocks[0]
    assert gm.score(test) > batch.score(test) - 0.05
