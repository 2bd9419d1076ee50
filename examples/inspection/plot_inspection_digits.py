"""
=====================================================================
Inside a digit classifier: saliency, Grad-CAM and adversarial digits
=====================================================================

:mod:`sklearn_deep.inspection` looks inside a fitted
:class:`~sklearn_deep.neural_network.CNNClassifier` and attacks it, following the second half
of the lecture notes:

- which pixels the prediction depends on: input gradients (saliency), guided backprop and
  Grad-CAM;
- adversarial examples: the fast gradient sign method (FGSM) changes every pixel by at most
  ``eps`` and fools the network, and projected gradient descent (PGD) does even better;
- a defence: adversarial training, here with the
  :class:`~sklearn_deep.inspection.AdversarialTraining` callback passed through the
  estimator's ``callbacks`` parameter;
- what the network "thinks" a digit looks like: activation maximisation of each class logit.

Every function takes the fitted estimator and X in the estimator's own layout and units (here
pixels in [0, 1], flattened to 64 features) and returns numpy arrays.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_deep.inspection import (
    AdversarialTraining,
    AttributionDisplay,
    activation_maximization,
    adversarial_accuracy,
    fgsm,
)
from sklearn_deep.neural_network import CNNClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
params = dict(
    input_shape=(1, 8, 8),
    channels=(32, 64),
    kernel_size=3,
    dense_units=(256,),
    max_epochs=12,
    batch_size=32,
    lr=2e-3,
    random_state=0,
)
cnn = CNNClassifier(**params).fit(X_train, y_train)
print(f"clean test accuracy: {cnn.score(X_test, y_test):.3f}")

# %%
# Where does the network look?
# ----------------------------
# The saliency map is the gradient of the predicted class's logit with respect to the pixels
# (red: brighter would raise the score, blue: lower it). Guided backprop passes only positive
# gradients back through the ReLUs, which gives sharper maps. Grad-CAM weights the last
# convolution's feature maps by their average gradient and upsamples the result to 8x8.
methods = ["gradient", "guided_backprop", "grad_cam"]
fig, axes = plt.subplots(4, 3, figsize=(7, 9))
for row, i in enumerate([0, 1, 2, 3]):
    for col, method in enumerate(methods):
        AttributionDisplay.from_estimator(
            cnn, X_test[i : i + 1], method=method, ax=axes[row, col], colorbar=False
        )
fig.suptitle("Attributions over the input digit")
fig.tight_layout()

# %%
# Adversarial digits
# ------------------
# FGSM moves every pixel by ``eps`` in the direction that increases the loss
# (``X + eps * sign(grad)``), clipped to the valid range [0, 1]. At ``eps = 0.2`` the digits are
# still easy to read, but the network gets most of them wrong.
eps = 0.2
X_adv = fgsm(cnn, X_test[:6], y_test[:6], eps=eps, clip=(0, 1))
pred, pred_adv = cnn.predict(X_test[:6]), cnn.predict(X_adv)
fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for j in range(6):
    axes[0, j].imshow(X_test[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[0, j].set_title(f"pred {pred[j]}")
    axes[1, j].imshow(X_adv[j].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[1, j].set_title(f"pred {pred_adv[j]}", color="red" if pred_adv[j] != y_test[j] else "k")
for ax in axes.ravel():
    ax.set_axis_off()
fig.suptitle(f"Top: test digits. Bottom: FGSM, eps={eps}")
fig.tight_layout()

# %%
# Adversarial training
# --------------------
# ``AdversarialTraining(attack='fgsm', eps=0.2, ratio=0.5)`` replaces half of every training
# batch by FGSM examples made on the current network (in eval mode), inside the usual training
# loop. The defended network keeps its clean accuracy and is much harder to fool, by FGSM and
# by the stronger 10-step PGD attack.
defence = AdversarialTraining(attack="fgsm", eps=0.2, ratio=0.5, clip=(0, 1))
robust = CNNClassifier(**params, callbacks=[defence]).fit(X_train, y_train)

eps_grid = (0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
fig, ax = plt.subplots(figsize=(6, 4))
for name, est in [("undefended", cnn), ("adversarially trained", robust)]:
    for attack, style in [("fgsm", "-o"), ("pgd", "--s")]:
        curve = adversarial_accuracy(
            est,
            X_test,
            y_test,
            attack=attack,
            eps=eps_grid,
            clip=(0, 1),
            attack_params={"random_state": 0} if attack == "pgd" else None,
        )
        ax.plot(curve.eps, curve.accuracy, style, label=f"{name}, {attack.upper()}")
ax.set_xlabel("eps (L-infinity budget, pixel units)")
ax.set_ylabel("test accuracy")
ax.set_ylim(0, 1.02)
ax.legend()
ax.set_title("Accuracy under attack")
fig.tight_layout()

# %%
# What does a "3" look like to the network?
# -----------------------------------------
# Activation maximisation starts from faint noise and follows the gradient of one class logit
# (with a small L2 penalty), keeping the pixels in [0, 1]. The images are rarely pretty, but
# the network classifies each one as the class it was optimised for.
fig, axes = plt.subplots(1, 10, figsize=(11, 1.8))
for ax, label in zip(axes, cnn.classes_):
    res = activation_maximization(cnn, unit=label, n_steps=200, clip=(0, 1), random_state=0)
    ax.imshow(res.X.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"{label} -> {cnn.predict(res.X)[0]}")
    ax.set_axis_off()
fig.suptitle("Activation maximisation (class -> prediction)")
fig.tight_layout()
plt.show()
