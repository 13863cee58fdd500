#!/usr/bin/env python3
"""Frames per second of torchvision's ResNet-152, to compare with dualenc's
(`dualenc bench extract`, which calls `dualenc_cnn::bench_resnet152`, timed the same way;
`scripts/cnn/bench_extract.sh` runs both).

Random weights (the speed does not depend on them), eval mode, no_grad, batches of 32 images
of 224 x 224: one untimed warm-up batch, then BATCHES timed batches, the features copied back
to the host after each (which waits for the GPU). Prints one JSON line per device:
{"frames_per_second": ..., "device": "cpu" | "cuda", "threads": ..., "batch": ...,
 "batches": ..., "seconds": ..., "torch": ..., "peak_host_memory_mb": ...}
(the process's peak resident memory so far, which includes an earlier device's run)

    /tmp/refenv/bin/python scripts/cnn/bench_torchvision.py [--batches 3] [--batch 32]
        [--device cpu|cuda|all] [--threads N]

`--device all` (the default) measures the CPU, then CUDA when torch sees a GPU.
"""

import argparse
import json
import resource
import time

import torch
from torchvision.models import resnet152


def features(model, images):
    """The pooled 2048-d features (the input of fc), on the host."""
    m = model
    x = m.maxpool(m.relu(m.bn1(m.conv1(images))))
    x = m.layer4(m.layer3(m.layer2(m.layer1(x))))
    return torch.flatten(m.avgpool(x), 1).cpu()


def bench(device, batch, batches):
    """Times `batches` batches of `batch` 224 x 224 images on `device`."""
    torch.manual_seed(0)
    model = resnet152().eval().to(device)
    images = torch.randn(batch, 3, 224, 224, device=device)
    with torch.no_grad():
        features(model, images)
        start = time.perf_counter()
        for _ in range(batches):
            features(model, images)
        seconds = time.perf_counter() - start
    return {
        "frames_per_second": batch * batches / seconds,
        "device": device,
        "threads": torch.get_num_threads(),
        "batch": batch,
        "batches": batches,
        "seconds": seconds,
        "torch": torch.__version__,
        "peak_host_memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            if args.device == "cuda":
                raise SystemExit("torch sees no CUDA GPU")
            continue
        print(json.dumps(bench(device, args.batch, args.batches)), flush=True)


if __name__ == "__main__":
    main()
