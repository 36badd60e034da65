"""Builds libasc, its pybind11 module and the TF op library with CMake, and
compiles the pipeline config's .proto files.

`pip install --no-build-isolation -e .` (what scripts/setup.sh runs) places the
three shared objects in mx_rec/libasc/, next to the Python code that loads them,
and the generated *_pb2.py modules in mx_rec/config/protos/ (not committed).
The build needs the installed tensorflow and grpcio-tools, so build isolation
must stay off.
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = os.path.dirname(os.path.abspath(__file__))


def compile_protos():
    """Generates mx_rec/config/protos/*_pb2.py beside the .proto files."""
    subprocess.check_call([sys.executable, os.path.join(ROOT, "scripts", "compile_protos.py")])


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def run(self):
        # `pip install -e .` (setup.py develop) runs build_ext but not build_py.
        compile_protos()
        super().run()

    def build_extension(self, ext):
        build_dir = os.path.join(ROOT, "build")
        # The artefacts always land beside the package sources (editable
        # installs and run.sh use them there); wheels get a copy.
        pkg_dir = os.path.join(ROOT, "mx_rec", "libasc")
        subprocess.check_call([
            "cmake", "-S", ROOT, "-B", build_dir, f"-DASC_OUTPUT_DIR={pkg_dir}",
            f"-DPython3_EXECUTABLE={sys.executable}", "-DCMAKE_BUILD_TYPE=Release"])
        subprocess.check_call(["cmake", "--build", build_dir, "-j", str(os.cpu_count() or 2)])
        out_dir = os.path.dirname(os.path.abspath(self.get_ext_fullpath(ext.name)))
        if os.path.abspath(out_dir) != pkg_dir:
            os.makedirs(out_dir, exist_ok=True)
            for name in os.listdir(pkg_dir):
                if name.endswith(".so"):
                    shutil.copy2(os.path.join(pkg_dir, name), out_dir)


class BuildPy(build_py):
    """Compiles the protos before the Python sources are collected (wheels)."""

    def run(self):
        compile_protos()
        super().run()


setup(
    name="mx_rec",
    version="0.1.0",
    description="Embedding tables with unbounded vocabularies for TensorFlow 2.15",
    packages=find_packages(include=["mx_rec", "mx_rec.*"]),
    ext_modules=[CMakeExtension("mx_rec.libasc._libasc")],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPy},
    python_requires=">=3.9",
    install_requires=["tensorflow-cpu==2.15.1", "numpy<2", "protobuf>=4.21.6,<5"],
    # python -m mx_rec.tools.build_index (faiss indexes of item vectors).
    extras_require={"index": ["faiss-cpu==1.15.1"]},
    zip_safe=False,
)
