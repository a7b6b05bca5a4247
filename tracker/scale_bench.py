#!/usr/bin/env python3
"""scale_bench.py: the tracker scale-out benchmark (docs/SCALE-OUT.md).

Starts Redis (standalone, or a Cluster of 3 masters) on free loopback ports,
K = 1, 2, 3 qasm-tracker processes sharing it, and measures:
  - replicated updates/s: N new connections reported over UDP, spread over
    the K trackers, until every tracker holds all N (written to Redis and
    applied everywhere through pub/sub);
  - report -> push latency: report at tracker 1, SUBSCRIBE-all at tracker K;
  - query latency at tracker K for a record reported at tracker 1 (held
    locally, a replica), and at a tracker started afterwards (read through
    from Redis: index GET + record MGET);
  - bytes per connection inside Redis (MEMORY USAGE of its keys).
Latencies are measured from Python (one request at a time): they include
Python's own overhead, the same for every store. Everything started here
is stopped at the end.

usage: tracker/scale_bench.py [--build build] [--conns N] [--samples N] [--store standalone|cluster|all]
"""
import argparse
import hashlib
import hmac
import json
import os
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

procs = []


def free_port(bus=False):
    for _ in range(200):
        p = random.randint(20000, 24999)
        ok = True
        for q in ([p, p + 10000] if bus else [p]):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind(("127.0.0.1", q))
                except OSError:
                    ok = False
                finally:
                    s.close()
        if ok:
            return p
    raise SystemExit("no free port")


def start(argv, **kw):
    p = subprocess.Popen(["timeout", "600"] + argv, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
    procs.clear()


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True,
                          text=True, timeout=30).stdout.strip()


def wait_for(pred, timeout=30.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def start_standalone(work):
    port = free_port()
    start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
           "--appendonly", "no", "--dir", work, "--logfile", os.path.join(work, "redis.log")])
    if not wait_for(lambda: redis_cli(port, "ping") == "PONG"):
        raise SystemExit("redis-server did not start")
    return "redis://127.0.0.1:%d" % port, [port]


def start_cluster(work):
    ports = []
    for _ in range(3):
        p = free_port(bus=True)
        while p in ports:
            p = free_port(bus=True)
        ports.append(p)
        d = os.path.join(work, "n%d" % p)
        os.makedirs(d)
        start(["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
               "--cluster-config-file", os.path.join(d, "nodes.conf"), "--save", "",
               "--appendonly", "no", "--dir", d, "--logfile", os.path.join(d, "redis.log")])
    for p in ports:
        if not wait_for(lambda: redis_cli(p, "ping") == "PONG"):
            raise SystemExit("redis-server %d did not start" % p)
    subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports] +
                   ["--cluster-yes"], capture_output=True, timeout=60, check=True)
    if not wait_for(lambda: all("cluster_state:ok" in redis_cli(p, "cluster", "info")
                                for p in ports)):
        raise SystemExit("cluster not ok")
    return "redis-cluster://" + ",".join("127.0.0.1:%d" % p for p in ports[:2]), ports


# ---- the tracker protocol (docs/PROTOCOL.md) -----------------------------------

VERSION = 2


def msg(typ, req, body=b""):
    return struct.pack(">BBBBHHI", 0x51, 0x54, VERSION, typ, 12 + len(body), 0, req) + body


def cid(b):
    return bytes([len(b)]) + b


def addr4(ip, port):
    return b"\x04" + struct.pack(">H", port) + socket.inet_aton(ip)


def report_dcid_new(odcid, dcid, client_port, seq=1):
    """A new connection with one DCID, in one datagram: a REFRESH (only OPEN and
    REFRESH create a connection), with its secret and MAC (docs/PROTOCOL.md)."""
    c = addr4("127.0.0.1", client_port)
    secret = odcid.ljust(16, b"\x5e")[:16]
    rec = (cid(odcid) + b"\x00" + b"\x00" + struct.pack(">IBBBB", 0, len(dcid), 0, 0, 1) +
           cid(dcid) + b"\x00" + b"\x01" + c)
    body = cid(odcid) + c + c + struct.pack(">I", seq) + rec + secret
    mac = hmac.new(secret, bytes([VERSION, 0x06]) + body, hashlib.sha256).digest()[:16]
    return msg(0x06, 0, body + mac + b"\x00")


def query(req, dcid):
    return msg(0x10, req, cid(dcid) + b"\x00" + struct.pack(">I", 0))


def recv_msg(s, buf):
    while True:
        if len(buf) >= 12:
            ln = struct.unpack(">H", buf[4:6])[0]
            if len(buf) >= ln:
                return buf[3], buf[12:ln], buf[ln:]
        d = s.recv(65536)
        if not d:
            raise SystemExit("tracker closed the session")
        buf += d


def stats(port):
    out = subprocess.run([CTL, "--tracker", "127.0.0.1:%d" % port, "--json", "stats"],
                         capture_output=True, text=True, timeout=10).stdout
    return json.loads(out)


def start_tracker(store, ttl="600s"):
    port = free_port()
    start([TRK, "--listen", "127.0.0.1:%d" % port, "--store", store, "--trust", "any",
           "--max-per-ip", "0", "--max-conns", "0", "--ttl", ttl, "--log-level", "warn"])
    if not wait_for(lambda: stats_ok(port, store)):
        raise SystemExit("tracker did not come up")
    return port


def stats_ok(port, store):
    try:
        st = stats(port)
    except (ValueError, subprocess.TimeoutExpired):
        return False
    return store == "memory" or st.get("store_up") == 1


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def run(store_kind, k, args, work):
    if store_kind == "memory":
        store, rports = "memory", []
    elif store_kind == "standalone":
        store, rports = start_standalone(work)
    else:
        store, rports = start_cluster(work)
    tports = [start_tracker(store) for _ in range(k)]
    res = {"store": store_kind, "trackers": k}
    n = args.conns
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    base = random.randint(0, 1 << 30)
    # Replicated updates: N new connections, round robin over the trackers.
    t0 = time.time()
    for i in range(n):
        o = struct.pack(">II", base, i)
        udp.sendto(report_dcid_new(o, b"\xd0" + o, 1024 + i % 60000), ("127.0.0.1", tports[i % k]))
        if i % 200 == 199:
            time.sleep(0.0005)  # stay inside the socket buffers
    sent = time.time()

    def query_latency(port, index):
        """p50 and p99 (us) of QUERYs at tracker |port|, one at a time, of connections index(j)."""
        q = socket.create_connection(("127.0.0.1", port))
        q.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        lat = []
        buf = b""
        for j in range(args.samples):
            d = b"\xd0" + struct.pack(">II", base, index(j))
            a = time.perf_counter()
            q.sendall(query(j, d))
            typ, _, buf = recv_msg(q, buf)
            lat.append((time.perf_counter() - a) * 1e6)
            assert typ == 0x20, typ
        q.close()
        return round(pct(lat, 0.5)), round(pct(lat, 0.99))

    def done():
        for p in tports:
            st = stats(p)
            if st["conns"] < n or st.get("store_inflight", 0) > 0:
                return False
        return True
    if not wait_for(done, timeout=120, step=0.02):
        res["updates_incomplete"] = [stats(p)["conns"] for p in tports]
    t1 = time.time()
    res["updates_per_s"] = round(n / (t1 - t0))
    res["send_s"] = round(sent - t0, 3)
    # Report at tracker 1 -> push at tracker K.
    sub = socket.create_connection(("127.0.0.1", tports[-1]))
    sub.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sub.sendall(msg(0x11, 1, bytes([1, 0]) + b"\x00"))
    buf = b""
    typ, _, buf = recv_msg(sub, buf)
    lat = []
    for j in range(args.samples):
        o = struct.pack(">III", base, 0xfffff, j)
        a = time.perf_counter()
        udp.sendto(report_dcid_new(o, b"\xe0" + o, 2000), ("127.0.0.1", tports[0]))
        while True:
            typ, body, buf = recv_msg(sub, buf)
            if typ == 0x22 and body[2:2 + body[1]] == o:
                break
        lat.append((time.perf_counter() - a) * 1e6)
    sub.close()
    res["push_p50_us"] = round(pct(lat, 0.5))
    res["push_p99_us"] = round(pct(lat, 0.99))
    # Queries at tracker K of records reported at tracker 1 (held there).
    # (j * k) % n: reported at tracker 1.
    res["query_local_p50_us"], res["query_local_p99_us"] = \
        query_latency(tports[-1], lambda j: (j * k) % n)
    if store_kind != "memory":
        # A tracker started now reads through (not held locally yet).
        late = start_tracker(store)
        res["query_readthrough_p50_us"], res["query_readthrough_p99_us"] = \
            query_latency(late, lambda j: (j * 7919) % n)
        # Bytes per connection inside Redis: its record, sequence and 2 index keys.
        tot, cnt = 0, 0
        for i in range(0, n, max(1, n // 200)):
            o = struct.pack(">II", base, i).hex()
            tag = "{%s}:127.0.0.1:%d" % (o, 1024 + i % 60000)
            node = rports[0]
            if store_kind == "cluster":
                cmd = lambda *a: subprocess.run(["redis-cli", "-c", "-p", str(node)] + list(a),
                                                capture_output=True, text=True).stdout.strip()
            else:
                cmd = lambda *a: redis_cli(node, *a)
            b = 0
            for key in ("qc:" + tag, "qs:" + tag, "qi:{%s}" % o, "qi:{d0%s}" % o):
                v = cmd("memory", "usage", key)
                b += int(v) if v.isdigit() else 0
            tot += b
            cnt += 1
        res["redis_bytes_per_conn"] = round(tot / cnt)
    st = stats(tports[0])
    res["tracker_bytes_per_conn"] = st["bytes_per_conn"]
    for key in ("store_write_errors", "store_unsent", "store_redirects", "store_remote_gaps"):
        if key in st:
            res[key] = st[key]
    stop_all()
    return res


def main():
    global TRK, CTL
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--conns", type=int, default=20000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--store", default="all", choices=["memory", "standalone", "cluster", "all"])
    ap.add_argument("--json")
    args = ap.parse_args()
    TRK = os.path.join(args.build, "qasm-tracker")
    CTL = os.path.join(args.build, "qasm-trackctl")
    for b in ("redis-server", "redis-cli"):
        if shutil.which(b) is None:
            raise SystemExit("%s not installed (scripts/deps.sh)" % b)
    kinds = ["memory", "standalone", "cluster"] if args.store == "all" else [args.store]
    results = []
    try:
        for kind in kinds:
            for k in ([1] if kind == "memory" else [1, 2, 3]):
                work = tempfile.mkdtemp(prefix="qasm-scale-")
                try:
                    r = run(kind, k, args, work)
                finally:
                    stop_all()
                    shutil.rmtree(work, ignore_errors=True)
                print(json.dumps(r), flush=True)
                results.append(r)
    finally:
        stop_all()
    cols = ["store", "trackers", "updates_per_s", "push_p50_us", "push_p99_us",
            "query_local_p50_us", "query_local_p99_us", "query_readthrough_p50_us",
            "query_readthrough_p99_us", "redis_bytes_per_conn", "tracker_bytes_per_conn"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r.get(c, "-")) for c in cols) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


TRK = CTL = None
if __name__ == "__main__":
    main()
