#!/usr/bin/env python3
"""tracker_bounds.py: the attackers and the middlebox probe of
tests/integration/tracker_bounds.sh (standard library only).

  load PORT IPS N PREFIX [DCIDS]
        from each IP of IPS (comma separated), open N connections over one
        TCP session (the session's peer address is the reports' source):
        REPORT_OPEN with its secret and MAC, O-DCID PREFIX + IP's last byte +
        i, client IP:(10000+i), then DCIDS REPORT_DCID_NEW each; then a STATS
        round trip, so every report was read.
  dumpflood PORT K ROUNDS SECONDS [again]
        K sessions (from 127.0.0.2..) each pipeline ROUNDS DUMP requests and
        never read; held SECONDS (with "again": a session the tracker closes
        is opened again and floods again).
  idle PORT IP N SECONDS
        N idle sessions from IP, held SECONDS; prints how many the tracker
        kept open for 1 s (it closes refused ones at once).
  subflood PORT IPS N SECONDS
        one session from each IP of IPS (comma separated) subscribes N
        pending CIDs (pipelined in batches, replies read); held SECONDS.
        Prints subscriptions accepted and refused.
  watchers PORT IPS RCVBUF SECONDS
        from each IP a session with a RCVBUF-byte receive buffer subscribes
        to every connection and never reads; held SECONDS.
  probe PORT SECONDS [CID_HEX|first]
        a middlebox's session from 127.0.0.1: STATS (or QUERY of CID_HEX)
        round trips for SECONDS, reconnecting when refused or closed (with
        "first": until the first STATS is answered). Prints one JSON line:
        served, failures, latency figures (ms), first_s (when the first
        answer came), and for a QUERY whether it was found.
"""
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

SLOW = float(os.environ.get("QASM_TEST_SLOWDOWN", "1"))


def msg(typ, req, body=b""):
    return struct.pack(">BBBBHHI", 0x51, 0x54, 2, typ, 12 + len(body), 0, req) + body


def cid(b):
    return bytes([len(b)]) + b


def addr4(ip, port):
    return b"\x04" + struct.pack(">H", port) + socket.inet_aton(ip)


def secret_of(odcid):
    return hashlib.sha256(b"s" + odcid).digest()[:16]


def signed(typ, odcid, fields):
    mac = hmac.new(secret_of(odcid), bytes([2, typ]) + fields, hashlib.sha256).digest()[:16]
    return msg(typ, 0, fields + mac + b"\x00")


def report_open(odcid, ip, port, seq=1):
    c = addr4(ip, port)
    return signed(0x01, odcid, cid(odcid) + c + c + struct.pack(">I", seq) + cid(b"\xc1") +
                  addr4("192.0.2.1", 443) + secret_of(odcid))


def report_dcid(odcid, ip, port, seq, dcid, cseq):
    c = addr4(ip, port)
    return signed(0x02, odcid, cid(odcid) + c + c + struct.pack(">I", seq) + cid(dcid) + bytes([cseq]))


def connect(port, ip, rcvbuf=0, timeout=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((ip, 0))
    s.settimeout(timeout if timeout is not None else 10 * SLOW)
    s.connect(("127.0.0.1", port))
    return s


class Reader:
    def __init__(self, s):
        self.s, self.buf, self.pos = s, b"", 0

    def next(self):
        """(type, req_id, body), or None when the tracker closed the session."""
        while True:
            b, p = self.buf, self.pos
            if len(b) - p >= 12:
                ln = (b[p + 4] << 8) | b[p + 5]
                if len(b) - p >= ln:
                    self.pos = p + ln
                    return (b[p + 3], struct.unpack(">I", b[p + 8:p + 12])[0], b[p + 12:p + ln])
            d = self.s.recv(262144)
            if not d:
                return None
            self.buf, self.pos = b[p:] + d, 0


def stats_of(body):
    n, o, out = body[0], 1, {}
    for _ in range(n):
        ln = body[o]
        name = body[o + 1:o + 1 + ln].decode()
        o += 1 + ln
        out[name] = struct.unpack(">Q", body[o:o + 8])[0]
        o += 8
    return out


def load(port, ips, n, prefix, dcids=0):
    for ip in ips.split(","):
        s = connect(port, ip, timeout=60 * SLOW)
        pre = bytes.fromhex(prefix) + socket.inet_aton(ip)[3:]
        batch = []
        for i in range(n):
            odcid = pre + struct.pack(">I", i)
            port_ = 10000 + i % 50000
            batch.append(report_open(odcid, ip, port_))
            for j in range(dcids):
                batch.append(report_dcid(odcid, ip, port_, 2 + j, odcid + bytes([j]), 1 + j))
            if len(batch) >= 256:
                s.sendall(b"".join(batch))
                batch = []
        s.sendall(b"".join(batch) + msg(0x14, 7))
        r = Reader(s)
        while True:
            m = r.next()
            if m is None or (m[0] == 0x25 and m[1] == 7):
                break
        s.close()


def hold(socks, seconds):
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(0.2)
    for s in socks:
        s.close()


def flood_one(port, ip, rounds):
    s = connect(port, ip, rcvbuf=4096)
    s.setblocking(False)
    data = b"".join(msg(0x13, 1000 + j) for j in range(rounds))
    sent = 0
    t_end = time.time() + 5 * SLOW
    while sent < len(data) and time.time() < t_end:
        try:
            sent += s.send(data[sent:])
        except BlockingIOError:
            time.sleep(0.01)  # the tracker stopped reading: flow control
        except OSError:
            break
    return s


def closed(s):
    """True once the tracker closed |s|: a send after its FIN draws a RST."""
    try:
        s.send(msg(0x14, 1))
        return False
    except BlockingIOError:
        return False
    except OSError:
        return True


def dumpflood(port, k, rounds, seconds, again=False):
    ips = ["127.0.0.%d" % (2 + i % 200) for i in range(k)]
    socks = [flood_one(port, ip, rounds) for ip in ips]
    end = time.time() + seconds
    reopened = 0
    while time.time() < end:
        time.sleep(0.2)
        if not again:
            continue
        for i, s in enumerate(socks):
            if closed(s):
                s.close()
                socks[i] = flood_one(port, ips[i], rounds)
                reopened += 1
    for s in socks:
        s.close()
    if again:
        print(reopened)


def idle(port, ip, n, seconds):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(port, ip))
        except OSError:
            pass
    time.sleep(1)
    kept = []
    for s in socks:
        s.setblocking(False)
        try:
            alive = s.recv(1) != b""
        except BlockingIOError:
            alive = True
        except OSError:
            alive = False
        if alive:
            kept.append(s)
        else:
            s.close()
    print(len(kept))
    sys.stdout.flush()
    hold(kept, seconds - 1)


def subflood(port, ips, n, seconds):
    socks, ok, refused = [], 0, 0
    for ip in ips.split(","):
        s = connect(port, ip, timeout=60 * SLOW)
        r = Reader(s)
        tag = socket.inet_aton(ip)
        for b0 in range(0, n, 1000):
            cnt = min(1000, n - b0)
            s.sendall(b"".join(msg(0x11, b0 + j, b"\x00" + cid(b"\xee" + tag + struct.pack(">I", b0 + j)) + b"\x00")
                               for j in range(cnt)))
            for _ in range(cnt):
                m = r.next()
                if m is None:
                    break
                if m[0] == 0x23:
                    ok += 1
                else:
                    refused += 1
        socks.append(s)
    print(ok, refused)
    sys.stdout.flush()
    hold(socks, seconds)


def watchers(port, ips, rcvbuf, seconds):
    socks = []
    for ip in ips.split(","):
        s = connect(port, ip, rcvbuf=rcvbuf)
        s.sendall(msg(0x11, 1, b"\x01\x00\x00"))
        socks.append(s)
    hold(socks, seconds)


def probe(port, seconds, qcid=None):
    lat, fails, found, first = [], 0, None, None
    until_first = qcid == "first"
    if until_first:
        qcid = None
    start = time.time()
    end = start + seconds
    s = r = None
    req = 0
    while time.time() < end:
        try:
            if s is None:
                s = connect(port, "127.0.0.1", timeout=5 * SLOW)
                r = Reader(s)
            req += 1
            body = b"" if qcid is None else cid(bytes.fromhex(qcid)) + b"\x00" + struct.pack(">I", 0)
            t0 = time.time()
            s.sendall(msg(0x14 if qcid is None else 0x10, req, body))
            while True:
                m = r.next()
                if m is None:
                    raise OSError("closed")
                if m[1] == req:
                    break
            lat.append((time.time() - t0) * 1000)
            if first is None:
                first = time.time() - start
            if until_first:
                break
            if qcid is not None:
                found = m[0] == 0x20
                break
            time.sleep(0.05)
        except OSError:
            fails += 1
            if s:
                s.close()
            s = None
            time.sleep(0.1)
    lat.sort()
    out = {"served": len(lat), "failures": fails}
    if first is not None:
        out["first_s"] = round(first, 2)
    if lat:
        out.update(median_ms=round(lat[len(lat) // 2], 2), max_ms=round(lat[-1], 2))
    if qcid is not None:
        out["found"] = bool(found)
    print(json.dumps(out))


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    a = sys.argv[3:]
    if cmd == "load":
        load(port, a[0], int(a[1]), a[2], int(a[3]) if len(a) > 3 else 0)
    elif cmd == "dumpflood":
        dumpflood(port, int(a[0]), int(a[1]), float(a[2]), len(a) > 3 and a[3] == "again")
    elif cmd == "idle":
        idle(port, a[0], int(a[1]), float(a[2]))
    elif cmd == "subflood":
        subflood(port, a[0], int(a[1]), float(a[2]))
    elif cmd == "watchers":
        watchers(port, a[0], int(a[1]), float(a[2]))
    elif cmd == "probe":
        probe(port, float(a[0]), a[1] if len(a) > 1 else None)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
