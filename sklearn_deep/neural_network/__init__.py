"""Neural network classifiers on PyTorch through skorch (the only subpackage importing torch).

:class:`BaseNeuralClassifier` is the shared scikit-learn shell (validation, labels, seeding,
tags, skorch composition; see ``sklearn_deep.neural_network._base`` for its extension
point); :class:`CNNClassifier` (convolutional), :class:`LSTMClassifier` and
:class:`TransformerClassifier` (sequences) are built on it; :class:`CausalLanguageModel`
is a density estimator over token sequences (autoregressive Transformer or RNN). The torch
modules are plain ``nn.Module`` classes that take every shape as a constructor argument and
return logits.
"""

from ._augment import BatchAugmentation
from ._base import BaseNeuralClassifier
from ._cnn import CNNClassifier
from ._language_model import CausalLanguageModel
from ._lstm import LSTMClassifier
from ._modules import BasicBlock, ConvNet, Standardize
from ._transformer import TransformerClassifier

__all__ = [
    "BaseNeuralClassifier",
    "BasicBlock",
    "BatchAugmentation",
    "CausalLanguageModel",
    "CNNClassifier",
    "ConvNet",
    "LSTMClassifier",
    "Standardize",
    "TransformerClassifier",
]
