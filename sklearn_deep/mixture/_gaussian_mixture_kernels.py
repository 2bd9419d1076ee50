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

The kernels live in three modules by job: ``_gaussian_estep_kernels`` (E-step, the
exponential, the 4 x 4 product tile), ``_gaussian_mstep_kernels`` (M-step sums, Cholesky
factors) and ``_gaussian_fused_kernels`` (the one-pass EM iteration). This module is the
single import of the Python side (and of the tests).
"""

from ._gaussian_estep_kernels import (  # noqa: F401
    LOG_2PI,
    MODE_LOG_RESP,
    MODE_NONE,
    MODE_RESP,
    MODE_SUMS,
    MODE_WEIGHTED_LOG_PROB,
    _estep_diag,
    _exp_nonpositive,
    _exp_nonpositive_f32,
    _log_sum_exp,
    _quad_tile4,
)
from ._gaussian_fused_kernels import _em_pass_full, _estep_full, _mstep_full_sums  # noqa: F401
from ._gaussian_mstep_kernels import (  # noqa: F401
    _mstep_moments,
    _precision_cholesky_full,
    _syrk_tiles,
)
