# h3_lib.sh: helpers sourced by the h3_*.sh integration tests (not a test itself).
# Provides: $B, $SRV, $CLI, $T (temp dir), PIDS + cleanup trap, fail, freeport,
# jget FILE FIELD (a field of a one-line JSON object), pattern N FILE (the
# server's /bytes/N body, built independently from content.h's formula),
# start_server NAME ARGS... (pid in PIDS, stdout in $T/NAME.json).
set -u
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
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    for f in "$T"/*.log "$T"/*.json; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done
    exit 1
}
freeport() {
    python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0))
u=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); u.bind(("::1",s.getsockname()[1]))
print(s.getsockname()[1])'
}
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
    timeout 300 "$SRV" "$@" >"$T/$name.json" 2>"$T/$name.log" &
    PIDS+=($!)
    eval "${name}_PID=$!"
    sleep 0.3
    kill -0 "$!" 2>/dev/null || fail "$name did not start"
}
# stop_server NAME: SIGTERM and wait, so NAME.json holds the summary.
stop_server() {
    local pid
    eval "pid=\$${1}_PID"
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
