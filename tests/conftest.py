import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN may reorder float reductions between otherwise identical graphs; the
# equivalence tests compare two graphs to 1e-5, so keep kernels deterministic.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.compat.v1.disable_eager_execution()

from mx_rec.util import initialize  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_graph():
    """Every test gets an empty default graph and no mx_rec state."""
    initialize.terminate_config_initializer()
    with tf.Graph().as_default() as graph:
        yield graph
    initialize.terminate_config_initializer()


@pytest.fixture
def mx():
    """init() with defaults; tests needing other switches call init themselves."""
    return initialize.init()


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs subprocesses or many steps (still run in CI)")
