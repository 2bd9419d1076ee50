"""Numba kernels of the Gaussian-mixture M-step: weighted moments, scatter, precision factors.

Layout conventions are in ``_gaussian_mixture_kernels`` (the module callers import).
"""

import math

import numpy as np
from numba import njit

from .._kernel_blocks import _ACCUM_FASTMATH, for_each_chunk
from .._numba_config import CACHE

# --------------------------------------------------------------------------------------
# M-step: weighted sufficient statistics, per chunk, reduced serially by the caller
# --------------------------------------------------------------------------------------


def _mstep_moments(X, resp, chunk, second, nk_part, sx_part, sxx_part):
    """First (and optionally second, diagonal) weighted moments per chunk of samples.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
    chunk : int
        Samples per chunk; chunk ``b`` covers rows ``b * chunk:(b + 1) * chunk``.
    second : bool
        Also accumulate ``resp.T @ (X * X)``.
    nk_part : ndarray of shape (n_chunks, n_components), float64
        Written: ``resp[chunk].sum(axis=0)``.
    sx_part : ndarray of shape (n_chunks, n_components, n_features), float64
        Written: ``resp[chunk].T @ X[chunk]``.
    sxx_part : ndarray of shape (n_chunks, n_components, n_features), float64
        Written when ``second``: ``resp[chunk].T @ X[chunk] ** 2``.

    Notes
    -----
    A Python function: the serial kernel :func:`_moments_chunk` runs over the chunks in
    parallel (:func:`~sklearn_deep._kernel_blocks.for_each_chunk`).
    """
    args = (X, resp, bool(second), nk_part, sx_part, sxx_part)
    for_each_chunk(_moments_chunk, args, X.shape[0], chunk, np.empty(nk_part.shape[0]))


@njit(cache=CACHE)
def _moments_chunk(args, b, start, end):
    """Chunk ``b`` (samples ``start:end``) of :func:`_mstep_moments`."""
    (X, resp, second, nk_part, sx_part, sxx_part) = args
    d = X.shape[1]
    k = resp.shape[1]
    nk = nk_part[b]
    sx = sx_part[b]
    sxx = sxx_part[b if second else 0]  # (a (1, 1, 1) dummy unless second)
    for c in range(k):
        nk[c] = 0.0
        for j in range(d):
            sx[c, j] = 0.0
            if second:
                sxx[c, j] = 0.0
    for i in range(start, end):
        for c in range(k):
            r = resp[i, c]
            nk[c] += r
            if second:
                for j in range(d):
                    x = X[i, j]
                    sx[c, j] += r * x
                    sxx[c, j] += r * (x * x)
            else:
                for j in range(d):
                    sx[c, j] += r * X[i, j]
    return 0.0


@njit(cache=CACHE, fastmath=_ACCUM_FASTMATH)
def _syrk_tiles(W, D, m, S):
    """``S[p, q] += sum_i W[p, i] D[q, i]`` for the 4 x 4 tiles that cover ``q >= p``.

    With ``W = D * r`` (rows scaled by the weights) this accumulates the weighted scatter
    ``D diag(r) D^T``. ``W`` and ``D`` have a multiple of 4 rows (zero padding); ``S`` is
    a float64 accumulator of shape (D.shape[0], D.shape[0]) whose upper triangle is valid
    afterwards. Each tile keeps its accumulators in registers (8 loads per 16
    multiply-adds); diagonal tiles compute their upper triangle only (10).
    """
    d_pad = D.shape[0]
    zero = np.zeros(1, dtype=D.dtype)[0]
    for p in range(0, d_pad, 4):
        w0 = W[p]
        w1 = W[p + 1]
        w2 = W[p + 2]
        w3 = W[p + 3]
        d0 = D[p]
        d1 = D[p + 1]
        d2 = D[p + 2]
        d3 = D[p + 3]
        c00 = c01 = c02 = c03 = zero
        c11 = c12 = c13 = zero
        c22 = c23 = zero
        c33 = zero
        for i in range(m):
            c00 += w0[i] * d0[i]
            c01 += w0[i] * d1[i]
            c02 += w0[i] * d2[i]
            c03 += w0[i] * d3[i]
            c11 += w1[i] * d1[i]
            c12 += w1[i] * d2[i]
            c13 += w1[i] * d3[i]
            c22 += w2[i] * d2[i]
            c23 += w2[i] * d3[i]
            c33 += w3[i] * d3[i]
        S[p, p] += c00
        S[p, p + 1] += c01
        S[p, p + 2] += c02
        S[p, p + 3] += c03
        S[p + 1, p + 1] += c11
        S[p + 1, p + 2] += c12
        S[p + 1, p + 3] += c13
        S[p + 2, p + 2] += c22
        S[p + 2, p + 3] += c23
        S[p + 3, p + 3] += c33
        for q in range(p + 4, d_pad, 4):
            x0 = D[q]
            x1 = D[q + 1]
            x2 = D[q + 2]
            x3 = D[q + 3]
            c00 = c01 = c02 = c03 = zero
            c10 = c11 = c12 = c13 = zero
            c20 = c21 = c22 = c23 = zero
            c30 = c31 = c32 = c33 = zero
            for i in range(m):
                c00 += w0[i] * x0[i]
                c01 += w0[i] * x1[i]
                c02 += w0[i] * x2[i]
                c03 += w0[i] * x3[i]
                c10 += w1[i] * x0[i]
                c11 += w1[i] * x1[i]
                c12 += w1[i] * x2[i]
                c13 += w1[i] * x3[i]
                c20 += w2[i] * x0[i]
                c21 += w2[i] * x1[i]
                c22 += w2[i] * x2[i]
                c23 += w2[i] * x3[i]
                c30 += w3[i] * x0[i]
                c31 += w3[i] * x1[i]
                c32 += w3[i] * x2[i]
                c33 += w3[i] * x3[i]
            S[p, q] += c00
            S[p, q + 1] += c01
            S[p, q + 2] += c02
            S[p, q + 3] += c03
            S[p + 1, q] += c10
            S[p + 1, q + 1] += c11
            S[p + 1, q + 2] += c12
            S[p + 1, q + 3] += c13
            S[p + 2, q] += c20
            S[p + 2, q + 1] += c21
            S[p + 2, q + 2] += c22
            S[p + 2, q + 3] += c23
            S[p + 3, q] += c30
            S[p + 3, q + 1] += c31
            S[p + 3, q + 2] += c32
            S[p + 3, q + 3] += c33


@njit(cache=CACHE)
def _centred_scatter(Xt, m, r, mean, D, W, S, sx, scatter):
    """Add one block's weighted sums about ``mean`` to ``sx`` and ``S``.

    ``sx += sum_i r_i (x_i - mean)`` and, when ``scatter``, through :func:`_syrk_tiles`, the
    upper triangle of ``S += sum_i r_i (x_i - mean)(x_i - mean)^T``, for the ``m`` samples
    of ``Xt``.

    Parameters
    ----------
    Xt : ndarray of shape (>= n_features, block)
        The block's samples, transposed (X's dtype).
    m : int
    r : ndarray of shape (block,)
        The samples' weights (X's dtype).
    mean : ndarray of shape (n_features,)
    D, W : ndarray of shape (n_features_pad4, block)
        Scratch (X's dtype), zero in the padding rows.
    S : ndarray of shape (n_features_pad4, n_features_pad4), float64
    sx : ndarray of shape (n_features,), float64
    scatter : bool
    """
    for p in range(mean.shape[0]):
        mu = mean[p]
        Dp = D[p]
        Wp = W[p]
        Xp = Xt[p]
        for i in range(m):
            v = Xp[i] - mu
            Dp[i] = v
            Wp[i] = r[i] * v
        sx[p] += _sum_block(Wp, m)
    if scatter:
        _syrk_tiles(W, D, m, S)


@njit(cache=CACHE, fastmath=_ACCUM_FASTMATH)
def _sum_block(a, m):
    """``sum(a[:m])`` in float64 (re-associated: vectorised)."""
    t = 0.0
    for i in range(m):
        t += a[i]
    return t


@njit(cache=CACHE)
def _symmetric_into(S, out):
    """``out[c] = S[c][:d, :d]`` made symmetric from its upper triangle, for every ``c``."""
    d = out.shape[1]
    for c in range(out.shape[0]):
        for p in range(d):
            for q in range(p, d):
                out[c, p, q] = S[c, p, q]
                out[c, q, p] = S[c, p, q]


# --------------------------------------------------------------------------------------
# Cholesky factors of the precisions
# --------------------------------------------------------------------------------------


@njit(cache=CACHE)
def _precision_cholesky_full(covariances, out):
    """Upper-triangular precision factors ``U = inv(chol(Sigma)).T``, no explicit inverse of Sigma.

    Parameters
    ----------
    covariances : ndarray of shape (n_components, n_features, n_features)
        Only the lower triangle is read (as LAPACK's ``potrf``).
    out : ndarray of shape (n_components, n_features, n_features)
        Written: ``out[k] @ out[k].T == inv(covariances[k])``.

    Returns
    -------
    failed : int
        ``-1`` on success, else the first component whose covariance is not
        positive definite (``out`` is then partly written).
    """
    k, d, _ = covariances.shape
    L = np.zeros((d, d), dtype=covariances.dtype)
    for c in range(k):
        # Cholesky-Crout, lower triangle
        for j in range(d):
            s = covariances[c, j, j]
            for p in range(j):
                s -= L[j, p] * L[j, p]
            if not (s > 0.0):
                return c
            ljj = math.sqrt(s)
            L[j, j] = ljj
            for i in range(j + 1, d):
                t = covariances[c, i, j]
                for p in range(j):
                    t -= L[i, p] * L[j, p]
                L[i, j] = t / ljj
        # out[c] = inv(L).T: forward substitution column by column of inv(L)
        for col in range(d):
            for i in range(col):
                out[c, col, i] = 0.0
            for i in range(col, d):
                t = 1.0 if i == col else 0.0
                for p in range(col, i):
                    t -= L[i, p] * out[c, col, p]
                out[c, col, i] = t / L[i, i]
    return -1
