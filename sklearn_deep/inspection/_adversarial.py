"""Adversarial examples (FGSM, PGD), robustness curves and adversarial training."""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import Bunch, check_random_state
from skorch.callbacks import Callback

from ._utils import (
    _as_output,
    _batches,
    _check_batch_size,
    _check_estimator,
    _device,
    _eval_copy,
    _grad_context,
    _logits_of,
    _prepare,
    _resolve_target,
    _to_tensor,
    frozen_eval,
)

__all__ = ["fgsm", "pgd", "adversarial_accuracy", "AdversarialTraining"]


def _check_eps(eps, name="eps"):
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, Real) or not np.isfinite(eps):
        raise TypeError(f"{name} must be a finite real number, got {eps!r}.")
    if eps < 0:
        raise ValueError(f"{name} must be >= 0, got {name}={eps}.")
    return float(eps)


def _check_clip(clip):
    if clip is None:
        return None, None
    try:
        lo, hi = clip
    except (TypeError, ValueError):
        raise ValueError(f"clip must be None or a pair (low, high), got clip={clip!r}.") from None
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo is not None and hi is not None and not lo <= hi:
        raise ValueError(f"clip=(low, high) needs low <= high, got clip={clip!r}.")
    return lo, hi


def _attack_tensor(module, x, y, *, eps, step_size, n_steps, clip, targeted, start=None):
    """Projected sign-gradient attack on a tensor batch (FGSM is one step without a start).

    ``module`` must already be in eval mode with frozen parameters; ``x`` (float) and ``y``
    (int64 class codes: the true labels, or the targets when ``targeted``) are not modified.
    ``start`` is an optional perturbation added before the first step. Every step is
    ``x_adv += step_size * sign(grad)`` (minus for targeted attacks) on the summed
    cross-entropy, then the projection onto the eps-ball around x and onto ``clip``.
    """
    lo, hi = clip
    x = x.detach()
    lower, upper = x - eps, x + eps
    if lo is not None:
        lower = lower.clamp(min=lo)
    if hi is not None:
        upper = upper.clamp(max=hi)
    x_adv = x.clone() if start is None else torch.minimum(torch.maximum(x + start, lower), upper)
    sign = -1.0 if targeted else 1.0
    for _ in range(n_steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(module(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + (sign * step_size) * grad.sign()
        x_adv = torch.minimum(torch.maximum(x_adv, lower), upper)
    return x_adv.detach()


def _finalize(X_adv, X_mod, eps, clip, dtype):
    """Cast to ``dtype`` and nudge values by one ulp where the rounding left the eps-ball
    or the clip range (both checked in float64)."""
    lo, hi = clip
    X64 = np.asarray(X_mod, dtype=np.float64)
    out = X_adv.astype(dtype)
    X_cast = np.asarray(X_mod).astype(dtype)
    for _ in range(8):
        d = out.astype(np.float64) - X64
        bad = np.abs(d) > eps
        below = (out.astype(np.float64) < lo) if lo is not None else np.zeros_like(bad)
        above = (out.astype(np.float64) > hi) if hi is not None else np.zeros_like(bad)
        if not (bad.any() or below.any() or above.any()):
            break
        out[bad] = np.nextafter(out[bad], X_cast[bad])
        out[below] = np.nextafter(out[below], np.asarray(np.inf, dtype))
        out[above] = np.nextafter(out[above], np.asarray(-np.inf, dtype))
    return out


def _run_attack(
    caller,
    estimator,
    X,
    y,
    eps,
    step_size,
    n_steps,
    random_start,
    clip,
    targeted,
    random_state,
    batch_size,
):
    eps = _check_eps(eps)
    clip = _check_clip(clip)
    batch_size = _check_batch_size(batch_size)
    X_orig, X_mod = _prepare(estimator, X, caller)
    device = _device(estimator)
    module = _eval_copy(estimator)
    if targeted and y is None:
        raise ValueError(f"{caller}: targeted=True needs y, the target class of every sample.")
    codes = _resolve_target(
        estimator, y, X_mod.shape[0], lambda: _logits_of(module, X_mod, device, batch_size), "y"
    )
    start = None
    if random_start and eps > 0:
        rs = check_random_state(random_state)
        start = rs.uniform(-eps, eps, size=X_mod.shape)
    out = np.empty(X_mod.shape, dtype=np.float64)
    with _grad_context(module, device):
        for sl in _batches(X_mod.shape[0], batch_size):
            x = _to_tensor(X_mod[sl], device)
            y_t = torch.as_tensor(codes[sl], device=device)
            s = None if start is None else _to_tensor(start[sl], device)
            x_adv = _attack_tensor(
                module,
                x,
                y_t,
                eps=eps,
                step_size=step_size,
                n_steps=n_steps,
                clip=clip,
                targeted=targeted,
                start=s,
            )
            out[sl] = x_adv.cpu().numpy()
    dtype = X_mod.dtype if np.issubdtype(X_mod.dtype, np.floating) else np.float64
    if np.issubdtype(X_orig.dtype, np.floating):
        dtype = X_orig.dtype
    return _as_output(_finalize(out, X_mod, eps, clip, dtype), X_orig)


def fgsm(estimator, X, y=None, *, eps, clip=None, targeted=False, batch_size=None):
    """Fast gradient sign method (Goodfellow et al., 2015).

    ``X_adv = X + eps * sign(grad_X loss(X, y))``, then clipped to ``clip``; targeted attacks
    step against the gradient of the loss of the target class. Gradients are computed in
    float64 on an eval-mode copy of the module (dropout off, batch-norm running statistics),
    so repeated calls give identical results.

    Parameters
    ----------
    estimator : fitted CNNClassifier, LSTMClassifier or TransformerClassifier
        A fitted sklearn_deep neural classifier on real-valued input.
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on. Not modified.
    y : array-like of shape (n_samples,), default=None
        True labels (untargeted) or target labels (``targeted=True``, then required). None
        attacks the predicted labels (no label leaking).
    eps : float
        L-infinity budget, in the units of X (no hidden [0, 1] range).
    clip : (float or None, float or None), default=None
        Valid range of the input values; None leaves them unbounded. X is expected inside
        it (where it is not, the clip range wins over the eps bound).
    targeted : bool, default=False
        Push the samples towards ``y`` instead of away from it.
    batch_size : int, default=None
        Rows per backward pass (None: 256).

    Returns
    -------
    X_adv : ndarray of X's shape and dtype
        ``max |X_adv - X| <= eps`` (checked in float64) and inside ``clip``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import fgsm
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:300], y[:300])
    >>> X_adv = fgsm(clf, X[:5], y[:5], eps=0.1, clip=(0, 1))
    >>> float(abs(X_adv - X[:5]).max()) <= 0.1
    True
    """
    return _run_attack(
        "fgsm",
        estimator,
        X,
        y,
        eps,
        _check_eps(eps),
        1,
        False,
        clip,
        bool(targeted),
        None,
        batch_size,
    )


def pgd(
    estimator,
    X,
    y=None,
    *,
    eps,
    step_size=None,
    n_steps=10,
    random_start=True,
    clip=None,
    targeted=False,
    random_state=None,
    batch_size=None,
):
    """Projected gradient descent attack in the L-infinity ball (Madry et al., 2018).

    ``n_steps`` sign-gradient steps of ``step_size``, each followed by the projection onto
    ``[X - eps, X + eps]`` and ``clip``, from a uniform random start in the ball. One step
    with ``step_size=eps`` and ``random_start=False`` is exactly :func:`fgsm`.

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier on real-valued input
    X : array-like of shape (n_samples, ...)
        Samples, in the layout and units the estimator was fitted on. Not modified.
    y : array-like of shape (n_samples,), default=None
        True labels, or target labels when ``targeted``; None uses the predictions.
    eps : float
        L-infinity budget, in the units of X.
    step_size : float, default=None
        Step length; None uses ``2.5 * eps / n_steps``.
    n_steps : int, default=10
        Number of steps.
    random_start : bool, default=True
        Start from a uniform random point of the ball.
    clip : (float or None, float or None), default=None
        Valid range of the input values.
    targeted : bool, default=False
        Push the samples towards ``y``.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start.
    batch_size : int, default=None
        Rows per backward pass (None: 256).

    Returns
    -------
    X_adv : ndarray of X's shape and dtype

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import pgd
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:300], y[:300])
    >>> X_adv = pgd(clf, X[:5], y[:5], eps=0.1, clip=(0, 1), random_state=0)
    >>> X_adv.shape, float(abs(X_adv - X[:5]).max()) <= 0.1
    ((5, 64), True)
    """
    eps = _check_eps(eps)
    if isinstance(n_steps, (bool, np.bool_)) or not isinstance(n_steps, Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int, got n_steps={n_steps!r}.")
    step_size = 2.5 * eps / n_steps if step_size is None else _check_eps(step_size, "step_size")
    return _run_attack(
        "pgd",
        estimator,
        X,
        y,
        eps,
        step_size,
        int(n_steps),
        bool(random_start),
        clip,
        bool(targeted),
        random_state,
        batch_size,
    )


def adversarial_accuracy(
    estimator, X, y, *, attack="fgsm", eps=(0, 0.05, 0.1, 0.2), clip=None, attack_params=None
):
    """Accuracy on adversarial examples for several budgets (a robustness curve).

    Parameters
    ----------
    estimator : fitted sklearn_deep neural classifier on real-valued input
    X : array-like of shape (n_samples, ...)
        Samples.
    y : array-like of shape (n_samples,)
        True labels (the attacks use them).
    attack : {'fgsm', 'pgd'} or callable, default='fgsm'
        The attack; a callable is called as ``attack(estimator, X, y, eps=eps, clip=clip,
        **attack_params)`` and returns X_adv.
    eps : sequence of float, default=(0, 0.05, 0.1, 0.2)
        Budgets, in the units of X.
    clip : (float or None, float or None), default=None
        Valid range of the input values.
    attack_params : dict, default=None
        Extra keyword arguments of the attack (e.g. ``n_steps``, ``random_state``).

    Returns
    -------
    result : Bunch
        ``eps`` (ndarray of shape (n_eps,)) and ``accuracy`` (ndarray of shape (n_eps,)).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import adversarial_accuracy
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=2, random_state=0)
    >>> clf = clf.fit(X[:300], y[:300])
    >>> curve = adversarial_accuracy(clf, X[300:400], y[300:400], eps=(0, 0.2))
    >>> bool(curve.accuracy[1] < curve.accuracy[0])
    True
    """
    attacks = {"fgsm": fgsm, "pgd": pgd}
    if callable(attack):
        fn = attack
    elif attack in attacks:
        fn = attacks[attack]
    else:
        raise ValueError(f"attack must be 'fgsm', 'pgd' or a callable, got attack={attack!r}.")
    _check_estimator(estimator, "adversarial_accuracy")
    y = np.asarray(y)
    eps = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    params = dict(attack_params or {})
    acc = np.empty(len(eps))
    for i, e in enumerate(eps):
        X_adv = fn(estimator, X, y, eps=float(e), clip=clip, **params)
        acc[i] = np.mean(estimator.predict(X_adv) == y)
    return Bunch(eps=eps, accuracy=acc)


class AdversarialTraining(Callback):
    """skorch callback: train on adversarial examples made on the fly (Madry et al., 2018).

    Before every training step, the first ``round(ratio * batch_size)`` rows of the (already
    shuffled) batch are replaced by attacks on the current network, made in eval mode with
    frozen parameters (dropout off, batch-norm running statistics read but not updated);
    the network then trains on the mixed batch in the usual loop, and the rows are put back
    after the step (so a batch that is a view of the training data leaves it unchanged).
    Pass it through an estimator's ``callbacks`` parameter.

    Parameters
    ----------
    attack : {'fgsm', 'pgd'}, default='fgsm'
        The attack.
    eps : float, default=0.1
        L-infinity budget in the units of the module's input.
    ratio : float in [0, 1], default=0.5
        Fraction of each training batch replaced by adversarial examples.
    step_size : float, default=None
        PGD step (None: ``2.5 * eps / n_steps``); ignored by FGSM.
    n_steps : int, default=7
        PGD steps; ignored by FGSM.
    random_start : bool, default=True
        PGD random start (drawn from torch's RNG, seeded by the estimator's fit).
    clip : (float or None, float or None), default=None
        Valid range of the input values.

    Attributes
    ----------
    n_adversarial_ : int
        Adversarial samples made since the start of training.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_deep.neural_network import CNNClassifier
    >>> from sklearn_deep.inspection import AdversarialTraining
    >>> X, y = load_digits(return_X_y=True)
    >>> adv = AdversarialTraining(eps=0.2, ratio=0.5, clip=(0, 1))
    >>> clf = CNNClassifier(input_shape=(1, 8, 8), max_epochs=1, random_state=0,
    ...                     callbacks=[("adversarial", adv)])
    >>> clf = clf.fit(X[:200] / 16, y[:200])
    >>> dict(clf.net_.callbacks_)["adversarial"].n_adversarial_ > 0
    True
    """

    def __init__(
        self,
        attack="fgsm",
        eps=0.1,
        ratio=0.5,
        step_size=None,
        n_steps=7,
        random_start=True,
        clip=None,
    ):
        self.attack = attack
        self.eps = eps
        self.ratio = ratio
        self.step_size = step_size
        self.n_steps = n_steps
        self.random_start = random_start
        self.clip = clip

    def initialize(self):
        if self.attack not in ("fgsm", "pgd"):
            raise ValueError(f"attack must be 'fgsm' or 'pgd', got attack={self.attack!r}.")
        self.eps_ = _check_eps(self.eps)
        if not isinstance(self.ratio, Real) or not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio must be in [0, 1], got ratio={self.ratio!r}.")
        if not isinstance(self.n_steps, Integral) or self.n_steps < 1:
            raise ValueError(f"n_steps must be a positive int, got n_steps={self.n_steps!r}.")
        self.clip_ = _check_clip(self.clip)
        if self.attack == "fgsm":
            self.steps_, self.step_ = 1, self.eps_
        else:
            self.steps_ = int(self.n_steps)
            self.step_ = (
                2.5 * self.eps_ / self.steps_
                if self.step_size is None
                else _check_eps(self.step_size, "step_size")
            )
        self.n_adversarial_ = 0
        self._saved = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.n_adversarial_ = 0
        self._saved = None

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if not training or self.eps_ == 0:
            return
        Xb, yb = batch[0], batch[1]
        if not isinstance(Xb, torch.Tensor) or not torch.is_floating_point(Xb):
            raise TypeError(
                "AdversarialTraining needs real-valued input tensors; token ids cannot be "
                "perturbed."
            )
        k = int(round(self.ratio * len(Xb)))
        if k == 0:
            return
        module = net.module_
        param = next(module.parameters())
        device = param.device
        x = Xb[:k].to(device=device, dtype=param.dtype)
        y = torch.as_tensor(yb[:k], device=device).long()
        start = None
        if self.attack == "pgd" and self.random_start:
            start = torch.empty_like(x).uniform_(-self.eps_, self.eps_)
        with frozen_eval(module), _grad_context(module, device):
            x_adv = _attack_tensor(
                module,
                x,
                y,
                eps=self.eps_,
                step_size=self.step_,
                n_steps=self.steps_,
                clip=self.clip_,
                targeted=False,
                start=start,
            )
        self._saved = (Xb, k, Xb[:k].clone())
        with torch.no_grad():
            Xb[:k] = x_adv.to(device=Xb.device, dtype=Xb.dtype)
        self.n_adversarial_ += k

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if self._saved is not None:
            Xb, k, original = self._saved
            with torch.no_grad():
                Xb[:k] = original
            self._saved = None
