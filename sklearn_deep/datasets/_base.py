"""Loaders for the datasets shipped inside sklearn_deep."""

from importlib import resources

import numpy as np
from sklearn.utils import Bunch

_OLD_FAITHFUL_DESCR = """Old Faithful geyser data
------------------------

Waiting time between eruptions and the duration of the eruption for the Old Faithful geyser
in Yellowstone National Park, Wyoming, USA: 272 observations of 2 variables, ``eruptions``
(eruption time in minutes) and ``waiting`` (waiting time to the next eruption in minutes).
This is the ``faithful`` data set distributed with R (Azzalini & Bowman 1990; Hardle 1991).
"""


def load_old_faithful(*, return_X_y=False, as_frame=False):
    """Load the Old Faithful geyser data (272 samples, 2 features), shipped in the package.

    Parameters
    ----------
    return_X_y : bool, default=False
        If True, return ``X`` alone instead of a Bunch (there is no target; this mirrors
        scikit-learn's loaders and returns ``(X, None)``).
    as_frame : bool, default=False
        If True, ``data`` is a pandas DataFrame with columns ``eruptions`` and ``waiting``
        (requires pandas).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: ndarray of shape (272, 2), float64; ``feature_names``; ``DESCR``;
        ``frame`` (a DataFrame when ``as_frame=True``, else None).
    (X, None) : tuple, if ``return_X_y`` is True.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_old_faithful
    >>> faithful = load_old_faithful()
    >>> faithful.data.shape
    (272, 2)
    >>> faithful.feature_names
    ['eruptions', 'waiting']
    """
    path = resources.files("sklearn_deep.datasets").joinpath("data", "old_faithful.csv")
    with path.open("r", encoding="utf-8") as f:
        lines = [line for line in f if not line.startswith("#")]
    feature_names = lines[0].strip().split(",")
    data = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64)
    frame = None
    if as_frame:
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover
            raise ImportError(
                "load_old_faithful(as_frame=True) requires pandas: pip install pandas"
            ) from exc
        frame = pd.DataFrame(data, columns=feature_names)
        data = frame
    if return_X_y:
        return data, None
    return Bunch(data=data, feature_names=feature_names, frame=frame, DESCR=_OLD_FAITHFUL_DESCR)
