#!/usr/bin/env bash
# Installs what mx_rec needs and builds it in place. Idempotent: a second run
# only rebuilds what changed. Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

# Debian packages: C++ compiler, GoogleTest, RocksDB (SSD tier), zlib and
# nlohmann/json (table checkpoints: CRC-32, manifests), plus any
# named in EXTRA_DEB_PACKAGES (scripts/bench.sh adds abseil).
need=()
command -v g++ >/dev/null 2>&1 || need+=(g++)
for pkg in libgtest-dev librocksdb-dev zlib1g-dev nlohmann-json3-dev ${EXTRA_DEB_PACKAGES:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

# Python packages. TF 2.15.1 is the last release with tf.estimator and Keras 2;
# it needs numpy < 2 and protobuf < 5. faiss-cpu (mx_rec.tools.build_index)
# 1.15.1 works with numpy 1.26. grpcio-tools 1.62.3 is the last release whose
# protoc (25.x, compiling the pipeline config's .proto files) matches
# protobuf 4.25; later ones require protobuf 5. matplotlib 3.9 (the examples'
# curves.png) still supports numpy 1.x.
$PY -m pip install -q --disable-pip-version-check \
  "tensorflow-cpu==2.15.1" "numpy<2" "pybind11>=2.10" "pytest>=7" "cmake>=3.18" "setuptools>=61" wheel \
  "faiss-cpu==1.15.1" "grpcio-tools==1.62.3" "matplotlib==3.9.4"

# Build libasc, _libasc and the op library into mx_rec/libasc/, generate
# mx_rec/config/protos/*_pb2.py, and install the package in editable mode.
$PY -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
