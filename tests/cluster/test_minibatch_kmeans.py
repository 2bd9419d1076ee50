"""MiniBatchKMeans against scikit-learn 1.9's from the same start on the same batches."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import MiniBatchKMeans as SkMiniBatchKMeans
from sklearn.datasets import make_blobs

from sklearn_deep.cluster import MiniBatchKMeans


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(1500, centers=5, n_features=4, cluster_std=2.0, random_state=0)
    return X


def _assert_same(ours, ref, rtol):
    assert ours.n_steps_ == ref.n_steps_
    assert getattr(ours, "n_iter_", None) == getattr(ref, "n_iter_", None)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"init": "random", "batch_size": 100, "tol": 1e-3},
        # tiny batches, many light centres: exercises the random reassignment
        {"batch_size": 20, "max_iter": 2, "max_no_improvement": None, "reassignment_ratio": 0.3},
    ],
)
def test_fit_matches_sklearn(blobs, dtype, sparse, params):
    X = blobs.astype(dtype)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) > 3, X, 0))
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    ref = SkMiniBatchKMeans(5, random_state=0, **params).fit(X, sample_weight=sw)
    ours = MiniBatchKMeans(5, random_state=0, **params).fit(X, sample_weight=sw)
    assert ours.cluster_centers_.dtype == dtype
    _assert_same(ours, ref, rtol=1e-4 if dtype == np.float32 else 1e-10)


def test_compute_labels_false(blobs):
    ref = SkMiniBatchKMeans(5, random_state=1, compute_labels=False).fit(blobs)
    ours = MiniBatchKMeans(5, random_state=1, compute_labels=False).fit(blobs)
    assert not hasattr(ours, "labels_")
    np.testing.assert_allclose(ours.inertia_, ref.inertia_, rtol=1e-10)


def test_partial_fit_stream_matches_sklearn(blobs):
    """A plain loop over chunks (what dask_ml's Incremental does)."""
    ref = SkMiniBatchKMeans(5, random_state=0, batch_size=100)
    ours = MiniBatchKMeans(5, random_state=0, batch_size=100)
    for start in range(0, blobs.shape[0], 150):
        ref.partial_fit(blobs[start : start + 150])
        ours.partial_fit(blobs[start : start + 150])
        np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-10)
    _assert_same(ours, ref, rtol=1e-10)
    np.testing.assert_array_equal(ours.predict(blobs), ref.predict(blobs))
    np.testing.assert_allclose(ours.transform(blobs), ref.transform(blobs), rtol=1e-10)


def test_partial_fit_over_dask_blocks(blobs):
    """Streaming a dask array block by block gives the loop over the NumPy chunks."""
    da = pytest.importorskip("dask.array")
    Xd = da.from_array(blobs, chunks=(300, -1))
    ours = MiniBatchKMeans(5, random_state=0)
    for block in Xd.blocks:
        ours.partial_fit(block.compute())
    ref = MiniBatchKMeans(5, random_state=0)
    for start in range(0, blobs.shape[0], 300):
        ref.partial_fit(blobs[start : start + 300])
    np.testing.assert_array_equal(ours.cluster_centers_, ref.cluster_centers_)
    # predictions on the dask array stay lazy, chunked as the input
    labels = ours.predict(Xd)
    assert labels.chunks == (Xd.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), ours.predict(blobs))


def test_warnings_and_errors_as_sklearn(blobs):
    init = blobs[:5]
    with pytest.warns(RuntimeWarning, match="performing only one init"):
        MiniBatchKMeans(5, init=init, n_init=3).fit(blobs)
    with pytest.warns(RuntimeWarning, match="init_size=3 should be larger than n_clusters=5"):
        MiniBatchKMeans(5, init_size=3, random_state=0).fit(blobs)
    with pytest.raises(ValueError, match="n_samples=3 should be >= n_clusters=5"):
        MiniBatchKMeans(5).fit(blobs[:3])
    with pytest.raises(ValueError, match="batch_size"):
        MiniBatchKMeans(5, batch_size=0).fit(blobs)
    with pytest.raises(ValueError, match="The shape of the initial centers"):
        MiniBatchKMeans(5, init=blobs[:4]).fit(blobs)
