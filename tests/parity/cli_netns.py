#!/usr/bin/python3
# cli_netns.py - ranks on their own network addresses: nothing may depend on 127.0.0.1.
#
# Two network namespaces hang off a bridge in the root namespace (veth
# pairs): the coordinator listens on the bridge's 10.77.0.1, rank 0 lives at
# 10.77.0.2 and rank 1 at 10.77.0.3, each with only its own loopback besides.
# mpirun starts the ranks with an MPMD command line, each told its namespace
# (stc-node --netns NAME): a rank joins it after MPI's start-up, so MPI keeps
# its own links (Open MPI's PMIx client reaches its server over the launch
# namespace's loopback, which `ip netns exec` would cut) while every socket of
# stc lives in the namespace.  The ranks must find their own addresses (the route towards the
# coordinator), publish spike endpoints on them, exchange spikes across the
# bridge, and give the single simulator's answer bit for bit.  Needs root
# (CAP_NET_ADMIN); exits 77 (skipped) without it.
# SPDX-License-Identifier: MIT
import json
import os
import subprocess

import cli_common
import cli_runtime
from cli_runtime import free_port, mpi_env

NS = ("stcns0", "stcns1")
BR = "stcbr0"


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


def teardown():
    for n in NS:
        ip("netns", "del", n, check=False)
    ip("link", "del", BR, check=False)
    for i in range(len(NS)):
        ip("link", "del", f"stcv{i}", check=False)


def setup():
    teardown()
    ip("link", "add", BR, "type", "bridge")
    ip("addr", "add", "10.77.0.1/24", "dev", BR)
    ip("link", "set", BR, "up")
    for i, n in enumerate(NS):
        ip("netns", "add", n)
        ip("link", "add", f"stcv{i}", "type", "veth", "peer", "name", f"stcp{i}")
        ip("link", "set", f"stcp{i}", "netns", n)
        ip("link", "set", f"stcv{i}", "master", BR)
        ip("link", "set", f"stcv{i}", "up")
        ip("netns", "exec", n, "ip", "addr", "add", f"10.77.0.{i + 2}/24", "dev", f"stcp{i}")
        ip("netns", "exec", n, "ip", "link", "set", f"stcp{i}", "up")
        ip("netns", "exec", n, "ip", "link", "set", "lo", "up")


def main():
    if os.geteuid() != 0:
        print("skipped: network namespaces need root (CAP_NET_ADMIN)")
        raise SystemExit(77)
    w = A.work
    cli_runtime.A, cli_runtime.C = A, C
    pth, x, tiny = C.hot_model()
    node = os.path.abspath(A.node)
    b = "hot.stc"
    C.stc(["compile", pth, "--img-size", "16", "--target", tiny, "--calib", x, "--topology", "torus:3x3", "-o", b])
    ref = json.loads(C.stc(["run", b, "--json", "--digest", "--input", x]).stdout)
    try:
        setup()
        C.check("two namespaces on a bridge", True)
        port = free_port()
        coord = f"tcp://10.77.0.1:{port}"
        cmd = ["mpirun", "--oversubscribe", "--mca", "btl", "self,vader"]
        for i, n in enumerate(NS):
            if i:
                cmd.append(":")
            cmd += ["-np", "1", node, "--netns", n, "--coord", coord]
        log = open(os.path.join(w, "nodes.log"), "w")
        job = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=mpi_env(), cwd=w)
        p = C.stc(["deploy", b, "--endpoint", f"tcp://10.77.0.1:{port}", "--json", "--digest", "--wait", "30"])
        eps = [r["spike_endpoint"] for r in json.loads(p.stdout)["ranks"]] if p.returncode == 0 else []
        C.check("each rank publishes its spike endpoint on its own address",
                sorted(e.rsplit(":", 1)[0] for e in eps) == ["tcp://10.77.0.2", "tcp://10.77.0.3"], str(eps))
        p = C.stc(["run", b, "--endpoint", f"tcp://10.77.0.1:{port}", "--json", "--digest", "--input", x,
                   "--stop-nodes"])
        if p.returncode == 0:
            cli_runtime.same(ref, json.loads(p.stdout), "2 ranks in 2 namespaces: bit-identical to the single simulator")
        else:
            C.check("run across namespaces", False, p.stderr[-600:])
        try:
            rc = job.wait(timeout=30)
        except subprocess.TimeoutExpired:
            job.kill()
            rc = "hung"
        log.close()
        C.check("the node job exits 0", rc == 0, open(log.name).read()[-600:])
    finally:
        teardown()
    C.finish()


if __name__ == "__main__":
    A, C = cli_common.args(node=True)
    main()
