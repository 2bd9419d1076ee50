"""
======================================================
A character-level causal language model on real text
======================================================

:class:`~sklearn_deep.neural_network.CausalLanguageModel` learns the chain-rule factorisation
:math:`p(x_1, \\dots, x_T) = \\prod_t p(x_t \\mid x_{<t})` of token sequences with a
decoder-only causal Transformer (each step attends only to the steps before it) or an RNN.
Here the tokens are characters: a :class:`~sklearn_deep.preprocessing.TextToSequence` with
``token_pattern="(?s)."`` turns each paragraph of scikit-learn's dataset descriptions (shipped
with scikit-learn, so nothing is downloaded) into a row of character ids.

We train the Transformer one epoch at a time (``warm_start``), follow the perplexity of the
training paragraphs and of held-out ones, then sample text at two temperatures.
"""

# %%
import re
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sklearn.datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_deep.neural_network import CausalLanguageModel
from sklearn_deep.preprocessing import TextToSequence

descr = Path(sklearn.datasets.__file__).parent / "descr"
text = "\n\n".join(p.read_text(encoding="utf-8") for p in sorted(descr.glob("*.rst")))
paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
paragraphs = [p for p in paragraphs if len(p) > 40 and not p.startswith(("..", "=", "-"))]
train_docs, test_docs = train_test_split(paragraphs, test_size=0.2, random_state=0)

chars = TextToSequence(token_pattern="(?s).", lowercase=False, max_len=300).fit(train_docs)
X_train, X_test = chars.transform(train_docs), chars.transform(test_docs)
print(
    f"{len(train_docs)} training / {len(test_docs)} held-out paragraphs, "
    f"{chars.vocab_size_} character ids, {(X_train > 0).sum()} training characters"
)

# %%
# Train, epoch by epoch
# ---------------------
# Perplexity is ``exp(-score)``, the exponentiated mean negative log-likelihood per
# character: 1 would be a perfect prediction, ``vocab_size_`` a uniform guess.
lm = CausalLanguageModel(
    cell="transformer",
    embedding_dim=64,
    n_heads=4,
    num_layers=2,
    dim_feedforward=128,
    context_length=64,
    dropout=0.1,
    lr=3e-3,
    max_epochs=1,
    warm_start=True,
    random_state=0,
)
train_ppl, test_ppl = [], []
for _ in range(12):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch per fit, on purpose
        lm.fit(X_train)
    train_ppl.append(np.exp(lm.loss_curve_[-1]))  # mean training loss of the epoch
    test_ppl.append(lm.perplexity(X_test))

print(f"held-out perplexity: {test_ppl[0]:.1f} after one epoch, {test_ppl[-1]:.1f} at the end")

fig, ax = plt.subplots(figsize=(6, 3.5))
epochs = np.arange(1, len(test_ppl) + 1)
ax.plot(epochs, train_ppl, "o-", label="training (during the epoch)")
ax.plot(epochs, test_ppl, "s-", label="held-out paragraphs")
ax.set_xlabel("epoch")
ax.set_ylabel("perplexity per character")
ax.set_yscale("log")
ax.legend()
ax.set_title("Causal Transformer on scikit-learn's dataset descriptions")
fig.tight_layout()

# %%
# Sample text at two temperatures
# -------------------------------
# :meth:`~sklearn_deep.neural_network.CausalLanguageModel.generate` continues a prompt one
# character at a time, with the keys and values of the positions already read kept in a
# cache. A low temperature sharpens the distribution (0 would be greedy decoding); 1 samples
# from the model as it is. ``random_state`` makes the samples reproducible. Twenty thousand
# characters teach spelling-like structure (frequent short words, capitals after spaces,
# punctuation), not grammar: the held-out perplexity falls from about 30 after one epoch to
# about 13 of the 88 possible characters.
prompt = chars.transform(["The dataset "])
for temperature in (0.5, 1.0):
    ids = lm.generate(prompt, 120, temperature=temperature, random_state=0)[0]
    sample = "".join(chars.index_to_token_[ids[ids != 0]])
    print(f"temperature {temperature}: {sample!r}\n")
