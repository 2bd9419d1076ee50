"""Discover every public estimator of sklearn_deep (used by the common tests)."""

import inspect
import pkgutil
from importlib import import_module
from operator import itemgetter

from sklearn.base import BaseEstimator


def all_estimators():
    """Return ``(name, class)`` for every public, concrete estimator in sklearn_deep.

    Walks every non-private module of the package, so a new estimator is picked up by the
    common tests simply by being importable from its public subpackage.

    Returns
    -------
    estimators : list of (str, type)
        Sorted by name, without duplicates.

    Examples
    --------
    >>> from sklearn_deep.utils import all_estimators
    >>> names = [name for name, _ in all_estimators()]
    >>> "KMeans" in names
    True
    """
    import sklearn_deep

    found = {}
    root = sklearn_deep.__path__
    for _, module_name, _ in pkgutil.walk_packages(root, prefix="sklearn_deep."):
        parts = module_name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or "tests" in parts:
            continue
        module = import_module(module_name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseEstimator)
                and not name.startswith("_")
                and cls.__module__.startswith("sklearn_deep.")
                and not inspect.isabstract(cls)
                and not name.startswith("Base")
            ):
                found[name] = cls
    return sorted(found.items(), key=itemgetter(0))
