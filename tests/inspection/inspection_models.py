"""Test-only networks for the inspection tests (imported by conftest and the tests)."""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import validate_data
from torch import nn

from sklearn_deep.neural_network import BaseNeuralClassifier


class LinearModule(nn.Module):
    """logits = W x + b."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.linear(x)


class LinearNetClassifier(BaseNeuralClassifier):
    """A linear (softmax regression) network on 2-D X: the simplest oracle."""

    def __init__(self, *, lr=1e-2, max_epochs=5, batch_size=32, random_state=None, callbacks=None):
        super().__init__(
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            random_state=random_state,
            callbacks=callbacks,
        )

    def _build_module(self, sample_shape, n_classes):
        return LinearModule, {"n_features": sample_shape[0], "n_classes": n_classes}


class ReluNet(nn.Module):
    """A small CNN on (1, 8, 8) images whose ReLUs are written in one of several styles."""

    def __init__(self, n_classes, relu_kind="module"):
        super().__init__()
        self.relu_kind = relu_kind
        inplace = relu_kind == "inplace"
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.act1 = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.act2 = nn.ReLU(inplace=inplace)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.act3 = nn.ReLU(inplace=inplace)
        self.fc2 = nn.Linear(16, n_classes)

    def _relu(self, x, module):
        kind = self.relu_kind
        if kind in ("module", "inplace"):
            return module(x)
        if kind == "functional":
            return F.relu(x)
        if kind == "functional_inplace":
            return F.relu(x, inplace=True)
        if kind == "torch_inplace":
            torch.relu_(x)
            return x
        return x.relu()  # "tensor_method"

    def forward(self, x):
        z = self._relu(self.conv1(x), self.act1)
        z = self.pool(self._relu(self.conv2(z), self.act2))
        z = self._relu(self.fc1(torch.flatten(z, 1)), self.act3)
        return self.fc2(z)


class ReluNetClassifier(BaseNeuralClassifier):
    """Test classifier around :class:`ReluNet` on X of shape (n, 1, 8, 8)."""

    def __init__(self, *, lr=1e-2, max_epochs=3, batch_size=32, random_state=None, **routed):
        super().__init__(
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            random_state=random_state,
            **routed,
        )

    def _prepare_X(self, X, y="no_validation", *, reset):
        out = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32], allow_nd=True)
        return out

    def _build_module(self, sample_shape, n_classes):
        return ReluNet, {"n_classes": n_classes}
