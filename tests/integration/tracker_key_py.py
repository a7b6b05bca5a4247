#!/usr/bin/env python3
"""tracker_key_py.py: raw TCP sessions against qasm-tracker --key, written
from docs/PROTOCOL.md ("Session authentication") without the C code, for
tests/integration/tracker_key.sh. Prints one JSON object per run.

  tracker_key_py.py HOST PORT none     DUMP, SUBSCRIBE all, QUERY, pipelined, no handshake
  tracker_key_py.py HOST PORT wrong K  handshake with a proof under key file K (wrong), then DUMP
  tracker_key_py.py HOST PORT right K  handshake under key file K (checks the tracker's proof), DUMP
  tracker_key_py.py HOST PORT plain    DUMP without handshake (a tracker without a key answers)
  (--from IP before HOST: bind the client socket to IP first)

Output: {"msgs": [[type, code_or_count], ...], "closed": bool, "tracker_proved": bool|null}
"""
import hashlib
import hmac
import json
import os
import socket
import struct
import sys

HELLO, AUTH, DUMP, SUBSCRIBE, QUERY = 0x15, 0x16, 0x13, 0x11, 0x10
OK, ERROR, CHALLENGE = 0x23, 0x24, 0x26
LABEL = b"qasm-tracker session key proof"


def msg(typ, req, body=b"", version=3):
    return struct.pack(">BBBBHHI", 0x51, 0x54, version, typ, 12 + len(body), 0, req) + body


def key_of(path):
    k = open(path, "rb").read()
    if k.endswith(b"\n"):
        k = k[:-1]
    if k.endswith(b"\r"):
        k = k[:-1]
    return k


def proof(key, role, cn, tn):
    return hmac.new(key, LABEL + role + cn + tn, hashlib.sha256).digest()[:16]


class Session:
    def __init__(self, host, port, src):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        self.s.settimeout(5)
        if src:
            self.s.bind((src, 0))
        self.s.connect((host, port))
        self.buf = b""
        self.closed = False

    def recv(self):
        """One message (type, body), or None at EOF / timeout."""
        while True:
            if len(self.buf) >= 12:
                n = struct.unpack(">H", self.buf[4:6])[0]
                if len(self.buf) >= n:
                    m, self.buf = self.buf[:n], self.buf[n:]
                    return m[3], m[12:]
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                self.closed = True
                return None
            if not d:
                self.closed = True
                return None
            self.buf += d

    def drain(self):
        out = []
        while True:
            m = self.recv()
            if m is None:
                return out
            t, b = m
            val = struct.unpack(">H", b[:2])[0] if t == ERROR else (
                struct.unpack(">I", b[:4])[0] if t == OK else None)
            out.append([t, val])


def main():
    a = sys.argv[1:]
    src = None
    if a[0] == "--from":
        src, a = a[1], a[2:]
    host, port, mode = a[0], int(a[1]), a[2]
    s = Session(host, port, src)
    proved = None
    msgs = []
    if mode == "none":
        s.s.sendall(msg(DUMP, 1) + msg(SUBSCRIBE, 2, b"\x01\x00\x00") +
                    msg(QUERY, 3, b"\x04" + b"\x01\x02\x03\x04" + b"\x00" + b"\x00\x00\x00\x00"))
    elif mode == "plain":
        s.s.sendall(msg(DUMP, 1))
        while True:  # until the OK that ends the dump
            m = s.recv()
            if m is None:
                break
            msgs.append([m[0], None])
            if m[0] == OK or m[0] == ERROR:
                break
        s.s.close()
        print(json.dumps({"msgs": msgs, "closed": s.closed, "tracker_proved": None}))
        return
    else:
        key = key_of(a[3])
        cn = os.urandom(16)
        s.s.sendall(msg(HELLO, 7, cn))
        m = s.recv()
        if m is None or m[0] != CHALLENGE:
            msgs.append([m[0] if m else None, None])
        else:
            tn, tproof = m[1][:16], m[1][16:32]
            proved = hmac.compare_digest(tproof, proof(key, b"T", cn, tn))
            msgs.append([CHALLENGE, None])
            s.s.sendall(msg(AUTH, 8, proof(key, b"C", cn, tn)) + msg(DUMP, 9))
            if mode == "right":
                s.s.settimeout(1)  # the session stays open: what came in a second is all
    msgs += s.drain()
    print(json.dumps({"msgs": msgs, "closed": s.closed, "tracker_proved": proved}))


main()
