#!/usr/bin/python3
# partition_bench.py - stc's partitioner against METIS, Scotch and greedy, in one run.
#
#   python3 bench/partition_bench.py --stc build/coordinator/stc-coord \
#       --model models/fmnist_spikformer.pth --target bench/targets/loihi3-4k.json \
#       [--dataset fashion-mnist | --calib X.npy] [--topologies torus:4x4,mesh:4x4,hier:4x4] [--limit 32]
#
# For every topology and every strategy, in separate processes so that time
# and peak memory are each strategy's own: `stc-coord partition` cuts the
# compiled model into cores (stc's cut for stc, METIS and Scotch; first-fit for
# greedy) and places them, with the firing rates measured once by the chip
# simulator on calibration images and stored in the bundle.  A model too big
# to simulate (--no-sim) takes the rates the integer interpreter measures in
# `compile --topology` instead, and one compile runs the four strategies (peak
# RSS is then the process's when the strategy ends, cumulative).
# Figures per strategy: cores and chips used, cores against the lower bound,
# inter-chip spikes and hop-weighted traffic per inference, the busiest
# link's load, the estimated tick latency and energy, and the strategy's own
# wall time and peak RSS (/usr/bin/time).  Then the goals: stc's hop-weighted
# traffic against the better of METIS and Scotch, and stc's cores against the
# lower bound.  Nothing here is asserted: the figures go to bench/RESULTS.md.
# SPDX-License-Identifier: MIT
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

STRATEGIES = ["stc", "metis", "scotch", "greedy"]


def timed(cmd):
    """Run cmd under /usr/bin/time -v: (stdout, wall seconds, peak RSS MB)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    if p.returncode:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", p.stderr)
    secs = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))) if wall else -1
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return p.stdout, secs, int(rss.group(1)) / 1024.0 if rss else -1


def last_json(out):
    for line in reversed(out.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise SystemExit("no JSON in the output")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stc", required=True)
    ap.add_argument("--model", required=True, help="checkpoint")
    ap.add_argument("--target", default="loihi3")
    ap.add_argument("--dataset")
    ap.add_argument("--calib")
    ap.add_argument("--limit", type=int, default=32, help="calibration images for the rates")
    ap.add_argument("--topologies", default="torus:4x4,mesh:4x4,hier:4x4")
    ap.add_argument("--no-sim", action="store_true", help="rates by the integer interpreter at compile time")
    a = ap.parse_args()
    src = ["--dataset", a.dataset] if a.dataset else ["--calib", a.calib] if a.calib else []
    lim = ["--limit", str(a.limit)] if src else []  # it limits the images given; without them, refused
    tmp = tempfile.mkdtemp(prefix="stc-pbench-")
    base = os.path.join(tmp, "m.stc")
    rows = []
    print(f"model {a.model}, target {a.target}")
    if not a.no_sim:
        out, secs, rss = timed([a.stc, "compile", a.model, "--target", a.target, "-O3", "--json", "-o", base] + src)
        c = last_json(out)
        print(f"compiled: {c['cores_used']} cores (lower bounds {c['lower_bound']} by demand, "
              f"{c['lower_bound_limits']} by the target's limits), {secs:.1f} s, {rss:.0f} MB")
    for topo in a.topologies.split(","):
        rated = os.path.join(tmp, "rated.stc")
        if not a.no_sim:  # the rates, measured once by the simulator, stored in the bundle
            timed([a.stc, "partition", base, "--topology", topo, "--json", "-o", rated] + src + lim)
        if a.no_sim:  # one compile runs the four: its peak RSS per strategy is the process's so far
            out, secs, rss = timed([a.stc, "compile", a.model, "--target", a.target, "-O3", "--topology", topo,
                                    "--strategy", "all", "--json", "-o", os.path.join(tmp, "all.stc")] + src + lim)
            for x in last_json(out)["partition"]["strategies"]:
                x.update(topology=topo, wall=secs, rss=x["peak_rss_mb"])
                rows.append(x)
            print(f"{topo}: compile with the four strategies {secs:.1f} s, peak RSS {rss:.0f} MB (tables included)")
            continue
        for s in STRATEGIES:
            cmd = [a.stc, "partition", rated, "--topology", topo, "--strategy", s, "--json", "-o",
                   os.path.join(tmp, f"{s}.stc")]
            out, secs, rss = timed(cmd)
            j = last_json(out)
            x = j["strategies"][0]
            x.update(topology=topo, wall=secs, rss=rss)
            rows.append(x)
    print()
    hdr = ("| topology | strategy | cores | / demand bound | / limit-aware bound | chips | inter-chip spikes | hop-weighted | "
           "cost-weighted pJ | busiest link load | est. latency us | est. energy uJ | partition s | peak RSS MB |")
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for x in rows:
        secs = x["cut_seconds"] + x["place_seconds"]
        print(f"| {x['topology']} | {x['strategy']} | {x['cores_used']} | {x['cores_over_lower_bound']:.3f} | "
              f"{x['cores_over_lower_bound_limits']:.3f} | "
              f"{x['chips_used']} | {x['inter_chip_spikes']:.0f} | {x['hop_weighted_traffic']:.0f} | "
              f"{x['cost_weighted_traffic_pj']:.4g} | {x['max_link_load']:.3g} | {x['est_latency_us']:.1f} | {x['est_energy_uj']:.1f} | "
              f"{secs:.3f} | {x['rss']:.0f} |")
    print()
    for topo in a.topologies.split(","):
        by = {x["strategy"]: x for x in rows if x["topology"] == topo}
        if not all(s in by for s in STRATEGIES):
            continue
        better = min(by["metis"]["hop_weighted_traffic"], by["scotch"]["hop_weighted_traffic"])
        ratio = by["stc"]["hop_weighted_traffic"] / better if better else float("nan")
        cbetter = min(by["metis"]["cost_weighted_traffic_pj"], by["scotch"]["cost_weighted_traffic_pj"])
        cratio = by["stc"]["cost_weighted_traffic_pj"] / cbetter if cbetter else float("nan")
        traffic = (f"stc hop-weighted traffic {ratio:.3f}x the better of METIS and Scotch (goal <= 0.8), "
                   f"cost-weighted {cratio:.3f}x" if better and cbetter else
                   "no ratio of traffic: METIS's or Scotch's placement sends no spike between chips")
        print(f"{topo}: {traffic}; "
              f"stc cores {by['stc']['cores_over_lower_bound']:.3f}x the demand bound {by['stc']['lower_bound']} "
              f"(goal <= 1.1), {by['stc']['cores_over_lower_bound_limits']:.3f}x the limit-aware bound "
              f"{by['stc']['lower_bound_limits']}; "
              f"stc cut+place {by['stc']['cut_seconds'] + by['stc']['place_seconds']:.2f} s, "
              f"process {by['stc']['wall']:.1f} s, {by['stc']['rss']:.0f} MB")


if __name__ == "__main__":
    main()
