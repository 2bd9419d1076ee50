"""Numba kernels of the Gaussian-mixture E-step: log-densities, log-sum-exp, responsibilities.

Layout conventions are in ``_gaussian_mixture_kernels`` (the module callers import).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .._kernel_blocks import _PRODUCT_FASTMATH, for_each_chunk
from .._numba_config import CACHE

LOG_2PI = math.log(2.0 * math.pi)

# What the E-step kernels write into ``out`` (``log_prob_norm`` is always written).
MODE_NONE = 0  # nothing
MODE_WEIGHTED_LOG_PROB = 1  # log pi_k + log N(x_i | mu_k, Sigma_k)
MODE_LOG_RESP = 2  # log responsibilities
MODE_RESP = 3  # responsibilities
# full covariances only (the chunk kernel of ``_gaussian_fused_kernels``), nothing per sample:
MODE_SUMS = 4  # E-step, then the M-step sums from its responsibilities (fused EM pass)
MODE_RESP_MOMENTS = 5  # no E-step: n_k and first moments from given responsibilities
MODE_RESP_SCATTER = 6  # no E-step: n_k, first moments and scatter from given ones


# --------------------------------------------------------------------------------------
# E-step: weighted log-probabilities, log-sum-exp, responsibilities
# --------------------------------------------------------------------------------------


@njit(cache=CACHE)
def _transpose_block(X, start, end, Xt):
    """Write ``X[start:end].T`` into ``Xt[:, :end - start]``."""
    d = X.shape[1]
    for i in range(start, end):
        for j in range(d):
            Xt[j, i - start] = X[i, j]


# exp(x) for x <= 0 without a libm call, so that the log-sum-exp loops vectorise:
# x = n ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2, as fdlibm), exp(r) by its
# Taylor polynomial of degree 13 (truncation error < 4e-18), and 2**n from a table.
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_POW2_OFFSET = 1076
_POW2 = np.ldexp(1.0, np.arange(-_POW2_OFFSET, 1))  # 2**-1076 (= 0) ... 2**0
_EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(13, -1, -1))


@njit(cache=CACHE, inline="always")
def _exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0`` (within about 1 ulp of libm); NaN gives NaN.

    Branch-free apart from selects, so loops over it vectorise (no SVML needed).
    """
    xc = x if x > -745.5 else -745.5  # also maps NaN to a safe table index
    n = math.floor(xc * _INV_LN2 + 0.5)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = _EXP_TAYLOR[0]
    p = p * r + _EXP_TAYLOR[1]
    p = p * r + _EXP_TAYLOR[2]
    p = p * r + _EXP_TAYLOR[3]
    p = p * r + _EXP_TAYLOR[4]
    p = p * r + _EXP_TAYLOR[5]
    p = p * r + _EXP_TAYLOR[6]
    p = p * r + _EXP_TAYLOR[7]
    p = p * r + _EXP_TAYLOR[8]
    p = p * r + _EXP_TAYLOR[9]
    p = p * r + _EXP_TAYLOR[10]
    p = p * r + _EXP_TAYLOR[11]
    p = p * r + _EXP_TAYLOR[12]
    p = p * r + _EXP_TAYLOR[13]
    value = p * _POW2[int(n) + _POW2_OFFSET]
    if x > -745.5:
        return value
    return x if x != x else 0.0


# float32: the same scheme in single precision, Taylor degree 7 (truncation < 6e-9,
# below half an ulp); 2**n as two exponent-field bit patterns (no table), so that
# subnormal results are right too. Constants are float32 so the arithmetic stays float32.
_F32 = np.float32
_LN2_HI_F32 = _F32(0.693359375)
_LN2_LO_F32 = _F32(-2.12194440e-4)
_INV_LN2_F32 = _F32(1.44269504)
_HALF_F32 = _F32(0.5)
_EXP_MIN_F32 = _F32(-104.0)
_ZERO_F32 = _F32(0.0)
_EXP_TAYLOR_F32 = tuple(_F32(1.0 / math.factorial(i)) for i in range(7, -1, -1))


@intrinsic
def _int32_as_float32(typingctx, bits):
    """Reinterpret the bits of an int32 as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(cache=CACHE, inline="always")
def _exp_nonpositive_f32(x):
    """``exp(x)`` for float32 ``x <= 0`` in float32 arithmetic; NaN gives NaN."""
    xc = x if x > _EXP_MIN_F32 else _EXP_MIN_F32
    n = math.floor(xc * _INV_LN2_F32 + _HALF_F32)
    r = (xc - n * _LN2_HI_F32) - n * _LN2_LO_F32
    p = _EXP_TAYLOR_F32[0]
    p = p * r + _EXP_TAYLOR_F32[1]
    p = p * r + _EXP_TAYLOR_F32[2]
    p = p * r + _EXP_TAYLOR_F32[3]
    p = p * r + _EXP_TAYLOR_F32[4]
    p = p * r + _EXP_TAYLOR_F32[5]
    p = p * r + _EXP_TAYLOR_F32[6]
    p = p * r + _EXP_TAYLOR_F32[7]
    ni = np.int32(n)
    n1 = ni >> np.int32(1)
    n2 = ni - n1
    value = (
        p
        * _int32_as_float32((n1 + np.int32(127)) << np.int32(23))
        * _int32_as_float32((n2 + np.int32(127)) << np.int32(23))
    )
    if x > _EXP_MIN_F32:
        return value
    return x if x != x else _ZERO_F32


def _exp_lse(x):
    """``exp(x)`` for ``x <= 0`` in the precision of ``x`` (Numba only)."""
    raise NotImplementedError


@overload(_exp_lse, inline="always", jit_options={"cache": CACHE})
def _exp_lse_impl(x):
    if x == types.float32:
        return lambda x: _exp_nonpositive_f32(x)
    return lambda x: _exp_nonpositive(x)


def _flush_threshold(dtype):
    """``exp(wlp - max)`` below this is dropped by :func:`_log_sum_exp`: 2**24 times the
    smallest normal number (2e-31 in float32, 4e-301 in float64), far below rounding in
    every sum, and subnormal products downstream are slow."""
    return dtype.type(np.finfo(dtype).tiny * 2.0**24)


@njit(cache=CACHE)
def _log_sum_exp(wlp, m, e_min, lse):
    """Log-sum-exp over components of a block of weighted log-probabilities, in their dtype.

    Parameters
    ----------
    wlp : ndarray of shape (n_components, block)
        Weighted log-probabilities of the block's ``m`` samples (first ``m`` columns),
        component-major so that every loop runs over contiguous samples. Overwritten:
        ``e = exp(t)``, ``t = wlp - max`` (``e`` below ``e_min`` flushed to zero), so that
        the responsibilities are ``e * lse[1]``.
    m : int
    e_min : float
        See :func:`_flush_threshold`.
    lse : ndarray of shape (3, block), wlp's dtype
        Written: ``lse[0]`` the log-normaliser ``log sum_c exp(wlp[c])`` (``-inf`` for a
        sample whose components are all impossible), ``lse[1]`` the inverse ``1 / s`` of
        ``s = sum_c e`` (NaN for such a sample) and ``lse[2]`` ``sum_c r log r =
        sum_c e t / s - log s`` (NaN likewise).
    """
    k = wlp.shape[0]
    mx = lse[0]
    inv = lse[1]
    et = lse[2]
    zero = wlp.dtype.type(0.0)
    one = wlp.dtype.type(1.0)
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
            e = e if e >= e_min else zero
            w[i] = e
            inv[i] += e
            et[i] += e * t if e > zero else zero
    for i in range(m):
        # all components impossible (-inf): log p = -inf and NaN responsibilities, as NumPy
        finite = not (math.isinf(mx[i]) or math.isnan(mx[i]))
        log_s = math.log(inv[i])
        et[i] = et[i] / inv[i] - log_s if finite else np.nan
        mx[i] = mx[i] + log_s if finite else mx[i]
        inv[i] = one / inv[i] if finite else np.nan


@njit(cache=CACHE)
def _estep_write(wlp, m, e_min, lse, start, mode, out, log_prob_norm):
    """The log-sum-exp of a block (:func:`_log_sum_exp`) and what ``mode`` asks for.

    Writes rows ``start:start + m`` of ``log_prob_norm`` and (unless ``mode`` is
    ``MODE_NONE`` or ``MODE_SUMS``) of ``out`` (n_samples, n_components): the weighted
    log-probabilities, the log-responsibilities or the responsibilities. ``wlp`` and
    ``lse`` as in :func:`_log_sum_exp`.

    Returns
    -------
    lpn_sum : float
        ``sum_i log sum_c exp(wlp[c, i])`` over the block (float64).
    """
    k = wlp.shape[0]
    if mode == MODE_WEIGHTED_LOG_PROB or mode == MODE_LOG_RESP:
        for i in range(m):
            for c in range(k):
                out[start + i, c] = wlp[c, i]
    _log_sum_exp(wlp, m, e_min, lse)
    lpn = lse[0]
    lpn_sum = 0.0
    for i in range(m):
        lpn_sum += lpn[i]
    if mode == MODE_SUMS:
        return lpn_sum
    for i in range(m):
        log_prob_norm[start + i] = lpn[i]
    if mode == MODE_LOG_RESP:
        for i in range(m):
            for c in range(k):
                out[start + i, c] -= lpn[i]
    elif mode == MODE_RESP:
        inv = lse[1]
        for i in range(m):
            for c in range(k):
                out[start + i, c] = wlp[c, i] * inv[i]
    return lpn_sum


@njit(cache=CACHE, fastmath=_PRODUCT_FASTMATH)
def _quad_tile4(Xt, m, U, j, p_end, triangular, shift, acc, quad):
    """``quad[:m] += sum_{c<4} (Xt[:p_end, :m].T @ U[:p_end, j + c] - shift[j + c]) ** 2``.

    A 4 x 4 register tile: each pass over the samples reads four rows of ``Xt`` and
    updates four output columns (16 multiply-adds per 4 loads and 4 stores of ``acc``).
    ``U`` and ``shift`` are zero-padded to a multiple of 4 columns and ``Xt``/``U`` to a
    multiple of 4 rows; ``p_end`` is a multiple of 4. ``acc`` has shape (4, m). When
    ``triangular`` (``U`` upper triangular, ``p_end == j + 4``) the last, diagonal tile
    skips the zero lower triangle: 10 multiply-adds instead of 16.
    """
    a0 = acc[0]
    a1 = acc[1]
    a2 = acc[2]
    a3 = acc[3]
    s0 = shift[j]
    s1 = shift[j + 1]
    s2 = shift[j + 2]
    s3 = shift[j + 3]
    for i in range(m):
        a0[i] = -s0
        a1[i] = -s1
        a2[i] = -s2
        a3[i] = -s3
    for p in range(0, p_end, 4):
        x0 = Xt[p]
        x1 = Xt[p + 1]
        x2 = Xt[p + 2]
        x3 = Xt[p + 3]
        u00 = U[p, j]
        u01 = U[p, j + 1]
        u02 = U[p, j + 2]
        u03 = U[p, j + 3]
        u11 = U[p + 1, j + 1]
        u12 = U[p + 1, j + 2]
        u13 = U[p + 1, j + 3]
        u22 = U[p + 2, j + 2]
        u23 = U[p + 2, j + 3]
        u33 = U[p + 3, j + 3]
        if triangular and p == j:
            for i in range(m):
                a0[i] = a0[i] + u00 * x0[i]
                a1[i] = a1[i] + u01 * x0[i] + u11 * x1[i]
                a2[i] = a2[i] + u02 * x0[i] + u12 * x1[i] + u22 * x2[i]
                a3[i] = a3[i] + u03 * x0[i] + u13 * x1[i] + u23 * x2[i] + u33 * x3[i]
        else:
            u10 = U[p + 1, j]
            u20 = U[p + 2, j]
            u21 = U[p + 2, j + 1]
            u30 = U[p + 3, j]
            u31 = U[p + 3, j + 1]
            u32 = U[p + 3, j + 2]
            for i in range(m):
                a0[i] = a0[i] + u00 * x0[i] + u10 * x1[i] + u20 * x2[i] + u30 * x3[i]
                a1[i] = a1[i] + u01 * x0[i] + u11 * x1[i] + u21 * x2[i] + u31 * x3[i]
                a2[i] = a2[i] + u02 * x0[i] + u12 * x1[i] + u22 * x2[i] + u32 * x3[i]
                a3[i] = a3[i] + u03 * x0[i] + u13 * x1[i] + u23 * x2[i] + u33 * x3[i]
    for i in range(m):
        quad[i] += a0[i] * a0[i] + a1[i] * a1[i] + a2[i] * a2[i] + a3[i] * a3[i]


@njit(cache=CACHE)
def _weighted_log_prob_full(Xt, m, prec_chol, muL, const, triangular, acc, quad, wlp):
    """``wlp[c, :m] = -0.5 ||Xt[:, :m].T U_c - mu_c U_c||^2 + const[c]`` for every component.

    Parameters
    ----------
    Xt : ndarray of shape (n_features_pad4, block)
        The block's samples, transposed and zero-padded (X's dtype).
    m : int
        Samples in the block.
    prec_chol : ndarray of shape (n_components, n_features_pad4, n_features_pad4)
        Zero-padded precision factors ``U_c`` (upper triangular when ``triangular``).
    muL : ndarray of shape (n_components, n_features_pad4)
        ``means[c] @ U_c``.
    const : ndarray of shape (n_components,)
        ``-0.5 d log(2 pi) + log det U_c + log pi_c``, in ``wlp``'s dtype.
    triangular : bool
    acc : ndarray of shape (4, block), quad : ndarray of shape (block,)
        Scratch, X's dtype.
    wlp : ndarray of shape (n_components, block)
        Written (first ``m`` columns): float64, or X's dtype in the fused pass.
    """
    half = wlp.dtype.type(-0.5)
    d_pad = prec_chol.shape[1]
    for c in range(prec_chol.shape[0]):
        U = prec_chol[c]
        for i in range(m):
            quad[i] = 0.0
        for j in range(0, d_pad, 4):
            p_end = j + 4 if triangular else d_pad
            _quad_tile4(Xt, m, U, j, p_end, triangular, muL[c], acc, quad)
        w = wlp[c]
        shift = const[c]
        for i in range(m):
            w[i] = half * quad[i] + shift


def _e_step_chunking(n_samples, block):
    """Samples per chunk of the E-step (a multiple of ``block``, at most 64 chunks) and the
    number of chunks. (No sums cross samples: results do not depend on it.)"""
    chunk = max(1, -(-n_samples // 64))
    chunk = -(-chunk // block) * block
    return chunk, max(1, -(-n_samples // chunk))


def _estep_diag(X, means, precisions, log_det, log_weights, block, mode, out, log_prob_norm):
    """E-step for diagonal (and, with repeated precisions, spherical) covariances.

    Parameters as :func:`_estep_full` except ``precisions`` of shape
    (n_components, n_features): the diagonal precisions ``prec_chol ** 2``.
    """
    n, d = X.shape
    const = (-0.5 * d * LOG_2PI + log_det + log_weights).astype(X.dtype)
    chunk, n_chunks = _e_step_chunking(n, block)
    e_min = _flush_threshold(X.dtype)
    args = (X, means, precisions, const, block, e_min, mode, out, log_prob_norm)
    for_each_chunk(_estep_diag_chunk, args, n, chunk, np.empty(n_chunks))


@njit(cache=CACHE)
def _estep_diag_chunk(args, b, start, end):
    """Samples ``start:end`` of :func:`_estep_diag`, in blocks of ``block``."""
    (X, means, precisions, const, block, e_min, mode, out, log_prob_norm) = args
    k, d = means.shape
    Xt = np.empty((d, block), dtype=X.dtype)
    quad = np.empty(block, dtype=X.dtype)
    wlp = np.empty((k, block), dtype=X.dtype)
    lse = np.empty((3, block), dtype=X.dtype)
    half = X.dtype.type(-0.5)
    for s0 in range(start, end, block):
        s1 = min(end, s0 + block)
        m = s1 - s0
        _transpose_block(X, s0, s1, Xt)
        for c in range(k):
            for i in range(m):
                quad[i] = 0.0
            for j in range(d):
                mu = means[c, j]
                prec = precisions[c, j]
                for i in range(m):
                    t = Xt[j, i] - mu
                    quad[i] += prec * (t * t)
            w = wlp[c]
            for i in range(m):
                w[i] = half * quad[i] + const[c]
        _estep_write(wlp, m, e_min, lse, s0, mode, out, log_prob_norm)
    return 0.0
