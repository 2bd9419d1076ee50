"""Metadata every benchmark records, under the same keys: what ran, where, and how busy the
machine was (a shared machine's load changes timings more than anything else)."""

import datetime
import os
import platform
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git_commit():
    """HEAD of the repository the benchmark runs from, ``-dirty`` if tracked files differ."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("-dirty" if dirty else "")


def metadata(benchmark, quick):
    """The common keys: ``benchmark``, ``quick``, ``git_commit``, ``sklearn_deep`` (where the
    package timed was imported from), ``date_utc``, ``versions``, ``machine`` (with
    ``load_average_at_start``) and ``numba_threads``."""
    import numba
    import numpy as np
    import sklearn

    import sklearn_deep

    return {
        "benchmark": benchmark,
        "quick": bool(quick),
        "git_commit": git_commit(),
        # (the package timed: the installed one unless PYTHONPATH puts a checkout first)
        "sklearn_deep": str(Path(sklearn_deep.__file__).parent),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_average_at_start": os.getloadavg(),
        },
        "numba_threads": numba.get_num_threads(),
    }


def finish(results, out):
    """Record the load at the end and write ``results`` (JSON) to ``out``."""
    import json

    results["machine"]["load_average_at_end"] = os.getloadavg()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written {out}")
