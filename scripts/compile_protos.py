"""Compiles mx_rec/config/protos/*.proto into the *_pb2.py modules beside them.

Run by setup.py (so `pip install -e .` and scripts/setup.sh regenerate them),
or directly after editing a .proto: python scripts/compile_protos.py
The generated modules are not committed. protoc comes from grpcio-tools
(`python -m grpc_tools.protoc`, pinned in scripts/setup.sh to a release whose
protoc matches protobuf 4.25, which TensorFlow 2.15 needs), or else from a
`protoc` on PATH (Debian's protobuf-compiler).
"""

import glob
import importlib.util
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join("mx_rec", "config", "protos")


def protoc_command():
    """The protoc command line prefix, or SystemExit saying how to get one."""
    if importlib.util.find_spec("grpc_tools") is not None:
        return [sys.executable, "-m", "grpc_tools.protoc"]
    if shutil.which("protoc"):
        return ["protoc"]
    sys.exit("compile_protos: no protoc found: pip install 'grpcio-tools==1.62.3' "
             "(scripts/setup.sh does) or apt-get install protobuf-compiler")


def main():
    protos = sorted(glob.glob(os.path.join(PROTO_DIR, "*.proto"), root_dir=ROOT))
    # Imports inside the .proto files are repository-relative, so the
    # generated modules import each other as mx_rec.config.protos.*_pb2.
    subprocess.check_call(protoc_command() + ["-I", ".", "--python_out=."] + protos, cwd=ROOT)
    print(f"compile_protos: {len(protos)} .proto files -> {PROTO_DIR}/*_pb2.py")


if __name__ == "__main__":
    main()
