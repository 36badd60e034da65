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
#              examples/common/rank_table_1p.json, one device, rank 0). Only
#              read for the rank count, which must be 1 (malformed JSON is an
#              error); a path that does not exist means "no rank table", also
#              one rank.
#   data       raw Criteo file               (default:
#              data/criteo/criteo_kaggle_train_head10800.txt)
#   ip         host address                  (default: 127.0.0.1; one local
#              process, so it is only checked and reported)
#
# Switches (environment): USE_DYNAMIC (default 1), CACHE_MODE (HBM, DDR or
# SSD), USE_DYNAMIC_EXPANSION (0),
# USE_MULTI_LOOKUP (0), USE_FAAE (0), USE_MODIFY_GRAPH (0: FeatureSpec mode,
# 1: automatic graph modification), STEPS (300),
# BATCH_SIZE (8), SCALE (0; 1: 2M synthetic rows, see examples/dlrm/README.md
# "At scale"). See examples/dlrm/run.sh; the argument and switch checks
# are shared with the other examples (examples/common/run_args.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"

# shellcheck source=examples/common/run_args.sh
source "$ROOT/examples/common/run_args.sh"
read_switches   # before any (slow) build
setup_run_args "$ROOT" "$ROOT/data/criteo/criteo_kaggle_train_head10800.txt" "$@"
print_run_config
if [ "${SCALE:-0}" = 1 ]; then  # examples/dlrm/run.sh: the large synthetic configuration
  echo "           SCALE=1: synthetic rows in ${SCALE_DIR:-${TMPDIR:-/tmp}/mx_rec_dlrm_scale} (not the data above):" \
       "SCALE_ROWS=${SCALE_ROWS:-2000000} STEPS=${STEPS:-0 (one pass)} BATCH_SIZE=${BATCH_SIZE:-512}"
else
  echo "           STEPS=${STEPS:-300} BATCH_SIZE=${BATCH_SIZE:-8}"
fi
exec bash "$ROOT/examples/dlrm/run.sh"
