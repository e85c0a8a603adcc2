#!/usr/bin/python3
# infer_vs_torch.py - inference speed of stc's float interpreter against PyTorch on CPU.
#
#   /usr/bin/python3 bench/infer_vs_torch.py --stc build/coordinator/stc-coord \
#       --model models/fmnist_spikformer.pth [--n 1000] [--threads 2]
# Same machine, same images (the first N of the Fashion-MNIST test set), same
# thread count.  PyTorch runs the reference model (tools/stc_ref.py) at batch 1
# and batch 64; stc processes images one at a time per thread (its natural
# unit), so its figure is compared with both.  Times are whole-run wall times
# excluding model loading; stc's comes from its own --json "seconds".
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import stc_ref  # noqa: E402
import train_fmnist  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    cfg = json.load(open(os.path.splitext(a.model)[0] + ".json"))
    model = stc_ref.build(cfg)
    model.load_state_dict(torch.load(a.model, map_location="cpu"))
    model.eval()
    torch.set_num_threads(a.threads)
    x, y = train_fmnist.load("t10k")
    x, y = x[: a.n], y[: a.n]
    res = {}
    preds = None
    with torch.no_grad():
        for bs in (1, 64):
            model(x[:bs])  # warm-up
            t0 = time.perf_counter()
            out = []
            for i in range(0, a.n, bs):
                out.append(model(x[i:i + bs]).argmax(1))
            res[f"torch_b{bs}"] = (time.perf_counter() - t0, (torch.cat(out) == y).float().mean().item())
            preds = torch.cat(out)
    p = subprocess.run([a.stc, "run", a.model, "--float", "--dataset", "fashion-mnist", "--limit", str(a.n),
                        "--threads", str(a.threads), "--json"], capture_output=True, text=True, check=True)
    r = json.loads(p.stdout)
    res["stc_float"] = (r["seconds"], r["accuracy"])
    stc_pred = torch.tensor([e["class"] for e in r["inputs"]])
    agree = (stc_pred == preds).sum().item()
    print(f"model {a.model}, {a.n} Fashion-MNIST test images, {a.threads} threads, T={cfg['T']}")
    for k, (s, acc) in res.items():
        print(f"  {k:12s} {s:7.2f} s  {a.n / s:8.1f} img/s  accuracy {acc * 100:.2f}%")
    for bs in (1, 64):
        print(f"  stc float interpreter vs PyTorch batch {bs}: {res[f'torch_b{bs}'][0] / res['stc_float'][0]:.2f}x")
    print(f"  same top-1 class as PyTorch on {agree} of {a.n} images ({agree / a.n * 100:.2f}%)")


if __name__ == "__main__":
    main()
