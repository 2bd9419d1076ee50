"""load_fashion_mnist: IDX parsing on synthetic files, clear errors, and the real Debian files."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from sklearn_deep.datasets import load_fashion_mnist
from sklearn_deep.datasets._fashion_mnist import DEFAULT_FASHION_MNIST_DIR, _read_idx


def _write_idx(path, array, compress):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    payload = header + array.tobytes()
    path = Path(str(path) + (".gz" if compress else ""))
    if compress:
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def fake_home(tmp_path):
    rng = np.random.default_rng(0)
    data = {}
    for part, n, compress in [("train", 12, True), ("t10k", 5, False)]:
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        _write_idx(tmp_path / f"{part}-images-idx3-ubyte", images, compress)
        _write_idx(tmp_path / f"{part}-labels-idx1-ubyte", labels, compress)
        data[part] = images, labels
    return tmp_path, data


def test_reads_synthetic_idx_files(fake_home):
    home, data = fake_home
    train = load_fashion_mnist(data_home=home)
    images, labels = data["train"]
    np.testing.assert_array_equal(train.images, images)
    np.testing.assert_array_equal(train.data, images.reshape(12, 784))
    np.testing.assert_array_equal(train.target, labels)
    assert train.target.dtype == np.int64 and train.data.dtype == np.uint8
    assert train.target_names[0] == "T-shirt/top" and len(train.target_names) == 10
    X, y = load_fashion_mnist(subset="all", data_home=home, return_X_y=True)
    assert X.shape == (17, 784)
    np.testing.assert_array_equal(y[12:], data["t10k"][1])


def test_idx_big_endian_other_dtype(tmp_path):
    values = (np.arange(6).reshape(2, 3) - 3).astype(">i4")
    _write_idx(tmp_path / "x", values, compress=False)
    out = _read_idx(tmp_path / "x")
    np.testing.assert_array_equal(out, values)
    assert out.dtype.isnative


def test_missing_files_name_the_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path)


def test_corrupt_files_are_reported(fake_home, tmp_path):
    home, _ = fake_home
    (home / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(ValueError, match="header announces"):
        load_fashion_mnist(subset="test", data_home=home)
    (home / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        load_fashion_mnist(subset="test", data_home=home)
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(subset="valid", data_home=home)


@pytest.mark.skipif(
    not Path(DEFAULT_FASHION_MNIST_DIR, "t10k-labels-idx1-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_real_debian_files():
    test = load_fashion_mnist(subset="test")
    assert test.data.shape == (10000, 784) and test.images.shape == (10000, 28, 28)
    np.testing.assert_array_equal(np.bincount(test.target), np.full(10, 1000))
    assert test.data.min() == 0 and test.data.max() == 255
    y = load_fashion_mnist(subset="train", return_X_y=True)[1]
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 6000))
    # the first training images are an ankle boot, two T-shirts and a dress
    np.testing.assert_array_equal(y[:4], [9, 0, 0, 3])
