"""
=========================================================
Time-series classification with the default parameters
=========================================================

The three neural classifiers on a public UCR archive data set, ItalyPowerDemand (daily
electricity demand in Italy, 24 hourly values, winter or summer), with **their default
parameters**: only ``random_state`` is set. Nothing is tuned to this data:

- the inputs are standardised per channel with statistics learned in ``fit`` (kept inside the
  network), so raw and z-normalised series train alike;
- the training budget adapts to the data: enough epochs for about 2,000 optimizer steps on
  this small training set (67 series), ended early once the training loss levels off, with a
  learning rate divided by 5 on each plateau;
- :class:`~sklearn_deep.neural_network.CNNClassifier` reads a 1-D signal with a fully
  convolutional network (three convolution stages with batch normalisation and a
  global-average-pooling head), the published baseline for time-series classification;
  :class:`~sklearn_deep.neural_network.LSTMClassifier` and
  :class:`~sklearn_deep.neural_network.TransformerClassifier` read long series in patches
  (24 steps need none).

The 1-nearest-neighbour classifier with the Euclidean distance is the classic floor of the
UCR archive. See :ref:`neural_defaults` for how the defaults are chosen.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from sklearn_deep.datasets import load_italy_power_demand
from sklearn_deep.neural_network import CNNClassifier, LSTMClassifier, TransformerClassifier

X_train, y_train = load_italy_power_demand(split="train", return_X_y=True)
X_test, y_test = load_italy_power_demand(split="test", return_X_y=True)
print(f"{len(X_train)} training and {len(X_test)} test series of {X_train.shape[1]} steps")

# %%
# Fit the three classifiers with their defaults
# ---------------------------------------------
# A univariate series is a row of ``X``: the sequence models read it as one channel over
# time, the CNN as a one-channel signal.
models = {
    "1-NN (Euclidean)": KNeighborsClassifier(n_neighbors=1),
    "CNNClassifier()": CNNClassifier(random_state=0),
    "LSTMClassifier()": LSTMClassifier(random_state=0),
    "TransformerClassifier()": TransformerClassifier(random_state=0),
}
scores, seconds = {}, {}
for name, model in models.items():
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds[name] = time.perf_counter() - start
    scores[name] = model.score(X_test, y_test)
    epochs = getattr(model, "n_iter_", None)
    trained = f", {epochs} epochs" if epochs else ""
    print(f"{name:24s} accuracy {scores[name]:.3f} ({seconds[name]:.1f} s{trained})")

# %%
# Accuracy and training curves
# ----------------------------
# ``history_`` holds the training loss of every epoch: the budget was not spent to the end
# when the loss levelled off first.
fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
names = list(scores)
ax_acc.barh(names, [scores[n] for n in names], color=["grey", "C0", "C1", "C2"])
ax_acc.set_xlim(0.5, 1.0)
ax_acc.set_xlabel("test accuracy")
ax_acc.set_title("ItalyPowerDemand, default parameters")
for name, color in zip(names[1:], ["C0", "C1", "C2"]):
    losses = models[name].history_[:, "train_loss"]
    ax_loss.semilogy(np.arange(1, len(losses) + 1), losses, color=color, label=name)
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss")
ax_loss.legend()
fig.tight_layout()

# %%
# The series and what the CNN predicts
# ------------------------------------
fig, ax = plt.subplots(figsize=(6, 3.5))
predicted = models["CNNClassifier()"].predict(X_test)
for label, color in zip(np.unique(y_train), ["C0", "C3"]):
    rows = X_test[predicted == label][:15]
    ax.plot(rows.T, color=color, alpha=0.4)
    ax.plot([], [], color=color, label=f"predicted class {label}")
ax.set_xlabel("hour")
ax.set_title("Test series, coloured by the CNN's prediction")
ax.legend()
fig.tight_layout()
plt.show()
