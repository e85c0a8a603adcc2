# cli_common.py - what the command-line tests of placed bundles share (cli_topology.py, cli_partition.py).
#
# A checker that counts and prints results, stc-coord run in the work
# directory (a sanitizer report is a failure), and the small model both use:
# a Spikformer written by Debian's PyTorch with batch-norm gains raised so that
# every layer fires, three 16x16 inputs, and a target of 600-neuron cores, 2
# per chip, so that the model spans many chips.
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import stc_ref  # noqa: E402


def args(node=False):
    """The command line every CLI test takes (--stc, --work; --node for the
    runtime's): the parsed arguments, with --stc and --work made absolute, and
    a Cli on them."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    if node:
        ap.add_argument("--node", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    c = Cli(a.stc, a.work)
    a.stc, a.work = c.stc_path, c.work
    return a, c


class Cli:
    def __init__(self, stc, work):
        self.stc_path, self.work = os.path.abspath(stc), os.path.abspath(work)
        self.passed = self.failed = 0

    def check(self, what, ok, detail=""):
        print(f"  {'ok  ' if ok else 'FAIL'}  {what}{': ' + detail if detail and not ok else ''}")
        self.passed += bool(ok)
        self.failed += not ok

    def stc(self, args, code=0):
        p = subprocess.run([self.stc_path] + args, capture_output=True, text=True, cwd=self.work)
        if p.returncode != code:
            print(f"        stc-coord {' '.join(args)}: exit {p.returncode}, expected {code}\n{p.stderr}")
        if "Sanitizer" in p.stderr or "runtime error:" in p.stderr:
            self.check(f"stc-coord {' '.join(args)}: no sanitizer report", False, p.stderr)
        return p

    def hot_model(self):
        """A fresh work directory with hot.pth, in.npy and tiny.json: their paths."""
        w = self.work
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
        tiny = json.loads(self.stc(["target", "loihi3", "--json"]).stdout)
        tiny["name"] = "tiny"
        tiny["cores_per_chip"]["value"] = 2
        tiny["core_mesh"]["value"] = [2, 1]
        tiny["neurons_per_core"]["value"] = 600
        tiny_path = os.path.join(w, "tiny.json")
        with open(tiny_path, "w") as f:
            json.dump(tiny, f)
        return pth, x, tiny_path

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed or not self.passed else 0)
