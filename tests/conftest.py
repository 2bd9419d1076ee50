import os

# before torch or Numba start their OpenMP runtimes (see sklearn_deep/__init__.py)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest

# hypothesis profiles: CI runs more examples for the cheap properties
try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.register_profile(
        "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    settings.load_profile("ci" if os.environ.get("CI") else "dev")
except ImportError:  # pragma: no cover
    pass


@pytest.fixture(autouse=True, scope="session")
def _torch_single_thread():
    """torch threads thrash on 2 busy cores: use one in tests (if torch is installed)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def global_random_seed():
    return 0


@pytest.fixture
def rng():
    return np.random.default_rng(0)
