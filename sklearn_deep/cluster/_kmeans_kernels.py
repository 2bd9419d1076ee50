"""Numba kernels for k-means: assignment, centre update, inertia and k-means++ seeding.

Layout conventions
------------------
* Dense data ``X`` is a C-contiguous ``(n_samples, n_features)`` array of float32 or float64;
  centres have the same dtype. Sparse data is CSR, passed as ``(data, indices, indptr)``.
* Dense kernels take a ``mean`` and work on ``X - mean``, computed on the fly exactly as a
  centred copy would hold it (so the estimator centres the data, as scikit-learn does,
  without copying it).
* Samples are split into at most ``MAX_BLOCKS`` contiguous blocks whose boundaries depend only
  on ``n_samples`` (never on the thread count). ``prange`` runs over blocks; each block writes
  its own slice of the partial-sum buffers, which the caller reduces serially in block order.
  Results are therefore bit-identical whatever the number of threads.
* The Lloyd kernels rank centres as scikit-learn does, by ``||c||^2 - 2 <x, c>``. The cross
  term comes from fused register tiles (:func:`_dot_tile4`, in X's dtype, vectorised over
  samples transposed in tiles of ``TILE_SAMPLES``) for at most ``FUSED_MAX_CLUSTERS``
  centres or float32 data, else from a BLAS product over chunks of samples (run with BLAS
  limited to one thread). The bound-based iteration (Yinyang's group bounds; Hamerly's
  single bound with the fused tiles) skips a sample only when its bounds prove, beyond the
  rounding error of that computation, that the label stays: it gives the labels of the
  plain kernel.
* The per-block centre sums are running sums: a pass moves only the samples whose label
  changes (:func:`_move_sample`), in sample order, so the plain and the bounded kernels
  keep bit-identical sums.
* The plain Lloyd passes on float64 data rank in float32 and rank again in float64 the
  samples whose float32 gap between the two best centres is within a rounding-error bound
  (:mod:`._kmeans_lloyd_screen`): the labels and sums are the float64 pass's, bit for bit.
* Other distances (transform, inertia, bounds, k-means++) are accumulated directly, feature
  by feature, as ``sum_f (x_f - c_f) ** 2``. The k-means++ steps on float64 data may first
  screen samples in float32 (:func:`_kmeanspp_trials_screened`); a rounding-error bound makes
  the screen exact, so that the potentials stay bit-identical.
* Centre sums, cluster weights, potentials and inertia are accumulated in float64.
"""

from .._kernel_blocks import (  # noqa: F401
    _PRODUCT_FASTMATH,
    CHUNK_SIZE,
    MAX_BLOCKS,
    TILE_SAMPLES,
    TILE_STRIDE,
    _block_bounds,
    _dot_tile4,
    _gather_transposed,
    _n_blocks,
    _pad4,
    _transpose4_centred,
)
from ._kmeans_bounds import (  # noqa: F401
    RETEST_MIN_WORK,
    _bounds_filter,
    _group_shifts,
    _yinyang_block_fused,
    _yinyang_block_gemm,
    _yinyang_iter_dense,
    _yinyang_prepare,
)
from ._kmeans_bounds_rank import (  # noqa: F401
    _bounded_rows_fused,
    _bounded_rows_gemm,
)
from ._kmeans_common import (  # noqa: F401
    _average_centers,
    _center_shift,
    _column_mean,
    _column_var,
    _euclidean_dense,
    _finish_mstep,
    _half_separation,
    _half_separation_into,
    _inertia_dense,
    _move_sample,
    _reduce_blocks,
    _relabel_rows,
    _row_sq_norms,
    _sqdist_all_dense,
    _sqdist_one_fast,
    _sqdist_rows_shifted,
)
from ._kmeans_lloyd import (  # noqa: F401
    FUSED_MAX_BYTES,
    FUSED_MAX_CLUSTERS,
    _gemm_rows_argmin,
    _lloyd_block_fused,
    _lloyd_block_gemm,
    _lloyd_iter_dense,
    _pack_centers,
    _tiles_pay,
    _use_fused,
)
from ._kmeans_lloyd_screen import _lloyd_block_screened, sample_tiles  # noqa: F401
from ._kmeans_rank import VEC_SAMPLES, _rank_tile, _rank_vec  # noqa: F401
from ._kmeans_sparse import (  # noqa: F401
    _euclidean_sparse,
    _inertia_sparse,
    _kmeanspp_trials_sparse,
    _lloyd_iter_sparse,
    _sqdist_sparse_dense,
    _sqdist_to_assigned_sparse,
)
from ._kmeanspp import (  # noqa: F401
    _kmeanspp_best,
    _kmeanspp_candidates,
    _kmeanspp_dense,
    _kmeanspp_dense_numpy,
    _kmeanspp_dense_plain,
    _kmeanspp_first,
    _kmeanspp_may_screen,
    _kmeanspp_searchsorted,
    _kmeanspp_searchsorted_blocks,
    _kmeanspp_trials_dense,
    _kmeanspp_trials_dense_counted,
    _shift_candidates,
    _weighted_choice_draw,
    _weighted_choice_ok,
)
from ._kmeanspp_screen import (  # noqa: F401
    SCREEN_GROUP,
    SCREEN_MAX_NORM,
    SCREEN_MIN_STEPS,
    SCREEN_OFF_FRACTION,
    SCREEN_ON_FRACTION,
    SCREEN_TILE,
    _kmeanspp_take_screened,
    _kmeanspp_trials_screened,
    _prefetch,
    _screen_copy,
    _screen_shift,
    _screen_tile,
)
