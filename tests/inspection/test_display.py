"""AttributionDisplay follows scikit-learn's Display conventions."""

import numpy as np
import pytest

from sklearn_deep.inspection import AttributionDisplay, grad_cam, saliency_map

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    "method", ["gradient", "guided_backprop", "grad_x_input", "grad_cam", "guided_grad_cam"]
)
def test_from_estimator(cnn, digits, method):
    x = digits[1][:1].reshape(1, -1)
    disp = AttributionDisplay.from_estimator(cnn, x, method=method)
    assert disp.figure_ is disp.ax_.figure
    shown = disp.im_.get_array()
    assert shown.shape == (8, 8)
    if method == "grad_cam":
        np.testing.assert_allclose(shown, grad_cam(cnn, x)[0])
    elif method == "gradient":
        np.testing.assert_allclose(shown, saliency_map(cnn, x).reshape(8, 8))
    assert disp.image_ is not None  # overlay on the input by default
    assert str(disp.target) in disp.ax_.get_title()


def test_from_attributions_gray_color_and_axes():
    rng = np.random.default_rng(0)
    fig, axes = plt.subplots(1, 3)
    gray = AttributionDisplay.from_attributions(
        rng.normal(size=(5, 6)), image=rng.random((5, 6)), ax=axes[0], colorbar=False
    )
    assert gray.ax_ is axes[0] and gray.figure_ is fig
    assert gray.image_.get_array().ndim == 2
    color = AttributionDisplay.from_attributions(
        rng.normal(size=(3, 5, 6)), image=rng.random((3, 5, 6)), ax=axes[1]
    )
    assert color.image_.get_array().shape == (5, 6, 3)
    assert color.im_.get_array().shape == (5, 6)
    alone = AttributionDisplay.from_attributions(
        np.abs(rng.normal(size=(5, 6))), ax=axes[2], overlay=False
    )
    assert alone.image_ is None and alone.im_.get_cmap().name == "inferno"
    with pytest.raises(ValueError, match="spatial shape"):
        AttributionDisplay.from_attributions(np.ones((5, 6)), image=np.ones((4, 4)))
    with pytest.raises(ValueError, match="one image"):
        AttributionDisplay.from_attributions(np.ones((2, 2, 2, 2)))


def test_from_estimator_errors(cnn, digits):
    X = digits[1][:2].reshape(2, -1)
    with pytest.raises(ValueError, match="exactly one sample"):
        AttributionDisplay.from_estimator(cnn, X)
    with pytest.raises(ValueError, match="method must be"):
        AttributionDisplay.from_estimator(cnn, X[:1], method="lime")
