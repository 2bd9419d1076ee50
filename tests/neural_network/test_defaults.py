"""The neural classifiers' defaults: training budget, convergence, input scaling, sequence
lengths and the numerical guards (issue: defaults that work on data nobody tuned for)."""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

from sklearn_deep.neural_network import CNNClassifier, LSTMClassifier, TransformerClassifier
from sklearn_deep.neural_network._callbacks import TrainingMonitor
from sklearn_deep.neural_network._scaling import standardization_statistics

ALL = [CNNClassifier, LSTMClassifier, TransformerClassifier]


# --------------------------------------------------------------------------- convergence rule
class _FakeHistory:
    def __init__(self):
        self.losses = []

    def __getitem__(self, key):
        return self.losses[-1]

    def __len__(self):
        return len(self.losses)


class _FakeNet:
    """Just what TrainingMonitor reads: history[-1, 'train_loss'] and the optimizer's lr."""

    def __init__(self, lr=1.0):
        self.history = _FakeHistory()
        self.lr = lr
        self._optimizers = ["optimizer"]
        self.optimizer_ = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
        self.module_ = torch.nn.Linear(1, 1)


def _run_monitor(losses, monitor):
    """Feed ``losses`` epoch by epoch; return the epoch count at which it stopped (or None)."""
    net = _FakeNet()
    monitor.initialize()
    monitor.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        net.history.losses.append(loss)
        try:
            monitor.on_epoch_end(net)
        except KeyboardInterrupt:
            return epoch, net
    return None, net


def _plateau(losses, e, k, tol):
    window, before = np.asarray(losses[e - k : e]), np.asarray(losses[e - 2 * k : e - k])
    fall = before.mean() - window.mean()
    standard_error = np.sqrt((window.var(ddof=1) + before.var(ddof=1)) / k)
    return fall < max(k * tol * max(1.0, before.mean()), standard_error)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(1e-6, 5.0), min_size=1, max_size=80),
    st.integers(2, 6),
    st.sampled_from([1e-4, 1e-2]),
)
def test_convergence_stop_fires_at_the_first_plateau_and_not_before(losses, k, tol):
    stop, _ = _run_monitor(losses, TrainingMonitor(tol, k, min_epochs=0))
    plateaus = [e for e in range(2 * k, len(losses) + 1) if _plateau(losses, e, k, tol)]
    assert stop == (plateaus[0] if plateaus else None)


def test_a_fall_within_the_noise_is_a_plateau_and_a_noisy_trend_is_not():
    rng = np.random.default_rng(0)
    k = 10
    noise = 0.05 * rng.standard_normal(40)
    flat = list(0.5 + noise)  # no trend: the windows differ only by noise
    stop, _ = _run_monitor(flat, TrainingMonitor(1e-4, k))
    assert stop is not None and stop <= 40
    falling = list(2.0 - 0.02 * np.arange(40) + noise)  # 0.2 per window, 4 standard errors
    stop, _ = _run_monitor(falling, TrainingMonitor(1e-4, k))
    assert stop is None


def test_plateaus_first_lower_the_learning_rate_then_stop():
    k = 3
    losses = [1.0] * 30  # flat, well above zero: three reductions, then convergence
    monitor = TrainingMonitor(1e-4, k, lr_factor=0.2, max_reductions=3)
    net = _FakeNet()
    monitor.initialize()
    monitor.on_train_begin(net)
    lrs, stop = [], None
    for epoch, loss in enumerate(losses, start=1):
        net.history.losses.append(loss)
        try:
            monitor.on_epoch_end(net)
        except KeyboardInterrupt:
            stop = epoch
            break
        lrs.append(net.optimizer_.param_groups[0]["lr"])
    assert stop == 2 * k + 3 * k  # first plateau at 2k, then one per k epochs
    assert lrs[2 * k - 1] == pytest.approx(0.2) and lrs[-1] == pytest.approx(0.2**3)
    monitor.on_train_end(net)
    assert net.optimizer_.param_groups[0]["lr"] == 1.0  # restored for a warm start
    # a plateau near zero loss is convergence at once, without smaller steps
    near_zero = [1.0] + [1e-3] * 20
    stop, net = _run_monitor(near_zero, TrainingMonitor(1e-4, k, lr_factor=0.2))
    assert stop <= 2 * k + 1 and net.optimizer_.param_groups[0]["lr"] == 1.0


def test_training_ends_with_the_weights_of_the_lowest_loss():
    # a late spike of the optimiser: the weights of the lowest-loss epoch are restored
    losses = [1.0, 0.5, 0.2, 0.1, 0.05, 0.4, 0.8]
    monitor = TrainingMonitor(1e-4, 10).initialize()
    net = _FakeNet()
    monitor.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        with torch.no_grad():
            net.module_.weight.fill_(epoch)  # the weights after this epoch
        net.history.losses.append(loss)
        monitor.on_epoch_end(net)
    monitor.on_train_end(net)
    assert monitor.best_epoch_ == 5
    assert net.module_.weight.item() == 5.0
    # a loss still at its lowest at the end: the last weights stay
    monitor.on_train_begin(net)
    for epoch, loss in enumerate([1.0, 0.5, 0.2], start=1):
        with torch.no_grad():
            net.module_.weight.fill_(10 + epoch)
        net.history.losses.append(loss)
        monitor.on_epoch_end(net)
    monitor.on_train_end(net)
    assert monitor.best_epoch_ is None and net.module_.weight.item() == 13.0
    # without the convergence rule (tol=None, e.g. early stopping on validation) nothing
    # is restored
    monitor = TrainingMonitor(None, 10).initialize()
    monitor.on_train_begin(net)
    for epoch, loss in enumerate(losses, start=1):
        with torch.no_grad():
            net.module_.weight.fill_(epoch)
        net.history.losses.append(loss)
        monitor.on_epoch_end(net)
    monitor.on_train_end(net)
    assert monitor.best_epoch_ is None and net.module_.weight.item() == len(losses)


def test_non_finite_loss_is_an_error():
    monitor = TrainingMonitor(1e-4, 3).initialize()
    net = _FakeNet()
    net.history.losses.append(1.0)
    monitor.on_batch_end(net, training=True, loss=torch.tensor(1.0))
    with pytest.raises(ValueError, match="non-finite"):
        monitor.on_batch_end(net, training=True, loss=torch.tensor(float("nan")))


def test_converged_fit_stops_early_without_warning():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] += 6 * (2 * y - 1)  # separable: the loss falls to ~0 and flattens
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = LSTMClassifier(hidden_size=8, random_state=0).fit(X, y)
    monitor = dict(clf.net_.callbacks_)["training_monitor"]
    assert monitor.converged_ and clf.n_iter_ < clf._n_epochs
    assert clf.score(X, y) == 1.0


@pytest.mark.parametrize("n_samples, window", [(36, 20), (60, 13), (1000, 10)])
def test_plateau_windows_span_enough_steps_on_tiny_data(n_samples, window):
    # 36 samples in batches of 8 are 5 steps per epoch: 10 epochs would be only 50 steps,
    # too few to tell slow progress from mini-batch noise, so the window spans 100 steps
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_samples, 1, 8))
    y = np.arange(n_samples) % 2
    clf = CNNClassifier(max_epochs=1, random_state=0).fit(X, y)
    monitor = dict(clf.net_.callbacks_)["training_monitor"]
    assert monitor.window_ == window
    # a monitor without min_steps keeps n_iter_no_change
    stop, _ = _run_monitor([1.0] * 30, TrainingMonitor(1e-4, 3))
    assert stop == 6


def test_budget_end_warns_only_while_the_loss_still_falls():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        LSTMClassifier(max_epochs=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        LSTMClassifier(max_epochs=2, tol=None, random_state=0).fit(X, y)


def _fitted_cnn(length):
    """A CNN fitted for one epoch on signals of ``length`` steps (the budget is computed from
    the fitted input's layout)."""
    rng = np.random.default_rng(0)
    clf = CNNClassifier(max_epochs=1, random_state=0)
    clf.fit(rng.normal(size=(12, 1, length)), np.arange(12) % 3)
    return clf.set_params(max_epochs="auto")


@pytest.mark.parametrize(
    "n_samples, batch, expected",
    [(36, 8, 200), (300, 37, 200), (1257, 64, 100), (60000, 64, 10)],
)
def test_auto_budget_gives_small_data_enough_steps(n_samples, batch, expected):
    clf = _fitted_cnn(16)
    assert clf._effective_batch_size(n_samples) == batch
    assert clf._budget_epochs(n_samples, (1, 16), 3) == expected
    steps = math.ceil(n_samples / batch) * expected
    assert steps >= min(2000, 200 * math.ceil(n_samples / batch))
    assert clf.set_params(max_epochs=7)._budget_epochs(n_samples, (1, 16), 3) == 7


def test_auto_budget_bounds_the_training_compute():
    from sklearn_deep.neural_network._base import _AUTO_TRAINING_FLOPS

    clf = _fitted_cnn(1500)
    shape = (1, 1500)  # long signals: the compute, not the step count, sets the budget
    flops = clf._sample_flops(shape, 3)
    for n_samples in (300, 1000):
        epochs = clf._budget_epochs(n_samples, shape, 3)
        assert 10 <= epochs < math.ceil(2000 / math.ceil(n_samples / 37))
        assert 3 * flops * n_samples * epochs <= _AUTO_TRAINING_FLOPS
        assert 3 * flops * n_samples * (epochs + 1) > _AUTO_TRAINING_FLOPS
    # a CUDA device is given more compute; the count never touches the global random state
    state = torch.random.get_rng_state()
    assert clf.set_params(device="cuda")._budget_epochs(300, shape, 3) == 200
    assert torch.equal(state, torch.random.get_rng_state())


def test_flop_count_includes_recurrent_layers():
    from sklearn_deep.neural_network._base import forward_flops

    lstm = torch.nn.LSTM(4, 8, num_layers=2, batch_first=True, bidirectional=True)
    x = torch.ones(1, 30, 4)
    weights = sum(w.numel() for name, w in lstm.named_parameters() if "weight" in name)
    assert forward_flops(lstm, x) == 2 * 30 * weights
    linear = torch.nn.Linear(5, 7)
    assert forward_flops(linear, torch.ones(3, 5)) == 2 * 3 * 5 * 7


# --------------------------------------------------------------------------- input scaling
def test_standardisation_statistics_match_numpy():
    rng = np.random.default_rng(1)
    X = rng.normal(5, 3, size=(20, 2, 7))
    X[:, 1] *= 1000
    mean, scale = standardization_statistics(X, axis=(0, 2))
    np.testing.assert_allclose(mean[:, 0], X.mean(axis=(0, 2)))
    np.testing.assert_allclose(scale[:, 0], X.std(axis=(0, 2)))
    X[:, 0] = 4.0  # a constant channel keeps scale 1
    _, scale = standardization_statistics(X, axis=(0, 2))
    assert scale[0, 0] == 1.0
    X[0, 1, 3] = np.nan  # NaN (padding) is left out
    mean, _ = standardization_statistics(X, axis=(0, 2))
    assert mean[1, 0] == pytest.approx(np.nanmean(X[:, 1]))


@pytest.mark.parametrize("cls", ALL)
def test_scaling_is_learned_in_fit_only(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(40, 12)) * 1e4 + 3e4  # unscaled, far from zero
    y = (X[:, :6].mean(axis=1) > 3e4).astype(int)
    clf = cls(max_epochs=3, random_state=0).fit(X, y)
    layer = next(m for m in clf.module_.modules() if type(m).__name__ == "Standardize")
    assert layer.mean.abs().max() > 1e3  # learned from the training data
    mean_before = layer.mean.clone()
    proba = clf.predict_proba(X[:10])
    for i in range(3):  # a row predicted alone equals the same row inside a batch
        np.testing.assert_allclose(clf.predict_proba(X[i : i + 1])[0], proba[i], atol=1e-12)
    clf.predict_proba(X[:10] * 5)  # prediction never updates the statistics
    assert torch.equal(layer.mean, mean_before)


def test_cnn_auto_standardises_unscaled_tabular_columns_per_feature():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 5)) * np.array([1e-2, 1.0, 1e2, 1e3, 1e4])
    y = (X[:, 0] > 0).astype(int)  # the smallest-scale column decides
    clf = CNNClassifier(max_epochs=40, random_state=0).fit(X, y)
    assert clf._standardize == "feature"
    assert clf.score(X, y) > 0.9
    series = rng.normal(size=(30, 40))  # columns on one scale: one statistic per channel
    assert CNNClassifier(max_epochs=1).fit(series, np.arange(30) % 2)._standardize == "channel"


@pytest.mark.parametrize("cls", [LSTMClassifier, TransformerClassifier])
def test_sequence_models_standardise_an_unscaled_table_per_column(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) * np.array([1e-2, 1.0, 1e2, 1e3, 1e4]) + 5e3
    y = (X[:, 0] > 5e3).astype(int)
    clf = cls(max_epochs=2, random_state=0).fit(X, y)
    assert clf._standardize == "feature"
    layer = clf.module_.input.input_scaler
    np.testing.assert_allclose(layer.mean.numpy()[:, 0], X.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.scale.numpy()[:, 0], X.std(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        clf.predict(X[:, :3, None])  # per-column statistics fix the number of steps
    series = cls(max_epochs=1, random_state=0).fit(rng.normal(size=(20, 30)), np.arange(20) % 2)
    assert series._standardize == "channel"


def test_cnn_auto_architecture_fits_its_input():
    rng = np.random.default_rng(0)
    images = CNNClassifier(input_shape=(1, 8, 8), max_epochs=1, random_state=0)
    images.fit(rng.normal(size=(20, 64)), np.arange(20) % 2)
    assert images.module_.head == "flatten" and images.module_.stage_shapes[-1][0] == 64
    series = CNNClassifier(max_epochs=1, random_state=0)
    series.fit(rng.normal(size=(20, 1, 30)), np.arange(20) % 2)
    assert series.module_.head == "gap" and [s[0] for s in series.module_.stage_shapes] == [
        64,
        128,
        64,
    ]
    # global average pooling reads any length of 3-D input
    assert series.predict_proba(rng.normal(size=(3, 1, 17))).shape == (3, 2)
    with pytest.raises(ValueError, match="expecting 1 features"):
        series.predict(rng.normal(size=(3, 2, 17)))
    long = CNNClassifier(max_epochs=1, random_state=0).fit(rng.normal(size=(8, 300)), [0, 1] * 4)
    assert long.module_.stage_shapes[-1][-1] < 300  # long signals are pooled


# --------------------------------------------------------------------------- sequence lengths
@pytest.fixture(scope="module")
def fitted_sequence_models():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 150, 2))  # 150 steps: read in patches of 3
    y = (X[:, :20, 0].mean(axis=1) > 0).astype(int)
    return X, [
        cls(max_epochs=2, random_state=0).fit(X, y)
        for cls in (LSTMClassifier, TransformerClassifier)
    ]


def test_long_series_are_read_in_patches(fitted_sequence_models):
    _, models = fitted_sequence_models
    for clf in models:
        assert clf.module_.input.patch_size == 3  # ceil(150 / 64)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 150), st.integers(0, 3))
def test_shorter_sequence_predicts_as_its_padded_version(fitted_sequence_models, length, row):
    X, models = fitted_sequence_models
    short = X[row : row + 1, :length]
    padded = np.full_like(X[row : row + 1], np.nan)
    padded[:, :length] = short
    for clf in models:
        np.testing.assert_allclose(
            clf.predict_proba(short), clf.predict_proba(padded), rtol=0, atol=1e-12
        )


def test_patching_can_be_turned_off_and_sized():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(16, 90)), np.arange(16) % 2
    assert LSTMClassifier(patch_size=1, max_epochs=1).fit(X, y).module_.input.patch_size == 1
    assert LSTMClassifier(patch_size=None, max_epochs=1).fit(X, y).module_.input.patch_size == 1
    assert (
        TransformerClassifier(patch_size=10, max_epochs=1).fit(X, y).module_.input.patch_size == 10
    )


@pytest.fixture(scope="module")
def fitted_token_models():
    rng = np.random.default_rng(0)
    X = rng.integers(1, 30, size=(40, 200))  # 200 tokens: read in patches of 4
    X[::3, 120:] = 0  # shorter texts, padded with 0
    y = ((X[:, :50] < 5).sum(axis=1) > 8).astype(int)
    return X, [
        cls(max_epochs=2, random_state=0).fit(X, y)
        for cls in (LSTMClassifier, TransformerClassifier)
    ]


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 200), st.integers(0, 5))
def test_long_texts_are_read_as_patches_of_mean_embeddings(fitted_token_models, length, row):
    X, models = fitted_token_models
    short = X[row : row + 1, :length]
    padded = np.zeros_like(X[row : row + 1])
    padded[:, :length] = short
    for clf in models:
        assert clf.module_.input.patch_size == 4  # ceil(200 / 64)
        # any length at predict: trailing padding changes nothing
        np.testing.assert_allclose(
            clf.predict_proba(short), clf.predict_proba(padded), rtol=0, atol=1e-12
        )
    # each patch is the mean embedding of its non-padding tokens
    inp = models[0].module_.input
    ids = torch.as_tensor(padded)
    H, lengths = inp(ids)
    emb = inp.embedding.weight.detach()
    for j in range(H.shape[1]):
        chunk = padded[0, 4 * j : 4 * j + 4]
        tokens = chunk[chunk != 0]
        expected = emb[tokens].mean(dim=0) if len(tokens) else torch.zeros(emb.shape[1])
        torch.testing.assert_close(H[0, j].detach(), expected.to(H.dtype))
    observed = int(np.flatnonzero(padded[0])[-1]) + 1  # the text ends at its last token
    assert int(lengths[0]) == math.ceil(observed / 4)


@pytest.mark.parametrize("cls", [LSTMClassifier, TransformerClassifier])
@pytest.mark.parametrize("tokens", [True, False])
def test_training_batches_drop_trailing_padding_without_changing_the_loss(cls, tokens):
    from sklearn_deep.neural_network._sequence_base import TrimTrailingPadding

    rng = np.random.default_rng(0)
    if tokens:
        X = rng.integers(1, 20, size=(12, 30))
        X[:, 17:] = 0
        X[3, 25:] = 0  # one row longer than the rest: the batch keeps 25 steps
        X[3, 17:25] = 7
    else:
        X = rng.normal(size=(12, 30, 2))
        X[:, 17:] = np.nan
        X[3, 17:25] = 1.0
    y = np.arange(12) % 2
    clf = cls(max_epochs=1, random_state=0).fit(X, y)
    transform = clf.net_.get_iterator(clf.net_.get_dataset(X), training=True).transform
    assert isinstance(transform, TrimTrailingPadding)
    xb = torch.as_tensor(clf._prepare_X(X, reset=False))
    if not tokens:
        xb = xb.float()
    trimmed = transform(xb)
    assert trimmed.shape[1] == 25
    module = clf.module_.train(False)
    loss = torch.nn.functional.cross_entropy
    target = torch.as_tensor(y)
    grads = []
    for batch in (xb, trimmed):
        module.zero_grad()
        value = loss(module(batch), target)
        value.backward()
        grads.append([p.grad.clone() for p in module.parameters() if p.grad is not None])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- numerical guards
@pytest.mark.parametrize("cls", ALL)
def test_values_overflowing_float32_are_rejected(cls):
    X = np.ones((6, 4))
    y = [0, 1] * 3
    X_bad = X.copy()
    X_bad[2, 1] = 1e39
    with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
        cls(max_epochs=1).fit(X_bad, y)
    clf = cls(max_epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="too large for dtype\\('float32'\\)"):
        clf.predict(X_bad)


def test_diverging_training_is_an_error_not_nan():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6)) * 1e20  # no standardisation: the logits overflow
    with pytest.raises(ValueError, match="non-finite"):
        TransformerClassifier(standardize=None, max_epochs=2, random_state=0).fit(X, [0, 1] * 10)


def test_non_finite_outputs_at_prediction_are_an_error():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 6))
    clf = LSTMClassifier(max_epochs=1, random_state=0).fit(X, [0, 1] * 10)
    with torch.no_grad():
        clf.module_.head.weight.fill_(float("inf"))
    with pytest.raises(ValueError, match="not finite"):
        clf.predict_proba(X)


@pytest.mark.parametrize("cls", [LSTMClassifier, TransformerClassifier])
def test_absurd_token_id_names_vocab_size(cls):
    X = np.array([[1, 2, 10**9], [3, 4, 5]])
    with pytest.raises(ValueError, match="vocab_size=.*TextToSequence|TextToSequence.*vocab"):
        cls(max_epochs=1).fit(X, [0, 1])
    # with vocab_size the large id shares the out-of-vocabulary row
    cls(vocab_size=10, max_epochs=1).fit(X, [0, 1])


def test_attention_memory_is_checked_before_training():
    X = np.zeros((4, 200_000))
    with pytest.raises(ValueError, match="self-attention maps"):
        TransformerClassifier(patch_size=1, max_epochs=1).fit(X, [0, 1] * 2)


@pytest.mark.parametrize("cls", [LSTMClassifier, TransformerClassifier])
def test_convolutional_branch_memory_is_checked_before_training(cls, monkeypatch):
    # the branch reads the series at full resolution: its feature maps grow with the steps
    # (a batch of 8 samples of 2,000 steps needs about 130 MB in training with the default
    # channels; the Transformer's attention maps over 32 patches about 1 MB)
    from sklearn_deep.neural_network import _sequence_base

    monkeypatch.setattr(_sequence_base, "_memory_limit", lambda: 10 * 1024**2)
    X = np.zeros((4, 2000))
    with pytest.raises(ValueError, match="convolutional branch.*conv_branch=None"):
        cls(max_epochs=1).fit(X, [0, 1] * 2)
    # without the branch the patched input fits
    cls(conv_branch=None, max_epochs=1).fit(X, [0, 1] * 2)


@pytest.mark.parametrize("cls", [LSTMClassifier, TransformerClassifier])
def test_convolutional_branch_memory_bounds_prediction(cls, monkeypatch):
    from sklearn_deep.neural_network import _sequence_base

    rng = np.random.default_rng(0)
    clf = cls(max_epochs=1, random_state=0).fit(rng.normal(size=(8, 50, 1)), [0, 1] * 4)
    long = rng.normal(size=(3, 4000, 1))
    expected = clf.predict_proba(long)
    # one forward pass of a long series at a time: the same probabilities
    monkeypatch.setattr(_sequence_base, "_PREDICT_MEMORY", 1)
    assert clf._predict_batch_size((4000, 1)) == 1
    np.testing.assert_allclose(clf.predict_proba(long), expected, rtol=1e-12, atol=1e-12)
    # a single series too long for the memory left: a clear error, nothing allocated (one
    # series of 4,000 steps: about 16 MB of branch feature maps in float64 at prediction,
    # under 1 MB of the Transformer's attention maps over 64 patches)
    monkeypatch.setattr(_sequence_base, "_memory_limit", lambda: 4 * 1024**2)
    with pytest.raises(ValueError, match="convolutional branch"):
        clf.predict(long)
