#!/usr/bin/env bash
# h3_download.sh: qasm-h3-client <-> qasm-h3-server on loopback.
#   - downloads of several sizes over IPv4 are byte-exact (--output compared with
#     an independently generated file) and pass --verify;
#   - 20 MB with UDP GSO (--gso) on both sides, IPv4 and IPv6, byte-exact;
#   - a 5 MB download over IPv6 is byte-exact;
#   - 50 connections x 4 requests at once, all ok;
#   - GET /, GET /stats (JSON), a 404 makes the client exit non-zero;
#   - a short-header packet for an unknown DCID is counted (unknown_dcid) and
#     answered with a stateless reset;
#   - the server prints its JSON summary at SIGTERM; bad flags exit non-zero.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/h3_lib.sh"

P=$(freeport)
start_server srv --listen "127.0.0.1:$P" --listen "[::1]:$P" --idle-timeout 5s
URL=https://127.0.0.1:$P

for n in 0 1 1000 65521 65522 1048576 20000000; do
    timeout 60 "$CLI" --json --verify --idle-timeout 5s --output "$T/out.$n" "$URL/bytes/$n" \
        >"$T/c.$n.json" 2>"$T/c.$n.log" || fail "download of $n bytes: exit $?"
    pattern "$n" "$T/exp.$n"
    cmp -s "$T/out.$n" "$T/exp.$n" || fail "download of $n bytes differs"
    [ "$(jget "$T/c.$n.json" bytes)" = "$n" ] || fail "json bytes != $n"
    [ "$(jget "$T/c.$n.json" requests_ok)" = 1 ] || fail "requests_ok != 1 for $n"
    rm -f "$T/out.$n" "$T/exp.$n"
done
echo "ok: IPv4 downloads byte-exact (0 B .. 20 MB)"

# Same with UDP GSO on both sides (a second server), IPv4 and IPv6.
P2=$(freeport)
start_server gso --listen "127.0.0.1:$P2" --listen "[::1]:$P2" --gso
for u in "https://127.0.0.1:$P2/bytes/20000000" "https://[::1]:$P2/bytes/20000000"; do
    timeout 60 "$CLI" --json --verify --gso --output "$T/outg" "$u" >"$T/cg.json" 2>"$T/cg.log" ||
        fail "--gso download $u: exit $?"
    pattern 20000000 "$T/expg"
    cmp -s "$T/outg" "$T/expg" || fail "--gso download $u differs"
done
stop_server gso
echo "ok: --gso downloads byte-exact (IPv4, IPv6)"

timeout 60 "$CLI" --json --verify --output "$T/out6" "https://[::1]:$P/bytes/5000000" \
    >"$T/c6.json" 2>"$T/c6.log" || fail "IPv6 download: exit $?"
pattern 5000000 "$T/exp6"
cmp -s "$T/out6" "$T/exp6" || fail "IPv6 download differs"
echo "ok: IPv6 download byte-exact"

timeout 120 "$CLI" --json --verify --connections 50 --requests 4 --concurrency 2 --size 200k \
    "$URL/" >"$T/many.json" 2>"$T/many.log" || fail "50 connections: exit $?"
[ "$(jget "$T/many.json" requests_ok)" = 200 ] || fail "50x4: requests_ok != 200"
[ "$(jget "$T/many.json" requests_failed)" = 0 ] || fail "50x4: failures"
[ "$(jget "$T/many.json" bytes)" = $((200 * 204800)) ] || fail "50x4: bytes"
echo "ok: 50 connections x 4 requests"

timeout 30 "$CLI" --output "$T/index" "$URL/" 2>"$T/idx.log" || fail "GET /: exit $?"
grep -q qasm-h3-server "$T/index" || fail "GET / content"
timeout 30 "$CLI" --output "$T/stats" "$URL/stats" 2>"$T/st.log" || fail "GET /stats: exit $?"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["requests"]>=200' "$T/stats" ||
    fail "/stats is not the expected JSON"
if timeout 30 "$CLI" --json "$URL/nope" >"$T/nf.json" 2>"$T/nf.log"; then
    fail "a 404 did not make the client fail"
fi
[ "$(jget "$T/nf.json" requests_failed)" = 1 ] || fail "404 not counted as failed"
echo "ok: /, /stats, 404"

# A short-header packet with an unknown 18-byte DCID: expect a stateless reset back.
python3 - "$P" <<'PY' || fail "no stateless reset for an unknown DCID"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
pkt = bytes([0x40 | 0x01]) + os.urandom(18) + os.urandom(60)
s.sendto(pkt, ("127.0.0.1", int(sys.argv[1])))
data, _ = s.recvfrom(2048)
assert len(data) >= 21 and len(data) < len(pkt) and (data[0] & 0xc0) == 0x40, data
PY
echo "ok: stateless reset for an unknown DCID"

if "$SRV" --listen 127.0.0.1:1 --cid-len 7 2>/dev/null; then fail "--cid-len 7 accepted"; fi
if "$CLI" --bogus https://127.0.0.1:1/ 2>/dev/null; then fail "client accepted --bogus"; fi
"$SRV" --help | grep -q -- --listen || fail "server --help"
"$CLI" --help | grep -q -- --migrate-hz || fail "client --help"

stop_server srv
[ "$(jget "$T/srv.json" connections)" -ge 56 ] || fail "server summary: connections"
[ "$(jget "$T/srv.json" unknown_dcid)" -ge 1 ] || fail "server summary: unknown_dcid"
[ "$(jget "$T/srv.json" stateless_resets)" -ge 1 ] || fail "server summary: stateless_resets"
echo "ok: server JSON summary at SIGTERM"
echo "PASS"
