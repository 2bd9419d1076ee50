"""
==============================================
K-means and a Gaussian mixture on Old Faithful
==============================================

The Old Faithful data (272 eruptions of the geyser in Yellowstone) has two obvious groups: short
eruptions followed by a short wait, and long eruptions followed by a long wait. We cluster it
with :class:`~sklearn_deep.cluster.KMeans` and with a full-covariance
:class:`~sklearn_deep.mixture.GaussianMixture` after standardising both features, and compare
the two with scikit-learn's estimators fitted in the same way.

K-means assigns each point to its nearest centre, so its boundary is the perpendicular bisector
of the two centres. The Gaussian mixture fits an elongated, tilted ellipse to each group and gives
each point a *soft* assignment: points between the groups get responsibilities near 0.5.
"""

# %%
# Load and standardise the data
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.preprocessing import StandardScaler

from sklearn_deep.cluster import KMeans
from sklearn_deep.datasets import load_old_faithful
from sklearn_deep.mixture import GaussianMixture

faithful = load_old_faithful()
X = StandardScaler().fit_transform(faithful.data)
print(X.shape, faithful.feature_names)

# %%
# Fit both models
# ---------------
kmeans = KMeans(n_clusters=2, random_state=0).fit(X)
gmm = GaussianMixture(n_components=2, covariance_type="full", random_state=0).fit(X)
proba = gmm.predict_proba(X)

print(f"k-means inertia:          {kmeans.inertia_:.3f}")
print(f"GMM mean log-likelihood:  {gmm.score(X):.4f} after {gmm.n_iter_} EM iterations")
print("GMM mixing weights:      ", np.round(gmm.weights_, 3))

# %%
# The same results as scikit-learn
# --------------------------------
# Swapping the import is the only change; from the same ``random_state`` both libraries find
# the same solution on this data.
from sklearn.cluster import KMeans as SKKMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.mixture import GaussianMixture as SKGaussianMixture  # noqa: E402

sk_kmeans = SKKMeans(n_clusters=2, random_state=0).fit(X)
sk_gmm = SKGaussianMixture(n_components=2, covariance_type="full", random_state=0).fit(X)
print(f"inertia      ours {kmeans.inertia_:.6f}   scikit-learn {sk_kmeans.inertia_:.6f}")
print(f"log-lik.     ours {gmm.score(X):.6f}   scikit-learn {sk_gmm.score(X):.6f}")
print("label agreement (adjusted Rand index):")
print(f"  KMeans vs scikit-learn: {adjusted_rand_score(kmeans.labels_, sk_kmeans.labels_):.3f}")
print(f"  GMM vs scikit-learn:    {adjusted_rand_score(gmm.predict(X), sk_gmm.predict(X)):.3f}")
print(f"  KMeans vs GMM:          {adjusted_rand_score(kmeans.labels_, gmm.predict(X)):.3f}")


# %%
# Plot the clusters and the covariance ellipses
# ---------------------------------------------
# The ellipses are the 1, 2 and 3 standard-deviation contours of each Gaussian component,
# drawn from the eigendecomposition of its covariance matrix.
def draw_ellipses(ax, mean, cov, color):
    eigvals, eigvecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(eigvecs[1, -1], eigvecs[0, -1]))
    for n_std in (1, 2, 3):
        width, height = 2 * n_std * np.sqrt(eigvals[::-1])
        ax.add_patch(
            Ellipse(
                mean, width, height, angle=angle, fill=False, color=color, lw=1.5, alpha=0.9 / n_std
            )
        )


colors = np.array(["tab:blue", "tab:orange"])
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharex=True, sharey=True)

ax = axes[0]
ax.scatter(X[:, 0], X[:, 1], c=colors[kmeans.labels_], s=14, alpha=0.7)
ax.scatter(*kmeans.cluster_centers_.T, marker="X", s=200, c="k", label="centres")
# the k-means boundary: points at equal distance from both centres
xx, yy = np.meshgrid(np.linspace(-2.2, 2.2, 300), np.linspace(-2.6, 2.6, 300))
grid = np.c_[xx.ravel(), yy.ravel()]
ax.contour(
    xx,
    yy,
    kmeans.predict(grid).reshape(xx.shape),
    levels=[0.5],
    colors="k",
    linestyles="--",
    linewidths=1,
)
ax.set_title(f"KMeans (inertia {kmeans.inertia_:.1f})")
ax.legend(loc="upper left")

ax = axes[1]
# colour each point by its responsibility for component 1
ax.scatter(X[:, 0], X[:, 1], c=proba[:, 1], cmap="coolwarm", vmin=0, vmax=1, s=14, alpha=0.8)
for k in range(gmm.n_components):
    draw_ellipses(ax, gmm.means_[k], gmm.covariances_[k], plt.cm.coolwarm(float(k)))
ax.scatter(*gmm.means_.T, marker="X", s=200, c="k", label="means")
ax.set_title(f"GaussianMixture, full covariances (log-lik. {gmm.score(X):.3f})")
ax.legend(loc="upper left")

for ax in axes:
    ax.set_xlabel("eruption time (standardised)")
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
axes[0].set_ylabel("waiting time (standardised)")
fig.tight_layout()

# %%
# The four covariance types
# -------------------------
# ``covariance_type`` constrains the shape of the ellipses: ``'full'`` lets each component tilt,
# ``'tied'`` shares one covariance, ``'diag'`` keeps the axes parallel to the features and
# ``'spherical'`` makes circles. The Bayesian information criterion (lower is better) weighs
# the fit against the number of parameters.
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), sharex=True, sharey=True)
for ax, cov_type in zip(axes, ["full", "tied", "diag", "spherical"]):
    model = GaussianMixture(n_components=2, covariance_type=cov_type, random_state=0).fit(X)
    ax.scatter(X[:, 0], X[:, 1], c=colors[model.predict(X)], s=8, alpha=0.6)
    for k in range(model.n_components):
        if cov_type == "full":
            cov = model.covariances_[k]
        elif cov_type == "tied":
            cov = model.covariances_
        elif cov_type == "diag":
            cov = np.diag(model.covariances_[k])
        else:
            cov = np.eye(X.shape[1]) * model.covariances_[k]
        draw_ellipses(ax, model.means_[k], cov, "k")
    ax.set_title(f"{cov_type!r}: BIC {model.bic(X):.0f}")
    ax.set_xlim(-2.2, 2.2)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
fig.tight_layout()
plt.show()
