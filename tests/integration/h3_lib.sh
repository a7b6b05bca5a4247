# h3_lib.sh: helpers sourced by the h3_*.sh integration tests (not a test itself).
# Provides: $B, $SRV, $CLI, $T (temp dir), PIDS + cleanup trap, fail, freeport,
# jget FILE FIELD (a field of a one-line JSON object), pattern N FILE (the
# server's /bytes/N body, built independently from content.h's formula),
# start_server NAME ARGS... (pid in PIDS, stdout in $T/NAME.json; returns once
# every --listen port is bound), wait_udp PORT, and test_lib.sh (wait_until,
# scaled, reserve_ports, ...). freeport prints a port free on 127.0.0.1 and ::1
# and reserved for this test (test_lib.sh), not one that someone may take first.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
B=${QASM_BUILD:-build}
SRV=$B/qasm-h3-server
CLI=$B/qasm-h3-client
for x in "$SRV" "$CLI"; do
    [ -x "$x" ] || { echo "FAIL: $x not built"; exit 1; }
done
T=$(mktemp -d /tmp/qasm-h3.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
    release_ports
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$T"/*.log "$T"/*.json; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done
    exit 1
}
freeport() { reserve_ports 1; }
# Waits (30 s, scaled) until UDP port $1 is bound.
wait_udp() { wait_until 30 udp_bound "$1"; }
jget() {
    python3 -c 'import json,sys
line=[l for l in open(sys.argv[1]) if l.startswith("{")][-1]
print(json.loads(line)[sys.argv[2]])' "$1" "$2"
}
pattern() {
    python3 -c 'import sys
P=65521; n=int(sys.argv[1])
t=bytes((7*j + j//256) % 256 for j in range(P))
sys.stdout.buffer.write((t * (n // P + 1))[:n])' "$1" >"$2"
}
start_server() {
    local name=$1; shift
    timeout "$(scaled 300)" "$SRV" "$@" >"$T/$name.json" 2>"$T/$name.log" &
    local pid=$! a port
    PIDS+=($pid)
    eval "${name}_PID=$pid"
    # Ready when every --listen port is bound (or gone: it did not start).
    while [ $# -gt 0 ]; do
        a=$1; shift
        [ "$a" = --listen ] && [ $# -gt 0 ] || continue
        port=${1##*:}; shift
        _bound_or_gone() { udp_bound "$1" || ! kill -0 "$2" 2>/dev/null; }
        wait_until 30 _bound_or_gone "$port" "$pid" || fail "$name: port $port not bound"
    done
    kill -0 "$pid" 2>/dev/null || fail "$name did not start"
}
# stop_server NAME: SIGTERM and wait, so NAME.json holds the summary.
stop_server() {
    local pid
    eval "pid=\$${1}_PID"
    kill -TERM "$pid" 2>/dev/null
    _gone() { ! kill -0 "$1" 2>/dev/null; }
    wait_until 30 _gone "$pid"
}
