#!/usr/bin/env bash
# ResNet-152 frames per second at 224 x 224, batches of 32: dualenc (Burn) and torchvision, on
# this machine, side by side (docs/extract.md, docs/speed.md).
#
#   scripts/cnn/bench_extract.sh PYTHON [DEVICE] [BATCHES]
#
# PYTHON has torch and torchvision (e.g. the reference harness's venv plus `pip install
# torchvision`); DEVICE is cpu (default) or cuda; BATCHES timed batches (default 3). Uses the
# release build of dualenc (built with `--features cuda` for cuda).
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${1:?usage: $0 PYTHON [cpu|cuda] [BATCHES]}
device=${2:-cpu}
batches=${3:-3}
features=()
[ "$device" = cuda ] && features=(--features cuda)
cargo build --release -q -p dualenc "${features[@]}"
ours=$(target/release/dualenc bench extract --device "$device" --batch 32 --steps "$batches" --json)
theirs=$("$python" scripts/cnn/bench_torchvision.py --device "$device" --batch 32 --batches "$batches")
"$python" - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2].strip().splitlines()[-1])
print(f"{'':12} {'frames/s':>10} {'peak MB':>9}")
peak = ours.get("peak_host_memory_mb")
print(f"{'dualenc':12} {ours['frames_per_second']:10.2f} {peak if peak is None else round(peak):>9}")
print(f"{'torchvision':12} {theirs['frames_per_second']:10.2f} {round(theirs['peak_host_memory_mb']):>9}")
print(f"device {ours['device']}, batch {ours['batch']}, {ours['batches']} timed batches")
PY
