"""Saving and rebuilding the fitted skorch net of a neural estimator.

A neural estimator is saved as its hyper-parameters and plain fitted attributes (``_tree``)
plus, for its fitted net, only data: the module's ``state_dict`` in a safetensors member, the
optimizer's state (tensors in the same member, the rest as JSON), the training history as
plain dicts and a few net settings. On load the net is rebuilt from the hyper-parameters by
the estimator itself (``est._make_net(...)`` then ``net.initialize()``), and the weights are
loaded into it: no torch module, callback or optimizer object is ever read from the file.

Everything that depends on the neural estimators' private interface lives in
:func:`dump_skorch_state` and :func:`restore_skorch_state`.

An estimator without a skorch net that holds a torch module ``module_`` built by a
zero-argument ``_build_module()`` (e.g. :class:`~sklearn_deep.neural_network.CausalLanguageModel`)
is saved the same way by :func:`dump_module_state` and :func:`restore_module_state`: the
module's ``state_dict`` and the state of every ``torch.optim`` optimizer attribute over the
module's parameters (e.g. ``_optimizer``) as data; on load the module is rebuilt by
``est._build_module()`` and the optimizer by its ``torch.optim`` class over the same
parameters.
"""

import numbers
import warnings

from ._archive import ArchiveError

# attributes of a neural estimator that are rebuilt, not saved by the generic object code
_REBUILT = ("net_", "module_", "history_")


def is_skorch_estimator(obj):
    """Whether ``obj`` is a fitted estimator holding a skorch net built by ``_make_net``."""
    from sklearn.base import BaseEstimator

    return (
        isinstance(obj, BaseEstimator)
        and "net_" in vars(obj)
        and callable(getattr(obj, "_make_net", None))
    )


def _fullname(obj):
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def dump_skorch_state(est, encoder, where):
    """The ``torch`` node of a fitted neural estimator, and the attribute names it covers.

    Parameters
    ----------
    est : BaseNeuralClassifier
        Fitted estimator: ``est.net_`` an initialised skorch net whose ``module_`` is
        ``est.module_``.
    encoder : Encoder
        Writes the tensors member and encodes the plain data.
    where : str
        Name of the net in error messages.

    Returns
    -------
    node : dict
        JSON node (see :func:`restore_skorch_state`).
    covered : tuple of str
        Attributes of ``est`` that the node replaces (``net_``, ``module_``, ``history_``).
    """
    import torch
    from safetensors.torch import save

    net = est.net_
    module = getattr(net, "module_", None)
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"Cannot save {where}: the net has no initialised torch module.")
    if vars(est).get("module_", module) is not module:
        raise ValueError(f"Cannot save {where}: module_ is not the net's module_.")
    tensors = {
        f"module.{k}": v.detach().to("cpu").contiguous().clone()
        for k, v in module.state_dict().items()
    }
    optimizer = None
    opt = getattr(net, "optimizer_", None)
    if isinstance(opt, torch.optim.Optimizer):
        optimizer = _dump_optimizer(opt, tensors, "optimizer", encoder, f"{where}.optimizer_")
    history = vars(est).get("history_", net.history)
    node = {
        "tensors": encoder.writer.add_tensors(save(tensors)),
        "module_class": _fullname(module),
        "training": bool(module.training),
        "device": str(net.device),
        "batch_size": encoder.encode(net.batch_size, where),
        "max_epochs": encoder.encode(net.max_epochs, where),
        "history": encoder.encode(list(history), f"{where}.history_"),
        "optimizer": optimizer,
    }
    return node, _REBUILT


def _dump_optimizer(opt, tensors, prefix, encoder, where):
    """The JSON node of optimizer ``opt``'s state; its tensors go into ``tensors`` under
    ``{prefix}.{index}.{name}`` keys (see :func:`_load_optimizer_state`)."""
    import torch

    sd = opt.state_dict()
    per_param = []
    for index, entries in sd["state"].items():
        plain = []
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                key = f"{prefix}.{index}.{name}"
                tensors[key] = value.detach().to("cpu").contiguous().clone()
                plain.append([name, {"t": "tensor_ref", "key": key}])
            else:
                plain.append([name, encoder.encode(value, where)])
        per_param.append([encoder.encode(index), plain])
    return {
        "class": _fullname(opt),
        "state": per_param,
        "param_groups": encoder.encode(sd["param_groups"], where),
    }


def _load_optimizer_state(opt, node, tensors, decoder, depth):
    """Load the state saved by :func:`_dump_optimizer` into the rebuilt optimizer ``opt``."""
    if opt is None or _fullname(opt) != node["class"]:
        raise ValueError(f"the rebuilt optimizer is not a {node['class']}")
    state = {}
    for index, entries in node["state"]:
        values = {}
        for name, value in entries:
            if isinstance(value, dict) and value.get("t") == "tensor_ref":
                values[name] = tensors[value["key"]]
            else:
                values[name] = decoder.decode(value, depth)
        state[decoder.decode(index, depth)] = values
    opt.load_state_dict(
        {"state": state, "param_groups": decoder.decode(node["param_groups"], depth)}
    )


def _load_device(saved):
    """The saved device when it exists here, else the CPU (a CUDA model on a CPU machine)."""
    import torch

    device = torch.device(saved)
    if device.type == "cuda" and not torch.cuda.is_available():
        return "cpu"
    if device.type not in ("cpu", "cuda"):
        return "cpu"
    return saved


def rebuild_net(est, device, batch_size, max_epochs):
    """A fresh, initialised skorch net for the fitted estimator ``est`` (weights random).

    The single place that builds a net for loading: ``est._make_net(sample_shape, n_classes,
    seed, n_samples)`` from the restored hyper-parameters and private fitted attributes, on
    ``device``, then ``net.initialize()`` in a forked torch RNG (the user's RNG is untouched).
    The estimator's attributes are restored afterwards, so that ``_make_net`` cannot change
    any fitted value (e.g. a budget recomputed from ``n_samples``).
    """
    import torch

    snapshot = dict(vars(est))
    try:
        est.device = device
        seed = est._seed() if isinstance(est.random_state, numbers.Integral) else 0
        n_samples = batch_size if isinstance(batch_size, int) and batch_size > 0 else 1
        with torch.random.fork_rng(devices=[]):
            net = est._make_net(tuple(est._sample_shape), len(est.classes_), seed, n_samples)
            net.initialize()
    finally:
        vars(est).clear()
        vars(est).update(snapshot)
    net.batch_size = batch_size
    net.max_epochs = max_epochs
    return net


def restore_skorch_state(est, node, decoder, depth):
    """Rebuild ``est.net_``, ``est.module_`` and ``est.history_`` from the ``torch`` node.

    Parameters
    ----------
    est : BaseNeuralClassifier
        Estimator whose hyper-parameters and plain fitted attributes are already restored.
    node : dict
        Written by :func:`dump_skorch_state`.
    decoder : Decoder
        Reads the tensors member and decodes the plain data.
    depth : int
        Nesting depth of the node (for the decoder's limit).
    """
    from skorch.history import History

    tensors = decoder.reader.tensors(node["tensors"])
    state = {k[len("module.") :]: v for k, v in tensors.items() if k.startswith("module.")}
    batch_size = decoder.decode(node["batch_size"], depth)
    max_epochs = decoder.decode(node["max_epochs"], depth)
    history = decoder.decode(node["history"], depth)
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise ArchiveError("The file is corrupted: the training history is not a list of dicts.")
    try:
        net = rebuild_net(est, _load_device(node["device"]), batch_size, max_epochs)
    except Exception as exc:  # noqa: BLE001 - the estimator's own errors, with context
        raise ArchiveError(
            f"Cannot rebuild the network of {type(est).__name__} from its saved "
            f"hyper-parameters ({type(exc).__name__}: {str(exc)[:300]})."
        ) from exc
    module = net.module_
    if _fullname(module) != node["module_class"]:
        raise ArchiveError(
            f"The saved {type(est).__name__} has a {node['module_class']} network, but this "
            f"version of sklearn-deep builds a {_fullname(module)} from the same "
            "hyper-parameters."
        )
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ArchiveError(
            f"The saved weights do not fit the {_fullname(module)} rebuilt from the saved "
            f"hyper-parameters ({str(exc)[:300]})."
        ) from None
    module.train(bool(node["training"]))
    if node.get("optimizer") is not None:
        _restore_optimizer(net, node["optimizer"], tensors, decoder, depth)
    net.history_ = History(history)
    est.net_ = net
    est.module_ = net.module_
    est.history_ = net.history_


def _restore_optimizer(net, node, tensors, decoder, depth):
    """Load the saved optimizer state (moments, step counts) so that ``warm_start`` and
    ``partial_fit`` continue exactly; on a mismatch, warn and keep the fresh optimizer."""
    opt = getattr(net, "optimizer_", None)
    try:
        _load_optimizer_state(opt, node, tensors, decoder, depth)
    except ArchiveError:
        raise
    except Exception as exc:  # noqa: BLE001 - predictions do not depend on it
        warnings.warn(
            f"The saved optimizer state could not be restored ({type(exc).__name__}: "
            f"{str(exc)[:200]}); further training (warm_start, partial_fit) starts from a "
            "fresh optimizer.",
            UserWarning,
            stacklevel=4,
        )


# ---------------------------------------------------------------------- module_ estimators
def is_module_estimator(obj):
    """Whether ``obj`` is a fitted estimator without a skorch net that holds a torch module
    ``module_`` built by a zero-argument ``_build_module()``."""
    import sys

    from sklearn.base import BaseEstimator

    state = vars(obj) if hasattr(obj, "__dict__") else {}
    if (
        not isinstance(obj, BaseEstimator)
        or "net_" in state
        or "module_" not in state
        or not callable(getattr(obj, "_build_module", None))
        or "torch" not in sys.modules
    ):
        return False
    import torch

    return isinstance(state["module_"], torch.nn.Module)


def _module_device(module):
    """The device of the module's first parameter or buffer (the CPU for an empty module)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return str(tensor.device)
    return "cpu"


def _optimizer_class(name):
    """The ``torch.optim`` optimizer class of full name ``name``, or None: only torch's own
    optimizers are rebuilt from a name in the file (no other code is named by it)."""
    import torch

    if not isinstance(name, str) or not name.startswith("torch.optim."):
        return None
    cls = getattr(torch.optim, name.rsplit(".", 1)[-1], None)
    if (
        not isinstance(cls, type)
        or not issubclass(cls, torch.optim.Optimizer)
        or cls is torch.optim.Optimizer
        or _fullname_cls(cls) != name
    ):
        return None
    return cls


def _fullname_cls(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def dump_module_state(est, encoder, where):
    """The ``torch`` node of a fitted estimator holding ``module_`` (see
    :func:`is_module_estimator`), and the attribute names it covers.

    Parameters
    ----------
    est : BaseEstimator
        Fitted estimator whose ``module_`` is a torch module built by ``est._build_module()``;
        every attribute holding a torch optimizer must be a ``torch.optim`` optimizer over
        parameters of ``module_``.
    encoder : Encoder
        Writes the tensors member and encodes the plain data.
    where : str
        Name of the estimator in error messages.

    Returns
    -------
    node : dict
        JSON node (see :func:`restore_module_state`).
    covered : tuple of str
        Attributes of ``est`` that the node replaces (``module_`` and the optimizers).
    """
    import torch
    from safetensors.torch import save

    module = vars(est)["module_"]
    tensors = {
        f"module.{k}": v.detach().to("cpu").contiguous().clone()
        for k, v in module.state_dict().items()
    }
    index = {id(p): i for i, p in enumerate(module.parameters())}
    optimizers = []
    for attr, opt in vars(est).items():
        if not isinstance(opt, torch.optim.Optimizer):
            continue
        if _optimizer_class(_fullname(opt)) is not type(opt):
            raise ValueError(
                f"Cannot save {where}.{attr}: {_fullname(opt)} is not one of torch.optim's "
                "optimizers (only those are rebuilt on load)."
            )
        groups = []
        for group in opt.param_groups:
            ids = [index.get(id(p)) for p in group["params"]]
            if None in ids:
                raise ValueError(
                    f"Cannot save {where}.{attr}: the optimizer updates tensors that are not "
                    "parameters of module_."
                )
            groups.append(ids)
        node = _dump_optimizer(opt, tensors, f"optim.{attr}", encoder, f"{where}.{attr}")
        node["attr"] = attr
        node["groups"] = groups
        optimizers.append(node)
    node = {
        "kind": "module",
        "tensors": encoder.writer.add_tensors(save(tensors)),
        "module_class": _fullname(module),
        "training": bool(module.training),
        "device": _module_device(module),
        "optimizers": optimizers,
    }
    return node, ("module_", *(o["attr"] for o in optimizers))


def rebuild_module(est):
    """A fresh module (random weights) from ``est._build_module()``, built in a forked torch
    RNG (the user's RNG is untouched); the estimator's attributes are restored afterwards so
    that ``_build_module`` cannot change any fitted value."""
    import torch

    snapshot = dict(vars(est))
    try:
        with torch.random.fork_rng(devices=[]):
            module = est._build_module()
    finally:
        vars(est).clear()
        vars(est).update(snapshot)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"_build_module() returned a {type(module).__name__}, not a torch module")
    return module


def restore_module_state(est, node, decoder, depth):
    """Rebuild ``est.module_`` and its optimizers from the ``torch`` node.

    Parameters
    ----------
    est : BaseEstimator
        Estimator whose hyper-parameters and plain fitted attributes are already restored.
    node : dict
        Written by :func:`dump_module_state`.
    decoder : Decoder
        Reads the tensors member and decodes the plain data.
    depth : int
        Nesting depth of the node (for the decoder's limit).
    """

    if not callable(getattr(est, "_build_module", None)):
        raise ArchiveError(
            f"The file is corrupted: {type(est).__name__} has no _build_module to rebuild its "
            "torch module."
        )
    tensors = decoder.reader.tensors(node["tensors"])
    state = {k[len("module.") :]: v for k, v in tensors.items() if k.startswith("module.")}
    optimizers = node["optimizers"]
    if not isinstance(optimizers, list):
        raise TypeError("optimizers is not a list")
    try:
        module = rebuild_module(est)
    except Exception as exc:  # noqa: BLE001 - the estimator's own errors, with context
        raise ArchiveError(
            f"Cannot rebuild the torch module of {type(est).__name__} from its saved "
            f"hyper-parameters ({type(exc).__name__}: {str(exc)[:300]})."
        ) from exc
    if _fullname(module) != node["module_class"]:
        raise ArchiveError(
            f"The saved {type(est).__name__} has a {node['module_class']} module, but this "
            f"version of sklearn-deep builds a {_fullname(module)} from the same "
            "hyper-parameters."
        )
    expected = module.state_dict()
    mismatch = [k for k, v in state.items() if k in expected and expected[k].dtype != v.dtype]
    try:
        if mismatch:
            raise ValueError(f"dtype mismatch for {mismatch[:5]}")
        module.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise ArchiveError(
            f"The saved weights do not fit the {_fullname(module)} rebuilt from the saved "
            f"hyper-parameters ({str(exc)[:300]})."
        ) from None
    module.to(_load_device(node["device"]))
    module.train(bool(node["training"]))
    est.module_ = module
    params = list(module.parameters())
    for opt_node in optimizers:
        attr = opt_node["attr"]
        if not isinstance(attr, str) or attr in ("module_", "__dict__") or attr in vars(est):
            raise ValueError(f"bad optimizer attribute {attr!r}")
        cls = _optimizer_class(opt_node["class"])
        if cls is None:
            raise ArchiveError(
                f"The file is corrupted: {opt_node['class']!r} is not a torch.optim optimizer."
            )
        groups = opt_node["groups"]
        if not isinstance(groups, list) or not all(
            isinstance(g, list) and all(type(i) is int and 0 <= i < len(params) for i in g)
            for g in groups
        ):
            raise ValueError("bad optimizer parameter groups")
        try:
            opt = cls([{"params": [params[i] for i in g]} for g in groups])
        except Exception as exc:  # noqa: BLE001 - torch's own errors, with context
            raise ArchiveError(
                f"Cannot rebuild the optimizer {attr} of {type(est).__name__} "
                f"({type(exc).__name__}: {str(exc)[:200]})."
            ) from None
        try:
            _load_optimizer_state(opt, opt_node, tensors, decoder, depth)
        except ArchiveError:
            raise
        except Exception as exc:  # noqa: BLE001 - predictions do not depend on it
            opt = cls([{"params": [params[i] for i in g]} for g in groups])
            _apply_group_settings(opt, opt_node, decoder, depth)
            warnings.warn(
                f"The saved state of the optimizer {attr} could not be restored "
                f"({type(exc).__name__}: {str(exc)[:200]}); further training (warm_start) "
                "starts from a fresh optimizer with the saved settings.",
                UserWarning,
                stacklevel=4,
            )
        setattr(est, attr, opt)


def _apply_group_settings(opt, node, decoder, depth):
    """Copy the saved hyper-parameters (lr, weight_decay, ...) of each parameter group onto
    the fresh optimizer ``opt``, where the names and group count agree."""
    try:
        saved = decoder.decode(node["param_groups"], depth)
    except ArchiveError:
        return
    if not isinstance(saved, list) or len(saved) != len(opt.param_groups):
        return
    for group, values in zip(opt.param_groups, saved):
        if isinstance(values, dict):
            group.update({k: v for k, v in values.items() if k != "params" and k in group})
