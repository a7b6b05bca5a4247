#!/usr/bin/env bash
# agentd_gtls.sh: the eBPF client agent (qasm-agentd) with a real, unmodified
# QUIC client and NO LD_PRELOAD. Debian's gtlsclient (ngtcp2-client), placed in
# a cgroup v2 this test creates, downloads 30 MB from Debian's gtlsserver on
# 127.0.0.1 and migrates mid-transfer (--change-local-addr); qasm-agentd
# watches that cgroup only and reports to a tracker on 127.0.0.1. Checks:
#   - the tracker's record (qasm-trackctl --json dump) is the only one: the
#     server and every other process of the host are outside the cgroup;
#   - its odcid is the DCID of the client's first Initial (gtlsclient's qlog
#     group_id);
#   - every DCID the client used on the wire was reported, and both client
#     ports (before and after the migration) are in the record (a dumpcap
#     capture on lo read by agent_wire.py, as in agent_gtls.sh);
#   - the download is byte-exact (the programs never drop or alter);
#   - after the client exits, the daemon's idle expiry closes it at the tracker;
#   - a quic-go client (qasm-quicgo-client, an independent implementation)
#     rebinding twice mid-transfer against qasm-h3-server: the record has its
#     O-DCID and all three client ports (skipped when quic-go was not built);
#   - the daemon's counters: nothing lost (ring buffer), nothing unattributed;
#   - a daemon started after the client adopts its running connection (keyed
#     at the tracker by the DCID in use: the O-DCID was missed);
#   - --prereg gnutls (uprobes on gnutls_aead_cipher_decrypt and _encrypt): gtlsclient,
#     still without LD_PRELOAD, migrating: the DCID it migrated to was
#     reported to the tracker BEFORE its first packet on the wire (both in
#     one capture, one clock) and is in the tracker's record; when it exits
#     its record closes at once (its CONNECTION_CLOSE, seen by the encrypt
#     uprobe), not by idle expiry;
#   - the Initial packets handed up are all decrypted by the daemon (keys
#     from the O-DCID, RFC 9001); a handshake gtlsserver refuses (no common
#     key-exchange group: CONNECTION_CLOSE in its Initial) closes the record
#     at once;
#   - the quic-go client through an aware NAT (qasm-mbox nat --mode
#     reactive) rebinding twice: one NAT mapping with qasm-agentd, one per
#     client address without it;
#   - gtlsclient migrating through the same NAT to gtlsserver (Table 1):
#     one mapping with qasm-agentd, one per address without, byte-exact.
# SKIP (77) without root, a cgroup v2 hierarchy, or BPF (the daemon cannot load).
set -u
. "$(dirname "$0")/test_lib.sh"
B=${QASM_BUILD:-build}
HERE=$(cd "$(dirname "$0")" && pwd)
AGENTD=$B/qasm-agentd
TRACKER=$B/qasm-tracker
CTL=$B/qasm-trackctl
[ -x "$AGENTD" ] || { echo "SKIP: qasm-agentd not built (no BPF toolchain: make deps)"; exit 77; }
for x in "$TRACKER" "$CTL"; do [ -x "$x" ] || { echo "FAIL: $x not built"; exit 1; }; done
command -v gtlsclient >/dev/null && command -v gtlsserver >/dev/null ||
    { echo "FAIL: gtlsclient/gtlsserver missing (Debian ngtcp2-client, ngtcp2-server)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (BPF, cgroups)"; exit 77; }
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG2" ] || { echo "SKIP: no cgroup v2 hierarchy mounted"; exit 77; }
CG=$CG2/qasm-agentd-gtls-$$
mkdir "$CG" 2>/dev/null || { echo "SKIP: cannot create a cgroup under $CG2"; exit 77; }

T=$(mktemp -d /tmp/qasm-agentd-gtls.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    # The cgroup goes once its processes are gone (bounded).
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    [ -n "${KEEP:-}" ] && rm -rf /tmp/agentd-last && cp -r "$T" /tmp/agentd-last
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$T/agentd.json" 2>/dev/null; for f in "$T"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }

wait_udp() { wait_until 30 udp_bound "$1"; }
TP=$(reserve_ports 1); SP=$(reserve_ports 1)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1 ||
    fail "openssl could not make a test certificate"
mkdir -p "$T/htdocs" "$T/dl"
head -c 30000000 /dev/urandom >"$T/htdocs/big.bin"

timeout "$(scaled 600)" "$TRACKER" --listen "127.0.0.1:$TP" --close-linger 60s --log-level warn \
    >"$T/tracker.log" 2>&1 &
PIDS+=($!)
timeout "$(scaled 600)" gtlsserver -q -d "$T/htdocs" 127.0.0.1 "$SP" "$T/key.pem" "$T/cert.pem" \
    >"$T/server.log" 2>&1 &
PIDS+=($!)
wait_udp "$TP" || fail "tracker did not start"
wait_udp "$SP" || fail "gtlsserver did not start"

timeout "$(scaled 200)" "$AGENTD" --tracker "127.0.0.1:$TP" --cgroup "$CG" --idle 2s \
    --stats-json "$T/agentd.json" --log ${AGENTD_LOG:-info} >"$T/agentd.log" 2>&1 &
APID=$!
PIDS+=($APID)
wait_until 30 grep -qs "watching cgroup" "$T/agentd.log" || {
    kill -0 "$APID" 2>/dev/null || {
        grep -q "cannot load the BPF programs" "$T/agentd.log" &&
            { echo "SKIP: $(grep -m1 'cannot load' "$T/agentd.log")"; exit 77; }
        fail "qasm-agentd exited: $(cat "$T/agentd.log")"
    }
    fail "qasm-agentd did not start"
}

# start_cap FILE PORT: dumpcap on lo (the server's port and the tracker's) into FILE; sets CAPPID.
start_cap() {
    timeout "$(scaled 200)" dumpcap -q -P -B 64 -i lo -f "udp port $2 or udp port $TP" -w "$1" \
        >"$T/dumpcap.log" 2>&1 &
    CAPPID=$!
    PIDS+=($CAPPID)
    wait_until 30 test -s "$1" || fail "dumpcap did not start"
}
# stop_cap: dumpcap reads what is queued, then stops.
stop_cap() { sleep 0.5; kill -INT "$CAPPID" 2>/dev/null; wait "$CAPPID" 2>/dev/null; }
# in_cgroup CMD...: runs CMD (bounded) as a member of the test's cgroup.
in_cgroup() { timeout "$(scaled 60)" bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$CG" "$@"; }

CAP=$T/cap.pcap
start_cap "$CAP" "$SP"

# The client joins the cgroup before it execs (its sockets are created inside).
in_cgroup gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --change-local-addr=50ms --download "$T/dl" --qlog-file "$T/client.qlog" \
    127.0.0.1 "$SP" https://localhost/big.bin >"$T/client.log" 2>&1 ||
    fail "gtlsclient failed (without any agent in it)"
cmp -s "$T/htdocs/big.bin" "$T/dl/big.bin" || fail "download differs from the served file"
echo "ok   download byte-exact (30000000 bytes), gtlsclient in cgroup $CG, no LD_PRELOAD"

# Live record: one connection with both client addresses; then closed by idle expiry.
dump_until "$TP" "$T/dump.json" "len(d['connections']) == 1 and len(d['connections'][0]['clients']) >= 2" ||
    fail "tracker never showed one connection with 2 client addresses: $(cat "$T/dump.json")"
dump_until "$TP" "$T/dump_closed.json" "all(c.get('closed') for c in d['connections'])" ||
    fail "the connection was not closed by the daemon's idle expiry: $(cat "$T/dump_closed.json")"
echo "ok   closed at the tracker after the daemon's idle expiry (--idle 2s)"
stop_cap
python3 "$HERE/agent_wire.py" "$CAP" "$SP" "$TP" >"$T/wire.json" || fail "capture analysis failed"
python3 - "$T/dump.json" "$T/client.qlog" "$T/wire.json" <<'EOF' || fail "record checks failed"
import json, re, sys
c = json.load(open(sys.argv[1]))["connections"][0]
odcid = re.search(r'"group_id":"([0-9a-f]+)"', open(sys.argv[2]).read()).group(1)
w = json.load(open(sys.argv[3]))
clients = c["clients"]
ports = {int(a.rsplit(":", 1)[1]) for a in clients}
print("record: odcid %s, dcids %s, clients %s" % (c["odcid"], c["dcids"], clients))
print("wire: first Initial DCID %s, DCIDs used %s, client ports %s, reported after first use: %d"
      " (first use minus report, us: %s)"
      % (w["odcid"], w["wire_dcids"], w["client_ports"], len(w["late"]), w["lead_us"]))
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
check(c["odcid"] == odcid == w["odcid"], "odcid = qlog group_id = first Initial DCID on the wire")
check(not w["unknown"], "every DCID used on the wire was reported (unknown: %s)" % w["unknown"])
check(set(w["wire_dcids"]) <= set(c["dcids"]), "every DCID used on the wire is in the record")
check(len(set(w["wire_dcids"])) >= 2, "a new DCID after the migration (>= 2 short-header DCIDs)")
check(len(set(w["client_ports"])) >= 2 and set(w["client_ports"]) <= ports,
      "both client ports %s in the record" % sorted(set(w["client_ports"])))
check({a.rsplit(":", 1)[0] for a in clients} == {"127.0.0.1"}, "client addresses on 127.0.0.1")
sys.exit(0 if ok else 1)
EOF
# Run 2: a client of an independent implementation (quic-go) that rebinds
# (a fresh local socket, same DCID, as behind a NAT) twice mid-transfer,
# against qasm-h3-server: every client port it used is in the record.
if [ -x "$B/qasm-quicgo-client" ] && [ -x "$B/qasm-h3-server" ]; then
    HP=$(reserve_ports 1)
    timeout "$(scaled 200)" "$B/qasm-h3-server" --listen "127.0.0.1:$HP" --idle-timeout 10s \
        >"$T/h3server.json" 2>"$T/h3server.log" &
    PIDS+=($!)
    wait_udp "$HP" || fail "qasm-h3-server did not start"
    start_cap "$T/cap2.pcap" "$HP"
    in_cgroup "$B/qasm-quicgo-client" -connect "127.0.0.1:$HP" -requests 15 -size 200000 \
        -rebind-every 20ms -rebinds 2 -close-old -poke -timeout 5s >"$T/quicgo.json" 2>"$T/quicgo.log" ||
        fail "qasm-quicgo-client failed: $(cat "$T/quicgo.json")"
    # Under load the transfer may end before the second rebinding's tick:
    # expect as many client ports as the client says it used.
    nports=$(python3 -c 'import json,sys; q=[json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]; print(q.get("rebinds", 0) + 1)' "$T/quicgo.json" 2>/dev/null)
    dump_until "$TP" "$T/dump2.json" "len(d['connections']) == 2 and max(len(c['clients']) for c in d['connections']) >= ${nports:-3}" ||
        echo "(the record did not reach ${nports:-3} client addresses: checked below)"
    stop_cap
    python3 "$HERE/agent_wire.py" "$T/cap2.pcap" "$HP" "$TP" >"$T/wire2.json" || fail "capture 2 analysis failed"
    python3 - "$T/dump2.json" "$T/wire2.json" "$T/quicgo.json" <<'EOF' || fail "quic-go record checks failed"
import json, sys
d = json.load(open(sys.argv[1]))["connections"]
w = json.load(open(sys.argv[2]))
q = [json.loads(l) for l in open(sys.argv[3]) if l.startswith("{")][-1]
c = [c for c in d if c["odcid"] == w["odcid"]]
ports = {int(a.rsplit(":", 1)[1]) for a in c[0]["clients"]} if c else set()
rebinds = q.get("rebinds", 0)
print("quic-go: %s requests ok, %d rebindings; wire: first Initial DCID %s, client ports %s; record clients %s"
      % (q.get("requests_ok"), rebinds, w["odcid"], w["client_ports"], c[0]["clients"] if c else None))
# -poke sends from every new port at once, so each rebinding shows on the wire
ok = q.get("requests_ok") == 15 and len(c) == 1 and rebinds >= 1 \
    and len(set(w["client_ports"])) >= rebinds + 1 \
    and set(w["client_ports"]) <= ports and not w["unknown"]
print(("ok   " if ok else "FAIL ") + "quic-go client: odcid = first Initial DCID, all %d client ports and every DCID used in the record"
      % len(set(w["client_ports"])))
sys.exit(0 if ok else 1)
EOF
else
    echo "skip quic-go run: build/qasm-quicgo-client not built (golang-go, quic-go)"
fi

kill -INT "$APID"
wait "$APID"
rc=$?
[ "$rc" = 0 ] || fail "qasm-agentd exited $rc after SIGINT"
python3 - "$T/agentd.json" <<'EOF' || fail "daemon counters"
import json, sys
s = json.load(open(sys.argv[1]))
print("agentd: " + json.dumps(s, sort_keys=True))
bad = [k for k in ("bpf_ringbuf_full", "bpf_flow_full", "unattributed", "table_full", "send_errors",
                   "encode_errors", "evq_dropped") if s[k]]
bad += [k for k in ("initials_unopened", "initials_unattributed") if s.get(k, 0)]
ok = not bad and s["opened"] >= 1 and s["closed_idle"] >= 1 and s["addrs"] >= 1 and s["reports_sent"] >= 4
print(("ok   " if ok else "FAIL ") + "daemon counters (nonzero where they must be zero: %s)" % bad)
# The Initial packets of the handshakes after the first (both ways) were
# decrypted with keys derived from the O-DCID (RFC 9001): ngtcp2's, quic-go's.
ok2 = s["initials_opened"] >= 1 and s["initials_opened"] == s["initials"]
print(("ok   " if ok2 else "FAIL ") + "%d of %d Initial packets handed up were decrypted by the daemon"
      % (s["initials_opened"], s["initials"]))
ok = ok and ok2
sys.exit(0 if ok else 1)
EOF

# Run 3: the daemon started after the client. gtlsclient downloads 1 GB (a
# sparse file: zeros) and discards it; once its short headers flow (its qlog
# shows a 1-RTT packet) a new qasm-agentd starts, adopts the connection from
# its packets and reports it keyed by the DCID in use (not the O-DCID, missed).
truncate -s 1G "$T/htdocs/huge.bin"
in_cgroup gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --qlog-file "$T/client3.qlog" 127.0.0.1 "$SP" https://localhost/huge.bin >"$T/client3.log" 2>&1 &
CPID=$!
PIDS+=($CPID)
wait_until 30 grep -qs '"packet_type":"1RTT"' "$T/client3.qlog" || fail "run 3: no 1-RTT packet in the qlog"
timeout "$(scaled 200)" "$AGENTD" --tracker "127.0.0.1:$TP" --cgroup "$CG" --idle 2s \
    --stats-json "$T/agentd3.json" --log ${AGENTD_LOG:-info} >"$T/agentd3.log" 2>&1 &
APID=$!
PIDS+=($APID)
ODCID3=$(grep -o '"group_id":"[0-9a-f]*"' "$T/client3.qlog" | head -1 | cut -d'"' -f4)
dump_until "$TP" "$T/dump3.json" "any(c['server'] == '127.0.0.1:$SP' and not c.get('closed') and c['odcid'] != '$ODCID3' for c in d['connections'])" ||
    fail "run 3: no adopted connection at the tracker: $(cat "$T/dump3.json"); client alive: $(kill -0 $CPID 2>/dev/null && echo yes || echo no)"
# $CPID is the backgrounded in_cgroup's subshell: the client is the cgroup's member.
cg_empty() { [ -z "$(cat "$CG/cgroup.procs")" ]; }
for p in $(cat "$CG/cgroup.procs"); do kill "$p" 2>/dev/null; done
wait_until 30 cg_empty || fail "run 3: the client did not exit"
kill -INT "$APID"
wait "$APID" || fail "qasm-agentd (run 3) exited $? after SIGINT"
python3 - "$T/dump3.json" "$T/agentd3.json" "$ODCID3" "$SP" <<'EOF' || fail "adoption checks failed"
import json, sys
d = json.load(open(sys.argv[1]))["connections"]
s = json.load(open(sys.argv[2]))
c = [c for c in d if c["server"] == "127.0.0.1:" + sys.argv[4] and not c.get("closed")]
print("adopted: record odcid %s (the true O-DCID %s was missed), counters adopted=%d bpf_adopted=%d"
      % (c[0]["odcid"] if c else None, sys.argv[3], s["adopted"], s["bpf_adopted"]))
ok = len(c) == 1 and len(c[0]["odcid"]) == len(sys.argv[3]) and s["adopted"] == 1 and s["bpf_adopted"] == 1 \
    and s["opened"] == 1 and not s["unattributed"]
print(("ok   " if ok else "FAIL ") + "daemon started after the client: the connection adopted, keyed by its DCID in use")
sys.exit(0 if ok else 1)
EOF

# Run 4: --prereg gnutls. A new daemon with the decrypt uprobes; gtlsclient
# migrates (to a DCID it never used before); the capture holds the client's
# packets and the daemon's reports in one clock.
# --idle 300s: the record must close at gtlsclient's own CONNECTION_CLOSE
# (the encrypt uprobe), long before idle expiry could.
timeout "$(scaled 400)" "$AGENTD" --tracker "127.0.0.1:$TP" --cgroup "$CG" --idle 300s --prereg gnutls \
    --stats-json "$T/agentd4.json" --log ${AGENTD_LOG:-info} >"$T/agentd4.log" 2>&1 &
APID=$!
PIDS+=($APID)
wait_until 30 grep -qs "watching cgroup" "$T/agentd4.log" ||
    fail "qasm-agentd --prereg gnutls did not start: $(cat "$T/agentd4.log")"
start_cap "$T/cap4.pcap" "$SP"
mkdir -p "$T/dl4"
in_cgroup gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
    --change-local-addr=50ms --download "$T/dl4" --qlog-file "$T/client4.qlog" \
    127.0.0.1 "$SP" https://localhost/big.bin >"$T/client4.log" 2>&1 || fail "run 4: gtlsclient failed"
cmp -s "$T/htdocs/big.bin" "$T/dl4/big.bin" || fail "run 4: download differs from the served file"
ODCID4=$(grep -o '"group_id":"[0-9a-f]*"' "$T/client4.qlog" | head -1 | cut -d'"' -f4)
dump_until "$TP" "$T/dump4.json" "any(c['odcid'] == '$ODCID4' and len(c['clients']) >= 2 for c in d['connections'])" ||
    fail "run 4: no record with 2 client addresses: $(cat "$T/dump4.json")"
dump_until "$TP" "$T/dump4c.json" "any(c['odcid'] == '$ODCID4' and c.get('closed') for c in d['connections'])" ||
    fail "run 4: gtlsclient exited but its record is not closed (--idle is 300s): $(cat "$T/dump4c.json")"
echo "ok   run 4: gtlsclient exited, its record closed at once (its CONNECTION_CLOSE seen by the encrypt uprobe; --idle 300s)"
stop_cap
kill -INT "$APID"
wait "$APID" || fail "qasm-agentd (run 4) exited $? after SIGINT"
python3 "$HERE/agent_wire.py" "$T/cap4.pcap" "$SP" "$TP" >"$T/wire4.json" || fail "capture 4 analysis failed"
python3 - "$T/dump4.json" "$T/wire4.json" "$T/agentd4.json" "$ODCID4" <<'EOF' || fail "pre-registration checks failed"
import json, sys
c = [c for c in json.load(open(sys.argv[1]))["connections"] if c["odcid"] == sys.argv[4]][0]
w = json.load(open(sys.argv[2]))
s = json.load(open(sys.argv[3]))
migrated = w["wire_dcids"][1:]  # the first is the server's handshake CID (its Initial's SCID)
print("prereg: wire DCIDs %s, first use minus report (us) %s, late %s; record dcids %s"
      % (w["wire_dcids"], w["lead_us"], w["late"], c["dcids"]))
keys = ("plains", "plain_newcids", "spares", "plain_by_pid", "plain_unattributed", "plain_ambiguous",
        "bpf_plaintexts", "bpf_plain_skipped", "bpf_decrypt_failed", "bpf_ringbuf_full")
print("agentd: " + " ".join("%s=%d" % (k, s[k]) for k in keys))
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
check(len(migrated) >= 1, "the client migrated to a new DCID (%d)" % len(migrated))
check(all(d not in w["late"] and w["lead_us"].get(d, -1) > 0 for d in migrated),
      "every migrated DCID reported before its first use on the wire")
check(set(w["wire_dcids"]) <= set(c["dcids"]), "every DCID used is in the tracker's record")
check(s["spares"] >= len(migrated) and s["plain_unattributed"] == 0 and s["bpf_ringbuf_full"] == 0,
      "spare DCIDs learnt from decrypted NEW_CONNECTION_ID frames, none unattributed, no event lost")
print("agentd: closed_local=%d closed_peer=%d closed_idle=%d close_unattributed=%d bpf_plaintexts_out=%d"
      % (s["closed_local"], s["closed_peer"], s["closed_idle"], s["close_unattributed"],
         s["bpf_plaintexts_out"]))
check(s["closed_local"] == 1 and s["closed_idle"] == 0 and s["close_unattributed"] == 0,
      "the client's own CONNECTION_CLOSE closed the record (closed_local), not idle expiry")
sys.exit(0 if ok else 1)
EOF

# agentd_up N / agentd_down N: a daemon of run N on the test's cgroup
# ($T/agentdN.json, $T/agentdN.log); nat_up NAME UPSTREAM POOL / nat_down:
# qasm-mbox nat --mode reactive (as Table 1) on a port of its own (NATP),
# its stats in $T/NAME.json when it exits.
agentd_up() {
    timeout "$(scaled 200)" "$AGENTD" --tracker "127.0.0.1:$TP" --cgroup "$CG" --idle 2s \
        --stats-json "$T/agentd$1.json" --log ${AGENTD_LOG:-info} >"$T/agentd$1.log" 2>&1 &
    APID=$!
    PIDS+=($APID)
    wait_until 30 grep -qs "watching cgroup" "$T/agentd$1.log" || fail "run $1: qasm-agentd did not start"
}
agentd_down() {
    kill -INT "$APID"
    wait "$APID" || fail "qasm-agentd (run $1) exited $? after SIGINT"
}
nat_up() {
    NATP=$(reserve_ports 1) # a NAT of its own (the previous one may still be closing)
    timeout "$(scaled 200)" "$B/qasm-mbox" nat --mode reactive --listen "127.0.0.1:$NATP" \
        --upstream "127.0.0.1:$2" --tracker "127.0.0.1:$TP" --ports "$3-$(($3 + 15))" \
        --hold 200ms --stats-json "$T/$1.json" --control "$T/$1.sock" --log-level warn >"$T/$1.log" 2>&1 &
    NPID=$!
    PIDS+=($NPID)
    wait_udp "$NATP" || fail "$1: qasm-mbox nat did not start"
    wait_until 30 python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["tracker"]["up"] else 1)' \
        "$T/$1.json" || fail "$1: the NAT's tracker session did not come up"
}
nat_down() {
    kill "$NPID" # timeout passes SIGTERM on; the NAT writes its stats at exit
    wait "$NPID" 2>/dev/null
}

# Run 5: the quic-go client through an aware NAT (qasm-mbox nat --mode
# reactive, as Table 1), rebinding twice mid-transfer (a fresh local socket,
# same DCID): with qasm-agentd reporting each new client address the NAT
# keeps ONE mapping for the connection; the same run without the daemon
# (the NAT sees an unknown connection) takes one mapping per address.
if [ -x "$B/qasm-quicgo-client" ] && [ -x "$B/qasm-h3-server" ] && [ -x "$B/qasm-mbox" ]; then
    HP5=$(reserve_ports 1); POOL5=$(reserve_ports 16)
    timeout "$(scaled 200)" "$B/qasm-h3-server" --listen "127.0.0.1:$HP5" --idle-timeout 10s \
        >"$T/h3server5.json" 2>"$T/h3server5.log" &
    PIDS+=($!)
    wait_udp "$HP5" || fail "run 5: qasm-h3-server did not start"
    # nat_run NAME [daemon]: one NAT, one quic-go client rebinding twice; the NAT's stats in $T/NAME.json.
    nat_run() {
        local name=$1
        if [ "${2:-}" = daemon ]; then agentd_up 5; fi
        nat_up "$name" "$HP5" "$POOL5"
        in_cgroup "$B/qasm-quicgo-client" -connect "127.0.0.1:$NATP" -requests 15 -size 200000 \
            -rebind-every 20ms -rebinds 2 -close-old -poke -timeout 5s >"$T/$name-client.json" \
            2>"$T/$name-client.log" || fail "run 5 ($name): qasm-quicgo-client failed: $(cat "$T/$name-client.json")"
        nat_down
        if [ "${2:-}" = daemon ]; then agentd_down 5; fi
    }
    nat_run nat5-bare
    nat_run nat5-agentd daemon
    python3 - "$T/nat5-bare.json" "$T/nat5-agentd.json" "$T/nat5-bare-client.json" \
        "$T/nat5-agentd-client.json" "$T/agentd5.json" <<'EOF' || fail "run 5: NAT checks failed"
import json, sys
bare, aware = (json.load(open(f)) for f in sys.argv[1:3])
cl = [[json.loads(l) for l in open(f) if l.startswith("{")][-1] for f in sys.argv[3:5]]
s = json.load(open(sys.argv[5]))
print("NAT without the daemon: mappings_created %d; with it: %d; requests ok %s; agentd addrs %d, reports %d"
      % (bare["mappings_created"], aware["mappings_created"], [c.get("requests_ok") for c in cl],
         s["addrs"], s["reports_sent"]))
ok = True
def check(cond, what):
    global ok
    print(("ok   " if cond else "FAIL ") + what)
    ok = ok and cond
check(all(c.get("requests_ok") == 15 for c in cl), "quic-go client: 15 requests through the NAT, both runs")
check(bare["mappings_created"] >= 2, "without the daemon the NAT takes a mapping per client address")
check(aware["mappings_created"] == 1 and s["addrs"] >= 2,
      "with qasm-agentd the NAT keeps one mapping across 2 rebindings")
sys.exit(0 if ok else 1)
EOF
else
    echo "skip run 5: qasm-quicgo-client, qasm-h3-server or qasm-mbox not built"
fi

# Run 6: a handshake the server refuses. gtlsclient offers only a key-exchange
# group gtlsserver does not support: the server answers with CONNECTION_CLOSE
# (CRYPTO_ERROR 0x128, handshake_failure) in an Initial packet, which the
# daemon decrypts (keys from the O-DCID): the record closes at once, not at
# --idle (300 s).
timeout "$(scaled 200)" "$AGENTD" --tracker "127.0.0.1:$TP" --cgroup "$CG" --idle 300s \
    --stats-json "$T/agentd6.json" --log ${AGENTD_LOG:-info} >"$T/agentd6.log" 2>&1 &
APID=$!
PIDS+=($APID)
wait_until 30 grep -qs "watching cgroup" "$T/agentd6.log" || fail "run 6: qasm-agentd did not start"
in_cgroup gtlsclient -q --groups=-GROUP-ALL:+GROUP-FFDHE2048 --exit-on-all-streams-close \
    --qlog-file "$T/client6.qlog" 127.0.0.1 "$SP" https://localhost/big.bin >"$T/client6.log" 2>&1
ODCID6=$(grep -o '"group_id":"[0-9a-f]*"' "$T/client6.qlog" | head -1 | cut -d'"' -f4)
[ -n "$ODCID6" ] || fail "run 6: no O-DCID in gtlsclient's qlog"
dump_until "$TP" "$T/dump6.json" "any(c['odcid'] == '$ODCID6' and c.get('closed') for c in d['connections'])" ||
    fail "run 6: the refused handshake's record is not closed (--idle is 300s): $(cat "$T/dump6.json")"
kill -INT "$APID"
wait "$APID" || fail "qasm-agentd (run 6) exited $? after SIGINT"
python3 - "$T/agentd6.json" <<'EOF' || fail "run 6: counters"
import json, sys
s = json.load(open(sys.argv[1]))
print("agentd: initials=%d initials_opened=%d closed_initial=%d closed_idle=%d"
      % (s["initials"], s["initials_opened"], s["closed_initial"], s["closed_idle"]))
ok = s["closed_initial"] == 1 and s["closed_idle"] == 0 and s["initials_opened"] >= 1
print(("ok   " if ok else "FAIL ") + "run 6: the server's CONNECTION_CLOSE in an Initial closed the record")
sys.exit(0 if ok else 1)
EOF
# Run 7: Table 1 with Debian's gtlsclient, no LD_PRELOAD: through the aware
# NAT (reactive) to gtlsserver, migrating once (--change-local-addr), the
# download byte-exact. Without the daemon the NAT sees an unknown
# connection and takes a mapping per client address; with qasm-agentd
# reporting the new address it keeps one.
if [ -x "$B/qasm-mbox" ]; then
    POOL7=$(reserve_ports 16)
    # gtls_nat NAME [daemon]: one NAT, one migrating gtlsclient download through it.
    gtls_nat() {
        local name=$1
        if [ "${2:-}" = daemon ]; then agentd_up 7; fi
        nat_up "$name" "$SP" "$POOL7"
        rm -rf "$T/dl7" && mkdir "$T/dl7"
        in_cgroup gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
            --change-local-addr=50ms --download "$T/dl7" 127.0.0.1 "$NATP" https://localhost/big.bin \
            >"$T/$name-client.log" 2>&1 || fail "run 7 ($name): gtlsclient failed through the NAT"
        cmp -s "$T/htdocs/big.bin" "$T/dl7/big.bin" || fail "run 7 ($name): download differs"
        nat_down
        if [ "${2:-}" = daemon ]; then agentd_down 7; fi
    }
    gtls_nat nat7-bare
    gtls_nat nat7-agentd daemon
    python3 - "$T/nat7-bare.json" "$T/nat7-agentd.json" "$T/agentd7.json" <<'EOF' || fail "run 7: NAT checks failed"
import json, sys
bare, aware, s = (json.load(open(f)) for f in sys.argv[1:4])
print("gtlsclient through the NAT: mappings_created %d without the daemon, %d with it; agentd addrs %d"
      % (bare["mappings_created"], aware["mappings_created"], s["addrs"]))
ok = bare["mappings_created"] >= 2 and aware["mappings_created"] == 1 and s["addrs"] >= 1
print(("ok   " if ok else "FAIL ") + "run 7: gtlsclient migrating through the aware NAT keeps one mapping with "
      "qasm-agentd (one per address without), downloads byte-exact")
sys.exit(0 if ok else 1)
EOF
else
    echo "skip run 7: qasm-mbox not built"
fi
echo "PASS agentd_gtls"
