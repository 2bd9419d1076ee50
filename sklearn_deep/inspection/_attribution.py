"""Gradient attributions: saliency maps, guided backprop, Grad-CAM, CAM, token saliency."""

from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._utils import (
    GuidedReLUMode,
    _as_output,
    _batches,
    _check_batch_size,
    _check_estimator,
    _device,
    _eval_copy,
    _find_layer,
    _grad_context,
    _logits_of,
    _prepare,
    _resolve_target,
    _to_tensor,
    capture_output,
)

__all__ = ["saliency_map", "grad_cam", "class_activation_map", "token_saliency"]

_METHODS = ("gradient", "guided_backprop", "grad_x_input")


def _target_logit(logits, codes):
    return logits.gather(1, codes[:, None]).sum()


def _input_gradients(module, X_mod, codes, device, batch_size, *, guided=False):
    """d logit[target] / d x for every row, float64 ndarray of X_mod's shape."""
    out = np.empty(X_mod.shape, dtype=np.float64)
    with _grad_context(module, device), torch.enable_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            x = _to_tensor(X_mod[sl], device).requires_grad_(True)
            with GuidedReLUMode() if guided else nullcontext():
                logits = module(x)
            c = torch.as_tensor(codes[sl], device=device)
            (grad,) = torch.autograd.grad(_target_logit(logits, c), x)
            out[sl] = grad.cpu().numpy()
    return out


def _setup(estimator, X, target, batch_size, caller):
    X_orig, X_mod = _prepare(estimator, X, caller)
    batch_size = _check_batch_size(batch_size)
    device = _device(estimator)
    module = _eval_copy(estimator)
    codes = _resolve_target(
        estimator,
        target,
        X_mod.shape[0],
        lambda: _logits_of(module, X_mod, device, batch_size),
    )
    return X_orig, X_mod, module, device, codes, batch_size


def saliency_map(estimator, X, *, target=None, method="gradient", batch_size=None):
    """Gradient of a class logit with respect to the input (Simonyan et al., 2014).

    Computed in float64 on an eval-mode copy of the fitted module (dropout off, batch
    normalisation on its running statistics); the estimator is left untouched.

    Parameters
    ----------
    estimator : fitted CNNClassifier, LSTMClassifier or TransformerClassifier
        A fitted sklearn_deep neural classifier on real-valued input (see
        :func:`token_saliency` for token ids).
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on.
    target : label or array-like of shape (n_samples,), default=None
        Class labels (values of ``classes_``) whose logit is explained; None explains the
        predicted class.
    method : {'gradient', 'guided_backprop', 'grad_x_input'}, default='gradient'
        'gradient': the signed gradient; 'guided_backprop': gradients passed backwards through
        every ReLU only where both the input and the incoming gradient are positive
        (Springenberg et al., 2015; ``nn.ReLU`` modules, in place or not, and functional
        ``relu``/``relu_`` calls are all guided, other activations back-propagate as usual);
        'grad_x_input': the gradient times the input.
    batch_size : int, default=None
        Rows per backward pass (None: 256).

    Returns
    -------
    saliency : ndarray of shape X.shape, float64
        The attribution of every input value.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import saliency_map
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:300] / 16, y[:300])
    >>> saliency_map(clf, X[:4] / 16).shape
    (4, 64)
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got method={method!r}.")
    X_orig, X_mod, module, device, codes, batch_size = _setup(
        estimator, X, target, batch_size, "saliency_map"
    )
    grad = _input_gradients(
        module, X_mod, codes, device, batch_size, guided=method == "guided_backprop"
    )
    if method == "grad_x_input":
        grad = grad * np.asarray(X_mod, dtype=np.float64)
    return _as_output(grad, X_orig)


def _layer_grads(module, layer_mod, X_mod, codes, device, batch_size):
    """Activations A of ``layer_mod`` and d logit[target] / d A, as float64 ndarrays."""
    acts, grads = [], []
    with _grad_context(module, device), torch.enable_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            x = _to_tensor(X_mod[sl], device)
            with capture_output(layer_mod, make_leaf=True) as store:
                logits = module(x)
            A = store["out"]
            c = torch.as_tensor(codes[sl], device=device)
            (g,) = torch.autograd.grad(_target_logit(logits, c), A, allow_unused=True)
            g = torch.zeros_like(A) if g is None else g
            acts.append(A.detach().cpu().numpy())
            grads.append(g.cpu().numpy())
    return np.concatenate(acts), np.concatenate(grads)


def _upsample(maps, size):
    """Bilinear (2-D) or linear (1-D) resize of (n, *spatial) maps, align_corners=False."""
    t = torch.from_numpy(np.ascontiguousarray(maps))[:, None]
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[t.ndim - 2]
    return F.interpolate(t, size=tuple(size), mode=mode, align_corners=False)[:, 0].numpy()


def _check_spatial(A, name, caller):
    if A.ndim < 3:
        raise ValueError(
            f"{caller}: layer {name!r} outputs shape {A.shape[1:]} per sample, with no spatial "
            f"axes; choose a convolution (or later feature-map) layer."
        )


def grad_cam(
    estimator,
    X,
    *,
    target=None,
    layer=None,
    relu=True,
    upsample=True,
    guided=False,
    batch_size=None,
):
    """Gradient-weighted class activation maps (Selvaraju et al., 2017).

    The feature maps ``A`` (channels first) of ``layer`` are weighted by the spatial mean of
    the gradient of the target logit, ``sum_c mean(dy/dA_c) A_c``, rectified and resized to
    the input's spatial size.

    Parameters
    ----------
    estimator : fitted CNNClassifier (or another convolutional sklearn_deep classifier)
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on.
    target : label or array-like of shape (n_samples,), default=None
        Class labels to explain; None explains the predicted class.
    layer : str or None, default=None
        Name of a submodule in ``estimator.module_.named_modules()``; None takes the last
        convolution. A wrong name raises a ValueError that lists the valid names.
    relu : bool, default=True
        Keep the positive part of the map (as in the paper).
    upsample : bool, default=True
        Resize the map to the input's spatial size (bilinear for images, linear for 1-D
        signals, ``align_corners=False``); False returns it at the layer's resolution.
    guided : bool, default=False
        Return guided Grad-CAM: guided backprop times the upsampled map, of shape X.shape.
    batch_size : int, default=None
        Rows per backward pass (None: 256).

    Returns
    -------
    cam : ndarray of shape (n_samples, *spatial), float64
        ``spatial`` is the input's spatial shape (the layer's when ``upsample=False``); with
        ``guided=True`` an array of shape X.shape.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import grad_cam
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:300] / 16, y[:300])
    >>> grad_cam(clf, X[:4] / 16).shape
    (4, 8, 8)
    """
    X_orig, X_mod, module, device, codes, batch_size = _setup(
        estimator, X, target, batch_size, "grad_cam"
    )
    name, layer_mod = _find_layer(module, layer, "grad_cam")
    A, G = _layer_grads(module, layer_mod, X_mod, codes, device, batch_size)
    _check_spatial(A, name, "grad_cam")
    alpha = G.mean(axis=tuple(range(2, G.ndim)), keepdims=True)
    cam = (alpha * A).sum(axis=1)
    if relu:
        cam = np.maximum(cam, 0.0)
    spatial = X_mod.shape[2:]
    if upsample or guided:
        cam = _upsample(cam, spatial)
    if not guided:
        return cam
    gb = _input_gradients(module, X_mod, codes, device, batch_size, guided=True)
    return _as_output(gb * cam[:, None], X_orig)


def _final_linear(module):
    """The last ``nn.Linear`` of the network (the class-score layer)."""
    linears = [(k, m) for k, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("class_activation_map needs a network ending in an nn.Linear layer.")
    return linears[-1]


class _Recorder:
    """Forward hooks recording every candidate layer's output and the final linear input."""

    def __init__(self, named, linear):
        self.outputs, self.pooled = {}, None
        self._handles = [linear.register_forward_pre_hook(self._pre)]
        for k, m in named:
            self._handles.append(m.register_forward_hook(self._hook(k)))

    def _pre(self, module, inputs):
        self.pooled = inputs[0]

    def _hook(self, name):
        def hook(module, inputs, out):
            if isinstance(out, torch.Tensor):
                self.outputs[name] = out

        return hook

    def remove(self):
        for h in self._handles:
            h.remove()


def class_activation_map(
    estimator, X, *, target=None, layer=None, upsample=True, relu=False, batch_size=None
):
    """Class activation maps of a global-average-pooling -> linear network (Zhou et al., 2016).

    ``CAM_k = sum_c W[k, c] A_c`` where ``A`` is the feature map that is averaged over space
    and fed to the final linear layer of weights ``W``. For such a network this is the
    un-rectified Grad-CAM map at that layer times its number of positions.

    Parameters
    ----------
    estimator : fitted CNNClassifier
        A network whose head is global average pooling followed directly by one linear layer
        (e.g. ``CNNClassifier(head='gap', dense_units=())``).
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on.
    target : label or array-like of shape (n_samples,), default=None
        Class labels; None takes the predicted class.
    layer : str or None, default=None
        The pooled feature map's layer; None finds it (the last module whose output, averaged
        over space, is the final linear layer's input).
    upsample : bool, default=True
        Resize to the input's spatial size (bilinear / linear).
    relu : bool, default=False
        Keep the positive part only.
    batch_size : int, default=None
        Rows per forward pass (None: 256).

    Returns
    -------
    cam : ndarray of shape (n_samples, *spatial), float64

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import class_activation_map
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X.reshape(-1, 1, 8, 8) / 16
    >>> clf = CNNClassifier(channels=(8, 16), kernel_size=3, head="gap", dense_units=(),
    ...                     max_epochs=2, random_state=0).fit(X[:300], y[:300])
    >>> class_activation_map(clf, X[:4]).shape
    (4, 8, 8)
    """
    X_orig, X_mod, module, device, codes, batch_size = _setup(
        estimator, X, target, batch_size, "class_activation_map"
    )
    lin_name, linear = _final_linear(module)
    named = [(k, m) for k, m in module.named_modules() if k]
    if layer is not None:
        named = [_find_layer(module, layer, "class_activation_map")]
    maps = []
    chosen = None
    with torch.no_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            rec = _Recorder(named, linear)
            try:
                module(_to_tensor(X_mod[sl], device))
            finally:
                rec.remove()
            outputs, p = rec.outputs, rec.pooled
            if chosen is None:
                for k in reversed(list(outputs)):  # last executed first
                    A = outputs[k]
                    if A.ndim >= 3 and A.shape[:2] == p.shape:
                        if torch.allclose(A.mean(dim=tuple(range(2, A.ndim))), p, atol=1e-10):
                            chosen = k
                            break
                if chosen is None:
                    raise ValueError(
                        "class_activation_map needs a network whose final linear layer "
                        f"({lin_name!r}) reads the global average of a feature map; "
                        + (
                            f"layer {layer!r} is not that feature map."
                            if layer is not None
                            else "no layer's output averages to that layer's input (use "
                            "grad_cam for other networks)."
                        )
                    )
            A = outputs[chosen]
            W = linear.weight[torch.as_tensor(codes[sl], device=device)]  # (b, C)
            cam = torch.einsum("bc,bc...->b...", W, A)
            maps.append(cam.cpu().numpy())
    cam = np.concatenate(maps)
    if relu:
        cam = np.maximum(cam, 0.0)
    if upsample:
        cam = _upsample(cam, X_mod.shape[2:])
    return cam


def _token_embedding(module, xb):
    """The nn.Embedding that reads the token ids (its input has the ids' shape)."""
    embs = [m for m in module.modules() if isinstance(m, nn.Embedding)]
    if not embs:
        raise TypeError(
            "token_saliency needs a token model (an nn.Embedding reading the token ids)."
        )
    seen = []
    handles = [
        e.register_forward_hook(lambda m, inp, out: seen.append((m, inp[0].shape))) for e in embs
    ]
    try:
        with torch.no_grad():
            module(xb)
    finally:
        for h in handles:
            h.remove()
    for m, shape in seen:
        if tuple(shape) == tuple(xb.shape):
            return m
    return embs[0]


def token_saliency(estimator, X, *, target=None, method="grad_x_input", batch_size=None):
    """Per-token attributions of a token model, measured at the embedding output.

    Parameters
    ----------
    estimator : fitted LSTMClassifier or TransformerClassifier on token ids
    X : array-like of shape (n_samples, n_steps) of int
        Token ids.
    target : label or array-like of shape (n_samples,), default=None
        Class labels; None takes the predicted class.
    method : {'grad_x_input', 'gradient'}, default='grad_x_input'
        'grad_x_input': the gradient times the embedding, summed over the embedding axis
        (signed: positive tokens speak for the target); 'gradient': the L2 norm of the
        gradient at each token (measured near chance at finding the decisive token of a
        max-pooled LSTM, hence not the default).
    batch_size : int, default=None
        Rows per backward pass (None: 256).

    Returns
    -------
    saliency : ndarray of shape (n_samples, n_steps), float64

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deep.neural_network import LSTMClassifier
    >>> from sklearn_deep.inspection import token_saliency
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(1, 10, size=(200, 6))
    >>> y = (X == 3).any(axis=1).astype(int)
    >>> clf = LSTMClassifier(hidden_size=8, embedding_dim=8, max_epochs=2,
    ...                      random_state=0).fit(X, y)
    >>> token_saliency(clf, X[:5]).shape
    (5, 6)
    """
    if method not in ("grad_x_input", "gradient"):
        raise ValueError(f"method must be 'grad_x_input' or 'gradient', got method={method!r}.")
    _check_estimator(estimator, "token_saliency")
    X_orig, X_mod = _prepare(estimator, X, "token_saliency", float_input=False)
    if np.issubdtype(X_mod.dtype, np.floating):
        raise TypeError(
            f"token_saliency needs a token model, but {type(estimator).__name__} takes "
            "real-valued input; use saliency_map."
        )
    batch_size = _check_batch_size(batch_size)
    device = _device(estimator)
    module = _eval_copy(estimator)
    codes = _resolve_target(
        estimator, target, X_mod.shape[0], lambda: _logits_of(module, X_mod, device, batch_size)
    )
    emb = _token_embedding(module, _to_tensor(X_mod[:1], device))
    out = np.empty(X_mod.shape[:2], dtype=np.float64)
    with _grad_context(module, device), torch.enable_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            x = _to_tensor(X_mod[sl], device)
            with capture_output(emb, make_leaf=True) as store:
                logits = module(x)
            E = store["out"]
            c = torch.as_tensor(codes[sl], device=device)
            (g,) = torch.autograd.grad(_target_logit(logits, c), E)
            s = (g * E).sum(-1) if method == "grad_x_input" else g.norm(dim=-1)
            out[sl] = s.detach().cpu().numpy()
    return out.reshape(X_orig.shape[:2]) if X_orig.ndim == 2 else out
