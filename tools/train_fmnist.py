#!/usr/bin/python3
# train_fmnist.py - train the bundled Spikformer on Fashion-MNIST (CPU, Debian's torch).
#
# Writes models/<name>.pth (the state_dict, torch.save zip format) and
# models/<name>.json (the config stc reads: official constructor names, the
# input normalization, and the accuracy PyTorch measured on all 10,000 test
# images).  The checkpoint and its accuracy are written after every epoch, so an
# interrupted run still leaves a consistent pair.  CI never trains.
#
#   /usr/bin/python3 tools/train_fmnist.py --epochs 4 --threads 2
# SPDX-License-Identifier: MIT
import argparse
import gzip
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stc_ref  # noqa: E402

MEAN, STD = 0.2860, 0.3530   # Fashion-MNIST training-set pixel statistics (of x/255)
DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def load(split):
    x = read_idx(f"{DATA}/{split}-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = read_idx(f"{DATA}/{split}-labels-idx1-ubyte.gz").astype(np.int64)
    x = (x - MEAN) / STD
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)


def evaluate(model, x, y, bs=500):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            correct += (model(x[i:i + bs]).argmax(1) == y[i:i + bs]).sum().item()
    return correct / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--embed-dims", type=int, default=64)
    ap.add_argument("--depths", type=int, default=1)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--out", default="models/fmnist_spikformer")
    ap.add_argument("--limit", type=int, default=0, help="train on the first N images (smoke test)")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = {"arch": "spikformer_cifar", "img_size_h": 28, "img_size_w": 28, "in_channels": 1,
           "num_classes": 10, "embed_dims": a.embed_dims, "num_heads": a.heads, "mlp_ratios": 4,
           "depths": a.depths, "T": 4}
    model = stc_ref.build(cfg)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    if a.limit:
        xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = a.epochs * math.ceil(len(xtr) / a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.15)
    print(f"params {stc_ref.count_params(model)}  train {len(xtr)}  steps {steps}", flush=True)
    t0 = time.time()
    for ep in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), a.batch):
            idx = perm[i:i + a.batch]
            xb = xtr[idx]
            # light augmentation: random shifts of up to 2 pixels, horizontal flips
            if True:
                xb = F.pad(xb, (2, 2, 2, 2), value=-MEAN / STD)
                dx, dy = np.random.randint(0, 5, 2)
                xb = xb[:, :, dy:dy + 28, dx:dx + 28]
                if np.random.rand() < 0.5:
                    xb = xb.flip(3)
            loss = F.cross_entropy(model(xb), ytr[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item()
            n = i // a.batch + 1
            if n % 100 == 0:
                print(f"epoch {ep + 1} step {n} loss {tot / n:.4f} {time.time() - t0:.0f}s", flush=True)
        acc = evaluate(model, xte, yte)
        print(f"epoch {ep + 1} test accuracy {acc * 100:.2f}% {time.time() - t0:.0f}s", flush=True)
        torch.save(model.state_dict(), a.out + ".pth")
        meta = dict(cfg)
        meta.update({"dataset": "fashion-mnist", "normalize": {"mean": [MEAN], "std": [STD]},
                     "pytorch_test_accuracy": acc, "pytorch_test_images": len(xte),
                     "epochs_trained": ep + 1, "torch_version": torch.__version__})
        with open(a.out + ".json", "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
