"""KMeans on dask arrays, on a real ``distributed.LocalCluster`` (2 worker processes)."""

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sklearn_deep.cluster import KMeans  # noqa: E402


def _warm_kernels():
    """Compile (or load) the kernels once in this process with the synchronous scheduler:
    the on-disk Numba cache then serves the workers, which would otherwise each compile."""
    import dask

    with dask.config.set(scheduler="synchronous"):
        for dtype in (np.float32, np.float64):
            X = da.from_array(_blobs(n_per=20, n_centers=2, dtype=dtype), chunks=25)
            km = KMeans(2, n_init=1, random_state=0, max_iter=2).fit(X)
            km.transform(X).compute()


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


def _blobs(n_per=300, n_features=4, n_centers=5, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, 3.0, (n_centers, n_features))
    X = np.concatenate([rng.normal(c, 1.0, (n_per, n_features)) for c in centers]) + 5.0
    rng.shuffle(X)
    return X.astype(dtype)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("persist", [False, True])
def test_fit_matches_in_memory(client, weighted, persist):
    """From the same initial centres: identical labels, inertia to 1e-10 relative, on a
    lazy X (stateless Lloyd passes) and on a persisted X (state and bounds kept on the
    workers)."""
    from sklearn_deep.utils._dask import _BlockMapper

    X = _blobs()
    Xd = da.from_array(X, chunks=(400, -1))
    if persist:
        Xd = Xd.persist()
    assert _BlockMapper(Xd).on_futures == persist
    init = X[[0, 1, 2, 3, 4]].copy()
    sw = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0]) if weighted else None
    swd = None if sw is None else da.from_array(sw, chunks=250)  # other chunks than X
    ref = KMeans(5, init=init, n_init=1, tol=1e-8).fit(X, sample_weight=sw)
    km = KMeans(5, init=init, n_init=1, tol=1e-8).fit(Xd, sample_weight=swd)

    assert isinstance(km.labels_, da.Array)
    assert km.labels_.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)
    assert km.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-10)
    np.testing.assert_allclose(km.cluster_centers_, ref.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert km.n_features_in_ == X.shape[1]

    # lazy predictions with the input's chunks
    labels = km.predict(Xd)
    assert isinstance(labels, da.Array) and labels.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X))
    dist = km.transform(Xd)
    assert isinstance(dist, da.Array) and dist.chunks == (Xd.chunks[0], (5,))
    np.testing.assert_allclose(dist.compute(), ref.transform(X), rtol=1e-10)
    np.testing.assert_allclose(
        km.score(Xd, sample_weight=swd), ref.score(X, sample_weight=sw), rtol=1e-10
    )


def test_float32_stays_float32(client):
    X = _blobs(dtype=np.float32)
    km = KMeans(5, init=X[:5].copy(), n_init=1).fit(da.from_array(X, chunks=500))
    ref = KMeans(5, init=X[:5].copy(), n_init=1).fit(X)
    assert km.cluster_centers_.dtype == np.float32
    assert km.transform(da.from_array(X, chunks=500)).dtype == np.float32
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-5)


def test_kmeans_parallel_init(client):
    """k-means|| (init='k-means++' on dask input): deterministic for a random_state and as
    good as in-memory k-means++ on separated blobs."""
    rng = np.random.default_rng(3)
    centers = rng.normal(0.0, 20.0, (6, 4))
    X = np.concatenate([rng.normal(c, 1.0, (200, 4)) for c in centers])
    rng.shuffle(X)
    Xd = da.from_array(X, chunks=300)
    ref = KMeans(6, random_state=0, n_init=5).fit(X)
    for seed in range(2):
        a = KMeans(6, random_state=seed).fit(Xd)
        assert a.n_iter_ < 10
        np.testing.assert_allclose(a.inertia_, ref.inertia_, rtol=1e-6)
    b = KMeans(6, random_state=seed).fit(Xd)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    # init="random": n_init restarts of distinct weighted random rows, the best one kept
    r1 = KMeans(6, init="random", n_init=1, random_state=0).fit(Xd)
    r3 = KMeans(6, init="random", n_init=3, random_state=0).fit(Xd)
    assert ref.inertia_ * (1 - 1e-9) <= r3.inertia_ <= r1.inertia_


@pytest.mark.parametrize("persist", [False, True])
def test_empty_cluster_relocated(client, persist):
    """A centre far from every sample gets the farthest sample, as in memory."""
    X = _blobs(n_per=100, n_centers=3, seed=5)
    init = np.vstack([X[:2], np.full((1, X.shape[1]), 1e3)])
    ref = KMeans(3, init=init, n_init=1).fit(X)
    Xd = da.from_array(X, chunks=120)
    km = KMeans(3, init=init, n_init=1).fit(Xd.persist() if persist else Xd)
    np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)
    np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-10)


def test_errors(client):
    X = da.from_array(_blobs(n_per=2, n_centers=2), chunks=2)
    with pytest.raises(ValueError, match="n_samples=4 should be >= n_clusters=5"):
        KMeans(5).fit(X)
    bad = da.from_array(np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), chunks=2)
    with pytest.raises(ValueError, match="NaN"):
        KMeans(2).fit(bad)
    km = KMeans(2, n_init=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but KMeans is expecting 4"):
        km.predict(da.zeros((5, 3), chunks=2))


def test_grid_search_on_cluster_matches_local(client):
    """GridSearchCV through joblib's dask backend: same results as the local run."""
    import joblib
    from sklearn.model_selection import GridSearchCV

    X = _blobs(n_per=60, n_centers=4, seed=7)
    grid = {"n_clusters": [2, 4, 6], "init": ["k-means++", "random"]}
    local = GridSearchCV(KMeans(random_state=0, n_init=2), grid, cv=3).fit(X)
    remote = GridSearchCV(KMeans(random_state=0, n_init=2), grid, cv=3, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        remote.fit(X)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(
        remote.best_estimator_.cluster_centers_, local.best_estimator_.cluster_centers_
    )

    # the fits ran on the workers, each with one Numba thread
    def numba_threads():
        import numba

        return numba.config.NUMBA_NUM_THREADS, numba.get_num_threads()

    assert set(client.run(numba_threads).values()) == {(1, 1)}


def test_incremental_minibatch_kmeans_on_cluster(client):
    """dask-ml's ``Incremental`` streams the blocks of a dask array through
    ``MiniBatchKMeans.partial_fit`` on the workers: the centres of a plain loop over the
    same NumPy chunks, lazy predictions."""
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from sklearn_deep.cluster import MiniBatchKMeans

    X = _blobs(n_per=120, n_centers=4, seed=11)
    Xd = da.from_array(X, chunks=(96, -1))
    inc = wrappers.Incremental(MiniBatchKMeans(4, random_state=0), shuffle_blocks=False)
    with distributed.get_task_stream(client) as tasks:
        inc.fit(Xd)
    assert sum("partial" in str(t["key"]) or "fit" in str(t["key"]) for t in tasks.data) >= 5
    ref = MiniBatchKMeans(4, random_state=0)
    for start in range(0, X.shape[0], 96):
        ref.partial_fit(X[start : start + 96])
    np.testing.assert_array_equal(inc.estimator_.cluster_centers_, ref.cluster_centers_)
    assert inc.estimator_.n_steps_ == ref.n_steps_ == Xd.numblocks[0]
    labels = inc.predict(Xd)
    assert isinstance(labels, da.Array) and labels.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), ref.predict(X))


def test_threaded_scheduler_matches_in_memory():
    """Without a cluster (dask's default threaded scheduler, tasks sharing one process)."""
    import dask

    X = _blobs(n_per=400, seed=9)
    init = X[:5].copy()
    ref = KMeans(5, init=init, n_init=1).fit(X)
    with dask.config.set(scheduler="threads", num_workers=2):
        km = KMeans(5, init=init, n_init=1).fit(da.from_array(X, chunks=150))
        np.testing.assert_array_equal(km.labels_.compute(), ref.labels_)
        np.testing.assert_allclose(km.inertia_, ref.inertia_, rtol=1e-10)
        # k-means|| with many small blocks in parallel threads
        KMeans(5, random_state=0).fit(da.from_array(X, chunks=100))


def test_grid_search_neural_on_cluster_matches_local(client):
    """A neural estimator searched on the cluster: same scores as locally, one torch thread
    per worker (OMP_NUM_THREADS=1 in the workers' environment)."""
    pytest.importorskip("torch")
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from sklearn_deep.neural_network import CNNClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:240].astype(np.float32), y[:240]
    est = CNNClassifier(
        input_shape=(1, 8, 8), channels=(4,), kernel_size=3, max_epochs=2, random_state=0
    )
    grid = {"lr": [1e-3, 1e-2]}
    local = GridSearchCV(est, grid, cv=2).fit(X, y)
    remote = GridSearchCV(est, grid, cv=2, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        remote.fit(X, y)
    np.testing.assert_array_equal(
        remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )

    def torch_threads():
        import torch

        return torch.get_num_threads()

    assert set(client.run(torch_threads).values()) == {1}
