"""Clustering: a Numba-accelerated drop-in for scikit-learn's KMeans."""

from ._kmeans import KMeans, k_means, kmeans_plusplus

__all__ = ["KMeans", "k_means", "kmeans_plusplus"]
