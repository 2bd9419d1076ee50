"""Activations: layer outputs, Gram matrices, activation maximisation and DeepDream."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import Bunch, check_random_state

from ._adversarial import _check_clip
from ._utils import (
    _batches,
    _check_batch_size,
    _check_estimator,
    _device,
    _eval_copy,
    _find_layer,
    _grad_context,
    _prepare,
    _resolve_target,
    _to_tensor,
    capture_output,
)

__all__ = ["layer_activations", "gram_matrix", "activation_maximization", "deep_dream"]


def _require_layer(module, layer, caller):
    if layer is None:
        raise ValueError(
            f"{caller} needs layer=, one of {[k for k, _ in module.named_modules() if k]}."
        )
    return _find_layer(module, layer, caller)


def layer_activations(estimator, X, *, layer, batch_size=None):
    """Output of one layer of the network for every sample.

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on.
    layer : str
        Name of a submodule in ``estimator.module_.named_modules()`` (a wrong name lists the
        valid ones). For a layer returning a tuple (an LSTM), the first element.
    batch_size : int, default=None
        Rows per forward pass (None: 256).

    Returns
    -------
    activations : ndarray of shape (n_samples, *layer_output_shape), float64

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import layer_activations
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), channels=(6, 16), kernel_size=3,
    ...                     max_epochs=2, random_state=0).fit(X[:300] / 16, y[:300])
    >>> layer_activations(clf, X[:4] / 16, layer="features.0").shape
    (4, 6, 4, 4)
    """
    _, X_mod = _prepare(estimator, X, "layer_activations", float_input=False)
    batch_size = _check_batch_size(batch_size)
    device = _device(estimator)
    module = _eval_copy(estimator)
    _, sub = _require_layer(module, layer, "layer_activations")
    out = []
    with torch.no_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            with capture_output(sub) as store:
                module(_to_tensor(X_mod[sl], device))
            out.append(store["out"].detach().cpu().numpy().astype(np.float64))
    return np.concatenate(out)


def gram_matrix(estimator, X, *, layer, normalize=False, batch_size=None):
    """Gram matrices of a layer's feature maps, ``G_ij = sum_k F_ik F_jk`` (Gatys et al.).

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier
    X : array-like of shape (n_samples, ...)
        Samples.
    layer : str
        Layer whose output ``F`` of shape (n_samples, C, *spatial) is used, flattened to
        (n_samples, C, n_positions).
    normalize : bool, default=False
        Divide by the number of positions.
    batch_size : int, default=None
        Rows per forward pass.

    Returns
    -------
    gram : ndarray of shape (n_samples, C, C), float64
        Symmetric positive semidefinite matrices.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import gram_matrix
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), channels=(6, 16), kernel_size=3,
    ...                     max_epochs=2, random_state=0).fit(X[:300] / 16, y[:300])
    >>> gram_matrix(clf, X[:4] / 16, layer="features.1").shape
    (4, 16, 16)
    """
    A = layer_activations(estimator, X, layer=layer, batch_size=batch_size)
    if A.ndim < 2:
        raise ValueError(f"gram_matrix: layer {layer!r} has no channel axis.")
    Fm = A.reshape(A.shape[0], A.shape[1], -1)
    G = np.einsum("nik,njk->nij", Fm, Fm)
    if normalize:
        G /= Fm.shape[2]
    return G


def _user_shape(estimator):
    """Shape of one sample as the user passes it (flat when fitted on 2-D X)."""
    shape = tuple(estimator._sample_shape)
    n_in = getattr(estimator, "n_features_in_", None)
    if len(shape) >= 2 and n_in == int(np.prod(shape)) and n_in != shape[0]:
        return (n_in,)
    return shape


def _check_positive(value, name, kind=Real):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, kind) or value <= 0:
        raise ValueError(f"{name} must be positive, got {name}={value!r}.")


def _unit_objective(out, unit):
    """Mean activation of ``unit`` in a layer output (channel mean over space) or a logit."""
    if out.ndim == 2:
        return out[:, unit]
    return out[:, unit].reshape(out.shape[0], -1).mean(dim=1)


def activation_maximization(
    estimator,
    *,
    unit,
    layer=None,
    n_steps=200,
    lr=0.05,
    l2=1e-2,
    clip=None,
    init_scale=0.01,
    random_state=None,
):
    """Synthesise an input that maximises one unit (gradient ascent on the input).

    Maximises ``activation - l2 * mean(x ** 2)`` with Adam from small random noise, projecting
    onto ``clip`` after every step (Erhan et al., 2009; Olah et al., 2017).

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier on real-valued input
    unit : class label or int
        With ``layer=None``, a class label (value of ``classes_``) whose logit is maximised;
        with a layer, the index of a channel (its mean over space) or of a feature.
    layer : str or None, default=None
        Layer name; None uses the logits.
    n_steps : int, default=200
        Adam steps.
    lr : float, default=0.05
        Adam learning rate, in units of X.
    l2 : float, default=1e-2
        Weight of the L2 penalty on the input.
    clip : (float or None, float or None), default=None
        Valid range of the input values.
    init_scale : float, default=0.01
        Standard deviation of the initial noise.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial noise.

    Returns
    -------
    result : Bunch
        ``X`` (ndarray of shape (1, *sample_shape), in the user's layout: (1, n_features) for
        an estimator fitted on 2-D X), ``activation`` (float, the final value of the unit) and
        ``history`` (ndarray of shape (n_steps,), the unit's value before every step).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import activation_maximization
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), channels=(6, 16), kernel_size=3,
    ...                     max_epochs=2, random_state=0).fit(X[:300] / 16, y[:300])
    >>> res = activation_maximization(clf, unit=3, n_steps=50, clip=(0, 1), random_state=0)
    >>> res.X.shape, bool(res.activation > res.history[0])
    ((1, 64), True)
    """
    _check_estimator(estimator, "activation_maximization")
    _check_positive(n_steps, "n_steps", Integral)
    _check_positive(lr, "lr")
    lo, hi = _check_clip(clip)
    shape = tuple(estimator._sample_shape)
    device = _device(estimator)
    module = _eval_copy(estimator)
    rs = check_random_state(random_state)
    x0 = rs.normal(0.0, init_scale, size=(1, *shape))
    if lo is not None or hi is not None:
        x0 = np.clip(x0 + (0.5 * (lo + hi) if lo is not None and hi is not None else 0), lo, hi)
    if layer is None:
        (code,) = _resolve_target(estimator, unit, 1, None, "unit")
        sub = None
    else:
        _, sub = _find_layer(module, layer, "activation_maximization")
        code = int(unit)
    x = _to_tensor(x0, device).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    history = np.empty(n_steps)
    with _grad_context(module, device), torch.enable_grad():
        for i in range(n_steps):
            opt.zero_grad()
            value = _forward_unit(module, sub, x, code)
            history[i] = float(value.detach())
            loss = -value + l2 * (x**2).mean()
            loss.backward()
            opt.step()
            if lo is not None or hi is not None:
                with torch.no_grad():
                    x.clamp_(min=lo, max=hi)
        with torch.no_grad():
            final = float(_forward_unit(module, sub, x, code))
    X = x.detach().cpu().numpy().reshape(1, *_user_shape(estimator))
    return Bunch(X=X, activation=final, history=history)


def _forward_unit(module, sub, x, code):
    if sub is None:
        return module(x)[0, code]
    with capture_output(sub) as store:
        module(x)
    return _unit_objective(store["out"], code)[0]


def deep_dream(estimator, X, *, layer, n_steps=20, step_size=0.01, clip=None, batch_size=None):
    """DeepDream: amplify what a layer already sees in X ("rich get richer").

    Gradient ascent on ``0.5 * mean(A ** 2)`` of the layer's output ``A``, with steps
    ``step_size * g / mean(|g|)`` (normalised per sample) and the projection onto ``clip``.

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier on real-valued input
    X : array-like of shape (n_samples, ...)
        Starting samples (not modified).
    layer : str
        Layer name.
    n_steps : int, default=20
        Ascent steps.
    step_size : float, default=0.01
        Mean absolute change per step, in units of X.
    clip : (float or None, float or None), default=None
        Valid range of the input values.
    batch_size : int, default=None
        Rows per pass.

    Returns
    -------
    X_dream : ndarray of X's shape, float64

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import deep_dream
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), channels=(6, 16), kernel_size=3,
    ...                     max_epochs=2, random_state=0).fit(X[:300] / 16, y[:300])
    >>> deep_dream(clf, X[:2] / 16, layer="features.1", n_steps=5, clip=(0, 1)).shape
    (2, 64)
    """
    X_orig, X_mod = _prepare(estimator, X, "deep_dream")
    _check_positive(n_steps, "n_steps", Integral)
    _check_positive(step_size, "step_size")
    lo, hi = _check_clip(clip)
    batch_size = _check_batch_size(batch_size)
    device = _device(estimator)
    module = _eval_copy(estimator)
    _, sub = _require_layer(module, layer, "deep_dream")
    out = np.empty(X_mod.shape, dtype=np.float64)
    with _grad_context(module, device), torch.enable_grad():
        for sl in _batches(X_mod.shape[0], batch_size):
            x = _to_tensor(X_mod[sl], device)
            for _ in range(n_steps):
                x.requires_grad_(True)
                with capture_output(sub) as store:
                    module(x)
                A = store["out"]
                obj = 0.5 * (A**2).reshape(A.shape[0], -1).mean(dim=1).sum()
                (g,) = torch.autograd.grad(obj, x)
                scale = g.abs().reshape(g.shape[0], -1).mean(dim=1).clamp(min=1e-12)
                g = g / scale.reshape(-1, *([1] * (g.ndim - 1)))
                x = x.detach() + step_size * g
                if lo is not None or hi is not None:
                    x = x.clamp(min=lo, max=hi)
            out[sl] = x.detach().cpu().numpy()
    return out.reshape(X_orig.shape)
