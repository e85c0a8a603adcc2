#!/usr/bin/python3
# cli_partition.py - `compile --topology` and `partition` from the command line: every strategy and
# topology computes the same thing, and the report says what the issue asks for.
#
# A small Spikformer (written by Debian's PyTorch, batch-norm gains raised so
# that every layer fires) on a target of 600-neuron cores, 2 per chip:
#   - compile --topology torus:4x4 --strategy all --json reports the four
#     strategies with cores (never below the lower bound), chips, traffic,
#     busiest link, latency and energy estimates, time and memory;
#   - the bundles of every strategy on mesh, torus and hierarchy, from compile
#     and from partition (with rates measured on images), give bit-identical
#     logits to the unplaced bundle;
#   - a topology too small says how many chips the model needs;
#   - --picture writes a PNG; the rates measured by partition are in the bundle.
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import stc_ref  # noqa: E402

passed = failed = 0


def check(what, ok, detail=""):
    global passed, failed
    print(f"  {'ok  ' if ok else 'FAIL'}  {what}{': ' + detail if detail and not ok else ''}")
    passed += bool(ok)
    failed += not ok


def stc(args, code=0):
    p = subprocess.run([A.stc] + args, capture_output=True, text=True, cwd=A.work)
    if p.returncode != code:
        print(f"        stc-coord {' '.join(args)}: exit {p.returncode}, expected {code}\n{p.stderr}")
    if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
        check(f"stc-coord {' '.join(args)}: no sanitizer report", False, p.stderr)
    return p


def tags(path):
    data, off, out = open(path, "rb").read(), 32, []
    while off < len(data):
        tag, n = struct.unpack_from("<4sQ", data, off)
        out.append(tag.decode())
        off += 12 + n
    return out


def main():
    w = A.work
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    torch.manual_seed(0)
    cfg = dict(arch="spikformer_cifar", depths=1, embed_dims=16, num_classes=10, num_heads=2, in_channels=3)
    sd = stc_ref.build(cfg).state_dict()
    for k in sd:
        if k.endswith("bn.weight"):
            sd[k] = sd[k] * 8
    pth = os.path.join(w, "hot.pth")
    torch.save(sd, pth)
    x = os.path.join(w, "in.npy")
    np.save(x, np.random.RandomState(1).rand(3, 3, 16, 16).astype(np.float32) * 2 - 1)
    tiny = json.loads(stc(["target", "loihi3", "--json"]).stdout)
    tiny["name"] = "tiny"
    tiny["cores_per_chip"]["value"] = 2
    tiny["core_mesh"]["value"] = [2, 1]
    tiny["neurons_per_core"]["value"] = 600
    tp = os.path.join(w, "tiny.json")
    json.dump(tiny, open(tp, "w"))
    base = ["--img-size", "16", "--target", tp, "--calib", x]

    def logits(bundle):
        p = stc(["run", bundle, "--input", x, "--json"])
        return [i["logits"] for i in json.loads(p.stdout)["inputs"]] if p.returncode == 0 else None

    plain = os.path.join(w, "plain.stc")
    stc(["compile", pth, "-o", plain] + base)
    ref = logits(plain)
    check("the unplaced bundle runs", ref is not None)

    p = stc(["compile", pth, "--topology", "torus:4x4", "--strategy", "all", "--json", "-o",
             os.path.join(w, "all.stc")] + base)
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    rows = (j.get("partition") or {}).get("strategies", [])
    check("compile --strategy all reports four strategies", [r["strategy"] for r in rows] ==
          ["stc", "metis", "scotch", "greedy"], str(rows))
    fields = ["cores_used", "lower_bound", "chips_used", "inter_chip_spikes", "hop_weighted_traffic",
              "max_link_load", "est_latency_us", "est_energy_uj", "cut_seconds", "place_seconds", "peak_rss_mb"]
    check("every row has the report's fields", all(all(f in r for f in fields) for r in rows))
    check("cores never below the lower bound", all(r["cores_used"] >= r["lower_bound"] >= 1 for r in rows))
    check("the bundle keeps stc's placement", j.get("topology") == "torus:4x4" and
          rows and j.get("cores_used") == rows[0]["cores_used"], str({k: j.get(k) for k in ("topology", "cores_used")}))
    check("stc's hop-weighted traffic is at most greedy's",
          rows and rows[0]["hop_weighted_traffic"] <= rows[3]["hop_weighted_traffic"], str(rows))

    same = 0
    runs = 0
    for topo in ["mesh:4x4", "torus:4x4", "hier:4x4"]:
        for s in ["stc", "metis", "scotch", "greedy"]:
            out = os.path.join(w, f"c-{s}.stc")
            if stc(["compile", pth, "--topology", topo, "--strategy", s, "-o", out] + base).returncode == 0:
                runs += 1
                same += logits(out) == ref
            out = os.path.join(w, f"p-{s}.stc")
            if stc(["partition", plain, "--topology", topo, "--strategy", s, "--calibrate", x,
                    "-o", out]).returncode == 0:
                runs += 1
                same += logits(out) == ref
    check("24 placed bundles (3 topologies x 4 strategies x compile/partition) run", runs == 24, str(runs))
    check("every one gives the unplaced bundle's logits, bit for bit", same == 24, f"{same} of {runs}")
    check("partition --calibrate stores the measured rates", "rate" in tags(os.path.join(w, "p-greedy.stc")),
          str(tags(os.path.join(w, "p-greedy.stc"))))

    p = stc(["compile", pth, "--topology", "mesh:1x2", "-o", os.path.join(w, "no.stc")] + base, 1)
    check("a topology too small says how many chips are needed",
          p.returncode == 1 and "the model needs" in p.stderr and "chips" in p.stderr and "mesh:1x2 has 2" in p.stderr,
          p.stderr)
    png = os.path.join(w, "place.png")
    p = stc(["partition", plain, "--topology", "torus:4x4", "--picture", png, "-o", os.path.join(w, "pic.stc")])
    check("--picture writes a PNG", p.returncode == 0 and os.path.exists(png) and
          open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", p.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--work", required=True)
    A = ap.parse_args()
    A.stc, A.work = os.path.abspath(A.stc), os.path.abspath(A.work)
    main()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
