#!/usr/bin/env bash
# Main job: the DLRM example on the bundled Criteo sample.
#
#   bash run.sh [so_path] [pkg] [hccl_json] [data] [ip]
#
#   so_path    directory holding libasc.so   (default: mx_rec/libasc of this
#              repo; built with scripts/setup.sh first if it is missing)
#   pkg        the mx_rec package directory  (default: ./mx_rec); its parent
#              goes first on PYTHONPATH
#   hccl_json  rank table file               (default:
#              examples/dlrm/rank_table_1p.json, one device, rank 0). Only read
#              for the rank count, which must be 1; a path that does not exist
#              means "no rank table", also one rank.
#   data       raw Criteo file               (default:
#              data/criteo/criteo_kaggle_train_head10800.txt)
#   ip         host address                  (default: 127.0.0.1; one local
#              process, so it is only reported)
#
# Switches (environment): USE_DYNAMIC (default 1), CACHE_MODE (HBM, DDR or
# SSD), USE_DYNAMIC_EXPANSION (0),
# USE_MULTI_LOOKUP (0), USE_FAAE (0), USE_MODIFY_GRAPH (0: FeatureSpec mode,
# 1: automatic graph modification), STEPS (300),
# BATCH_SIZE (8). See examples/dlrm/run.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

DEFAULT_SO_PATH="$ROOT/mx_rec/libasc"
so_path="${1:-$DEFAULT_SO_PATH}"
pkg="${2:-$ROOT/mx_rec}"
hccl_json="${3:-$ROOT/examples/dlrm/rank_table_1p.json}"
data="${4:-$ROOT/data/criteo/criteo_kaggle_train_head10800.txt}"
ip="${5:-127.0.0.1}"

# Check the switches before any (slow) build.
case "${CACHE_MODE:-HBM}" in
  HBM|DDR|SSD) ;;
  *) echo "error: CACHE_MODE must be HBM, DDR or SSD, got '${CACHE_MODE}'" >&2; exit 2 ;;
esac

# Native library: build it on a fresh clone.
if [ ! -f "$so_path/libasc.so" ]; then
  if [ "$(cd "$so_path" 2>/dev/null && pwd || true)" = "$DEFAULT_SO_PATH" ] || [ "$so_path" = "$DEFAULT_SO_PATH" ]; then
    echo "libasc.so not found in $so_path: building it with scripts/setup.sh"
    bash "$ROOT/scripts/setup.sh"
  fi
  [ -f "$so_path/libasc.so" ] || { echo "error: no libasc.so in so_path '$so_path'" >&2; exit 1; }
fi
so_path="$(cd "$so_path" && pwd)"
export LD_LIBRARY_PATH="$so_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Python package: accept the mx_rec directory itself or a directory holding it.
pkg="$(cd "$pkg" && pwd)"
if [ -f "$pkg/__init__.py" ] && [ "$(basename "$pkg")" = mx_rec ]; then
  pkg_parent="$(dirname "$pkg")"
elif [ -f "$pkg/mx_rec/__init__.py" ]; then
  pkg_parent="$pkg"
else
  echo "error: pkg '$pkg' is neither the mx_rec package nor a directory holding it" >&2
  exit 1
fi
export PYTHONPATH="$pkg_parent${PYTHONPATH:+:$PYTHONPATH}"

if [ -f "$hccl_json" ]; then
  export RANK_TABLE_FILE="$hccl_json"
else
  echo "no rank table at '$hccl_json': running without one (1 rank)"
  unset RANK_TABLE_FILE
fi
[ -f "$data" ] || { echo "error: data file '$data' not found" >&2; exit 1; }
export DATA="$data"

echo "so_path:   $so_path"
echo "pkg:       $pkg_parent/mx_rec"
echo "rank table ${RANK_TABLE_FILE:-(none)}; host $ip; rank 0 of 1"
echo "switches:  USE_DYNAMIC=${USE_DYNAMIC:-1} CACHE_MODE=${CACHE_MODE:-HBM}" \
     "USE_DYNAMIC_EXPANSION=${USE_DYNAMIC_EXPANSION:-0} USE_MULTI_LOOKUP=${USE_MULTI_LOOKUP:-0}" \
     "STEPS=${STEPS:-300} BATCH_SIZE=${BATCH_SIZE:-8}"
exec bash "$ROOT/examples/dlrm/run.sh"
