import numpy as np
import pytest


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def global_dtype(request):
    """scikit-learn's fixture, with float32 always on (float32 must stay float32)."""
    return request.param
