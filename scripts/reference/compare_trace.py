#!/usr/bin/env python3
"""Compare a trace of the original (trace_original.py's OUT folder) with a dualenc trace
(`dualenc train --trace FILE`), step by step and epoch by epoch.

Usage: compare_trace.py ORIG_OUT DUALENC_TRACE.jsonl [--all]
Prints one line per step (lr, loss and gradient norm of both, their relative differences,
the largest BatchNorm running-statistic difference) and per epoch (validation scores), and a
summary of the largest differences. Needs numpy and safetensors (the harness venv).
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def main():
    orig_dir, ours_path = sys.argv[1], sys.argv[2]
    show_all = "--all" in sys.argv
    orig = json.load(open(f"{orig_dir}/trace.json"))
    bn = load_file(f"{orig_dir}/bn.safetensors")
    lines = [json.loads(l) for l in open(ours_path) if l.strip()]
    ours_steps = [l for l in lines if l["kind"] == "step"]
    ours_epochs = [l for l in lines if l["kind"] == "epoch"]
    n = min(len(orig["steps"]), len(ours_steps))
    print(f"steps: original {len(orig['steps'])}, dualenc {len(ours_steps)}; compared {n}")
    worst = {"loss": 0.0, "norm": 0.0, "bn": 0.0}
    print(f"{'ep':>3} {'st':>3} {'lr_o':>10} {'lr_d':>10} {'loss_o':>12} {'loss_d':>12} {'rel':>8} "
          f"{'norm_o':>10} {'norm_d':>10} {'rel':>8} {'bn_max':>8}")
    for i in range(n):
        o, d = orig["steps"][i], ours_steps[i]
        bn_diff = 0.0
        for side in ["video", "text"]:
            for buf in ["running_mean", "running_var"]:
                a = bn[f"{side}.{buf}"][i]
                b = np.asarray(d["bn"][f"{side}_{buf}"], dtype=np.float32)
                bn_diff = max(bn_diff, float(np.max(np.abs(a - b))))
        rl, rn = rel(o["loss"], d["loss"]), rel(o["total_norm"], d["total_norm"])
        worst["loss"] = max(worst["loss"], rl)
        worst["norm"] = max(worst["norm"], rn)
        worst["bn"] = max(worst["bn"], bn_diff)
        assert o["batch_size"] == d["batch_size"], f"step {i}: batch sizes differ"
        if show_all or i < 10 or i % 8 == 7 or i == n - 1:
            print(f"{o['epoch']:>3} {o['step']:>3} {o['lr']:>10.4e} {d['lr']:>10.4e} {o['loss']:>12.6f} "
                  f"{d['loss']:>12.6f} {rl:>8.1e} {o['total_norm']:>10.5f} {d['total_norm']:>10.5f} "
                  f"{rn:>8.1e} {bn_diff:>8.1e}")
    print("epochs (validation score): original / dualenc")
    for o, d in zip(orig["epochs"], ours_epochs):
        print(f"  {o['epoch'] + 1:>3}: {o['val_score']:.4f} / {d['score']:.4f}")
    print(f"largest relative difference: loss {worst['loss']:.2e}, norm {worst['norm']:.2e}; "
          f"largest BatchNorm statistic difference {worst['bn']:.2e}")


if __name__ == "__main__":
    main()
