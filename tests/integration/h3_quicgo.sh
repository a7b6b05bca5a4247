#!/usr/bin/env bash
# h3_quicgo.sh: interoperability with quic-go, a QUIC/HTTP/3 implementation
# independent of ngtcp2 (Debian's golang-github-lucas-clemente-quic-go-dev),
# through the small client and server in tests/interop/quicgo/:
#  1. qasm-quicgo-client -> qasm-h3-server: 10 clean connections, large
#     bodies (3 x 10 MB), 0-byte bodies, IPv6; every body checked against the
#     pattern; the server sends no stateless reset (closing/draining state);
#  2. NAT rebindings mid-transfer (the client switches to a new local port
#     once its handshake is over): old socket kept open (5 runs); old socket
#     closed, the client speaking at once from the new one (20 runs); old
#     socket closed and the client silent (6 runs x 3 connections): the
#     request in flight may be lost (nobody can reach a silent client), the
#     next one must be served at once;
#  3. qasm-h3-client -> qasm-quicgo-server, bodies byte-exact;
#  4. both directions through qasm-mbox nat in default, reactive and proactive
#     mode (quic-go has no agent: the aware modes treat its connections as
#     unknown, the transfers must still complete), with rebindings.
# Exit 77 (SKIPPED) when the quic-go binaries were not built (no golang-go or
# quic-go). Its own helpers, ports reserved through test_lib.sh, every process under timeout and
# killed by the EXIT trap, 127.0.0.1/::1 only.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
. tests/integration/test_lib.sh   # reserve_ports, release_ports
for x in qasm-h3-server qasm-h3-client qasm-mbox qasm-tracker libqasm-agent.so; do
    [ -e "$B/$x" ] || { echo "FAIL: $B/$x not built"; exit 1; }
done
if [ ! -x "$B/qasm-quicgo-client" ] || [ ! -x "$B/qasm-quicgo-server" ]; then
    echo "SKIPPED: $B/qasm-quicgo-{client,server} not built (needs golang-go and" \
         "golang-github-lucas-clemente-quic-go-dev; scripts/deps.sh installs them)"
    exit 77
fi
QC=$B/qasm-quicgo-client
T=$(mktemp -d /tmp/qasm-quicgo.XXXXXX)
PIDS=()
FAILS=0
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAILS" -ne 0 ] || [ "${KEEP_LOGS:-0}" = 1 ]; then
        for f in "$T"/*.log "$T"/*.json; do [ -s "$f" ] && { echo "--- $f"; tail -n 8 "$f"; }; done
    fi
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT

check() {  # check DESC PYTHON-EXPR (true/false)
    if python3 -c "import sys; sys.exit(0 if ($2) else 1)" 2>/dev/null; then
        echo "ok   - $1"
    else
        echo "FAIL - $1   [$2]"
        FAILS=$((FAILS + 1))
    fi
}
jget() {  # jget FILE FIELD: a field of the last JSON line of FILE (-1 if none)
    python3 -c 'import json,sys
ls=[l for l in open(sys.argv[1]) if l.startswith("{")]
print(json.loads(ls[-1]).get(sys.argv[2], -1) if ls else -1)' "$1" "$2" 2>/dev/null || echo -1
}
# child PID: the program run by the `timeout` whose pid is PID.
child() {
    local c i
    for i in $(seq 100); do
        c=$(pgrep -P "$1" | head -1)
        [ -n "$c" ] && { echo "$c"; return 0; }
        sleep 0.02
    done
    return 1
}
# ports PID: the UDP ports PID has bound, once it has bound N of them (the kernel
# chose them: --listen HOST:0), at most ~5 s.
ports() {
    local pid=$1 n=$2 i p
    for i in $(seq 250); do
        p=$(ss -Hulnp 2>/dev/null | grep "pid=$pid," | awk '{print $4}' | sed 's/.*://')
        [ "$(echo "$p" | grep -c .)" -ge "$n" ] && { echo "$p"; return 0; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.02
    done
    return 1
}
# bound PORT [tcp]: wait until PORT is bound (UDP, or UDP and TCP), at most ~5 s.
bound() {
    local i
    for i in $(seq 250); do
        ss -Hlun "sport = :$1" | grep -q . &&
            { [ "${2:-}" != tcp ] || ss -Hltn "sport = :$1" | grep -q .; } && return 0
        sleep 0.02
    done
    return 1
}

# start_h3 NAME [args]: qasm-h3-server on kernel-chosen ports of 127.0.0.1 and ::1;
# sets NAME_PID (the server), NAME_P4, NAME_P6.
start_h3() {
    local name=$1 pid ps; shift
    timeout 250 "$B/qasm-h3-server" --listen 127.0.0.1:0 --listen '[::1]:0' --idle-timeout 10s \
        "$@" >"$T/$name.json" 2>"$T/$name.log" &
    PIDS+=($!)
    pid=$(child $!) || { echo "FAIL: $name did not start"; exit 1; }
    ps=$(ports "$pid" 2) || { echo "FAIL: $name bound no ports"; exit 1; }
    eval "${name}_PID=$pid"
    eval "${name}_P4=$(ss -Hulnp | grep "pid=$pid," | grep -F 127.0.0.1: | awk '{print $4}' | sed 's/.*://')"
    eval "${name}_P6=$(ss -Hulnp | grep "pid=$pid," | grep -F '[::1]' | awk '{print $4}' | sed 's/.*://')"
}
# stop PID: SIGTERM, wait until it is gone (its JSON summary is then written).
stop() {
    local i
    kill -TERM "$1" 2>/dev/null
    for i in $(seq 250); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.02; done
    kill -9 "$1" 2>/dev/null
}
# qc NAME ARGS: run the quic-go client (bounded), its JSON line in $T/NAME.json.
qc() {
    local name=$1; shift
    timeout 120 "$QC" "$@" >"$T/$name.json" 2>"$T/$name.log"
}

echo "# 1. qasm-quicgo-client -> qasm-h3-server"
start_h3 s1
qc plain -connect "127.0.0.1:$s1_P4" -connections 10 -requests 2 -size 100000
check "10 clean connections, 20 requests, bodies as served" \
    "$(jget "$T/plain.json" requests_ok) == 20 and $(jget "$T/plain.json" bad_bodies) == 0"
qc large -connect "127.0.0.1:$s1_P4" -requests 3 -size 10000000 -timeout 60s
check "large bodies: 3 x 10 MB" "$(jget "$T/large.json" requests_ok) == 3 and $(jget "$T/large.json" bytes) == 30000000"
qc zero -connect "127.0.0.1:$s1_P4" -requests 3 -size 0
check "0-byte bodies" "$(jget "$T/zero.json" requests_ok) == 3"
qc v6 -connect "[::1]:$s1_P6" -connections 3 -requests 2 -size 100000
check "IPv6: 3 connections" "$(jget "$T/v6.json" requests_ok) == 6"
stop "$s1_PID"
echo "server: $(tail -1 "$T/s1.json" | cut -c1-400)"
check "the server answered every request" "$(jget "$T/s1.json" responses_2xx) == 32"
check "no stateless reset for clean connections (closing/draining kept them)" \
    "$(jget "$T/s1.json" stateless_resets) == 0 and $(jget "$T/s1.json" unknown_dcid) == 0"
check "every quic-go close was drained" "$(jget "$T/s1.json" draining) >= 14"
check "no connection error" "$(jget "$T/s1.json" conn_errors) == 0"

echo "# 2. NAT rebindings mid-transfer (t=${SECONDS}s)"
start_h3 s2
ok=0
for i in 1 2 3 4 5; do
    qc keep$i -connect "127.0.0.1:$s2_P4" -requests 15 -size 200000 -rebind-every 20ms -rebinds 4 \
        -timeout 5s && ok=$((ok + 1))
done
check "old socket kept open: 5/5 runs complete ($ok)" "$ok == 5"
ok=0
for i in $(seq 20); do
    qc poke$i -connect "127.0.0.1:$s2_P4" -requests 10 -size 100000 -rebind-every 50ms -rebinds 2 \
        -close-old -poke -timeout 5s -linger 20ms && ok=$((ok + 1))
done
check "old socket closed, client speaks from the new one: 20/20 runs complete ($ok)" "$ok == 20"
# A downloading client rebound while it has nothing in flight is silent, so
# nobody can reach it until it sends again (here: when its 2 s request timeout
# cancels the request and it sends the next one); that request may be lost.
# The next one must be served at once: before the fix ngtcp2 sent the new
# address nothing but ACKs until its backed-off probe timeout (0.5-2 s).
lost=0 worst=0 slow=0
for i in $(seq 6); do
    qc nk$i -connect "127.0.0.1:$s2_P4" -connections 3 -requests 8 -size 100000 \
        -rebind-every 30ms -rebinds 1 -close-old -timeout 2s -linger 20ms
    f=$(jget "$T/nk$i.json" requests_failed)
    a=$(jget "$T/nk$i.json" after_failure_ms_max)
    [ "$f" -lt 0 ] && f=99
    lost=$((lost + f))
    [ "$f" -gt "$worst" ] && worst=$f
    slow=$(python3 -c "print(max($slow, $a))")
done
check "old socket closed, silent client: at most the request in flight lost (worst run: $worst of 24, total $lost of 144)" \
    "$worst <= 3"
# How soon the next request is served is a figure, not a check: on a loaded
# machine scheduling alone can take a second (docs/BENCHMARKS.md, "Interoperability
# with quic-go", has it measured side by side with the unfixed server).
echo "figure: silent client, slowest request after a lost one: $slow ms"
stop "$s2_PID"
echo "server: $(tail -1 "$T/s2.json" | cut -c1-400)"
# Completed runs with the old socket closed are the proof that the server
# followed; how many rebindings it saw depends on timing (a rebinding after the
# last request is never seen), so the count is a figure.
rb=0
for f in "$T"/keep*.json "$T"/poke*.json "$T"/nk*.json; do rb=$((rb + $(jget "$f" rebinds))); done
echo "figure: server migrations $(jget "$T/s2.json" migrations) for $rb client rebindings"
check "the server saw rebindings" "$(jget "$T/s2.json" migrations) >= 1"
check "no stateless reset" "$(jget "$T/s2.json" stateless_resets) == 0"

echo "# 3. qasm-h3-client -> qasm-quicgo-server (t=${SECONDS}s)"
timeout 200 "$B/qasm-quicgo-server" -listen 127.0.0.1:0 >"$T/gs.log" 2>&1 &
PIDS+=($!)
GS_PID=$(child $!) || { echo "FAIL: qasm-quicgo-server did not start"; exit 1; }
GP=$(ports "$GS_PID" 1) || { echo "FAIL: qasm-quicgo-server bound no port"; exit 1; }
for n in 1 100000 10000000; do
    timeout 60 "$B/qasm-h3-client" --json --verify --requests 2 --size "$n" \
        "https://127.0.0.1:$GP/" >"$T/hc$n.json" 2>"$T/hc$n.log"
    check "qasm-h3-client: 2 x $n bytes from quic-go, verified" "$(jget "$T/hc$n.json" requests_ok) == 2"
done

echo "# 4. through qasm-mbox nat (default, reactive, proactive) (t=${SECONDS}s)"
for try in 1 2 3; do
    TRK=$(reserve_ports 1)
    timeout 200 "$B/qasm-tracker" --listen "127.0.0.1:$TRK" >"$T/tracker.log" 2>&1 &
    PIDS+=($!)
    bound "$TRK" tcp && break
done
start_h3 s4
for mode in default reactive proactive; do
    # The NATs' pools: two ranges of 64, reserved (below the ephemeral range).
    lo=$(reserve_ports 128) || { echo "FAIL: no ports for the NAT pools"; exit 1; }
    for try in 1 2 3; do
        MB=$(reserve_ports 1)
        timeout 100 "$B/qasm-mbox" nat --mode "$mode" --listen "127.0.0.1:$MB" \
            --upstream "127.0.0.1:$s4_P4" --tracker "127.0.0.1:$TRK" --ports "$lo-$((lo + 63))" \
            --hold 100ms --log-level warn >"$T/mb-$mode.log" 2>&1 &
        PIDS+=($!)
        bound "$MB" && break
    done
    MB_PID=$!
    qc nat-$mode -connect "127.0.0.1:$MB" -connections 3 -requests 3 -size 100000
    check "nat $mode: quic-go client -> qasm-h3-server" "$(jget "$T/nat-$mode.json" requests_ok) == 9"
    qc natrb-$mode -connect "127.0.0.1:$MB" -requests 10 -size 100000 -rebind-every 30ms -rebinds 2 \
        -close-old -poke -timeout 5s
    check "nat $mode: quic-go client rebinding (old socket closed)" \
        "$(jget "$T/natrb-$mode.json" requests_ok) == 10"
    # The NAT's own upstream socket towards the quic-go server.
    MB2=$(reserve_ports 1)
    timeout 100 "$B/qasm-mbox" nat --mode "$mode" --listen "127.0.0.1:$MB2" \
        --upstream "127.0.0.1:$GP" --tracker "127.0.0.1:$TRK" --ports "$((lo + 64))-$((lo + 127))" \
        --hold 100ms --log-level warn >"$T/mb2-$mode.log" 2>&1 &
    PIDS+=($!)
    MB2_PID=$!
    bound "$MB2" || { echo "FAIL: nat $mode (second) did not bind"; FAILS=$((FAILS + 1)); }
    QASM_TRACKER=127.0.0.1:$TRK LD_PRELOAD="$B/libqasm-agent.so" \
        timeout 60 "$B/qasm-h3-client" --connect "127.0.0.1:$MB2" --json --verify --requests 3 \
        --size 100000 "https://127.0.0.1:$GP/" >"$T/hcnat-$mode.json" 2>"$T/hcnat-$mode.log"
    check "nat $mode: qasm-h3-client -> quic-go server" "$(jget "$T/hcnat-$mode.json" requests_ok) == 3"
    kill "$MB_PID" "$MB2_PID" 2>/dev/null
done
stop "$s4_PID"
echo "server: $(tail -1 "$T/s4.json" | cut -c1-400)"
check "through the NATs: no stateless reset" "$(jget "$T/s4.json" stateless_resets) == 0"
check "through the NATs: no connection error" "$(jget "$T/s4.json" conn_errors) == 0"

echo "# done (t=${SECONDS}s)"
if [ "$FAILS" -ne 0 ]; then
    echo "$FAILS check(s) failed"
    exit 1
fi
echo "PASS"
