#!/usr/bin/python3
# parity.py - stc's float interpreter against PyTorch, on a random calibrated model.
#
# For one architecture: tools/make_test_model.py writes the checkpoint in every
# format plus PyTorch's logits and every LIF's charge h per timestep; then
# `stc-coord run --float --json --trace` runs each format.  Required:
#   - the same top-1 class on every input;
#   - at least 99.9% of all spikes equal (spike = h >= threshold);
#   - every differing spike explained by a membrane within 1e-4 of threshold.
#     One flip changes everything downstream of it, so this is checked layer by
#     layer: a second run imposes PyTorch's spikes at every LIF (--force-spikes)
#     and each LIF's own decision, made from the same inputs as PyTorch's, must
#     differ only where the membrane is within 1e-4 of its threshold;
#   - spike_counts in the JSON equal the spikes in stc's own trace;
#   - every format (zip, legacy, safetensors, wrapped training checkpoint) gives
#     bit-identical results.
# Exit 0 on success; prints "N passed, N failed".
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CONFIGS = {
    # name: (arch, embed_dims, depths, heads, img, extra generator flags)
    "spikformer_cifar": ("spikformer_cifar", 64, 2, 8, 32, []),
    "spikformer_imagenet": ("spikformer_imagenet", 64, 2, 2, 64, []),
    "sdt": ("sdt", 64, 2, 4, 32, []),
    # non-default LIF constants, given through the config file
    "sdt_lif_constants": ("sdt", 32, 1, 4, 32,
                          ["--tau", "1.5", "--v-threshold", "0.75", "--attn-v-threshold", "0.25"]),
}

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"  ok    {what}")
    else:
        failed += 1
        print(f"  FAIL  {what}")


def run_stc(stc, model, inputs, trace=None, force=None):
    cmd = [stc, "run", model, "--float", "--input", inputs, "--json", "--threads", "2"]
    if trace:
        cmd += ["--trace", trace]
    if force:
        cmd += ["--force-spikes", force]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"stc-coord failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--arch", required=True, choices=sorted(CONFIGS))
    ap.add_argument("--work", required=True)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    arch, D, depth, heads, img, extra = CONFIGS[a.arch]
    out = os.path.join(a.work, a.arch)
    gen = [sys.executable, os.path.join(ROOT, "tools", "make_test_model.py"), "--arch", arch, "--out", out,
           "--embed-dims", str(D), "--depths", str(depth), "--heads", str(heads), "--img", str(img),
           "--n", str(a.n), "--seed", str(a.seed)] + extra
    subprocess.run(gen, check=True, stdout=subprocess.DEVNULL)
    ref = np.load(os.path.join(out, "reference.npz"))
    with open(os.path.join(out, "rates.json")) as f:
        rates = json.load(f)
    inputs = os.path.join(out, "inputs.npy")
    print(f"parity {a.arch}: D={D} depth={depth} heads={heads} img={img} inputs={a.n}")

    lo, hi = min(rates.values()), max(rates.values())
    check(0.03 <= lo and hi <= 0.45, f"every LIF layer fires in about 5-40% of neurons x timesteps "
          f"(min {lo * 100:.1f}%, max {hi * 100:.1f}%): the comparison is not trivial")
    trace = os.path.join(out, "trace")
    res = run_stc(a.stc, os.path.join(out, "model.pth"), inputs, trace)
    torch_logits = ref["logits"]
    stc_logits = np.array([e["logits"] for e in res["inputs"]], dtype=np.float32)
    stc_class = np.array([e["class"] for e in res["inputs"]])
    check((stc_class == torch_logits.argmax(1)).all(),
          f"top-1 equal on all {a.n} inputs (stc {stc_class.tolist()}, torch {torch_logits.argmax(1).tolist()})")

    names = [k[2:] for k in ref.files if k.startswith("h:")]

    def compare(trace_dir, r):
        """-> (total spikes, differing, unexplained, largest |h| diff, counts ok, missing)"""
        total = differ = unexplained = 0
        worst = 0.0
        counts_ok, missing = True, []
        for name in names:
            th = ref["h:" + name]
            vth = float(ref["vth:" + name])
            path = os.path.join(trace_dir, name + ".npy")
            if not os.path.exists(path):
                missing.append(name)
                continue
            ch = np.load(path).reshape(th.shape)
            ts, cs = th >= vth, ch >= vth
            d = ts != cs
            total += ts.size
            differ += int(d.sum())
            if d.any():
                near = (np.abs(th[d] - vth) <= 1e-4) | (np.abs(ch[d] - vth) <= 1e-4)
                unexplained += int((~near).sum())
            worst = max(worst, float(np.abs(th - ch).max()))
            if r is not None:
                for i, e in enumerate(r["inputs"]):
                    if e["spike_counts"].get(name) != int(cs[i].sum()):
                        counts_ok = False
        return total, differ, unexplained, worst, counts_ok, missing

    total, differ, _, worst, counts_ok, missing = compare(trace, res)
    check(not missing, f"stc traced every LIF PyTorch runs ({len(names)}){' missing ' + str(missing) if missing else ''}")
    agree = 1.0 - differ / max(total, 1)
    check(agree >= 0.999, f"free run: spikes equal {agree * 100:.4f}% of {total} ({differ} differ)")
    check(counts_ok, "spike_counts (JSON) equal the spikes of the trace, for every LIF and input")
    check(set(res["inputs"][0]["spike_counts"]) == set(names),
          "spike_counts are keyed by exactly the PyTorch LIF module names that run")
    if differ == 0:
        err = float(np.abs(stc_logits - torch_logits).max())
        scale = float(np.abs(torch_logits).max()) + 1e-6
        check(err <= 1e-4 * max(1.0, scale), f"logits within float tolerance (max abs diff {err:.3g})")

    # layer by layer: impose PyTorch's spikes, compare each LIF's own decision
    force = os.path.join(out, "force")
    os.makedirs(force, exist_ok=True)
    for name in names:
        sp = (ref["h:" + name] >= float(ref["vth:" + name])).astype(np.float32)
        np.save(os.path.join(force, name + ".npy"), sp)
    ftrace = os.path.join(out, "trace_forced")
    run_stc(a.stc, os.path.join(out, "model.pth"), inputs, ftrace, force)
    ftotal, fdiffer, unexplained, fworst, _, _ = compare(ftrace, None)
    check(unexplained == 0, f"teacher-forced: {fdiffer} of {ftotal} spike decisions differ, "
          f"{unexplained} of them further than 1e-4 from threshold")
    print(f"  info  teacher-forced: largest membrane difference {fworst:.3g}; free run: {worst:.3g}")

    # BatchNorm folded into the conv/linear before it: the same function up to rounding
    p = subprocess.run([a.stc, "run", os.path.join(out, "model.pth"), "--float", "--input", inputs, "--json",
                        "--passes", "fold_bn"], capture_output=True, text=True)
    if p.returncode != 0:
        check(False, f"--passes fold_bn runs ({p.stderr.strip()})")
    else:
        rf = json.loads(p.stdout)
        fclass = np.array([e["class"] for e in rf["inputs"]])
        check((fclass == torch_logits.argmax(1)).all(), "fold_bn: top-1 equal to PyTorch on every input")
        tot = sum(sum(e["spike_counts"].values()) for e in res["inputs"])
        dif = sum(abs(e["spike_counts"][k] - f["spike_counts"][k]) for e, f in zip(res["inputs"], rf["inputs"])
                  for k in e["spike_counts"])
        check(dif <= 0.001 * tot, f"fold_bn: spike counts within 0.1% of the unfolded graph ({dif} of {tot})")

    for other in ["model_legacy.pth", "model.safetensors", "model_wrapped.pth"]:
        r2 = run_stc(a.stc, os.path.join(out, other), inputs)
        same = all(x["logits"] == y["logits"] and x["spike_counts"] == y["spike_counts"]
                   for x, y in zip(res["inputs"], r2["inputs"]))
        check(same, f"{other} gives bit-identical logits and spike counts")

    # results do not depend on the number of threads
    r1 = subprocess.run([a.stc, "run", os.path.join(out, "model.pth"), "--float", "--input", inputs,
                         "--json", "--threads", "1"], capture_output=True, text=True)
    check(r1.returncode == 0 and json.loads(r1.stdout)["inputs"] == res["inputs"],
          "1 thread and 2 threads give identical results")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
