"""Demo: cluster the Old Faithful eruptions with sklearn_deep's KMeans next to scikit-learn's.

Run with ``python -m sklearn_deep.demo``. Prints the fit time and inertia of both.
"""

import time

import numpy as np


def _median_time(make, X, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        est = make().fit(X)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), est


def main():
    from sklearn.cluster import KMeans as SkKMeans

    from sklearn_deep.cluster import KMeans
    from sklearn_deep.datasets import load_old_faithful

    X = load_old_faithful().data
    params = dict(n_clusters=2, n_init=10, random_state=0)

    start = time.perf_counter()
    KMeans(**params).fit(X)  # first call: loads (or compiles) the Numba kernels
    first = time.perf_counter() - start

    t_ours, ours = _median_time(lambda: KMeans(**params), X)
    t_sk, ref = _median_time(lambda: SkKMeans(**params), X)

    print(f"Old Faithful: {X.shape[0]} eruptions x {X.shape[1]} features, k=2, n_init=10")
    print(f"  sklearn_deep KMeans: {t_ours * 1e3:8.2f} ms   inertia {ours.inertia_:.4f}")
    print(f"  scikit-learn KMeans: {t_sk * 1e3:8.2f} ms   inertia {ref.inertia_:.4f}")
    same = np.array_equal(ours.labels_, ref.labels_)
    print(f"  speed-up x{t_sk / t_ours:.1f}; same labels: {same}")
    print(f"  (first call, Numba kernels loaded from cache or compiled: {first:.2f} s)")


if __name__ == "__main__":
    main()
