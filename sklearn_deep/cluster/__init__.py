"""Clustering: a Numba-accelerated drop-in for scikit-learn's KMeans."""

from ._kmeans import KMeans, k_means, kmeans_plusplus
from ._minibatch_kmeans import MiniBatchKMeans

__all__ = ["KMeans", "MiniBatchKMeans", "k_means", "kmeans_plusplus"]
