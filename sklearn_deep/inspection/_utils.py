"""Shared plumbing of :mod:`sklearn_deep.inspection`: estimator checks, the float64 eval copy of
a fitted module, targets, layer lookup, hooks, guided ReLUs and batching."""

import copy
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = []

_DEFAULT_BATCH_SIZE = 256


def _check_estimator(estimator, caller):
    """Raise TypeError unless ``estimator`` is a sklearn_deep neural classifier, and
    NotFittedError unless it is fitted."""
    from ..neural_network import BaseNeuralClassifier

    if not isinstance(estimator, BaseNeuralClassifier):
        raise TypeError(
            f"{caller} needs a fitted sklearn_deep neural classifier (CNNClassifier, "
            f"LSTMClassifier, TransformerClassifier or another BaseNeuralClassifier), got "
            f"{type(estimator).__name__}: it has no differentiable torch module to inspect."
        )
    check_is_fitted(estimator)


def _check_batch_size(batch_size):
    if batch_size is None:
        return _DEFAULT_BATCH_SIZE
    if isinstance(batch_size, (bool, np.bool_)) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"batch_size must be a positive int, got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got batch_size={batch_size}.")
    return int(batch_size)


def _prepare(estimator, X, caller, *, float_input=True):
    """Validate X as the estimator's ``predict`` does and return ``(X_orig, X_module)``.

    ``X_orig`` is ``np.asarray(X)`` (never written to); ``X_module`` is the array the module
    takes, of shape (n, *sample_shape).
    """
    _check_estimator(estimator, caller)
    X_orig = np.asarray(X)
    X_mod = estimator._prepare_X(X, reset=False)
    if tuple(X_mod.shape[1:]) != tuple(estimator._sample_shape):
        raise ValueError(
            f"X has samples of shape {tuple(X_mod.shape[1:])}, but {type(estimator).__name__} "
            f"was fitted on samples of shape {tuple(estimator._sample_shape)}."
        )
    if float_input and not np.issubdtype(X_mod.dtype, np.floating):
        raise TypeError(
            f"{caller} needs real-valued input, but {type(estimator).__name__} takes integer "
            f"token ids; use token_saliency for token models."
        )
    return X_orig, X_mod


def _device(estimator):
    device = estimator.net_.device
    return torch.device(device if device is not None else "cpu")


def _eval_copy(estimator, dtype=torch.float64):
    """Deep copy of the fitted module in ``dtype``, eval mode, parameters frozen.

    The estimator's own module is never touched, so its ``training`` flags and
    ``requires_grad`` are unchanged by every inspection function.
    """
    module = copy.deepcopy(estimator.module_).to(device=_device(estimator), dtype=dtype)
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


@contextmanager
def frozen_eval(module):
    """Put ``module`` in eval mode with frozen parameters; restore both on exit."""
    modes = [(m, m.training) for m in module.modules()]
    grads = [(p, p.requires_grad) for p in module.parameters()]
    try:
        module.eval()
        for p, _ in grads:
            p.requires_grad_(False)
        yield module
    finally:
        for m, training in modes:
            m.training = training
        for p, flag in grads:
            p.requires_grad_(flag)


def _grad_context(module, device):
    """Gradients on, and cuDNN off on CUDA when the module holds an RNN (cuDNN's RNN backward
    only runs in train mode; eval mode with cuDNN off gives the same numbers)."""
    has_rnn = any(isinstance(m, nn.RNNBase) for m in module.modules())
    if device.type == "cuda" and has_rnn:
        return torch.backends.cudnn.flags(enabled=False)
    return nullcontext()


def _to_tensor(X, device, dtype=torch.float64):
    X = np.asarray(X)
    if np.issubdtype(X.dtype, np.floating):
        t = torch.tensor(X, dtype=dtype)
    else:
        t = torch.tensor(X, dtype=torch.int64)
    return t.to(device)


def _batches(n, batch_size):
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def _logits_of(module, X_mod, device, batch_size):
    """Float64 logits of the eval copy, batched, no gradients."""
    out = []
    with torch.no_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            out.append(module(_to_tensor(X_mod[sl], device)).cpu().numpy())
    return np.concatenate(out) if out else np.empty((0, 0))


def _resolve_target(estimator, target, n, logits_fn, name="target"):
    """Class codes (n,) for ``target`` labels; None means the predicted class."""
    if target is None:
        return np.argmax(logits_fn(), axis=1)
    classes = estimator.classes_
    target = np.asarray(target)
    if target.ndim == 0:
        target = np.full(n, target.item(), dtype=object if target.dtype == object else None)
    if target.shape != (n,):
        raise ValueError(
            f"{name} must be a class label or an array of shape (n_samples,)=({n},), got shape "
            f"{target.shape}."
        )
    codes = np.searchsorted(classes, target)
    codes = np.clip(codes, 0, len(classes) - 1)
    bad = classes[codes] != target
    if np.any(bad):
        raise ValueError(
            f"{name} contains labels {np.unique(target[bad]).tolist()} that are not in "
            f"classes_ {classes.tolist()}."
        )
    return codes.astype(np.int64)


def _find_layer(module, layer, caller, *, default="conv"):
    """Return ``(name, submodule)``. ``layer=None``: the last nn.Conv1d/2d/3d."""
    named = dict(module.named_modules())
    if layer is None:
        if default is None:
            raise ValueError(f"{caller} needs a layer name; candidates: {_candidates(named)}.")
        convs = [
            (k, m) for k, m in named.items() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
        ]
        if not convs:
            raise ValueError(
                f"{caller}: the network has no convolution layer; pass layer= one of "
                f"{_candidates(named)}."
            )
        return convs[-1]
    if isinstance(layer, nn.Module):
        for k, m in named.items():
            if m is layer:
                return k, m
        raise ValueError(f"{caller}: layer is not a submodule of estimator.module_.")
    if not isinstance(layer, str) or layer not in named or layer == "":
        raise ValueError(
            f"{caller}: layer={layer!r} is not a submodule of estimator.module_; valid layer "
            f"names are {_candidates(named)}."
        )
    return layer, named[layer]


def _candidates(named):
    return [k for k in named if k]


def _first_tensor(out):
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"the layer returned {type(out).__name__}, not a tensor")


@contextmanager
def capture_output(submodule, *, make_leaf=False):
    """Record the (first tensor) output of ``submodule`` in ``store['out']``.

    ``make_leaf=True`` replaces the output by a detached copy that requires grad, so that
    gradients with respect to that layer can be read from ``store['out'].grad``. The network
    always continues with a *clone* of the recorded tensor, so that an in-place operation
    downstream (``nn.ReLU(inplace=True)``) cannot overwrite it.
    """
    store = {}

    def hook(mod, inputs, out):
        t = _first_tensor(out)
        if make_leaf:
            t = t.detach().clone().requires_grad_(True)
        store["out"] = t
        passed_on = t.clone()
        if isinstance(out, torch.Tensor):
            return passed_on
        return type(out)([passed_on, *out[1:]])

    handle = submodule.register_forward_hook(hook)
    try:
        yield store
    finally:
        handle.remove()


# ---------------------------------------------------------------------- guided backprop
class _GuidedReLUFunction(torch.autograd.Function):
    """ReLU whose backward pass lets through only positive gradients at positive inputs."""

    @staticmethod
    def forward(ctx, x):
        out = x.clamp(min=0)
        ctx.save_for_backward(out)  # the output (not x): in-place callers overwrite x
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad.clamp(min=0) * (out > 0).to(grad.dtype)


def _relu_functions():
    import torch.nn.functional as F

    out_of_place = {F.relu, torch.relu, torch.Tensor.relu}
    in_place = {torch.relu_, torch.Tensor.relu_}
    if hasattr(F, "relu_"):
        in_place.add(F.relu_)
    return out_of_place, in_place


class GuidedReLUMode(TorchFunctionMode):
    """Torch-function mode that swaps every ReLU for the guided-backprop ReLU.

    Intercepts ``nn.ReLU`` modules (``inplace`` or not, through ``F.relu``),
    ``torch.nn.functional.relu`` / ``relu_``, ``torch.relu`` / ``torch.relu_`` and
    ``Tensor.relu`` / ``Tensor.relu_``. Other activations (GELU, LeakyReLU, ``clamp``)
    back-propagate as usual.
    """

    def __init__(self):
        super().__init__()
        self._out, self._in = _relu_functions()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        import torch.nn.functional as F

        inplace = func in self._in or (func is F.relu and bool(kwargs.get("inplace", False)))
        if func in self._out or func in self._in:
            x = args[0]
            out = _GuidedReLUFunction.apply(x)
            if inplace:
                x.copy_(out)  # the mode is off inside this call: a plain copy
                return x
            return out
        return func(*args, **kwargs)


def _as_output(array, X_orig):
    """Reshape a module-shaped array to the user's X layout."""
    return np.asarray(array).reshape(X_orig.shape)
