"""GaussianMixture on dask arrays, on a real ``distributed.LocalCluster`` (2 processes)."""

import re
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sklearn_deep.mixture import BayesianGaussianMixture, GaussianMixture  # noqa: E402


def _data(seed=0, n_per=250, n_features=3, n_components=3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0, (n_components, n_features))
    X = np.concatenate([rng.normal(c, 1.0, (n_per, n_features)) for c in centers])
    rng.shuffle(X)
    return X


def _warm_kernels():
    """Compile (or load) the kernels here first: the Numba cache then serves the workers."""
    import dask

    X = da.from_array(_data(n_per=10), chunks=12)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for covariance_type in ("full", "tied", "diag", "spherical"):
            gm = GaussianMixture(3, covariance_type=covariance_type, max_iter=2).fit(X)
            gm.predict_proba(X).compute()


@pytest.fixture(scope="module")
def client():
    _warm_kernels()
    # one task per worker, one Numba/OpenMP thread per task: no oversubscription. (``env``
    # is applied in the worker after it starts: fine here, where the main module, pytest,
    # does not import Numba; a script that does should use
    # ``distributed.nanny.pre-spawn-environ`` instead, see the Scaling out guide)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize(
    "covariance_type, persist",
    [("full", False), ("full", True), ("tied", False), ("diag", True), ("spherical", False)],
)
def test_fit_matches_in_memory(client, covariance_type, persist):
    """From the same initial parameters: same iterations, lower bound to 1e-10 relative,
    identical labels, lazy predictions with the input's chunks (lazy X: per-iteration
    graphs; persisted X: tasks on the futures of its blocks)."""
    X = _data()
    Xd = da.from_array(X, chunks=(200, -1))
    if persist:
        Xd = Xd.persist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = GaussianMixture(
            3, covariance_type=covariance_type, max_iter=2, random_state=0, init_params="random"
        ).fit(X)
    params = dict(
        covariance_type=covariance_type,
        tol=1e-4,
        max_iter=30,
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    ref = GaussianMixture(3, **params).fit(X)
    gm = GaussianMixture(3, **params)
    labels = gm.fit_predict(Xd)

    assert gm.n_iter_ == ref.n_iter_ and gm.converged_ == ref.converged_
    np.testing.assert_allclose(gm.lower_bound_, ref.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-10)
    np.testing.assert_allclose(gm.means_, ref.means_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gm.covariances_, ref.covariances_, rtol=1e-9, atol=1e-10)
    assert isinstance(labels, da.Array) and labels.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X))
    np.testing.assert_array_equal(gm.predict(Xd).compute(), ref.predict(X))
    proba = gm.predict_proba(Xd)
    assert proba.chunks == (Xd.chunks[0], (3,))
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(X), rtol=1e-8, atol=1e-12)
    scores = gm.score_samples(Xd)
    assert scores.chunks == (Xd.chunks[0],)
    np.testing.assert_allclose(scores.compute(), ref.score_samples(X), rtol=1e-10)
    np.testing.assert_allclose(gm.score(Xd), ref.score(X), rtol=1e-10)


def test_fused_fallback_far_start(client):
    """Means started far from the data: the fused full-covariance pass falls back to two
    passes (as in memory) and still matches."""
    X = _data(seed=2)
    params = dict(
        tol=1e-4,
        max_iter=30,
        means_init=np.array([[50.0, 0, 0], [0, 60.0, 0], [0, 0, 70.0]]),
        weights_init=np.full(3, 1 / 3),
        precisions_init=np.stack([np.eye(3) * 1e-3] * 3),
    )
    ref = GaussianMixture(3, **params).fit(X)
    gm = GaussianMixture(3, **params).fit(da.from_array(X, chunks=300))
    assert gm.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(gm.lower_bounds_, ref.lower_bounds_, rtol=1e-10)


def test_init_params(client):
    """random_from_data draws the same rows as in memory; the other inits converge to the
    same optimum on separated data and are deterministic."""
    X = _data(seed=4)
    Xd = da.from_array(X, chunks=300)
    ref = GaussianMixture(3, init_params="random_from_data", random_state=0).fit(X)
    gm = GaussianMixture(3, init_params="random_from_data", random_state=0).fit(Xd)
    assert gm.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(gm.lower_bound_, ref.lower_bound_, rtol=1e-10)
    for init_params in ("kmeans", "k-means++"):
        a = GaussianMixture(3, init_params=init_params, random_state=0).fit(Xd)
        b = GaussianMixture(3, init_params=init_params, random_state=0).fit(Xd)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_allclose(a.lower_bound_, ref.lower_bound_, rtol=1e-4)


def test_errors(client):
    gm = GaussianMixture(3, init_params="random_from_data", random_state=0)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        gm.fit(da.zeros((2, 2), chunks=1) + np.arange(2.0))
    gm.fit(da.from_array(_data(), chunks=300))
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is expecting 3"):
        gm.predict(da.zeros((4, 2), chunks=2))


def test_bayesian_mixture_fit_not_supported(client):
    """BayesianGaussianMixture has no dask fit: a clear NotImplementedError, nothing
    computed; a model fitted in memory still predicts a dask array block by block."""
    X = _data()
    Xd = da.from_array(X, chunks=(200, -1))
    bgm = BayesianGaussianMixture(n_components=3, random_state=0)
    for fit in (bgm.fit, bgm.fit_predict):
        with pytest.raises(
            NotImplementedError, match="BayesianGaussianMixture does not support dask arrays"
        ):
            fit(Xd)
    assert not hasattr(bgm, "weights_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bgm.fit(X)
    np.testing.assert_array_equal(bgm.predict(Xd).compute(), bgm.predict(X))
    np.testing.assert_allclose(bgm.score_samples(Xd).compute(), bgm.score_samples(X), rtol=1e-12)


def test_randomized_search_on_cluster_matches_local(client):
    """RandomizedSearchCV over GaussianMixture through joblib's dask backend, on the
    LocalCluster: the same draws, scores and best model as the local run."""
    import joblib
    from scipy.stats import loguniform
    from sklearn.model_selection import RandomizedSearchCV

    X = _data(seed=6)
    space = {
        "n_components": [2, 3, 4],
        "covariance_type": ["full", "diag", "spherical"],
        "reg_covar": loguniform(1e-6, 1e-2),
    }
    kw = dict(n_iter=5, cv=3, random_state=0)
    local = RandomizedSearchCV(GaussianMixture(random_state=0), space, **kw).fit(X)
    remote = RandomizedSearchCV(GaussianMixture(random_state=0), space, n_jobs=-1, **kw)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        remote.fit(X)
    # the 5 x 3 fits ran on the workers, as joblib batches ("batch_of_<func>_<n>_calls"; the
    # auto batch size groups a varying number of calls per task)
    calls = [re.search(r"batch_of_\w+?_(\d+)_calls", str(t["key"])) for t in tasks.data]
    assert sum(int(m.group(1)) for m in calls if m) >= 5 * 3
    assert remote.cv_results_["params"] == local.cv_results_["params"]
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.best_estimator_.means_, local.best_estimator_.means_)


def test_incremental_gaussian_mixture_on_cluster(client):
    """dask-ml's ``Incremental`` streams the blocks through ``GaussianMixture.partial_fit``
    on the workers (stepwise EM): the model of a plain loop over the same NumPy chunks, and
    lazy predictions with the input's chunks."""
    wrappers = pytest.importorskip("dask_ml.wrappers")

    X = _data(seed=8)
    Xd = da.from_array(X, chunks=(150, -1))
    inc = wrappers.Incremental(GaussianMixture(3, random_state=0), shuffle_blocks=False)
    with distributed.get_task_stream(client) as tasks:
        inc.fit(Xd)
    assert sum("partial" in str(t["key"]) or "fit" in str(t["key"]) for t in tasks.data) >= 5
    ref = GaussianMixture(3, random_state=0)
    for start in range(0, X.shape[0], 150):
        ref.partial_fit(X[start : start + 150])
    assert inc.estimator_.n_steps_ == ref.n_steps_ == Xd.numblocks[0]
    np.testing.assert_allclose(inc.estimator_.means_, ref.means_, rtol=1e-12)
    np.testing.assert_allclose(inc.estimator_.covariances_, ref.covariances_, rtol=1e-12)
    labels = inc.predict(Xd)
    assert isinstance(labels, da.Array) and labels.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X))
