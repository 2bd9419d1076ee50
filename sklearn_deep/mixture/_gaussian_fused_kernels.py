"""Numba kernel of one fused EM iteration for full covariances (E-step and M-step sums).

Layout conventions are in ``_gaussian_mixture_kernels`` (the module callers import).
"""

import math

import numpy as np
from numba import njit, prange

from .._numba_config import CACHE
from ._gaussian_estep_kernels import (
    _ACCUM_FASTMATH,
    LOG_2PI,
    _exp_lse,
    _means_times_factor,
    _quad_tile4,
    _transpose_block,
)
from ._gaussian_mstep_kernels import _syrk_tiles

# --------------------------------------------------------------------------------------
# One fused EM iteration for full covariances
# --------------------------------------------------------------------------------------


@njit(cache=CACHE, fastmath=_ACCUM_FASTMATH)
def _sum_block(a, m):
    """``sum(a[:m])`` in float64 (re-associated: vectorised)."""
    t = 0.0
    for i in range(m):
        t += a[i]
    return t


@njit(cache=CACHE, parallel=True)
def _em_pass_full(
    X,
    means,
    prec_chol,
    triangular,
    log_det,
    log_weights,
    chunk,
    block,
    lpn_part,
    rlogr_part,
    nk_part,
    sx_part,
    scatter_part,
):
    """E-step and M-step statistics of one EM iteration in a single pass over ``X``.

    Per block of samples: the weighted log-probabilities (as :func:`_estep_full`), their
    log-sum-exp and the responsibilities, which stay in the block's buffer and feed the
    M-step sums at once: no ``(n_samples, n_components)`` array is written or read back.
    The second moments are taken about the *current* means ``m_k`` (those of the E-step,
    known before the pass): ``sum_i r_ik (x_i - m_k)(x_i - m_k)^T``; the caller moves
    them to the new means exactly (see ``GaussianMixture._e_step``).

    Parameters
    ----------
    X, means, prec_chol, triangular, log_det, log_weights
        As in :func:`_estep_full` (``prec_chol`` zero-padded to a multiple of 4).
    chunk : int
        Samples per chunk, the unit of the serial reduction (a multiple of ``block``).
    block : int
        Samples per transposed block.
    lpn_part : ndarray of shape (n_chunks,), float64
        Written: ``sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)`` over the chunk.
    rlogr_part : ndarray of shape (n_chunks,), float64
        Written: ``sum_i sum_k r_ik log r_ik`` over the chunk (minus the entropy of the
        responsibilities, for the variational lower bound); NaN for a sample whose
        components are all impossible.
    nk_part : ndarray of shape (n_chunks, n_components), float64
        Written: ``sum_i r_ik``.
    sx_part : ndarray of shape (n_chunks, n_components, n_features), float64
        Written: ``sum_i r_ik (x_i - m_k)``.
    scatter_part : ndarray of shape (n_chunks, n_components, n_features, n_features), float64
        Written: ``sum_i r_ik (x_i - m_k)(x_i - m_k)^T`` (full, symmetric).
    """
    n, d = X.shape
    k = means.shape[0]
    d_pad = prec_chol.shape[1]
    muL = _means_times_factor(means, prec_chol)
    const_x = np.empty(k, dtype=X.dtype)
    for c in range(k):
        const_x[c] = -0.5 * d * LOG_2PI + log_det[c] + log_weights[c]
    half = np.full(1, -0.5, dtype=X.dtype)[0]
    one = np.ones(1, dtype=X.dtype)[0]
    zero = np.zeros(1, dtype=X.dtype)[0]
    # exp(wlp - max) below this is dropped (2**24 times the smallest normal number,
    # 2e-31 in float32, 4e-301 in float64): far below rounding in every sum
    e_min = np.full(1, np.finfo(X.dtype).tiny * 2.0**24, dtype=X.dtype)[0]
    n_chunks = lpn_part.shape[0]
    for b in prange(n_chunks):
        start = b * chunk
        end = min(n, start + chunk)
        Xt = np.zeros((d_pad, block), dtype=X.dtype)
        D = np.zeros((d_pad, block), dtype=X.dtype)
        W = np.zeros((d_pad, block), dtype=X.dtype)
        acc = np.empty((4, block), dtype=X.dtype)
        quad = np.empty(block, dtype=X.dtype)
        r = np.empty(block, dtype=X.dtype)
        # float32 data: log-probabilities, log-sum-exp and responsibilities in float32,
        # as scikit-learn computes them
        wlp = np.empty((k, block), dtype=X.dtype)
        mx = np.empty(block, dtype=X.dtype)
        inv = np.empty(block, dtype=X.dtype)
        et = np.empty(block, dtype=X.dtype)
        S = np.zeros((k, d_pad, d_pad))
        nk = np.zeros(k)
        sx = np.zeros((k, d))
        lpn_sum = 0.0
        rlogr_sum = 0.0
        for s0 in range(start, end, block):
            s1 = min(end, s0 + block)
            m = s1 - s0
            _transpose_block(X, s0, s1, Xt)
            # E-step: weighted log-probabilities of the block, component-major
            for c in range(k):
                U = prec_chol[c]
                for i in range(m):
                    quad[i] = 0.0
                for j in range(0, d_pad, 4):
                    p_end = j + 4 if triangular else d_pad
                    _quad_tile4(Xt, m, U, j, p_end, triangular, muL[c], acc, quad)
                w = wlp[c]
                shift = const_x[c]
                for i in range(m):
                    w[i] = half * quad[i] + shift
            # log-sum-exp; wlp becomes e = exp(t), t = wlp - max, inv the normaliser s;
            # et = sum_k e t gives sum_k r log r = et / s - log s
            for i in range(m):
                mx[i] = -np.inf
                inv[i] = 0.0
                et[i] = 0.0
            for c in range(k):
                w = wlp[c]
                for i in range(m):
                    mx[i] = max(mx[i], w[i])
            for c in range(k):
                w = wlp[c]
                for i in range(m):
                    t = w[i] - mx[i]
                    e = _exp_lse(t)
                    # flush tiny terms to zero: subnormal products downstream are slow
                    e = e if e >= e_min else zero
                    w[i] = e
                    inv[i] += e
                    et[i] += e * t if e > zero else zero
            for i in range(m):
                finite = not (math.isinf(mx[i]) or math.isnan(mx[i]))
                log_s = math.log(inv[i])
                lpn_sum += mx[i] + log_s if finite else mx[i]
                rlogr_sum += et[i] / inv[i] - log_s if finite else np.nan
                inv[i] = one / inv[i] if finite else np.nan
            # M-step statistics about the current means
            for c in range(k):
                w = wlp[c]
                for i in range(m):
                    r[i] = w[i] * inv[i]
                nk[c] += _sum_block(r, m)
                for p in range(d):
                    mu = means[c, p]
                    Dp = D[p]
                    Wp = W[p]
                    Xp = Xt[p]
                    for i in range(m):
                        v = Xp[i] - mu
                        Dp[i] = v
                        Wp[i] = r[i] * v
                    sx[c, p] += _sum_block(Wp, m)
                _syrk_tiles(W, D, m, S[c])
        lpn_part[b] = lpn_sum
        rlogr_part[b] = rlogr_sum
        for c in range(k):
            nk_part[b, c] = nk[c]
            for p in range(d):
                sx_part[b, c, p] = sx[c, p]
                for q in range(p, d):
                    scatter_part[b, c, p, q] = S[c, p, q]
                    scatter_part[b, c, q, p] = S[c, p, q]
