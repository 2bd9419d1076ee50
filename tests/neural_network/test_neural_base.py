"""Shared behaviour of BaseNeuralClassifier: parameters, labels, seeding, continuation, I/O.

Exercised through CNNClassifier and through a minimal subclass written here, which checks
that the documented extension point (``_prepare_X`` / ``_build_module``) is enough to get a
working estimator.
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from sklearn_deep.neural_network import BaseNeuralClassifier, CNNClassifier

FAST = dict(max_epochs=3, random_state=0)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    return StandardScaler().fit_transform(X), y


class _MLP(nn.Module):
    def __init__(self, n_features, n_classes, hidden=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x):
        return self.net(x)


class TinyMLPClassifier(BaseNeuralClassifier):
    """The smallest subclass the extension point allows (default ``_prepare_X``)."""

    _parameter_constraints = {**BaseNeuralClassifier._parameter_constraints, "hidden": [int]}

    def __init__(
        self,
        *,
        hidden=16,
        lr=1e-2,
        max_epochs=10,
        batch_size=16,
        random_state=None,
        **routed_params,
    ):
        super().__init__(
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            random_state=random_state,
            **routed_params,
        )
        self.hidden = hidden

    def _build_module(self, sample_shape, n_classes):
        return _MLP, {"n_features": sample_shape[0], "n_classes": n_classes, "hidden": self.hidden}


def test_extension_point_subclass(blobs):
    X, y = blobs
    clf = TinyMLPClassifier(hidden=8, random_state=0).fit(X, y)
    assert clf.module_.net[0].out_features == 8
    assert clf.score(X, y) > 0.9
    assert clone(clf).get_params()["hidden"] == 8
    # routed module parameters override the subclass' kwargs
    clf = TinyMLPClassifier(hidden=8, module__hidden=5, random_state=0).fit(X, y)
    assert clf.module_.net[0].out_features == 5


def test_routed_params_get_set_clone(blobs):
    X, y = blobs
    clf = CNNClassifier(module__dense_units=(7,), **FAST)
    assert clf.get_params()["module__dense_units"] == (7,)
    cloned = clone(clf)
    assert cloned.get_params()["module__dense_units"] == (7,)
    cloned.set_params(module__dense_units=(5,), optimizer__nesterov=True, optimizer="sgd")
    cloned.fit(X, y)
    linears = [m for m in cloned.module_.classifier if isinstance(m, nn.Linear)]
    assert linears[0].out_features == 5
    assert isinstance(cloned.net_.optimizer_, torch.optim.SGD)
    assert cloned.net_.optimizer_.param_groups[0]["nesterov"] is True
    assert cloned.net_.optimizer_.param_groups[0]["momentum"] == 0.9
    # the original is untouched by the clone's set_params
    assert clf.get_params()["module__dense_units"] == (7,)
    assert "optimizer__nesterov" not in clf.get_params()


def test_unknown_keyword_is_reported_at_fit(blobs):
    X, y = blobs
    clf = CNNClassifier(not_a_param=3)  # scikit-learn's checks require __init__ not to raise
    with pytest.raises(InvalidParameterError, match="not_a_param"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "optimizer, cls",
    [("sgd", torch.optim.SGD), ("rmsprop", torch.optim.RMSprop), ("adam", torch.optim.Adam)],
)
def test_optimizers(blobs, optimizer, cls):
    X, y = blobs
    clf = CNNClassifier(optimizer=optimizer, weight_decay=1e-4, lr=1e-2, **FAST).fit(X, y)
    assert isinstance(clf.net_.optimizer_, cls)
    assert clf.net_.optimizer_.param_groups[0]["weight_decay"] == 1e-4
    assert clf.score(X, y) > 0.6


def test_string_labels_and_proba(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    clf = CNNClassifier(**FAST).fit(X, names)
    assert clf.classes_.tolist() == ["cat", "dog", "emu"]
    pred = clf.predict(X)
    assert set(pred) <= {"cat", "dog", "emu"}
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pred, clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_one_class_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="at least 2 classes.*only one class"):
        CNNClassifier(**FAST).fit(X, np.full(len(X), "a"))


def test_training_is_float32_prediction_row_order_invariant(blobs):
    X, y = blobs
    clf = CNNClassifier(**FAST).fit(X, y)
    assert all(p.dtype == torch.float32 for p in clf.module_.parameters())
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_array_equal(clf.predict_proba(X)[perm], clf.predict_proba(X[perm]))


def test_same_seed_same_model_global_rng_untouched(blobs):
    X, y = blobs
    torch.manual_seed(123)
    np.random.seed(5)  # noqa: NPY002 (the user's legacy global RNG must stay untouched)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()  # noqa: NPY002
    a = CNNClassifier(dropout=0.3, augmentation="jitter", **FAST).fit(X, y)
    b = CNNClassifier(dropout=0.3, augmentation="jitter", **FAST).fit(X, y)
    assert torch.equal(torch.get_rng_state(), torch_state)
    np_after = np.random.get_state()  # noqa: NPY002
    assert np_after[1].tolist() == np_state[1].tolist()
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = CNNClassifier(dropout=0.3, max_epochs=3, random_state=1).fit(X, y)
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_pickle_and_clone_fitted_and_unfitted(blobs):
    X, y = blobs
    unfitted = CNNClassifier(channels=(4,), **FAST)
    restored = pickle.loads(pickle.dumps(unfitted))
    # NaN-aware comparison (the default padding_value is NaN, and nan != nan)
    assert repr(restored.get_params()) == repr(unfitted.get_params())
    clf = clone(unfitted).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    assert not hasattr(clone(clf), "net_")
    assert len(restored.history_) == clf.n_iter_ == 3


def test_warm_start_continues(blobs):
    X, y = blobs
    clf = CNNClassifier(warm_start=True, **FAST).fit(X, y)
    module = clf.module_
    first = clf.predict_proba(X)
    clf.fit(X, y)
    assert clf.module_ is module and clf.n_iter_ == 6
    assert not np.allclose(first, clf.predict_proba(X))
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(X[y < 2], y[y < 2])
    # without warm_start every fit starts afresh
    cold = CNNClassifier(**FAST).fit(X, y)
    module = cold.module_
    cold.fit(X, y)
    assert cold.module_ is not module and cold.n_iter_ == 3


def test_partial_fit(blobs):
    X, y = blobs
    clf = CNNClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:60], y[:60], classes=[0, 1, 2, 3])
    assert clf.classes_.tolist() == [0, 1, 2, 3] and clf.n_iter_ == 1
    for _ in range(5):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 6
    assert clf.predict_proba(X).shape == (len(X), 4)
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, np.full(len(X), 7))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :2], y)


def test_early_stopping_stops_and_restores_best():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6))
    y = rng.integers(0, 2, size=200)  # pure noise: the validation loss soon rises
    clf = CNNClassifier(
        early_stopping=True,
        n_iter_no_change=2,
        max_epochs=50,
        validation_fraction=0.2,
        random_state=0,
        lr=1e-2,
    ).fit(X, y)
    assert clf.n_iter_ < 50
    valid = clf.history_[:, "valid_loss"]
    assert len(valid) == clf.n_iter_
    assert len(clf.net_.train_split(np.arange(200), y)[1]) == 40
    # the restored weights are the best epoch's: recompute its validation loss
    _, valid_ds = clf.net_.train_split(
        torch.utils.data.TensorDataset(torch.zeros(200)), torch.as_tensor(y)
    )
    idx = np.asarray(valid_ds.indices)
    proba = clf.predict_proba(X[idx])
    loss = -np.mean(np.log(proba[np.arange(len(idx)), y[idx]]))
    assert loss == pytest.approx(min(valid), rel=1e-4)


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_lr_schedules(blobs, schedule):
    X, y = blobs
    clf = CNNClassifier(lr_schedule=schedule, max_epochs=6, random_state=0).fit(X, y)
    lrs = [g["lr"] for g in clf.net_.optimizer_.param_groups]
    expected = {"step": 2e-3 * 0.1**3, "cosine": 0.0}[schedule]  # stepped after each epoch
    assert lrs[0] == pytest.approx(expected, abs=1e-12)


def test_verbose_prints_epoch_table(blobs, capsys):
    X, y = blobs
    CNNClassifier(verbose=1, max_epochs=2, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out
    CNNClassifier(verbose=0, max_epochs=2, random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""


def test_user_callbacks_are_copied(blobs):
    from skorch.callbacks import Callback

    class Count(Callback):
        def initialize(self):
            self.epochs_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs_ += 1

    X, y = blobs
    cb = Count()
    clf = CNNClassifier(callbacks=[("count", cb)], **FAST).fit(X, y)
    assert not hasattr(cb, "epochs_")  # the user's object is left alone
    assert dict(clf.net_.callbacks_)["count"].epochs_ == 3
