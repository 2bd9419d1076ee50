"""
=====================================
K-means on a Dask cluster
=====================================

:class:`~sklearn_deep.cluster.KMeans` accepts a Dask array: every Lloyd iteration runs our
Numba kernels on the blocks of the array, on the workers, and only per-cluster sums come back
(see :ref:`scaling` in the user guide). ``init='k-means++'`` becomes k-means|| on Dask input.
On an array persisted on the cluster the workers also keep the k-means state of their blocks
between iterations.
From the same initial centres the fit equals the in-memory one.

:class:`~sklearn_deep.cluster.MiniBatchKMeans` streams the same array block by block with
``partial_fit``. We run both on a small ``LocalCluster`` (in-process workers, so that the
example also runs where processes cannot be spawned).
"""

# %%
import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.datasets import make_blobs

from sklearn_deep.cluster import KMeans, MiniBatchKMeans

X, _ = make_blobs(n_samples=60_000, centers=6, cluster_std=1.5, random_state=0)
Xd = da.from_array(X, chunks=(10_000, 2))  # six blocks of 10k samples

cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
client = Client(cluster)
# held by the workers: each k-means iteration is then one call per worker, which keeps its
# blocks' labels and distance bounds between iterations (a lazily built array is instead
# read again at every iteration)
Xd = Xd.persist()

# %%
# KMeans on the Dask array (k-means|| initialisation)
# ----------------------------------------------------
km = KMeans(n_clusters=6, random_state=0).fit(Xd)
labels = km.predict(Xd)  # lazy, one block per input block
print(f"iterations: {km.n_iter_}, inertia: {km.inertia_:.1f}")
print(f"labels: {labels!r}")

# from the same initial centres, on Dask and in memory: the same clustering
init = X[:6]
on_dask = KMeans(n_clusters=6, init=init, n_init=1).fit(Xd)
in_memory = KMeans(n_clusters=6, init=init, n_init=1).fit(X)
same = np.array_equal(on_dask.labels_.compute(), in_memory.labels_)
print(f"same labels as in memory: {same}")
print(f"inertia on Dask {on_dask.inertia_:.3f}, in memory {in_memory.inertia_:.3f}")

# %%
# Streaming the blocks through MiniBatchKMeans.partial_fit
# ---------------------------------------------------------
mbk = MiniBatchKMeans(n_clusters=6, random_state=0)
inertia = []
for block in Xd.blocks:
    mbk.partial_fit(block.compute())
    inertia.append(-mbk.score(Xd))  # evaluated on the workers

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4.2))
shown = labels[::20].compute()
ax0.scatter(X[::20, 0], X[::20, 1], c=shown, s=3, cmap="tab10")
ax0.scatter(*km.cluster_centers_.T, c="k", marker="x", s=80, label="KMeans (Dask)")
ax0.scatter(*mbk.cluster_centers_.T, facecolors="none", edgecolors="r", s=80, label="MiniBatch")
ax0.set_title("Clusters found on the Dask array")
ax0.legend(loc="lower right")
ax1.plot(np.arange(1, len(inertia) + 1), inertia, "o-", label="MiniBatchKMeans.partial_fit")
ax1.axhline(km.inertia_, color="k", ls="--", label="KMeans on Dask")
ax1.set_xlabel("blocks seen")
ax1.set_ylabel("inertia on the whole array")
ax1.set_title("Streaming the blocks")
ax1.legend()
fig.tight_layout()
plt.show()

client.close()
cluster.close()
