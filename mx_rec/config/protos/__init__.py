"""The pipeline config schema: the .proto files here and the *_pb2 modules
protoc generates from them (scripts/compile_protos.py, run by `pip install -e .`
and scripts/setup.sh; the generated modules are not committed).

pipeline.proto is the file's top-level message, PipelineConfig; the other
files are its sections.
"""

import glob
import os

_HERE = os.path.dirname(os.path.abspath(__file__))


def _check_generated():
    """ImportError naming the fix when a .proto has no up-to-date *_pb2.py."""
    for proto in glob.glob(os.path.join(_HERE, "*.proto")):
        generated = proto[:-len(".proto")] + "_pb2.py"
        if not os.path.exists(generated) or os.path.getmtime(generated) < os.path.getmtime(proto):
            state = "is missing" if not os.path.exists(generated) else "is older than its .proto"
            raise ImportError(f"{generated} {state}: run `python scripts/compile_protos.py` "
                              "(or `pip install --no-build-isolation -e .`) from the repository "
                              "root")


_check_generated()
