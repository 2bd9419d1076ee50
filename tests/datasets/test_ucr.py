"""UCR/UEA loaders reading the .ts files shipped in sktime's wheel."""

import importlib.util

import numpy as np
import pytest

from sklearn_deep.datasets import (
    _ucr,
    load_basic_motions,
    load_gunpoint,
    load_italy_power_demand,
    load_japanese_vowels,
    load_ucr_uea,
)

# the loaders only read sktime's data files (importing sktime itself is slow): look it up
if importlib.util.find_spec("sktime") is None:
    pytest.skip("the UCR/UEA files ship in sktime's wheel", allow_module_level=True)


@pytest.mark.parametrize(
    "loader, n_train, n_test, shape_tail, n_classes",
    [
        (load_gunpoint, 50, 150, (150,), 2),
        (load_italy_power_demand, 67, 1029, (24,), 2),
        (load_basic_motions, 40, 40, (100, 6), 4),
        (load_japanese_vowels, 270, 370, (None, 12), 9),
    ],
)
def test_official_splits(loader, n_train, n_test, shape_tail, n_classes):
    X_tr, y_tr = loader(split="train", return_X_y=True)
    X_te, y_te = loader(split="test", return_X_y=True)
    assert X_tr.shape[0] == y_tr.shape[0] == n_train
    assert X_te.shape[0] == y_te.shape[0] == n_test
    for X in (X_tr, X_te):
        assert X.dtype == np.float64 and X.ndim == 1 + len(shape_tail)
        assert all(a == b for a, b in zip(X.shape[1:], shape_tail) if b is not None)
    assert len(np.unique(y_tr)) == n_classes
    assert set(np.unique(y_te)) <= set(np.unique(y_tr))
    full = loader()
    assert full.data.shape[0] == n_train + n_test
    assert (full.split == "train").sum() == n_train
    assert set(full.target_names) == set(np.unique(full.target))
    np.testing.assert_array_equal(full.target[:n_train], y_tr)


def test_gunpoint_values_and_equal_length():
    bunch = load_gunpoint(split="train")
    assert np.isfinite(bunch.data).all()
    assert (bunch.lengths == 150).all()
    # first value of the first training series, as written in GunPoint_TRAIN.ts
    assert bunch.data[0, 0] == pytest.approx(-0.6478854)
    assert "GunPoint" in bunch.DESCR


def test_japanese_vowels_variable_length_padding():
    bunch = load_japanese_vowels(split="train")
    X, lengths = bunch.data, bunch.lengths
    assert lengths.min() >= 7 and lengths.max() <= 29 and len(np.unique(lengths)) > 5
    X_te = load_japanese_vowels(split="test").data
    assert X.shape[1:] == X_te.shape[1:] == (29, 12)  # padded to the dataset's longest series
    for row, length in zip(X, lengths):
        assert np.isfinite(row[:length]).all()
        assert np.isnan(row[length:]).all()
    X0, _ = load_japanese_vowels(split="train", return_X_y=True, pad_value=0.0)
    np.testing.assert_array_equal(np.nan_to_num(X, nan=0.0), X0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_gunpoint(split="validation")
    with pytest.raises(ValueError, match="no dataset"):
        load_ucr_uea("NotADataset")


def test_missing_sktime_names_the_package(monkeypatch):
    monkeypatch.setattr(_ucr.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install sktime"):
        load_gunpoint()
