"""Attributions checked against captum (test-only oracle) and closed forms."""

import copy

import numpy as np
import pytest
import torch
from inspection_models import ReluNet, ReluNetClassifier
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from sklearn_deep.cluster import KMeans
from sklearn_deep.inspection import (
    class_activation_map,
    grad_cam,
    saliency_map,
    token_saliency,
)
from sklearn_deep.mixture import GaussianMixture
from sklearn_deep.neural_network import CNNClassifier

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks:UserWarning")


def _module64(est):
    return copy.deepcopy(est.module_).double().eval()


def _last_conv_name(module):
    return [k for k, m in module.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))][-1]


def test_saliency_matches_captum(cnn, digits):
    X = digits[1][:40]
    Xf = X.reshape(len(X), -1)
    target = cnn.predict(Xf)
    codes = np.searchsorted(cnn.classes_, target)
    x = torch.tensor(X, requires_grad=True)
    ref = captum_attr.Saliency(_module64(cnn)).attribute(x, target=torch.tensor(codes), abs=False)
    got = saliency_map(cnn, Xf)
    assert got.shape == Xf.shape
    np.testing.assert_allclose(got, ref.detach().numpy().reshape(Xf.shape), atol=1e-6, rtol=0)
    # grad x input is the product with the input, in X's units and layout
    np.testing.assert_allclose(saliency_map(cnn, Xf, method="grad_x_input"), got * Xf, atol=1e-12)


def test_guided_backprop_matches_captum(cnn, digits):
    X = digits[1][:40]
    Xf = X.reshape(len(X), -1)
    codes = np.searchsorted(cnn.classes_, cnn.predict(Xf))
    x = torch.tensor(X, requires_grad=True)
    ref = captum_attr.GuidedBackprop(_module64(cnn)).attribute(x, target=torch.tensor(codes))
    got = saliency_map(cnn, Xf, method="guided_backprop")
    np.testing.assert_allclose(got, ref.detach().numpy().reshape(Xf.shape), atol=1e-6, rtol=0)
    assert not np.allclose(got, saliency_map(cnn, Xf), atol=1e-3)


@pytest.fixture(scope="module")
def relu_net(digits):
    X_tr, _, y_tr, _ = digits
    return ReluNetClassifier(max_epochs=2, random_state=0).fit(X_tr, y_tr)


@pytest.mark.parametrize(
    "kind", ["inplace", "functional", "functional_inplace", "torch_inplace", "tensor_method"]
)
def test_guided_backprop_any_relu_style(relu_net, digits, kind):
    """nn.ReLU(inplace=True), F.relu(inplace=...), torch.relu_ and Tensor.relu are all guided:
    the same weights written with any ReLU style give captum's guided backprop of the
    nn.ReLU version."""
    X = digits[1][:30]
    codes = np.searchsorted(relu_net.classes_, relu_net.predict(X))
    x = torch.tensor(X, requires_grad=True)
    ref = captum_attr.GuidedBackprop(_module64(relu_net)).attribute(x, target=torch.tensor(codes))
    est = copy.copy(relu_net)
    module = ReluNet(len(relu_net.classes_), relu_kind=kind)
    module.load_state_dict(relu_net.module_.state_dict())
    est.module_ = module
    got = saliency_map(est, X, method="guided_backprop")
    np.testing.assert_allclose(got, ref.detach().numpy(), atol=1e-6, rtol=0)
    # and the plain gradient is unchanged by the style
    np.testing.assert_allclose(saliency_map(est, X), saliency_map(relu_net, X), atol=1e-12)


def test_grad_cam_matches_captum_layer_grad_cam(cnn, digits):
    X = digits[1][:40]
    Xf = X.reshape(len(X), -1)
    codes = torch.tensor(np.searchsorted(cnn.classes_, cnn.predict(Xf)))
    module = _module64(cnn)
    name = _last_conv_name(module)
    layer = dict(module.named_modules())[name]
    x = torch.tensor(X, requires_grad=True)
    for relu in (True, False):
        lgc = captum_attr.LayerGradCam(module, layer)
        ref = lgc.attribute(x, target=codes, relu_attributions=relu)
        low = ref.detach().numpy()[:, 0]
        up = captum_attr.LayerAttribution.interpolate(ref, (8, 8), interpolate_mode="bilinear")
        got = grad_cam(cnn, Xf, relu=relu)  # layer=None: the last convolution
        assert got.shape == (len(X), 8, 8)
        np.testing.assert_allclose(got, up.detach().numpy()[:, 0], atol=1e-6, rtol=0)
        got_low = grad_cam(cnn, Xf, layer=name, relu=relu, upsample=False)
        np.testing.assert_allclose(got_low, low, atol=1e-6, rtol=0)
    assert grad_cam(cnn, Xf).min() >= 0
    guided = grad_cam(cnn, Xf, guided=True)
    gb = saliency_map(cnn, Xf, method="guided_backprop")
    np.testing.assert_allclose(guided, gb * grad_cam(cnn, Xf).reshape(Xf.shape), atol=1e-12)


def test_linear_saliency_is_weight_row(linear_net, digits):
    X = digits[1][:25].reshape(25, -1)
    W = linear_net.module_.linear.weight.detach().double().numpy()
    target = np.arange(25) % 10
    got = saliency_map(linear_net, X, target=target)
    np.testing.assert_allclose(got, W[target], atol=1e-12)
    # a single label broadcasts to every row
    np.testing.assert_allclose(saliency_map(linear_net, X, target=3), np.tile(W[3], (25, 1)))


def test_cam_is_unrectified_grad_cam_times_positions(cnn_gap, digits):
    X = digits[1][:30]
    name = _last_conv_name(cnn_gap.module_).rsplit(".", 1)[0]  # the last stage's output
    for upsample in (False, True):
        cam = class_activation_map(cnn_gap, X, upsample=upsample)
        gc = grad_cam(cnn_gap, X, layer=name, relu=False, upsample=upsample)
        n_pos = int(np.prod(grad_cam(cnn_gap, X[:1], layer=name, upsample=False).shape[1:]))
        np.testing.assert_allclose(cam, gc * n_pos, atol=1e-9, rtol=1e-9)
    assert class_activation_map(cnn_gap, X, target=2).shape == (30, 8, 8)


def test_cam_needs_gap_linear_head(cnn, digits):
    with pytest.raises(ValueError, match="global average"):
        class_activation_map(cnn, digits[1][:3].reshape(3, -1))


def test_target_and_layer_errors(cnn, digits):
    Xf = digits[1][:3].reshape(3, -1)
    with pytest.raises(ValueError, match="not in classes_"):
        saliency_map(cnn, Xf, target=[0, 1, 42])
    with pytest.raises(ValueError, match=r"shape \(n_samples,\)"):
        saliency_map(cnn, Xf, target=[0, 1])
    with pytest.raises(ValueError, match="valid layer names are .*features"):
        grad_cam(cnn, Xf, layer="conv99")
    with pytest.raises(ValueError, match="no spatial"):
        grad_cam(
            cnn,
            Xf,
            layer=[k for k, m in cnn.module_.named_modules() if isinstance(m, nn.Linear)][-1],
        )
    with pytest.raises(ValueError, match="method must be"):
        saliency_map(cnn, Xf, method="smoothgrad")
    with pytest.raises(ValueError, match="samples of shape|features"):
        saliency_map(cnn, Xf[:, :10])


@pytest.mark.parametrize("bad", [KMeans(n_clusters=2), GaussianMixture(n_components=2)])
def test_non_neural_estimators_type_error(bad, digits):
    X = digits[1][:20].reshape(20, -1)  # not fitted: the type is checked first (no JIT)
    with pytest.raises(TypeError, match="neural classifier"):
        saliency_map(bad, X)
    with pytest.raises(TypeError, match="neural classifier"):
        grad_cam(bad, X)


def test_unfitted_estimator(digits):
    with pytest.raises(NotFittedError):
        saliency_map(CNNClassifier(input_shape=(1, 8, 8)), digits[1][:2].reshape(2, -1))


def test_state_restored_x_untouched_and_batching(cnn, digits):
    X = digits[1][:20].reshape(20, -1).astype(np.float32)
    X.flags.writeable = False
    X_copy = X.copy()
    cnn.module_.train()  # whatever mode it is in is restored
    flags = [p.requires_grad for p in cnn.module_.parameters()]
    state = {k: v.clone() for k, v in cnn.module_.state_dict().items()}
    a = saliency_map(cnn, X, method="guided_backprop")
    b = saliency_map(cnn, X, method="guided_backprop", batch_size=3)
    c = grad_cam(cnn, X, batch_size=7)
    assert cnn.module_.training
    cnn.module_.eval()
    assert [p.requires_grad for p in cnn.module_.parameters()] == flags
    assert all(torch.equal(v, cnn.module_.state_dict()[k]) for k, v in state.items())
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(c, grad_cam(cnn, X), atol=1e-12)
    # dropout is off: repeated calls are identical
    np.testing.assert_array_equal(saliency_map(cnn, X), saliency_map(cnn, X))


def test_saliency_is_faithful(cnn, digits):
    """Zeroing the top-8 pixels by |gradient| costs more probability than 8 random ones."""
    X = digits[1][:150].reshape(150, -1)
    pred = cnn.predict(X)
    codes = np.searchsorted(cnn.classes_, pred)
    p0 = cnn.predict_proba(X)[np.arange(150), codes]
    rng = np.random.default_rng(0)

    def drop(order):
        Xz = X.copy()
        np.put_along_axis(Xz, order[:, :8], 0.0, axis=1)
        return np.mean(p0 - cnn.predict_proba(Xz)[np.arange(150), codes])

    top = drop(np.argsort(-np.abs(saliency_map(cnn, X)), axis=1))
    rand = drop(np.argsort(rng.random(X.shape), axis=1))
    assert top >= 2 * rand
    assert drop(np.argsort(-saliency_map(cnn, X, method="grad_x_input"), axis=1)) > top / 2


def test_token_saliency_finds_planted_token(token_models, token_task):
    _, (X, y, pos) = token_task
    pos_rows = y == 1
    for name, est in token_models.items():
        s = token_saliency(est, X[pos_rows], target=1)
        assert s.shape == (pos_rows.sum(), X.shape[1])
        hit = np.mean(s.argmax(axis=1) == pos[pos_rows])
        assert hit >= 0.85, (name, hit)
        with pytest.raises(TypeError, match="real-valued"):
            saliency_map(est, X[:2])
    with pytest.raises(ValueError, match="method must be"):
        token_saliency(token_models["lstm"], X[:2], method="bogus")


def test_token_saliency_rejects_real_valued_models(cnn, digits):
    with pytest.raises(TypeError, match="token model"):
        token_saliency(cnn, digits[1][:2].reshape(2, -1))


def test_clone_unaffected(cnn):
    # inspection never adds attributes to the estimator
    assert set(vars(clone(cnn))) <= set(vars(cnn))


def test_continuous_sequence_model(digits):
    """Real-valued sequences (n, T, C): maps and attacks keep X's shape."""
    from sklearn_deep.inspection import fgsm
    from sklearn_deep.neural_network import LSTMClassifier

    X_tr, X_te, y_tr, _ = digits
    seq = X_tr[:300].reshape(300, 8, 8)
    lstm = LSTMClassifier(
        hidden_size=16, max_epochs=2, dropout=0.0, batch_size=32, random_state=0
    ).fit(seq, y_tr[:300])
    X = X_te[:7].reshape(7, 8, 8)
    s = saliency_map(lstm, X)
    assert s.shape == X.shape and np.abs(s).sum() > 0
    np.testing.assert_allclose(s, saliency_map(lstm, X, batch_size=2), atol=1e-12, rtol=0)
    adv = fgsm(lstm, X, eps=0.05)
    assert adv.shape == X.shape and np.abs(adv - X).max() <= 0.05
    # the default convolutional branch (LSTM-FCN) gives Grad-CAM a layer: a map over the steps
    assert grad_cam(lstm, X).shape == (7, 8)
    plain = LSTMClassifier(
        hidden_size=16, max_epochs=2, batch_size=32, conv_branch=None, random_state=0
    ).fit(seq, y_tr[:300])
    with pytest.raises(ValueError, match="no convolution"):
        grad_cam(plain, X)


def test_layer_maps_with_inplace_relu_after_the_layer(relu_net, digits):
    """A ReLU(inplace=True) right after the hooked convolution neither breaks the backward
    pass nor overwrites the recorded (pre-activation) feature maps."""
    from sklearn_deep.inspection import layer_activations

    X = digits[1][:10]
    est = copy.copy(relu_net)
    module = ReluNet(len(relu_net.classes_), relu_kind="inplace")
    module.load_state_dict(relu_net.module_.state_dict())
    est.module_ = module
    for layer in ("conv1", "conv2"):
        np.testing.assert_allclose(
            grad_cam(est, X, layer=layer), grad_cam(relu_net, X, layer=layer), atol=1e-12
        )
        A = layer_activations(est, X, layer=layer)
        assert A.min() < 0  # before the ReLU
        np.testing.assert_allclose(A, layer_activations(relu_net, X, layer=layer), atol=1e-12)


def test_string_labels_as_targets(digits):
    from inspection_models import LinearNetClassifier

    X_tr, X_te, y_tr, _ = digits
    labels = np.array([f"digit{d}" for d in y_tr])
    est = LinearNetClassifier(max_epochs=1, random_state=0).fit(X_tr.reshape(len(X_tr), -1), labels)
    W = est.module_.linear.weight.detach().double().numpy()
    X = X_te[:4].reshape(4, -1)
    k = list(est.classes_).index("digit7")
    np.testing.assert_allclose(saliency_map(est, X, target="digit7"), np.tile(W[k], (4, 1)))
    with pytest.raises(ValueError, match="not in classes_"):
        saliency_map(est, X, target="digit77")
