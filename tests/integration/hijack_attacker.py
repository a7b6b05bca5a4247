#!/usr/bin/env python3
"""hijack_attacker.py: the attacker of tests/integration/tracker_hijack.sh.

An attacker on its own IP (127.0.0.66) that can read the tracker (dump)
tries to take a victim's connection at a middlebox:

 1. reads the victim's O-DCID, first client address and DCIDs from
    `qasm-trackctl dump`;
 2. forges reports with `qasm-trackctl report` from its own IP, so the
    tracker's source attestation passes: ADDR naming its own address (seq
    near 2^32, to stay current), CLOSE, an authoritative REFRESH (highest seq,
    no DCID, its own secret) and a second OPEN (its own secret), repeated
    every 0.5 s;
 3. sends short-header packets carrying the victim's current DCIDs from
    that address into the middlebox, and counts what comes back.

Prints one JSON object: what came back, split into stateless resets (the
server's answer to the attacker's own undecryptable packets, recognised by
their token, derived from the server's --secret as ngtcp2 does) and
anything else (the victim's packets: "bytes"), and the packets and forged
reports sent. Usage:
  hijack_attacker.py TRACKCTL TRACKER MBOX SECONDS SERVER_SECRET_HEX
(the victim's agent reports the middlebox as its connection's server).
"""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

# The attacker's own address (QASM_ATTACKER_IP: another one, e.g. in a network namespace).
ATTACKER_IP = os.environ.get("QASM_ATTACKER_IP", "127.0.0.66")


def reset_token(secret, cid):
    """ngtcp2_crypto_generate_stateless_reset_token: HKDF-SHA-256, salt = the CID."""
    prk = hmac.new(cid, secret, hashlib.sha256).digest()
    return hmac.new(prk, b"stateless_reset" + b"\x01", hashlib.sha256).digest()[:16]


def main():
    ctl, tracker, mbox, seconds, reset_secret = sys.argv[1:6]
    reset_secret = bytes.fromhex(reset_secret)
    server = mbox
    seconds = float(seconds)
    mhost, mport = mbox.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ATTACKER_IP, 0))  # a port chosen by the kernel
    sock.setblocking(False)
    me = "%s:%d" % sock.getsockname()
    base = [ctl, "--tracker", tracker, "--timeout", "2s"]

    def dump():
        out = subprocess.run(base + ["--json", "dump"], capture_output=True, text=True)
        if out.returncode != 0:
            return None
        for c in json.loads(out.stdout).get("connections", []):
            if c.get("server") == server and not c.get("closed"):
                return c
        return None

    victim = None
    deadline = time.monotonic() + 10
    while victim is None or not victim.get("dcids"):
        if time.monotonic() > deadline:
            print(json.dumps({"error": "no victim connection in the dump"}))
            return 1
        time.sleep(0.05)
        victim = dump()
    odcid, client0 = victim["odcid"], victim["clients"][0]
    seen_self = False

    forged = 0
    def forge():
        nonlocal forged
        for args in (["--type", "addr", "--seq", "4294967280"],
                     ["--type", "close", "--seq", "4294967281"],
                     ["--type", "refresh", "--seq", "4294967282", "--server", server],
                     ["--type", "open", "--seq", "1", "--server", server]):
            subprocess.run(base + ["report", "--odcid", odcid, "--client0", client0,
                                   "--client", me] + args,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            forged += 1

    got_bytes = got_dgrams = sent = reset_bytes = resets = 0
    dcids = [bytes.fromhex(d) for d in victim["dcids"]]
    tokens = {}
    start = time.monotonic()
    next_forge = next_dump = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_forge:
            forge()
            next_forge = now + 0.5
        if now >= next_dump:
            v = dump()
            if v is not None and v["odcid"] == odcid and v.get("dcids"):
                dcids = [bytes.fromhex(d) for d in v["dcids"]]
                seen_self = seen_self or any(a.startswith(ATTACKER_IP + ":") for a in v["clients"])
            next_dump = now + 0.2
        for d in dcids:
            if d not in tokens:
                tokens[d] = reset_token(reset_secret, d)
            # short header, fixed bit set, then the DCID and what would be a protected payload
            pkt = bytes([0x41]) + d + os.urandom(60)
            try:
                sock.sendto(pkt, (mhost, int(mport)))
                sent += 1
            except OSError:
                pass
        t_end = time.monotonic() + 0.005
        while time.monotonic() < t_end:
            try:
                data = sock.recv(65536)
                if len(data) >= 22 and data[-16:] in tokens.values():
                    reset_bytes += len(data)
                    resets += 1
                else:
                    got_bytes += len(data)
                    got_dgrams += 1
            except BlockingIOError:
                time.sleep(0.001)
    print(json.dumps({"bytes": got_bytes, "datagrams": got_dgrams, "packets_sent": sent,
                      "stateless_resets": resets, "reset_bytes": reset_bytes,
                      "forged_reports": forged, "attacker": me, "odcid": odcid,
                      "listed_attacker": int(seen_self)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
