"""scikit-learn compatible estimators for clustering, mixtures and deep learning.

Subpackages are imported lazily by the user (``from sklearn_deep.cluster import KMeans``);
importing :mod:`sklearn_deep` itself is cheap and never imports torch.
"""

import os

__version__ = "0.1.0.dev0"

# Our Numba kernels run on an OpenMP runtime and torch ships its own. With OpenMP's default
# active wait, the idle threads of one runtime spin on the cores the other needs; on a small or
# busy machine torch then trains 10-50x slower (measured here: 52 s vs 1 s for the same loop).
# A passive wait costs a few microseconds per parallel region. It must be set before a runtime
# starts, so it is set (unless the user chose a policy) when sklearn_deep is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "cluster",
    "datasets",
    "inspection",
    "io",
    "mixture",
    "neural_network",
    "preprocessing",
    "utils",
]
