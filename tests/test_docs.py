"""The documentation: every gallery example runs and plots, the API reference is complete,
every public object has a numpydoc docstring with an Example, and (when Sphinx is installed)
the docs build without warnings."""

import importlib
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*/plot_*.py"))
DOCS = ROOT / "docs"
PUBLIC_MODULES = [
    "sklearn_deep.cluster",
    "sklearn_deep.mixture",
    "sklearn_deep.neural_network",
    "sklearn_deep.preprocessing",
    "sklearn_deep.datasets",
    "sklearn_deep.utils",
    "sklearn_deep.inspection",
    "sklearn_deep.io",
]

# Runs one example as sphinx-gallery does (as __main__, in its own folder), with a non-interactive
# backend, then saves every open figure so that the test can check that the example plotted.
_RUNNER = textwrap.dedent(
    """
    import os, runpy, sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    script, out = sys.argv[1], sys.argv[2]
    sys.argv = [script]
    runpy.run_path(script, run_name="__main__")
    numbers = plt.get_fignums()
    for n in numbers:
        plt.figure(n).savefig(os.path.join(out, f"figure_{n}.png"), dpi=40)
    print(f"FIGURES={len(numbers)}")
    """
)


def _example_env():
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    # Numba's and torch's OpenMP runtimes must not spin-wait on each other's cores
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("NUMBA_NUM_THREADS", "2")
    return env


def test_there_are_examples():
    names = {p.name for p in EXAMPLES}
    assert {
        "plot_kmeans_vs_gmm_old_faithful.py",
        "plot_em_log_likelihood.py",
        "plot_kmeans_init.py",
        "plot_cnn_digits.py",
        "plot_attention_maps.py",
    } <= names
    for folder in {p.parent for p in EXAMPLES} | {ROOT / "examples"}:
        assert (folder / "README.rst").exists(), f"sphinx-gallery needs {folder}/README.rst"


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs_and_plots(script, tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(script), str(tmp_path)],
        cwd=script.parent,
        env=_example_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (
        f"{script.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    n_figures = int(re.search(r"FIGURES=(\d+)", proc.stdout).group(1))
    assert n_figures >= 1, f"{script.name} made no figure"
    assert len(list(tmp_path.glob("figure_*.png"))) == n_figures


def _example_header(script):
    match = re.match(r'"""\n(=+)\n(.+)\n(=+)\n', script.read_text())
    return match


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_has_gallery_header(script):
    # sphinx-gallery reads the title from the docstring; a short underline is a docs warning
    match = _example_header(script)
    assert match, f"{script.name}: the docstring must start with a '=' framed title"
    over, title, under = match.groups()
    assert len(over) >= len(title) and len(under) >= len(title), script.name


def _public_objects():
    objects = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                objects.append((f"{module_name}.{name}", obj))
    return objects


def test_api_reference_lists_every_public_object():
    api = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^\s+(\w+\.\w+)\s*$", api, flags=re.MULTILINE))
    public = {qualname.removeprefix("sklearn_deep.") for qualname, _ in _public_objects()}
    assert public, "no public objects found"
    missing = sorted(public - listed)
    assert not missing, f"add these to docs/api.rst: {missing}"
    gone = sorted(listed - public)
    assert not gone, f"docs/api.rst lists objects that are not public: {gone}"


@pytest.mark.parametrize("qualname, obj", _public_objects(), ids=[q for q, _ in _public_objects()])
def test_public_docstring_is_numpydoc_with_example(qualname, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{qualname} has no docstring"
    sections = set(re.findall(r"^(\w[\w ]*)\n-{3,}$", doc, flags=re.MULTILINE))
    if inspect.signature(obj).parameters:
        assert "Parameters" in sections, f"{qualname}: no Parameters section"
    if inspect.isfunction(obj):
        assert "Returns" in sections or "Yields" in sections, f"{qualname}: no Returns section"
    if qualname.rsplit(".", 1)[-1].startswith("Base"):
        return  # abstract bases: documented for subclass authors, not instantiated by users
    if inspect.isclass(obj) and hasattr(obj, "fit"):
        assert "Attributes" in sections, f"{qualname}: no Attributes section"
    assert "Examples" in sections, f"{qualname}: no Examples section"
    assert ">>> " in doc.split("Examples\n--------", 1)[-1], f"{qualname}: empty Examples"


def _sphinx_available():
    try:
        for name in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme"):
            importlib.import_module(name)
    except ImportError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _sphinx_available(), reason="needs the docs extra: pip install -e .[docs]")
def test_docs_build_without_warnings(tmp_path):
    # The pages and the API reference, with -W; the gallery scripts are run by the tests above.
    # Built from a copy so that the generated pages never land in the source tree.
    generated = shutil.ignore_patterns("_build", "generated", "auto_examples", "gen_modules")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=generated)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = _example_env()
    env["SKLEARN_DEEP_DOCS_PLOT"] = "0"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-W",
            "--keep-going",
            "-q",
            "-d",
            str(tmp_path / "doctrees"),
            str(tmp_path / "docs"),
            str(tmp_path / "html"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-8000:]
    assert (tmp_path / "html" / "api.html").exists()
    assert (tmp_path / "html" / "generated" / "sklearn_deep.cluster.KMeans.html").exists()
