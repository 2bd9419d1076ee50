"""Plain PyTorch modules for the convolutional classifier.

Every shape is a constructor argument and ``forward`` returns logits. Nothing here imports
scikit-learn: the estimators in :mod:`sklearn_deep.neural_network` validate the data, infer the
shapes and hand them to these modules.
"""

import math

import torch
from torch import nn

__all__ = [
    "Standardize",
    "ConvNet",
    "BasicBlock",
    "conv_output_size",
    "pool_output_size",
    "kaiming_init_",
]


def conv_output_size(size, kernel_size, stride=1, padding=0):
    """Length of one spatial dimension after a convolution.

    ``floor((size + 2 * padding - kernel_size) / stride) + 1``.

    Examples
    --------
    >>> conv_output_size(28, kernel_size=5, stride=1, padding=2)
    28
    >>> conv_output_size(28, kernel_size=3, stride=2, padding=1)
    14
    """
    return (size + 2 * padding - kernel_size) // stride + 1


def pool_output_size(size, pool_size):
    """Length of one spatial dimension after non-overlapping pooling (``floor(size / k)``).

    Examples
    --------
    >>> pool_output_size(7, 2)
    3
    """
    return (size - pool_size) // pool_size + 1


class Standardize(nn.Module):
    """Fixed input standardisation ``(x - mean) / scale``, learned from the training data.

    The statistics are buffers (saved with the module's ``state_dict`` and moved with it),
    set by the estimator in ``fit`` through :meth:`set_statistics`; they are not trained.

    Parameters
    ----------
    shape : tuple of int
        Shape of ``mean`` and ``scale``, broadcast against one sample (e.g. ``(C, 1, 1)`` per
        channel of an image, ``(C,)`` per channel of a sequence step).

    Examples
    --------
    >>> import torch
    >>> layer = Standardize((2, 1))
    >>> layer.set_statistics([[1.0], [10.0]], [[2.0], [5.0]])
    >>> layer(torch.tensor([[[3.0, 1.0], [10.0, 20.0]]]))
    tensor([[[1., 0.],
             [0., 2.]]])
    """

    def __init__(self, shape):
        super().__init__()
        shape = tuple(int(s) for s in shape)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("scale", torch.ones(shape))

    def set_statistics(self, mean, scale):
        """Copy ``mean`` and ``scale`` (array-likes of the layer's shape) into the buffers."""
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean).reshape(self.mean.shape))
            self.scale.copy_(torch.as_tensor(scale).reshape(self.scale.shape))

    def forward(self, x):
        """``(x - mean) / scale``, in the dtype of ``x``."""
        return (x - self.mean.to(x.dtype)) / self.scale.to(x.dtype)


def kaiming_init_(module):
    """Kaiming-normal (fan-in, ReLU gain) weights and zero biases for every conv/linear layer.

    Weights get standard deviation ``sqrt(2 / fan_in)``; normalisation layers get unit scale and
    zero shift. Modifies ``module`` in place and returns it.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


def _activation(name):
    if name == "relu":
        return nn.ReLU()
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"activation must be 'relu' or 'gelu', got {name!r}.")


def _norm(kind, n_channels, n_dims):
    if kind is None:
        return nn.Identity()
    if kind == "batch":
        return (nn.BatchNorm1d if n_dims == 1 else nn.BatchNorm2d)(n_channels)
    if kind == "group":
        return nn.GroupNorm(math.gcd(n_channels, 8), n_channels)
    raise ValueError(f"normalization must be 'batch', 'group' or None, got {kind!r}.")


def _conv(n_dims):
    return nn.Conv1d if n_dims == 1 else nn.Conv2d


class BasicBlock(nn.Module):
    """ResNet basic block: two convolutions with normalisation and an identity/projection skip.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels in and out.
    kernel_size : int
        Kernel size of both convolutions (padding ``kernel_size // 2``).
    stride : int
        Stride of the first convolution (and of the projection shortcut).
    normalization : {'batch', 'group'} or None
        Normalisation after each convolution.
    activation : {'relu', 'gelu'}
        Non-linearity.
    n_dims : {1, 2}
        1-D (signals) or 2-D (images) convolutions.

    Examples
    --------
    >>> import torch
    >>> block = BasicBlock(8, 16, kernel_size=3, stride=2, normalization="batch",
    ...                    activation="relu", n_dims=2)
    >>> block(torch.zeros(2, 8, 10, 10)).shape
    torch.Size([2, 16, 5, 5])
    """

    def __init__(
        self, in_channels, out_channels, kernel_size, stride, normalization, activation, n_dims
    ):
        super().__init__()
        conv = _conv(n_dims)
        pad = kernel_size // 2
        bias = normalization is None
        self.conv1 = conv(in_channels, out_channels, kernel_size, stride, pad, bias=bias)
        self.norm1 = _norm(normalization, out_channels, n_dims)
        self.act1 = _activation(activation)
        self.conv2 = conv(out_channels, out_channels, kernel_size, 1, pad, bias=bias)
        self.norm2 = _norm(normalization, out_channels, n_dims)
        self.act2 = _activation(activation)
        if kernel_size % 2 == 0:
            raise ValueError(f"residual blocks need an odd kernel_size, got {kernel_size}.")
        if stride != 1 or in_channels != out_channels:
            # 1x1 projection with the same stride keeps the shortcut's shape equal to the main path
            self.shortcut = nn.Sequential(
                conv(in_channels, out_channels, 1, stride, 0, bias=bias),
                _norm(normalization, out_channels, n_dims),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        """``act(norm(conv(act(norm(conv(x))))) + shortcut(x))`` for x of shape (n, C_in, ...).

        Parameters
        ----------
        x : Tensor of shape (n, in_channels, *spatial)
            Feature maps.

        Returns
        -------
        out : Tensor of shape (n, out_channels, *spatial_out)
            The block's output (spatial size divided by ``stride``).
        """
        out = self.act1(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class ConvNet(nn.Module):
    """A LeNet/ResNet-style convolutional network for 1-D signals or 2-D images.

    Stages of ``convolution -> normalisation -> activation -> pooling`` (or ResNet basic blocks
    when ``residual=True``), then a flatten or global-average-pooling head, fully connected
    layers with dropout, and a linear output layer returning logits.

    Pooling is applied only along spatial dimensions that are at least ``pool_size`` long, so
    tiny inputs (a single tabular feature, say) pass through unchanged.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, length)`` for 1-D convolutions or ``(channels, height, width)`` for 2-D.
    n_classes : int
        Number of output logits.
    channels : tuple of int, default=(6, 16)
        Output channels of each stage.
    kernel_size : int, default=5
        Convolution kernel size (padding ``kernel_size // 2``, i.e. 'same' for odd kernels).
    stride : int, default=1
        Stride of each stage's (first) convolution.
    pooling : {'max', 'avg'} or None, default='max'
        Pooling after each stage.
    pool_size : int, default=2
        Pooling window and stride.
    normalization : {'batch', 'group'} or None, default=None
        Normalisation after each convolution.
    residual : bool, default=False
        Use ResNet basic blocks as stages.
    dropout : float, default=0.0
        Dropout probability before every fully connected layer.
    activation : {'relu', 'gelu'}, default='relu'
        Non-linearity.
    head : {'flatten', 'gap'}, default='flatten'
        Flatten the last feature map (LeNet) or average it over space (global average pooling).
    dense_units : tuple of int, default=(120, 84)
        Hidden fully connected layers of the head.
    standardize : {'channel', 'feature'} or None, default=None
        A :class:`Standardize` layer in front: one mean and scale per input channel, or per
        input value (``input_shape``); its statistics are set by the estimator in ``fit``.
    padding_value : float or None, default=None
        Input values equal to it (NaN allowed) are missing: they read as zeros after the
        standardisation (the training mean). For 1-D input, steps missing on every channel
        after the last observed step are trailing padding, and global average pooling
        averages only over the observed length (variable-length series).

    Attributes
    ----------
    stage_shapes : list of tuple of int
        ``(channels, *spatial)`` after each stage, from the convolution/pooling arithmetic.
    n_flat : int
        Width of the head's input.

    Examples
    --------
    >>> import torch
    >>> net = ConvNet((1, 28, 28), n_classes=10)
    >>> net.stage_shapes
    [(6, 14, 14), (16, 7, 7)]
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(
        self,
        input_shape,
        n_classes,
        channels=(6, 16),
        kernel_size=5,
        stride=1,
        pooling="max",
        pool_size=2,
        normalization=None,
        residual=False,
        dropout=0.0,
        activation="relu",
        head="flatten",
        dense_units=(120, 84),
        standardize=None,
        padding_value=None,
    ):
        super().__init__()
        input_shape = tuple(int(s) for s in input_shape)
        self.padding_value = padding_value
        if len(input_shape) not in (2, 3):
            raise ValueError(
                f"input_shape must be (channels, length) or (channels, height, width), "
                f"got {input_shape}."
            )
        if head not in ("flatten", "gap"):
            raise ValueError(f"head must be 'flatten' or 'gap', got {head!r}.")
        if pooling not in ("max", "avg", None):
            raise ValueError(f"pooling must be 'max', 'avg' or None, got {pooling!r}.")
        n_dims = len(input_shape) - 1
        self.input_shape = input_shape
        if standardize not in ("channel", "feature", None):
            raise ValueError(
                f"standardize must be 'channel', 'feature' or None, got {standardize!r}."
            )
        if standardize == "channel":
            self.input_scaler = Standardize((input_shape[0],) + (1,) * n_dims)
        elif standardize == "feature":
            self.input_scaler = Standardize(input_shape)
        else:
            self.input_scaler = None
        conv = _conv(n_dims)
        pad = kernel_size // 2

        stages = []
        self.stage_shapes = []
        c_in, spatial = input_shape[0], list(input_shape[1:])
        for c_out in channels:
            layers = []
            if residual:
                layers.append(
                    BasicBlock(c_in, c_out, kernel_size, stride, normalization, activation, n_dims)
                )
                spatial = [
                    conv_output_size(
                        conv_output_size(s, kernel_size, stride, pad), kernel_size, 1, pad
                    )
                    for s in spatial
                ]
            else:
                layers += [
                    conv(c_in, c_out, kernel_size, stride, pad, bias=normalization is None),
                    _norm(normalization, c_out, n_dims),
                    _activation(activation),
                ]
                spatial = [conv_output_size(s, kernel_size, stride, pad) for s in spatial]
            if pooling is not None:
                window = tuple(pool_size if s >= pool_size else 1 for s in spatial)
                if any(w > 1 for w in window):
                    pool_cls = {
                        ("max", 1): nn.MaxPool1d,
                        ("max", 2): nn.MaxPool2d,
                        ("avg", 1): nn.AvgPool1d,
                        ("avg", 2): nn.AvgPool2d,
                    }[pooling, n_dims]
                    layers.append(pool_cls(window))
                    spatial = [pool_output_size(s, w) for s, w in zip(spatial, window)]
            stages.append(nn.Sequential(*layers))
            self.stage_shapes.append((c_out, *spatial))
            c_in = c_out
        self.features = nn.Sequential(*stages)

        self.head = head
        self.n_flat = c_in if head == "gap" else c_in * math.prod(spatial)
        dense = []
        width = self.n_flat
        for units in dense_units:
            dense += [nn.Dropout(dropout), nn.Linear(width, units), _activation(activation)]
            width = units
        dense += [nn.Dropout(dropout), nn.Linear(width, n_classes)]
        self.classifier = nn.Sequential(*dense)
        kaiming_init_(self)
        self._channels_last = n_dims == 2
        if self._channels_last:
            # NHWC weights and activations: oneDNN's fast path (1.3-1.7x faster CPU training)
            self.to(memory_format=torch.channels_last)

    @staticmethod
    def _observed(lengths, n_in, n_out):
        """Bool mask (n, n_out): positions of a feature map of ``n_out`` steps that lie within
        each sample's observed length (``lengths`` of ``n_in`` input steps, scaled up)."""
        valid_out = torch.div(lengths * n_out + n_in - 1, n_in, rounding_mode="floor")
        return torch.arange(n_out, device=lengths.device)[None, :] < valid_out[:, None]

    def forward(self, x):
        """Logits of shape (n_samples, n_classes) for x of shape (n_samples, *input_shape)."""
        lengths = missing = None
        if self.padding_value is not None:
            missing = torch.isnan(x) if math.isnan(self.padding_value) else x == self.padding_value
            if not bool(missing.any()):
                missing = None  # the common case: nothing to mask
            elif x.dim() == 3:
                observed = (~missing.all(dim=1)).to(torch.long)  # (n, L)
                steps = torch.arange(1, x.shape[-1] + 1, device=x.device)
                lengths = (observed * steps).amax(dim=1).clamp(min=1)
        if self.input_scaler is not None:
            x = self.input_scaler(x)
        if missing is not None:
            x = x.masked_fill(missing, 0.0)
        if self._channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if lengths is None:
            z = self.features(x)
        else:  # padding reads as zeros after every stage, as beyond the end of a shorter series
            z = x
            for stage in self.features:
                z = stage(z)
                z = z * self._observed(lengths, x.shape[-1], z.shape[-1])[:, None, :]
        if self.head == "gap" and lengths is not None:
            valid = self._observed(lengths, x.shape[-1], z.shape[-1])
            z = z.sum(dim=2) / valid.sum(dim=1, keepdim=True)
        elif self.head == "gap":
            z = z.mean(dim=tuple(range(2, z.ndim)))
        else:
            z = torch.flatten(z, 1)
        return self.classifier(z)
