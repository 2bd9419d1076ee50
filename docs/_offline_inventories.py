"""Intersphinx inventories for scikit-learn, NumPy, PyTorch and Python, written offline.

The documentation is built where the network cannot be reached (CI, air-gapped machines), so
intersphinx cannot download the projects' ``objects.inv``. This module writes equivalent
inventories from the *installed* packages instead: every public class, function and exception
of the installed version, each pointing to the page where that project's documentation puts
it (the URL scheme each project uses for its generated API pages). Links therefore always
match the versions the docs were built against, and a reference to a name that the installed
package does not have fails the build (``nitpicky``), as it would with the real inventories.
"""

import builtins
import importlib
import inspect
import pkgutil
import zlib
from pathlib import Path

# project -> (base URL, version-independent settings)
URLS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
}


def _kind(obj):
    if inspect.isclass(obj):
        return "py:exception" if issubclass(obj, BaseException) else "py:class"
    if callable(obj):
        return "py:function"
    return None


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        try:
            obj = getattr(module, name)
        except (AttributeError, ImportError):  # experimental names behind an import switch
            continue
        kind = _kind(obj)
        if kind is not None:
            yield name, obj, kind


def _walk(package, skip=()):
    """The package and its public submodules (no tests, no private modules)."""
    yield package
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") or p in ("tests", "testing") for p in parts[1:]):
            continue
        if any(info.name.startswith(s) for s in skip):
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception:  # optional dependencies of some submodules
            continue


def _sklearn_entries():
    import sklearn

    for module in _walk(sklearn, skip=("sklearn.externals", "sklearn.experimental")):
        if not hasattr(module, "__all__"):
            continue
        yield module.__name__, "py:module", f"api/{module.__name__}.html"
        for name, obj, kind in _public_names(module):
            qualname = f"{module.__name__}.{name}"
            yield qualname, kind, f"modules/generated/{qualname}.html#$"
            if inspect.isclass(obj):
                for member, value in vars(obj).items():
                    if not member.startswith("_") and callable(value):
                        yield (
                            f"{qualname}.{member}",
                            "py:method",
                            (f"modules/generated/{qualname}.html#$"),
                        )
    # public classes of modules without ``__all__`` that scikit-learn's docstrings reference
    for qualname in (
        "sklearn.utils.Bunch",
        "sklearn.utils.metadata_routing.MetadataRequest",
        "sklearn.utils.metadata_routing.MetadataRouter",
        "sklearn.utils.metadata_routing.MethodMapping",
    ):
        yield qualname, "py:class", f"modules/generated/{qualname}.html#$"


def _numpy_entries():
    import numpy as np

    for module, prefix in [(np, "numpy"), (np.random, "numpy.random")]:
        for name, _, kind in _public_names(module):
            qualname = f"{prefix}.{name}"
            page = "reference/random/" if prefix == "numpy.random" else "reference/"
            yield qualname, kind, f"{page}generated/{qualname}.html#$"


def _torch_entries():
    import torch

    special = {
        "torch.Tensor": "tensors.html#$",
        "torch.device": "tensor_attributes.html#$",
        "torch.dtype": "tensor_attributes.html#$",
    }
    for qualname, uri in special.items():
        yield qualname, "py:class", uri
    for module, prefix in [
        (torch, "torch"),
        (torch.nn, "torch.nn"),
        (torch.optim, "torch.optim"),
        (torch.nn.functional, "torch.nn.functional"),
        (torch.utils.data, "torch.utils.data"),
    ]:
        for name, obj, kind in _public_names(module):
            qualname = f"{prefix}.{name}"
            if qualname in special:
                continue
            yield qualname, kind, f"generated/{qualname}.html#$"
            if qualname == "torch.nn.Module":
                for member, value in vars(obj).items():
                    if not member.startswith("_") and callable(value):
                        yield f"{qualname}.{member}", "py:method", f"generated/{qualname}.html#$"


def _python_entries():
    for name, obj in vars(builtins).items():
        if name.startswith("_"):
            continue
        kind = _kind(obj)
        if kind == "py:exception":
            yield name, kind, "library/exceptions.html#$"
        elif kind == "py:class":
            yield name, kind, "library/stdtypes.html#$"
        elif kind == "py:function":
            yield name, kind, "library/functions.html#$"
    yield "None", "py:data", "library/constants.html#$"
    yield "True", "py:data", "library/constants.html#$"
    yield "False", "py:data", "library/constants.html#$"
    for name in ("pathlib.Path", "os.PathLike"):
        module = name.split(".")[0]
        yield name, "py:class", f"library/{module}.html#$"


def _scipy_entries():
    import scipy.sparse

    for name, _, kind in _public_names(scipy.sparse):
        qualname = f"scipy.sparse.{name}"
        yield qualname, kind, f"reference/generated/{qualname}.html#$"


_ENTRIES = {
    "python": _python_entries,
    "numpy": _numpy_entries,
    "sklearn": _sklearn_entries,
    "torch": _torch_entries,
    "scipy": _scipy_entries,
}


def _write(path, project, version, entries):
    seen, lines = set(), []
    for name, kind, uri in entries:
        if (name, kind) in seen:
            continue
        seen.add((name, kind))
        lines.append(f"{name} {kind} 1 {uri} -")
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = zlib.compress(("\n".join(sorted(lines)) + "\n").encode("utf-8"))
    path.write_bytes(header.encode("utf-8") + body)


def intersphinx_mapping(folder):
    """Write the inventories into ``folder``; return Sphinx's ``intersphinx_mapping``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for project, entries in _ENTRIES.items():
        module = "sys" if project == "python" else project
        version = getattr(importlib.import_module(module), "__version__", "3")
        path = folder / f"{project}.inv"
        _write(path, project, version, entries())
        mapping[project] = (URLS[project], str(path))
    return mapping
