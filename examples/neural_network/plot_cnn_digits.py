"""
=================================================================
A convolutional network on the digits: learning curves and errors
=================================================================

:class:`~sklearn_deep.neural_network.CNNClassifier` on scikit-learn's 8×8 handwritten digits
(1,797 images, 10 classes). The images come flattened as 64 features, so the classifier gets
``input_shape=(1, 8, 8)`` and can sit after a scaling step in a
:class:`~sklearn.pipeline.Pipeline`.

With ``early_stopping=True`` the classifier holds out a stratified ``validation_fraction`` of
the training data and records the loss on it after every epoch in ``history_`` (skorch's
``History``), which gives the learning curves; training stops when the validation loss has not
improved for ``n_iter_no_change`` epochs and the best weights are restored.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from sklearn_deep.neural_network import CNNClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# Train a small LeNet-like network
# --------------------------------
# Two stages of 3×3 convolutions (16 and 32 channels) with max pooling, then fully connected
# layers. The fit is reproducible: ``random_state`` seeds the weights, the shuffling and the
# validation split.
cnn = CNNClassifier(
    input_shape=(1, 8, 8),
    channels=(16, 32),
    kernel_size=3,
    dense_units=(64,),
    max_epochs=30,
    batch_size=32,
    lr=2e-3,
    early_stopping=True,
    validation_fraction=0.15,
    n_iter_no_change=8,
    random_state=0,
)
model = make_pipeline(MinMaxScaler(), cnn).fit(X_train, y_train)
y_pred = model.predict(X_test)
print(f"epochs trained: {cnn.n_iter_}")
print(f"test accuracy:  {accuracy_score(y_test, y_pred):.3f}")

# %%
# Learning curves
# ---------------
# ``history_`` holds one row per epoch. The training loss is averaged over the epoch's
# mini-batches, the validation loss and accuracy are measured after the epoch.
history = cnn.history_
epochs = np.array(history[:, "epoch"])
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
ax_loss.plot(epochs, history[:, "train_loss"], marker="o", ms=3, label="training")
ax_loss.plot(epochs, history[:, "valid_loss"], marker="o", ms=3, label="validation")
best = int(np.argmin(history[:, "valid_loss"]))
ax_loss.axvline(epochs[best], color="k", ls=":", label="best epoch (weights kept)")
ax_loss.set_yscale("log")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("cross-entropy loss")
ax_loss.legend()
ax_acc.plot(epochs, history[:, "valid_acc"], marker="o", ms=3, color="tab:orange")
ax_acc.set_ylim(0.8, 1.0)
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("validation accuracy")
fig.tight_layout()

# %%
# Confusion matrix and the errors
# -------------------------------
# Rows are the true digits, columns the predicted ones; the few errors are between digits that
# look alike at 8×8 pixels.
fig, ax = plt.subplots(figsize=(5.5, 5))
ConfusionMatrixDisplay.from_predictions(y_test, y_pred, ax=ax, colorbar=False)
ax.set_title(f"test accuracy {accuracy_score(y_test, y_pred):.3f}")
fig.tight_layout()

wrong = np.flatnonzero(y_pred != y_test)[:8]
if len(wrong):
    fig, axes = plt.subplots(1, len(wrong), figsize=(1.4 * len(wrong), 1.9), squeeze=False)
    proba = model.predict_proba(X_test[wrong])
    for ax, i, p in zip(axes[0], wrong, proba):
        ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r")
        ax.set_title(f"{y_test[i]} → {y_pred[i]}\np={p.max():.2f}", fontsize=9)
        ax.axis("off")
    fig.suptitle("misclassified test images (true → predicted)", fontsize=10)
    fig.tight_layout()
plt.show()
