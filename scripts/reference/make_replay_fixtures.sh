#!/usr/bin/env bash
# Regenerates fixtures/replay/ (traces of the ORIGINAL trainer, for
# crates/dualenc-train/tests/replay_original.rs) with the reference harness of ../shared.
#
# Usage: scripts/reference/make_replay_fixtures.sh REF_SRC PYTHON
#   REF_SRC  an export of danieljf24/dual_encoding, branch python3
#   PYTHON   a Python with torch, numpy, scipy, safetensors (../shared/reference-harness/README.md)
# Takes about two minutes on two cores. The collection comes from the harness's generator.
set -euo pipefail
SRC=$1; PY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
HARNESS=${HARNESS:-$REPO/../shared/reference-harness}
OUT=$REPO/fixtures/replay
WORK=$(mktemp -d -t replay-fixtures.XXXX)
trap 'rm -rf "$WORK"' EXIT

# A collection of the 'gap' shape: 32-d frames, 4-30 frames a video, 3 captions a video,
# 900 training captions (7 batches of 128 and one of 4), 12 validation videos.
"$PY" "$HARNESS/synth_collection.py" "$WORK/root" --prefix replay --feature replayfeat --dim 32 \
    --videos 300,12,10 --n_caption 3 --frames 4,30 --seed 5 > /dev/null

# A tiny network (GRUs of 8, 4 filters a window, 16-d space), lr 5e-4, dropout 0.
TINY=(--no-small --max_violation --text_norm --visual_norm --workers 0 --learning_rate 0.0005
      --word_dim 8 --text_rnn_size 8 --text_kernel_num 4 --text_kernel_sizes 2-3-4
      --visual_rnn_size 8 --visual_kernel_num 4 --visual_kernel_sizes 2-3-4-5
      --text_mapping_layers 0-16 --visual_mapping_layers 0-16)
trace() { PYTHONPATH=$HARNESS "$PY" "$HERE/trace_original.py" "$SRC" "$WORK/root" replay replayfeat 3 "$@" > "$WORK/log" 2>&1 || { tail -20 "$WORK/log"; exit 1; }; }

# The main run: 16 epochs of 8 steps, the original's own initial weights and orders.
trace "$WORK/main" --epochs 16 --batch_size 128 --save-states "${TINY[@]}"
# Variants from the same weights and orders: the other measures (one epoch) and RMSprop
# (two epochs of one step).
trace "$WORK/euclidean" --epochs 1 --batch_size 128 --save-states --measure euclidean \
    --init "$WORK/main/init.safetensors" --order "$WORK/main/order.json" "${TINY[@]}"
trace "$WORK/order" --epochs 1 --batch_size 128 --save-states --measure order --no-validate \
    --init "$WORK/main/init.safetensors" --order "$WORK/main/order.json" "${TINY[@]}"
trace "$WORK/rmsprop" --epochs 2 --batch_size 900 --save-states --optimizer rmsprop \
    --init "$WORK/main/init.safetensors" --order "$WORK/main/order.json" "${TINY[@]}"

rm -rf "$OUT/root" "$OUT/variants"
mkdir -p "$OUT/root" "$OUT/variants"
cp -r "$WORK/root/replaytrain" "$WORK/root/replayval" "$OUT/root/"
cp -r "$WORK/main/vocabulary" "$OUT/root/replaytrain/TextData/"
cp "$WORK/main/"{init.safetensors,order.json,trace.json,bn.safetensors,states.safetensors} "$OUT/"
for v in euclidean order rmsprop; do
    mkdir -p "$OUT/variants/$v"
    cp "$WORK/$v/"{trace.json,bn.safetensors,states.safetensors} "$OUT/variants/$v/"
done
echo "wrote $OUT"
