"""The native artefacts built by CMake (see setup.py / scripts/setup.sh).

libasc.so is the core; _libasc is its pybind11 module; libasc_tf_ops.so holds
the TensorFlow kernels. Both adapters link the same libasc.so, so a table made
through one is visible through the other.
"""

import os

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
OP_LIBRARY = os.path.join(LIB_DIR, "libasc_tf_ops.so")

try:
    from mx_rec.libasc import _libasc  # noqa: F401  (re-exported)
except ImportError as err:  # pragma: no cover - only on an unbuilt checkout
    raise ImportError(
        "mx_rec's native library is not built (no _libasc module in %s); "
        "run `bash scripts/setup.sh` from the repository root" % LIB_DIR
    ) from err
