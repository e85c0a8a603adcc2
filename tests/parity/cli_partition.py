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
#   - with a route table of 600 per core, the residual adds are packed into
#     their neighbours' cores: fewer cores than the plain cut, said by
#     compile and by the partition report, and the same logits;
#   - the bundled model on cores of 1,024 neurons and 2,048 input axons
#     compiles: with 1,500 routes, its add after the patch embedding reads
#     pixel rows into narrower token rows, so it must not be packed (a source
#     row would be routed to two of its cores, over the routes its cut
#     counted); with 700, some packings and some work caps leave a layer no
#     room, and are passed over rather than failing the compile;
#   - a topology too small says how many chips the model needs;
#   - --picture writes a PNG; the rates measured by partition are in the bundle.
# SPDX-License-Identifier: MIT
import json
import os
import struct

import cli_common


def tags(path):
    data, off, out = open(path, "rb").read(), 32, []
    while off < len(data):
        tag, n = struct.unpack_from("<4sQ", data, off)
        out.append(tag.decode())
        off += 12 + n
    return out


def main():
    w = A.work
    pth, x, tiny_path = T.hot_model()
    base = ["--img-size", "16", "--target", tiny_path, "--calib", x]

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
    fields = ["cores_used", "lower_bound", "lower_bound_limits", "chips_used", "inter_chip_spikes", "hop_weighted_traffic",
              "max_link_load", "est_latency_us", "est_energy_uj", "cut_seconds", "place_seconds", "peak_rss_mb"]
    check("every row has the report's fields", all(all(f in r for f in fields) for r in rows))
    check("cores never below either lower bound",
          all(r["cores_used"] >= r["lower_bound_limits"] >= r["lower_bound"] >= 1 for r in rows), str(rows))
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

    with open(tiny_path) as f:
        tight = json.load(f)
    tight["name"] = "tiny-routes"
    tight["fan_out_axons_per_core"]["value"] = 600
    tight_path = os.path.join(w, "tight.json")
    with open(tight_path, "w") as f:
        json.dump(tight, f)
    tb = ["--img-size", "16", "--target", tight_path, "--calib", x]
    packed = os.path.join(w, "packed.stc")
    p = stc(["compile", pth, "--json", "-o", packed] + tb)
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    check("compile packs the adds when routes bind", j.get("packed_stages", 0) > 0, p.stdout + p.stderr)
    check("the packed bundle gives the unplaced bundle's logits", logits(packed) == ref)
    p = stc(["compile", pth, "--topology", "torus:4x4", "--json", "-o", os.path.join(w, "packed4.stc")] + tb)
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    row = ((j.get("partition") or {}).get("strategies") or [{}])[0]
    check("the partition report says the packed cut needs fewer cores than the plain one",
          row.get("packed_stages", 0) > 0 and 0 < row.get("cores_packed", 0) < row.get("cores_unpacked", 0), str(row))
    check("the placed packed bundle gives the same logits", logits(os.path.join(w, "packed4.stc")) == ref)

    with open(os.path.join(cli_common.ROOT, "bench", "targets", "loihi3-4k.json")) as f:
        narrow = json.load(f)
    narrow["neurons_per_core"]["value"] = 1024
    narrow["fan_in_axons_per_core"]["value"] = 2048
    for routes in (1500, 700):
        narrow["name"] = f"loihi3-4k-narrow-{routes}"
        narrow["fan_out_axons_per_core"]["value"] = routes
        narrow_path = os.path.join(w, f"narrow-{routes}.json")
        with open(narrow_path, "w") as f:
            json.dump(narrow, f)
        p = stc(["compile", os.path.join(cli_common.ROOT, "models", "fmnist_spikformer.pth"), "--target",
                 narrow_path, "-o", os.path.join(w, "narrow.stc")])
        check(f"the bundled model compiles on cores of 1,024 neurons, 2,048 axons and {routes} routes",
              p.returncode == 0, p.stderr)

    p = stc(["compile", pth, "--topology", "mesh:1x2", "-o", os.path.join(w, "no.stc")] + base, 1)
    check("a topology too small says how many chips are needed",
          p.returncode == 1 and "the model needs" in p.stderr and "chips" in p.stderr and "mesh:1x2 has 2" in p.stderr,
          p.stderr)
    png = os.path.join(w, "place.png")
    p = stc(["partition", plain, "--topology", "torus:4x4", "--picture", png, "-o", os.path.join(w, "pic.stc")])
    check("--picture writes a PNG", p.returncode == 0 and os.path.exists(png) and
          open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n", p.stderr)


if __name__ == "__main__":
    A, T = cli_common.args()
    check, stc = T.check, T.stc
    main()
    T.finish()
