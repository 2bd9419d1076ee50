"""FGSM / PGD exact properties (hypothesis), robustness sanity, adversarial training."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from sklearn_deep.inspection import AdversarialTraining, adversarial_accuracy, fgsm, pgd
from sklearn_deep.neural_network import CNNClassifier

CLIPS = [None, (0.0, 1.0), (-0.5, 1.5), (0.0, None)]


def _rows(digits, idx, layout, dtype):
    X = digits[1][list(idx)].astype(dtype)
    return X.reshape(len(X), -1) if layout == "flat" else X


def _inf_dist(a, b):
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


@settings(max_examples=25, deadline=None)
@given(
    idx=st.lists(st.integers(0, 99), min_size=1, max_size=6),
    eps=st.floats(0.0, 0.5),
    clip=st.sampled_from(CLIPS),
    dtype=st.sampled_from([np.float32, np.float64]),
    targeted=st.booleans(),
)
def test_fgsm_pgd_exact_properties(cnn, digits, idx, eps, clip, dtype, targeted):
    """Shape/dtype kept, within eps and clip, repeat calls identical (the CNN has dropout),
    one PGD step of size eps without random start is FGSM bitwise, X untouched."""
    X = _rows(digits, idx, "flat", dtype)
    X_copy = X.copy()
    y = cnn.classes_[(np.arange(len(X)) + 3) % 10] if targeted else None
    adv = fgsm(cnn, X, y, eps=eps, clip=clip, targeted=targeted)
    assert adv.shape == X.shape and adv.dtype == X.dtype
    assert _inf_dist(adv, X) <= eps
    if clip is not None:
        lo, hi = clip
        assert adv.min() >= lo and (hi is None or adv.max() <= hi)
    np.testing.assert_array_equal(adv, fgsm(cnn, X, y, eps=eps, clip=clip, targeted=targeted))
    one = pgd(
        cnn,
        X,
        y,
        eps=eps,
        step_size=eps,
        n_steps=1,
        random_start=False,
        clip=clip,
        targeted=targeted,
    )
    np.testing.assert_array_equal(one, adv)
    np.testing.assert_array_equal(X, X_copy)


@settings(max_examples=25, deadline=None)
@given(
    idx=st.lists(st.integers(0, 99), min_size=1, max_size=6),
    layout=st.sampled_from(["flat", "image"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_fgsm_eps_zero_returns_x(linear_net, cnn, cnn_gap, digits, idx, layout, dtype):
    X = _rows(digits, idx, layout, dtype)
    est = cnn if layout == "flat" else cnn_gap  # fitted on flat / on (n, 1, 8, 8) images
    for out in (fgsm(est, X, eps=0.0), pgd(est, X, eps=0.0, random_state=0)):
        assert out.dtype == X.dtype
        np.testing.assert_array_equal(out, X)
    Xf = X.reshape(len(X), -1)
    np.testing.assert_array_equal(fgsm(linear_net, Xf, eps=0.0), Xf)


@settings(max_examples=15, deadline=None)
@given(
    eps=st.floats(0.01, 0.4),
    n_steps=st.integers(1, 5),
    clip=st.sampled_from(CLIPS),
    seed=st.integers(0, 10),
)
def test_pgd_stays_in_ball_and_is_seeded(cnn, digits, eps, n_steps, clip, seed):
    X = _rows(digits, range(8), "flat", np.float64)
    a = pgd(cnn, X, eps=eps, n_steps=n_steps, clip=clip, random_state=seed)
    assert _inf_dist(a, X) <= eps
    if clip is not None:
        assert a.min() >= clip[0] and (clip[1] is None or a.max() <= clip[1])
    np.testing.assert_array_equal(
        a, pgd(cnn, X, eps=eps, n_steps=n_steps, clip=clip, random_state=seed)
    )


def test_fgsm_linear_closed_form(linear_net, digits):
    """For a linear model the loss gradient is W^T (softmax - onehot)."""
    X = digits[1][:30].reshape(30, -1)
    y = digits[3][:30]
    W = linear_net.module_.linear.weight.detach().double().numpy()
    b = linear_net.module_.linear.bias.detach().double().numpy()
    z = X @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(30), np.searchsorted(linear_net.classes_, y)] -= 1
    expected = X + 0.1 * np.sign(p @ W)
    np.testing.assert_allclose(fgsm(linear_net, X, y, eps=0.1), expected, atol=1e-12)


def test_attacks_hurt_and_pgd_is_stronger(cnn, digits):
    X = digits[1][:200].reshape(200, -1)
    y = digits[3][:200]
    clean = cnn.score(X, y)
    curve = adversarial_accuracy(cnn, X, y, eps=(0, 0.1, 0.2), clip=(0, 1))
    assert curve.eps.tolist() == [0, 0.1, 0.2]
    assert curve.accuracy[0] == pytest.approx(clean)
    assert curve.accuracy[2] < curve.accuracy[1] < clean - 0.1
    pgd_curve = adversarial_accuracy(
        cnn, X, y, attack="pgd", eps=(0.1, 0.2), clip=(0, 1), attack_params={"random_state": 0}
    )
    assert np.all(pgd_curve.accuracy <= curve.accuracy[1:] + 0.02)
    # targeted PGD reaches the target class
    target = cnn.classes_[(np.searchsorted(cnn.classes_, y) + 1) % 10]
    adv = pgd(cnn, X, target, eps=0.3, n_steps=20, targeted=True, clip=(0, 1), random_state=0)
    assert np.mean(cnn.predict(adv) == target) >= 0.8


def test_attack_errors(cnn, digits, token_models, token_task):
    X = digits[1][:3].reshape(3, -1)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        fgsm(cnn, X, eps=-0.1)
    with pytest.raises(ValueError, match="needs y"):
        pgd(cnn, X, eps=0.1, targeted=True)
    with pytest.raises(ValueError, match="clip"):
        fgsm(cnn, X, eps=0.1, clip=(1, 0))
    with pytest.raises(ValueError, match="n_steps"):
        pgd(cnn, X, eps=0.1, n_steps=0)
    with pytest.raises(ValueError, match="attack must be"):
        adversarial_accuracy(cnn, X, [0, 1, 2], attack="cw")
    with pytest.raises(TypeError, match="real-valued"):
        fgsm(token_models["lstm"], token_task[1][0][:2], eps=0.1)


def _small_cnn(**kw):
    params = dict(
        input_shape=(1, 8, 8),
        channels=(8, 16),
        kernel_size=3,
        dense_units=(32,),
        max_epochs=2,
        batch_size=32,
        random_state=0,
    )
    params.update(kw)
    return CNNClassifier(**params)


def test_callback_in_eval_mode_and_restores(digits):
    """One batch by hand: eps-bounded rows replace the first half, batch-norm statistics and
    the training flags are untouched, the rows come back after the step."""
    X_tr, _, y_tr, _ = digits
    clf = _small_cnn(normalization="batch", dropout=0.3, max_epochs=1).fit(X_tr[:200], y_tr[:200])
    module = clf.module_
    module.train()
    stats = {k: v.clone() for k, v in module.state_dict().items()}
    cb = AdversarialTraining(attack="pgd", eps=0.2, ratio=0.5, n_steps=3, clip=(0, 1))
    cb.initialize()
    Xb = torch.tensor(X_tr[:10], dtype=torch.float32)
    original = Xb.clone()
    yb = torch.tensor(np.searchsorted(clf.classes_, y_tr[:10]))
    cb.on_batch_begin(clf.net_, batch=(Xb, yb), training=True)
    assert module.training and all(p.requires_grad for p in module.parameters())
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in stats.items())
    assert torch.equal(Xb[5:], original[5:])
    assert not torch.equal(Xb[:5], original[:5])
    assert float((Xb - original).abs().max()) <= 0.2 + 1e-6
    assert Xb.min() >= 0 and Xb.max() <= 1
    cb.on_batch_end(clf.net_, batch=(Xb, yb), training=True)
    assert torch.equal(Xb, original)
    # validation batches are left alone
    cb.on_batch_begin(clf.net_, batch=(Xb, yb), training=False)
    assert torch.equal(Xb, original)


def test_adversarial_training_through_estimator(digits):
    X_tr, X_te, y_tr, y_te = digits
    X_tr, X_te = X_tr.reshape(len(X_tr), -1), X_te.reshape(len(X_te), -1)
    X_before = X_tr.copy()
    adv = AdversarialTraining(attack="fgsm", eps=0.2, ratio=0.5, clip=(0, 1))
    plain = _small_cnn(max_epochs=6).fit(X_tr, y_tr)
    robust = _small_cnn(max_epochs=6, callbacks=[("adversarial", adv)]).fit(X_tr, y_tr)
    np.testing.assert_array_equal(X_tr, X_before)
    cb = dict(robust.net_.callbacks_)["adversarial"]
    assert cb.n_adversarial_ == pytest.approx(6 * 0.5 * len(X_tr), rel=0.02)
    assert not hasattr(adv, "n_adversarial_")  # the estimator trains on a copy
    acc = {
        name: adversarial_accuracy(est, X_te, y_te, eps=(0, 0.2), clip=(0, 1)).accuracy
        for name, est in (("plain", plain), ("robust", robust))
    }
    assert acc["robust"][0] >= 0.8
    assert acc["robust"][1] >= acc["plain"][1] + 0.1
    # reproducible, and clone keeps the callback parameters
    again = clone(robust).fit(X_tr, y_tr)
    np.testing.assert_array_equal(again.predict_proba(X_te), robust.predict_proba(X_te))


def test_callback_parameter_errors(digits):
    X_tr, _, y_tr, _ = digits
    for bad, match in [
        (dict(ratio=1.5), "ratio"),
        (dict(attack="cw"), "attack"),
        (dict(eps=-1.0), "eps"),
        (dict(attack="pgd", n_steps=0), "n_steps"),
    ]:
        clf = _small_cnn(max_epochs=1, callbacks=[AdversarialTraining(**bad)])
        with pytest.raises(ValueError, match=match):
            clf.fit(X_tr[:64], y_tr[:64])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(digits):
    from sklearn_deep.inspection import saliency_map
    from sklearn_deep.neural_network import LSTMClassifier

    X_tr, X_te, y_tr, _ = digits
    Xf = X_tr.reshape(len(X_tr), -1)
    clf = _small_cnn(max_epochs=1).fit(Xf[:300], y_tr[:300])
    gpu = clone(clf).set_params(device="cuda").fit(Xf[:300], y_tr[:300])
    gpu.module_.load_state_dict(clf.module_.state_dict())
    X = X_te[:20].reshape(20, -1)
    np.testing.assert_allclose(saliency_map(gpu, X), saliency_map(clf, X), atol=1e-8)
    np.testing.assert_array_equal(fgsm(gpu, X, eps=0.1), fgsm(gpu, X, eps=0.1))
    # recurrent backward on CUDA in eval mode (cuDNN off), dropout stays off
    seq = X_tr[:200].reshape(200, 8, 8)
    lstm = LSTMClassifier(
        hidden_size=8, max_epochs=1, dropout=0.5, num_layers=2, device="cuda", random_state=0
    ).fit(seq, y_tr[:200])
    lstm.module_.train()
    a = saliency_map(lstm, seq[:10])
    np.testing.assert_array_equal(a, saliency_map(lstm, seq[:10]))  # dropout stayed off
    assert lstm.module_.training  # the estimator's module is untouched
    robust = _small_cnn(
        max_epochs=1, device="cuda", callbacks=[AdversarialTraining(eps=0.1, clip=(0, 1))]
    )
    robust.fit(Xf[:300], y_tr[:300])
    assert dict(robust.net_.callbacks_)["AdversarialTraining"].n_adversarial_ > 0
