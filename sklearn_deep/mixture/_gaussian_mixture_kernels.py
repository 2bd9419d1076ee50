"""Numba kernels for the EM algorithm of :class:`~sklearn_deep.mixture.GaussianMixture`.

Layout conventions
------------------
* ``X`` is C-contiguous, shape ``(n_samples, n_features)``, float32 or float64; every
  other array handed to a kernel has the same dtype (the Python caller casts).
* Precision Cholesky factors follow scikit-learn: ``precisions_cholesky[k]`` is the
  *upper*-triangular ``U`` with ``precision = U @ U.T``, so that
  ``log N(x | mu, Sigma) = -0.5 * (d log 2 pi + ||x U - mu U||^2) + sum(log diag U)``.
* Work is split into fixed-size blocks of samples. ``prange`` runs over blocks; each
  block writes only its own rows or its own slot of a ``*_part`` array, and the partial
  sums are reduced serially by the caller, so results do not depend on the thread count.
* Inside a block the samples are transposed to ``(n_features, block)`` so that the
  innermost loops run over samples, contiguous and long: LLVM vectorises them whatever
  ``n_features`` is. The heavy loops are small matrix products written out
  (``X_block @ U`` for the E-step, ``D.T @ (r * D)`` for the M-step).

``fastmath`` is used only by the matrix-product helpers: ``contract`` (fused
multiply-adds) in the E-step tile :func:`_quad_tile4`, and re-association in the M-step
reductions :func:`_syrk_tiles` and :func:`_sum_block` (needed to vectorise them). The
log-sum-exp (``-inf`` weights), the exponential and the Cholesky kernel are compiled
without it. The
exponential of the log-sum-exp is a polynomial (:func:`_exp_nonpositive`), so that its
loops vectorise without SVML.

For full covariances one EM iteration is a single pass (:func:`_em_pass_full`): each
block's responsibilities feed the M-step sums while still in cache, with the second
moments taken about the E-step's means (moved to the new means by the caller).

Tied covariances use :func:`_estep_full` with the shared factor repeated per component,
and ``X.T @ X`` is :func:`_mstep_scatter_full` with one component of unit weights: fewer
kernels to JIT-compile.
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


# --------------------------------------------------------------------------------------
# M-step: weighted sufficient statistics, per chunk, reduced serially by the caller
# --------------------------------------------------------------------------------------


@njit(cache=CACHE, parallel=True)
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
    """
    n, d = X.shape
    k = resp.shape[1]
    n_chunks = nk_part.shape[0]
    for b in prange(n_chunks):
        start = b * chunk
        end = min(n, start + chunk)
        nk = np.zeros(k)
        sx = np.zeros((k, d))
        sxx = np.zeros((k, d))
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
        for c in range(k):
            nk_part[b, c] = nk[c]
            for j in range(d):
                sx_part[b, c, j] = sx[c, j]
                if second:
                    sxx_part[b, c, j] = sxx[c, j]


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


@njit(cache=CACHE, parallel=True)
def _mstep_scatter_full(X, resp, means, chunk, block, out_part):
    """Centred weighted scatter matrices per chunk: ``sum_i r_ik (x_i - mu_k)(x_i - mu_k)^T``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    resp : ndarray of shape (n_samples, n_components)
    means : ndarray of shape (n_components, n_features)
    chunk : int
        Samples per chunk (the unit of the serial reduction).
    block : int
        Samples per transposed sub-block inside a chunk (cache locality only).
    out_part : ndarray of shape (n_chunks, n_components, n_features, n_features), float64
        Written: the scatter matrices of each chunk (full, symmetric).
    """
    n, d = X.shape
    k = resp.shape[1]
    d_pad = _padded(d)
    n_chunks = out_part.shape[0]
    for b in prange(n_chunks):
        start = b * chunk
        end = min(n, start + chunk)
        S = np.zeros((k, d_pad, d_pad))
        Xt = np.empty((d, block), dtype=X.dtype)
        D = np.zeros((d_pad, block), dtype=X.dtype)
        W = np.zeros((d_pad, block), dtype=X.dtype)
        r = np.empty(block, dtype=X.dtype)
        for s0 in range(start, end, block):
            s1 = min(end, s0 + block)
            m = s1 - s0
            _transpose_block(X, s0, s1, Xt)
            for c in range(k):
                for i in range(m):
                    r[i] = resp[s0 + i, c]
                for p in range(d):
                    mu = means[c, p]
                    Dp = D[p]
                    Wp = W[p]
                    Xp = Xt[p]
                    for i in range(m):
                        v = Xp[i] - mu
                        Dp[i] = v
                        Wp[i] = r[i] * v
                _syrk_tiles(W, D, m, S[c])
        for c in range(k):
            for p in range(d):
                for q in range(p, d):
                    out_part[b, c, p, q] = S[c, p, q]
                    out_part[b, c, q, p] = S[c, p, q]


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
