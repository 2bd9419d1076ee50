"""Look inside fitted neural classifiers and attack them.

Functions take a **fitted** sklearn_deep neural classifier and X in the estimator's own
input layout and units, and return numpy arrays (or a :class:`~sklearn.utils.Bunch`):

- attributions: :func:`saliency_map` (gradient, guided backprop, gradient x input),
  :func:`grad_cam` (and guided Grad-CAM), :func:`class_activation_map`,
  :func:`token_saliency`, drawn by :class:`AttributionDisplay`;
- activations: :func:`layer_activations`, :func:`gram_matrix`,
  :func:`activation_maximization`, :func:`deep_dream`;
- adversarial examples: :func:`fgsm`, :func:`pgd`, :func:`adversarial_accuracy`, and the
  :class:`AdversarialTraining` skorch callback for the estimators' ``callbacks`` parameter.

Every function works on an eval-mode float64 copy of ``estimator.module_`` (dropout off,
batch normalisation on its running statistics, parameters frozen), so the estimator is never
modified and repeated calls give identical results.
"""

from ._activation import activation_maximization, deep_dream, gram_matrix, layer_activations
from ._adversarial import AdversarialTraining, adversarial_accuracy, fgsm, pgd
from ._attribution import class_activation_map, grad_cam, saliency_map, token_saliency
from ._display import AttributionDisplay

__all__ = [
    "AdversarialTraining",
    "AttributionDisplay",
    "activation_maximization",
    "adversarial_accuracy",
    "class_activation_map",
    "deep_dream",
    "fgsm",
    "gram_matrix",
    "grad_cam",
    "layer_activations",
    "pgd",
    "saliency_map",
    "token_saliency",
]
