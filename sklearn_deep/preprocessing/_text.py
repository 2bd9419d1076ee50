"""Text to padded token-id sequences, the input of the sequence classifiers."""

import re
from collections import Counter
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data


def _cells_as_str(cells):
    """``str`` of every cell of a 2-D array, numbers of integral value written as integers.

    ``1``, ``1.0`` and ``np.float32(1)`` all give ``'1'``, so a vocabulary fitted on integer
    tokens also finds them when they arrive as floats (and conversely).
    """
    if cells.dtype.kind == "f":
        out = cells.astype(str).astype(object)
        integral = np.isfinite(cells) & (np.abs(cells) < 2**53) & (cells == np.round(cells))
        out[integral] = cells[integral].astype(np.int64).astype(str)
        return out.astype(str)
    if cells.dtype.kind == "O":
        flat = [
            str(int(c))
            if isinstance(c, (float, np.floating)) and np.isfinite(c) and float(c).is_integer()
            else str(c)
            for c in cells.ravel().tolist()
        ]
        return np.array(flat, dtype=str).reshape(cells.shape)
    return cells.astype(str)


class TextToSequence(TransformerMixin, BaseEstimator):
    """Map documents to fixed-width rows of token ids, with a vocabulary learned in ``fit``.

    Two inputs are accepted, and the kind seen in ``fit`` is required by ``transform``:

    - raw documents: an iterable of ``str`` (list, 1-D array, pandas Series). Each document
      is optionally lowercased and split into tokens with ``token_pattern``.
    - pre-tokenised sequences: a 2-D array-like, one token per cell (``str(cell)``; an empty
      string is padding). This also covers categorical sequences of numbers: a number with an
      integral value is the token of that integer whatever its type, so ``3``, ``3.0`` and
      ``np.float32(3)`` are all the token ``'3'`` (fitted on integers, transforming the same
      values as floats finds them in the vocabulary).

    Id 0 is padding and id 1 the unknown token (out of vocabulary, or rarer than
    ``min_freq``); vocabulary words get ids from 2 upwards, the most frequent first (ties in
    alphabetical order). Rows are padded with 0 at the end and truncated to ``max_len``, so
    the output plugs into :class:`~sklearn_deep.neural_network.LSTMClassifier` and
    :class:`~sklearn_deep.neural_network.TransformerClassifier` (``padding_idx=0``).

    Parameters
    ----------
    lowercase : bool, default=True
        Lowercase every token.
    token_pattern : str, default=r"(?u)\\b\\w+\\b"
        Regular expression whose matches are the tokens of a raw document. If it has one
        capturing group, the group's match is the token (as in
        :class:`~sklearn.feature_extraction.text.CountVectorizer`); more than one group is an
        error.
    min_freq : int, default=1
        Words seen fewer times than this in ``fit`` map to the unknown id.
    max_vocab : int or None, default=None
        Keep at most this many words (the most frequent), besides padding and unknown.
    max_len : int or None, default=None
        Output width. None: the longest document seen in ``fit`` (raw documents), or the
        number of columns (pre-tokenised input).
    truncating : {'post', 'pre'}, default='post'
        Drop tokens beyond ``max_len`` from the end ('post') or the start ('pre').

    Attributes
    ----------
    vocabulary_ : dict of str to int
        Word to id (ids ``2 .. vocab_size_ - 1``).
    index_to_token_ : ndarray of shape (vocab_size_,), dtype=object
        Id to token; ``index_to_token_[0] == "<pad>"`` and ``index_to_token_[1] == "<unk>"``.
    vocab_size_ : int
        Number of ids, padding and unknown included: the ``V`` of an embedding ``V x D``.
    max_len_ : int
        Output width.
    n_features_in_ : int
        Number of columns of pre-tokenised input (only set when fitted on a 2-D array).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a pre-tokenised DataFrame with string column names.

    See Also
    --------
    sklearn.feature_extraction.text.CountVectorizer : bag-of-words counts, order discarded.

    Examples
    --------
    >>> from sklearn_deep.preprocessing import TextToSequence
    >>> docs = ["The cat sat.", "The dog sat on the mat", "A cat!"]
    >>> tts = TextToSequence().fit(docs)
    >>> tts.vocab_size_, tts.max_len_
    (9, 6)
    >>> tts.transform(["the cat ate"])
    array([[2, 3, 1, 0, 0, 0]])
    >>> tts.inverse_transform(tts.transform(["the cat ate"]))
    ['the cat <unk>']
    """

    PAD_ID = 0
    UNK_ID = 1

    _parameter_constraints: dict = {
        "lowercase": ["boolean"],
        "token_pattern": [str],
        "min_freq": [Interval(Integral, 1, None, closed="left")],
        "max_vocab": [Interval(Integral, 0, None, closed="left"), None],
        "max_len": [Interval(Integral, 1, None, closed="left"), None],
        "truncating": [StrOptions({"post", "pre"})],
    }

    def __init__(
        self,
        *,
        lowercase=True,
        token_pattern=r"(?u)\b\w+\b",
        min_freq=1,
        max_vocab=None,
        max_len=None,
        truncating="post",
    ):
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.min_freq = min_freq
        self.max_vocab = max_vocab
        self.max_len = max_len
        self.truncating = truncating

    # -- input handling ------------------------------------------------------------------
    @staticmethod
    def _as_documents(X):
        """Return a list of str if X is an iterable of documents, else None (2-D input)."""
        if isinstance(X, (str, bytes)):
            raise ValueError("Iterable over raw text documents expected, string object received.")
        if not hasattr(X, "ndim") and hasattr(X, "__array__"):
            X = np.asarray(X)  # array-likes that are not iterable
        if sp.issparse(X) or getattr(X, "ndim", 1) != 1:
            return None
        if not hasattr(X, "ndim"):
            X = list(X)
            if any(not isinstance(doc, str) for doc in X):
                if np.asarray(X, dtype=object).ndim == 2:
                    return None
        docs = list(X)
        if not docs:
            raise ValueError(
                "Found array with 0 sample(s) (shape=(0,)) while a minimum of 1 is required."
            )
        for doc in docs:
            if not isinstance(doc, str):
                raise ValueError(
                    "TextToSequence expects raw documents of type str (or a 2-D array of "
                    f"tokens); got an element of type {type(doc).__name__}. Reshape 1-D "
                    "numeric data with X.reshape(-1, 1) to use it as one token per row."
                )
        return docs

    def _tokenize(self, docs):
        pattern = re.compile(self.token_pattern)
        if pattern.groups > 1:
            raise ValueError(
                "More than 1 capturing group in token pattern. Only a single group should be "
                f"captured; got token_pattern={self.token_pattern!r}."
            )
        if self.lowercase:
            return [pattern.findall(doc.lower()) for doc in docs]
        return [pattern.findall(doc) for doc in docs]

    def _tokens_2d(self, X):
        cells = _cells_as_str(np.asarray(X))  # str(cell), integral numbers as integers
        if self.lowercase:
            cells = np.char.lower(cells)
        return [[tok for tok in row] for row in cells.tolist()]

    # -- API -----------------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the vocabulary (and the output width).

        Parameters
        ----------
        X : iterable of str of length n_samples, or array-like of shape (n_samples, T)
            Raw documents, or pre-tokenised sequences.
        y : None
            Ignored.

        Returns
        -------
        self : TextToSequence
        """
        self._fit_tokens(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit, then transform ``X`` (tokenising it once).

        Parameters
        ----------
        X : iterable of str of length n_samples, or array-like of shape (n_samples, T)
        y : None
            Ignored.

        Returns
        -------
        Xt : ndarray of shape (n_samples, max_len_), dtype=int64
        """
        self._validate_params()
        return self._encode(self._fit_tokens(X))

    def _fit_tokens(self, X):
        docs = self._as_documents(X)
        if docs is None:
            X = validate_data(self, X, dtype=None, ensure_all_finite=True, reset=True)
            tokens = self._tokens_2d(X)
        else:
            for attr in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(attr, None)
            tokens = self._tokenize(docs)
        self._pretokenized = docs is None
        counts = Counter(tok for row in tokens for tok in row if tok)
        words = sorted(
            (w for w, c in counts.items() if c >= self.min_freq), key=lambda w: (-counts[w], w)
        )
        if self.max_vocab is not None:
            words = words[: self.max_vocab]
        self.index_to_token_ = np.array(["<pad>", "<unk>", *words], dtype=object)
        self.vocabulary_ = {w: i for i, w in enumerate(words, start=2)}
        self.vocab_size_ = len(self.index_to_token_)
        if self.max_len is not None:
            self.max_len_ = int(self.max_len)
        elif self._pretokenized:
            self.max_len_ = int(X.shape[1])
        else:
            self.max_len_ = max(1, max(len(row) for row in tokens))
        return tokens

    def _encode(self, tokens):
        out = np.zeros((len(tokens), self.max_len_), dtype=np.int64)
        vocab, unk, width = self.vocabulary_, self.UNK_ID, self.max_len_
        for i, row in enumerate(tokens):
            if len(row) > width:
                row = row[:width] if self.truncating == "post" else row[len(row) - width :]
            out[i, : len(row)] = [vocab.get(tok, unk) if tok else self.PAD_ID for tok in row]
        return out

    def transform(self, X):
        """Map ``X`` to token ids, padded with 0 at the end and truncated to ``max_len_``.

        Parameters
        ----------
        X : iterable of str of length n_samples, or array-like of shape (n_samples, T)
            Same kind of input as in ``fit``.

        Returns
        -------
        Xt : ndarray of shape (n_samples, max_len_), dtype=int64
        """
        check_is_fitted(self)
        if self._pretokenized:
            if isinstance(X, (str, bytes)):
                raise ValueError(
                    "Expected 2D array of tokens, got a single string instead (this "
                    "TextToSequence was fitted on pre-tokenised 2-D input)."
                )
            X = validate_data(self, X, dtype=None, ensure_all_finite=True, reset=False)
            return self._encode(self._tokens_2d(X))
        docs = self._as_documents(X)
        if docs is None:
            raise ValueError(
                "This TextToSequence was fitted on raw documents; transform expects an "
                "iterable of str, got a 2-D array."
            )
        return self._encode(self._tokenize(docs))

    def inverse_transform(self, X):
        """Map token ids back to text (raw documents) or to token cells (2-D input).

        Padding is dropped; out-of-vocabulary words come back as ``'<unk>'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_steps) of int
            Token ids, e.g. from :meth:`transform` or generated by
            :class:`~sklearn_deep.neural_network.CausalLanguageModel`. Floating arrays with
            integral values are accepted.

        Returns
        -------
        text : list of str of length n_samples, or ndarray of shape (n_samples, n_steps)
            Fitted on raw documents: each row's tokens joined by single spaces (the
            tokeniser's lowercasing and dropped punctuation are not undone). Fitted on
            pre-tokenised input: an object array of the tokens, ``''`` at padding, so that
            :meth:`transform` maps it back to the same ids.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if (
            X.ndim != 2
            or X.dtype.kind not in "iuf"
            or (X.dtype.kind == "f" and not np.array_equal(X, np.round(X)))
        ):
            raise ValueError(
                "inverse_transform expects a 2-D array of integer token ids; got an array of "
                f"shape {X.shape} and dtype {X.dtype}."
            )
        if X.size and (X.min() < 0 or X.max() >= self.vocab_size_):
            raise ValueError(f"token ids must lie in [0, vocab_size_={self.vocab_size_}).")
        X = X.astype(np.int64)
        if self._pretokenized:
            tokens = self.index_to_token_[X]
            tokens[X == self.PAD_ID] = ""
            return tokens
        return [" ".join(self.index_to_token_[row[row != self.PAD_ID]]) for row in X]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = True
        tags.transformer_tags.preserves_dtype = []
        return tags
