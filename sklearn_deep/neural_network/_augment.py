"""On-the-fly data augmentation of training batches (torch only, no scikit-learn).

:class:`BatchAugmentation` transforms a whole batch tensor at once, drawing its random numbers
from torch's global RNG (which the estimators fork and seed from ``random_state``). The
estimators apply it to training batches only; prediction never sees it.
"""

import math

import torch
import torch.nn.functional as F

__all__ = ["BatchAugmentation", "make_augmentation", "AUGMENTATIONS"]

AUGMENTATIONS = ("crop", "flip", "jitter", "blur", "affine")


class BatchAugmentation:
    """Random crop, flip, brightness/contrast jitter, Gaussian blur and affine warp of a batch.

    Works on images of shape (batch, channels, height, width) and on 1-D signals of shape
    (batch, channels, length) (treated as images of height one: no vertical moves, no rotation
    or shear). Every transformation is drawn independently for every sample.

    Parameters
    ----------
    crop_padding : int or 'auto', default=0
        Pad by this many zeros on each side and crop back at a random position, i.e. a random
        integer translation of up to ``crop_padding`` pixels. 'auto' uses ``max(1, width // 8)``.
        0 disables it.
    flip : bool, default=False
        Mirror along the last (width) axis with probability 1/2.
    brightness : float, default=0.0
        Add ``b * std(sample)`` with ``b ~ U(-brightness, brightness)``.
    contrast : float, default=0.0
        Scale deviations from the sample mean by ``c ~ U(1 - contrast, 1 + contrast)``.
    blur_sigma : float, default=0.0
        With probability 1/2, blur with a Gaussian of standard deviation
        ``U(0.1, blur_sigma)`` pixels. 0 disables it.
    rotation : float, default=0.0
        Maximum rotation, in degrees.
    scale : float, default=0.0
        Maximum relative zoom: the scale factor is drawn from ``U(1 - scale, 1 + scale)``.
    shear : float, default=0.0
        Maximum shear angle, in degrees.

    Examples
    --------
    >>> import torch
    >>> aug = BatchAugmentation(crop_padding=2, flip=True)
    >>> aug(torch.ones(4, 1, 8, 8)).shape
    torch.Size([4, 1, 8, 8])
    """

    def __init__(
        self,
        crop_padding=0,
        flip=False,
        brightness=0.0,
        contrast=0.0,
        blur_sigma=0.0,
        rotation=0.0,
        scale=0.0,
        shear=0.0,
    ):
        self.crop_padding = crop_padding
        self.flip = flip
        self.brightness = brightness
        self.contrast = contrast
        self.blur_sigma = blur_sigma
        self.rotation = rotation
        self.scale = scale
        self.shear = shear

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"BatchAugmentation({params})"

    def _uniform(self, n, low, high, like):
        return torch.rand(n, device=like.device, dtype=like.dtype) * (high - low) + low

    def _warp(self, x):
        n, _, h, w = x.shape
        pad = self.crop_padding
        if pad == "auto":
            pad = max(1, w // 8)
        warp = self.rotation or self.scale or self.shear
        if not pad and not warp:
            return x
        theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        if warp:
            flat = h == 1
            angle = self._uniform(n, -1.0, 1.0, x) * math.radians(self.rotation) * (not flat)
            shear = self._uniform(n, -1.0, 1.0, x) * math.radians(self.shear) * (not flat)
            zoom = self._uniform(n, 1.0 - self.scale, 1.0 + self.scale, x)
            cos, sin = torch.cos(angle), torch.sin(angle)
            # output -> input coordinates: rotation @ shear, divided by the zoom
            theta[:, 0, 0] = cos / zoom
            theta[:, 0, 1] = (cos * torch.tan(shear) - sin) / zoom
            theta[:, 1, 0] = sin / zoom
            theta[:, 1, 1] = (sin * torch.tan(shear) + cos) / zoom
            if flat:
                theta[:, 1, 0] = 0.0
                theta[:, 1, 1] = 1.0
        if pad:
            # whole-pixel shifts land on pixel centres: an exact crop of the zero-padded image
            shift = torch.randint(-pad, pad + 1, (n, 2), device=x.device).to(x.dtype)
            theta[:, 0, 2] = shift[:, 0] * 2.0 / w
            if h > 1:
                theta[:, 1, 2] = shift[:, 1] * 2.0 / h
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _blur(self, x):
        n, c, h, w = x.shape
        radius = max(1, math.ceil(2 * self.blur_sigma))
        sigma = self._uniform(n, 0.1, max(self.blur_sigma, 0.1), x)
        apply = torch.rand(n, device=x.device) < 0.5
        offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (offsets[None, :] / sigma[:, None]) ** 2)
        kernel = kernel / kernel.sum(dim=1, keepdim=True)
        identity = (offsets == 0).to(x.dtype).expand(n, -1)
        kernel = torch.where(apply[:, None], kernel, identity)
        kernel = kernel.repeat_interleave(c, dim=0)  # one kernel per (sample, channel)
        z = x.reshape(1, n * c, h, w)
        z = F.conv2d(
            F.pad(z, (radius, radius, 0, 0), mode="replicate"),
            kernel[:, None, None, :],
            groups=n * c,
        )
        if h > 1:
            z = F.conv2d(
                F.pad(z, (0, 0, radius, radius), mode="replicate"),
                kernel[:, None, :, None],
                groups=n * c,
            )
        return z.reshape(n, c, h, w)

    def _jitter(self, x):
        n = x.shape[0]
        dims = tuple(range(1, x.ndim))
        mean = x.mean(dim=dims, keepdim=True)
        shape = (n,) + (1,) * (x.ndim - 1)
        if self.contrast:
            c = self._uniform(n, 1.0 - self.contrast, 1.0 + self.contrast, x).reshape(shape)
            x = (x - mean) * c + mean
        if self.brightness:
            std = x.std(dim=dims, keepdim=True) if x[0].numel() > 1 else torch.ones_like(mean)
            b = self._uniform(n, -self.brightness, self.brightness, x).reshape(shape)
            x = x + b * std
        return x

    def __call__(self, x):
        """Augmented copy of ``x`` (shape (batch, C, H, W) or (batch, C, L)), same shape."""
        one_d = x.ndim == 3
        if one_d:
            x = x.unsqueeze(2)
        if x.ndim != 4:
            raise ValueError(
                f"BatchAugmentation needs 3-D or 4-D batches, got shape {tuple(x.shape)}."
            )
        x = self._warp(x)
        if self.flip:
            flip = (torch.rand(x.shape[0], device=x.device) < 0.5)[:, None, None, None]
            x = torch.where(flip, x.flip(-1), x)
        if self.blur_sigma:
            x = self._blur(x)
        if self.brightness or self.contrast:
            x = self._jitter(x)
        return x.squeeze(2) if one_d else x


def make_augmentation(spec):
    """Turn the estimators' ``augmentation`` parameter into a batch transform (or None).

    Parameters
    ----------
    spec : str, sequence of str, callable or None
        None: no augmentation. A callable is returned unchanged. Names among 'crop', 'flip',
        'jitter', 'blur', 'affine' select a :class:`BatchAugmentation` with default strengths:
        crop_padding='auto', flip, brightness=contrast=0.2, blur_sigma=1.0, and rotation 10
        degrees, scale 0.1, shear 5 degrees.

    Returns
    -------
    transform : callable or None

    Examples
    --------
    >>> make_augmentation(("crop", "flip"))
    BatchAugmentation(crop_padding='auto', flip=True, brightness=0.0, contrast=0.0, \
blur_sigma=0.0, rotation=0.0, scale=0.0, shear=0.0)
    """
    if spec is None:
        return None
    if callable(spec):
        return spec
    names = (spec,) if isinstance(spec, str) else tuple(spec)
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"augmentation must name transformations among {AUGMENTATIONS}, got unknown {unknown}."
        )
    if not names:
        return None
    kwargs = {}
    if "crop" in names:
        kwargs["crop_padding"] = "auto"
    if "flip" in names:
        kwargs["flip"] = True
    if "jitter" in names:
        kwargs.update(brightness=0.2, contrast=0.2)
    if "blur" in names:
        kwargs["blur_sigma"] = 1.0
    if "affine" in names:
        kwargs.update(rotation=10.0, scale=0.1, shear=5.0)
    return BatchAugmentation(**kwargs)
