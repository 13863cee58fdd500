#!/usr/bin/env python3
"""Run the ORIGINAL Dual Encoding trainer step by step and record what it does.

Test instrumentation only: nothing of the original's maths is changed. The driver imports the
original `trainer.py` (branch python3, the shim of `../shared/reference-harness/`) and wraps:

- the model constructor, to start from given initial weights (`--init W.safetensors`, the
  PyTorch state dicts prefixed `video.` / `text.`) or to save the original's own draw
  (`OUT/init.safetensors`);
- the training loader's sampler, to visit samples in a given order (`--order ORDER.json`, one
  list of caption indices per epoch) or to record the order it drew (`OUT/order.json`);
- `train_emb`, `clip_grad_norm_` and `validate`, to record per step the learning rate, loss,
  batch size, gradient norm and the BatchNorm running statistics, and per epoch the
  validation score and the full parameters.

`--dropout 0` is the original's own option. Output in OUT: `trace.json` (steps, epochs),
`bn.safetensors` (running statistics per step), `params_epoch{K}.safetensors` (state after
epoch K, 1-based, for the epochs listed in `--save-epochs`), `states.safetensors` (with
`--save-states`: parameters, buffers and optimiser moments after every epoch),
`init.safetensors`, `order.json`, and `vocabulary/` (the vocabularies the original built).

Usage (REF_SRC = an export of danieljf24/dual_encoding, branch python3):
  PYTHONPATH=../shared/reference-harness python trace_original.py REF_SRC ROOT PREFIX FEATURE \
      N_CAPTION OUT [--init W] [--order O] [--seed S] [--epochs E] [--dropout P] \
      [--save-epochs 1,3] [-- extra trainer.py options]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

SMALL = [
    "--max_violation", "--text_norm", "--visual_norm", "--word_dim", "32",
    "--text_rnn_size", "64", "--text_kernel_num", "32", "--text_kernel_sizes", "2-3-4",
    "--visual_rnn_size", "64", "--visual_kernel_num", "32", "--visual_kernel_sizes", "2-3-4-5",
    "--text_mapping_layers", "0-256", "--visual_mapping_layers", "0-256", "--batch_size", "128",
    "--workers", "0",
]


def parse():
    p = argparse.ArgumentParser()
    for name in ["ref_src", "root", "prefix", "feature", "n_caption", "out"]:
        p.add_argument(name)
    p.add_argument("--init")
    p.add_argument("--order")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--dropout", default="0")
    p.add_argument("--save-epochs", default="")
    p.add_argument("--save-states", action="store_true",
                   help="save the full state (parameters, buffers, optimiser moments and step) "
                        "after every epoch into states.safetensors, prefixed epoch{K}.")
    p.add_argument("--no-small", action="store_true", help="do not pass the small configuration")
    p.add_argument("--no-validate", action="store_true",
                   help="skip the original's validation (score 0): its cal_error has no branch "
                        "for --measure order and fails there")
    p.add_argument("--test", action="store_true",
                   help="test the best model with the original tester.py (recall sums into trace.json)")
    args, extra = p.parse_known_args()
    args.extra = extra
    return args


def prepare(args, work):
    """A patched copy of the original (the two Python-3 fixes of train_original.sh) and of the
    collections, with vocabularies built by the original's util/vocab.py (threshold 5)."""
    src = os.path.join(work, "orig")
    shutil.copytree(args.ref_src, src)
    for rel, old, new in [
        ("util/data_provider.py", "self.video_ids = video2frames.keys()",
         "self.video_ids = list(video2frames.keys())"),
        ("util/vocab.py", "open(txt, 'rb')", "open(txt, 'r')"),
    ]:
        path = os.path.join(src, rel)
        text = open(path).read().replace(old, new)
        open(path, "w").write(text)
    vs = os.path.join(work, "vs")
    os.makedirs(vs)
    for part in ["train", "val", "test"]:
        coll = args.prefix + part
        shutil.copytree(os.path.join(args.root, coll), os.path.join(vs, coll))
    shutil.rmtree(os.path.join(vs, args.prefix + "train", "TextData", "vocabulary"), ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), "."])))
    for style in ["bow", "rnn"]:
        subprocess.run([sys.executable, "util/vocab.py", args.prefix + "train", "--rootpath", vs,
                        "--threshold", "5", "--text_style", style, "--overwrite", "1"],
                       cwd=src, env=env, check=True, stdout=subprocess.DEVNULL)
    return src, vs


def state(model):
    """The network's state dict, prefixed as the fixtures name it."""
    out = {}
    for prefix, enc in [("video.", model.vid_encoding), ("text.", model.text_encoding)]:
        for k, v in enc.state_dict().items():
            out[prefix + k] = v.detach().clone().contiguous()
    return out


def optimizer_state(model):
    """The optimiser's moments per parameter name (Adam: exp_avg, exp_avg_sq; RMSprop:
    square_avg, stored as exp_avg_sq) and its step count."""
    names = [("text." + n, p) for n, p in model.text_encoding.named_parameters()]
    names += [("video." + n, p) for n, p in model.vid_encoding.named_parameters()]
    out, step = {}, 0
    for name, param in names:
        st = model.optimizer.state[param]
        if "exp_avg" in st:
            out["exp_avg." + name] = st["exp_avg"].detach().clone()
            out["exp_avg_sq." + name] = st["exp_avg_sq"].detach().clone()
        else:
            out["exp_avg_sq." + name] = st["square_avg"].detach().clone()
        step = int(st["step"])
    return out, step


def bn_stats(model):
    enc = [("video", model.vid_encoding.visual_mapping), ("text", model.text_encoding.text_mapping)]
    return {f"{side}.{buf}": getattr(m.bn_1, buf).detach().clone()
            for side, m in enc for buf in ["running_mean", "running_var"]}


def run_tester(args, vs, src):
    """The original tester.py on the best checkpoint; returns its two recall sums."""
    import glob
    import re
    best = glob.glob(os.path.join(vs, args.prefix + "train", "**", "trace", "model_best.pth.tar"),
                     recursive=True)
    assert best, "no model_best.pth.tar written"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [os.environ.get("PYTHONPATH"), "."])))
    out = subprocess.run([sys.executable, "tester.py", args.prefix + "test", "--rootpath", vs,
                          "--logger_name", os.path.dirname(best[0]), "--n_caption", args.n_caption,
                          "--workers", "0", "--overwrite", "1"],
                         cwd=src, env=env, check=True, capture_output=True, text=True).stdout
    sums = [float(x) for x in re.findall(r"recall sum: ([0-9.]+)", out)]
    return {"t2v_rsum": sums[0], "v2t_rsum": sums[1], "rsum": sums[0] + sums[1]}


def main():
    args = parse()
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="trace-orig.")
    src, vs = prepare(args, work)
    os.chdir(src)
    sys.path.insert(0, src)

    import random
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(os.environ.get("DE_THREADS", "2")))

    import model as model_mod
    import trainer
    import util.data_provider as data
    from util.vocab import Vocabulary

    # The vocabulary pickles name their class `__main__.Vocabulary` (trainer.py runs as main).
    sys.modules["__main__"].Vocabulary = Vocabulary

    given_order = json.load(open(args.order)) if args.order else None
    drawn_order = []
    steps, epochs, bn_rows = [], [], []
    save_epochs = {int(e) for e in args.save_epochs.split(",") if e}
    current = {"model": None, "epoch": 0, "step": 0, "norm": None}
    states = {}

    original_get_model = trainer.get_model

    def get_model(name):
        cls = original_get_model(name)

        def build(opt):
            m = cls(opt)
            if args.init:
                weights = load_file(args.init)
                for prefix, enc in [("video.", m.vid_encoding), ("text.", m.text_encoding)]:
                    own = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
                    missing = set(enc.state_dict()) - set(own)
                    assert not missing, f"--init lacks {sorted(missing)}"
                    torch.nn.Module.load_state_dict(enc, own)
            else:
                save_file(state(m), os.path.join(args.out, "init.safetensors"))
            current["model"] = m
            return m
        return build

    trainer.get_model = get_model

    class OrderSampler(torch.utils.data.Sampler):
        """Visits the given order of each epoch, or draws one as RandomSampler does."""

        def __init__(self, n):
            self.n = n
            self.epoch = 0

        def __iter__(self):
            if given_order is not None:
                order = given_order[self.epoch]
                assert sorted(order) == list(range(self.n)), "an epoch's order must be a permutation"
            else:
                # Exactly what RandomSampler (no generator) draws, so that the run is the one
                # the unmodified trainer makes with the same seed.
                seed = int(torch.empty((), dtype=torch.int64).random_().item())
                generator = torch.Generator()
                generator.manual_seed(seed)
                order = torch.randperm(self.n, generator=generator).tolist()
                drawn_order.append(order)
            self.epoch += 1
            return iter(order)

        def __len__(self):
            return self.n

    original_loaders = data.get_data_loaders

    def get_data_loaders(*a, **k):
        loaders = original_loaders(*a, **k)
        train = loaders["train"]
        loaders["train"] = torch.utils.data.DataLoader(
            dataset=train.dataset, batch_size=train.batch_size, sampler=OrderSampler(len(train.dataset)),
            pin_memory=True, num_workers=0, collate_fn=train.collate_fn)
        return loaders

    data.get_data_loaders = get_data_loaders

    original_clip = model_mod.clip_grad_norm_

    def clip(params, max_norm, *a, **k):
        norm = original_clip(params, max_norm, *a, **k)
        current["norm"] = float(norm)
        return norm

    model_mod.clip_grad_norm_ = clip

    original_train_emb = model_mod.Dual_Encoding.train_emb

    def train_emb(self, videos, captions, *rest):
        lr = self.optimizer.param_groups[0]["lr"]
        b_size, loss = original_train_emb(self, videos, captions, *rest)
        steps.append({"epoch": current["epoch"], "step": current["step"], "lr": lr, "loss": loss,
                      "batch_size": b_size, "total_norm": current["norm"]})
        bn_rows.append(bn_stats(self))
        current["step"] += 1
        return b_size, loss

    model_mod.Dual_Encoding.train_emb = train_emb

    original_validate = trainer.validate

    def validate(opt, loader, m, measure="cosine"):
        score = 0.0 if args.no_validate else original_validate(opt, loader, m, measure=measure)
        epoch = current["epoch"]
        epochs.append({"epoch": epoch, "val_score": float(score), "steps": current["step"]})
        if epoch + 1 in save_epochs:
            save_file(state(m), os.path.join(args.out, f"params_epoch{epoch + 1}.safetensors"))
        if args.save_states:
            moments, step = optimizer_state(m)
            full = {**state(m), **moments, "step": torch.tensor([step], dtype=torch.int64)}
            states.update({f"epoch{epoch + 1}.{k}": v for k, v in full.items()})
        current["epoch"] += 1
        return score

    trainer.validate = validate

    argv = [args.prefix + "train", args.prefix + "val", args.prefix + "test", "--rootpath", vs,
            "--overwrite", "1", "--n_caption", args.n_caption, "--visual_feature", args.feature,
            "--num_epochs", str(args.epochs), "--dropout", args.dropout, "--postfix", "trace"]
    argv += [] if args.no_small else SMALL
    argv += [a for a in args.extra if a != "--"]
    sys.argv = ["trainer.py"] + argv
    trainer.main()

    if given_order is None:
        json.dump(drawn_order, open(os.path.join(args.out, "order.json"), "w"))
    result = {"argv": argv, "seed": args.seed, "steps": steps, "epochs": epochs}
    if args.test:
        result["test"] = run_tester(args, vs, src)
    json.dump(result, open(os.path.join(args.out, "trace.json"), "w"), indent=1)
    stacked = {k: torch.stack([row[k] for row in bn_rows]) for k in bn_rows[0]} if bn_rows else {}
    save_file(stacked, os.path.join(args.out, "bn.safetensors"))
    if states:
        save_file(states, os.path.join(args.out, "states.safetensors"))
    vocab_out = os.path.join(args.out, "vocabulary")
    shutil.rmtree(vocab_out, ignore_errors=True)
    shutil.copytree(os.path.join(vs, args.prefix + "train", "TextData", "vocabulary"), vocab_out)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
