"""Save and load estimators without pickle: nothing in a model file is ever executed.

:func:`~sklearn_deep.io.dump` writes an estimator (fitted or not, a Pipeline or a fitted
``GridSearchCV`` included) to one zip file: a JSON manifest of hyper-parameters and fitted
attributes, NumPy arrays as ``.npy`` members and network weights as safetensors.
:func:`~sklearn_deep.io.load` rebuilds it, refusing types that are not trusted. See
:ref:`persistence` for the security model.
"""

import sys

import numpy as np

from ._archive import FORMAT_VERSION, ArchiveError, ArchiveReader, ArchiveWriter
from ._tree import Decoder, Encoder, UntrustedTypesError, referenced_names, untrusted_names

__all__ = ["dump", "load", "get_untrusted_types", "UntrustedTypesError", "ArchiveError"]


def _versions():
    import sklearn

    import sklearn_deep

    versions = {
        "sklearn_deep": sklearn_deep.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
    }
    if "torch" in sys.modules:
        versions["torch"] = sys.modules["torch"].__version__
    return versions


def dump(estimator, path):
    """Save an estimator to a file, as data only (no pickle).

    Hyper-parameters (``get_params(deep=False)``) and fitted attributes are written as tagged
    JSON, arrays as ``.npy`` members and the weights of a neural network as safetensors, in one
    zip archive. Nested estimators (Pipeline steps, a search's ``best_estimator_``) are saved
    the same way. Objects that cannot be saved as data (lambdas, local classes, open files,
    torch modules outside a fitted neural estimator) raise an error naming where they are.

    Parameters
    ----------
    estimator : object
        Estimator to save, fitted or not.
    path : str, path-like or writable binary file object
        Destination. A path is written through a temporary file in the same directory and
        renamed at the end, so a failed dump leaves nothing behind.

    Returns
    -------
    None
        The file is written; nothing is returned.

    Raises
    ------
    ValueError
        If part of the estimator cannot be saved as data.

    See Also
    --------
    load : Load an estimator saved by ``dump``.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn_deep.cluster import KMeans
    >>> from sklearn_deep.io import dump, load
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> km = KMeans(n_clusters=2, n_init=1, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "kmeans.skd")
    >>> dump(km, path)
    >>> np.array_equal(load(path).predict(X), km.predict(X))
    True
    """
    writer = ArchiveWriter()
    root = Encoder(writer).encode(estimator, "estimator")
    manifest = {
        "format": "sklearn-deep",
        "format_version": FORMAT_VERSION,
        "versions": _versions(),
        "root": root,
    }
    writer.write(path, manifest)


def get_untrusted_types(path):
    """Names of the types and functions in a saved file that :func:`~sklearn_deep.io.load`
    does not trust by default, without building anything from the file.

    Parameters
    ----------
    path : str, path-like or readable binary file object
        File written by :func:`~sklearn_deep.io.dump`.

    Returns
    -------
    names : list of str
        Sorted fully qualified names (``module.QualName``); to be reviewed, then passed as
        ``load(path, trusted=names)``.

    Examples
    --------
    >>> import io
    >>> from sklearn_deep.cluster import KMeans
    >>> from sklearn_deep.io import dump, get_untrusted_types
    >>> buffer = io.BytesIO()
    >>> dump(KMeans(n_clusters=3), buffer)
    >>> get_untrusted_types(io.BytesIO(buffer.getvalue()))
    []
    """
    with ArchiveReader(path) as reader:
        manifest = reader.manifest()
        return sorted(untrusted_names(referenced_names(manifest["root"]), ()))


def load(path, *, trusted=None):
    """Load an estimator saved by :func:`~sklearn_deep.io.dump`, executing nothing from the file.

    The manifest is checked first: format version, member names and every type the file
    names. Classes and functions defined in ``sklearn_deep`` and scikit-learn are trusted;
    any other type (a user's callback, a custom torch module class passed as a parameter,
    ...) must be listed in ``trusted``, else nothing is built and
    :class:`UntrustedTypesError` names them. Objects are restored from their saved instance
    dict (``__init__`` is not run); arrays are read from ``.npy`` members whose headers are
    checked against the manifest (object arrays are refused); a neural estimator's network
    is rebuilt from its hyper-parameters and its weights read from safetensors, on the saved
    device, or on the CPU when that device is not available here.

    Parameters
    ----------
    path : str, path-like or readable binary file object
        File written by :func:`~sklearn_deep.io.dump`.
    trusted : list of str or None, default=None
        Fully qualified names (``module.QualName``, as listed by :func:`get_untrusted_types`)
        of further types and functions to accept.

    Returns
    -------
    estimator : object
        The saved estimator; it predicts exactly (bit for bit) as the saved one on the CPU.

    Raises
    ------
    UntrustedTypesError
        If the file names types or functions that are not trusted (a ``TypeError``).
    ArchiveError
        If the file is not a model file, is truncated or corrupted, was written by a newer
        format version, or holds something refused (a ``ValueError``).

    See Also
    --------
    dump : Save an estimator.
    get_untrusted_types : List the types a file would need trusted.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from sklearn_deep.io import dump, load
    >>> from sklearn_deep.mixture import GaussianMixture
    >>> X = np.random.RandomState(0).normal(size=(50, 2))
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> buffer = io.BytesIO()
    >>> dump(gm, buffer)
    >>> loaded = load(io.BytesIO(buffer.getvalue()))
    >>> np.array_equal(loaded.score_samples(X), gm.score_samples(X))
    True
    """
    if isinstance(trusted, str):
        raise TypeError("trusted must be a list of type names, not a string.")
    trusted = list(trusted) if trusted is not None else []
    if not all(isinstance(name, str) for name in trusted):
        raise TypeError("trusted must be a list of strings (fully qualified type names).")
    with ArchiveReader(path) as reader:
        manifest = reader.manifest()
        untrusted = untrusted_names(referenced_names(manifest["root"]), trusted)
        if untrusted:
            raise UntrustedTypesError(untrusted)
        _warn_versions(manifest.get("versions"))
        try:
            return Decoder(reader).decode(manifest["root"])
        except RecursionError:
            raise ArchiveError(
                "The file is corrupted: its object tree is nested too deeply."
            ) from None


def _warn_versions(saved):
    import warnings

    if not isinstance(saved, dict):
        return
    current = _versions()
    changed = [
        f"{name} {saved[name]} (now {current[name]})"
        for name in ("sklearn_deep", "sklearn")
        if isinstance(saved.get(name), str) and saved[name] != current[name]
    ]
    if changed:
        warnings.warn(
            f"The file was saved with {', '.join(changed)}; loading across versions may give "
            "an estimator that breaks or behaves differently.",
            UserWarning,
            stacklevel=3,
        )
