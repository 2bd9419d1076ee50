"""The tour ``python -m sklearn_deep.demo``: runs end to end in its quick mode, reports our
estimators next to scikit-learn's and writes its figures."""

import os
import re
import subprocess
import sys
from importlib.util import find_spec

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run_demo(*args, cwd, timeout=600):
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return subprocess.run(
        [sys.executable, "-m", "sklearn_deep.demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_demo_help(tmp_path):
    proc = _run_demo("--help", cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for flag in ("--output", "--quick", "--n-jobs"):
        assert flag in proc.stdout


def test_demo_is_importable_without_running():
    # importing the module (as pytest's doctest collection does) must not start the tour
    import sklearn_deep.demo as demo

    assert callable(demo.main)


@pytest.fixture(scope="module")
def quick_tour(tmp_path_factory):
    pytest.importorskip("matplotlib")
    cwd = tmp_path_factory.mktemp("tour")
    out = cwd / "figures"
    # n_jobs=1 keeps the test light; GridSearchCV with n_jobs=2 is covered by the CNN tests
    proc = _run_demo("--quick", "--output", str(out), "--n-jobs", "1", cwd=cwd)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return proc.stdout, out


def test_demo_report_compares_with_scikit_learn(quick_tour):
    stdout, _ = quick_tour
    assert "report" in stdout
    for needle in ("KMeans", "GaussianMixture", "sklearn", "inertia", "log-lik", "GridSearchCV"):
        assert needle in stdout, needle
    # our estimators agree with scikit-learn's on Old Faithful (adjusted Rand index)
    agreements = [float(a) for a in re.findall(r"labels agree \(ARI\) ([0-9.]+)", stdout)]
    assert len(agreements) >= 2
    assert min(agreements) > 0.99
    # the grid search reports its best candidate and a held-out accuracy
    assert re.search(r"best \{.*\}: CV accuracy [01]\.\d{3}", stdout)
    test_acc = float(re.search(r"test accuracy of the refitted pipeline: ([01]\.\d{3})", stdout)[1])
    assert 0.0 <= test_acc <= 1.0
    # progress lines carry elapsed times
    assert re.search(r"^\[\s*\d+\.\d+s\] step 1/3", stdout, flags=re.MULTILINE)


def test_demo_writes_png_figures(quick_tour):
    stdout, out = quick_tour
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert "old_faithful_clusters.png" in pngs
    assert "cnn_digits.png" in pngs
    for name in pngs:
        data = (out / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, name
        assert name in stdout  # the report names every figure it wrote


def test_demo_sequence_step_runs_or_says_why(quick_tour):
    stdout, out = quick_tour
    if find_spec("sktime") is None:
        assert "skipped" in stdout and "sktime" in stdout
        assert not (out / "italy_power_demand.png").exists()
    else:
        assert "ItalyPowerDemand" in stdout
        for model in ("LSTMClassifier", "TransformerClassifier"):
            assert re.search(model + r" +test accuracy [01]\.\d{3}, fit", stdout), model
        assert (out / "italy_power_demand.png").exists()


def test_demo_sequence_step_skips_with_a_message_without_sktime(monkeypatch, tmp_path, capsys):
    import sklearn_deep.datasets
    from sklearn_deep import demo

    def missing(*args, **kwargs):
        raise ImportError("The UCR/UEA files are read from sktime: pip install sktime")

    monkeypatch.setattr(sklearn_deep.datasets, "load_italy_power_demand", missing)
    tour = demo._Tour(n_steps=1)
    demo._sequence(tour, str(tmp_path), quick=True, plt=None)
    out = capsys.readouterr().out
    assert "skipped" in out and "pip install sktime" in out
    assert any("skipped" in text for _, text in tour.report)
    assert not list(tmp_path.iterdir())
