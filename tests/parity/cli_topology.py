#!/usr/bin/python3
# cli_topology.py - a partitioned bundle carries its topology: a node needs no file of its own.
#
# A small Spikformer (written by Debian's PyTorch, batch-norm gains raised so
# that every layer fires) is compiled for a target of 2 cores per chip and
# placed with the greedy strategy on a COPY of deploy/topologies/torus-4x4.json
# in a scratch directory, so that some messages cross 2 links.  The copy is
# then deleted: `run` and `profile` on the bundle must give the same chip-hop
# and energy figures as before, without a warning; `inspect` must show the
# topology and the busiest link the partitioner expected (its figures checked
# against the partition report and the bundle's bytes).  A bundle without the
# carried file (what an older stc wrote) must be refused with a message that
# says so, not silently counted at 1 link per crossing.
# Then the loader's refusals as the CLI shows them (a directory, a FIFO, a
# device, text after the JSON value: exit 1, the file and what it is or the
# byte offset), relative costs (the cheapest link costs the target's
# energy_chip_hop_pj: the report's cost and energy figures equal those of the
# pJ file with the scaled numbers) and inspect's busiest link on links of
# different bandwidths (the most link time, as the report's max_link_load).
# SPDX-License-Identifier: MIT
import json
import os
import shutil
import struct
import zlib

import cli_common


def sections(data):
    """{tag: payload} of a bundle's sections, in file order."""
    out, off = {}, 32
    while off < len(data):
        tag, n = struct.unpack_from("<4sQ", data, off)
        out[tag.decode()] = data[off + 12: off + 12 + n]
        off += 12 + n
    return out


def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b))


def main():
    w = A.work
    pth, x, tiny_path = T.hot_model()
    small = os.path.join(w, "small.stc")
    p = stc(["compile", pth, "--img-size", "16", "--target", tiny_path, "-o", small])
    check("compile for 2 cores per chip", p.returncode == 0, p.stderr)

    topo_dir = os.path.join(w, "scratch")
    os.makedirs(topo_dir)
    src = os.path.join(cli_common.ROOT, "deploy", "topologies", "torus-4x4.json")
    topo = "scratch/torus-4x4.json"  # relative to the work directory, where stc-coord runs
    shutil.copy(src, os.path.join(w, topo))
    text = open(src, "rb").read()
    placed = os.path.join(w, "placed.stc")
    p = stc(["partition", small, "--topology", topo, "--strategy", "greedy", "-o", placed, "--json"])
    check("partition on the copied file", p.returncode == 0, p.stderr)
    rep = json.loads(p.stdout)

    # the bundle's bytes: the file's text as it was, the traffic on each of the torus's 32 links
    sec = sections(open(placed, "rb").read())
    check("sections after TRGT: topo, link", list(sec)[-3:] == ["TRGT", "topo", "link"], str(list(sec)))
    check("topo holds the file's text byte for byte", sec.get("topo") == text)
    link = sec.get("link", b"\0\0\0\0")
    n_links = struct.unpack_from("<I", link)[0]
    traffic = struct.unpack_from(f"<{n_links}d", link, 4) if len(link) == 4 + 8 * n_links else ()
    check("link holds 32 links of traffic", n_links == 32 and len(traffic) == 32, f"{n_links} links")
    check("link traffic sums to the report's hop-weighted traffic",
          close(sum(traffic), rep["hop_weighted_traffic"], 1e-9), f"{sum(traffic)} vs {rep['hop_weighted_traffic']}")

    def figures(bundle):
        pr = stc(["profile", bundle, "--input", x, "--json"])
        ru = stc(["run", bundle, "--input", x, "--json"])
        if pr.returncode or ru.returncode:
            return None, pr.stderr + ru.stderr
        pj, rj = json.loads(pr.stdout), json.loads(ru.stdout)
        return (pj["messages_per_inference"], pj["energy_uj_per_inference"], rj["energy_uj_per_inference"],
                [i["logits"] for i in rj["inputs"]]), pr.stderr + ru.stderr

    before, err_before = figures(placed)
    check("run and profile with the file present", before is not None, err_before)
    if before is None:
        return
    msgs = before[0]
    check("some messages cross 2 links (a 1-hop count would differ)", msgs["chip_hops"] > msgs["other_chip"],
          str(msgs))
    os.remove(os.path.join(w, topo))
    os.rmdir(topo_dir)
    after, err_after = figures(placed)
    check("run and profile with the file deleted", after is not None, err_after)
    check("the same chip hops, energy and logits", after == before, f"{after} vs {before}")
    check("no warning", "warning" not in err_after, err_after)

    # inspect: the topology and the busiest expected link
    p = stc(["inspect", placed, "--json"])
    ij = json.loads(p.stdout) if p.returncode == 0 else {}
    tj = ij.get("topology") or {}
    check("inspect: the topology, carried", tj.get("name") == topo and tj.get("file_carried") is True and
          tj.get("chips") == 16 and tj.get("links") == 32 and tj.get("recorded_links") == 32 and
          tj.get("kind") == "torus" and tj.get("dims") == [4, 4], str(tj))
    bl = tj.get("busiest_link") or {}
    i_max = max(range(32), key=lambda i: (traffic[i], -i)) if traffic else -1
    check("inspect: the busiest link is the bundle's largest entry",  # cJSON prints 15 digits
          bl.get("id") == i_max and close(bl.get("spikes_per_inference", 0), traffic[i_max], 1e-14),
          f"{bl} vs link {i_max}: {traffic[i_max]!r}")
    chips = bl.get("chips", [0, 0])
    check("inspect: it joins two chips of the torus", chips[0] != chips[1] and all(0 <= c < 16 for c in chips),
          str(chips))
    bandwidth = 1.15e8  # every link of torus-4x4.json
    check("inspect: its load over the bandwidth is the report's max link load",
          close(bl.get("spikes_per_inference", 0) / bandwidth, rep["max_link_load"], 1e-12),
          f"{bl.get('spikes_per_inference')} / {bandwidth} vs {rep['max_link_load']}")
    p = stc(["inspect", placed])
    check("inspect (text): topology (its kind and size, which a file's name does not say) and busiest link",
          f"topology     {topo}: torus 4x4, 16 chips, 32 links (the bundle carries its file)" in p.stdout and f"busiest link {i_max}, chips {chips[0]}-{chips[1]}: " in p.stdout,
          p.stdout)

    # the same placement on the spec: it describes itself; the same hops
    spec = os.path.join(w, "spec.stc")
    stc(["partition", small, "--topology", "torus:4x4", "--strategy", "greedy", "-o", spec])
    sec2 = sections(open(spec, "rb").read())
    check("a spec carries no file, but the link traffic", "topo" not in sec2 and "link" in sec2, str(list(sec2)))
    fs, _ = figures(spec)
    check("the spec gives the same chip hops", fs is not None and fs[0] == before[0], f"{fs and fs[0]} vs {msgs}")
    tj = json.loads(stc(["inspect", spec, "--json"]).stdout)["topology"]
    check("inspect: the spec, not carried", tj["name"] == "torus:4x4" and tj["file_carried"] is False, str(tj))

    # unpartitioned: 1 link per crossing, as before
    fu, err_u = figures(small)
    check("an unplaced bundle counts 1 link per crossing",
          fu is not None and fu[0]["chip_hops"] == fu[0]["other_chip"], err_u)
    check("inspect: no topology", json.loads(stc(["inspect", small, "--json"]).stdout)["topology"] is None)

    # what an older stc wrote: the name of a file that is gone, no text, no traffic
    data = open(placed, "rb").read()
    cut = data[:32] + b"".join(struct.pack("<4sQ", t.encode(), len(v)) + v for t, v in sec.items()
                               if t not in ("topo", "link"))
    old = bytearray(cut)
    struct.pack_into("<QI", old, 16, len(old) - 32, zlib.crc32(bytes(old[32:])))
    old_path = os.path.join(w, "old.stc")
    open(old_path, "wb").write(bytes(old))
    for cmd in (["profile", old_path, "--input", x], ["run", old_path, "--input", x]):
        p = stc(cmd, 1)
        check(f"{cmd[0]}: an old bundle whose topology file is gone is refused",
              p.returncode == 1 and "carries no topology file" in p.stderr and topo in p.stderr and
              "cannot open" in p.stderr and "partition it again" in p.stderr and "Sanitizer" not in p.stderr,
              p.stderr)
    p = stc(["inspect", old_path])
    check("inspect: an old bundle says the topology does not load and the traffic was not recorded",
          p.returncode == 0 and "does not load" in p.stdout and "busiest link not recorded" in p.stdout, p.stdout)

    loader_refusals(small)
    relative_costs(small, json.load(open(tiny_path))["energy_chip_hop_pj"]["value"])
    busiest_by_load(small)


def torus_file(name, **fields):
    """A 4x4 torus topology file in the work directory with the given figures: its path."""
    d = {"format": "stc-topology 1", "kind": "torus", "dims": {"value": [4, 4], "assumption": "a test"}}
    for k, v in fields.items():
        d[k] = v if k == "cost_unit" else {"value": v, "assumption": "a test"}
    path = os.path.join(A.work, name)
    with open(path, "w") as f:
        json.dump(d, f)
    return path


def loader_refusals(small):
    out = os.path.join(A.work, "refused.stc")
    dirp = os.path.join(A.work, "a_dir.json")
    os.makedirs(dirp)
    fifo = os.path.join(A.work, "a_fifo.json")
    os.mkfifo(fifo)
    for path, what in ((dirp, "a directory"), (A.work, "a directory"), (fifo, "a FIFO"),
                       ("/dev/null", "a character device")):
        p = stc(["partition", small, "--topology", path, "-o", out], 1)
        check(f"--topology {what}: refused as not a regular file",
              p.returncode == 1 and f"error: {path}: not a regular file ({what})"
              in p.stderr and "bytes, limit" not in p.stderr, p.stderr)
    good = torus_file("good.json")
    text = open(good).read()
    trail = os.path.join(A.work, "trail.json")
    open(trail, "w").write(text + " trailing\n")
    p = stc(["partition", small, "--topology", trail, "-o", out], 1)
    check("text after the JSON value: refused at its byte offset",
          p.returncode == 1 and f"error: {trail}: text after the JSON value at byte offset {len(text) + 1} "
          "('trailing\\x0a'), expected only whitespace" in p.stderr, p.stderr)
    open(trail, "w").write(text + " \n\t\n")
    p = stc(["partition", small, "--topology", trail, "--strategy", "greedy", "-o", out])
    check("whitespace after the JSON value is fine", p.returncode == 0, p.stderr)


def relative_costs(small, hop_pj):
    out = os.path.join(A.work, "rel.stc")

    def figures(path):
        p = stc(["partition", small, "--topology", path, "--strategy", "greedy", "-o", out, "--json"])
        if p.returncode:
            return None
        s = json.loads(p.stdout)["strategies"][0]
        return s["cost_weighted_traffic_pj"], s["est_energy_uj"], s["hop_weighted_traffic"]

    rel = figures(torus_file("rel12.json", cost=[1, 2], cost_unit="relative"))
    pj = figures(torus_file("pj12.json", cost=[hop_pj, 2 * hop_pj], cost_unit="pJ"))
    raw = figures(torus_file("raw12.json", cost=[1, 2], cost_unit="pJ"))
    check("relative [1, 2]: the report's cost and energy equal the pJ file's [E, 2E], E = energy_chip_hop_pj",
          rel is not None and rel == pj, f"{rel} vs {pj}")
    check("relative costs are not taken as pJ", rel is not None and raw is not None and rel[0] > 50 * raw[0] and
          close(rel[0], hop_pj * raw[0], 1e-12) and rel[1] > raw[1], f"{rel} vs {raw}")
    rel36 = figures(torus_file("rel36.json", cost=[3, 6], cost_unit="relative"))
    check("only the ratios of relative costs count", rel36 == rel, f"{rel36} vs {rel}")


def busiest_by_load(small):
    """Y links 1e6 times slower than X: the busiest link is the one with the most link time."""
    skew = torus_file("skew.json", bandwidth=[1e9, 1e3])
    out = os.path.join(A.work, "skew.stc")
    p = stc(["partition", small, "--topology", skew, "--strategy", "greedy", "-o", out, "--json"])
    check("partition on links of skewed bandwidth", p.returncode == 0, p.stderr)
    if p.returncode:
        return
    rep = json.loads(p.stdout)["strategies"][0]
    link = sections(open(out, "rb").read())["link"]
    n = struct.unpack_from("<I", link)[0]
    traffic = struct.unpack_from(f"<{n}d", link, 4)
    bw = [1e9] * 16 + [1e3] * 16  # X links are ids 0-15, Y links 16-31
    i_load = max(range(n), key=lambda i: (traffic[i] / bw[i], traffic[i], -i))
    i_spk = max(range(n), key=lambda i: (traffic[i], -i))
    check("the skew matters: the most spikes are on an X link, the most link time on a Y link",
          i_spk < 16 <= i_load, f"spikes: link {i_spk}, load: link {i_load}")
    bl = (json.loads(stc(["inspect", out, "--json"]).stdout).get("topology") or {}).get("busiest_link") or {}
    check("inspect --json: the busiest link is the report's (most link time)",
          bl.get("id") == rep["busiest_link"] == i_load, f"{bl} vs report {rep['busiest_link']}, {i_load}")
    check("inspect --json: its spikes, bandwidth and load (the report's max_link_load)",
          close(bl.get("spikes_per_inference", 0), traffic[i_load], 1e-14) and
          bl.get("bandwidth_spikes_per_s") == 1e3 and
          close(bl.get("load_s_per_inference", 0), rep["max_link_load"], 1e-12), f"{bl} vs {rep['max_link_load']}")
    p = stc(["inspect", out])
    lk = stc_link_chips(bl)
    check("inspect (text): the busiest link's load and spikes",
          f"busiest link {i_load}, chips {lk}: load {rep['max_link_load']:.6g} s per inference expected "
          f"({traffic[i_load]:.6g} spikes at 1000 spikes/s;" in p.stdout, p.stdout)


def stc_link_chips(bl):
    c = bl.get("chips", [0, 0])
    return f"{c[0]}-{c[1]}"


if __name__ == "__main__":
    A, T = cli_common.args()
    check, stc = T.check, T.stc
    main()
    T.finish()
