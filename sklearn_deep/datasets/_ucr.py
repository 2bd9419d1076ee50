"""Thin loaders for the UCR/UEA time-series classification files shipped in sktime's wheel.

Only the ``.ts`` files are read (sktime itself is never imported), with their official
train/test splits.
"""

import importlib.util
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

_SKTIME_HINT = "pip install sktime"


def _sktime_data_dir():
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The UCR/UEA time-series files are read from the sktime package, which is not "
            f"installed: {_SKTIME_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def _parse_ts(path):
    """Parse one ``.ts`` file (no timestamps) into header, list of (T_i, C) arrays, labels."""
    header, comments, series, labels = {}, [], [], []
    in_data = False
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.strip()
            if not line:
                continue
            if not in_data:
                if line.startswith("#"):
                    comments.append(line[1:])
                elif line.startswith("@"):
                    key, _, value = line[1:].partition(" ")
                    key = key.lower()
                    if key == "data":
                        in_data = True
                    else:
                        header[key] = value.strip()
                continue
            *dims, label = line.split(":")
            channels = [
                np.array([np.nan if v == "?" else float(v) for v in dim.split(",")]) for dim in dims
            ]
            if len({len(c) for c in channels}) != 1:
                raise ValueError(f"{path}: channels of unequal length in one series")
            series.append(np.stack(channels, axis=1))
            labels.append(label.strip())
    if header.get("timestamps", "false").lower() == "true":
        raise NotImplementedError(f"{path}: .ts files with timestamps are not supported")
    return header, "\n".join(comments).strip(), series, labels


def load_ucr_uea(name, *, split=None, return_X_y=False, pad_value=np.nan):
    """Load a UCR/UEA classification dataset shipped in sktime's wheel.

    Parameters
    ----------
    name : str
        Dataset folder name in ``sktime/datasets/data``, e.g. ``"GunPoint"``,
        ``"ItalyPowerDemand"``, ``"BasicMotions"``, ``"JapaneseVowels"``.
    split : {'train', 'test'} or None, default=None
        The official split; None concatenates train then test.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    pad_value : float, default=np.nan
        Fills the end of series shorter than the longest one of the dataset, train and test
        together, so both splits have the same shape (variable-length datasets).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data``: ndarray of shape (n_samples, n_timestamps) for univariate datasets, or
        (n_samples, n_timestamps, n_channels) for multivariate ones (channels last), float64;
        ``target``: ndarray of shape (n_samples,) of str class labels; ``target_names``
        (class labels in the file's order); ``lengths``: ndarray of shape (n_samples,) of
        each series' length; ``split``: ndarray of shape (n_samples,) of 'train'/'test';
        ``DESCR``.
    (data, target) : tuple, if ``return_X_y`` is True.

    Raises
    ------
    ImportError
        If sktime (which ships the files) is not installed.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_ucr_uea
    >>> bunch = load_ucr_uea("BasicMotions", split="test")  # doctest: +SKIP
    >>> bunch.data.shape, bunch.target_names.tolist()  # doctest: +SKIP
    ((40, 100, 6), ['Standing', 'Running', 'Walking', 'Badminton'])
    """
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, got {split!r}")
    folder = _sktime_data_dir() / name
    if not folder.is_dir():
        raise ValueError(f"no dataset {name!r} in {folder.parent}")
    # both files are read so that a split is padded to the length of the whole dataset:
    # train and test then share one shape
    series, labels, splits, header, descr = [], [], [], {}, ""
    for part in ["train", "test"]:
        header, descr, s, y = _parse_ts(folder / f"{name}_{part.upper()}.ts")
        series += s
        labels += y
        splits += [part] * len(s)
    n_steps = max(len(s) for s in series)
    if split is not None:
        keep = [i for i, part in enumerate(splits) if part == split]
        series = [series[i] for i in keep]
        labels = [labels[i] for i in keep]
        splits = [splits[i] for i in keep]
    lengths = np.array([len(s) for s in series])
    n_channels = series[0].shape[1]
    data = np.full((len(series), n_steps, n_channels), pad_value, dtype=np.float64)
    for i, s in enumerate(series):
        data[i, : len(s)] = s
    if n_channels == 1:
        data = data[:, :, 0]
    target = np.array(labels)
    class_label = header.get("classlabel", "").split()
    target_names = np.array(class_label[1:] if class_label[:1] == ["true"] else np.unique(target))
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        target_names=target_names,
        lengths=lengths,
        split=np.array(splits),
        DESCR=f"{name} (UCR/UEA archive, file shipped in sktime)\n\n{descr}",
    )


def load_gunpoint(*, split=None, return_X_y=False):
    """Load GunPoint: 200 univariate series of length 150, 2 classes (50 train, 150 test).

    Read from the ``.ts`` files shipped in sktime's wheel (``pip install sktime``).

    Parameters
    ----------
    split : {'train', 'test'} or None, default=None
        The official split; None concatenates train then test.
    return_X_y : bool, default=False

    Returns
    -------
    data : Bunch or (data, target)
        ``data`` of shape (n_samples, 150); see :func:`load_ucr_uea`.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_gunpoint
    >>> X, y = load_gunpoint(split="train", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (50, 150)
    """
    return load_ucr_uea("GunPoint", split=split, return_X_y=return_X_y)


def load_italy_power_demand(*, split=None, return_X_y=False):
    """Load ItalyPowerDemand: 1,096 daily univariate series of length 24, 2 classes
    (67 train, 1,029 test).

    Read from the ``.ts`` files shipped in sktime's wheel (``pip install sktime``).

    Parameters
    ----------
    split : {'train', 'test'} or None, default=None
    return_X_y : bool, default=False

    Returns
    -------
    data : Bunch or (data, target)
        ``data`` of shape (n_samples, 24); see :func:`load_ucr_uea`.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_italy_power_demand
    >>> X, y = load_italy_power_demand(split="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (1029, 24)
    """
    return load_ucr_uea("ItalyPowerDemand", split=split, return_X_y=return_X_y)


def load_basic_motions(*, split=None, return_X_y=False):
    """Load BasicMotions: 80 series of 100 steps and 6 channels (accelerometer and
    gyroscope), 4 classes (40 train, 40 test).

    Read from the ``.ts`` files shipped in sktime's wheel (``pip install sktime``).

    Parameters
    ----------
    split : {'train', 'test'} or None, default=None
    return_X_y : bool, default=False

    Returns
    -------
    data : Bunch or (data, target)
        ``data`` of shape (n_samples, 100, 6); see :func:`load_ucr_uea`.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_basic_motions
    >>> X, y = load_basic_motions(split="train", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (40, 100, 6)
    """
    return load_ucr_uea("BasicMotions", split=split, return_X_y=return_X_y)


def load_japanese_vowels(*, split=None, return_X_y=False, pad_value=np.nan):
    """Load JapaneseVowels: 640 variable-length series (7 to 29 steps) of 12 channels,
    9 speakers (270 train, 370 test).

    Series are padded at the end with ``pad_value`` (NaN by default) to the longest one of
    the dataset (29 steps, train and test alike); ``lengths`` holds the true lengths. Pass
    ``padding_value=np.nan`` to the sequence classifiers to mask the padding. Read from the
    ``.ts`` files shipped in sktime's wheel (``pip install sktime``).

    Parameters
    ----------
    split : {'train', 'test'} or None, default=None
    return_X_y : bool, default=False
    pad_value : float, default=np.nan

    Returns
    -------
    data : Bunch or (data, target)
        ``data`` of shape (n_samples, max_length, 12); see :func:`load_ucr_uea`.

    Examples
    --------
    >>> from sklearn_deep.datasets import load_japanese_vowels
    >>> bunch = load_japanese_vowels(split="train")  # doctest: +SKIP
    >>> bunch.data.shape, int(bunch.lengths.min()), int(bunch.lengths.max())  # doctest: +SKIP
    ((270, 29, 12), 7, 26)
    """
    return load_ucr_uea("JapaneseVowels", split=split, return_X_y=return_X_y, pad_value=pad_value)
