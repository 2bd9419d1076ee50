"""CNNClassifier and its torch modules: shapes, initialisation, augmentation, real data."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_deep.neural_network import BatchAugmentation, CNNClassifier, ConvNet
from sklearn_deep.neural_network._augment import make_augmentation


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


# --------------------------------------------------------------------------- modules
def _expected_stage_shapes(input_shape, channels, k, stride, pooling, pool, residual):
    """Independent oracle: the convolution/pooling arithmetic, one stage at a time."""
    spatial, shapes = list(input_shape[1:]), []
    for c in channels:
        n_convs = 2 if residual else 1
        for i in range(n_convs):
            s = stride if i == 0 else 1
            spatial = [math.floor((n + 2 * (k // 2) - k) / s) + 1 for n in spatial]
        if pooling is not None:
            spatial = [n // pool if n >= pool else n for n in spatial]
        shapes.append((c, *spatial))
    return shapes


@given(
    dims=st.sampled_from([1, 2]),
    size=st.integers(1, 20),
    channels=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    k=st.sampled_from([1, 2, 3, 5]),
    stride=st.integers(1, 3),
    pooling=st.sampled_from(["max", "avg", None]),
    pool=st.integers(2, 3),
    residual=st.booleans(),
    head=st.sampled_from(["flatten", "gap"]),
)
def test_stage_shapes_follow_conv_pool_arithmetic(
    dims, size, channels, k, stride, pooling, pool, residual, head
):
    if residual and k % 2 == 0:
        k += 1
    input_shape = (2,) + (size,) * dims
    net = ConvNet(
        input_shape,
        3,
        channels=tuple(channels),
        kernel_size=k,
        stride=stride,
        pooling=pooling,
        pool_size=pool,
        residual=residual,
        head=head,
        dense_units=(4,),
        normalization="group" if residual else None,
    )
    expected = _expected_stage_shapes(input_shape, channels, k, stride, pooling, pool, residual)
    assert net.stage_shapes == expected
    seen = []
    for stage in net.features:
        stage.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[1:])))
    out = net(torch.zeros(2, *input_shape))
    assert seen == expected
    assert out.shape == (2, 3)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_kaiming_init_std(activation):
    torch.manual_seed(0)
    net = ConvNet(
        (3, 16, 16),
        10,
        channels=(64, 128),
        kernel_size=3,
        dense_units=(256,),
        activation=activation,
    )
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 4
    for layer in layers:
        fan_in = layer.weight[0].numel()
        std = layer.weight.std().item()
        assert std == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.1), (layer, std)
        assert layer.weight.mean().item() == pytest.approx(0.0, abs=0.2 * std)
        assert torch.all(layer.bias == 0)


def test_residual_blocks_and_norms_forward():
    for norm in ["batch", "group", None]:
        net = ConvNet(
            (3, 12, 12),
            4,
            channels=(8, 16),
            kernel_size=3,
            stride=2,
            residual=True,
            normalization=norm,
            head="gap",
            dense_units=(),
        )
        assert net.n_flat == 16
        assert net(torch.randn(3, 3, 12, 12)).shape == (3, 4)
    with pytest.raises(ValueError, match="odd kernel_size"):
        ConvNet((1, 8, 8), 2, kernel_size=4, residual=True)


# --------------------------------------------------------------------------- input shapes
def test_input_layouts_agree(digits):
    X_train, X_test, y_train, _ = digits
    params = dict(channels=(4,), kernel_size=3, max_epochs=2, random_state=0)
    flat = CNNClassifier(input_shape=(1, 8, 8), **params).fit(X_train, y_train)
    img = CNNClassifier(**params).fit(X_train.reshape(-1, 1, 8, 8), y_train)
    assert flat.module_.input_shape == img.module_.input_shape == (1, 8, 8)
    assert flat.n_features_in_ == 64 and img.n_features_in_ == 1
    np.testing.assert_allclose(
        flat.predict_proba(X_test), img.predict_proba(X_test.reshape(-1, 1, 8, 8)), atol=1e-12
    )
    # 2-D X without input_shape: one-channel 1-D signals; 3-D X: (channels, length)
    tab = CNNClassifier(**params).fit(X_train, y_train)
    assert tab.module_.input_shape == (1, 64)
    assert isinstance(tab.module_.features[0][0], nn.Conv1d)
    seq = CNNClassifier(**params).fit(X_train.reshape(-1, 8, 8), y_train)
    assert seq.module_.input_shape == (8, 8)


def test_input_shape_errors(digits):
    X_train, _, y_train, _ = digits
    with pytest.raises(ValueError, match=r"input_shape=\(1, 7, 7\) needs 49 features"):
        CNNClassifier(input_shape=(1, 7, 7)).fit(X_train, y_train)
    with pytest.raises(ValueError, match="does not match input_shape"):
        CNNClassifier(input_shape=(1, 4, 16)).fit(X_train.reshape(-1, 1, 8, 8), y_train)
    clf = CNNClassifier(max_epochs=1, channels=(2,), random_state=0)
    clf.fit(X_train.reshape(-1, 1, 8, 8), y_train)
    with pytest.raises(ValueError, match="samples of shape"):
        clf.predict(X_train.reshape(-1, 1, 4, 16))
    with pytest.raises(ValueError, match="features"):
        clf.predict(X_train.reshape(-1, 2, 4, 8))


def test_single_feature_and_strided_gelu_avgpool():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1))
    y = (X[:, 0] > 0).astype(int)
    clf = CNNClassifier(random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    X = rng.normal(size=(80, 16))
    y = (X[:, :8].sum(axis=1) > 0).astype(int)
    clf = CNNClassifier(
        channels=(6, 16),
        kernel_size=5,
        stride=2,
        activation="gelu",
        pooling="avg",
        normalization="group",
        head="gap",
        max_epochs=15,
        lr=5e-3,
        random_state=0,
    ).fit(X, y)
    assert clf.module_.stage_shapes == [(6, 4), (16, 1)]
    assert clf.score(X, y) > 0.75


# --------------------------------------------------------------------------- augmentation
class _Recorder:
    """An augmentation that counts its calls and checks it only runs in training mode."""

    def __init__(self):
        self.calls = 0

    def __call__(self, x):
        self.calls += 1
        return x + 0.01 * torch.randn_like(x)


def test_augmentation_only_on_training_batches(digits):
    X_train, X_test, y_train, _ = digits
    recorder = _Recorder()
    clf = CNNClassifier(
        input_shape=(1, 8, 8),
        channels=(4,),
        augmentation=recorder,
        batch_size=64,
        max_epochs=2,
        random_state=0,
    )
    clf.fit(X_train[:256], y_train[:256])
    fitted_recorder = clf.net_.iterator_train__transform
    assert fitted_recorder.calls == 2 * 4  # every training batch of every epoch
    fitted_recorder.calls = 0
    clf.predict_proba(X_test)
    clf.score(X_test[:10], clf.predict(X_test[:10]))
    assert fitted_recorder.calls == 0
    # named augmentations change the fit (not the prediction path) and stay reproducible
    kw = dict(input_shape=(1, 8, 8), channels=(4,), max_epochs=2, random_state=0)
    plain = CNNClassifier(**kw).fit(X_train, y_train).predict_proba(X_test)
    aug = CNNClassifier(augmentation=("crop", "flip", "jitter", "blur", "affine"), **kw)
    a = aug.fit(X_train, y_train).predict_proba(X_test)
    assert not np.allclose(plain, a)
    np.testing.assert_array_equal(a, aug.fit(X_train, y_train).predict_proba(X_test))


def test_augmentation_name_errors():
    with pytest.raises(ValueError, match="augmentation must name"):
        make_augmentation(("crop", "rotate90"))
    assert make_augmentation(None) is None


def test_batch_augmentation_transforms():
    torch.manual_seed(0)
    x = torch.randn(16, 2, 9, 9)
    # crop: every output is the input shifted by whole pixels (zeros enter at the border)
    out = BatchAugmentation(crop_padding=2)(x)
    for xi, oi in zip(x, out):
        shifts = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                padded = nn.functional.pad(xi, (2, 2, 2, 2))
                cand = padded[:, 2 + dy : 2 + dy + 9, 2 + dx : 2 + dx + 9]
                if torch.allclose(cand, oi, atol=1e-5):
                    shifts.append((dy, dx))
        assert shifts, "crop output is not a whole-pixel shift of its input"
    # flip: each sample is unchanged or mirrored, and both occur
    out = BatchAugmentation(flip=True)(x)
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored)) and any(same) and any(mirrored)
    # jitter: a per-sample affine map of the values
    out = BatchAugmentation(brightness=0.3, contrast=0.3)(x)
    for xi, oi in zip(x, out):
        A = torch.stack([xi.flatten(), torch.ones(xi.numel())], 1)
        coef = torch.linalg.lstsq(A, oi.flatten()[:, None]).solution
        assert torch.allclose(A @ coef, oi.flatten()[:, None], atol=1e-4)
    # blur keeps constant images constant and never increases the spread
    const = torch.full((4, 1, 9, 9), 3.0)
    assert torch.allclose(BatchAugmentation(blur_sigma=1.0)(const), const)
    assert BatchAugmentation(blur_sigma=1.0)(x).std() <= x.std() + 1e-6
    # affine with zero strength is the identity; 1-D signals keep their shape
    assert torch.allclose(BatchAugmentation()(x), x)
    warped = BatchAugmentation(rotation=10, scale=0.1, shear=5)(x)
    assert warped.shape == x.shape and not torch.allclose(warped, x)
    signal = torch.randn(5, 3, 20)
    out = make_augmentation(["crop", "flip", "jitter", "blur", "affine"])(signal)
    assert out.shape == signal.shape


# --------------------------------------------------------------------------- real data, search
def test_digits_accuracy(digits):
    X_train, X_test, y_train, y_test = digits
    clf = CNNClassifier(
        input_shape=(1, 8, 8),
        channels=(32, 64),
        kernel_size=3,
        normalization="batch",
        dense_units=(128,),
        dropout=0.2,
        lr=3e-3,
        lr_schedule="cosine",
        max_epochs=12,
        batch_size=32,
        random_state=0,
    )
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.98


def test_grid_search_pipeline_n_jobs(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(
        StandardScaler(),
        CNNClassifier(
            input_shape=(1, 8, 8),
            channels=(4,),
            kernel_size=3,
            dense_units=(16,),
            lr=1e-2,
            max_epochs=5,
            random_state=0,
        ),
    )
    grid = GridSearchCV(
        pipe,
        {
            "cnnclassifier__channels": [(4,), (8,)],  # architecture
            "cnnclassifier__optimizer__amsgrad": [False, True],  # routed optimizer parameter
        },
        cv=2,
        n_jobs=2,
    )
    grid.fit(X_train[:300], y_train[:300])
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_estimator_[-1].module_.stage_shapes[0][0] in (4, 8)
    assert grid.best_estimator_[-1].net_.optimizer_.param_groups[0]["amsgrad"] in (False, True)
    assert grid.score(X_test, y_test) > 0.5


@pytest.mark.parametrize("seed", [1, 2])
def test_defaults_clear_sklearn_classifier_checks_for_other_seeds(seed):
    """The data of check_classifiers_train / check_classifiers_classes (which always use
    random_state=0) with other seeds: the defaults must not pass by the luck of one seed."""
    from sklearn.datasets import make_blobs
    from sklearn.utils import shuffle

    X, y = make_blobs(n_samples=300, random_state=0)
    X, y = shuffle(X, y, random_state=7)
    X = StandardScaler().fit_transform(X)
    for Xp, yp in [(X, y), (X[y != 2], y[y != 2])]:
        assert CNNClassifier(random_state=seed).fit(Xp, yp).score(Xp, yp) > 0.83
    X, y = make_blobs(n_samples=30, random_state=0, cluster_std=0.1)
    X, y = shuffle(X, y, random_state=7)
    X = StandardScaler().fit_transform(X)
    names = np.take(["one", "two", "three"], y)
    for Xp, yp in [(X, names), (X[y != 2], names[y != 2])]:
        pred = CNNClassifier(random_state=seed).fit(Xp, yp).predict(Xp)
        np.testing.assert_array_equal(np.unique(pred), np.unique(yp))
