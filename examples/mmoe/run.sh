#!/usr/bin/env bash
# MMoE on Census-Income (KDD) with mx_rec: census.py writes the TFRecords,
# train.py trains, evaluates and writes metrics.json and curves.png.
#
#   bash examples/mmoe/run.sh [so_path] [pkg] [hccl_json] [data] [ip] [train.py arguments...]
#
#   so_path, pkg, hccl_json, ip   as for the top-level run.sh (checked by
#              examples/common/run_args.sh; libasc is built on a fresh clone)
#   data       a raw Census-Income file (plain or .gz), split 2/3 train and
#              1/3 test with a fixed seed, or TRAIN_FILE,TEST_FILE (e.g. the
#              official census-income.data,census-income.test). Default: the
#              project's shared copy, ../shared/data/census/census-income.test.gz
#              beside the repository; data/census/census-income.test.head1200.gz
#              is a small bundled sample.
#
# Switches (environment), checked before anything runs:
#   USE_DYNAMIC=1            1: dynamic shape lookups, 0: static (send_count)
#   CACHE_MODE=HBM           HBM: device rows only; DDR: DEVICE_VOCAB_SIZE (256)
#                            device rows cache a host tier of HOST_VOCAB_SIZE
#                            (1024) rows; SSD: the host tier is HOST_VOCAB_SIZE
#                            (128) rows and spills to RocksDB under SSD_DATA_PATH
#                            (default a temporary directory). The table holds
#                            ~600 ids, so in DDR and SSD rows move every step.
#   USE_FAAE=0               1: an id needs 2 occurrences before it gets a row;
#                            ids unseen for 1000 steps are evicted every 1000
#   USE_DYNAMIC_EXPANSION=0  1: in HBM mode the table starts at 64 device rows
#                            and grows (with a host tier, the overflow goes there)
#   USE_MULTI_LOOKUP=0       1: the table is looked up twice a step (person and
#                            household columns)
#   USE_MODIFY_GRAPH=0       0: FeatureSpec mode; 1: automatic graph modification
# Settings: EPOCHS (3), STEPS (instead of EPOCHS), BATCH_SIZE (32), EVALS (8),
#   REFERENCE (0; 1: the plain-TF model, no mx_rec), OUTPUT_DIR
#   (examples/mmoe/out: metrics.json, curves.png), DATA_DIR (OUTPUT_DIR/data:
#   the TFRecords, kept while the data files do not change).
#   The seed's schedule: EPOCHS=100 BATCH_SIZE=32.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
PY="${PYTHON:-python3}"
DEFAULT_DATA="$(cd "$ROOT/.." && pwd)/shared/data/census/census-income.test.gz"

# shellcheck source=../common/run_args.sh
source "$ROOT/examples/common/run_args.sh"
read_switches
REFERENCE=$(flag01 REFERENCE 0)
if [ -z "${4:-}" ] && [ ! -f "$DEFAULT_DATA" ]; then
  die "the full Census-Income file is not at $DEFAULT_DATA (the project's shared data): pass a data file, e.g. bash examples/mmoe/run.sh '' '' '' data/census/census-income.test.head1200.gz" 1
fi
setup_run_args "$ROOT" "$DEFAULT_DATA" "${@:1:5}"

OUTPUT_DIR="${OUTPUT_DIR:-$HERE/out}"
DATA_DIR="${DATA_DIR:-$OUTPUT_DIR/data}"
BATCH_SIZE="${BATCH_SIZE:-32}"
if [ "$CACHE_MODE" = HBM ]; then
  DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-1024}"
  [ "$USE_DYNAMIC_EXPANSION" = 0 ] || DEVICE_VOCAB_SIZE=64
  HOST_VOCAB_SIZE=0
else
  DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-256}"
  if [ "$CACHE_MODE" = DDR ]; then
    HOST_VOCAB_SIZE="${HOST_VOCAB_SIZE:-1024}"
  else
    HOST_VOCAB_SIZE="${HOST_VOCAB_SIZE:-128}"
  fi
fi
KEY_MODE=feature_spec
[ "$USE_MODIFY_GRAPH" = 0 ] || KEY_MODE=modify_graph

print_run_config
echo "settings:  EPOCHS=${EPOCHS:-3} STEPS=${STEPS:-0} BATCH_SIZE=$BATCH_SIZE EVALS=${EVALS:-8}" \
     "DEVICE_VOCAB_SIZE=$DEVICE_VOCAB_SIZE HOST_VOCAB_SIZE=$HOST_VOCAB_SIZE" \
     "REFERENCE=$REFERENCE OUTPUT_DIR=$OUTPUT_DIR DATA_DIR=$DATA_DIR"

data_args=(--train_data_path "${DATA%%,*}")
[ "$DATA" = "${DATA%%,*}" ] || data_args+=(--test_data_path "${DATA#*,}")
"$PY" "$HERE/census.py" "${data_args[@]}" --output_path "$DATA_DIR"

args=(
  --data_dir "$DATA_DIR" --output_dir "$OUTPUT_DIR"
  --epochs "${EPOCHS:-3}" --steps "${STEPS:-0}" --batch_size "$BATCH_SIZE" --evals "${EVALS:-8}"
  --reference "$REFERENCE" --cache_mode "$CACHE_MODE"
  --device_vocab_size "$DEVICE_VOCAB_SIZE" --host_vocab_size "$HOST_VOCAB_SIZE"
  --use_dynamic "$USE_DYNAMIC" --use_dynamic_expansion "$USE_DYNAMIC_EXPANSION"
  --multi_lookup "$USE_MULTI_LOOKUP" --faae "$USE_FAAE" --key_mode "$KEY_MODE"
)
[ -z "${SSD_DATA_PATH:-}" ] || args+=(--ssd_data_path "$SSD_DATA_PATH")
[ -z "${RANK_TABLE_FILE:-}" ] || args+=(--rank_table "$RANK_TABLE_FILE")
exec "$PY" "$HERE/train.py" "${args[@]}" "${@:6}"
