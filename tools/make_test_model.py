#!/usr/bin/python3
# make_test_model.py - write a random spiking transformer checkpoint, in every format, with its
# PyTorch outputs, for the parity tests and benchmarks.
#
# BatchNorm statistics are calibrated on the inputs so that every LIF fires at a
# plausible rate (roughly 5-40%): running_mean/var are set from the data that
# reaches each BatchNorm, and the affine bias of a BatchNorm that feeds a LIF is
# bisected until that LIF fires at a drawn target rate.  Random-init models
# otherwise fire almost never or almost always, which would test nothing.
#
# --fast-calibrate does the same in ONE forward pass (the bisection above costs
# 18 passes per BatchNorm: hours for an ImageNet-size model).  A forward pre-hook
# on each BatchNorm sets running_mean/var from the input it is about to
# normalize, draws the weight, and picks the bias by bisecting on that BN's own
# output alone: z = BN(input) without bias is pushed through the model's LIF
# equations (tau, threshold of the LIF named like the BN, same T) for each
# candidate bias, with no further forward pass.  The approximation: the BN
# output is assumed to feed its LIF directly.  True for every Spikformer BN; in
# the Spike-driven Transformer a BN output is max-pooled first (MS_SPS
# proj_bn3) or added into the residual stream whose LIF sees the sum (rpe_bn,
# proj_bn, fc2_bn), so those LIFs can be far off (an SDT residual LIF may
# fire 50-100%): for SDT prefer the default calibration.  On Spikformer it
# gives the same BN parameters as the default (checked at 64x64).  The rates
# printed and written to rates.json are measured, not the targets.
#
#   /usr/bin/python3 tools/make_test_model.py --arch sdt --out DIR [--embed-dims 64 ...]
# writes DIR/model.pth (zip), model_legacy.pth, model.safetensors,
# model_wrapped.pth (training checkpoint with 'module.' prefix), model.json
# (config), inputs.npy, and reference.npz (logits, per-LIF charges and spikes).
# --formats zip writes only model.pth (and model.json); --no-reference writes a
# reference.npz with the logits only (the per-LIF charges of an ImageNet-size
# model are hundreds of MB).
# SPDX-License-Identifier: MIT
import argparse
import argparse as _ap_for_namespace
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stc_ref  # noqa: E402

ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}


def save_safetensors(sd, path, metadata=None):
    """The safetensors layout, written by hand (no safetensors package in Debian)."""
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for k, t in sd.items():
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.bfloat16:
            b = t.view(torch.int16).numpy().tobytes()
        else:
            b = t.numpy().tobytes()
        header[k] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def lif_rates(model, x):
    for _, m in stc_ref.lif_modules(model):
        m.record = True
    with torch.no_grad():
        model(x)
    rates = {n: m.spikes.mean().item() for n, m in stc_ref.lif_modules(model) if m.spikes is not None}
    for _, m in stc_ref.lif_modules(model):
        m.record = False
    return rates


def calibrate(model, x, seed):
    """Set BN statistics from data, then bisect BN biases so the LIF after each BN fires at a target rate."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    bns = [(n, m) for n, m in model.named_modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    lifs = dict(stc_ref.lif_modules(model))
    # the LIF that runs first after each BatchNorm is the one its output reaches
    order, hooks = [], []
    for n, m in bns + list(lifs.items()):
        hooks.append(m.register_forward_hook(lambda mod, i, o, n=n: order.append(n)))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    next_lif = {}
    for i, n in enumerate(order):
        if n in dict(bns) and n not in next_lif:
            next_lif[n] = next((m for m in order[i + 1:] if m in lifs), None)
    for name, bn in bns:
        captured = {}

        def hook(mod, inp, out):
            captured["x"] = inp[0].detach()

        h = bn.register_forward_hook(hook)
        with torch.no_grad():
            model(x)
        h.remove()
        if "x" not in captured:
            continue   # built, never called
        z = captured["x"]
        dims = [0] + list(range(2, z.dim()))
        bn.running_mean.copy_(z.mean(dim=dims))
        bn.running_var.copy_(z.var(dim=dims) + 1e-3)
        with torch.no_grad():
            bn.weight.copy_(0.6 + 0.8 * torch.rand(bn.weight.shape, generator=g))
            bn.bias.zero_()
        target_lif = next_lif.get(name)
        if target_lif is None:
            continue
        target = 0.08 + 0.22 * torch.rand(1, generator=g).item()
        if isinstance(model, stc_ref.SpikeDrivenTransformer) and target_lif.endswith(("attn.k_lif", "attn.v_lif")):
            # SDSA's talking_heads_lif fires where any token has k = v = 1: keep k and v sparse
            # enough that it lands in the same 5-40% band as the rest
            target = 0.03 + 0.03 * torch.rand(1, generator=g).item()
        lo, hi = -4.0, 4.0
        for _ in range(18):
            mid = (lo + hi) / 2
            with torch.no_grad():
                bn.bias.fill_(mid)
            r = lif_rates(model, x).get(target_lif, 0.0)
            if r < target:
                lo = mid
            else:
                hi = mid
        with torch.no_grad():
            bn.bias.copy_(torch.full(bn.bias.shape, (lo + hi) / 2) + 0.1 * torch.randn(bn.bias.shape, generator=g))
    return lif_rates(model, x)


def lif_run_rate(z, T, tau, vth):
    """Spike rate of the LIF (stc_ref.LIF's equations) driven by z [T*B, ...] (T outer)."""
    z = z.reshape(T, -1)
    v = torch.zeros_like(z[0])
    n = 0.0
    for t in range(T):
        h = v + (z[t] - v) / tau
        s = h >= vth
        n += s.sum().item()
        v = torch.where(s, torch.zeros_like(h), h)
    return n / z.numel()


def calibrate_fast(model, x, seed):
    """One forward pass: each BN's statistics, weight and bias are set by a pre-hook just
    before it runs (see the top comment for the approximation); returns measured rates."""
    g = torch.Generator().manual_seed(seed)
    model.eval()
    T = model.T
    lifs = stc_ref.lif_modules(model)
    lif_by_name = dict(lifs)
    sdt = isinstance(model, stc_ref.SpikeDrivenTransformer)

    built = [n for n, _ in model.named_modules()]

    def lif_for(bn_name):
        cand = bn_name.replace("_bn", "_lif")
        if cand in lif_by_name:
            return cand, lif_by_name[cand]
        # no LIF named like the BN: the next one built after it
        after = [n for n in built[built.index(bn_name) + 1:] if n in lif_by_name]
        return (after[0], lif_by_name[after[0]]) if after else (None, None)

    def pre_hook(mod, inp, name):
        z = inp[0].detach()
        dims = [0] + list(range(2, z.dim()))
        shape = [1, -1] + [1] * (z.dim() - 2)
        mean = z.mean(dim=dims)
        var = z.var(dim=dims) + 1e-3
        mod.running_mean.copy_(mean)
        mod.running_var.copy_(var)
        w = 0.6 + 0.8 * torch.rand(mod.weight.shape, generator=g)
        mod.weight.copy_(w)
        lname, lif = lif_for(name)
        if lif is None:
            mod.bias.zero_()
            return
        zn = (z - mean.view(shape)) / torch.sqrt(var.view(shape) + mod.eps) * w.view(shape)
        target = 0.08 + 0.22 * torch.rand(1, generator=g).item()
        if sdt and lname.endswith(("attn.k_lif", "attn.v_lif")):
            target = 0.03 + 0.03 * torch.rand(1, generator=g).item()
        lo, hi = -4.0, 4.0
        for _ in range(18):
            mid = (lo + hi) / 2
            if lif_run_rate(zn + mid, T, lif.tau, lif.v_threshold) < target:
                lo = mid
            else:
                hi = mid
        mod.bias.copy_(torch.full(mod.bias.shape, (lo + hi) / 2) + 0.1 * torch.randn(mod.bias.shape, generator=g))

    rates, hooks = {}, []
    for n, m in model.named_modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            hooks.append(m.register_forward_pre_hook(lambda mod, inp, n=n: pre_hook(mod, inp, n)))
    for n, m in lifs:
        hooks.append(m.register_forward_hook(
            lambda mod, inp, out, n=n: rates.__setitem__(n, out.detach().float().mean().item())))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return rates


def reference(model, x):
    for _, m in stc_ref.lif_modules(model):
        m.record = True
    with torch.no_grad():
        logits = model(x)
    out = {"logits": logits.numpy()}
    for n, m in stc_ref.lif_modules(model):
        if m.trace is None:
            continue   # built, never called
        T, B = m.trace.shape[0], m.trace.shape[1]
        out["h:" + n] = m.trace.reshape(T, B, -1).transpose(0, 1).numpy()
        out["vth:" + n] = np.float32(m.v_threshold)
        m.trace = m.spikes = None
        m.record = False
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True, choices=sorted(stc_ref.ARCHS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--embed-dims", type=int, default=64)
    ap.add_argument("--depths", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratios", type=float, default=4)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--in-channels", type=int, default=3)
    ap.add_argument("--img", type=int, default=32)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--n", type=int, default=8, help="test inputs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--formats", default="zip,legacy,safetensors,wrapped")
    ap.add_argument("--no-calibrate", action="store_true")
    ap.add_argument("--fast-calibrate", action="store_true",
                    help="calibrate BatchNorms in one forward pass (see the top comment)")
    ap.add_argument("--no-reference", action="store_true",
                    help="reference.npz holds the logits only, no per-LIF charges")
    ap.add_argument("--tau", type=float, help="LIF tau (default 2)")
    ap.add_argument("--v-threshold", type=float, help="LIF threshold (default 1)")
    ap.add_argument("--attn-v-threshold", type=float, help="attention LIF threshold (default 0.5)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    cfg = {"arch": a.arch, "img_size_h": a.img, "img_size_w": a.img, "in_channels": a.in_channels,
           "num_classes": a.classes, "embed_dims": a.embed_dims, "num_heads": a.heads,
           "mlp_ratios": a.mlp_ratios, "depths": a.depths, "T": a.T}
    for k in ["tau", "v_threshold", "attn_v_threshold"]:
        if getattr(a, k) is not None:
            cfg[k] = getattr(a, k)
    if a.arch == "sdt":
        cfg["pooling_stat"] = "0011" if a.img <= 64 else "1111"
    model = stc_ref.build(cfg)
    model.eval()
    x = torch.randn(a.n, a.in_channels, a.img, a.img)
    # calibrate on (at most) the first 8 inputs: bisection costs a forward pass per step
    if a.no_calibrate:
        rates = {}
    elif a.fast_calibrate:
        rates = calibrate_fast(model, x[:8], a.seed)
    else:
        rates = calibrate(model, x[:8], a.seed)
    if rates and a.n > 8:
        rates = lif_rates(model, x)
    sd = model.state_dict()
    fm = a.formats.split(",")
    if "zip" in fm:
        torch.save(sd, os.path.join(a.out, "model.pth"))
    if "legacy" in fm:
        torch.save(sd, os.path.join(a.out, "model_legacy.pth"), _use_new_zipfile_serialization=False)
    if "safetensors" in fm:
        save_safetensors(sd, os.path.join(a.out, "model.safetensors"), {"format": "pt"})
    if "wrapped" in fm:
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()},
                   "optimizer": opt.state_dict(), "args": _ap_for_namespace.Namespace(lr=0.1, model=a.arch),
                   "best_acc1": torch.tensor(0.5)}
        torch.save(wrapped, os.path.join(a.out, "model_wrapped.pth"))
    for stem in ["model"] + ["model_" + f for f in ["legacy", "wrapped"] if f in fm]:
        with open(os.path.join(a.out, stem + ".json"), "w") as f:
            json.dump(cfg, f, indent=1)
    np.save(os.path.join(a.out, "inputs.npy"), x.numpy().astype(np.float32))
    if a.no_reference:
        with torch.no_grad():
            ref = {"logits": model(x).numpy()}
    else:
        ref = reference(model, x)
    np.savez(os.path.join(a.out, "reference.npz"), **ref)
    with open(os.path.join(a.out, "rates.json"), "w") as f:
        json.dump(rates, f, indent=1)
    print(json.dumps({"params": stc_ref.count_params(model),
                      "rate_min": min(rates.values()) if rates else None,
                      "rate_max": max(rates.values()) if rates else None}))


if __name__ == "__main__":
    main()
