"""Numba kernels of the Gaussian-mixture E-step: log-densities, log-sum-exp, responsibilities.

Layout conventions are in ``_gaussian_mixture_kernels`` (the module callers import).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from .._numba_config import CACHE

LOG_2PI = math.log(2.0 * math.pi)

# What the E-step kernels write into ``out`` (``log_prob_norm`` is always written).
MODE_NONE = 0  # nothing
MODE_WEIGHTED_LOG_PROB = 1  # log pi_k + log N(x_i | mu_k, Sigma_k)
MODE_LOG_RESP = 2  # log responsibilities
MODE_RESP = 3  # responsibilities

# fast-math flags allowed for plain accumulations (no -inf/NaN assumptions): fused
# multiply-adds everywhere in the matrix-product helpers, re-association only in the
# dot-product reductions of the M-step (needed to vectorise them).
_PRODUCT_FASTMATH = {"contract"}
_ACCUM_FASTMATH = {"reassoc", "contract", "nsz"}


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


@njit(cache=CACHE)
def _logsumexp_block(wlp, start, mode, out, log_prob_norm, mx, s):
    """Log-sum-exp over components of one block of weighted log-probabilities.

    Parameters
    ----------
    wlp : ndarray of shape (n_components, block), float64
        Weighted log-probabilities of samples ``start:start + block``, component-major
        so that every loop runs over contiguous samples. Overwritten by the
        exponentials in ``MODE_RESP``.
    start : int
        First sample of the block.
    mode : int
        One of the ``MODE_*`` constants: what to write into ``out``.
    out : ndarray of shape (n_samples, n_components)
        Written for rows of the block unless ``mode == MODE_NONE``.
    log_prob_norm : ndarray of shape (n_samples,)
        ``log sum_k exp(wlp[k, i])``, written for the block.
    mx, s : ndarray of shape (block,), float64
        Scratch.
    """
    k, m = wlp.shape
    for i in range(m):
        mx[i] = -np.inf
        s[i] = 0.0
    for c in range(k):
        row = wlp[c]
        for i in range(m):
            if row[i] > mx[i]:
                mx[i] = row[i]
    for c in range(k):
        row = wlp[c]
        if mode == MODE_RESP:
            for i in range(m):
                e = _exp_nonpositive(row[i] - mx[i])
                row[i] = e
                s[i] += e
        else:
            for i in range(m):
                s[i] += _exp_nonpositive(row[i] - mx[i])
    for i in range(m):
        # all components impossible (-inf): log p = -inf and NaN responsibilities, as NumPy
        finite = not (math.isinf(mx[i]) or math.isnan(mx[i]))
        lpn = mx[i] + math.log(s[i]) if finite else mx[i]
        log_prob_norm[start + i] = lpn
        row = start + i
        if mode == MODE_WEIGHTED_LOG_PROB:
            for c in range(k):
                out[row, c] = wlp[c, i]
        elif mode == MODE_LOG_RESP:
            for c in range(k):
                out[row, c] = wlp[c, i] - lpn
        elif mode == MODE_RESP:
            inv = 1.0 / s[i] if finite else np.nan
            for c in range(k):
                out[row, c] = wlp[c, i] * inv


@njit(cache=CACHE)
def _means_times_factor(means, prec_chol):
    """``means[k] @ prec_chol[k, :d]`` for every component, shape (n_components, n_columns)."""
    k, d = means.shape
    n_cols = prec_chol.shape[2]
    out = np.empty((k, n_cols), dtype=means.dtype)
    for c in range(k):
        for j in range(n_cols):
            s = 0.0
            for p in range(d):
                s += means[c, p] * prec_chol[c, p, j]
            out[c, j] = s
    return out


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
def _padded(n):
    """``n`` rounded up to a multiple of 4."""
    return (n + 3) // 4 * 4


@njit(cache=CACHE, parallel=True)
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
    """
    n, d = X.shape
    k = means.shape[0]
    d_pad = prec_chol.shape[1]
    muL = _means_times_factor(means, prec_chol)
    const = np.empty(k)
    for c in range(k):
        const[c] = -0.5 * d * LOG_2PI + log_det[c] + log_weights[c]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        start = b * block
        end = min(n, start + block)
        m = end - start
        Xt = np.zeros((d_pad, m), dtype=X.dtype)
        _transpose_block(X, start, end, Xt)
        acc = np.empty((4, m), dtype=X.dtype)
        quad = np.empty(m, dtype=X.dtype)
        wlp = np.empty((k, m))
        mx = np.empty(m)
        sums = np.empty(m)
        for c in range(k):
            U = prec_chol[c]
            quad[:] = 0.0
            for j in range(0, d_pad, 4):
                p_end = j + 4 if triangular else d_pad
                _quad_tile4(Xt, m, U, j, p_end, triangular, muL[c], acc, quad)
            w = wlp[c]
            for i in range(m):
                w[i] = -0.5 * quad[i] + const[c]
        _logsumexp_block(wlp, start, mode, out, log_prob_norm, mx, sums)


@njit(cache=CACHE, parallel=True)
def _estep_diag(X, means, precisions, log_det, log_weights, block, mode, out, log_prob_norm):
    """E-step for diagonal (and, with repeated precisions, spherical) covariances.

    Parameters as :func:`_estep_full` except ``precisions`` of shape
    (n_components, n_features): the diagonal precisions ``prec_chol ** 2``.
    """
    n, d = X.shape
    k = means.shape[0]
    const = np.empty(k)
    for c in range(k):
        const[c] = -0.5 * d * LOG_2PI + log_det[c] + log_weights[c]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        start = b * block
        end = min(n, start + block)
        m = end - start
        Xt = np.empty((d, m), dtype=X.dtype)
        _transpose_block(X, start, end, Xt)
        quad = np.empty(m, dtype=X.dtype)
        wlp = np.empty((k, m))
        mx = np.empty(m)
        sums = np.empty(m)
        for c in range(k):
            quad[:] = 0.0
            for j in range(d):
                mu = means[c, j]
                prec = precisions[c, j]
                for i in range(m):
                    t = Xt[j, i] - mu
                    quad[i] += prec * (t * t)
            w = wlp[c]
            for i in range(m):
                w[i] = -0.5 * quad[i] + const[c]
        _logsumexp_block(wlp, start, mode, out, log_prob_norm, mx, sums)
