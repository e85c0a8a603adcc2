# stc_ref.py - plain-PyTorch reference of the spiking transformers stc compiles.
#
# No spikingjelly: the LIF below is MultiStepLIFNode's forward (tau 2, decay_input,
# hard reset to 0) written out, computed as h = v + (x - v) / 2 in float32 exactly
# like spikingjelly's torch backend.  Module names reproduce the official
# state_dict keys of ZK-Zhou/spikformer (CIFAR variant with nn.Linear, ImageNet
# variant with Conv1d/Conv2d 1x1) and BICLab/Spike-Driven-Transformer v1, so a
# checkpoint written here loads wherever the official one does and vice versa.
# Modules the official code builds but never calls (norm1/norm2, talking_heads,
# SDT's attn_lif/rpe_lif) exist here too, with the same (unused) role.
#
# Every LIF records, when `record` is set on it, its charge h (membrane before
# fire/reset) per timestep so the parity tests can explain differing spikes.
# SPDX-License-Identifier: MIT
import json
import torch
import torch.nn as nn


class SurrogateSpike(torch.autograd.Function):
    """Heaviside forward, sigmoid-derivative backward (spikingjelly's default, alpha 4)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(4.0 * x)
        return g * 4.0 * s * (1 - s)


class LIF(nn.Module):
    """Multi-step LIF over dim 0 (time). v=0 at start, fire on h >= vth, hard reset."""

    def __init__(self, v_threshold=1.0, tau=2.0):
        super().__init__()
        self.v_threshold = v_threshold
        self.tau = tau
        self.record = False
        self.trace = None    # [T, ...] charges h when record is set
        self.spikes = None   # [T, ...] spikes when record is set

    def forward(self, x):
        v = torch.zeros_like(x[0])
        out, hs = [], []
        for t in range(x.shape[0]):
            h = v + (x[t] - v) / self.tau
            s = SurrogateSpike.apply(h - self.v_threshold)
            v = h * (1.0 - s.detach())       # detach_reset=True
            out.append(s)
            if self.record:
                hs.append(h.detach())
        y = torch.stack(out)
        if self.record:
            self.trace = torch.stack(hs)
            self.spikes = y.detach()
        return y


def tb(f, x):
    """Apply a per-timestep module f to x [T, B, ...] with T folded into the batch."""
    T, B = x.shape[0], x.shape[1]
    y = f(x.flatten(0, 1))
    return y.reshape(T, B, *y.shape[1:])


# ---------------------------------------------------------------- Spikformer

class SPS(nn.Module):
    """Spiking patch splitting stem. pools: which of the 4 stages end in MaxPool2d(3,2,1)."""

    def __init__(self, in_channels, embed_dims, pools):
        super().__init__()
        D = embed_dims
        ch = [in_channels, D // 8, D // 4, D // 2, D]
        sfx = ["", "1", "2", "3"]
        self.pools = pools
        for i in range(4):
            setattr(self, "proj_conv" + sfx[i], nn.Conv2d(ch[i], ch[i + 1], 3, 1, 1, bias=False))
            setattr(self, "proj_bn" + sfx[i], nn.BatchNorm2d(ch[i + 1]))
            setattr(self, "proj_lif" + sfx[i], LIF())
            if pools[i]:
                setattr(self, "maxpool" + sfx[i], nn.MaxPool2d(3, 2, 1))
        self.rpe_conv = nn.Conv2d(D, D, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(D)
        self.rpe_lif = LIF()

    def forward(self, x):
        for s in ["", "1", "2", "3"]:
            x = tb(getattr(self, "proj_conv" + s), x)
            x = tb(getattr(self, "proj_bn" + s), x)
            x = getattr(self, "proj_lif" + s)(x)
            if hasattr(self, "maxpool" + s):
                x = tb(getattr(self, "maxpool" + s), x)
        x_feat = x
        x = tb(self.rpe_conv, x)
        x = tb(self.rpe_bn, x)
        x = self.rpe_lif(x)
        x = x + x_feat
        return x.flatten(3)          # [T, B, D, N], token n = y*W + x



def _proj(kind, cin, cout, bias):
    if kind == "linear":
        return nn.Linear(cin, cout, bias=bias)
    if kind == "conv1d":
        return nn.Conv1d(cin, cout, 1, 1, bias=bias)
    return nn.Conv2d(cin, cout, 1, 1, bias=bias)


def _apply_proj(kind, m, x):
    """x: [T, B, C, N] -> [T, B, C', N]."""
    if kind == "linear":
        return tb(lambda z: m(z.transpose(1, 2)).transpose(1, 2), x)
    if kind == "conv1d":
        return tb(m, x)
    return tb(lambda z: m(z.unsqueeze(-1)).squeeze(-1), x)


def _bn(kind, c):
    return nn.BatchNorm2d(c) if kind == "conv2d" else nn.BatchNorm1d(c)


def _apply_bn(kind, m, x):
    if kind == "conv2d":
        return tb(lambda z: m(z.unsqueeze(-1)).squeeze(-1), x)
    return tb(m, x)


class SSA(nn.Module):
    def __init__(self, dim, heads, variant):
        super().__init__()
        self.heads = heads
        self.variant = variant
        k = "linear" if variant == "cifar" else "conv1d"
        self.k = k
        qkv_bias = variant == "cifar"
        for n in ["q", "k", "v"]:
            setattr(self, f"{n}_{'linear' if k == 'linear' else 'conv'}", _proj(k, dim, dim, qkv_bias))
            setattr(self, f"{n}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{n}_lif", LIF())
        self.attn_lif = LIF(v_threshold=0.5)
        setattr(self, "proj_linear" if k == "linear" else "proj_conv", _proj(k, dim, dim, True))
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = LIF()

    def _m(self, n):
        return getattr(self, f"{n}_{'linear' if self.k == 'linear' else 'conv'}")

    def forward(self, x):
        T, B, C, N = x.shape
        h, d = self.heads, C // self.heads
        qkv = []
        for n in ["q", "k", "v"]:
            y = _apply_proj(self.k, self._m(n), x)
            y = _apply_bn(self.k, getattr(self, f"{n}_bn"), y)
            y = getattr(self, f"{n}_lif")(y)
            qkv.append(y.reshape(T, B, h, d, N).transpose(-1, -2))   # [T,B,h,N,d]
        q, k, v = qkv
        if self.variant == "cifar":
            a = (q @ k.transpose(-2, -1)) @ v
        else:
            a = q @ (k.transpose(-2, -1) @ v)
        a = a * 0.125
        a = a.transpose(-1, -2).reshape(T, B, C, N)
        a = self.attn_lif(a)
        y = _apply_proj(self.k, self._m("proj"), a)
        y = _apply_bn(self.k, self.proj_bn, y)
        return self.proj_lif(y)


class MLP(nn.Module):
    def __init__(self, dim, hidden, variant):
        super().__init__()
        self.k = "linear" if variant == "cifar" else "conv2d"
        nm = "linear" if self.k == "linear" else "conv"
        self.fc1 = nm
        setattr(self, f"fc1_{nm}", _proj(self.k, dim, hidden, True))
        self.fc1_bn = _bn(self.k, hidden)
        self.fc1_lif = LIF()
        setattr(self, f"fc2_{nm}", _proj(self.k, hidden, dim, True))
        self.fc2_bn = _bn(self.k, dim)
        self.fc2_lif = LIF()

    def forward(self, x):
        x = _apply_proj(self.k, getattr(self, f"fc1_{self.fc1}"), x)
        x = self.fc1_lif(_apply_bn(self.k, self.fc1_bn, x))
        x = _apply_proj(self.k, getattr(self, f"fc2_{self.fc1}"), x)
        return self.fc2_lif(_apply_bn(self.k, self.fc2_bn, x))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, variant):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)      # built, never called (as upstream)
        self.attn = SSA(dim, heads, variant)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), variant)

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class Spikformer(nn.Module):
    """variant 'cifar' (nn.Linear, pools after stages 2,3) or 'imagenet' (1x1 convs, 4 pools)."""

    def __init__(self, variant="cifar", in_channels=3, num_classes=10, embed_dims=384,
                 num_heads=12, mlp_ratios=4, depths=4, T=4, **_):
        super().__init__()
        self.T = T
        pools = [False, False, True, True] if variant == "cifar" else [True] * 4
        self.patch_embed = SPS(in_channels, embed_dims, pools)
        self.block = nn.ModuleList([Block(embed_dims, num_heads, mlp_ratios, variant)
                                    for _ in range(depths)])
        self.head = nn.Linear(embed_dims, num_classes)

    def forward(self, img):
        x = img.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        x = self.patch_embed(x)
        for b in self.block:
            x = b(x)
        return self.head(x.mean(3).mean(0))


# ------------------------------------------------- Spike-driven Transformer v1

class MS_SPS(nn.Module):
    def __init__(self, in_channels, embed_dims, pooling_stat="1111"):
        super().__init__()
        D = embed_dims
        ch = [in_channels, D // 8, D // 4, D // 2, D]
        sfx = ["", "1", "2", "3"]
        self.stat = [c == "1" for c in pooling_stat]
        for i in range(4):
            setattr(self, "proj_conv" + sfx[i], nn.Conv2d(ch[i], ch[i + 1], 3, 1, 1, bias=False))
            setattr(self, "proj_bn" + sfx[i], nn.BatchNorm2d(ch[i + 1]))
            setattr(self, "proj_lif" + sfx[i], LIF())
            if self.stat[i]:
                setattr(self, "maxpool" + sfx[i], nn.MaxPool2d(3, 2, 1))
        self.rpe_conv = nn.Conv2d(D, D, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(D)
        self.rpe_lif = LIF()                # built, never called (as upstream)

    def forward(self, x):
        for s in ["", "1", "2"]:
            x = tb(getattr(self, "proj_conv" + s), x)
            x = tb(getattr(self, "proj_bn" + s), x)
            x = getattr(self, "proj_lif" + s)(x)
            if hasattr(self, "maxpool" + s):
                x = tb(getattr(self, "maxpool" + s), x)
        x = tb(self.proj_conv3, x)
        x = tb(self.proj_bn3, x)
        if hasattr(self, "maxpool3"):
            x = tb(self.maxpool3, x)       # pools the BN output, before the LIF
        x_feat = x
        x = self.proj_lif3(x)
        x = tb(self.rpe_conv, x)
        x = tb(self.rpe_bn, x)
        return (x + x_feat).flatten(3)


class MS_SSA(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.shortcut_lif = LIF()
        for n in ["q", "k", "v"]:
            setattr(self, f"{n}_conv", nn.Conv2d(dim, dim, 1, 1, bias=False))
            setattr(self, f"{n}_bn", nn.BatchNorm2d(dim))
            setattr(self, f"{n}_lif", LIF())
        self.attn_lif = LIF(v_threshold=0.5)          # built, never called
        self.talking_heads = nn.Conv1d(heads, heads, 3, padding=1, bias=False)  # unused
        self.talking_heads_lif = LIF(v_threshold=0.5)
        self.proj_conv = nn.Conv2d(dim, dim, 1, 1)
        self.proj_bn = nn.BatchNorm2d(dim)

    def forward(self, x):
        c2 = lambda m, z: tb(lambda u: m(u.unsqueeze(-1)).squeeze(-1), z)
        x = self.shortcut_lif(x)
        q, k, v = [getattr(self, f"{n}_lif")(c2(getattr(self, f"{n}_bn"), c2(getattr(self, f"{n}_conv"), x)))
                   for n in ["q", "k", "v"]]
        kv = (k * v).sum(dim=-1, keepdim=True)   # column sum over tokens, per channel
        kv = self.talking_heads_lif(kv)
        x = q * kv
        return c2(self.proj_bn, c2(self.proj_conv, x))


class MS_MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1_lif = LIF()
        self.fc1_conv = nn.Conv2d(dim, hidden, 1, 1)
        self.fc1_bn = nn.BatchNorm2d(hidden)
        self.fc2_lif = LIF()
        self.fc2_conv = nn.Conv2d(hidden, dim, 1, 1)
        self.fc2_bn = nn.BatchNorm2d(dim)

    def forward(self, x):
        c2 = lambda m, z: tb(lambda u: m(u.unsqueeze(-1)).squeeze(-1), z)
        x = c2(self.fc1_bn, c2(self.fc1_conv, self.fc1_lif(x)))
        return c2(self.fc2_bn, c2(self.fc2_conv, self.fc2_lif(x)))


class MS_Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.attn = MS_SSA(dim, heads)
        self.mlp = MS_MLP(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikeDrivenTransformer(nn.Module):
    def __init__(self, in_channels=3, num_classes=1000, embed_dims=512, num_heads=8,
                 mlp_ratios=4, depths=8, T=4, pooling_stat="1111", **_):
        super().__init__()
        self.T = T
        self.patch_embed = MS_SPS(in_channels, embed_dims, pooling_stat)
        self.block = nn.ModuleList([MS_Block(embed_dims, num_heads, mlp_ratios) for _ in range(depths)])
        self.head_lif = LIF()
        self.head = nn.Linear(embed_dims, num_classes)

    def forward(self, img):
        x = img.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        x = self.patch_embed(x)
        for b in self.block:
            x = b(x)
        x = self.head_lif(x.mean(3))
        return self.head(x).mean(0)


# ------------------------------------------------------------------ helpers

ARCHS = {"spikformer_cifar", "spikformer_imagenet", "sdt"}


def build(cfg):
    """cfg: dict with 'arch' and the official constructor names; optional LIF constants
    'tau', 'v_threshold' and 'attn_v_threshold' (attn_lif, talking_heads_lif)."""
    a = cfg["arch"]
    if a == "spikformer_cifar":
        m = Spikformer("cifar", **cfg)
    elif a == "spikformer_imagenet":
        m = Spikformer("imagenet", **cfg)
    elif a == "sdt":
        m = SpikeDrivenTransformer(**cfg)
    else:
        raise ValueError(f"unknown arch {a!r}, expected one of {sorted(ARCHS)}")
    for n, lif in lif_modules(m):
        lif.tau = cfg.get("tau", lif.tau)
        attn = n.endswith(("attn_lif", "talking_heads_lif"))
        lif.v_threshold = cfg.get("attn_v_threshold" if attn else "v_threshold", lif.v_threshold)
    return m


def load_config(path):
    with open(path) as f:
        return json.load(f)


def lif_modules(model):
    """(name, LIF) in forward order of construction; names are state_dict-style module paths."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LIF)]


def count_params(model):
    """Parameters the forward pass uses: all nn.Parameters minus the modules it never calls."""
    skip = ("norm1.", "norm2.", "talking_heads.")
    return sum(p.numel() for n, p in model.named_parameters()
               if not any(("." + s) in ("." + n) for s in skip))
