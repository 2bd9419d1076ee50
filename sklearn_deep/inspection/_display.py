"""AttributionDisplay: an attribution map drawn as an image, alone or over its input."""

import numpy as np

from ._attribution import grad_cam, saliency_map

__all__ = ["AttributionDisplay"]

_METHODS = ("gradient", "guided_backprop", "grad_x_input", "grad_cam", "guided_grad_cam")


def _as_image(a, name):
    """(H, W) or (H, W, C) array from (H, W), (C, H, W) or (H, W, C) input."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(
            f"{name} must be one image of shape (H, W), (C, H, W) or (H, W, C) with C in "
            f"(1, 3), or a 1-D signal; got shape {np.shape(a)}."
        )
    return a


class AttributionDisplay:
    """Visualisation of one attribution map, optionally over its input image.

    It is recommended to use :meth:`from_estimator` or :meth:`from_attributions` to create
    an ``AttributionDisplay``; all parameters are stored as attributes.

    Parameters
    ----------
    attribution : ndarray of shape (H, W), (C, H, W), (H, W, C) or (L,)
        The map. Colour (3-channel) maps are reduced to their absolute maximum over channels.
    image : ndarray of the same spatial shape, default=None
        The input, grayscale or colour, shown under the map when ``overlay=True``.
    method : str, default=None
        Name of the attribution method (for the title).
    target : label, default=None
        The explained class (for the title).

    Attributes
    ----------
    im_ : matplotlib AxesImage
        The attribution map.
    image_ : matplotlib AxesImage or None
        The input image, when drawn.
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_deep.inspection import AttributionDisplay
    >>> disp = AttributionDisplay.from_attributions(np.eye(8), image=np.ones((8, 8)))
    >>> disp.im_.get_array().shape
    (8, 8)
    """

    def __init__(self, attribution, *, image=None, method=None, target=None):
        self.attribution = attribution
        self.image = image
        self.method = method
        self.target = target

    def plot(self, *, ax=None, overlay=True, cmap=None, alpha=0.6, colorbar=True):
        """Draw the map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; None creates a figure.
        overlay : bool, default=True
            Draw the input image (gray for one channel, RGB for three) under the map.
        cmap : str, default=None
            Colormap; None uses 'seismic' centred on zero for signed maps, 'inferno' for
            non-negative ones.
        alpha : float, default=0.6
            Opacity of the map over the image.
        colorbar : bool, default=True
            Add a colorbar.

        Returns
        -------
        display : AttributionDisplay
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        a = _as_image(self.attribution, "attribution")
        if a.ndim == 3:
            a = a[np.arange(a.shape[0])[:, None], np.arange(a.shape[1]), np.abs(a).argmax(-1)]
        signed = a.min() < 0
        vmax = float(np.abs(a).max()) or 1.0
        if cmap is None:
            cmap = "seismic" if signed else "inferno"
        self.image_ = None
        show_image = overlay and self.image is not None
        if show_image:
            img = _as_image(self.image, "image")
            if img.shape[:2] != a.shape[:2]:
                raise ValueError(
                    f"image has spatial shape {img.shape[:2]}, but the attribution has "
                    f"{a.shape[:2]}."
                )
            if img.ndim == 3:
                lo, hi = img.min(), img.max()
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
                self.image_ = ax.imshow(img)
            else:
                self.image_ = ax.imshow(img, cmap="gray")
        self.im_ = ax.imshow(
            a,
            cmap=cmap,
            vmin=-vmax if signed else 0.0,
            vmax=vmax,
            alpha=alpha if show_image else 1.0,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        title = " ".join(
            str(t)
            for t in (self.method, None if self.target is None else f"class {self.target}")
            if t is not None
        )
        if title:
            ax.set_title(title)
        if colorbar:
            ax.figure.colorbar(self.im_, ax=ax)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_attributions(
        cls,
        attribution,
        *,
        image=None,
        method=None,
        target=None,
        ax=None,
        overlay=True,
        cmap=None,
        alpha=0.6,
        colorbar=True,
    ):
        """Plot a precomputed attribution map.

        Parameters
        ----------
        attribution : ndarray of shape (H, W), (C, H, W), (H, W, C) or (L,)
            The map of one sample.
        image : ndarray, default=None
            The input of that sample, drawn under the map.
        method, target : str, label, default=None
            For the title.
        ax, overlay, cmap, alpha, colorbar
            See :meth:`plot`.

        Returns
        -------
        display : AttributionDisplay
        """
        disp = cls(attribution, image=image, method=method, target=target)
        return disp.plot(ax=ax, overlay=overlay, cmap=cmap, alpha=alpha, colorbar=colorbar)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        *,
        method="gradient",
        target=None,
        ax=None,
        overlay=True,
        cmap=None,
        alpha=0.6,
        colorbar=True,
    ):
        """Compute and plot the attribution of one sample.

        Parameters
        ----------
        estimator : fitted sklearn_deep neural classifier on images or signals
        X : array-like of shape (1, ...)
            One sample, in the layout the estimator was fitted on.
        method : {'gradient', 'guided_backprop', 'grad_x_input', 'grad_cam', \
'guided_grad_cam'}, default='gradient'
            Attribution method.
        target : label, default=None
            Class to explain; None takes the predicted class.
        ax, overlay, cmap, alpha, colorbar
            See :meth:`plot`.

        Returns
        -------
        display : AttributionDisplay
        """
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got method={method!r}.")
        X = np.asarray(X)
        if X.shape[0] != 1:
            raise ValueError(f"X must hold exactly one sample, got {X.shape[0]}.")
        if target is None:
            target = estimator.predict(X)[0]
        image = estimator._prepare_X(X, reset=False)[0]
        if method == "grad_cam":
            a = grad_cam(estimator, X, target=target)[0]
        elif method == "guided_grad_cam":
            a = grad_cam(estimator, X, target=target, guided=True)
            a = np.asarray(a).reshape(image.shape)
        else:
            a = saliency_map(estimator, X, target=target, method=method).reshape(image.shape)
        return cls(a, image=image, method=method, target=target).plot(
            ax=ax, overlay=overlay, cmap=cmap, alpha=alpha, colorbar=colorbar
        )
