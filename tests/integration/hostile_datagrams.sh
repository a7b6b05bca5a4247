#!/usr/bin/env bash
# hostile_datagrams.sh: hostile UDP datagrams to every UDP socket of a live
# setup, during a transfer. On loopback: qasm-tracker, qasm-h3-server, an
# aware qasm-mbox nat (reactive, then proactive) in front of it, and
# qasm-h3-client with the client agent preloaded downloading through the NAT
# with --verify (every body byte checked against the server's pattern) and
# migrating. While the transfer runs, hostile_send.py sends its corpus
# (empty, 1-byte, minimum-header, truncated-header, 65507-byte, Initial- and
# unknown-version-shaped, random datagrams) to every UDP socket of every
# process (found in /proc: the tracker's port, the server's port, the NAT's
# inside and public ports, the client's QUIC sockets and the agent's report
# socket), three times. The NAT forwards what reaches its ports like any NAT,
# so the server and the client also get the corpus from their real peer.
#
# Passes when every process is still alive afterwards, the client's transfer
# finished with every request answered, no verify error and the byte count
# of the requests, the server counted the empty datagrams it refused, and no
# log shows an assertion or a sanitizer report. Under ASan+UBSan:
#   make O=build/asan SAN=1 NODEPS=1 build
#   ASAN_OPTIONS=verify_asan_link_order=0 QASM_BUILD=build/asan tests/integration/hostile_datagrams.sh
# (the preloaded agent comes before the ASan runtime in the link order).
# HOSTILE_MODES (reactive proactive) and HOSTILE_DURATION (8s) adjust it.
# Before the datagram guard, the first empty datagram aborted the server
# (ngtcp2_pkt_decode_version_cid asserts datalen) and the client's transfer
# failed (ngtcp2_conn_read_pkt: NGTCP2_ERR_INVALID_ARGUMENT).
cd "$(dirname "$0")/../.." || exit 1
set -u
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
. tests/integration/test_lib.sh   # reserve_ports, release_ports
# Debian's python3 directly: a version-manager shim can take a second to start.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
SEND="$PY tests/integration/hostile_send.py"
for bin in qasm-tracker qasm-h3-server qasm-h3-client qasm-mbox libqasm-agent.so; do
    [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
done
SIZE=1000000           # bytes per request
DURATION=${HOSTILE_DURATION:-8s}

T=$(mktemp -d /tmp/qasm-hostile.XXXXXX)
declare -A PIDS=()     # name -> pid of its `timeout` wrapper
FAILS=0
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAILS" -ne 0 ] || [ "${KEEP_LOGS:-0}" = 1 ]; then
        for f in "$T"/*.log "$T"/*.json; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    fi
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT

check() { # DESC PYTHON-EXPR (true/false)
    if $PY -c "import sys; sys.exit(0 if ($2) else 1)" 2>/dev/null; then
        echo "ok   - $1"
    else
        echo "FAIL - $1   [$2]"
        FAILS=$((FAILS + 1))
    fi
}
# jfield FILE KEY: a field of the last JSON object line of FILE (-1 when absent).
jfield() {
    $PY - "$1" "$2" <<'EOF'
import json, sys
try:
    text = open(sys.argv[1]).read()
    try:
        d = json.loads(text)          # one JSON document (the NAT's stats file)
    except ValueError:                # else the last JSON line (the h3 summaries)
        d = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])
    for k in sys.argv[2].split("."):
        d = d[k]
    print(d)
except Exception:
    print(-1)
EOF
}

# start NAME SECONDS CMD...: run CMD under timeout, stdout to NAME.json, stderr to NAME.log.
start() {
    local name=$1 secs=$2; shift 2
    timeout --kill-after=5 "$secs" "$@" >"$T/$name.json" 2>"$T/$name.log" &
    PIDS[$name]=$!
}
# pid_of NAME: the program's own pid (the child of its timeout), waiting for it.
pid_of() {
    local c="" i
    for i in $(seq 100); do
        c=$(pgrep -P "${PIDS[$1]}" 2>/dev/null | head -n 1)
        [ -n "$c" ] && break
        sleep 0.05
    done
    echo "$c"
}
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
# wait_py SECONDS PYTHON-EXPR: poll (10 Hz) until EXPR holds; 1 on timeout.
wait_py() {
    local n=$(($1 * 10))
    while [ $n -gt 0 ]; do
        $PY -c "import sys; sys.exit(0 if ($2) else 1)" 2>/dev/null && return 0
        sleep 0.1
        n=$((n - 1))
    done
    return 1
}
# bound_wait PID PORT: until PID has a UDP socket on PORT (10 s).
bound_wait() {
    local i
    for i in $(seq 100); do
        $PY - "$1" "$2" <<'EOF' && return 0
import sys
sys.path.insert(0, "tests/integration")
from hostile_send import udp_sockets
sys.exit(0 if any(l.endswith(":" + sys.argv[2]) for l, _ in udp_sockets(int(sys.argv[1]))) else 1)
EOF
        sleep 0.1
    done
    return 1
}

# One scenario: a NAT mode. Everything is started fresh.
scenario() {
    local mode=$1 base trk srv mb p lo
    # The NAT's pool is a range, so the kernel cannot pick these ports: reserved
    # machine-wide until exit (test_lib.sh), free on 127.0.0.1 and ::1.
    base=$(reserve_ports 20) || { echo "FAIL - no free port range"; FAILS=$((FAILS + 1)); return; }
    trk=$base srv=$((base + 1)) mb=$((base + 2)) lo=$((base + 4))
    echo "# nat $mode: tracker $trk, server $srv, nat $mb, pool from $lo"
    start tracker 120 "$B/qasm-tracker" --listen 127.0.0.1:$trk
    start server 120 "$B/qasm-h3-server" --listen 127.0.0.1:$srv --idle-timeout 20s
    start nat 120 "$B/qasm-mbox" nat --mode "$mode" --listen 127.0.0.1:$mb \
        --upstream 127.0.0.1:$srv --tracker 127.0.0.1:$trk --ports $lo-$((lo + 15)) \
        --hold 200ms --stats-json "$T/nat-stats.json" --log-level warn
    local TRK_PID SRV_PID NAT_PID CLI_PID
    TRK_PID=$(pid_of tracker); SRV_PID=$(pid_of server); NAT_PID=$(pid_of nat)
    bound_wait "$TRK_PID" $trk && bound_wait "$SRV_PID" $srv && bound_wait "$NAT_PID" $mb ||
        { echo "FAIL - $mode: a process did not bind its port"; FAILS=$((FAILS + 1)); stop_all; return; }
    wait_py 20 "__import__('json').load(open('$T/nat-stats.json'))['tracker']['up']" ||
        echo "note: NAT not linked to the tracker yet"

    QASM_TRACKER=127.0.0.1:$trk LD_PRELOAD="$B/libqasm-agent.so" \
        start client 90 "$B/qasm-h3-client" --connect 127.0.0.1:$mb --json --verify \
        --duration "$DURATION" --size $SIZE --interval 20ms --migrate-every 300ms \
        "https://127.0.0.1:$srv/"
    CLI_PID=$(pid_of client)
    # Mid-transfer: the NAT has forwarded a good part of a request.
    wait_py 30 "__import__('json').load(open('$T/nat-stats.json'))['packets_forwarded'] >= 300" ||
        echo "note: transfer slow to start"

    local round fwd args
    for round in 1 2 3; do
        fwd=$(jfield "$T/nat-stats.json" packets_forwarded)
        echo "round $round (NAT forwarded $fwd so far):"
        alive "$CLI_PID" || echo "  note: the client is already done"
        args=()
        for p in "$TRK_PID" "$SRV_PID" "$NAT_PID" "$CLI_PID"; do
            alive "$p" && args+=(--pid "$p")
        done
        $SEND --seed $round --cid-len 18 "${args[@]}" >"$T/send-$round.out" 2>&1
        sed 's/^/  /' "$T/send-$round.out"
        # The transfer goes on: the NAT forwards more (bounded; the client may be done).
        wait_py 20 "__import__('json').load(open('$T/nat-stats.json'))['packets_forwarded'] >= $fwd + 200" ||
            echo "  note: no progress after round $round"
    done

    check "$mode: tracker alive" "$(alive "$TRK_PID" && echo 1 || echo 0) == 1"
    check "$mode: server alive" "$(alive "$SRV_PID" && echo 1 || echo 0) == 1"
    check "$mode: NAT alive" "$(alive "$NAT_PID" && echo 1 || echo 0) == 1"
    # The client ends by itself after --duration; bounded by its timeout.
    wait "${PIDS[client]}"
    local rc=$?
    unset "PIDS[client]"
    echo "client (exit $rc): $(tail -n 1 "$T/client.json")"
    local c="$T/client.json"
    check "$mode: client exited cleanly (not killed, not failed)" "$rc == 0"
    check "$mode: requests answered" "$(jfield "$c" requests_ok) >= 5"
    check "$mode: no request failed" "$(jfield "$c" requests_failed) == 0 and $(jfield "$c" connections_failed) == 0"
    check "$mode: every body byte verified" "$(jfield "$c" verify_errors) == 0"
    check "$mode: bytes == requests x size" "$(jfield "$c" bytes) == $(jfield "$c" requests_ok) * $SIZE"
    echo "client refused before ngtcp2: empty $(jfield "$c" dropped_empty), truncated $(jfield "$c" dropped_truncated)"
    # Spoofed from its peer (root only) the corpus reached the client's QUIC code.
    if grep -q 'spoofed=[1-9]' "$T"/send-*.out; then
        check "$mode: client refused the empty datagrams from its peer (counted)" \
            "$(jfield "$c" dropped_empty) >= 1"
    else
        echo "note: no spoofed sends (not root?): the client's guard was not reached"
    fi

    # Server summary at SIGTERM.
    kill -TERM "$SRV_PID" 2>/dev/null
    wait "${PIDS[server]}"
    unset "PIDS[server]"
    local s="$T/server.json"
    echo "server: dropped $(jfield "$s" dropped) (empty $(jfield "$s" dropped_empty), truncated $(jfield "$s" dropped_truncated), undecodable $(jfield "$s" dropped_undecodable), bad_cid $(jfield "$s" dropped_bad_cid)), unknown_dcid $(jfield "$s" unknown_dcid), version_negotiations $(jfield "$s" version_negotiations), conn_errors $(jfield "$s" conn_errors)"
    # 3 rounds, directly and through the NAT's inside port.
    check "$mode: server refused the empty datagrams (counted)" "$(jfield "$s" dropped_empty) >= 3"
    check "$mode: server refused truncated headers (counted)" "$(jfield "$s" dropped_truncated) >= 3"
    check "$mode: server answered unknown versions" "$(jfield "$s" version_negotiations) >= 3"
    echo "nat: packets_dropped $(jfield "$T/nat-stats.json" packets_dropped)"
    stop_all   # SIGTERM: exit-time sanitizer reports (leaks) land in the logs too
    if grep -l -E 'Assertion|AddressSanitizer|runtime error:|LeakSanitizer' "$T"/*.log; then
        check "$mode: no assertion or sanitizer report in the logs" "False"
    else
        check "$mode: no assertion or sanitizer report in the logs" "True"
    fi
}

stop_all() {
    local n
    for n in "${!PIDS[@]}"; do kill "${PIDS[$n]}" 2>/dev/null; wait "${PIDS[$n]}" 2>/dev/null; done
    PIDS=()
}

for mode in ${HOSTILE_MODES:-reactive proactive}; do
    scenario "$mode"
    [ "$FAILS" -ne 0 ] && break   # the cleanup trap shows the logs
    rm -f "$T"/*.log "$T"/*.json
done
[ "$FAILS" -eq 0 ] && { echo "PASS: hostile_datagrams"; exit 0; }
echo "FAIL: hostile_datagrams ($FAILS checks)"
exit 1
