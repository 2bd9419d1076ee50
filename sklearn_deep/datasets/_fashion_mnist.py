"""Loader for Fashion-MNIST, read from the IDX files of Debian's ``dataset-fashion-mnist``."""

import gzip
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_fashion_mnist"]

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type codes -> numpy dtypes (big-endian, as the format stores them)
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_DESCR = """Fashion-MNIST
-------------

Zalando's article images (Xiao, Rasul & Vollgraf 2017): 28x28 grey-scale images of 10 kinds
of clothing, 60,000 for training and 10,000 for testing, 6,000 and 1,000 per class. A drop-in
replacement for MNIST. Pixel values are integers 0 (background) to 255.

Classes: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt,
7 Sneaker, 8 Bag, 9 Ankle boot. License: MIT.
"""


def _read_idx(path):
    """Read an IDX file (optionally gzip-compressed) into an ndarray of its stored shape."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r}).")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape))
    if len(raw) - header != count * dtype.itemsize:
        raise ValueError(
            f"{path}: the header announces shape {shape} ({count * dtype.itemsize} bytes) but "
            f"the file holds {len(raw) - header} bytes of data."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def _find(directory, stem):
    for name in (stem + ".gz", stem):
        path = Path(directory) / name
        if path.exists():
            return path
    raise FileNotFoundError(
        f"Fashion-MNIST file {stem}(.gz) not found in {directory}. Install the Debian package "
        f"dataset-fashion-mnist (`apt-get install dataset-fashion-mnist`; "
        f"`dpkg -L dataset-fashion-mnist` lists its files) or pass data_home= the folder that "
        f"holds the IDX files."
    )


def load_fashion_mnist(*, subset="train", data_home=None, return_X_y=False):
    """Load Fashion-MNIST from the IDX files of the Debian package ``dataset-fashion-mnist``.

    Nothing is downloaded: the files are read from ``/usr/share/datasets/fashion-mnist`` (where
    ``apt-get install dataset-fashion-mnist`` puts them) or from ``data_home``.

    Parameters
    ----------
    subset : {'train', 'test', 'all'}, default='train'
        The official training set (60,000 images), test set (10,000) or both (train first).
    data_home : str or path-like, default=None
        Folder holding ``train-images-idx3-ubyte(.gz)`` and the three other IDX files; default
        ``/usr/share/datasets/fashion-mnist``, or ``$FASHION_MNIST_HOME`` when set.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: ndarray of shape (n_samples, 784), uint8 pixels 0-255 in row-major order
        (divide by 255 for [0, 1]); ``images``: the same pixels as (n_samples, 28, 28);
        ``target``: ndarray of shape (n_samples,), int64 class codes 0-9; ``target_names``;
        ``DESCR``.
    (data, target) : tuple, if ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        When the files are absent, naming the Debian package that provides them.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_fashion_mnist
    >>> fmnist = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> fmnist.data.shape, fmnist.target_names[9]  # doctest: +SKIP
    ((10000, 784), 'Ankle boot')
    """
    if subset not in ("train", "test", "all"):
        raise ValueError(f"subset must be 'train', 'test' or 'all', got {subset!r}.")
    if data_home is None:
        data_home = os.environ.get("FASHION_MNIST_HOME", DEFAULT_FASHION_MNIST_DIR)
    parts = ("train", "test") if subset == "all" else (subset,)
    images, labels = [], []
    for part in parts:
        image_stem, label_stem = _FILES[part]
        X = _read_idx(_find(data_home, image_stem))
        y = _read_idx(_find(data_home, label_stem))
        if X.ndim != 3 or y.ndim != 1 or X.shape[0] != y.shape[0]:
            raise ValueError(
                f"Fashion-MNIST {part} files are inconsistent: images {X.shape}, labels {y.shape}."
            )
        images.append(X)
        labels.append(y.astype(np.int64))
    images = np.concatenate(images) if len(images) > 1 else images[0]
    target = np.concatenate(labels) if len(labels) > 1 else labels[0]
    data = images.reshape(images.shape[0], -1)
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        images=images,
        target=target,
        target_names=list(FASHION_MNIST_CLASSES),
        DESCR=_DESCR,
    )
