#!/usr/bin/python3
# cli_errors.py - what a user sees when they hand stc-coord something wrong.
#
# Every case must exit with status 1 (2 for usage errors), never by a signal or
# a sanitizer report, and print one error that names the file (and the tensor,
# key, opcode or field) and says what was expected.  The checkpoints are
# written by Debian's PyTorch, then damaged.
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

passed = failed = 0


def case(stc, what, args, code, *needles):
    global passed, failed
    p = subprocess.run([stc] + args, capture_output=True, text=True)
    err = p.stderr
    ok = p.returncode == code and all(n in err for n in needles) and "Sanitizer" not in err
    print(f"  {'ok  ' if ok else 'FAIL'}  {what}: exit {p.returncode}: {err.strip().splitlines()[-1] if err.strip() else '(no message)'}")
    if not ok:
        print(f"        expected exit {code} and {needles}")
    passed += ok
    failed += not ok


def main():
    global passed, failed
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    w = a.work
    os.makedirs(w, exist_ok=True)
    torch.manual_seed(0)
    cfg = dict(arch="spikformer_cifar", depths=1, embed_dims=16, num_classes=10, num_heads=2, in_channels=3)
    sd = stc_ref.build(cfg).state_dict()
    good = os.path.join(w, "good.pth")
    torch.save(sd, good)
    s = a.stc

    case(s, "missing file", ["inspect", os.path.join(w, "nope.pth")], 1, "nope.pth")
    junk = os.path.join(w, "junk.pth")
    with open(junk, "wb") as f:
        f.write(b"this is not a checkpoint at all")
    case(s, "not a checkpoint", ["inspect", junk], 1, "junk.pth", "expected")
    data = open(good, "rb").read()
    trunc = os.path.join(w, "truncated.pth")
    with open(trunc, "wb") as f:
        f.write(data[: len(data) // 2])
    case(s, "truncated zip", ["inspect", trunc], 1, "truncated.pth")

    sd2 = dict(sd)
    del sd2["block.0.attn.k_bn.running_var"]
    miss = os.path.join(w, "missing_key.pth")
    torch.save(sd2, miss)
    case(s, "missing key", ["inspect", miss], 1, "missing", "block.0.attn.k_bn.running_var")
    sd3 = dict(sd)
    sd3["block.0.attn.extra.weight"] = torch.zeros(3)
    extra = os.path.join(w, "extra_key.pth")
    torch.save(sd3, extra)
    case(s, "unexpected key", ["inspect", extra], 1, "unexpected", "block.0.attn.extra.weight")
    sd4 = dict(sd)
    sd4["head.bias"] = torch.zeros(11)
    shape = os.path.join(w, "bad_shape.pth")
    torch.save(sd4, shape)
    case(s, "wrong shape", ["inspect", shape], 1, "head.bias", "expected [10]", "found [11]")

    bad_cfg = os.path.join(w, "contradict.json")
    with open(bad_cfg, "w") as f:
        json.dump({"embed_dims": 32}, f)
    case(s, "config contradicts weights", ["inspect", good, "--config", bad_cfg], 1, "embed_dims=32",
         "contradicts", "16")
    unk = os.path.join(w, "unknown.json")
    with open(unk, "w") as f:
        json.dump({"num_head": 4}, f)
    case(s, "unknown config key", ["inspect", good, "--config", unk], 1, "unknown.json", "num_head")
    case(s, "arch flag mismatch", ["inspect", good, "--arch", "sdt"], 1, "arch=sdt", "spikformer_cifar")
    case(s, "heads do not divide", ["inspect", good, "--num-heads", "3"], 1, "num_heads=3")

    evil = os.path.join(w, "evil.pth")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, evil)
    case(s, "code in a pickle", ["inspect", evil], 1, "evil.pth", "not allowed")

    np.save(os.path.join(w, "ok.npy"), np.zeros((1, 3, 32, 32), np.float32))
    x = os.path.join(w, "wrong_size.npy")
    np.save(x, np.zeros((2, 3, 16, 16), np.float32))
    case(s, "input of the wrong size", ["run", good, "--float", "--input", x], 1, "[3,16,16]", "[3,32,32]")
    case(s, "run without an input", ["run", good, "--float"], 2, "--input")
    case(s, "unknown data set", ["run", good, "--float", "--dataset", "imagenet"], 2, "imagenet", "fashion-mnist")
    case(s, "unknown option", ["inspect", good, "--frobnicate"], 2, "--frobnicate")
    # an option of another command is refused, not ignored
    case(s, "partition --dot", ["partition", os.path.join(w, "x.stc"), "--topology", "torus:2x2", "--dot",
                                os.path.join(w, "g.dot")], 2, "partition does not take --dot", "inspect")
    case(s, "profile --trace", ["profile", os.path.join(w, "x.stc"), "--trace", w], 2, "profile does not take --trace")
    case(s, "inspect --topology", ["inspect", good, "--topology", "torus:2x2"], 2, "inspect does not take --topology",
         "compile, partition")
    case(s, "model option on a bundle's command", ["partition", os.path.join(w, "x.stc"), "--depths", "2"], 2,
         "partition does not take --depths")
    p = subprocess.run([s, "profile", "--help"], capture_output=True, text=True)
    ok = p.returncode == 0 and "profile options" in p.stdout and "--trace" not in p.stdout
    print(f"  {'ok  ' if ok else 'FAIL'}  profile --help lists profile's options, not run's")
    passed += ok
    failed += not ok
    ir = os.path.join(w, "bad.stcir")
    with open(ir, "w") as f:
        f.write("stc-ir 1\ngraph T=4\n%0 = input [1,4,4] real\n%1 = conv9d %0 [1,4,4] real\n")
    case(s, "IR text with an unknown op", ["inspect", ir], 1, "bad.stcir:4", "conv9d")

    # the backend: compile, run MODEL.stc, profile
    case(s, "compile without -o", ["compile", good], 2, "-o FILE.stc")
    case(s, "weight bits beyond 8", ["compile", good, "--weight-bits", "9", "-o", os.path.join(w, "x.stc")], 2,
         "--weight-bits", "1 to 8")
    case(s, "unknown target", ["compile", good, "--target", "loihi9", "-o", os.path.join(w, "x.stc")], 1, "loihi9")
    p = subprocess.run([s, "target", "loihi3", "--json"], capture_output=True, text=True)
    tiny = json.loads(p.stdout)
    tiny["name"] = "tiny"
    tiny["cores_per_chip"]["value"] = 2
    tiny["core_mesh"]["value"] = [2, 1]
    tiny["neurons_per_core"]["value"] = 600
    tiny_path = os.path.join(w, "tiny.json")
    with open(tiny_path, "w") as f:
        json.dump(tiny, f)
    case(s, "model needs more chips", ["compile", good, "--target", tiny_path, "--chips", "1", "-o",
                                       os.path.join(w, "x.stc")], 1, "chips", "--chips 1", "needs")
    tiny["neurons_per_core"]["value"] = 8
    with open(tiny_path, "w") as f:
        json.dump(tiny, f)
    case(s, "stage too big for a core", ["compile", good, "--target", tiny_path, "-o", os.path.join(w, "x.stc")],
         1, "neurons_per_core", "the limit is 8")
    stc_file = os.path.join(w, "good.stc")
    case(s, "compile the good model (no error)", ["compile", good, "-o", stc_file], 0)
    data = bytearray(open(stc_file, "rb").read())
    data[len(data) // 2] ^= 0x55
    corrupt = os.path.join(w, "corrupt.stc")
    open(corrupt, "wb").write(data)
    case(s, "corrupt bundle", ["run", corrupt, "--input", os.path.join(w, "wrong_size.npy")], 1, "corrupt.stc")
    foreign = os.path.join(w, "checkpoint.stc")
    shutil.copy(good, foreign)
    case(s, "checkpoint named .stc", ["run", foreign, "--input", x], 1, "checkpoint.stc", "compile")
    case(s, "bundle input of the wrong size", ["run", stc_file, "--input", x], 1, "[3,16,16]", "[3,32,32]")
    case(s, "profile of a checkpoint", ["profile", good], 2, "compiled bundle")
    # partition: placing the bundle's cores on a topology
    case(s, "partition without a topology", ["partition", stc_file], 2, "--topology")
    case(s, "malformed topology", ["partition", stc_file, "--topology", "torus:4x0"], 1, "torus:4x0")
    case(s, "unknown strategy", ["partition", stc_file, "--topology", "mesh:2x2", "--strategy", "kl"], 2, "kl",
         "metis")
    case(s, "partition of a checkpoint", ["partition", good, "--topology", "mesh:2x2"], 2, "compiled bundle")
    tiny["neurons_per_core"]["value"] = 600
    with open(tiny_path, "w") as f:
        json.dump(tiny, f)
    small_stc = os.path.join(w, "small_cores.stc")
    case(s, "compile for small cores (no error)", ["compile", good, "--target", tiny_path, "-o", small_stc], 0)
    case(s, "topology too small", ["partition", small_stc, "--topology", "mesh:2x2"], 1, "needs", "chips",
         "mesh:2x2")
    png = os.path.join(w, "placement.png")
    case(s, "partition on a torus with a picture (no error)", ["partition", small_stc, "--topology", "torus:8x8",
                                                               "-o", os.path.join(w, "placed.stc"), "--picture", png], 0)
    ok = os.path.exists(png) and open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    case(s, "placed bundle runs (no error)", ["run", os.path.join(w, "placed.stc"), "--input", os.path.join(w, "ok.npy")]
         if ok else ["run", "/nonexistent.stc"], 0)
    case(s, "picture to an unwritable place, before any work", ["partition", small_stc, "--topology", "torus:8x8",
                                                                "-o", os.path.join(w, "p2.stc"), "--picture",
                                                                "/nonexistent/dir/p.png"], 2,
         "cannot write into /nonexistent/dir")
    # one option, one value: a second would silently win; one source of images
    case(s, "an option given twice", ["partition", small_stc, "--topology", "torus:2x2", "--topology", "mesh:4x4"],
         2, "--topology: given twice")
    case(s, "an option and its alias", ["partition", small_stc, "--topology", "torus:2x2", "--calibrate", x,
                                        "--calib", x], 2, "--calib: already given as --calibrate")
    case(s, "--calibrate and --dataset", ["partition", small_stc, "--topology", "torus:2x2", "--calibrate", x,
                                          "--dataset", "fashion-mnist"], 2, "give one")
    case(s, "--limit without images", ["partition", small_stc, "--topology", "torus:2x2", "--limit", "3"], 2,
         "--limit 3", "--calibrate X or --dataset NAME")
    case(s, "compile --strategy without a topology", ["compile", good, "--strategy", "metis", "-o",
                                                      os.path.join(w, "x.stc")], 2, "--strategy", "--topology")
    case(s, "compile --limit without a topology", ["compile", good, "--limit", "2", "-o", os.path.join(w, "x.stc")],
         2, "--limit", "--topology")
    case(s, "compile --topology --limit without images", ["compile", good, "--topology", "torus:2x2", "--limit", "2",
                                                          "-o", os.path.join(w, "x.stc")], 1, "--limit 2",
         "names no data set")
    p = subprocess.run([s, "compile", good, "--topology", "torus:4x4y", "-o", os.path.join(w, "x.stc")],
                       capture_output=True, text=True)
    case(s, "compile with a malformed topology stops before quantizing",
         ["compile", good, "--topology", "torus:4x4y", "-o", os.path.join(w, "x.stc")]
         if "quantiz" not in p.stderr and "measuring" not in p.stderr else ["--no-such-command"], 1, "torus:4x4y",
         "expected 'x' or the end")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
