"""Numba kernels for the EM algorithm of :class:`~sklearn_deep.mixture.GaussianMixture`.

Layout conventions
------------------
* ``X`` is C-contiguous, shape ``(n_samples, n_features)``, float32 or float64; every
  other array handed to a kernel has the same dtype (the Python caller casts).
* Precision Cholesky factors follow scikit-learn: ``precisions_cholesky[k]`` is the
  *upper*-triangular ``U`` with ``precision = U @ U.T``, so that
  ``log N(x | mu, Sigma) = -0.5 * (d log 2 pi + ||x U - mu U||^2) + sum(log diag U)``.
* Work is split into chunks of samples, and each chunk into blocks of ``block`` samples.
  Each kernel is a serial *chunk kernel* run over the chunks in parallel by the shared thin
  parallel loop :func:`sklearn_deep._kernel_blocks.for_each_chunk` (a large
  ``parallel=True`` function costs seconds of Numba compilation; a serial one a fraction).
  A chunk writes only its own rows or its own slot of a ``*_part`` array, and the partial
  sums are reduced serially by the caller, so results do not depend on the thread count.
* Inside a block the samples are transposed to ``(n_features, block)`` so that the
  innermost loops run over samples, contiguous and long: LLVM vectorises them whatever
  ``n_features`` is. The heavy loops are small matrix products written out
  (``X_block @ U`` for the E-step, ``D.T @ (r * D)`` for the M-step).

``fastmath`` (the switches of ``_kernel_blocks``) is used only by the matrix-product
helpers: ``contract`` (fused multiply-adds) in the E-step tile :func:`_quad_tile4`, and
re-association in the M-step reductions :func:`_syrk_tiles` and ``_sum_block`` (needed to
vectorise them). The log-sum-exp (``-inf`` weights), the exponential and the Cholesky kernel
are compiled without it. The exponential of the log-sum-exp is a polynomial
(:func:`_exp_nonpositive`), so that its loops vectorise without SVML; log-probabilities,
log-sum-exp and responsibilities are computed in X's dtype (as scikit-learn does).

Full (and tied) covariances have one chunk kernel for everything a fit runs
(``_gaussian_fused_kernels._full_chunk``, so that a fit compiles it and its parallel loop
once): the E-step (:func:`_estep_full`); one fused EM iteration (:func:`_em_pass_full`),
whose responsibilities feed the M-step sums while still in cache, with the second moments
taken about the E-step's means (moved to the new means by the caller); and the M-step sums
from given responsibilities (:func:`_mstep_full_sums`: the initial M-step, ``X.T @ X`` for
tied covariances as one component of unit weights, and the plain iteration when the fused
one would lose accuracy). Tied covariances use the full kernels with the shared factor
repeated per component. Diagonal and spherical covariances have their own E-step
(:func:`_estep_diag`) and moments (:func:`_mstep_moments`) kernels.

The kernels live in three modules by job: ``_gaussian_estep_kernels`` (E-step building
blocks, the exponential, the log-sum-exp, the 4 x 4 product tile, the diagonal E-step),
``_gaussian_mstep_kernels`` (M-step sums, Cholesky factors) and ``_gaussian_fused_kernels``
(the full-covariance chunk kernel). This module is the single import of the Python side (and
of the tests).
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
