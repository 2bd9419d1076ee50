"""scikit-learn compatible estimators for clustering, mixtures and deep learning.

Subpackages are imported lazily by the user (``from sklearn_deep.cluster import KMeans``);
importing :mod:`sklearn_deep` itself is cheap and never imports torch.
"""

__version__ = "0.1.0.dev0"

__all__ = [
    "cluster",
    "datasets",
    "mixture",
    "neural_network",
    "preprocessing",
    "utils",
]
