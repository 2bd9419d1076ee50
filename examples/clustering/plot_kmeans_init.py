"""
======================================
k-means++ versus random initialisation
======================================

Lloyd's algorithm only finds a local minimum of the inertia, and which one depends on the
starting centres. We compare ``init='k-means++'`` (centres spread by :math:`D^2` sampling, see
:func:`~sklearn_deep.cluster.kmeans_plusplus`) with ``init='random'`` (``n_clusters`` samples
drawn uniformly) on 15 well-separated blobs laid out on a grid, with a single run
(``n_init=1``) per seed.

Random starts often put two centres in one blob and none in another; Lloyd's iterations cannot
move a centre across the empty space between blobs, so the run ends in a poor local minimum.
k-means++ rarely does.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs

from sklearn_deep.cluster import KMeans, kmeans_plusplus

# sphinx_gallery_thumbnail_number = 2
grid = np.array([(i, j) for i in range(5) for j in range(3)], dtype=float) * 4.0
X, y = make_blobs(n_samples=3000, centers=grid, cluster_std=0.6, random_state=0)
n_clusters = len(grid)

# %%
# Final inertia over many seeds
# -----------------------------
seeds = range(40)
results = {}
for init in ["k-means++", "random"]:
    runs = [KMeans(n_clusters, init=init, n_init=1, random_state=s).fit(X) for s in seeds]
    results[init] = runs
    inertia = np.array([km.inertia_ for km in runs])
    n_iter = np.array([km.n_iter_ for km in runs])
    print(
        f"{init:>10}: inertia median {np.median(inertia):8.1f}, worst {inertia.max():8.1f}, "
        f"best {inertia.min():8.1f}; mean iterations {n_iter.mean():.1f}"
    )

best = min(km.inertia_ for runs in results.values() for km in runs)
fig, ax = plt.subplots(figsize=(7, 3.8))
bins = np.linspace(best * 0.98, max(km.inertia_ for km in results["random"]) * 1.02, 30)
for init, color in [("k-means++", "tab:green"), ("random", "tab:red")]:
    ax.hist(
        [km.inertia_ for km in results[init]],
        bins=bins,
        alpha=0.6,
        color=color,
        label=f"init={init!r}",
    )
ax.set_xlabel("final inertia of one run (lower is better)")
ax.set_ylabel(f"runs out of {len(seeds)}")
ax.legend()
fig.tight_layout()

# %%
# Starting centres and where they end
# -----------------------------------
# The worst random start of the 40 next to the k-means++ start of the same seed. Crosses are
# the initial centres, black dots the centres after Lloyd's iterations.
worst_seed = int(np.argmax([km.inertia_ for km in results["random"]]))
rng = np.random.RandomState(worst_seed)
# the draw that KMeans(init="random") makes for this seed (uniform weights)
random_centres = X[rng.choice(len(X), n_clusters, replace=False, p=np.full(len(X), 1 / len(X)))]
pp_centres, _ = kmeans_plusplus(X, n_clusters, random_state=worst_seed)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True, sharey=True)
for ax, (name, start) in zip(axes, [("random", random_centres), ("k-means++", pp_centres)]):
    km = KMeans(n_clusters, init=start, n_init=1).fit(X)
    ax.scatter(X[:, 0], X[:, 1], c=km.labels_, cmap="tab20", s=4, alpha=0.5)
    ax.scatter(*start.T, marker="x", s=80, c="k", label="initial centres")
    ax.scatter(*km.cluster_centers_.T, marker="o", s=40, c="k", label="final centres")
    ax.set_title(f"init={name!r}: inertia {km.inertia_:.0f}")
    ax.set_aspect("equal")
axes[0].legend(loc="upper left", fontsize=8, framealpha=0.9)
fig.tight_layout()
plt.show()
