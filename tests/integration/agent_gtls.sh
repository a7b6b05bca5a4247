#!/usr/bin/env bash
# agent_gtls.sh: the client agent with a real, unmodified ngtcp2 client.
# Debian's gtlsclient (ngtcp2-client) downloads 30 MB from Debian's gtlsserver
# (ngtcp2-server) on 127.0.0.1 with build/libqasm-agent.so preloaded and
# --change-local-addr mid-transfer. Checks:
#   - qasm-trackctl --json dump (while the connection is alive) shows one
#     connection whose odcid is the DCID of the client's first Initial (taken
#     from a dumpcap capture on lo), >= 2 DCIDs, both client addresses;
#   - every DCID the client used on the wire was reported to the tracker
#     (same capture: the agent's report datagrams are in it too);
#   - the download is byte-exact;
#   - after the client exits the connection is closed at the tracker;
#   - a second run with --exit-on-all-streams-close (local close) is reported
#     closed too, with spare CIDs learnt through gtlsclient's chained qlog;
#   - gtlsserver runs with the agent preloaded: server connections untouched;
#   - inert without QASM_TRACKER; harmless with the tracker down; the ABI
#     guard passes through (one warning) for another libngtcp2 version;
#   - Retry (gtlsserver -V): O-DCID kept, Retry SCID retired; server preferred
#     address: the tracker's server address follows the client.
# Everything runs under timeout; a trap kills what was started.
set -u
. "$(dirname "$0")/test_lib.sh"
B=${QASM_BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
AGENT=$(readlink -f "$B/libqasm-agent.so")
TRACKER=$B/qasm-tracker
CTL=$B/qasm-trackctl
for x in "$AGENT" "$TRACKER" "$CTL"; do
    [ -x "$x" ] || [ -f "$x" ] || { echo "SKIP-FAIL: $x not built"; exit 1; }
done
command -v gtlsclient >/dev/null && command -v gtlsserver >/dev/null ||
    { echo "FAIL: gtlsclient/gtlsserver missing (Debian ngtcp2-client, ngtcp2-server)"; exit 1; }

T=$(mktemp -d /tmp/qasm-agent-gtls.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }

freeport() { reserve_ports 1; }   # reserved until exit: see test_lib.sh
# Waits (up to 30 s, scaled) until something listens on UDP port $1 of 127.0.0.1.
wait_udp() { wait_until 30 udp_bound "$1"; }
TP=$(freeport); SP=$(freeport)
[ "$TP" != "$SP" ] || SP=$(freeport)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1 ||
    fail "openssl could not make a test certificate"
mkdir -p "$T/htdocs" "$T/dl" "$T/dl2"
head -c 30000000 /dev/urandom >"$T/htdocs/big.bin"

timeout "$(scaled 200)" "$TRACKER" --listen "127.0.0.1:$TP" --close-linger 60s --log-level warn \
    >"$T/tracker.log" 2>&1 &
PIDS+=($!)
# The server runs with the agent preloaded too: server connections must be left
# alone (the dumps below must hold exactly the client's connections).
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_LOG=info \
    timeout "$(scaled 200)" gtlsserver -q -d "$T/htdocs" 127.0.0.1 "$SP" "$T/key.pem" "$T/cert.pem" \
    >"$T/server.log" 2>&1 &
PIDS+=($!)
CAP=$T/cap.pcap
timeout "$(scaled 200)" dumpcap -q -P -B 64 -i lo -f "udp port $SP or udp port $TP" -w "$CAP" >"$T/dumpcap.log" 2>&1 &
CAPPID=$!
PIDS+=($CAPPID)
wait_until 30 test -s "$CAP" || fail "dumpcap did not start"
wait_udp "$TP" || fail "tracker did not start"
wait_udp "$SP" || fail "gtlsserver did not start"

ctl() { timeout "$(scaled 30)" "$CTL" --tracker "127.0.0.1:$TP" --timeout "$(scaled 30)s" "$@"; }

# Run 1: migration 50 ms after the handshake (mid-transfer), then idle until
# the 3 s idle timeout, so the live connection can be dumped.
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_LOG=info \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --timeout=3s \
    --change-local-addr=50ms --download "$T/dl" --qlog-file "$T/client.qlog" \
    127.0.0.1 "$SP" https://localhost/big.bin >"$T/client.log" 2>&1 &
CPID=$!
PIDS+=($CPID)

# Poll the tracker until the download is done and the migration reported
# (while the client lives: 30 s, scaled, at most).
LIVE=""
end=$((SECONDS + $(scaled 30)))
while [ $SECONDS -lt $end ] && kill -0 "$CPID" 2>/dev/null; do
    sleep 0.1
    ctl --json dump >"$T/dump.json" 2>"$T/ctl.log" || continue
    if python3 - "$T/dump.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
c = d.get("connections", [])
sys.exit(0 if len(c) == 1 and len(c[0]["clients"]) >= 2 and len(c[0]["dcids"]) >= 2 else 1)
EOF
    then
        LIVE=1
        break
    fi
done
[ -n "$LIVE" ] || fail "tracker never showed one connection with >=2 DCIDs and 2 clients: $(cat "$T/dump.json")"
kill -0 "$CPID" 2>/dev/null || fail "client exited before the live dump"
echo "live dump: $(cat "$T/dump.json")"

wait "$CPID"
echo "client exit status $? (idle close)"
cmp -s "$T/htdocs/big.bin" "$T/dl/big.bin" || fail "download differs from the served file"
echo "download byte-exact (30000000 bytes)"
grep "qasm-agent" "$T/client.log" | tail -2

# After exit: closed at the tracker (still lingering, flagged closed); the close
# report is a datagram, so wait for it (the check below says what was seen).
dump_until "$TP" "$T/dump_after.json" "any(c.get('closed') for c in d['connections'])" ||
    ctl --json dump >"$T/dump_after.json" 2>>"$T/ctl.log" || fail "trackctl dump failed after exit"
echo "dump after exit: $(cat "$T/dump_after.json")"

# Run 2: local close (--exit-on-all-streams-close), no idle wait; spare CIDs
# learnt through the qlog hook (QASM_AGENT_PREREG=qlog), chained to gtlsclient's.
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_LOG=info QASM_AGENT_PREREG=qlog \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --change-local-addr=50ms --download "$T/dl2" --qlog-file "$T/client2.qlog" \
    127.0.0.1 "$SP" https://localhost/big.bin >"$T/client2.log" 2>&1 ||
    fail "second gtlsclient run failed"
cmp -s "$T/htdocs/big.bin" "$T/dl2/big.bin" || fail "second download differs"
dump_until "$TP" "$T/dump_after2.json" "len(d['connections']) == 2 and all(c.get('closed') for c in d['connections'])" ||
    ctl --json dump >"$T/dump_after2.json" 2>>"$T/ctl.log" || fail "trackctl dump failed after run 2"
# The capture covers runs 1 and 2 only (runs 3-4 report nothing on purpose). The
# tracker has every report by now; the pause lets dumpcap read what is queued.
sleep 0.5
kill -INT "$CAPPID" 2>/dev/null
wait "$CAPPID" 2>/dev/null

# Run 3: without QASM_TRACKER the agent is inert (no output, nothing sent).
rm -f "$T/dl2/big.bin"
LD_PRELOAD=$AGENT timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump \
    --exit-on-all-streams-close --download "$T/dl2" 127.0.0.1 "$SP" https://localhost/big.bin \
    >"$T/client3.log" 2>&1 || fail "gtlsclient with an inert agent failed"
cmp -s "$T/htdocs/big.bin" "$T/dl2/big.bin" || fail "download with an inert agent differs"
! grep -q qasm-agent "$T/client3.log" || fail "inert agent wrote: $(cat "$T/client3.log")"
echo "ok   inert without QASM_TRACKER (no output, download byte-exact)"

# Run 4: tracker unreachable (a closed port): the connection is unaffected.
DEAD=$(freeport)
rm -f "$T/dl2/big.bin"
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$DEAD QASM_AGENT_LOG=info \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --change-local-addr=50ms --download "$T/dl2" 127.0.0.1 "$SP" https://localhost/big.bin \
    >"$T/client4.log" 2>&1 || fail "gtlsclient with the tracker down failed"
cmp -s "$T/htdocs/big.bin" "$T/dl2/big.bin" || fail "download with the tracker down differs"
echo "ok   tracker down: download byte-exact; agent: $(grep -o 'exit: .*' "$T/client4.log")"

# Run 5: ABI guard. A libngtcp2 of another version (simulated with the test hook
# QASM_AGENT_TEST_NGTCP2_VERSION) gets one warning and untouched pass-through.
rm -f "$T/dl2/big.bin"
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_TEST_NGTCP2_VERSION=010200 \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --change-local-addr=50ms --download "$T/dl2" 127.0.0.1 "$SP" https://localhost/big.bin \
    >"$T/client5.log" 2>&1 || fail "gtlsclient under the ABI guard failed"
cmp -s "$T/htdocs/big.bin" "$T/dl2/big.bin" || fail "download under the ABI guard differs"
[ "$(grep -c qasm-agent "$T/client5.log")" = 1 ] && grep -q "not the 0.12.x ABI" "$T/client5.log" ||
    fail "ABI guard: expected exactly one warning: $(cat "$T/client5.log")"
sleep 0.3
ctl --json dump >"$T/dump5.json" 2>>"$T/ctl.log" || fail "trackctl dump failed after run 5"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
sys.exit(0 if len(a["connections"]) == len(b["connections"]) else 1)' "$T/dump_after2.json" "$T/dump5.json" ||
    fail "ABI guard: the agent reported something: $(cat "$T/dump5.json")"
echo "ok   ABI guard: one warning ($(grep -o 'libngtcp2 version.*' "$T/client5.log")), nothing reported, download byte-exact"

# Run 6: Retry (gtlsserver -V). The O-DCID is still the DCID of the client's
# first Initial (qlog group_id), not the Retry SCID; the Retry SCID is retired.
SPV=$(freeport)
timeout "$(scaled 200)" gtlsserver -q -V -d "$T/htdocs" 127.0.0.1 "$SPV" "$T/key.pem" "$T/cert.pem" \
    >"$T/server6.log" 2>&1 &
PIDS+=($!)
wait_udp "$SPV" || fail "gtlsserver -V did not start"
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_LOG=debug \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --qlog-file "$T/client6.qlog" 127.0.0.1 "$SPV" https://localhost/big.bin \
    >"$T/client6.log" 2>&1 || fail "gtlsclient against a Retry server failed"
ODCID6=$(grep -o '"group_id":"[0-9a-f]*"' "$T/client6.qlog" | head -1 | cut -d'"' -f4)
dump_until "$TP" "$T/dump6.json" "any(c['odcid'] == '$ODCID6' and c.get('closed') for c in d['connections'])" ||
    ctl --json dump >"$T/dump6.json" 2>>"$T/ctl.log" || fail "trackctl dump failed after run 6"
python3 - "$T/dump6.json" "$T/client6.qlog" "$T/client6.log" <<'EOF' || fail "Retry checks failed"
import json, re, sys
dump = json.load(open(sys.argv[1]))
odcid = re.search(r'"group_id":"([0-9a-f]+)"', open(sys.argv[2]).read()).group(1)
log = open(sys.argv[3]).read()
retired = re.findall(r"dcid-retired seq=-1 cid=([0-9a-f]+)", log)
conns = [c for c in dump["connections"] if c["odcid"] == odcid]
ok = len(conns) == 1 and len(retired) == 1 and retired[0] not in conns[0]["dcids"] and conns[0]["closed"]
print(("ok   " if ok else "FAIL ") + "Retry: tracker odcid = first Initial DCID %s; Retry SCID %s retired" % (odcid, retired))
sys.exit(0 if ok else 1)
EOF

# Run 7: server preferred address (gtlsserver --preferred-ipv4-addr): the client
# moves to it after the handshake; the tracker's server address follows.
SPP=$(freeport); SPQ=$(freeport)
timeout "$(scaled 200)" gtlsserver -q --preferred-ipv4-addr="127.0.0.1:$SPQ" -d "$T/htdocs" 127.0.0.1 "$SPP" \
    "$T/key.pem" "$T/cert.pem" >"$T/server7.log" 2>&1 &
PIDS+=($!)
wait_udp "$SPP" && wait_udp "$SPQ" || fail "gtlsserver with a preferred address did not start"
rm -f "$T/dl2/big.bin"
LD_PRELOAD=$AGENT QASM_TRACKER=127.0.0.1:$TP QASM_AGENT_LOG=info \
    timeout "$(scaled 60)" gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --download "$T/dl2" --qlog-file "$T/client7.qlog" 127.0.0.1 "$SPP" https://localhost/big.bin \
    >"$T/client7.log" 2>&1 || fail "gtlsclient with a preferred address failed"
cmp -s "$T/htdocs/big.bin" "$T/dl2/big.bin" || fail "download via the preferred address differs"
dump_until "$TP" "$T/dump7.json" "any(c['server'] == '127.0.0.1:$SPQ' for c in d['connections'])" ||
    ctl --json dump >"$T/dump7.json" 2>>"$T/ctl.log" || fail "trackctl dump failed after run 7"
python3 - "$T/dump7.json" "$T/client7.qlog" "$SPQ" <<'EOF' || fail "preferred address checks failed"
import json, re, sys
dump = json.load(open(sys.argv[1]))
odcid = re.search(r'"group_id":"([0-9a-f]+)"', open(sys.argv[2]).read()).group(1)
conns = [c for c in dump["connections"] if c["odcid"] == odcid]
ok = len(conns) == 1 and conns[0]["server"] == "127.0.0.1:" + sys.argv[3]
print(("ok   " if ok else "FAIL ") + "preferred address: tracker server address %s"
      % (conns[0]["server"] if conns else None))
sys.exit(0 if ok else 1)
EOF

python3 "$HERE/agent_wire.py" "$CAP" "$SP" "$TP" >"$T/wire.json" || fail "capture analysis failed"
echo "wire: $(cat "$T/wire.json")"

python3 - "$T/dump.json" "$T/dump_after.json" "$T/dump_after2.json" "$T/wire.json" "$T/client.qlog" "$T/client2.qlog" "$T/client2.log" <<'EOF' || fail "checks failed"
import json, re, sys
live, after, after2, wire = (json.load(open(p)) for p in sys.argv[1:5])
qlog = open(sys.argv[5]).read()
qlog2 = open(sys.argv[6]).read()
log2 = open(sys.argv[7]).read()
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
conn = live["connections"][0]
check(wire["odcid"] is not None, "first Initial found in the capture")
check(conn["odcid"] == wire["odcid"], "tracker odcid %s == first Initial DCID %s" % (conn["odcid"], wire["odcid"]))
check(len(conn["dcids"]) >= 2, "%d DCIDs known for the live connection" % len(conn["dcids"]))
ports = wire["client_ports"]
check(len(ports) >= 2, "capture shows client ports %s" % ports)
clients = conn["clients"]
def port_of(a):
    return int(a.rsplit(":", 1)[1])
check(len(clients) >= 2 and port_of(clients[0]) == ports[0] and port_of(clients[-1]) in ports[1:],
      "tracker client addresses %s match the capture's ports (first %d, migrated %s)" % (clients, ports[0], ports[1:]))
# Run 1 after exit: flagged closed (the tracker lingers 60 s here).
c1 = [c for c in after["connections"] if c["odcid"] == conn["odcid"]]
check(len(c1) == 1 and c1[0].get("closed") is True, "run 1 connection closed at the tracker after exit")
# Run 2: a second connection, also closed.
c2 = [c for c in after2["connections"] if c["odcid"] != conn["odcid"]]
check(len(c2) == 1 and c2[0].get("closed") is True, "run 2 connection (local close) closed at the tracker")
check('"group_id":"%s"' % wire["odcid"] in qlog and qlog.count("new_connection_id") > 0,
      "run 1: gtlsclient's own qlog intact (%d bytes)" % len(qlog))
# Run 2: the agent's qlog hook chains gtlsclient's writer and learns the spares from it.
m = re.search(r"(\d+) spares pre-registered", log2)
check(qlog2.count("new_connection_id") > 0 and qlog2.rstrip().endswith("}") and m and int(m.group(1)) > 0,
      "run 2 (PREREG=qlog): gtlsclient's qlog written through the hook (%d bytes), %s spares learnt"
      % (len(qlog2), m.group(1) if m else "no"))
check(not wire["unknown"], "every DCID used on the wire was reported (unknown: %s)" % wire["unknown"])
print("DCIDs used on the wire: %d, reported before first use: %d, late: %d"
      % (len(wire["wire_dcids"]), wire["before_first_use"], len(wire["late"])))
sys.exit(0 if ok else 1)
EOF
echo "PASS agent_gtls"
