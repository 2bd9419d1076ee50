"""Building the Numba cache ahead of time, and where the cache goes on a read-only install."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_deep
from sklearn_deep.compile import compile_all, main

# imports sklearn_deep from argv[1] and runs one small cached kernel; as root, whom file
# permissions do not stop, the package's own cache directory fails the way a read-only
# install's does (Numba's writability check raises)
_CHILD = r"""
import os, sys
ro = sys.argv[1]
if os.geteuid() == 0:
    from numba.core import caching
    ensure = caching._CacheLocator.ensure_cache_path
    def read_only_ensure(self):
        if os.path.realpath(self.get_cache_path()).startswith(os.path.realpath(ro)):
            raise PermissionError("read-only file system")
        ensure(self)
    caching._CacheLocator.ensure_cache_path = read_only_ensure
import sklearn_deep
from sklearn_deep._kernel_blocks import _n_blocks
assert sklearn_deep.__file__.startswith(ro), sklearn_deep.__file__
assert _n_blocks(1000) == 4
print(_n_blocks._cache._cache_path)
print(sum(_n_blocks.stats.cache_hits.values()))
"""


def test_read_only_install_caches_in_the_user_cache_dir(tmp_path):
    ro = tmp_path / "site-packages"
    home = tmp_path / "home"
    home.mkdir()
    shutil.copytree(
        Path(sklearn_deep.__file__).parent,
        ro / "sklearn_deep",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for path in [ro, *ro.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CACHE")}
    env.pop("SKLEARN_DEEP_NUMBA_CACHE", None)
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(ro))
    try:
        runs = [
            subprocess.run(
                [sys.executable, "-c", _CHILD, str(ro)],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            for _ in range(2)
        ]
    finally:
        for path in [ro, *ro.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    cache_dir, hits = runs[0]
    assert Path(cache_dir).is_relative_to(home / ".cache"), cache_dir
    assert any(Path(cache_dir).glob("*.nbi")), "no cache index written"
    assert not list(ro.rglob("*.nbi")), "cache written into the read-only install"
    assert hits == "0"
    assert runs[1] == [cache_dir, "1"]  # the second process loads it


def test_compile_all_reports_and_checks_its_arguments(capsys, monkeypatch, tmp_path):
    # the estimators' warm-up fits stand in for a fresh kernel, cached in tmp_path (compiling
    # the real ones from an empty cache takes minutes; benchmarks/bench_compile.py times them)
    from numba import njit

    import sklearn_deep.compile as compile_module

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("numba.config.CACHE_DIR", str(tmp_path))
    kernel = njit(cache=True)(lambda x: x * 2)
    fits = []
    monkeypatch.setattr(
        compile_module, "_WARM", {"KMeans": lambda dtype: fits.append(kernel(dtype(1)))}
    )
    seconds = compile_all(["float64", "float32"], ["KMeans"])
    assert list(seconds) == [("KMeans", "float64"), ("KMeans", "float32")]
    assert fits == [2.0, 2.0]
    out = capsys.readouterr().out
    assert "KMeans float64" in out and "KMeans float32" in out
    assert "cache written to" in out
    compile_all(["float64"], ["KMeans"])
    assert "the cache was complete" in capsys.readouterr().out
    with pytest.raises(ValueError, match="dtypes must be float32 or float64"):
        compile_all(["int8"], ["KMeans"])
    with pytest.raises(ValueError, match="estimators must be among"):
        compile_all(["float64"], ["SVC"])
    with pytest.raises(SystemExit):
        main(["--estimators", "SVC"])
    assert "estimators must be among" in capsys.readouterr().err
