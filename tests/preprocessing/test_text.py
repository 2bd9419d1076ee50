"""TextToSequence: raw documents / pre-tokenised rows to padded token-id matrices."""

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer

from sklearn_deep.preprocessing import TextToSequence

DOCS = [
    "The cat sat on the mat.",
    "A dog! The DOG barked; the cat ran.",
    "",
    "Cats and dogs",
]


def test_vocabulary_ids_by_frequency_then_alphabet():
    tts = TextToSequence().fit(DOCS)
    # the: 4, cat: 2, dog: 2, then every other word once, alphabetically
    assert list(tts.index_to_token_[:6]) == ["<pad>", "<unk>", "the", "cat", "dog", "a"]
    assert tts.vocabulary_["the"] == 2 and tts.vocabulary_["cat"] == 3
    assert tts.vocab_size_ == len(tts.vocabulary_) + 2 == len(tts.index_to_token_)
    for word, idx in tts.vocabulary_.items():
        assert tts.index_to_token_[idx] == word
    # same vocabulary as CountVectorizer with the same tokenisation
    cv = CountVectorizer(token_pattern=tts.token_pattern).fit(DOCS)
    assert set(cv.vocabulary_) == set(tts.vocabulary_)


def test_transform_pads_at_the_end_and_maps_unknowns():
    tts = TextToSequence().fit(DOCS)
    Xt = tts.transform(DOCS + ["the zebra cat"])
    assert Xt.dtype == np.int64 and Xt.shape == (5, tts.max_len_)
    assert tts.max_len_ == max(len(re.findall(r"\w+", d)) for d in DOCS)
    assert (Xt[2] == 0).all()  # the empty document is all padding
    v = tts.vocabulary_
    assert Xt[4, :4].tolist() == [v["the"], TextToSequence.UNK_ID, v["cat"], 0]
    assert tts.inverse_transform(Xt[:1]) == ["the cat sat on the mat"]
    assert tts.inverse_transform(Xt[4:]) == ["the <unk> cat"]
    np.testing.assert_array_equal(tts.fit_transform(DOCS), tts.fit(DOCS).transform(DOCS))


def test_lowercase_min_freq_max_vocab():
    upper = TextToSequence(lowercase=False).fit(DOCS)
    assert "DOG" in upper.vocabulary_ and "The" in upper.vocabulary_
    frequent = TextToSequence(min_freq=2).fit(DOCS)
    assert set(frequent.vocabulary_) == {"the", "cat", "dog"}
    top = TextToSequence(max_vocab=2).fit(DOCS)
    assert list(top.vocabulary_) == ["the", "cat"]
    assert top.transform(["dog the"]).tolist()[0][:2] == [1, 2]


@pytest.mark.parametrize("truncating, expected", [("post", ["a", "b"]), ("pre", ["d", "e"])])
def test_max_len_truncation(truncating, expected):
    tts = TextToSequence(max_len=2, truncating=truncating).fit(["a b c d e"])
    assert tts.inverse_transform(tts.transform(["a b c d e"])) == [" ".join(expected)]


def test_pretokenised_2d_input():
    X = np.array([["a", "b", ""], ["B", "c", "a"]], dtype=object)
    tts = TextToSequence().fit(X)
    assert tts.n_features_in_ == 3 and tts.max_len_ == 3
    Xt = tts.transform(X)
    assert Xt[0, 2] == 0  # an empty cell is padding
    assert Xt[0, 1] == Xt[1, 0]  # 'b' and 'B' lowercased
    with pytest.raises(ValueError, match="3 features"):
        tts.transform(X[:, :2])
    with pytest.raises(ValueError, match="2D"):
        tts.transform(["a b"])
    # numbers are tokens too (categorical sequences)
    num = TextToSequence().fit(np.array([[1, 2], [2, 3]]))
    assert set(num.vocabulary_) == {"1", "2", "3"}
    # refitting on documents forgets the 2-D input's n_features_in_
    assert not hasattr(clone(tts).fit(X).fit(DOCS), "n_features_in_")


def test_input_errors():
    tts = TextToSequence()
    with pytest.raises(ValueError, match="string object received"):
        tts.fit("just one string")
    with pytest.raises(ValueError, match="of type float"):
        tts.fit([1.0, 2.0])
    with pytest.raises(ValueError, match="0 sample"):
        tts.fit([])
    tts.fit(DOCS)
    with pytest.raises(ValueError, match="fitted on raw documents"):
        tts.transform(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="integer"):
        tts.inverse_transform(np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="2-D"):
        tts.inverse_transform(np.ones(2, dtype=int))
    with pytest.raises(ValueError, match="vocab_size_"):
        tts.inverse_transform(np.array([[tts.vocab_size_]]))


@given(
    docs=st.lists(
        st.text(alphabet=st.sampled_from("abc XYZ.,!"), max_size=30), min_size=1, max_size=8
    )
)
def test_roundtrip_property(docs):
    """inverse_transform(transform(d)) is the lowercased token list, where words are known."""
    tts = TextToSequence().fit(docs)
    Xt = tts.transform(docs)
    assert Xt.shape == (len(docs), tts.max_len_)
    assert ((Xt >= 0) & (Xt < tts.vocab_size_)).all()
    assert (Xt != TextToSequence.UNK_ID).all()  # every word was seen in fit
    text = tts.inverse_transform(Xt)
    for doc, row in zip(docs, text):
        assert row.split() == re.findall(r"\w+", doc.lower())
    np.testing.assert_array_equal(tts.transform(text), Xt)  # back to the same ids
    # padding only at the end
    for row in Xt:
        nz = np.flatnonzero(row)
        assert nz.size == 0 or (row[: nz[-1] + 1] != 0).all()


def test_inverse_transform_of_pretokenised_input_gives_cells_back():
    X = np.array([["a", "b", ""], ["B", "zz", "a"]], dtype=object)
    tts = TextToSequence(min_freq=2).fit(X)
    Xt = tts.transform(X)
    cells = tts.inverse_transform(Xt)
    assert cells.shape == (2, 3)
    assert cells.tolist() == [["a", "b", ""], ["b", "<unk>", "a"]]
    np.testing.assert_array_equal(tts.transform(cells), Xt)
    # integral floats (e.g. generated ids) are accepted, other floats are not
    assert tts.inverse_transform(Xt.astype(float)).tolist() == cells.tolist()
    with pytest.raises(ValueError, match="integer token ids"):
        tts.inverse_transform(Xt + 0.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, object])
def test_integer_tokens_transformed_as_floats_are_not_unknown(dtype):
    """Fitted on integer tokens, the same values as floats map to the same ids (issue 15)."""
    X = np.array([[1, 2, 3], [3, 2, 10]])
    tts = TextToSequence().fit(X)
    Xt = tts.transform(X)
    assert (Xt != TextToSequence.UNK_ID).all()
    np.testing.assert_array_equal(tts.transform(X.astype(dtype)), Xt)
    # and the other way round; non-integral floats stay distinct tokens
    floats = TextToSequence().fit(X.astype(dtype))
    np.testing.assert_array_equal(floats.transform(X), floats.transform(X.astype(dtype)))
    assert set(floats.vocabulary_) == {"1", "2", "3", "10"}
    halves = TextToSequence().fit(np.array([[0.5, 1.0]]))
    assert set(halves.vocabulary_) == {"0.5", "1"}


def test_token_pattern_capturing_groups():
    # one group: the group is the token, as in CountVectorizer
    one = TextToSequence(token_pattern=r"#(\w+)").fit(["#cat and #dog", "#cat"])
    cv = CountVectorizer(token_pattern=r"#(\w+)").fit(["#cat and #dog", "#cat"])
    assert set(one.vocabulary_) == set(cv.vocabulary_) == {"cat", "dog"}
    two = TextToSequence(token_pattern=r"(\w)(\w+)")
    with pytest.raises(ValueError, match="More than 1 capturing group"):
        two.fit(["cat dog"])
    with pytest.raises(ValueError, match="More than 1 capturing group"):
        CountVectorizer(token_pattern=r"(\w)(\w+)").fit(["cat dog"])
