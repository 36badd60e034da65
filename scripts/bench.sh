#!/usr/bin/env bash
# Sets up the peers and runs the benchmarks (not tests; figures go to
# BENCHMARKS.md). Usage: bash scripts/bench.sh [lookup_bench.py options]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_DEB_PACKAGES="libabsl-dev" bash scripts/setup.sh
# TFRA 0.7.2 is the release that loads on TF 2.15.1; --no-deps keeps pip from
# pulling the `tensorflow` package next to tensorflow-cpu.
python3 -m pip install -q --disable-pip-version-check --no-deps "tensorflow-recommenders-addons==0.7.2"

cmake -S . -B build-bench -DASC_BUILD_BENCH=ON -DASC_BUILD_TESTS=OFF -DASC_BUILD_TF_OPS=OFF \
  -DASC_BUILD_PYBIND=OFF -DASC_OUTPUT_DIR="$PWD/build-bench/lib" >/dev/null
cmake --build build-bench -j2 --target key_map_bench
echo "== key map: KeySlotMap vs absl::flat_hash_map =="
./build-bench/key_map_bench
echo "== unique-key find-or-insert through TF ops (mx_rec: a training lookup, AscLookup + AscFill + AscCommitStep) vs TFRA vs tf.lookup =="
TF_CPP_MIN_LOG_LEVEL=2 python3 bench/lookup_bench.py "$@"
echo "== sparse checkpoints: Saver save / restore of a 10M-row table (lazy Adam; HBM, DDR) vs dd on the same disk =="
TF_CPP_MIN_LOG_LEVEL=2 nice python3 bench/checkpoint_bench.py
echo "== export for serving: a 10M-row table frozen into a stock-TF SavedModel (float32, fp16) vs a dense variable's and TFRA's SavedModel, and dd =="
TF_CPP_MIN_LOG_LEVEL=2 nice python3 bench/export_bench.py
