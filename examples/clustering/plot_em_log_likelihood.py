"""
=====================================
EM never decreases the log-likelihood
=====================================

Each iteration of the EM algorithm maximises a lower bound (the ELBO) that touches the
log-likelihood at the current parameters, so the log-likelihood can only go up (see
:ref:`gmm` in the user guide). :class:`~sklearn_deep.mixture.GaussianMixture` records the
average log-likelihood per sample after every iteration in ``lower_bounds_``.

We fit a 3-component mixture to the standardised Old Faithful data from several random
initialisations (``init_params='random'`` starts far from a good solution, so EM needs many
iterations) and check that every curve is monotone. We then follow one run, as in Bishop's
*Pattern Recognition and Machine Learning* (figure 9.8), by stopping EM after 1, 2, 5 and 20
iterations.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_deep.datasets import load_old_faithful
from sklearn_deep.mixture import GaussianMixture

# sphinx_gallery_thumbnail_number = 2
X = StandardScaler().fit_transform(load_old_faithful().data)

# %%
# The log-likelihood per iteration, for several starts
# ----------------------------------------------------
fig, ax = plt.subplots(figsize=(7, 4.2))
for seed in range(6):
    gmm = GaussianMixture(
        n_components=3, init_params="random", tol=1e-6, max_iter=500, random_state=seed
    ).fit(X)
    curve = np.asarray(gmm.lower_bounds_)
    steps = np.diff(curve)
    print(
        f"seed {seed}: {gmm.n_iter_:3d} iterations, final {curve[-1]:.5f}, "
        f"smallest step {steps.min():+.2e}, monotone: {bool(np.all(steps >= -1e-10))}"
    )
    ax.plot(
        np.arange(1, len(curve) + 1), curve, marker=".", ms=3, lw=1, label=f"random_state={seed}"
    )
ax.set_xscale("log")
ax.set_xlabel("EM iteration")
ax.set_ylabel("average log-likelihood per sample")
ax.set_title("GaussianMixture(n_components=3, init_params='random')")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Different starts end at different local maxima: EM only guarantees that each run climbs,
# here after a long plateau where the three components still overlap. This is why ``n_init``
# restarts EM and keeps the best run.
#
# Snapshots of one run
# --------------------
# As in Bishop's figure 9.8, two components start from deliberately poor means with unit
# covariances. Stopping EM after ``max_iter`` iterations from the same initial parameters gives
# the state of that run after so many iterations (with a warning that EM has not converged).
init = dict(
    n_components=2,
    means_init=[[-1.5, 1.0], [1.5, -1.0]],
    precisions_init=[np.eye(2), np.eye(2)],
    weights_init=[0.5, 0.5],
    tol=1e-8,
)
fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), sharex=True, sharey=True)
for ax, n_iter in zip(axes, [1, 2, 5, 20]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(max_iter=n_iter, **init).fit(X)
    # colour by responsibility: undecided points are purple
    proba = gmm.predict_proba(X)
    ax.scatter(X[:, 0], X[:, 1], c=proba[:, 0], cmap="coolwarm", vmin=0, vmax=1, s=8)
    for k, (mean, cov) in enumerate(zip(gmm.means_, gmm.covariances_)):
        eigvals, eigvecs = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(eigvecs[1, -1], eigvecs[0, -1]))
        width, height = 4 * np.sqrt(eigvals[::-1])
        ax.add_patch(
            Ellipse(
                mean, width, height, angle=angle, fill=False, lw=2, color=plt.cm.coolwarm(1.0 - k)
            )
        )
    ax.set_title(f"after {n_iter} iteration{'s' * (n_iter > 1)}\nlog-lik. {gmm.score(X):.4f}")
    ax.set_xlim(-2.5, 2.5)
    ax.set_ylim(-2.8, 2.8)
    ax.set_aspect("equal")
fig.tight_layout()
plt.show()
