"""
==================================================================
Too many components: EM versus variational EM on Old Faithful
==================================================================

The Old Faithful eruptions form two groups. We deliberately ask for far too many components
(eight) and compare two ways of fitting the mixture:

* :class:`~sklearn_deep.mixture.GaussianMixture` maximises the likelihood by EM. Every
  component gets data, so the eight components carve the two groups into pieces: the
  likelihood only grows with more components.
* :class:`~sklearn_deep.mixture.BayesianGaussianMixture` puts priors on the parameters (a
  Dirichlet-process prior on the weights, Gauss-Wishart priors on the means and precisions) and
  fits an approximate posterior by *variational* EM: the E-step is restricted to a factorised
  family :math:`q(z)\\,q(\\pi)\\,q(\\mu, \\Lambda)`, and each step maximises the evidence lower
  bound (ELBO) over one factor. Components that the data do not need are emptied: their weights
  fall to about ``1 / n_samples``.

The ELBO after each iteration (``lower_bounds_``) never decreases, as for EM's log-likelihood.
"""

# %%
# Data and the two fits
# ---------------------
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.preprocessing import StandardScaler

from sklearn_deep.datasets import load_old_faithful
from sklearn_deep.mixture import BayesianGaussianMixture, GaussianMixture

X = StandardScaler().fit_transform(load_old_faithful().data)
n_components = 8

gmm = GaussianMixture(n_components=n_components, random_state=0).fit(X)
bgm = BayesianGaussianMixture(
    n_components=n_components,
    weight_concentration_prior_type="dirichlet_process",
    weight_concentration_prior=0.01,
    max_iter=500,
    random_state=0,
).fit(X)

print("GaussianMixture weights:        ", np.round(np.sort(gmm.weights_)[::-1], 3))
print("BayesianGaussianMixture weights:", np.round(np.sort(bgm.weights_)[::-1], 3))
print(f"components with weight > 1%: EM {np.sum(gmm.weights_ > 0.01)}, ", end="")
print(f"variational EM {np.sum(bgm.weights_ > 0.01)}")
print(f"variational EM: {bgm.n_iter_} iterations, converged: {bgm.converged_}")

# %%
# The same fit as scikit-learn
# ----------------------------
# Swapping the import is the only change: from the same ``random_state`` scikit-learn's
# estimator reaches the same posterior, up to rounding.
from sklearn.mixture import BayesianGaussianMixture as SKBayesianGaussianMixture  # noqa: E402

sk_bgm = SKBayesianGaussianMixture(**bgm.get_params()).fit(X)
print(f"ELBO  ours {bgm.lower_bound_:.10f}   scikit-learn {sk_bgm.lower_bound_:.10f}")
print(f"max |weights difference|: {np.max(np.abs(bgm.weights_ - sk_bgm.weights_)):.1e}")


# %%
# The components, drawn with their weights
# ----------------------------------------
# Each ellipse is the 2-standard-deviation contour of a component; its opacity is the
# component's weight.
def draw_components(ax, model, title):
    ax.scatter(X[:, 0], X[:, 1], s=8, c="0.5", alpha=0.6)
    for weight, mean, cov in zip(model.weights_, model.means_, model.covariances_):
        eigvals, eigvecs = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(eigvecs[1, -1], eigvecs[0, -1]))
        width, height = 4 * np.sqrt(eigvals[::-1])
        alpha = min(1.0, 2 * weight)
        ax.add_patch(
            Ellipse(mean, width, height, angle=angle, color="tab:blue", alpha=0.35 * alpha)
        )
        ax.add_patch(
            Ellipse(mean, width, height, angle=angle, fill=False, color="tab:blue", alpha=alpha)
        )
    ax.set_title(title)
    ax.set_xlim(-2.3, 2.3)
    ax.set_ylim(-2.6, 2.6)
    ax.set_aspect("equal")
    ax.set_xlabel("eruption time (standardised)")


fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
draw_components(axes[0], gmm, f"GaussianMixture, {n_components} components (EM)")
draw_components(axes[1], bgm, f"BayesianGaussianMixture, {n_components} components (DP prior)")
axes[0].set_ylabel("waiting time (standardised)")

# %%
# The ELBO per iteration
# ----------------------
# ``lower_bounds_`` holds the ELBO (up to constants) after each variational EM iteration.
ax = axes[2]
ax.plot(np.arange(1, bgm.n_iter_ + 1), bgm.lower_bounds_, marker=".", color="tab:blue")
ax.set_xlabel("variational EM iteration")
ax.set_ylabel("ELBO (up to a constant)")
ax.set_title("The ELBO never decreases")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
