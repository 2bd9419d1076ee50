"""
===========================================================
Causal versus bidirectional self-attention: attention maps
===========================================================

A :class:`~sklearn_deep.neural_network.TransformerClassifier` lets every step of a sequence
attend to the others. With ``causal=True`` step :math:`t` may only attend to steps
:math:`\\le t`, as in an autoregressive language model (see :ref:`sequence`).

We train both variants on a toy task that needs attention across the whole sequence: each
sequence holds 12 random tokens, and its class says whether the **last token repeats the
first one**. The bidirectional model pools the mean of all steps; the causal model must read
its answer at the last step (``pooling='last'``), the only one that has seen both tokens. We
then plot the attention weights of the first layer, averaged over heads and over test
sequences.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from sklearn_deep.neural_network import TransformerClassifier

rng = np.random.default_rng(0)
n_samples, n_steps, n_tokens = 2000, 12, 8
X = rng.integers(1, n_tokens + 1, size=(n_samples, n_steps))  # token ids, 0 is padding
y = rng.integers(0, 2, size=n_samples)
X[y == 1, -1] = X[y == 1, 0]  # class 1: the last token repeats the first
same = (y == 0) & (X[:, -1] == X[:, 0])
X[same, -1] = X[same, -1] % n_tokens + 1  # class 0: make sure it does not
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

# %%
# Train the two models
# --------------------
common = dict(
    d_model=32,
    n_heads=2,
    num_layers=1,
    dim_feedforward=64,
    dropout=0.0,
    max_epochs=15,
    batch_size=64,
    lr=3e-3,
    random_state=0,
)
models = {
    "bidirectional (pooling='mean')": TransformerClassifier(causal=False, pooling="mean", **common),
    "causal (pooling='last')": TransformerClassifier(causal=True, pooling="last", **common),
}
for name, model in models.items():
    model.fit(X_train, y_train)
    print(f"{name:32s} test accuracy {model.score(X_test, y_test):.3f}")


# %%
# Read the attention weights
# --------------------------
# :meth:`~sklearn_deep.neural_network.TransformerClassifier.attention_weights` runs the same
# forward pass as ``predict`` and returns the softmax weights of every block and head, of
# shape (n_samples, num_layers, n_heads, n_steps, n_steps). We keep the first block.
def first_layer_attention(model, X):
    return model.attention_weights(X)[:, 0]


fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
for ax, (name, model) in zip(axes, models.items()):
    weights = first_layer_attention(model, X_test).mean(axis=(0, 1))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=weights.max())
    ax.set_title(name)
    ax.set_xlabel("key position (attended to)")
    ax.set_ylabel("query position")
    ax.set_xticks(range(n_steps))
    ax.set_yticks(range(n_steps))
    fig.colorbar(image, ax=ax, shrink=0.8)
fig.tight_layout()

# %%
# Every row sums to one. The bidirectional model makes every step attend to the two positions
# that decide the class, the first and the last. The causal model's map is lower triangular:
# no step looks into the future, and the last step, whose state is the one classified,
# attends back to the first token.
for name, model in models.items():
    weights = first_layer_attention(model, X_test)
    # each row sums to 1, so this is the share of attention that goes to later steps
    future = np.triu(weights, k=1).sum(axis=-1).mean()
    print(
        f"{name:32s} rows sum to 1: {np.allclose(weights.sum(-1), 1, atol=1e-5)}, "
        f"attention on later steps: {future:.3f}"
    )
plt.show()
