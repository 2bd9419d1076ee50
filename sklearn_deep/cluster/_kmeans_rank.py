"""k-means kernels: the register-blocked ranking micro-kernel of the fused (tiled) passes.

:func:`_rank_tile` ranks the centres for the samples of one transposed tile (from
:func:`~sklearn_deep._kernel_blocks._gather_transposed`): for each sample, the first index
of the smallest ``csq[j] - 2 <x, c_j>``, that value and the second smallest value. It is
written in LLVM vector code (:func:`_rank_vec`), because Numba's loop vectoriser keeps the
products' accumulators in memory: here a vector of ``VEC_SAMPLES`` samples times four
centres stays in registers over all features (one vector load and four broadcasts per
four multiply-adds of ``VEC_SAMPLES``-wide vectors), and the running smallest values too,
over all centres.

The arithmetic is fixed, so the values do not depend on the compiler's choices: each
product is ``fma(u[p], x[p], acc)`` over the features in order from zero, and each value
``csq[j] - 2 * acc`` is a rounded product then a rounded difference (no contraction). The
plain and the bound-based passes both rank with this kernel, so they agree bit for bit.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._numba_config import CACHE


def _vector_bits():
    """Width of the host's vector registers (bits): 512 with AVX-512, else 256."""
    try:
        import llvmlite.binding as ll

        return 512 if "+avx512f" in ll.get_host_cpu_features().flatten().split(",") else 256
    except Exception:  # pragma: no cover - feature query unavailable
        return 256


# registers of samples per centre: 4 centres x 4 registers = 16 accumulators with AVX-512's
# 32 vector registers, 4 x 2 with AVX2's 16 (more would spill). Four rather than two per
# centre (gather and rank of the samples, one thread, AVX-512): (200k, 64, 256) float32
# 36 -> 32 ms, float64 70 -> 60 ms, (50k, 128, 512) float32 36 -> 28 ms, float64
# 112 -> 67 ms; with 16 or fewer features and centres within 2% either way
_REGS_PER_CENTER = 4 if _vector_bits() == 512 else 2
# samples per vector of the micro-kernel, per dtype itemsize
VEC_SAMPLES = {size: _REGS_PER_CENTER * _vector_bits() // (8 * size) for size in (4, 8)}


@intrinsic
def _rank_vec(typingctx, Xt, i, U, csq, best, b1, b2):
    """For the samples in columns ``i:i + W`` of ``Xt`` (``W = VEC_SAMPLES[itemsize]``):
    ``best[i + r]`` (int32) the first argmin over centres ``j`` of
    ``csq[j] - 2 * sum_p U[p, j] * Xt[p, i + r]``, ``b1[i + r]`` that value and
    ``b2[i + r]`` the second smallest (X's dtype).

    ``Xt`` (n_features_pad4, >= i + W) and ``U`` (n_features_pad4, n_clusters_pad4) are
    C-contiguous, ``csq`` (n_clusters_pad4,) is ``inf`` for padded centres. Columns of
    ``Xt`` past the tile's samples only give values the caller ignores.
    """
    sig = types.void(Xt, i, U, csq, best, b1, b2)
    width = VEC_SAMPLES[Xt.dtype.bitwidth // 8]

    def codegen(context, builder, signature, args):
        xt_ty, _, u_ty, csq_ty, best_ty, b1_ty, b2_ty = signature.args
        fty = context.get_value_type(xt_ty.dtype)
        vty = ir.VectorType(fty, width)
        i32 = ir.IntType(32)
        ivty = ir.VectorType(i32, width)
        intp = context.get_value_type(types.intp)
        align = xt_ty.dtype.bitwidth // 8
        xt = context.make_array(xt_ty)(context, builder, args[0])
        u = context.make_array(u_ty)(context, builder, args[2])
        cs = context.make_array(csq_ty)(context, builder, args[3])
        arrs = [
            context.make_array(t)(context, builder, a)
            for t, a in zip((best_ty, b1_ty, b2_ty), args[4:])
        ]
        i0 = context.cast(builder, args[1], signature.args[1], types.intp)
        n_p = builder.extract_value(u.shape, 0)
        n_j = builder.extract_value(u.shape, 1)
        suffix = f"v{width}f{xt_ty.dtype.bitwidth}"
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{suffix}"
        )

        def vptr(ty, arr, idx, vt):
            p = cgutils.get_item_pointer(context, builder, ty, arr, idx, wraparound=False)
            return builder.bitcast(p, vt.as_pointer())

        def splat(value, vt):
            undef = ir.Constant(vt, ir.Undefined)
            v = builder.insert_element(undef, value, ir.Constant(i32, 0))
            return builder.shuffle_vector(v, undef, ir.Constant(ivty, [0] * width))

        inf = ir.Constant(vty, [float("inf")] * width)
        zero = ir.Constant(vty, [0.0] * width)
        two = ir.Constant(vty, [2.0] * width)
        r_b1 = cgutils.alloca_once_value(builder, inf)
        r_b2 = cgutils.alloca_once_value(builder, inf)
        r_i1 = cgutils.alloca_once_value(builder, ir.Constant(ivty, [0] * width))
        accs = [cgutils.alloca_once(builder, vty) for _ in range(4)]
        four = ir.Constant(intp, 4)
        with cgutils.for_range_slice(builder, ir.Constant(intp, 0), n_j, four, intp) as (j, _):
            for a in accs:
                builder.store(zero, a)
            with cgutils.for_range(builder, n_p, intp=intp) as loop:
                p = loop.index
                x = builder.load(vptr(xt_ty, xt, [p, i0], vty), align=align)
                for c in range(4):
                    jc = builder.add(j, ir.Constant(intp, c))
                    uptr = cgutils.get_item_pointer(
                        context, builder, u_ty, u, [p, jc], wraparound=False
                    )
                    uv = splat(builder.load(uptr), vty)
                    builder.store(builder.call(fma, [uv, x, builder.load(accs[c])]), accs[c])
            o1 = builder.load(r_b1)
            o2 = builder.load(r_b2)
            oi = builder.load(r_i1)
            for c in range(4):
                jc = builder.add(j, ir.Constant(intp, c))
                cptr = cgutils.get_item_pointer(
                    context, builder, csq_ty, cs, [jc], wraparound=False
                )
                v = builder.fsub(
                    splat(builder.load(cptr), vty), builder.fmul(two, builder.load(accs[c]))
                )
                lt = builder.fcmp_ordered("<", v, o1)
                lt2 = builder.fcmp_ordered("<", v, o2)
                o2 = builder.select(lt, o1, builder.select(lt2, v, o2))
                o1 = builder.select(lt, v, o1)
                oi = builder.select(lt, splat(builder.trunc(jc, i32), ivty), oi)
            builder.store(o1, r_b1)
            builder.store(o2, r_b2)
            builder.store(oi, r_i1)
        for (ty, arr), val, vt in zip(
            zip((best_ty, b1_ty, b2_ty), arrs), (r_i1, r_b1, r_b2), (ivty, vty, vty)
        ):
            builder.store(builder.load(val), vptr(ty, arr, [i0], vt), align=4)
        return context.get_dummy_value()

    return sig, codegen


_VEC_F32 = VEC_SAMPLES[4]
_VEC_F64 = VEC_SAMPLES[8]


@njit(cache=CACHE)
def _rank_tile(Xt, m, U, csq, best, b1, b2):
    """Rank the centres for the ``m`` samples of the transposed tile ``Xt``.

    Writes ``best[:m]`` (int32, first argmin of ``csq[j] - 2 <x, c_j>``), ``b1[:m]`` (that
    smallest value) and ``b2[:m]`` (the second smallest), arrays of shape (>= m rounded up to
    ``VEC_SAMPLES``,); see :func:`_rank_vec`.
    """
    w = _VEC_F32 if Xt.itemsize == 4 else _VEC_F64
    for i in range(0, m, w):
        _rank_vec(Xt, i, U, csq, best, b1, b2)
