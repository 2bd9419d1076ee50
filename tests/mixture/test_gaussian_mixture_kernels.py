"""The Numba kernels of GaussianMixture against plain NumPy/SciPy oracles."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import linalg
from scipy.special import logsumexp

from sklearn_deep.mixture import _gaussian_estep as gm_estep
from sklearn_deep.mixture import _gaussian_mixture_kernels as kernels
from sklearn_deep.mixture import _gaussian_mstep as gm_mstep

DTYPES = [np.float64, np.float32]
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _tol(dtype):
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)


def _random_problem(dtype, n_samples=600, n_features=5, n_components=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features).astype(dtype)
    means = rng.randn(n_components, n_features).astype(dtype)
    resp = rng.rand(n_samples, n_components)
    resp = (resp / resp.sum(axis=1, keepdims=True)).astype(dtype)
    return rng, X, means, resp


def _precision_factors(rng, covariance_type, n_components, n_features, dtype):
    """Upper-triangular factors (as the estimator keeps them) or positive scales."""
    if covariance_type in ("full", "tied"):
        shape = (n_components, n_features, n_features)
        U = np.triu(rng.randn(*shape) * 0.3) + 2 * np.eye(n_features)
        return (U if covariance_type == "full" else U[0]).astype(dtype)
    if covariance_type == "diag":
        return (0.5 + rng.rand(n_components, n_features)).astype(dtype)
    return (0.5 + rng.rand(n_components)).astype(dtype)


def _oracle_log_prob(X, means, prec_chol, covariance_type):
    """scikit-learn's formula, written out with NumPy in float64."""
    X = X.astype(np.float64)
    n_features = X.shape[1]
    out = []
    for k, mu in enumerate(means.astype(np.float64)):
        if covariance_type == "full":
            U = prec_chol[k]
        elif covariance_type == "tied":
            U = prec_chol
        elif covariance_type == "diag":
            U = np.diag(prec_chol[k])
        else:
            U = prec_chol[k] * np.eye(n_features)
        U = U.astype(np.float64)
        y = (X - mu) @ U
        log_det = np.sum(np.log(np.diag(U)))
        out.append(-0.5 * (n_features * np.log(2 * np.pi) + np.sum(y**2, axis=1)) + log_det)
    return np.column_stack(out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 4, 7])
def test_estep_modes_match_numpy(covariance_type, dtype, n_features):
    rng, X, means, _ = _random_problem(dtype, n_features=n_features, n_samples=601)
    prec_chol = _precision_factors(rng, covariance_type, 3, n_features, dtype)
    weights = np.array([0.2, 0.5, 0.3], dtype=dtype)
    log_prob = _oracle_log_prob(X, means, prec_chol, covariance_type)
    weighted = log_prob + np.log(weights.astype(np.float64))
    norm = logsumexp(weighted, axis=1)
    expected = {
        kernels.MODE_WEIGHTED_LOG_PROB: weighted,
        kernels.MODE_LOG_RESP: weighted - norm[:, None],
        kernels.MODE_RESP: np.exp(weighted - norm[:, None]),
    }
    tol = _tol(dtype)
    for mode, value in expected.items():
        log_prob_norm, out = gm_estep._estep(X, means, prec_chol, covariance_type, weights, mode)
        assert out.dtype == log_prob_norm.dtype == dtype
        assert_allclose(out, value, **tol)
        assert_allclose(log_prob_norm, norm, **tol)
    log_prob_norm, out = gm_estep._estep(
        X, means, prec_chol, covariance_type, weights, kernels.MODE_NONE
    )
    assert out is None
    assert_allclose(log_prob_norm, norm, **tol)
    assert_allclose(
        gm_estep._estimate_log_gaussian_prob(X, means, prec_chol, covariance_type), log_prob, **tol
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_estep_full_non_triangular_factor(dtype):
    # a factor that is not upper triangular must take the dense path, with the same value
    rng, X, means, _ = _random_problem(dtype, n_features=6)
    Q = np.linalg.qr(rng.randn(6, 6))[0]
    Q = Q * np.sign(np.diag(Q))  # positive diagonal: finite log-determinant term
    assert np.any(np.tril(Q, -1) != 0)
    prec_chol = np.stack([Q * (1 + k) for k in range(3)]).astype(dtype)
    expected = _oracle_log_prob(X, means, prec_chol, "full")
    assert np.all(np.isfinite(expected))
    assert_allclose(
        gm_estep._estimate_log_gaussian_prob(X, means, prec_chol, "full"), expected, **_tol(dtype)
    )


def test_estep_zero_weight_gives_zero_responsibility():
    rng, X, means, _ = _random_problem(np.float64)
    prec_chol = _precision_factors(rng, "full", 3, 5, np.float64)
    weights = np.array([0.5, 0.0, 0.5])
    with np.errstate(divide="ignore"):
        log_weights = np.log(weights)
    norm, resp = gm_estep._estep(X, means, prec_chol, "full", weights, kernels.MODE_RESP)
    assert np.all(resp[:, 1] == 0) and np.all(np.isfinite(resp))
    _, weighted = gm_estep._estep(
        X, means, prec_chol, "full", weights, kernels.MODE_WEIGHTED_LOG_PROB
    )
    assert np.all(weighted[:, 1] == -np.inf)
    expected = logsumexp(_oracle_log_prob(X, means, prec_chol, "full") + log_weights, axis=1)
    assert_allclose(norm, expected, rtol=1e-11)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_samples", [3, 600, 70_000])
def test_mstep_statistics_match_numpy(dtype, n_samples):
    _, X, means, resp = _random_problem(dtype, n_samples=n_samples, n_features=6)
    X64, resp64 = X.astype(np.float64), resp.astype(np.float64)
    tol = dict(rtol=1e-4, atol=1e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-9)
    nk, sx, sxx = gm_mstep._moments(X, resp, True)
    assert_allclose(nk, resp64.sum(axis=0), **tol)
    assert_allclose(sx, resp64.T @ X64, **tol)
    assert_allclose(sxx, resp64.T @ X64**2, **tol)
    scatter = gm_mstep._scatter_full(X, resp, means)
    expected = np.stack(
        [(resp64[:, k, None] * (X64 - means[k])).T @ (X64 - means[k]) for k in range(3)]
    )
    assert_allclose(scatter, expected, **tol)
    assert_allclose(gm_mstep._gram(X), X64.T @ X64, **tol)
    # the full-covariance kernel's sums from given responsibilities, about given centres
    for with_scatter in (False, True):
        nk_f, sx_f, scatter_f = gm_mstep._full_sums(X, resp, means, with_scatter)
        assert_allclose(nk_f, resp64.sum(axis=0), **tol)
        assert_allclose(sx_f, resp64.T @ X64 - nk_f[:, None] * means.astype(np.float64), **tol)
        if with_scatter:
            assert_allclose(scatter_f, expected, **tol)
        else:
            assert scatter_f is None


@pytest.mark.parametrize("dtype", DTYPES)
def test_precision_cholesky_matches_scipy(dtype):
    rng = np.random.RandomState(0)
    A = rng.randn(4, 7, 7)
    covariances = (A @ np.swapaxes(A, 1, 2) + 0.5 * np.eye(7)).astype(dtype)
    out = np.empty_like(covariances)
    assert kernels._precision_cholesky_full(covariances, out) == -1
    for cov, factor in zip(covariances.astype(np.float64), out):
        expected = linalg.solve_triangular(
            linalg.cholesky(cov, lower=True), np.eye(7), lower=True
        ).T
        assert_allclose(factor, expected, **_tol(dtype))
        assert_array_equal(np.tril(factor, -1), 0)
    # the first component that is not positive definite is reported
    covariances[2, 3, 3] = -1.0
    assert kernels._precision_cholesky_full(covariances, out) == 2
    with pytest.raises(ValueError, match="increase reg_covar"):
        gm_mstep._compute_precision_cholesky(covariances, "full")
    with pytest.raises(ValueError, match="increase reg_covar"):
        gm_mstep._compute_precision_cholesky(covariances[2], "tied")
    with pytest.raises(ValueError, match="increase reg_covar"):
        gm_mstep._compute_precision_cholesky(np.array([1.0, 0.0]), "spherical")


def test_chunking_depends_on_shape_only():
    chunk, n_chunks = gm_mstep._chunking(200_000, 16, 16)
    assert chunk % gm_mstep._BLOCK == 0 and n_chunks <= gm_mstep._MAX_CHUNKS
    assert (n_chunks - 1) * chunk < 200_000 <= n_chunks * chunk
    assert gm_mstep._chunking(10, 3, 2) == (gm_mstep._BLOCK, 1)
    # partial results stay within the memory cap, even for many large components
    chunk, n_chunks = gm_mstep._chunking(10**6, 50, 200)
    assert n_chunks * 50 * 200 * 202 * 8 <= gm_mstep._MAX_PARTIAL_BYTES or n_chunks == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_features, n_samples", [(1, 7), (4, 600), (7, 3000)])
@pytest.mark.parametrize("triangular", [True, False])
def test_em_pass_full_matches_numpy(dtype, n_features, n_samples, triangular):
    """The fused pass: lower bound and M-step sums about the E-step means, from NumPy."""
    rng, X, means, _ = _random_problem(dtype, n_samples=n_samples, n_features=n_features)
    n_components = means.shape[0]
    U = _precision_factors(rng, "full", n_components, n_features, dtype)
    if not triangular:  # any square factor (a rotated one gives the same precision)
        Q, _ = np.linalg.qr(rng.randn(n_features, n_features))
        U = (U.astype(np.float64) @ Q).astype(dtype)
    weights = np.array([0.5, 0.3, 0.2])
    log_det = np.array([np.linalg.slogdet(u.astype(np.float64))[1] for u in U])
    log_prob = (
        np.column_stack(
            [
                -0.5
                * (
                    n_features * np.log(2 * np.pi)
                    + np.sum(((X.astype(np.float64) - mu) @ u.astype(np.float64)) ** 2, axis=1)
                )
                for mu, u in zip(means.astype(np.float64), U)
            ]
        )
        + log_det
        + np.log(weights)
    )
    log_norm = logsumexp(log_prob, axis=1)
    resp = np.exp(log_prob - log_norm[:, None])
    X64 = X.astype(np.float64)

    d_pad = -(-n_features // 4) * 4
    padded = np.zeros((n_components, d_pad, d_pad), dtype=dtype)
    padded[:, :n_features, :n_features] = U
    chunk = gm_mstep._BLOCK  # several chunks, several blocks
    n_chunks = -(-n_samples // chunk)
    lpn = np.empty(n_chunks)
    rlogr = np.empty(n_chunks)
    nk = np.empty((n_chunks, n_components))
    sx = np.empty((n_chunks, n_components, n_features))
    scatter = np.empty((n_chunks, n_components, n_features, n_features))
    kernels._em_pass_full(
        X,
        means,
        padded,
        triangular,
        log_det,
        np.log(weights),
        chunk,
        min(64, chunk),
        lpn,
        rlogr,
        nk,
        sx,
        scatter,
    )
    tol = dict(rtol=2e-4, atol=2e-3) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-9)
    assert_allclose(lpn.sum(), log_norm.sum(), **tol)
    assert_allclose(rlogr.sum(), np.sum(resp * (log_prob - log_norm[:, None])), **tol)
    assert_allclose(nk.sum(axis=0), resp.sum(axis=0), **tol)
    D = X64[:, None, :] - means.astype(np.float64)[None]
    assert_allclose(sx.sum(axis=0), np.einsum("ik,ikp->kp", resp, D), **tol)
    expected = np.einsum("ik,ikp,ikq->kpq", resp, D, D)
    assert_allclose(scatter.sum(axis=0), expected, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shift, route", [(0.05, "fused"), (100.0, "plain")])
def test_fused_em_iteration_equals_plain_iteration(dtype, shift, route, monkeypatch):
    """One fused EM iteration gives the parameters and bound of the E-step + M-step.

    A small move of the means takes the fused route; a move of 100 standard deviations
    is redone the plain way (an E-step, then the M-step from the responsibilities).
    """
    from sklearn_deep.mixture import GaussianMixture

    rng = np.random.RandomState(0)
    centers = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -3.0]])
    X = np.vstack([c + rng.randn(400, 3) for c in centers]).astype(dtype)
    means_init = (centers + shift * np.array([1.0, -1.0, 0.5])).astype(dtype)
    start = GaussianMixture(3, means_init=means_init, max_iter=0).fit(X)._get_parameters()
    fused, plain = GaussianMixture(3), GaussianMixture(3)
    for g in (fused, plain):
        g._set_parameters(tuple(np.copy(a) for a in start))

    estep_calls = []
    estep = kernels._estep_full

    def counting_estep(*args):
        estep_calls.append(1)
        return estep(*args)

    monkeypatch.setattr(kernels, "_estep_full", counting_estep)
    bound_fused = fused._em_iteration(X)
    assert len(estep_calls) == (0 if route == "fused" else 1)
    result = plain._e_step(X, fuse=False)
    plain._m_step(X, result)
    bound_plain = plain._compute_lower_bound(result)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    assert_allclose(bound_fused, bound_plain, **tol)
    for a, b in zip(fused._get_parameters(), plain._get_parameters()):
        assert a.dtype == b.dtype
        assert_allclose(a, b, **tol)


def test_shifted_moments_accuracy_check():
    """The fused M-step is used only when moving the moments loses no accuracy."""
    center = np.zeros((1, 2))
    nk = np.array([10.0])

    def moments(delta, variance):
        sx = nk[:, None] * np.asarray(delta, dtype=float)[None]
        second = np.diag(np.asarray(variance) + np.asarray(delta, dtype=float) ** 2)
        return gm_mstep._ShiftedMoments(nk, sx, (nk[:, None, None] * second[None]), center)

    assert moments([0.5, -0.2], [1.0, 2.0]).accurate(reg_covar=0.0)
    # a move of 100 standard deviations: the plain M-step is needed
    assert not moments([100.0, 0.0], [1.0, 1.0]).accurate(reg_covar=0.0)
    # a variance lost to cancellation, and NaN sums (an impossible sample)
    assert not moments([1e3, 0.0], [-1e-3, 1.0]).accurate(reg_covar=0.0)
    assert not moments([np.nan, 0.0], [1.0, 1.0]).accurate(reg_covar=0.0)
    # the new means are scikit-learn's: (resp.T @ X) / (nk + 10 eps)
    m = moments([0.5, -0.2], [1.0, 2.0])
    scale = 10 / (10 + 10 * np.finfo(float).eps)
    assert_allclose(m.means, [[0.5 * scale, -0.2 * scale]], rtol=1e-15)
