"""Gaussian mixture models fitted by EM and variational EM on Numba kernels.

Importing this subpackage never imports torch.
"""

from ._bayesian_mixture import BayesianGaussianMixture
from ._gaussian_mixture import GaussianMixture

__all__ = ["BayesianGaussianMixture", "GaussianMixture"]
