"""k-means++ seeding of dense data: the greedy steps compiled whole (the loop of
scikit-learn's ``_kmeans_plusplus``, same draws and same centres), the plain trial pass,
the weighted searches, and the first centre's draw."""

import math

import numpy as np
from numba import njit, prange

from .._kernel_blocks import _block_bounds, _n_blocks
from .._numba_config import CACHE
from ._kmeans_common import _sqdist_rows_shifted
from ._kmeanspp_screen import (
    SCREEN_GROUP,
    SCREEN_MAX_NORM,
    SCREEN_MIN_STEPS,
    SCREEN_OFF_FRACTION,
    SCREEN_ON_FRACTION,
    SCREEN_TILE,
    _kmeanspp_take_screened,
    _kmeanspp_trials_screened,
    _screen_copy,
    _screen_shift,
)

# Plain pass (:func:`_kmeanspp_trials_dense`): each greedy step streams X once for its
# candidates. Screened pass (float64 X, :mod:`._kmeanspp_screen`): a float32 copy is streamed
# instead and only the samples it cannot rule out get exact distances; it pays once few samples
# get closer at each step, hence the adaptive switch of :func:`_kmeanspp_dense`. The
# alternatives measured for both passes are in the docs' benchmarks page.


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_dense(X, mean, sample_weight, candidates, closest, dist_trials, pots):
    """Squared distances to the candidate centres, capped by the current closest distance.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    mean : ndarray of shape (n_features,), X's dtype
        Distances are those of the rows of ``X - mean`` (computed on the fly).
    sample_weight : ndarray of shape (n_samples,)
    candidates : ndarray of shape (n_trials, n_features), X's dtype
    closest : ndarray of shape (n_samples,), X's dtype
        Squared distance of each sample to its closest chosen centre (``inf`` before the
        first centre).
    dist_trials : ndarray of shape (n_trials, n_samples), X's dtype
        Written: ``min(closest, ||x - candidate||^2)``, computed in float64.
    pots : ndarray of shape (n_blocks, n_trials), float64
        Written: per-block weighted potentials ``sum w * dist_trials``.
    """
    n_samples = X.shape[0]
    n_trials = candidates.shape[0]
    n_blocks = _n_blocks(n_samples)
    shifted = _shift_candidates(candidates, mean)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        pot = np.zeros(n_trials)
        for i in range(start, end):
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_shifted(X, i, shifted, t))
                if closest[i] < d:
                    d = closest[i]
                dist_trials[t, i] = d
                pot[t] += np.float64(d) * sample_weight[i]
        for t in range(n_trials):
            pots[b, t] = pot[t]


@njit(cache=CACHE)
def _shift_candidates(candidates, mean):
    """``candidates + mean`` in float64: ``||(x - mean) - c||`` as ``||x - (c + mean)||``, one
    subtraction per feature, not two."""
    n_trials, n_features = candidates.shape
    shifted = np.empty((n_trials, n_features))
    for t in range(n_trials):
        for f in range(n_features):
            shifted[t, f] = np.float64(candidates[t, f]) + np.float64(mean[f])
    return shifted


@njit(cache=CACHE, parallel=True)
def _kmeanspp_trials_dense_counted(
    X, mean, sample_weight, candidates, closest, dist_trials, pots, improved_counts
):
    """:func:`_kmeanspp_trials_dense` (the same values) that also counts, per block, the
    samples that some candidate brings closer than ``closest``, in ``improved_counts``
    (int64, (n_blocks,)): what decides whether the float32 screen pays off. (A separate
    kernel: the count slows the pass by about 15% at 16 features.)"""
    n_samples = X.shape[0]
    n_trials = candidates.shape[0]
    n_blocks = _n_blocks(n_samples)
    shifted = _shift_candidates(candidates, mean)
    for b in prange(n_blocks):
        start, end = _block_bounds(b, n_blocks, n_samples)
        pot = np.zeros(n_trials)
        n_improved = 0
        for i in range(start, end):
            cl = closest[i]
            improved = False
            for t in range(n_trials):
                d = X.dtype.type(_sqdist_rows_shifted(X, i, shifted, t))
                improved |= d < cl
                if cl < d:
                    d = cl
                dist_trials[t, i] = d
                pot[t] += np.float64(d) * sample_weight[i]
            n_improved += improved
        for t in range(n_trials):
            pots[b, t] = pot[t]
        improved_counts[b] = n_improved


@njit(cache=CACHE)
def _kmeanspp_first(X, mean, sample_weight, first):
    """The distances to the first centre, ``X[first] - mean``: returns ``closest``
    (n_samples,), X's dtype, the per-block sums of ``sample_weight * closest`` (float64,
    (n_blocks,)) and their sum in block order (the potential)."""
    n_samples, n_features = X.shape
    n_blocks = _n_blocks(n_samples)
    cand = np.empty((1, n_features), dtype=X.dtype)
    for f in range(n_features):
        cand[0, f] = X[first, f] - mean[f]
    first_dist = np.empty((1, n_samples), dtype=X.dtype)
    pots = np.zeros((n_blocks, 1))
    no_centre = np.full(n_samples, np.inf, dtype=X.dtype)
    _kmeanspp_trials_dense(X, mean, sample_weight, cand, no_centre, first_dist, pots)
    current_pot = 0.0
    for b in range(n_blocks):  # block order, as ``pots.sum(axis=0)``
        current_pot += pots[b, 0]
    return first_dist[0], pots[:, 0].copy(), current_pot


@njit(cache=CACHE)
def _kmeanspp_candidates(X, mean, sample_weight, closest, block_pots, rand_vals, pot, ids, cand):
    """Draw the candidates of one step: ``ids`` (int64, (n_trials,)) from the uniform draws
    ``rand_vals`` scaled by the potential ``pot``, and their rows of ``X - mean`` into
    ``cand`` (n_trials, n_features)."""
    n_trials = ids.shape[0]
    targets = np.empty(n_trials)
    for t in range(n_trials):
        targets[t] = rand_vals[t] * pot
    _kmeanspp_searchsorted_blocks(sample_weight, closest, block_pots, targets, ids)
    for t in range(n_trials):
        for f in range(X.shape[1]):
            cand[t, f] = X[ids[t], f] - mean[f]


@njit(cache=CACHE)
def _kmeanspp_best(pots, block_pots):
    """The candidate of smallest potential (first one on ties, as ``np.argmin``), each summed
    in block order; copies its per-block potentials into ``block_pots``. Returns ``(best,
    potential)``."""
    n_blocks, n_trials = pots.shape
    best = 0
    best_pot = np.inf
    for t in range(n_trials):
        pot = 0.0
        for b in range(n_blocks):
            pot += pots[b, t]
        if t == 0 or pot < best_pot:
            best = t
            best_pot = pot
    for b in range(n_blocks):
        block_pots[b] = pots[b, best]
    return best, best_pot


def _kmeanspp_may_screen(n_clusters, itemsize, screen):
    """Whether :func:`_kmeanspp_dense` may run a step through the screen with these
    arguments (else :func:`_kmeanspp_dense_plain` gives the same centres and compiles far
    less)."""
    n_steps = n_clusters - 1
    return itemsize == 8 and (screen == 2 or (screen == 1 and n_steps - 1 >= SCREEN_MIN_STEPS))


@njit(cache=CACHE)
def _kmeanspp_dense_plain(X, mean, sample_weight, first, rand_vals):
    """:func:`_kmeanspp_dense` without the float32 screen (the same centres): the loop of
    scikit-learn's ``_kmeans_plusplus`` compiled whole. Returns ``indices`` (int64,
    (n_clusters,))."""
    n_samples, n_features = X.shape
    n_steps, n_trials = rand_vals.shape
    n_blocks = _n_blocks(n_samples)
    indices = np.empty(n_steps + 1, dtype=np.int64)
    indices[0] = first
    closest, block_pots, current_pot = _kmeanspp_first(X, mean, sample_weight, first)
    pots = np.zeros((n_blocks, n_trials))
    cand = np.empty((n_trials, n_features), dtype=X.dtype)
    candidate_ids = np.empty(n_trials, dtype=np.int64)
    # two distance buffers used in turn: the best candidate's row becomes ``closest`` (read
    # by the next pass, which writes the other buffer)
    buffers = np.empty((2, n_trials if n_steps else 0, n_samples), dtype=X.dtype)
    for c in range(1, n_steps + 1):
        _kmeanspp_candidates(
            X,
            mean,
            sample_weight,
            closest,
            block_pots,
            rand_vals[c - 1],
            current_pot,
            candidate_ids,
            cand,
        )
        dist = buffers[c % 2]
        _kmeanspp_trials_dense(X, mean, sample_weight, cand, closest, dist, pots)
        best, current_pot = _kmeanspp_best(pots, block_pots)
        closest = buffers[c % 2][best]
        indices[c] = candidate_ids[best]
    return indices


@njit(cache=CACHE)
def _kmeanspp_dense(X, mean, sample_weight, first, rand_vals, screen=0):
    """Greedy k-means++ on dense ``X - mean``, the loop of scikit-learn's
    ``_kmeans_plusplus`` compiled whole (no Python work between the parallel passes).

    Parameters
    ----------
    X, mean, sample_weight
        As in :func:`_kmeanspp_trials_dense`.
    first : int
        Index of the first centre.
    rand_vals : ndarray of shape (n_clusters - 1, n_local_trials), float64
        The uniform draws of each later step (``random_state.uniform``, drawn at once:
        the same values as one call per step); scaled by the current potential here.
    screen : {0, 1, 2}, default=0
        Whether steps run through the float32 screen (:func:`_kmeanspp_trials_screened`;
        float64 X only, and only where X's centred norms stay below ``SCREEN_MAX_NORM``):
        0 never; 1 when it pays off: from the step after one where fewer than
        ``SCREEN_ON_FRACTION`` of the samples had a candidate closer than their closest
        centre, back to the plain pass above ``SCREEN_OFF_FRACTION`` (the screen computes
        those samples' distances twice); 2 from the first step on. The result is the same
        in every case.

    Returns
    -------
    indices : ndarray of shape (n_clusters,), int64
        Row of X chosen for each centre.
    n_screened : int
        The number of steps that ran through the screen.
    """
    n_samples, n_features = X.shape
    n_steps, n_trials = rand_vals.shape
    n_blocks = _n_blocks(n_samples)
    indices = np.empty(n_steps + 1, dtype=np.int64)
    indices[0] = first
    # closest distances, and their per-block sums (the potential's terms) for the search
    closest, block_pots, current_pot = _kmeanspp_first(X, mean, sample_weight, first)
    pots = np.zeros((n_blocks, n_trials))
    cand = np.empty((n_trials, n_features), dtype=X.dtype)
    candidate_ids = np.empty(n_trials, dtype=np.int64)
    counts = np.zeros(n_blocks, dtype=np.int64)

    can_screen = screen > 0 and X.itemsize == 8
    screening = False
    # the screening copy and its buffers, allocated when first needed
    m = np.zeros(0)
    tiles = np.empty((0, 0, SCREEN_TILE), dtype=np.float32)
    ynorm = np.empty(0)
    n_groups = (n_trials + SCREEN_GROUP - 1) // SCREEN_GROUP
    S = np.zeros((n_groups * SCREEN_GROUP, n_features), dtype=np.float32)
    shifted = np.empty((n_trials, n_features))
    rows = np.empty(0, dtype=np.intp)
    vals = np.empty((0, 0))
    # two distance buffers for the plain pass, used in turn: the best candidate's row becomes
    # ``closest`` (read by the next pass, which writes the other buffer)
    buffers = np.empty((2, 0, 0), dtype=X.dtype)
    fraction = 1.0
    n_screened = 0
    for c in range(1, n_steps + 1):
        if (
            can_screen
            and not screening
            and (screen == 2 or (fraction < SCREEN_ON_FRACTION and n_steps - c >= SCREEN_MIN_STEPS))
        ):
            if tiles.shape[0] == 0:  # build the copy
                m = _screen_shift(X)
                n_tiles = (n_samples + SCREEN_TILE - 1) // SCREEN_TILE
                tiles = np.empty((n_tiles, n_features, SCREEN_TILE), dtype=np.float32)
                ynorm = np.empty(n_samples)
                if _screen_copy(X, m, tiles, ynorm) > SCREEN_MAX_NORM:
                    can_screen = False  # (the copy is released: the plain pass goes on)
                    tiles = np.empty((1, 0, SCREEN_TILE), dtype=np.float32)
                    ynorm = np.empty(0)
                else:
                    rows = np.empty(n_samples, dtype=np.intp)
                    vals = np.empty((n_samples, n_trials))
            if can_screen:
                screening = True
                closest = closest.copy()  # updated in place from now on
                buffers = np.empty((2, 0, 0), dtype=X.dtype)
        _kmeanspp_candidates(
            X,
            mean,
            sample_weight,
            closest,
            block_pots,
            rand_vals[c - 1],
            current_pot,
            candidate_ids,
            cand,
        )
        if screening:
            # the candidates as the plain pass holds them (shifted back by the mean)
            zmax = 0.0
            for t in range(n_trials):
                zz = 0.0
                for f in range(n_features):
                    s = np.float64(cand[t, f]) + np.float64(mean[f])
                    shifted[t, f] = s
                    v = s - m[f]
                    S[t, f] = np.float32(v)
                    zz += v * v
                zmax = max(zmax, math.sqrt(zz))
            for t in range(n_trials, n_groups * SCREEN_GROUP):
                for f in range(n_features):
                    S[t, f] = S[0, f]
            _kmeanspp_trials_screened(
                X, sample_weight, shifted, S, zmax, tiles, ynorm, closest, pots, rows, vals, counts
            )
        else:
            if buffers.shape[1] == 0:
                buffers = np.empty((2, n_trials, n_samples), dtype=X.dtype)
            dist = buffers[c % 2]
            # count the samples that get closer only while the screen could still take over
            count = can_screen and (screen == 2 or n_steps - c > SCREEN_MIN_STEPS)
            if count:
                _kmeanspp_trials_dense_counted(
                    X, mean, sample_weight, cand, closest, dist, pots, counts
                )
            else:
                _kmeanspp_trials_dense(X, mean, sample_weight, cand, closest, dist, pots)
                counts[:] = n_samples
        best, current_pot = _kmeanspp_best(pots, block_pots)
        if screening:
            _kmeanspp_take_screened(closest, rows, vals, counts, best)
            n_screened += 1
        else:
            closest = buffers[c % 2][best]
        indices[c] = candidate_ids[best]
        if can_screen:
            # (the screen flags a superset of the improved samples, by the bound's slack only)
            fraction = counts.sum() / n_samples
            if screening and screen == 1 and fraction > SCREEN_OFF_FRACTION:
                screening = False
    return indices, n_screened


@njit(cache=CACHE)
def _kmeanspp_searchsorted_blocks(sample_weight, closest, block_pots, targets, out):
    """:func:`_kmeanspp_searchsorted`, exactly, without running the cumulative sum from the
    start for every search (float64 data; float32 data take the sequential search).

    ``block_pots`` holds the sum of ``sample_weight * closest`` over each sample block (as
    the trial kernels accumulate it). The sequential cumulative sum and the sum started from
    the block prefixes both lie within ``gamma_n * total`` of the exact prefix sums
    (``gamma_n = n u / (1 - n u)``, recursive summation of non-negative terms), hence within
    ``slack = 2 gamma_n total`` of each other, and both are non-decreasing. A search starts
    at the block whose prefix is below ``target - slack`` and scans from there; its index is
    the sequential search's when the value there is at least ``target + slack`` and the one
    before is below ``target - slack``. Otherwise (a value within the slack of the target,
    rare in float64) the sequential search decides. Writes ``out`` (int64).
    """
    n_samples = closest.shape[0]
    n_blocks = block_pots.shape[0]
    if closest.itemsize != 8 or n_blocks < 2:
        _kmeanspp_searchsorted(sample_weight, closest, targets, out)
        return
    prefix = np.empty(n_blocks + 1)
    prefix[0] = 0.0
    for b in range(n_blocks):
        prefix[b + 1] = prefix[b] + block_pots[b]
    nu = n_samples * 2.0**-53
    slack = 4.0 * nu / (1.0 - nu) * prefix[n_blocks]  # twice the bound above, for margin
    for t in range(targets.shape[0]):
        v = targets[t]
        b = 0
        while b + 1 < n_blocks and prefix[b + 1] < v - slack:
            b += 1
        start, _ = _block_bounds(b, n_blocks, n_samples)
        cum = prefix[b]
        before = cum  # value at the index before the one found (prefix[b] < v - slack)
        found = -1
        for i in range(start, n_samples):
            before = cum
            cum += sample_weight[i] * closest[i]
            if cum >= v:
                found = i
                break
        # (at the block's first sample, ``before`` is prefix[b], below the target - slack
        # for b > 0)
        exact = found >= 0 and cum >= v + slack and (found == 0 or before < v - slack)
        if not exact:
            _kmeanspp_searchsorted(sample_weight, closest, targets, out)
            return
        out[t] = found


@njit(cache=CACHE)
def _kmeanspp_searchsorted(sample_weight, closest, rand_vals, out):
    """``searchsorted(cumsum(sample_weight * closest), rand_vals)``, clipped to n - 1.

    The cumulative sum runs sequentially in X's dtype, like ``np.cumsum``, without storing
    it: one pass over the samples, stopping at the largest value. Writes ``out`` (int64).
    """
    n_samples = closest.shape[0]
    n_vals = rand_vals.shape[0]
    # the values' order, by insertion (a handful of values: far less to compile than argsort)
    order = np.arange(n_vals)
    for a in range(1, n_vals):
        o = order[a]
        v = rand_vals[o]
        q = a
        while q > 0 and rand_vals[order[q - 1]] > v:
            order[q] = order[q - 1]
            q -= 1
        order[q] = o
    k = 0
    cum = closest.dtype.type(0.0)
    for i in range(n_samples):
        if k >= n_vals:
            break
        cum += sample_weight[i] * closest[i]
        while k < n_vals and cum >= rand_vals[order[k]]:
            out[order[k]] = i
            k += 1
    while k < n_vals:
        out[order[k]] = n_samples - 1
        k += 1


@njit(cache=CACHE)
def _weighted_choice_ok(sample_weight, total):
    """Whether ``p = sample_weight / total`` passes ``RandomState.choice``'s checks with room to
    spare (non-negative, summing to 1 well within NumPy's tolerance); else the caller lets
    NumPy decide (and raise)."""
    if not (total > 0.0 and total < np.inf):
        return False
    s = 0.0
    comp = 0.0
    for i in range(sample_weight.shape[0]):
        w = sample_weight[i]
        if not (w >= 0.0):
            return False
        y = np.float64(w / total) - comp  # Kahan summation, as NumPy checks the sum
        t = s + y
        comp = (t - s) - y
        s = t
    return abs(s - 1.0) <= 1e-9


@njit(cache=CACHE)
def _weighted_choice_draw(sample_weight, total, u):
    """``RandomState.choice(n, p=sample_weight / total)`` given its uniform draw ``u``: the
    same float64 cumulative sum ``cdf`` of ``p`` (in ``p``'s dtype, then widened), divided by
    its last value, and the first index with ``cdf > u`` (``searchsorted(side='right')``)."""
    n_samples = sample_weight.shape[0]
    last = 0.0
    for i in range(n_samples):
        last += np.float64(sample_weight[i] / total)
    cum = 0.0
    for i in range(n_samples):
        cum += np.float64(sample_weight[i] / total)
        if cum / last > u:
            return i
    return n_samples - 1


def _kmeanspp_dense_numpy(X, mean, sample_weight, first, rand_vals):
    """:func:`_kmeanspp_dense_plain` in NumPy, for small data (nothing to compile on a
    fresh machine): scikit-learn's greedy loop with the same draws, and the distances
    computed as the kernel computes them, ``||x - (c + mean)||^2`` in float64 (summed in
    another order: the centres may differ from the kernel's only on near-ties of the
    candidates' potentials). Returns ``indices`` (int64, (n_clusters,)).

    ``X`` (n_samples, n_features), ``mean`` (n_features,) and ``sample_weight``
    (n_samples,) as in :func:`_kmeanspp_trials_dense`; ``rand_vals`` as in
    :func:`_kmeanspp_dense`. Memory: ``n_local_trials * n_samples * n_features`` floats.
    """
    n_samples = X.shape[0]
    n_steps = rand_vals.shape[0]
    X64 = X.astype(np.float64)
    mean64 = mean.astype(np.float64)
    w = sample_weight.astype(np.float64)

    def distances(ids):
        # the candidates as rows of X - mean in X's dtype, shifted back in float64
        shifted = (X[ids] - mean).astype(np.float64) + mean64
        diff = X64[None, :, :] - shifted[:, None, :]
        return np.einsum("tnf,tnf->tn", diff, diff).astype(X.dtype)

    indices = np.empty(n_steps + 1, dtype=np.int64)
    indices[0] = first
    closest = distances(np.array([first]))[0]
    pot = float(np.sum(w * closest))
    for c in range(1, n_steps + 1):
        cumulative = np.cumsum(w * closest)
        ids = np.searchsorted(cumulative, rand_vals[c - 1] * pot)
        np.clip(ids, None, n_samples - 1, out=ids)
        dist = np.minimum(closest[None, :], distances(ids))
        pots = np.sum(w * dist, axis=1)
        best = int(np.argmin(pots))
        pot = float(pots[best])
        closest = dist[best]
        indices[c] = ids[best]
    return indices
