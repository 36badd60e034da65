#!/usr/bin/env bash
# The two-tower example end to end: train with mx_rec tables -> export a
# stock-TF SavedModel -> split it into a user and an item model -> build a
# faiss IVFFlat and an HNSWFlat index of every item, each with its recall@10.
#
#   bash examples/two_tower/run.sh [work_dir] [train.py arguments...]
#
#   work_dir  new or empty directory for every output (default: a new
#             temporary directory, printed at the end)
# Switches (environment): STEPS (300), BATCH_SIZE (32), DIM (16).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
PY="${PYTHON:-python3}"

# A fresh clone: build mx_rec and install faiss-cpu first.
if [ ! -f "$ROOT/mx_rec/libasc/libasc.so" ] || ! "$PY" -c "import faiss" 2>/dev/null; then
  bash "$ROOT/scripts/setup.sh"
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

WORK="${1:-$(mktemp -d "${TMPDIR:-/tmp}/mx_rec_two_tower.XXXXXX")}"
"$PY" "$HERE/train.py" --work-dir "$WORK" --steps "${STEPS:-300}" \
  --batch-size "${BATCH_SIZE:-32}" --dim "${DIM:-16}" "${@:2}"
EXPORT="$(ls -d "$WORK"/export/[0-9]* | sort -n | tail -1)"

echo "== split $EXPORT =="
"$PY" -m mx_rec.tools.split_model --model_dir "$EXPORT" \
  --user_model_dir "$WORK/user_model" --item_model_dir "$WORK/item_model"

for type in IVFFlat HNSWFlat; do
  echo "== $type index =="
  "$PY" -m mx_rec.tools.build_index --item_model_dir "$WORK/item_model" \
    --item_data "$WORK/items.csv" --index_output_dir "$WORK/index_$type" --index_type "$type" \
    --user_model_dir "$WORK/user_model" --user_data "$WORK/users.csv"
done
echo "outputs in $WORK"
