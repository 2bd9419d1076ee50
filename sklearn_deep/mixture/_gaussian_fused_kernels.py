"""Numba kernel of full-covariance EM: the E-step, the M-step sums, or both fused.

One chunk kernel, :func:`_full_chunk`, serves the three (so that a fit compiles one kernel
and one parallel loop for them): the E-step of full (and tied) covariances
(:func:`_estep_full`: log-sum-exp, responsibilities), one fused EM iteration
(:func:`_em_pass_full`: the same E-step, whose responsibilities feed the M-step sums while
still in cache) and the M-step sums from given responsibilities (:func:`_mstep_full_sums`).
Layout conventions are in ``_gaussian_mixture_kernels`` (the module callers import).
"""

import numpy as np
from numba import njit

from .._kernel_blocks import _pad4, for_each_chunk
from .._numba_config import CACHE
from ._gaussian_estep_kernels import (
    LOG_2PI,
    MODE_RESP_MOMENTS,
    MODE_RESP_SCATTER,
    MODE_SUMS,
    _e_step_chunking,
    _estep_write,
    _flush_threshold,
    _transpose_block,
    _weighted_log_prob_full,
)
from ._gaussian_mstep_kernels import _centred_scatter, _sum_block, _symmetric_into


def _full_args(X, means, prec_chol, triangular, log_det, log_weights, block, mode):
    """The leading arguments of :func:`_full_chunk`."""
    n, d = X.shape
    # float32 data: log-probabilities, log-sum-exp and responsibilities in float32, as
    # scikit-learn computes them
    const = (-0.5 * d * LOG_2PI + log_det + log_weights).astype(X.dtype)
    # means[c] @ U_c, accumulated in float64
    muL = np.einsum("cp,cpj->cj", means, prec_chol[:, :d], dtype=np.float64).astype(X.dtype)
    e_min = _flush_threshold(X.dtype)
    return (X, means, muL, prec_chol, bool(triangular), const, block, e_min, mode)


def _estep_full(
    X, means, prec_chol, triangular, log_det, log_weights, block, mode, out, log_prob_norm
):
    """E-step for full covariances.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    prec_chol : ndarray of shape (n_components, n_features_padded, n_features_padded)
        Precision Cholesky factors, zero-padded to ``n_features_padded``, the next
        multiple of 4, rows and columns. When ``triangular`` they are upper triangular
        and the zero lower part is skipped (in 4 x 4 tiles).
    triangular : bool
    log_det : ndarray of shape (n_components,), float64
        ``sum(log(diag(prec_chol[k])))``.
    log_weights : ndarray of shape (n_components,), float64
        ``log(weights)`` (may hold ``-inf``); zeros give plain log-densities.
    block : int
        Samples per block.
    mode : int
        What to write into ``out`` (``MODE_*``).
    out : ndarray of shape (n_samples, n_components)
        Written (see ``mode``).
    log_prob_norm : ndarray of shape (n_samples,)
        Written: ``log sum_k pi_k N(x_i | mu_k, Sigma_k)``.

    Notes
    -----
    A Python function: the serial chunk kernel :func:`_full_chunk` runs over chunks of
    samples in parallel (:func:`~sklearn_deep._kernel_blocks.for_each_chunk`).
    """
    n = X.shape[0]
    k, d = means.shape
    chunk, n_chunks = _e_step_chunking(n, block)
    args = _full_args(X, means, prec_chol, triangular, log_det, log_weights, block, mode)
    no_sums = (np.empty(1), np.empty((1, k)), np.empty((1, k, d)), np.empty((0, 0, 0, 0)))
    args += (out, log_prob_norm) + no_sums
    for_each_chunk(_full_chunk, args, n, chunk, np.empty(n_chunks))


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

    Notes
    -----
    A Python function: :func:`_full_chunk` runs over the chunks in parallel
    (:func:`~sklearn_deep._kernel_blocks.for_each_chunk`).
    """
    n = X.shape[0]
    k = means.shape[0]
    args = _full_args(X, means, prec_chol, triangular, log_det, log_weights, block, MODE_SUMS)
    no_out = (np.empty((0, k), dtype=X.dtype), np.empty(0, dtype=X.dtype))
    args += no_out + (rlogr_part, nk_part, sx_part, scatter_part)
    for_each_chunk(_full_chunk, args, n, chunk, lpn_part)


def _mstep_full_sums(X, resp, center, chunk, block, scatter, nk_part, sx_part, scatter_part):
    """M-step sums per chunk from given responsibilities, about given centres.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
        X's dtype.
    center : ndarray of shape (n_components, n_features)
        X's dtype.
    chunk, block : int
        As in :func:`_em_pass_full`.
    scatter : bool
        Also the scatter matrices (else ``scatter_part`` is not written).
    nk_part : ndarray of shape (n_chunks, n_components), float64
        Written: ``sum_i r_ik``.
    sx_part : ndarray of shape (n_chunks, n_components, n_features), float64
        Written: ``sum_i r_ik (x_i - center_k)``.
    scatter_part : ndarray of shape (n_chunks, n_components, n_features, n_features), float64
        Written when ``scatter``: ``sum_i r_ik (x_i - center_k)(x_i - center_k)^T``.
    """
    dtype = X.dtype
    n_chunks = nk_part.shape[0]
    args = (
        X,
        center,
        np.empty((0, 0), dtype=dtype),  # (no E-step: no factors)
        np.empty((0, 0, 0), dtype=dtype),
        False,
        np.empty(0, dtype=dtype),
        block,
        dtype.type(0.0),
        MODE_RESP_SCATTER if scatter else MODE_RESP_MOMENTS,
        resp,
        np.empty(0, dtype=dtype),
        np.empty(1),
        nk_part,
        sx_part,
        scatter_part,
    )
    for_each_chunk(_full_chunk, args, X.shape[0], chunk, np.empty(n_chunks))


@njit(cache=CACHE)
def _full_chunk(args, b, start, end):
    """Chunk ``b`` (samples ``start:end``) of :func:`_estep_full`, :func:`_em_pass_full`
    (``MODE_SUMS``) or :func:`_mstep_full_sums` (``MODE_RESP_*``, the responsibilities
    given in ``out``); returns the chunk's ``sum_i log sum_k pi_k N(x_i | mu_k, Sigma_k)``
    (0 without an E-step)."""
    (X, means, muL, prec_chol, triangular, const, block, e_min, mode, out, log_prob_norm,
     rlogr_part, nk_part, sx_part, scatter_part) = args  # fmt: skip
    k, d = means.shape
    d_pad = _pad4(d)
    estep = mode <= MODE_SUMS
    sums = mode >= MODE_SUMS
    scatter = mode != MODE_RESP_MOMENTS
    # scratch rows, X's dtype, in one allocation: the transposed block Xt (zero-padded);
    # for the E-step the tile accumulators, the quadratic forms, the weighted
    # log-probabilities and the log-sum-exp; for the sums the centred block and the weights
    n_e = 8 + k if estep else 0
    n_s = 2 * d_pad + 1 if sums else 0
    buf = np.zeros((d_pad + n_e + n_s, block), dtype=X.dtype)
    Xt = buf[:d_pad]
    acc = buf[d_pad : d_pad + 4]
    quad = buf[d_pad + 4]
    lse = buf[d_pad + 5 : d_pad + 8]
    wlp = buf[d_pad + 8 : d_pad + n_e]
    D = buf[d_pad + n_e : 2 * d_pad + n_e]
    W = buf[2 * d_pad + n_e : 3 * d_pad + n_e]
    r = buf[d_pad + n_e + n_s - 1]
    S = np.zeros((k if sums and scatter else 1, d_pad, d_pad))
    # (the E-step's dummies have one row)
    nk = nk_part[b if sums else 0]
    sx = sx_part[b if sums else 0]
    for c in range(k if sums else 0):
        nk[c] = 0.0
        for p in range(d):
            sx[c, p] = 0.0
    lpn_sum = 0.0
    rlogr_sum = 0.0
    for s0 in range(start, end, block):
        s1 = min(end, s0 + block)
        m = s1 - s0
        _transpose_block(X, s0, s1, Xt)
        if estep:
            _weighted_log_prob_full(Xt, m, prec_chol, muL, const, triangular, acc, quad, wlp)
            lpn_sum += _estep_write(wlp, m, e_min, lse, s0, mode, out, log_prob_norm)
            if not sums:
                continue
            rlogr_sum += _sum_block(lse[2], m)
        # M-step sums about the given means (those of the E-step in MODE_SUMS)
        for c in range(k):
            if estep:
                w = wlp[c]
                inv = lse[1]
                for i in range(m):
                    r[i] = w[i] * inv[i]
            else:
                for i in range(m):
                    r[i] = out[s0 + i, c]
            nk[c] += _sum_block(r, m)
            _centred_scatter(Xt, m, r, means[c], D, W, S[c if scatter else 0], sx[c], scatter)
    if sums and estep:
        rlogr_part[b] = rlogr_sum
    if sums and scatter:
        _symmetric_into(S, scatter_part[b])
    return lpn_sum
