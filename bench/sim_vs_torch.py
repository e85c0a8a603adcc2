#!/usr/bin/python3
# sim_vs_torch.py - time per inference of stc's chip simulator against PyTorch on CPU.
#
#   /usr/bin/python3 bench/sim_vs_torch.py --stc build/coordinator/stc-coord \
#       --model models/fmnist_spikformer.pth [--n 1000] [--threads 1]
# One run, same machine, same images (the first N of the Fashion-MNIST test
# set), same thread count.  The baseline is PyTorch (Debian's torch) running
# the reference model (tools/stc_ref.py) at batch 1 and at batch 64; stc runs
# the compiled bundle (loihi3, 8-bit weights) in the bit-accurate chip
# simulator, one image at a time per thread.  Times exclude loading; stc's is
# its own --json "seconds".  Also reported: synaptic events the simulator
# processes per second per CPU thread (from `stc-coord profile --json`).
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import subprocess
import sys
import tempfile
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
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    cfg = json.load(open(os.path.splitext(a.model)[0] + ".json"))
    model = stc_ref.build(cfg)
    model.load_state_dict(torch.load(a.model, map_location="cpu"))
    model.eval()
    torch.set_num_threads(a.threads)
    x, y = train_fmnist.load("t10k")
    x, y = x[: a.n], y[: a.n]
    res = {}
    with torch.no_grad():
        for bs in (1, 64):
            model(x[:bs])  # warm-up
            t0 = time.perf_counter()
            out = []
            for i in range(0, a.n, bs):
                out.append(model(x[i:i + bs]).argmax(1))
            res[f"torch_b{bs}"] = (time.perf_counter() - t0, (torch.cat(out) == y).float().mean().item())
    with tempfile.TemporaryDirectory() as d:
        bundle = os.path.join(d, "model.stc")
        subprocess.run([a.stc, "compile", a.model, "--target", "loihi3", "--weight-bits", "8", "-o", bundle],
                       capture_output=True, text=True, check=True)
        p = subprocess.run([a.stc, "run", bundle, "--dataset", "fashion-mnist", "--limit", str(a.n),
                            "--threads", str(a.threads), "--json"], capture_output=True, text=True, check=True)
        r = json.loads(p.stdout)
        res["stc_chipsim"] = (r["seconds"], r["accuracy"])
        p = subprocess.run([a.stc, "profile", bundle, "--dataset", "fashion-mnist", "--limit", "100",
                            "--threads", str(a.threads), "--json"], capture_output=True, text=True, check=True)
        prof = json.loads(p.stdout)
    synops = sum(layer["synops"] for layer in prof["layers"])
    print(f"model {a.model}, {a.n} Fashion-MNIST test images, {a.threads} thread(s), T={cfg['T']}")
    for k, (s, acc) in res.items():
        print(f"  {k:12s} {s:7.2f} s  {s / a.n * 1e3:8.3f} ms/inference  accuracy {acc * 100:.2f}%")
    for bs in (1, 64):
        print(f"  chip simulator vs PyTorch batch {bs}: {res[f'torch_b{bs}'][0] / res['stc_chipsim'][0]:.2f}x")
    per_thread = synops * a.n / res["stc_chipsim"][0] / a.threads
    per_core = synops * a.n / res["stc_chipsim"][0] / prof["cores_used"]
    print(f"  synaptic events per inference {synops:.0f}; simulated {per_thread / 1e6:.1f}M synaptic events/s "
          f"per CPU thread, {per_core / 1e6:.1f}M/s per simulated chip core ({prof['cores_used']} cores)")


if __name__ == "__main__":
    main()
