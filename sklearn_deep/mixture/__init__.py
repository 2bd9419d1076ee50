"""Gaussian mixture models fitted by EM on Numba kernels.

Importing this subpackage never imports torch.
"""

from ._gaussian_mixture import GaussianMixture

__all__ = ["GaussianMixture"]
