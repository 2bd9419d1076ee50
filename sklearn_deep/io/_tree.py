"""Python objects to tagged JSON and back, without pickle.

Every JSON object in the tree is a node ``{"t": tag, ...}``; JSON lists are Python lists;
strings, booleans, ``null`` and finite numbers stand for themselves. Tags:

==================  ============================================================
``float``           non-finite float: ``{"v": "nan" | "inf" | "-inf"}``
``complex``         ``{"re": ..., "im": ...}``
``tuple``, ``set``  ``{"items": [...]}`` (also ``frozenset``)
``dict``            ``{"items": [[key, value], ...]}``
``bytes``           ``{"hex": ...}``
``scalar``          NumPy scalar: ``{"dtype": "<f8", "v": ...}``
``array``           ndarray in a ``.npy`` member: ``{"file", "dtype", "shape"}``
``objarray``        object ndarray of plain values: ``{"shape", "items"}``
``masked``          ``numpy.ma.MaskedArray``: ``{"data", "mask", "fill_value"}``
``dtype``           ``numpy.dtype``: ``{"v": "<f8"}``; ``scalar_type`` a NumPy scalar type
``builtin_type``    ``int``, ``float``, ``str``, ``bool``, ``complex``, ``object``
``random_state``    ``numpy.random.RandomState`` from its state; ``generator`` likewise
``class``           a class, by module and qualified name (trust-checked)
``function``        a module-level function, by module and qualified name (trust-checked)
``object``          an instance: class (trust-checked), ``params`` (``get_params(deep=False)``
                    of estimators) and ``attrs`` (the rest of ``vars(obj)``), restored with
                    ``cls.__new__`` and the instance dict (``__init__`` is not run), plus
                    ``torch`` for the fitted skorch net of a neural estimator (``_torch``)
``ufunc``           a NumPy ufunc by name (``numpy.log1p``)
``torch_device``    ``torch.device``; ``tensor`` a lone tensor in a safetensors member;
                    ``skorch_history`` skorch's ``History`` as a list of plain dicts
==================  ============================================================
"""

import importlib
import math
import re
import sys
import types

import numpy as np

from ._archive import ArchiveError

MAX_DEPTH = 400

SAFE_PREFIXES = ("sklearn_deep.", "sklearn.")
_BUILTIN_TYPES = {t.__name__: t for t in (int, float, str, bool, complex, object)}
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_MODULE_RE = re.compile(rf"\A{_IDENT}(?:\.{_IDENT})*\Z")
_QUALNAME_RE = _MODULE_RE


class UntrustedTypesError(TypeError):
    """Raised by :func:`~sklearn_deep.io.load` when the file names types that are not
    trusted: neither defined in sklearn_deep or scikit-learn nor listed in ``trusted``.

    A ``TypeError``; nothing from the file has been built when it is raised.

    Parameters
    ----------
    types : iterable of str
        Fully qualified names of the untrusted types and functions.

    Attributes
    ----------
    types : list of str
        The names, sorted: review them, then pass them as ``load(path, trusted=types)``.

    Examples
    --------
    >>> from sklearn_deep.io import UntrustedTypesError
    >>> err = UntrustedTypesError(["mypackage.MyCallback"])
    >>> err.types
    ['mypackage.MyCallback']
    >>> isinstance(err, TypeError)
    True
    """

    def __init__(self, types):
        self.types = sorted(types)
        super().__init__(
            f"The file refers to types or functions that are not trusted: {self.types}. Only "
            "classes and functions defined in sklearn_deep and scikit-learn are trusted by "
            "default. If you trust the source of this file, pass these names in "
            "load(..., trusted=[...]); get_untrusted_types(path) lists them."
        )


def _fullname(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _is_skorch_history(obj):
    cls = type(obj)
    return cls.__module__ == "skorch.history" and cls.__name__ == "History"


def _torch_loaded():
    return "torch" in sys.modules


class Encoder:
    """Turns an object tree into tagged JSON, writing arrays and tensors to ``writer``.

    Parameters
    ----------
    writer : ArchiveWriter
        Receives the binary members.
    """

    def __init__(self, writer):
        self.writer = writer
        self._stack = set()

    def encode(self, obj, where="estimator"):
        """The tagged JSON of ``obj``; ``where`` names it in error messages."""
        if obj is None or isinstance(obj, (bool, str)) and type(obj) in (bool, str):
            return obj
        if type(obj) is int:
            return obj
        if type(obj) is float:
            return obj if math.isfinite(obj) else {"t": "float", "v": repr(obj)}
        if type(obj) is complex:
            return {"t": "complex", "re": self.encode(obj.real), "im": self.encode(obj.imag)}
        if isinstance(obj, np.generic):
            return self._scalar(obj, where)
        if isinstance(obj, np.dtype):
            return {"t": "dtype", "v": self._dtype_str(obj, where)}
        if isinstance(obj, type):
            return self._type(obj, where)
        if isinstance(obj, np.ufunc):
            if getattr(np, obj.__name__, None) is not obj:
                raise ValueError(f"Cannot save {where}: {obj!r} is not a NumPy ufunc by name.")
            return {"t": "ufunc", "v": obj.__name__}
        if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
            return {"t": "function", **self._path(obj, where)}
        if isinstance(obj, bytes):
            return {"t": "bytes", "hex": obj.hex()}
        if id(obj) in self._stack:
            raise ValueError(f"Cannot save {where}: it refers back to itself (a cycle).")
        self._stack.add(id(obj))
        try:
            return self._container(obj, where)
        finally:
            self._stack.discard(id(obj))

    def _container(self, obj, where):
        if type(obj) is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if type(obj) is tuple:
            return {
                "t": "tuple",
                "items": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)],
            }
        if type(obj) in (set, frozenset):
            items = list(obj)
            try:
                items = sorted(items)
            except TypeError:
                pass
            return {"t": type(obj).__name__, "items": [self.encode(v, where) for v in items]}
        if type(obj) is dict:
            return {
                "t": "dict",
                "items": [
                    [self.encode(k, f"{where} key"), self.encode(v, f"{where}[{k!r}]")]
                    for k, v in obj.items()
                ],
            }
        if isinstance(obj, np.ma.MaskedArray):
            return {
                "t": "masked",
                "data": self.encode(np.asarray(obj.data), where),
                "mask": self.encode(np.ma.getmaskarray(obj), where),
                "fill_value": self.encode(obj.fill_value, where),
            }
        if isinstance(obj, np.ndarray) and type(obj) in (np.ndarray, np.memmap):
            return self._array(np.asarray(obj), where)
        if isinstance(obj, np.random.RandomState):
            return {"t": "random_state", "state": self.encode(obj.get_state(legacy=True), where)}
        if isinstance(obj, np.random.Generator):
            bg = obj.bit_generator
            if type(bg).__name__ not in _BIT_GENERATORS:
                raise ValueError(f"Cannot save {where}: unknown bit generator {type(bg)}.")
            return {
                "t": "generator",
                "bit_generator": type(bg).__name__,
                "state": self.encode(bg.state, where),
            }
        if _is_skorch_history(obj):
            return {"t": "skorch_history", "items": self.encode(list(obj), where)}
        if _torch_loaded():
            node = self._torch_value(obj, where)
            if node is not None:
                return node
        return self._object(obj, where)

    # ------------------------------------------------------------------ leaves
    def _dtype_str(self, dtype, where):
        if dtype.fields is not None or dtype.kind not in "biufcUSO":
            raise ValueError(f"Cannot save {where}: unsupported dtype {dtype!r}.")
        return dtype.str

    def _scalar(self, obj, where):
        dtype = obj.dtype
        if (
            dtype.kind not in "biufcUS"
            or (dtype.kind == "f" and dtype.itemsize > 8)
            or (dtype.kind == "c" and dtype.itemsize > 16)
        ):
            raise ValueError(f"Cannot save {where}: unsupported NumPy scalar of dtype {dtype}.")
        return {"t": "scalar", "dtype": dtype.str, "v": self.encode(obj.item(), where)}

    def _array(self, arr, where):
        if arr.dtype == object:
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(arr.ravel(order="C"))]
            return {"t": "objarray", "shape": list(arr.shape), "items": items}
        name = self.writer.add_array(arr, where)
        return {"t": "array", "file": name, "dtype": arr.dtype.str, "shape": list(arr.shape)}

    def _path(self, obj, where):
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if (
            not isinstance(module, str)
            or not isinstance(qualname, str)
            or not _MODULE_RE.match(module)
            or not _QUALNAME_RE.match(qualname)
            or module == "__main__"
        ):
            raise ValueError(
                f"Cannot save {where}: {obj!r} is not importable by name (lambdas, local "
                "functions and classes, and objects defined in __main__ cannot be saved; "
                "define them in an importable module)."
            )
        try:
            resolved = resolve(module, qualname)
        except Exception:  # noqa: BLE001 - any failure means "not importable"
            resolved = None
        if resolved is not obj:
            raise ValueError(
                f"Cannot save {where}: {module}.{qualname} does not import back to {obj!r}."
            )
        return {"module": module, "name": qualname}

    def _type(self, cls, where):
        if cls.__module__ == "builtins" and cls.__name__ in _BUILTIN_TYPES:
            return {"t": "builtin_type", "v": cls.__name__}
        if issubclass(cls, np.generic):
            try:
                return {"t": "scalar_type", "v": self._dtype_str(np.dtype(cls), where)}
            except TypeError:
                pass
        return {"t": "class", **self._path(cls, where)}

    def _torch_value(self, obj, where):
        import torch

        if isinstance(obj, torch.device):
            return {"t": "torch_device", "v": str(obj)}
        if isinstance(obj, torch.Tensor):
            from safetensors.torch import save

            data = save({"tensor": obj.detach().to("cpu").contiguous().clone()})
            return {"t": "tensor", "file": self.writer.add_tensors(data)}
        if isinstance(obj, torch.nn.Module):
            raise ValueError(
                f"Cannot save {where}: a torch module is saved only as the network of a fitted "
                "sklearn_deep neural estimator (its net_, or a module_ built by _build_module), "
                "rebuilt from hyper-parameters on load."
            )
        return None

    def _object(self, obj, where):
        from sklearn.base import BaseEstimator

        from ._torch import (
            dump_module_state,
            dump_skorch_state,
            is_module_estimator,
            is_skorch_estimator,
        )

        cls = type(obj)
        state = getattr(obj, "__dict__", None)
        if (
            not isinstance(state, dict)
            or getattr(cls, "__slots__", ())
            or cls.__new__ is not object.__new__
            or isinstance(obj, (list, tuple, dict, set, frozenset, str, bytes, int, float))
            or isinstance(obj, (np.ndarray, np.generic))
        ):
            raise ValueError(
                f"Cannot save {where}: the state of a {_fullname(cls)} is not a plain instance "
                "dict (subclasses of built-in containers or arrays, and extension types, are "
                "not supported)."
            )
        node = {"t": "object", **self._path(cls, where)}
        state = dict(state)
        if is_skorch_estimator(obj):
            node["torch"], skipped = dump_skorch_state(obj, self, f"{where}.net_")
            for key in skipped:
                state.pop(key, None)
        elif is_module_estimator(obj):
            node["torch"], skipped = dump_module_state(obj, self, where)
            for key in skipped:
                state.pop(key, None)
        params = {}
        if isinstance(obj, BaseEstimator):
            names = obj.get_params(deep=False)
            params = {k: state.pop(k) for k in list(names) if k in state}
        for key in (*params, *state):
            if not isinstance(key, str):
                raise ValueError(f"Cannot save {where}: attribute name {key!r} is not a string.")
        node["params"] = [[k, self.encode(v, f"{where}.{k}")] for k, v in params.items()]
        node["attrs"] = [[k, self.encode(v, f"{where}.{k}")] for k, v in state.items()]
        return node


# ---------------------------------------------------------------------- trust and loading
def resolve(module, qualname):
    """Import ``module`` and return its attribute ``qualname`` (dotted for nested classes),
    checking that the object found reports that same module and qualified name."""
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if getattr(obj, "__module__", None) != module or getattr(obj, "__qualname__", None) != qualname:
        raise LookupError(f"{module}.{qualname} is a re-export or an alias")
    return obj


def referenced_names(node):
    """Every ``module.qualname`` that the tree names (classes, functions, object types)."""
    found = set()
    stack = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ArchiveError("The file is corrupted: its object tree is nested too deeply.")
        if isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, dict):
            if item.get("t") in ("class", "function", "object"):
                module, name = item.get("module"), item.get("name")
                if not isinstance(module, str) or not isinstance(name, str):
                    raise ArchiveError("The file is corrupted: a type without a name.")
                found.add(f"{module}.{name}")
            stack.extend((v, depth + 1) for v in item.values())
    return found


def untrusted_names(names, trusted):
    """Names neither under ``SAFE_PREFIXES`` nor in ``trusted``."""
    trusted = set(trusted or ())
    return {n for n in names if not n.startswith(SAFE_PREFIXES) and n not in trusted}


class Decoder:
    """Builds the objects of a tagged JSON tree (after the trust check).

    Parameters
    ----------
    reader : ArchiveReader
        Source of the arrays and tensors.
    """

    def __init__(self, reader):
        self.reader = reader

    def _fail(self, message):
        raise ArchiveError(f"The file is corrupted: {message}.")

    def decode(self, node, depth=0):
        if depth > MAX_DEPTH:
            self._fail("its object tree is nested too deeply")
        if node is None or isinstance(node, (bool, str, int, float)):
            return node
        if isinstance(node, list):
            return [self.decode(v, depth + 1) for v in node]
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            self._fail(f"unexpected node {str(node)[:80]!r}")
        method = getattr(self, f"_decode_{node['t']}", None)
        if method is None:
            self._fail(f"unknown node type {node['t']!r}")
        try:
            return method(node, depth + 1)
        except ArchiveError:
            raise
        except UntrustedTypesError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            self._fail(f"bad {node['t']!r} node ({type(exc).__name__}: {str(exc)[:200]})")

    def _items(self, node, depth):
        items = node["items"]
        if not isinstance(items, list):
            raise TypeError("items is not a list")
        return [self.decode(v, depth) for v in items]

    def _decode_float(self, node, depth):
        if node["v"] not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad float {node['v']!r}")
        return float(node["v"])

    def _decode_complex(self, node, depth):
        return complex(self.decode(node["re"], depth), self.decode(node["im"], depth))

    def _decode_tuple(self, node, depth):
        return tuple(self._items(node, depth))

    def _decode_set(self, node, depth):
        return set(self._items(node, depth))

    def _decode_frozenset(self, node, depth):
        return frozenset(self._items(node, depth))

    def _decode_dict(self, node, depth):
        out = {}
        for pair in node["items"]:
            key, value = pair
            out[self.decode(key, depth)] = self.decode(value, depth)
        return out

    def _decode_bytes(self, node, depth):
        return bytes.fromhex(node["hex"])

    def _safe_dtype(self, text):
        if not isinstance(text, str) or len(text) > 16:
            raise ValueError(f"bad dtype {text!r}")
        dtype = np.dtype(text)
        if dtype.fields is not None or dtype.kind not in "biufcUSO":
            raise ValueError(f"unsupported dtype {text!r}")
        return dtype

    def _decode_scalar(self, node, depth):
        dtype = self._safe_dtype(node["dtype"])
        if dtype.kind == "O":
            raise ValueError("object scalar")
        return dtype.type(self.decode(node["v"], depth))

    def _decode_dtype(self, node, depth):
        return self._safe_dtype(node["v"])

    def _decode_scalar_type(self, node, depth):
        return self._safe_dtype(node["v"]).type

    def _decode_builtin_type(self, node, depth):
        return _BUILTIN_TYPES[node["v"]]

    def _shape(self, shape):
        if (
            not isinstance(shape, list)
            or not all(type(s) is int and 0 <= s < 2**62 for s in shape)
            or len(shape) > 64
        ):
            raise ValueError(f"bad shape {shape!r}")
        return tuple(shape)

    def _decode_array(self, node, depth):
        dtype = self._safe_dtype(node["dtype"])
        if dtype.hasobject:
            raise ValueError("object dtype in an array member")
        return self.reader.array(node["file"], dtype.str, self._shape(node["shape"]))

    def _decode_objarray(self, node, depth):
        shape = self._shape(node["shape"])
        items = self._items(node, depth)
        if math.prod(shape) != len(items):
            raise ValueError("item count does not match the shape")
        arr = np.empty(len(items), dtype=object)
        for i, item in enumerate(items):  # one by one: sequences must not broadcast
            arr[i] = item
        return arr.reshape(shape)

    def _decode_masked(self, node, depth):
        data = self.decode(node["data"], depth)
        mask = self.decode(node["mask"], depth)
        if not isinstance(data, np.ndarray) or not isinstance(mask, np.ndarray):
            raise TypeError("masked array parts are not arrays")
        return np.ma.MaskedArray(data, mask=mask, fill_value=self.decode(node["fill_value"], depth))

    def _decode_ufunc(self, node, depth):
        func = getattr(np, node["v"], None) if isinstance(node["v"], str) else None
        if not isinstance(func, np.ufunc):
            raise ValueError(f"{node['v']!r} is not a NumPy ufunc")
        return func

    def _decode_random_state(self, node, depth):
        rs = np.random.RandomState()
        rs.set_state(self.decode(node["state"], depth))
        return rs

    def _decode_generator(self, node, depth):
        if node["bit_generator"] not in _BIT_GENERATORS:
            raise ValueError(f"unknown bit generator {node['bit_generator']!r}")
        bg = getattr(np.random, node["bit_generator"])()
        bg.state = self.decode(node["state"], depth)
        return np.random.Generator(bg)

    def _decode_skorch_history(self, node, depth):
        from skorch.history import History

        return History(self.decode(node["items"], depth))

    def _decode_torch_device(self, node, depth):
        import torch

        return torch.device(node["v"])

    def _decode_tensor(self, node, depth):
        tensors = self.reader.tensors(node["file"])
        if set(tensors) != {"tensor"}:
            raise ValueError("a tensor member must hold one tensor named 'tensor'")
        return tensors["tensor"]

    def _resolve(self, node):
        module, name = node["module"], node["name"]
        if not _MODULE_RE.match(module) or not _QUALNAME_RE.match(name):
            raise ValueError(f"bad name {module}.{name}")
        try:
            return resolve(module, name)
        except Exception as exc:  # noqa: BLE001 - import errors of any kind
            raise ArchiveError(
                f"Cannot load {module}.{name}: it is not importable here "
                f"({type(exc).__name__}: {str(exc)[:200]})."
            ) from None

    def _decode_class(self, node, depth):
        cls = self._resolve(node)
        if not isinstance(cls, type):
            raise TypeError(f"{node['module']}.{node['name']} is not a class")
        return cls

    def _decode_function(self, node, depth):
        func = self._resolve(node)
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"{node['module']}.{node['name']} is not a function")
        return func

    def _decode_object(self, node, depth):
        cls = self._decode_class(node, depth)
        state = {}
        for key in ("params", "attrs"):
            for name, value in node[key]:
                if not isinstance(name, str):
                    raise TypeError("attribute name is not a string")
                state[name] = self.decode(value, depth)
        obj = cls.__new__(cls)
        vars(obj).update(state)
        if "torch" in node:
            from ._torch import restore_module_state, restore_skorch_state

            torch_node = node["torch"]
            if not isinstance(torch_node, dict):
                raise TypeError("the torch node is not an object")
            kind = torch_node.get("kind", "skorch")
            if kind == "module":
                restore_module_state(obj, torch_node, self, depth)
            elif kind == "skorch":
                restore_skorch_state(obj, torch_node, self, depth)
            else:
                raise ValueError(f"unknown torch node kind {kind!r}")
        return obj
