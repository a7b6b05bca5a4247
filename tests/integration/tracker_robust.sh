#!/usr/bin/env bash
# tracker_robust.sh: qasm-tracker against bad and awkward peers, with raw
# protocol bytes from python3: unknown version/type and malformed bodies get
# ERROR replies on a session that keeps working; a bad header closes only
# that session; 200 pipelined queries are all answered with their req_ids;
# sessions that vanish with waits and subscriptions pending; UNSUBSCRIBE;
# TTL expiry pushed to a subscriber; caps (--max-conns, --max-per-ip).
set -u
. "$(dirname "$0")/test_lib.sh"
# QASM_TRACKER_STORE=SPEC runs the tracker with --store SPEC (tracker_redis.sh).
B=${QASM_BUILD:-build}
TRK=$B/qasm-tracker
CTL=$B/qasm-trackctl
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
  release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$work/tracker.err"; exit 1; }
ok() { echo "ok: $*"; }
free_port() { reserve_ports 1 || echo 0; }   # reserved: see test_lib.sh

P=$(free_port)
timeout "$(scaled 300)" "$TRK" --listen "127.0.0.1:$P" --ttl 3s --close-linger 1s --max-conns 5 \
  --max-per-ip 3 --log-level debug ${QASM_TRACKER_STORE:+--store "$QASM_TRACKER_STORE"} 2>"$work/tracker.err" &
pids+=($!)
C=("$CTL" --tracker "127.0.0.1:$P" --timeout "$(scaled 30)s")
for _ in $(seq 1 $(scaled 600)); do "${C[@]}" stats >/dev/null 2>&1 && break; sleep 0.1; done
"${C[@]}" stats >/dev/null 2>&1 || fail "tracker did not come up"

timeout "$(scaled 120)" "$QASM_PYTHON" - "$P" <<'EOF' || fail "raw protocol checks"
import os, socket, struct, sys, time
port = int(sys.argv[1])

def msg(typ, req, body=b"", version=2):
    return struct.pack(">BBBBHHI", 0x51, 0x54, version, typ, 12 + len(body), 0, req) + body

def query(req, cid, wait=0):
    return msg(0x10, req, bytes([len(cid)]) + cid + b"\x00" + struct.pack(">I", wait))

def sub(typ, req, cid, flags=0):
    return msg(typ, req, bytes([flags, len(cid)]) + cid + b"\x00")

def recv_msgs(s, n, timeout=30.0 * float(os.environ.get("QASM_TEST_SLOWDOWN", "1"))):
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        while len(buf) >= 12 and len(buf) >= struct.unpack(">H", buf[4:6])[0]:
            ln = struct.unpack(">H", buf[4:6])[0]
            out.append((buf[3], struct.unpack(">I", buf[8:12])[0], buf[12:ln]))
            buf = buf[ln:]
        if len(out) >= n:
            break
        d = s.recv(65536)
        if not d:
            raise SystemExit("session closed early")
        buf += d
    return out

def connect():
    return socket.create_connection(("127.0.0.1", port))

# Unknown version, unknown type, malformed body: ERROR replies, session lives on.
s = connect()
s.sendall(msg(0x10, 1, b"\x00", version=9) + msg(0x7e, 2) + msg(0x10, 3, b"\x15") + msg(0x14, 4))
r = recv_msgs(s, 4)
assert [x[0] for x in r] == [0x24, 0x24, 0x24, 0x25], r
assert [x[1] for x in r] == [1, 2, 3, 4], r
assert [struct.unpack(">H", x[2][:2])[0] for x in r[:3]] == [1, 2, 3], r
print("ok: ERROR replies for bad version/type/body; STATS on the same session")

# 200 pipelined queries in one write: 200 NOT_FOUND replies, req_ids in order.
s.sendall(b"".join(query(1000 + i, bytes([i % 256, 7])) for i in range(200)))
r = recv_msgs(s, 200)
assert all(x[0] == 0x21 for x in r), r[:3]
ids = [x[1] for x in r]
if os.environ.get("QASM_TRACKER_STORE"):
    # A shared store answers the lookups of several nodes: matched by req_id.
    ids.sort()
assert ids == [1000 + i for i in range(200)], ids
print("ok: 200 pipelined queries answered" + ("" if os.environ.get("QASM_TRACKER_STORE") else " in order"))

# A bad header closes only this session.
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
s.settimeout(30 * float(os.environ.get("QASM_TEST_SLOWDOWN", "1")))
assert s.recv(100) == b""
s.close()
print("ok: bad header closes the session")

# Sessions vanishing with a wait and subscriptions pending.
for _ in range(20):
    t = connect()
    t.sendall(query(1, b"\xee\xee", wait=800) + sub(0x11, 2, b"\xdd\xdd") + sub(0x11, 3, b"", flags=1))
    t.close()
time.sleep(0.2)
# UNSUBSCRIBE: pending then gone.
u = connect()
u.sendall(sub(0x11, 5, b"\xcc\xcc"))
assert recv_msgs(u, 1)[0][0] == 0x23
u.sendall(sub(0x12, 6, b"\xcc\xcc"))
r = recv_msgs(u, 1)[0]
assert r[0] == 0x23 and r[1] == 6 and struct.unpack(">I", r[2])[0] == 1, r
u.sendall(sub(0x12, 7, b"\xcc\xcc"))
assert recv_msgs(u, 1)[0][0] == 0x21
# A wait that times out: NOT_FOUND.
u.sendall(query(8, b"\xab\xab", wait=50))
r = recv_msgs(u, 1)[0]
assert r[0] == 0x21 and r[1] == 8, r
u.close()
print("ok: vanished sessions, UNSUBSCRIBE, wait timeout")
EOF
ok "raw protocol checks"

# TTL expiry is pushed to a subscriber (TTL 3s).
timeout "$(scaled 120)" "${C[@]}" --json watch 0a0a >"$work/watch.out" 2>"$work/watch.err" &
W=$!; pids+=("$W")
for _ in $(seq 1 $(scaled 600)); do grep -q watching "$work/watch.err" && break; sleep 0.05; done
"${C[@]}" report --odcid 0a0a --dcid 0b0b --client 127.0.0.1:1000 --server 127.0.0.1:443 --seq 1 >/dev/null
wait $W || fail "watch did not end"
events=$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["event"] for l in open(sys.argv[1])))' "$work/watch.out")
[ "$events" = "opened expired" ] || fail "expiry events: '$events'"
ok "TTL expiry pushed"

# Caps: 3 per IP, 5 in all.
for i in 1 2 3 4; do
  "${C[@]}" report --odcid "1${i}1${i}" --client "127.0.0.1:200$i" --server 127.0.0.1:443 --seq 1 >/dev/null
done
for i in 1 2 3; do
  "${C[@]}" report --odcid "2${i}2${i}" --client "127.0.0.2:200$i" --server 127.0.0.1:443 --seq 1 >/dev/null
done
for _ in $(seq 1 $(scaled 600)); do
  "${C[@]}" --json stats >"$work/stats.json"
  # (and the vanished sessions' waits and subscriptions are gone)
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["rejected_ip_cap"]>=1 and d["rejected_max_conns"]>=1 and d["waiting"]==0 and d["subscribers"]==0 else 1)' "$work/stats.json" && break
  sleep 0.1
done
python3 - "$work/stats.json" <<'EOF' || fail "caps"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["rejected_ip_cap"] == 1 and d["rejected_max_conns"] == 1, d
assert d["conns"] <= 5 and d["framing_errors"] == 1, d
assert d["bad_version_tcp"] == 1 and d["unknown_type_tcp"] == 1 and d["malformed_tcp"] == 1, d
assert d["waiting"] == 0 and d["subscribers"] == 0, d
EOF
ok "caps and counters"
kill -TERM "$(pgrep -P "${pids[0]}" -x qasm-tracker)"
wait "${pids[0]}" || fail "tracker exit status"
echo "PASS tracker_robust.sh"
