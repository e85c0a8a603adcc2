#!/usr/bin/python3
# cli_security.py - CurveZMQ keeps strangers out; malformed messages are dropped, never fatal.
#
# Real processes on loopback.  `stc-coord keygen` makes two clusters' keys.
# With the keys on both sides a run is bit-identical to the single simulator.
# A node job without the keys (or with another cluster's) cannot join a keyed
# coordinator; a coordinator without them cannot deploy to a keyed node job.
# While a keyed job runs, a stranger (pyzmq, no keys or the wrong keys)
# pushes well-formed SPIKES messages at every rank's spike socket and HELLO /
# RESULT messages at the coordinator: the outputs stay bit-identical and no
# node even logs the attempt (the handshake refuses it before any message).
# On a job without keys, a peer that sends malformed messages (garbage, a
# 5-byte array header claiming 2^32-1 elements, a bin claiming 4 GiB,
# truncations, a wrong tick) is logged with its sender and dropped, and the
# run is still bit-identical.
# SPDX-License-Identifier: MIT
import json
import os
import struct
import subprocess
import threading
import time

import msgpack
import zmq

import cli_common
import cli_runtime
from cli_runtime import Job, free_port


def spikes_msg(rank, size, tick, events):
    ev = b"".join(struct.pack("<iiii", *e) for e in events)
    return msgpack.packb(["stc", 1, 13, rank, size, tick, len(events), ev], use_bin_type=True)


class Stranger(threading.Thread):
    """Sends messages at the given endpoints until stopped."""

    def __init__(self, spike_eps, coord_ep, keys=None, malformed=False):
        super().__init__(daemon=True)
        self.spike_eps, self.coord_ep, self.keys, self.malformed = spike_eps, coord_ep, keys, malformed
        self.stop = threading.Event()
        self.sent = 0

    def secure(self, s):
        if self.keys:
            pub, sec = self.keys
            s.curve_publickey, s.curve_secretkey, s.curve_serverkey = pub, sec, pub

    def run(self):
        ctx = zmq.Context()
        outs = []
        for ep in self.spike_eps:
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.SNDHWM, 100)
            self.secure(s)
            s.connect(ep)
            outs.append(s)
        c = ctx.socket(zmq.DEALER)
        c.setsockopt(zmq.LINGER, 0)
        c.setsockopt(zmq.IDENTITY, b"stranger" if self.malformed else b"rank-0")
        self.secure(c)
        c.connect(self.coord_ep)
        bad = [b"\x00garbage", b"\xdd\xff\xff\xff\xff", b"\x98\xa3stc\x01\x0d\x00\x02\x00\x00\xc6\xff\xff\xff\xff",
               msgpack.packb(["stc", 1, 13, 0, 2, 0, 1], use_bin_type=True), spikes_msg(0, 2, 10 ** 9, [])]
        t = 0
        while not self.stop.is_set():
            for s in outs:
                try:
                    if self.malformed:
                        s.send(bad[t % len(bad)], zmq.NOBLOCK)
                        s.send(spikes_msg(0, 2, 10 ** 6 + t, [(1, 0, 1, 5)]), zmq.NOBLOCK)  # a tick never run
                    else:
                        s.send(spikes_msg(t % 2, 2, t % 21, [(1, 0, 1000, t % 21 + 1)] * 8), zmq.NOBLOCK)
                    self.sent += 1
                except zmq.Again:
                    pass
            hello = msgpack.packb(["stc", 1, 1, 0, 1, 1, "evil", "tcp://1.2.3.4:5", 0, 0], use_bin_type=True)
            try:
                c.send(bad[t % len(bad)] if self.malformed else hello, zmq.NOBLOCK)
            except zmq.Again:
                pass
            t += 1
            time.sleep(0.002)
        for s in outs + [c]:
            s.close()
        ctx.term()


def load_keys(path):
    kv = {}
    for line in open(path):
        p = line.split()
        if len(p) == 2 and p[0] in ("public", "secret"):
            kv[p[0]] = p[1].encode()
    return kv["public"], kv["secret"]


def main():
    w = A.work
    cli_runtime.A = A
    cli_runtime.C = C
    pth, x, tiny = C.hot_model()
    node = os.path.abspath(A.node)
    b = "hot.stc"
    C.stc(["compile", pth, "--img-size", "16", "--target", tiny, "--calib", x, "--topology", "torus:3x3", "-o", b])
    ref = json.loads(C.stc(["run", b, "--json", "--digest", "--input", x]).stdout)

    p1 = C.stc(["keygen", "-o", "k1.keys"])
    C.stc(["keygen", "-o", "k2.keys"])
    C.check("keygen writes a key file readable only by its owner",
            p1.returncode == 0 and os.stat(os.path.join(w, "k1.keys")).st_mode & 0o077 == 0, p1.stderr)
    p = C.stc(["keygen", "-o", "k1.keys"], code=1)
    C.check("keygen refuses to overwrite keys", p.returncode != 0 and "k1.keys" in p.stderr, p.stderr)
    k1 = os.path.join(w, "k1.keys")
    k2 = os.path.join(w, "k2.keys")

    # keyed on both sides: works, bit-identical; deploy first to learn the spike endpoints
    port = free_port()
    ep = f"tcp://127.0.0.1:{port}"
    job = Job(node, 3, port, ["--keys", k1])
    p = C.stc(["deploy", b, "--endpoint", ep, "--keys", k1, "--json", "--digest"])
    dep = json.loads(p.stdout) if p.returncode == 0 else {"ranks": []}
    C.check("deploy with CurveZMQ keys", p.returncode == 0 and len(dep["ranks"]) == 3, p.stderr[-300:])
    spike_eps = [r["spike_endpoint"] for r in dep["ranks"]]
    for keys, who in ((None, "no keys"), (load_keys(k2), "another cluster's keys")):
        st = Stranger(spike_eps, ep, keys)
        st.start()
        time.sleep(0.3)
        p = C.stc(["run", b, "--endpoint", ep, "--keys", k1, "--json", "--digest", "--input", x])
        st.stop.set()
        st.join()
        if p.returncode == 0:
            cli_runtime.same(ref, json.loads(p.stdout),
                             f"a stranger with {who} sends {st.sent} spike messages: outputs bit-identical")
        else:
            C.check(f"run while a stranger with {who} sends", False, p.stderr[-500:])
    C.stc(["stop", "--endpoint", ep, "--keys", k1])
    job.wait()
    log = open(job.log.name).read()
    C.check("no node saw a stranger's message (the handshake refused them)", "dropped" not in log, log[-500:])

    # mismatched keys: nobody joins, errors say what to check
    for node_keys, coord_keys, what in ((k1, None, "a coordinator without keys cannot deploy to a keyed node job"),
                                         (None, k1, "a node job without keys cannot join a keyed coordinator"),
                                         (k2, k1, "a node job with another cluster's keys cannot join")):
        port = free_port()
        job = Job(node, 2, port, ["--keys", node_keys] if node_keys else [])
        args = ["deploy", b, "--endpoint", f"tcp://127.0.0.1:{port}", "--wait", "3"]
        if coord_keys:
            args += ["--keys", coord_keys]
        p = C.stc(args, code=1)
        C.check(what, p.returncode == 1 and "no node joined" in p.stderr and "--keys" in p.stderr, p.stderr[-300:])
        job.p.terminate()
        job.wait()

    # malformed messages from a peer on a job without keys: logged with the sender, dropped, the run unharmed
    port = free_port()
    ep = f"tcp://127.0.0.1:{port}"
    job = Job(node, 2, port)
    p = C.stc(["deploy", b, "--endpoint", ep, "--json", "--digest"])
    spike_eps = [r["spike_endpoint"] for r in json.loads(p.stdout)["ranks"]] if p.returncode == 0 else []
    st = Stranger(spike_eps, ep, None, malformed=True)
    st.start()
    time.sleep(0.3)
    p = C.stc(["run", b, "--endpoint", ep, "--json", "--digest", "--input", x, "--stop-nodes"])
    st.stop.set()
    st.join()
    if p.returncode == 0:
        cli_runtime.same(ref, json.loads(p.stdout), f"{st.sent} malformed messages: outputs bit-identical")
    else:
        C.check("run under malformed messages", False, p.stderr[-500:])
    rc = job.wait()
    log = open(job.log.name).read()
    C.check("the nodes log what they dropped, naming the message and field",
            "dropped" in log and ("field" in log or "expected" in log), log[-800:])
    C.check("no node crashed", rc == 0 and "Sanitizer" not in log and "signal" not in log, log[-500:])
    C.finish()


if __name__ == "__main__":
    A, C = cli_common.args(node=True)
    main()
