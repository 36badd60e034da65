#!/usr/bin/env bash
# Runs the DLRM example (train.py) with the feature switches taken from the
# environment. The repository's run.sh sets up paths and calls this; called
# directly, mx_rec must already be importable (built and on PYTHONPATH).
#
#   USE_DYNAMIC=1            1: dynamic shape lookups, 0: static (send_count)
#   CACHE_MODE=HBM           HBM (device rows only), DDR (device rows cache a host
#                            tier: DEVICE_VOCAB_SIZE 2 x BATCH_SIZE, HOST_VOCAB_SIZE 4096)
#                            or SSD (HOST_VOCAB_SIZE 4 x BATCH_SIZE over RocksDB under
#                            SSD_DATA_PATH, default a temporary directory)
#   USE_DYNAMIC_EXPANSION=0  1: tables start small and grow when full
#   USE_MULTI_LOOKUP=0       1: C1 and C2 share one table, looked up twice
#   USE_FAAE=0               1: feature admission (a key needs 2 occurrences
#                            before it gets a row) and eviction (keys unseen for
#                            100 global steps are removed every 100 steps)
#   USE_MODIFY_GRAPH=0       0: FeatureSpec mode (get_asc_insert_func in the
#                            dataset); 1: automatic graph modification (plain
#                            lookups, key work moved into the dataset by
#                            modify_graph_and_start_emb_cache)
#   STEPS=300 BATCH_SIZE=8   training steps and batch size
#   DEVICE_VOCAB_SIZE        device rows per table (default 1024, or 64
#                            with dynamic expansion so the tables do grow)
#   DATA                     raw Criteo file (default: the bundled sample)
#   RANK_TABLE_FILE          rank table; read only for its rank count (1)
#   MODEL_DIR, RESTORE=0     save a checkpoint there; 1: start from it
#   EXPORT_DIR               with MODEL_DIR: export the model for serving under
#                            it, then score the eval rows with the export in
#                            plain TensorFlow (serve.py, mx_rec unimportable)
#   SCALE=0                  1: the large synthetic configuration instead of the
#                            sample (README "At scale"): synthetic.py writes
#                            SCALE_ROWS (2000000) + 200000 eval rows to SCALE_DIR
#                            (default $TMPDIR/mx_rec_dlrm_scale, reused while its
#                            row count matches), then one streamed pass, batch 512,
#                            and the eval AUC next to the planted model's. Tiers
#                            per table: HBM 524288 device rows; DDR 32768 device
#                            over 524288 host; SSD 32768 device, 65536 host, 2^20 SSD.
#
# Extra arguments are passed to train.py (e.g. --lr 0.0005 --dim 8).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
PY="${PYTHON:-python3}"

# shellcheck source=../common/run_args.sh
source "$HERE/../common/run_args.sh"
read_switches
KEY_MODE=feature_spec
[ "$USE_MODIFY_GRAPH" = 0 ] || KEY_MODE=modify_graph

SCALE=$(flag01 SCALE 0)
if [ "$SCALE" = 1 ]; then
  BATCH_SIZE="${BATCH_SIZE:-512}"
  case "$CACHE_MODE" in
    HBM) [ "$USE_DYNAMIC_EXPANSION" = 1 ] || DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-524288}" ;;
    DDR) DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-32768}" HOST_VOCAB_SIZE="${HOST_VOCAB_SIZE:-524288}" ;;
    SSD) DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-32768}" HOST_VOCAB_SIZE="${HOST_VOCAB_SIZE:-65536}" ;;
  esac
fi
if [ "$CACHE_MODE" = DDR ] || [ "$CACHE_MODE" = SSD ]; then
  # Two batches' worth of device rows per table: rows must travel. In SSD
  # mode the host tier holds four batches, so rows reach SSD too.
  DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-$((2 * ${BATCH_SIZE:-8}))}"
  if [ "$CACHE_MODE" = SSD ]; then
    HOST_VOCAB_SIZE="${HOST_VOCAB_SIZE:-$((4 * ${BATCH_SIZE:-8}))}"
  fi
elif [ "$USE_DYNAMIC_EXPANSION" = 1 ]; then
  DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-64}"
else
  DEVICE_VOCAB_SIZE="${DEVICE_VOCAB_SIZE:-1024}"
fi

DATA_DIR="$HERE/../../data/criteo"
data_args=(
  --data "${DATA:-$HERE/../../data/criteo/criteo_kaggle_train_head10800.txt}"
  --eval-data "${EVAL_DATA:-$DATA_DIR/paddlerec_dnn_sample_train.txt,$DATA_DIR/paddlerec_dnn_sample_test.txt,$DATA_DIR/paddlerec_raw_sample_part-0.txt}"
  --eval-rows 0
)
if [ "$SCALE" = 1 ]; then
  SCALE_DIR="${SCALE_DIR:-${TMPDIR:-/tmp}/mx_rec_dlrm_scale}"
  SCALE_ROWS="${SCALE_ROWS:-2000000}"
  grep -q "\"rows\": $SCALE_ROWS," "$SCALE_DIR/planted.json" 2>/dev/null \
    || "$PY" "$HERE/synthetic.py" --out-dir "$SCALE_DIR" --rows "$SCALE_ROWS"
  data_args=(--stream 1 --data "$SCALE_DIR/train.tsv" --eval-data "$SCALE_DIR/eval.tsv"
             --planted "$SCALE_DIR/planted.json" --eval-batch-size 4096 --log-every 500)
fi
args=(
  "${data_args[@]}"
  --steps "${STEPS:-$([ "$SCALE" = 1 ] && echo 0 || echo 300)}"
  --batch-size "${BATCH_SIZE:-8}"
  --cache-mode "$CACHE_MODE"
  --use-dynamic "$USE_DYNAMIC"
  --use-dynamic-expansion "$USE_DYNAMIC_EXPANSION"
  --multi-lookup "$USE_MULTI_LOOKUP"
  --faae "$USE_FAAE"
  --key-mode "$KEY_MODE"
  --device-vocab-size "$DEVICE_VOCAB_SIZE"
  --host-vocab-size "${HOST_VOCAB_SIZE:-4096}"
)
[ -z "${SSD_DATA_PATH:-}" ] || args+=(--ssd-data-path "$SSD_DATA_PATH")
# Checkpoints: MODEL_DIR saves there after training; RESTORE=1 starts from it.
[ -z "${MODEL_DIR:-}" ] || args+=(--model-dir "$MODEL_DIR")
[ "${RESTORE:-0}" = "0" ] || args+=(--restore 1)
if [ -n "${RANK_TABLE_FILE:-}" ]; then
  args+=(--rank-table "$RANK_TABLE_FILE")
fi
if [ -z "${EXPORT_DIR:-}" ]; then
  exec "$PY" "$HERE/train.py" "${args[@]}" "$@"
fi
# Export for serving (needs MODEL_DIR), then score the same eval rows with the
# export in plain TensorFlow, mx_rec unimportable: the AUC lines match.
[ -n "${MODEL_DIR:-}" ] || { echo "error: EXPORT_DIR needs MODEL_DIR (it exports a checkpoint)" >&2; exit 2; }
"$PY" "$HERE/train.py" "${args[@]}" --export-dir "$EXPORT_DIR" "$@"
exec "$PY" "$HERE/serve.py" --export-dir "$EXPORT_DIR" "${data_args[@]}"
