#!/usr/bin/python3
"""make_ckpts.py - write the checkpoint test data (ctest fixture `make_test_data`).

Usage: /usr/bin/python3 tests/data/make_ckpts.py OUTDIR

Writes tiny checkpoints in every format stc reads (torch.save zip, legacy,
safetensors), the variants the readers must survive (renamed top folder, data
descriptors, zip64, shared storages, strides, offsets, every dtype, training
checkpoints) and corrupt files, plus OUTDIR/expected.json:

  {"<file>": {"format": "torch-zip", "wrapper": "", "count": N,
              "tensors": {"<name as stc reports it>":
                          {"shape": [..], "dtype": "float32", "first": [..], "sum": s}}},
   "<corrupt file>": {"error": "<part of the message stc must give>"}}

Each case is one small generator function registered with @case; add new ones
at the end of their section.  Generators return the expected entry (or None).
Keep files tiny and the whole run well under 20 s (ctest runs it first).
SPDX-License-Identifier: MIT
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

OUT = None
EXPECTED = {}
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def path(name):
    return os.path.join(OUT, name)


# ------------------------------------------------------------------ helpers

def describe(t):
    """Expected values for one tensor, as stc_tensor_to_f32 would give them."""
    f = t.detach().to(torch.float32).contiguous().reshape(-1)
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype).replace("torch.", ""),
        "first": [float(x) for x in f[:8].tolist()],
        "sum": float(f.to(torch.float64).sum().item()),
    }


def expect(name, fmt, sd, wrapper=""):
    EXPECTED[name] = {
        "format": fmt,
        "wrapper": wrapper,
        "count": len(sd),
        "tensors": {k: describe(v) for k, v in sd.items()},
    }


def expect_error(name, msg):
    EXPECTED[name] = {"error": msg}


def small_model():
    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, bias=False),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 4),
    )
    m(torch.randn(2, 2, 4, 4))  # updates BN running stats and num_batches_tracked
    return m


def all_dtypes():
    base = torch.tensor([0.0, 1.5, -2.25, 3.0, 100.0, -0.125])
    sd = collections.OrderedDict()
    for dt in [torch.float32, torch.float16, torch.bfloat16, torch.float64]:
        sd["f." + str(dt).replace("torch.", "")] = base.to(dt).reshape(2, 3)
    for dt in [torch.int64, torch.int32, torch.int16, torch.int8]:
        sd["i." + str(dt).replace("torch.", "")] = torch.tensor([0, 1, -2, 3, 127, -128], dtype=dt)
    sd["i.uint8"] = torch.tensor([0, 1, 2, 255, 128, 7], dtype=torch.uint8)
    sd["i.bool"] = torch.tensor([True, False, True, True], dtype=torch.bool)
    sd["scalar"] = torch.tensor(7.5)
    sd["empty"] = torch.zeros(0, 3)
    return sd


def shared_views():
    """Tensors that share one storage: views, transposes, slices with offsets."""
    base = torch.arange(24, dtype=torch.float32)
    m = base.view(4, 6)
    return collections.OrderedDict([
        ("base", base),
        ("mat", m),
        ("transposed", m.t()),                 # strides (1, 6)
        ("rows", m[1:3]),                      # offset 6
        ("cols", m[:, 2:5]),                   # offset 2, strides (6, 1)
        ("every_other", base[3::2]),           # offset 3, stride 2
        ("col_t", m[1:, 1:4].t()),             # offset 7, strides (1, 6)
    ])


def repack(src, dst, folder=None, unseekable=False, force_zip64=False, edit=None):
    """Copy a torch.save zip entry by entry, optionally renaming the top folder,
    writing to a non-seekable stream (data descriptors), forcing zip64 or
    editing entries (edit(leaf, bytes) -> bytes or None to drop)."""
    zin = zipfile.ZipFile(src)

    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def write(self, b):
            self.buf += b
            return len(b)

    sink = Unseekable() if unseekable else io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            leaf = info.filename.split("/", 1)[1]
            data = zin.read(info.filename)
            if edit:
                data = edit(leaf, data)
                if data is None:
                    continue
            name = (folder + "/" + leaf) if folder else info.filename
            with zout.open(zipfile.ZipInfo(name), "w", force_zip64=force_zip64) as f:
                f.write(data)
    with open(dst, "wb") as f:
        f.write(bytes(sink.buf) if unseekable else sink.getvalue())


class Rebuild:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, off, size, stride, ...)
    with whatever (possibly lying) arguments a corrupt-file case wants."""

    def __init__(self, storage, off, size, stride):
        self.args = (storage, off, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class FakeStorage:
    def __init__(self, key, numel, type_=torch.FloatStorage):
        self.key, self.numel, self.type = key, numel, type_


class TorchLikePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.type, obj.key, "cpu", obj.numel)
        return None


def handmade_zip(dst, obj, storages, folder="archive"):
    """A torch.save-style zip from a hand-built object and {key: bytes}."""
    pkl = io.BytesIO()
    TorchLikePickler(pkl, protocol=2).dump(obj)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as z:
        z.writestr(folder + "/data.pkl", pkl.getvalue())
        for k, b in storages.items():
            z.writestr(folder + "/data/" + k, b)
        z.writestr(folder + "/version", "3\n")


def save_both(stem, obj, sd_expected, wrapper=""):
    """torch.save obj as <stem>_zip.pth and <stem>_legacy.pth."""
    torch.save(obj, path(stem + "_zip.pth"))
    expect(stem + "_zip.pth", "torch-zip", sd_expected, wrapper)
    torch.save(obj, path(stem + "_legacy.pth"), _use_new_zipfile_serialization=False)
    expect(stem + "_legacy.pth", "torch-legacy", sd_expected, wrapper)


# ------------------------------------------------------- valid torch files

@case
def plain_state_dict():
    sd = small_model().state_dict()
    save_both("sd", sd, sd)


@case
def training_checkpoint():
    m = small_model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(2, 2, 4, 4)).sum().backward()
    opt.step()
    sd = m.state_dict()
    wrapped = collections.OrderedDict(("module." + k, v) for k, v in sd.items())
    ck = {
        "epoch": 7,
        "state_dict": wrapped,
        "optimizer": opt.state_dict(),
        "args": argparse.Namespace(lr=1e-3, model="spikformer", T=4, ids=[1, 2]),
        "best_acc": 91.5,
        "shape": torch.Size([3, 4]),
        "tags": {"a", "b"},
        "blob": b"\x00\xffbytes",
    }
    save_both("train", ck, sd, "['state_dict'], prefix 'module.'")


@case
def model_and_net_wrappers():
    sd = small_model().state_dict()
    torch.save({"model": sd, "epoch": 1, "model_ema": sd}, path("wrap_model_zip.pth"))
    expect("wrap_model_zip.pth", "torch-zip", sd, "['model']")
    torch.save({"net": sd, "acc": 0.5}, path("wrap_net_legacy.pth"),
               _use_new_zipfile_serialization=False)
    expect("wrap_net_legacy.pth", "torch-legacy", sd, "['net']")


@case
def dtypes():
    sd = all_dtypes()
    save_both("dtypes", sd, sd)


@case
def shared_and_strided():
    sd = shared_views()
    save_both("shared", sd, sd)


@case
def parameters():
    torch.manual_seed(1)
    sd = collections.OrderedDict([
        ("w", torch.nn.Parameter(torch.randn(3, 2))),
        ("b", torch.nn.Parameter(torch.randn(3), requires_grad=False)),
    ])
    save_both("param", sd, sd)


@case
def repacked_variants():
    sd = small_model().state_dict()
    torch.save(sd, path("src_tmp.pth"))
    repack(path("src_tmp.pth"), path("renamed_dd_zip.pth"), folder="some other-folder",
           unseekable=True)
    expect("renamed_dd_zip.pth", "torch-zip", sd)
    repack(path("src_tmp.pth"), path("zip64_zip.pth"), force_zip64=True)
    expect("zip64_zip.pth", "torch-zip", sd)
    os.remove(path("src_tmp.pth"))


# ------------------------------------------------------------ corrupt files

@case
def corrupt_truncated():
    sd = small_model().state_dict()
    torch.save(sd, path("bad_truncated_zip.pth"))
    data = open(path("bad_truncated_zip.pth"), "rb").read()
    open(path("bad_truncated_zip.pth"), "wb").write(data[: len(data) * 2 // 3])
    expect_error("bad_truncated_zip.pth", "not a readable zip")
    torch.save(sd, path("bad_truncated_legacy.pth"), _use_new_zipfile_serialization=False)
    data = open(path("bad_truncated_legacy.pth"), "rb").read()
    # storages follow in the order of their keys (object ids: a different order
    # on every run), and the smallest holds 8 bytes: cutting 3 always lands in
    # the last storage's data, never in its 8-byte element count
    open(path("bad_truncated_legacy.pth"), "wb").write(data[:-3])
    expect_error("bad_truncated_legacy.pth", "left in the file")


@case
def corrupt_crc():
    sd = collections.OrderedDict([("w", torch.arange(64, dtype=torch.float32))])
    p = path("bad_crc_zip.pth")
    torch.save(sd, p)
    z = zipfile.ZipFile(p)
    info = z.getinfo("bad_crc_zip/data/0")
    raw = bytearray(open(p, "rb").read())
    # local header: 30 bytes + name + extra, then the data
    nlen, xlen = struct.unpack("<HH", raw[info.header_offset + 26: info.header_offset + 30])
    raw[info.header_offset + 30 + nlen + xlen + 5] ^= 0x40
    open(p, "wb").write(bytes(raw))
    expect_error("bad_crc_zip.pth", "CRC error")


@case
def corrupt_short_storage():
    sd = collections.OrderedDict([("a", torch.ones(4)), ("blocks.3.attn.q.weight", torch.ones(6, 4))])
    torch.save(sd, path("src_tmp.pth"))
    repack(path("src_tmp.pth"), path("bad_short_storage_zip.pth"),
           edit=lambda leaf, b: b[:40] if leaf == "data/1" else b)
    os.remove(path("src_tmp.pth"))
    expect_error("bad_short_storage_zip.pth",
                 "tensor 'blocks.3.attn.q.weight': storage '1' has 40 bytes, tensor needs 96")


@case
def corrupt_global():
    sd = collections.OrderedDict([("w", torch.ones(2))])
    torch.save(sd, path("src_tmp.pth"))
    repack(path("src_tmp.pth"), path("bad_global_zip.pth"),
           edit=lambda leaf, b: b.replace(b"ccollections\nOrderedDict\n", b"cos\nsystem\n")
           if leaf == "data.pkl" else b)
    repack(path("src_tmp.pth"), path("bad_storage_type_zip.pth"),
           edit=lambda leaf, b: b.replace(b"torch\nFloatStorage\n", b"torch\nComplexFloatStorage\n")
           if leaf == "data.pkl" else b)
    os.remove(path("src_tmp.pth"))
    expect_error("bad_global_zip.pth", "GLOBAL at byte 2: 'os system' is not allowed")
    expect_error("bad_storage_type_zip.pth", "'torch ComplexFloatStorage' is not allowed")


@case
def corrupt_handmade():
    # A storage claiming 2^40 elements behind a 16-byte entry (torch.load 1.13 crashes).
    handmade_zip(path("bad_huge_zip.pth"),
                 {"w": Rebuild(FakeStorage("0", 1 << 40), 0, (1 << 20, 1 << 20), (1 << 20, 1))},
                 {"0": b"\0" * 16})
    expect_error("bad_huge_zip.pth", "tensor 'w': storage '0' has 16 bytes, tensor needs")
    # A tensor pointing to a storage entry that is not in the zip.
    handmade_zip(path("bad_missing_storage_zip.pth"),
                 {"w": Rebuild(FakeStorage("5", 4), 0, (4,), (1,))}, {})
    expect_error("bad_missing_storage_zip.pth", "storage '5'")
    # A state_dict with a non-tensor value.
    handmade_zip(path("bad_nontensor_zip.pth"),
                 collections.OrderedDict([("w", Rebuild(FakeStorage("0", 4), 0, (4,), (1,))),
                                          ("lr", 0.5)]),
                 {"0": b"\0" * 16})
    expect_error("bad_nontensor_zip.pth", "entry 'lr': expected a tensor, found float")
    # Negative strides.
    handmade_zip(path("bad_stride_zip.pth"),
                 {"w": Rebuild(FakeStorage("0", 4), 3, (4,), (-1,))}, {"0": b"\0" * 16})
    expect_error("bad_stride_zip.pth", "expected both >= 0")
    # Not a checkpoint at all.
    open(path("bad_magic.pth"), "wb").write(b"hello, this is not a checkpoint\n")
    expect_error("bad_magic.pth", "expected a torch.save zip, a legacy torch.save file or "
                 "safetensors, found bytes \"hello, this is n")


# -------------------------------------------------------------- safetensors

def write_safetensors(dst, tensors, metadata=None, pad=0):
    """Hand-written safetensors: tensors = [(name, dtype_code, shape, raw bytes)]."""
    header, off = {}, 0
    for name, code, shape, raw in tensors:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8 + pad)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)


ST_CODES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
            torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
            torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def st_raw(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


@case
def st_dtypes():
    sd = all_dtypes()
    del sd["empty"]
    write_safetensors(path("st_dtypes.safetensors"),
                      [(k, ST_CODES[v.dtype], v.shape, st_raw(v)) for k, v in sd.items()],
                      metadata={"format": "pt"})
    expect("st_dtypes.safetensors", "safetensors", sd)
    # Unsigned types torch 1.13 lacks, by hand: expected values computed here.
    u16 = struct.pack("<4H", 0, 1, 65535, 300)
    u32 = struct.pack("<3I", 0, 4000000000, 7)
    u64 = struct.pack("<2Q", 5, 1 << 40)
    write_safetensors(path("st_unsigned.safetensors"),
                      [("u16", "U16", [4], u16), ("u32", "U32", [3], u32), ("u64", "U64", [2], u64)])
    EXPECTED["st_unsigned.safetensors"] = {
        "format": "safetensors", "wrapper": "", "count": 3,
        "tensors": {
            "u16": {"shape": [4], "dtype": "uint16", "first": [0, 1, 65535, 300], "sum": 65836},
            "u32": {"shape": [3], "dtype": "uint32", "first": [0, 4e9, 7], "sum": 4000000007},
            "u64": {"shape": [2], "dtype": "uint64", "first": [5, float(1 << 40)],
                    "sum": float(5 + (1 << 40))},
        }}


@case
def st_module_prefix():
    sd = small_model().state_dict()
    write_safetensors(path("st_module.safetensors"),
                      [("module." + k, ST_CODES[v.dtype], v.shape, st_raw(v)) for k, v in sd.items()],
                      pad=16)
    expect("st_module.safetensors", "safetensors", sd, "prefix 'module.'")


@case
def st_corrupt():
    """Corrupt safetensors files (the C suite covers many more as byte arrays)."""
    def raw(dst, header_text, data, hlen=None):
        h = header_text.encode()
        with open(dst, "wb") as f:
            f.write(struct.pack("<Q", len(h) if hlen is None else hlen))
            f.write(h)
            f.write(data)
    w = '"w": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 32]}'
    raw(path("st_bad_size.safetensors"),
        '{"w": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 16]}}', b"\0" * 16)
    expect_error("st_bad_size.safetensors",
                 "tensor 'w': data_offsets [0, 16) hold 16 bytes, shape [2,4] float32 needs 32")
    raw(path("st_bad_dup.safetensors"), "{" + w + ", " + w + "}", b"\0" * 32)
    expect_error("st_bad_dup.safetensors", "duplicate key 'w'")
    raw(path("st_bad_hole.safetensors"),
        '{"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},'
        ' "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]}}', b"\1" * 12)
    expect_error("st_bad_hole.safetensors", "data bytes [4, 8) belong to no tensor")
    raw(path("st_bad_f8.safetensors"),
        '{"q": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}', b"\0" * 4)
    expect_error("st_bad_f8.safetensors", "tensor 'q': unsupported dtype 'F8_E4M3'")
    raw(path("st_bad_hlen.safetensors"), "{" + w + "}", b"\0" * 32, hlen=1 << 40)
    expect_error("st_bad_hlen.safetensors", "exceeds the limit")


# ------------------------------------------------ models for the recognizer

MODEL_ARCHS = ["spikformer_cifar", "spikformer_imagenet", "sdt"]


@case
def recognizer_models():
    """Tiny models of every architecture (tools/make_test_model.py, embed_dims 16,
    depth 1, 16x16 images, uncalibrated) in OUTDIR/models/<arch>/: model.pth,
    model_legacy.pth, model.safetensors, model_wrapped.pth, model.json, and
    lifs.txt ("<module name> <v_threshold>" of every LIF the forward pass calls,
    in order).  spikformer_cifar also gets broken key sets: model_missing.pth
    (no block.0.attn.k_bn.running_var), model_extra.pth (an added
    block.0.attn.extra.weight) and model_badshape.pth (head.bias of 11)."""
    import contextlib
    import importlib
    import numpy as np
    tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
    sys.path.insert(0, tools)
    try:
        mtm = importlib.import_module("make_test_model")
    finally:
        sys.path.remove(tools)
    for arch in MODEL_ARCHS:
        out = path(os.path.join("models", arch))
        argv = sys.argv
        sys.argv = ["make_test_model.py", "--arch", arch, "--out", out, "--embed-dims", "16",
                    "--depths", "1", "--heads", "4", "--img", "16", "--n", "1", "--no-calibrate"]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                mtm.main()
        finally:
            sys.argv = argv
        ref = np.load(os.path.join(out, "reference.npz"))
        with open(os.path.join(out, "lifs.txt"), "w") as f:
            for k in ref.files:
                if k.startswith("h:"):
                    f.write("%s %.9g\n" % (k[2:], float(ref["vth:" + k[2:]])))
    out = path(os.path.join("models", "spikformer_cifar"))
    sd = torch.load(os.path.join(out, "model.pth"))
    bad = collections.OrderedDict(sd)
    del bad["block.0.attn.k_bn.running_var"]
    torch.save(bad, os.path.join(out, "model_missing.pth"))
    bad = collections.OrderedDict(sd)
    bad["block.0.attn.extra.weight"] = torch.zeros(2)
    torch.save(bad, os.path.join(out, "model_extra.pth"))
    bad = collections.OrderedDict(sd)
    bad["head.bias"] = torch.zeros(11)
    torch.save(bad, os.path.join(out, "model_badshape.pth"))


# ------------------------------------------- active models for the backend

ACTIVE = {
    "spikformer_cifar": ["--img", "32", "--depths", "2"],
    "spikformer_imagenet": ["--img", "64", "--heads", "2", "--depths", "1"],
    "sdt": ["--img", "32", "--depths", "2"],
}


@case
def backend_models():
    """Small models of every architecture whose BatchNorm biases are calibrated
    (tools/make_test_model.py) so that every LIF fires 1-30% of the time, in
    OUTDIR/active/<arch>/ (model.pth, model.json, inputs.npy with 8 inputs): the
    simulator-versus-integer-interpreter tests need layers that actually spike."""
    import contextlib
    import importlib
    tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
    sys.path.insert(0, tools)
    try:
        mtm = importlib.import_module("make_test_model")
    finally:
        sys.path.remove(tools)
    for arch, extra in ACTIVE.items():
        out = path(os.path.join("active", arch))
        argv = sys.argv
        sys.argv = ["make_test_model.py", "--arch", arch, "--out", out, "--embed-dims", "32", "--n", "8",
                    "--formats", "zip"] + extra
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                mtm.main()
        finally:
            sys.argv = argv


# --------------------------------------------------------------------- main

def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit("usage: make_ckpts.py OUTDIR")
    OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    for fn in CASES:
        fn()
    with open(path("expected.json"), "w") as f:
        json.dump(EXPECTED, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
