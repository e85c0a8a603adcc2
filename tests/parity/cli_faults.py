#!/usr/bin/python3
# cli_faults.py - a node lost mid-run is named within 5 seconds, and a run resumes from its checkpoint exactly.
#
# Real processes on loopback.  (1) A 4-rank node job runs the bundled model;
# one stc-node process is killed with SIGKILL: the coordinator must exit
# non-zero within 5 s of the kill with a message naming that rank's pid, and
# mpirun must end (nothing hangs).  (2) A 3-rank job runs with
# --checkpoint-every K; once a checkpoint exists a rank is killed; a new job of
# 2 ranks (another split of the chips) then runs `run --resume`: its outputs,
# digests and every counter must equal the uninterrupted single-process run.
# SPDX-License-Identifier: MIT
import json
import os
import signal
import subprocess
import time

import cli_common
from cli_runtime import Job, free_port, mpi_env  # noqa: F401  (mpi_env: the environment Job uses)
import cli_runtime


def node_pids(port):
    """The stc-node ranks of the job at port (not mpirun, whose command line names them too)."""
    pat = f"^{os.path.abspath(A.node)} --coord tcp://127.0.0.1:{port}"
    p = subprocess.run(["pgrep", "-f", pat], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


def wait_for(cond, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


def main():
    w = A.work
    os.makedirs(w, exist_ok=True)
    cli_runtime.A = A
    node = os.path.abspath(A.node)
    fm = "fmnist-torus2x2.stc"
    C.stc(["compile", os.path.join(cli_common.ROOT, "models", "fmnist_spikformer.pth"), "--target", "loihi3", "-O3",
           "--weight-bits", "8", "--topology", "torus:2x2", "--spread", "-o", fm])
    data = ["--dataset", "fashion-mnist"]

    # (1) SIGKILL mid-run
    port = free_port()
    job = Job(node, 4, port)
    started = wait_for(lambda: len(node_pids(port)) == 4, 20)
    # deploy first, so that the kill lands in the run and not in a slow (sanitized) start-up
    p = C.stc(["deploy", fm, "--endpoint", f"tcp://127.0.0.1:{port}"])
    coord = subprocess.Popen([C.stc_path, "run", fm, "--endpoint", f"tcp://127.0.0.1:{port}", "--limit", "5000",
                              "--no-progress"] + data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=w)
    time.sleep(2.5)  # into the run
    pids = node_pids(port)
    victim = pids[len(pids) // 2] if pids else None
    t_kill = time.time()
    if victim:
        os.kill(victim, signal.SIGKILL)
    try:
        out, err = coord.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        coord.kill()
        out, err = coord.communicate()
    took = time.time() - t_kill
    C.check("4 ranks started and loaded the bundle", started and victim is not None and p.returncode == 0)
    C.check(f"the coordinator exits non-zero after the kill ({took:.1f} s)", coord.returncode not in (0, None), err)
    C.check("within 5 s of the kill", took <= 5.0, f"{took:.1f} s")
    C.check("the message names the lost node and its pid", "lost node" in err and f"pid {victim}" in err, err[-600:])
    rc = job.wait(timeout=20)
    C.check("mpirun ends (no hang)", rc != "hung", str(rc))

    # (2) checkpoint, failure, resume on another split
    n = 200  # long enough (over 1 s) that the kill after the second checkpoint lands mid-run
    ref = json.loads(C.stc(["run", fm, "--json", "--digest", "--limit", str(n)] + data).stdout)
    ck = os.path.join(w, "run.ckpt")
    if os.path.exists(ck):
        os.remove(ck)
    port = free_port()
    job = Job(node, 3, port)
    coord = subprocess.Popen([C.stc_path, "run", fm, "--endpoint", f"tcp://127.0.0.1:{port}", "--limit", str(n),
                              "--json", "--digest", "--checkpoint-every", "50", "--checkpoint", ck, "--batch", "1",
                              "--no-progress"] + data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=w)
    # slow the job down enough to kill it mid-run: stop it as soon as the second checkpoint is there
    seen = wait_for(lambda: os.path.exists(ck) and os.path.getsize(ck) > 0, 30)
    first = os.path.getmtime(ck) if seen else 0
    wait_for(lambda: os.path.exists(ck) and os.path.getmtime(ck) != first, 10)
    pids = node_pids(port)
    if pids:
        os.kill(pids[-1], signal.SIGKILL)
    out, err = coord.communicate(timeout=30)
    job.wait(timeout=20)
    C.check("the interrupted run failed", coord.returncode != 0, err[-300:])
    C.check("a checkpoint was written before the failure", seen, err[-300:])
    port = free_port()
    job = Job(node, 2, port)
    p = C.stc(["run", fm, "--endpoint", f"tcp://127.0.0.1:{port}", "--limit", str(n), "--json", "--digest",
               "--resume", "--checkpoint", ck, "--stop-nodes"] + data)
    C.check("the resumed run says where it resumes", "resuming from" in p.stderr, p.stderr[-400:])
    if p.returncode == 0:
        cli_runtime.C = C
        cli_runtime.same(ref, json.loads(p.stdout), "resumed on 2 ranks: outputs, digests and counters equal an "
                                                    "uninterrupted run")
    else:
        C.check("resumed run", False, p.stderr[-600:])
    C.check("the node job exits 0", job.wait() == 0)

    # a checkpoint of other inputs is refused
    port = free_port()
    job = Job(node, 1, port)
    p = C.stc(["run", fm, "--endpoint", f"tcp://127.0.0.1:{port}", "--limit", str(n + 1), "--resume", "--checkpoint",
               ck, "--stop-nodes"] + data, code=1)
    C.check("resume with other inputs is refused", "other inputs" in p.stderr, p.stderr[-300:])
    subprocess.run([C.stc_path, "stop", "--endpoint", f"tcp://127.0.0.1:{port}", "--wait", "10"], cwd=w,
                   capture_output=True)
    job.wait()
    C.finish()


if __name__ == "__main__":
    A, C = cli_common.args(node=True)
    main()
