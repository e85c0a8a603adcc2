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
#   - --picture writes a PNG; the rates measured by partition are in the bundle;
#   - on a torus whose Y links carry 1,000 spikes/s (bench/topologies), the
#     busiest link sets the latency: stc's last step lowers it below METIS's,
#     every row's latency is the larger of compute and link time, profile
#     counts the same link time, and the logits are bit-identical;
#   - compile --picture without --topology is refused;
#   - compile and partition --progress draw a status line and clear it; --json draws none;
#   - compile --topology writes the same bundle with 1 and 3 worker threads;
#   - the defects users reported (cli_fixes): --strategy all when greedy does not
#     fit, --chips with --topology, --picture's names, temporary files and
#     links, --help after a command, --dataset's errors, "1 chip", the error
#     after the table.
# SPDX-License-Identifier: MIT
import json
import os
import re
import struct
import subprocess

import cli_common


def pos_points(edge):
    """The points of a Graphviz edge's pos (a straight link: 4, a path around the chips: 13, none: 0)."""
    m = re.search(r' pos="([^"]*)"', edge)
    return m.group(1).split() if m else []


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
    check("compile --json: each limit's use over the cores' capacity (routes: routes / (cores x fan-out))",
          all(0 < j.get(k, 0) <= 1 for k in ("neuron_utilization", "memory_utilization", "fan_in_utilization",
                                               "fan_out_utilization")) and
          j["fan_out_utilization"] == j["routes"] / (j["cores_used"] * tight["fan_out_axons_per_core"]["value"]),
          str({k: j.get(k) for k in ("cores_used", "routes", "fan_out_utilization")}))
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

    # a system whose slow links set the latency: the last step of stc's placement runs, nothing computed changes
    slow = os.path.join(cli_common.ROOT, "bench", "topologies", "torus-4x4-slow-y.json")
    out = os.path.join(w, "slow.stc")
    p = stc(["partition", plain, "--topology", slow, "--strategy", "all", "--json", "-o", out])
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    rows = j.get("strategies", [])
    by = {r["strategy"]: r for r in rows}
    check("on slow links stc's busiest link is lighter than METIS's",
          j.get("strategy") == "stc" and "metis" in by and 0 < j.get("max_link_load", 0) < by["metis"]["max_link_load"],
          str({k: (r.get("max_link_load"), r.get("hop_weighted_traffic")) for k, r in by.items()}))
    # the last step's own before and after, from its debug line: it ran, and it lowered the busiest link
    env = dict(os.environ, STC_LOG="debug")
    q = subprocess.run([A.stc, "partition", plain, "--topology", slow, "--strategy", "stc", "-o",
                        os.path.join(w, "slow2.stc")], capture_output=True, text=True, cwd=w, env=env)
    m = re.search(r"links: busiest link ([0-9.e+-]+) -> ([0-9.e+-]+) s per inference", q.stderr)
    check("on slow links the last step lowers the busiest link by a third or more, to the report's figure",
          q.returncode == 0 and m is not None and float(m.group(2)) < 0.67 * float(m.group(1)) and
          abs(float(m.group(2)) - j.get("max_link_load", 0)) <= 1e-3 * float(m.group(2)),
          m.group(0) if m else q.stderr[-2000:])
    check("on slow links every row's latency is the larger of compute and the busiest link's time",
          len(rows) == 4 and all(abs(r["est_latency_us"] - max(r["est_compute_us"], r["max_link_load"] * 1e6)) <=
                                 1e-9 * r["est_latency_us"] for r in rows), p.stdout + p.stderr)
    check("the bundle placed on slow links gives the unplaced bundle's logits", logits(out) == ref)
    p = stc(["profile", out, "--input", x, "--json"])
    pj = json.loads(p.stdout) if p.returncode == 0 else {}
    kept = j.get("max_link_load", 0)
    check("profile counts the busiest link's time as the partition report does",
          kept > 0 and abs(pj.get("busiest_link_s", -1) - kept) <= 1e-9 * kept and
          pj.get("latency_us") == max(pj.get("compute_us", 0), pj["busiest_link_s"] * 1e6), p.stdout + p.stderr)
    p = stc(["compile", pth, "--picture", "x.png", "-o", os.path.join(w, "nopic.stc")] + base, 2)
    check("compile --picture without --topology is refused", p.returncode == 2 and p.stderr ==
          "stc-coord: error: --picture x.png draws the placement on a topology: give --topology too\n", p.stderr)

    cli_fixes(w)


def cli_fixes(w):
    """The command-line defects users reported: --strategy all with a strategy that does not fit,
    --chips with --topology, --picture's names and temporary files, the pictures' links, --help,
    --dataset's errors, "1 chip", errors after the table."""
    model = os.path.join(cli_common.ROOT, "models", "fmnist_spikformer.pth")
    k4 = os.path.join(cli_common.ROOT, "bench", "targets", "loihi3-4k.json")
    k = os.path.join(w, "k.stc")  # 30 cores of 4 per chip (stc's cut); first-fit needs more than 32
    p = stc(["compile", model, "--target", k4, "-o", k])
    check("the bundled model compiles for loihi3-4k", p.returncode == 0, p.stderr)

    # --strategy all: greedy does not fit torus:2x2x2 (8 chips), the others do
    y = os.path.join(w, "y.stc")
    p = stc(["partition", k, "--topology", "torus:2x2x2", "--strategy", "all", "--json", "-o", y])
    j = json.loads(p.stdout) if p.returncode == 0 and p.stdout else {}
    rows = j.get("strategies", [])
    g = rows[3] if len(rows) == 4 else {}
    c = g.get("cores_used", 0)
    check("--strategy all: greedy is reported infeasible with why, the others placed",
          [r.get("strategy") for r in rows] == ["stc", "metis", "scotch", "greedy"] and
          all("error" not in r and r["chips_used"] <= 8 for r in rows[:3]) and (c + 3) // 4 > 8 and
          g.get("error") == f"the model needs {(c + 3) // 4} chips ({c} cores, 4 per chip); torus:2x2x2 has 8" and
          g.get("chips_needed") == (c + 3) // 4, p.stdout + p.stderr)
    check("--strategy all: stc's placement is kept and written",
          j.get("strategy") == "stc" and j.get("bundle") == y and os.path.exists(y) and
          j.get("cores_used") == rows[0]["cores_used"] and "link" in tags(y), str(j.get("strategy")))
    p = stc(["partition", k, "--topology", "torus:2x2x2", "--strategy", "all", "-o", y])
    lines = p.stdout.splitlines()
    check("--strategy all (text): greedy's row says it is infeasible, stc's is kept",
          p.returncode == 0 and any(ln.startswith("greedy ") and ln.endswith(
              f"infeasible: the model needs {(c + 3) // 4} chips ({c} cores, 4 per chip); torus:2x2x2 has 8")
              for ln in lines) and any(ln.startswith("kept the stc cut and placement: ") for ln in lines) and
          lines[-1] == f"wrote {y}", p.stdout + p.stderr)
    p = stc(["compile", model, "--target", k4, "--topology", "torus:2x2x2", "--strategy", "all", "--json", "-o",
             os.path.join(w, "ky.stc")])
    j = json.loads(p.stdout) if p.returncode == 0 and p.stdout else {}
    rows = (j.get("partition") or {}).get("strategies", [])
    check("compile --strategy all: the same",
          len(rows) == 4 and "error" in rows[3] and "error" not in rows[0] and j["partition"]["strategy"] == "stc",
          p.stdout + p.stderr)
    # no strategy fits: an error saying how many chips the model needs, after the table, no bundle
    n = os.path.join(w, "none.stc")
    q = subprocess.run([A.stc, "partition", k, "--topology", "torus:2x2", "--strategy", "all", "-o", n],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=w)
    out = q.stdout.splitlines()
    check("no strategy fits: rc 1, the error names the chips needed, after the four infeasible rows",
          q.returncode == 1 and not os.path.exists(n) and
          sum(" infeasible: " in ln for ln in out) == 4 and out[-1] == "stc-coord: error: --strategy all: no "
          "strategy fits: strategy stc: the model needs 8 chips (30 cores, 4 per chip); torus:2x2 has 4", q.stdout)

    q = subprocess.run([A.stc, "partition", k, "--topology", "torus:2x2", "--json", "-o", n],
                       capture_output=True, text=True, cwd=w)
    j = json.loads(q.stdout) if q.stdout.startswith("{") else {}
    check("no fit, --json: the report still comes, with the error and the chips needed at its top",
          q.returncode == 1 and not os.path.exists(n) and j.get("chips_needed") == 8 and j.get("chips") == 4 and
          "needs 8 chips" in j.get("error", "") and len(j.get("strategies", [])) == 1 and
          j["strategies"][0].get("chips_needed") == 8, q.stdout + q.stderr)
    q = subprocess.run([A.stc, "partition", k, "--topology", "torus:2x2", "-o", n], capture_output=True, text=True,
                       cwd=w)
    check("no fit, one strategy: its row says infeasible, then the error",
          q.returncode == 1 and "stc          30" in q.stdout and "infeasible: the model needs 8 chips" in q.stdout and
          "error: strategy stc: the model needs 8 chips" in q.stderr, q.stdout + q.stderr)
    q = subprocess.run([A.stc, "compile", model, "--target", k4, "--topology", "torus:2x2", "--json", "-o", n],
                       capture_output=True, text=True, cwd=w)
    j = json.loads(q.stdout) if q.stdout.startswith("{") else {}
    check("compile --topology, no fit, --json: the error on top, the report under partition",
          q.returncode == 1 and "needs 8 chips" in j.get("error", "") and
          (j.get("partition") or {}).get("chips_needed") == 8, q.stdout + q.stderr)

    # --chips N with --topology: at most N of its chips
    p = stc(["partition", k, "--topology", "torus:4x4", "--chips", "4", "-o", os.path.join(w, "c4.stc")], 1)
    check("--chips 4 --topology torus:4x4: the model needs 8 chips",
          p.returncode == 1 and p.stderr == "stc-coord: error: strategy stc: the model needs 30 cores of target "
          "loihi3-4k, that is 8 chips of 4 cores; --chips 4 given\n" and not os.path.exists(os.path.join(w, "c4.stc")),
          p.stderr)
    p = stc(["compile", model, "--target", k4, "--topology", "torus:4x4", "--chips", "4", "-o",
             os.path.join(w, "c4.stc")], 1)
    check("compile --chips 4 --topology torus:4x4: the same", p.returncode == 1 and
          "the model needs 30 cores of target loihi3-4k, that is 8 chips of 4 cores; --chips 4 given" in p.stderr,
          p.stderr)
    p = stc(["partition", k, "--topology", "torus:4x4", "--chips", "8", "--strategy", "all", "--json", "-o",
             os.path.join(w, "c8.stc")])
    j = json.loads(p.stdout) if p.returncode == 0 and p.stdout else {}
    rows = j.get("strategies", [])
    check("--chips 8: every placement kept within 8 chips, the others infeasible naming --chips 8",
          len(rows) == 4 and j.get("chips_used", 99) <= 8 and
          all(r["chips_used"] <= 8 if "error" not in r else r["error"].endswith("; --chips 8 given") for r in rows),
          p.stdout + p.stderr)

    # --picture: only .png .svg .pdf .dot, checked first; a private temporary file; no user file touched
    for bad in ["s", "q.jpg", "q.gif", "q.txt", "q"]:
        p = stc(["partition", "/nonexistent.stc", "--topology", "torus:4x4", "--picture", bad], 2)
        check(f"--picture {bad}: refused before any work", p.returncode == 2 and p.stderr ==
              f"stc-coord: error: --picture {bad}: expected a file name ending in .png, .svg, .pdf or .dot\n" and
              not os.path.exists(os.path.join(w, bad)), p.stderr)
    p = stc(["compile", model, "--target", k4, "--topology", "torus:4x4", "--picture", "q.jpg", "-o",
             os.path.join(w, "cq.stc")], 2)
    check("compile --picture q.jpg: refused", p.returncode == 2 and "expected a file name ending in .png" in p.stderr)
    for name, text in [("s.dot", "important\n"), ("r.png.dot", "keep\n")]:
        with open(os.path.join(w, name), "w") as f:
            f.write(text)
    tmp = os.path.join(w, "tmpdir")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, TMPDIR=tmp)
    outs = {}
    for pic in ["r.png", "R2.PNG", "t.svg", "t.pdf", "t.dot"]:
        q = subprocess.run([A.stc, "partition", k, "--topology", "torus:4x4", "--picture", pic, "-o",
                            os.path.join(w, "pic.stc")], capture_output=True, text=True, cwd=w, env=env)
        outs[pic] = open(os.path.join(w, pic), "rb").read() if q.returncode == 0 else b""
    check("--picture P.png, .PNG, .svg, .pdf, .dot write their formats",
          outs["r.png"][:8] == b"\x89PNG\r\n\x1a\n" and outs["R2.PNG"][:8] == b"\x89PNG\r\n\x1a\n" and
          b"<svg" in outs["t.svg"] and outs["t.pdf"][:5] == b"%PDF-" and outs["t.dot"].startswith(b"graph placement {"))
    check("--picture leaves the user's files alone and no temporary file behind",
          open(os.path.join(w, "s.dot")).read() == "important\n" and
          open(os.path.join(w, "r.png.dot")).read() == "keep\n" and os.listdir(tmp) == [], str(os.listdir(tmp)))
    p = stc(["partition", k, "--topology", "torus:128x128", "--picture", "big.png", "-o", os.path.join(w, "b.stc")], 2)
    check("a picture of 16,384 chips is refused", p.returncode == 2 and p.stderr == "stc-coord: error: --picture "
          "big.png: torus:128x128 has 16384 chips; a picture shows at most 4096\n" and
          not os.path.exists(os.path.join(w, "big.png")), p.stderr)
    edges = [ln for ln in outs["t.dot"].decode().splitlines() if " -- " in ln]
    check("torus:4x4: its 8 wrap-around links are routed around the chips (a path of their own), the 24 "
          "others straight", len(edges) == 32 and sum(len(pos_points(e)) > 4 for e in edges) == 8 and
          all(len(pos_points(e)) in (0, 4, 13) for e in edges), str(len(edges)))
    p = stc(["partition", k, "--topology", "torus:2x2x2", "--picture", "t3.dot", "-o", os.path.join(w, "t3.stc")])
    edges = [ln for ln in open(os.path.join(w, "t3.dot")).read().splitlines() if " -- " in ln] if p.returncode == 0 else []
    check("torus:2x2x2: the links between its layers are routed around the chips",
          len(edges) > 0 and sum(len(pos_points(e)) > 4 for e in edges) >= 4, str(edges))

    # the status line of long work: with --progress (here stderr is a pipe, not a terminal), never with --json.
    # Bytes, not text: text mode would turn its carriage returns into newlines.
    def raw(args):
        q = subprocess.run([A.stc] + args, capture_output=True, cwd=w)
        return q.returncode, q.stdout.decode(), q.stderr.decode()

    rc, out, err = raw(["compile", model, "--target", k4, "--topology", "torus:4x4", "--progress", "-o",
                        os.path.join(w, "pr.stc")])
    lines = err.split("\r")
    check("compile --progress: says what it is doing, then clears the line",
          rc == 0 and any(s.startswith("compile: quantizing: calibration image") for s in lines) and
          any(s.startswith("compile: strategy stc: cutting and placing on torus:4x4") for s in lines) and
          err.endswith("\r\x1b[K") and "\r" not in out, err[-300:])
    # calibration and rates on worker threads: the same bundle, byte for byte, for any number of them
    rc3, _, err3 = raw(["compile", model, "--target", k4, "--topology", "torus:4x4", "--threads", "3", "-o",
                        os.path.join(w, "pr3t.stc")])
    rc1, _, err1 = raw(["compile", model, "--target", k4, "--topology", "torus:4x4", "--threads", "1", "-o",
                        os.path.join(w, "pr1t.stc")])
    check("compile --topology --threads 1 and 3 write the same bundle", rc1 == 0 and rc3 == 0 and
          open(os.path.join(w, "pr1t.stc"), "rb").read() == open(os.path.join(w, "pr3t.stc"), "rb").read(),
          err1[-200:] + err3[-200:])
    # partition's rates on simulators in parallel: the same bundle for any number; the phase on the status line
    rc3, _, err3 = raw(["partition", k, "--topology", "torus:4x4", "--dataset", "fashion-mnist", "--limit", "8",
                        "--threads", "3", "--progress", "-o", os.path.join(w, "pm3.stc")])
    rc1, _, err1 = raw(["partition", k, "--topology", "torus:4x4", "--dataset", "fashion-mnist", "--limit", "8",
                        "--threads", "1", "-o", os.path.join(w, "pm1.stc")])
    check("partition --dataset --threads 1 and 3 write the same bundle, with measured rates",
          rc1 == 0 and rc3 == 0 and "rate" in tags(os.path.join(w, "pm1.stc")) and
          open(os.path.join(w, "pm1.stc"), "rb").read() == open(os.path.join(w, "pm3.stc"), "rb").read(),
          err1[-200:] + err3[-200:])
    check("partition --progress: the rates' phase counts the images",
          "\rpartition: measuring firing rates: image 1 of 8, " in err3, err3[-300:])
    rc, out, _ = raw(["partition", os.path.join(w, "pm1.stc"), "--topology", "torus:4x4", "--dataset",
                      "fashion-mnist", "--limit", "100", "-o", os.path.join(w, "pm4.stc")])
    check("the report says where the rates came from, and the cap on --limit",
          rc == 0 and "rates measured by the chip simulator on 64 test images of fashion-mnist (--limit: at most 64)"
          in out, out[:400])
    rc, out, _ = raw(["partition", os.path.join(w, "pm1.stc"), "--topology", "torus:4x4", "--json", "-o",
                      os.path.join(w, "pm5.stc")])
    j = json.loads(out.splitlines()[-1]) if rc == 0 and out else {}
    check("partition --json of a bundle with rates: they are the bundle's own, measured on no image now",
          j.get("rates", "").startswith("the bundle's own") and j.get("rate_images") == 0, out[-400:])
    rc, out, err = raw(["partition", k, "--topology", "torus:4x4", "--json", "-o", os.path.join(w, "pr2.stc")])
    check("partition --json: no status line", rc == 0 and "\r" not in err and
          json.loads(out.splitlines()[-1]).get("bundle"), err[-300:])
    rc, out, err = raw(["partition", k, "--topology", "torus:4x4", "--progress", "-o", os.path.join(w, "pr3.stc")])
    check("partition --progress: reads, places and writes with a status line",
          rc == 0 and "\rpartition: reading" in err and "\rpartition: writing" in err, err[-300:])

    # --help after a command; the main help's partition entry; --dataset's errors; "1 chip"
    for cmd in ["partition", "compile", "inspect", "run"]:
        for h in ["--help", "-h"]:
            p = stc([cmd, h])
            check(f"{cmd} {h}: its usage, rc 0", p.returncode == 0 and
                  p.stdout.startswith(f"usage: stc-coord {cmd} ") and p.stderr == "", p.stderr)
    p = stc(["partition", "--help"])
    check("partition --help lists --limit, --chips and --picture's formats",
          all(x in p.stdout for x in ["--limit N", "--chips N", "P.png, P.svg or P.pdf", "P.dot"]))
    p = stc(["--help"])
    check("the main help's partition entry lists --limit",
          "[--calibrate X | --dataset NAME] [--limit N] [-o OUT.stc] [--json]" in p.stdout)
    p = stc(["partition", k, "--topology", "torus:4x4", "--dataset", "cifar10", "-o", os.path.join(w, "d.stc")], 1)
    check("--dataset cifar10: the error names --dataset", p.returncode == 1 and
          p.stderr.startswith("stc-coord: error: --dataset cifar10: ") and "--calibrate" not in p.stderr, p.stderr)
    one = os.path.join(w, "one.stc")
    p = stc(["compile", model, "-o", one])
    p = stc(["partition", one, "--topology", "mesh:1x1", "-o", one]) if p.returncode == 0 else p
    lines = p.stdout.splitlines()
    check("one chip is '1 chip'", p.returncode == 0 and " on mesh:1x1 (1 chip of 128 cores), " in lines[0] and
          lines[-2].endswith(", 1 of 1 chip used"), p.stdout + p.stderr)


if __name__ == "__main__":
    A, T = cli_common.args()
    check, stc = T.check, T.stc
    main()
    T.finish()
