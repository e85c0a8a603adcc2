#!/usr/bin/python3
# load_vs_torch.py - stc's checkpoint reader against torch.load on Spikformer-8-768 (~265 MB).
#
#   /usr/bin/python3 bench/load_vs_torch.py --bench build/bench/bench_load [--work /tmp/stc-bench]
# Writes the checkpoint once with the reference, then alternates torch.load and
# stc (3 rounds, page cache warm for both), each in a fresh process, and prints
# the medians and the ratios.  Memory: peak RSS of the stc process; for torch,
# peak RSS (VmHWM) minus the RSS after `import torch` (so torch's own libraries are
# not charged to the load).
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_CHILD = r"""
import sys, time, json, torch
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
torch.set_num_threads(1)
base = status("VmRSS")
t0 = time.perf_counter()
sd = torch.load(sys.argv[1], map_location="cpu")
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0, "peak_rss_bytes": status("VmHWM"), "rss_after_import": base,
                  "rss_after_load": status("VmRSS"), "tensors": len(sd)}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", default="/tmp/stc-bench")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    path = os.path.join(a.work, "spikformer_8_768.pth")
    if not os.path.exists(path):
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        import torch
        import stc_ref
        torch.manual_seed(0)
        m = stc_ref.build(dict(arch="spikformer_imagenet", depths=8, embed_dims=768, num_classes=1000,
                               num_heads=12, in_channels=3))
        torch.save(m.state_dict(), path)
    size = os.path.getsize(path)
    stc, tor = [], []
    for _ in range(a.rounds):
        p = subprocess.run([sys.executable, "-c", TORCH_CHILD, path], capture_output=True, text=True, check=True)
        tor.append(json.loads(p.stdout))
        p = subprocess.run([a.bench, path], capture_output=True, text=True, check=True)
        stc.append(json.loads(p.stdout))
    ts = statistics.median(r["seconds"] for r in tor)
    ss = statistics.median(r["seconds"] for r in stc)
    tm = statistics.median(r["peak_rss_bytes"] - r["rss_after_import"] for r in tor)
    sm = statistics.median(r["peak_rss_bytes"] for r in stc)
    print(f"checkpoint      {path}: {size / 1e6:.1f} MB, {stc[0]['tensors']} tensors ({stc[0]['format']})")
    print(f"torch.load      {ts:.3f} s   peak RSS growth {tm / 1e6:.1f} MB ({tm / size:.2f}x file)")
    print(f"stc_ckpt_load   {ss:.3f} s   peak RSS        {sm / 1e6:.1f} MB ({sm / size:.2f}x file)")
    print(f"speed-up        {ts / ss:.2f}x faster than torch.load (median of {a.rounds} alternating rounds)")
    print(json.dumps({"file_bytes": size, "torch_seconds": ts, "stc_seconds": ss, "speedup": ts / ss,
                      "torch_rss_growth_bytes": tm, "stc_peak_rss_bytes": sm, "stc_rss_over_file": sm / size}))


if __name__ == "__main__":
    main()
