#!/usr/bin/python3
# cli_runtime.py - the distributed runtime gives exactly the single simulator's answer.
#
# Real processes on loopback: `mpirun -np N stc-node` and `stc-coord run
# --endpoint`, for 1, 2, 3 and 4 ranks, on mesh and torus placements, with
# chips split unevenly across ranks (--owners).  Each run's --json --digest
# (logits, every stage's event count, the additive digest of every event
# emitted, every core's and stage's 11 counters) must equal the
# single-process `stc-coord run` bit for bit, and the node job must exit 0
# when the coordinator stops it.  Among the bundles, a graph whose layer is
# cut into slices of its input channels (partial sums across ranks).  Also:
# the coordinator and the node job may start in either order; deploy reports
# every rank's checksum; a second run reuses the deployment.
# SPDX-License-Identifier: MIT
import json
import os
import socket
import subprocess
import time

import numpy as np

import cli_common

EXACT_TOP = ("core_counters", "stage_counters")
EXACT_INPUT = ("index", "class", "logits", "digest", "stage_events", "spike_counts")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def mpi_env():
    """mpirun's environment.  Under the sanitizers (the ASan build's ctest),
    the ranks unwind fully on malloc so that LeakSanitizer can tell what
    Open MPI keeps past MPI_Finalize (tests/lsan-mpi.supp) from stc's own."""
    e = dict(os.environ)
    e["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    e["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    e.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
    e["ASAN_OPTIONS"] = (e["ASAN_OPTIONS"] + ":" if e.get("ASAN_OPTIONS") else "") + "fast_unwind_on_malloc=0"
    e["LSAN_OPTIONS"] = "suppressions=" + os.path.join(cli_common.ROOT, "tests", "lsan-mpi.supp")
    return e


class Job:
    """mpirun -np N stc-node, in the background."""

    def __init__(self, node, n, port, extra=()):
        self.log = open(os.path.join(A.work, f"node-{n}-{port}.log"), "w")
        cmd = ["mpirun", "-np", str(n), "--oversubscribe", node, "--coord", f"tcp://127.0.0.1:{port}"] + list(extra)
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=mpi_env(), cwd=A.work)

    def wait(self, timeout=30):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return "hung"
        finally:
            self.log.close()


def same(ref, got, what):
    bad = []
    for k in EXACT_TOP:
        if ref.get(k) != got.get(k):
            bad.append(k)
    if len(ref["inputs"]) != len(got["inputs"]):
        bad.append("number of inputs")
    else:
        for a, b in zip(ref["inputs"], got["inputs"]):
            for k in EXACT_INPUT:
                if a.get(k) != b.get(k):
                    bad.append(f"input {a['index']} {k}")
    C.check(what, not bad and "digest" in got["inputs"][0], ", ".join(bad[:6]))


def clean_log(job):
    """The node job's log holds no sanitizer report."""
    log = open(job.log.name).read()
    return "Sanitizer" not in log and "runtime error:" not in log, log[-1500:]


def split_model(w):
    """A Spike IR graph whose second layer the lowering cuts into two slices
    of its input channels (docs/backend.md 2.3): [8,4,4] -> linear 64 -> LIF ->
    linear 16 -> LIF -> mean -> head, on a target where a core of that layer
    sees 4 of its 16 tokens; 20 inputs.  The paths of the graph, its target and
    its inputs."""
    def vals(n, f):
        return " ".join("%g" % f(i) for i in range(n))
    text = "\n".join([
        "stc-ir 1", "graph T=3 arch=custom", '%0 = input [8,4,4] real name="image"',
        '%1 = linear %0 [64,4,4] real name="fc1"', "  weight [64,8] = " + vals(512, lambda i: ((i * 37) % 11 - 4) * 0.1),
        '%2 = lif %1 [64,4,4] spike name="fc1_lif" tau=2 vth=1 vreset=0',
        '%3 = linear %2 [16,4,4] real name="fc2"', "  weight [16,64] = " + vals(1024, lambda i: ((i * 53) % 13 - 5) * 0.1),
        "  bias [16] = 0.1 -0.1 0.2 0 0 0.3 -0.2 0 0.1 0 0 -0.1 0.2 0 0.1 0",
        '%4 = lif %3 [16,4,4] spike name="fc2_lif" tau=2 vth=1 vreset=0',
        '%5 = mean %4 [16,1,1] real name="m"', '%6 = linear %5 [3,1,1] real name="head"',
        "  weight [3,16] = " + vals(48, lambda i: ((i * 7) % 5 - 2) * 0.5),
        '%7 = output %6 [3,1,1] real name="logits"']) + "\n"
    ir, tgt, x = (os.path.join(w, f) for f in ("split.stcir", "split-target.json", "split-in.npy"))
    with open(ir, "w") as f:
        f.write(text)
    t = json.loads(C.stc(["target", "loihi3", "--json"]).stdout)
    t["name"] = "split-test"
    for k, v in (("neurons_per_core", 256), ("fan_in_axons_per_core", 256), ("fan_out_axons_per_core", 1024),
                 ("memory_per_core_bytes", 2048), ("cores_per_chip", 4), ("core_mesh", [2, 2])):
        t[k]["value"] = v
    with open(tgt, "w") as f:
        json.dump(t, f)
    np.save(x, (np.arange(20 * 128).reshape(20, 8, 4, 4) * 7 % 5 * 0.5).astype(np.float32))
    return ir, tgt, x


def main():
    w = A.work
    pth, x, tiny = C.hot_model()
    node = os.path.abspath(A.node)
    bundles = {}
    # the small model on a target of 2-core chips: its 17 cores fill 9 chips
    for topo in ("torus:3x3", "mesh:3x3"):
        out = f"hot-{topo.replace(':', '')}.stc"
        C.stc(["compile", pth, "--img-size", "16", "--target", tiny, "--calib", x, "--topology", topo, "-o", out])
        bundles[topo] = out
    # the bundled Fashion-MNIST model, loihi3, spread over torus:2x2 (the main job's deployment)
    fm = "fmnist-torus2x2.stc"
    C.stc(["compile", os.path.join(cli_common.ROOT, "models", "fmnist_spikformer.pth"), "--target", "loihi3", "-O3",
           "--weight-bits", "8", "--topology", "torus:2x2", "--spread", "-o", fm])
    inputs = {b: ["--input", x] for b in bundles.values()}
    inputs[fm] = ["--dataset", "fashion-mnist", "--limit", "6"]
    # a layer cut into slices of its input channels, on the 4 chips of torus:2x2
    sir, stgt, sx = split_model(w)
    sb = "split-torus2x2.stc"
    p = C.stc(["compile", sir, "--target", stgt, "--calib", sx, "--topology", "torus:2x2", "--spread", "-o", sb])
    C.check("the split graph's second layer is cut into slices", "split        1 layer into 2 slices" in p.stdout,
            p.stdout[-400:])
    inputs[sb] = ["--input", sx]

    ref = {}
    for b in list(bundles.values()) + [fm, sb]:
        p = C.stc(["run", b, "--json", "--digest", "--threads", "1"] + inputs[b])
        ref[b] = json.loads(p.stdout)

    # (bundle, ranks, owners or None); chips of the hot bundles: as many as the topology has
    cases = [
        (bundles["torus:3x3"], 1, None),
        (bundles["torus:3x3"], 2, "0,1,1,1,1,1,1,1,1"),
        (bundles["torus:3x3"], 3, "2,0,0,1,1,1,1,1,2"),
        (bundles["torus:3x3"], 4, "3,1,0,2,3,3,3,1,0"),
        (bundles["mesh:3x3"], 2, None),
        (bundles["mesh:3x3"], 3, "0,0,0,0,0,0,1,2,2"),
        (bundles["mesh:3x3"], 4, "1,0,3,2,3,3,0,0,1"),
        (fm, 4, None),
        (fm, 3, "0,1,1,2"),
        (sb, 3, "0,1,2,1"),
    ]
    for b, n, owners in cases:
        port = free_port()
        job = Job(node, n, port)
        args = ["run", b, "--endpoint", f"tcp://127.0.0.1:{port}", "--json", "--digest", "--stop-nodes",
                "--batch", "2"] + inputs[b]
        if owners:
            args += ["--owners", owners]
        p = C.stc(args)
        rc = job.wait()
        what = f"{b} on {n} rank{'s' if n > 1 else ''}" + (f" (chips to ranks {owners})" if owners else "")
        if p.returncode:
            C.check(what, False, p.stderr[-800:])
            continue
        got = json.loads(p.stdout)
        same(ref[b], got, what + ": bit-identical to the single simulator")
        clean, log = clean_log(job)
        C.check(what + ": the node job exits 0 when stopped, no sanitizer report", rc == 0 and clean,
                f"exit {rc}\n{log}")

    # the coordinator first, the node job later; deploy, then run on the same deployment
    port = free_port()
    b = bundles["torus:3x3"]
    dep = subprocess.Popen([C.stc_path, "deploy", b, "--endpoint", f"tcp://127.0.0.1:{port}", "--json", "--digest"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=w)
    time.sleep(1.5)
    job = Job(node, 3, port)
    out, err = dep.communicate(timeout=60)
    ok = dep.returncode == 0
    d = json.loads(out) if ok else {}
    C.check("deploy with the coordinator started first: every rank's checksum matches",
            ok and d.get("n_ranks") == 3 and all(r["checksum_ok"] for r in d.get("ranks", [])), err[-500:])
    C.check("deploy reports chips and cores per rank",
            ok and sum(r["cores"] for r in d["ranks"]) == d["cores"] and len(d["chip_owner"]) == 9, out[:300])
    p = C.stc(["run", b, "--endpoint", f"tcp://127.0.0.1:{port}", "--json", "--digest", "--stop-nodes"] + inputs[b])
    C.check("run after deploy reuses the deployment", "hold this deployment already" in p.stderr, p.stderr[-300:])
    if not p.returncode:
        same(ref[b], json.loads(p.stdout), "run after deploy: bit-identical")
    C.check("the node job exits 0", job.wait() == 0)

    # nothing there: a clear error, not a hang
    p = C.stc(["run", b, "--endpoint", f"tcp://127.0.0.1:{free_port()}", "--wait", "1"] + inputs[b], code=1)
    C.check("no node job: the error says what to start", "no node joined" in p.stderr and "mpirun" in p.stderr,
            p.stderr)
    C.finish()


if __name__ == "__main__":
    A, C = cli_common.args(node=True)
    main()
