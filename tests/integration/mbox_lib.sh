# mbox_lib.sh: helpers shared by the tests/integration/mbox_*.sh scripts
# (sourced, not run). Every process is started under `timeout`, recorded,
# and killed by the EXIT trap; everything binds 127.0.0.1 only.
#
#   start NAME CMD...     run CMD in the background (stdout+stderr to $T/NAME.log)
#   stop NAME             SIGTERM the process started as NAME, wait for it
#   json FILE EXPR        print a value of a JSON file (python3 expression on d)
#   check DESC EXPR       fail the test unless the shell arithmetic EXPR holds
#   free_ports N          print the first of N consecutive free UDP+TCP ports

set -u
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$PWD/$B ;; esac
T=$(mktemp -d /tmp/qasm-mbox-test.XXXXXX)
declare -A PIDS=()
FAILS=0

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$FAILS" -ne 0 ] || [ "${KEEP_LOGS:-0}" = 1 ]; then
        for f in "$T"/*.log; do [ -s "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
    fi
    rm -rf "$T"
}
trap cleanup EXIT

for bin in qasm-mbox qasm-udpdrive qasm-tracker; do
    [ -x "$B/$bin" ] || { echo "SKIP/FAIL: $B/$bin not built"; exit 1; }
done

start() {
    local name=$1; shift
    timeout --kill-after=2 "${TEST_PROC_TIMEOUT:-60}" "$@" >"$T/$name.log" 2>&1 &
    PIDS[$name]=$!
}

# The pid of the program itself (the child of its `timeout`), for signals.
child_pid() {
    local c
    c=$(cat "/proc/${PIDS[$1]}/task/${PIDS[$1]}/children" 2>/dev/null)
    [ -n "$c" ] || c=$(pgrep -P "${PIDS[$1]}" 2>/dev/null)
    echo "${c%% *}"
}

stop() {
    local p=${PIDS[$1]:-}
    [ -n "$p" ] || return 0
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    unset "PIDS[$1]"
}

json() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2]); print(int(v) if isinstance(v,bool) else v)' "$1" "$2"
}

check() {
    local desc=$1 expr=$2
    if (( expr )); then
        echo "ok   - $desc"
    else
        echo "FAIL - $desc   [$expr]"
        FAILS=$((FAILS + 1))
    fi
}

free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 32000)
    socks = []
    try:
        for p in range(base, base + n):
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind(("127.0.0.1", p))
                socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
EOF
}

# Waits until a UDP (or TCP with "tcp") port is bound, at most ~5 s.
wait_bound() {
    local port=$1 proto=${2:-udp} i
    for i in $(seq 1 100); do
        if [ "$proto" = tcp ]; then
            ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && return 0
        else
            ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && return 0
            ss -Hun "sport = :$port" 2>/dev/null | grep -q . && return 0
        fi
        sleep 0.05
    done
    echo "port $port ($proto) never bound"; return 1
}

# Waits until a stats JSON file exists and EXPR (on d) is true, at most ~5 s (or $3 tries of 50 ms).
wait_json() {
    local f=$1 expr=$2 i
    for i in $(seq 1 "${3:-100}"); do
        [ -s "$f" ] && [ "$(json "$f" "$expr" 2>/dev/null)" = 1 ] && return 0
        sleep 0.05
    done
    return 1
}

# Asks a running qasm-mbox (started as NAME) for a fresh stats file and waits for it.
fresh_stats() {
    local name=$1 f=$2 pid
    pid=$(child_pid "$name")
    rm -f "$f"
    [ -n "$pid" ] && kill -USR1 "$pid"
    wait_json "$f" 1
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed"
        exit 1
    fi
    echo "all checks passed"
    exit 0
}

# One line of the middlebox's stats worth seeing in a log.
summary() {
    json "$1" "' '.join('%s=%s' % (k, d[k]) for k in ('mappings', 'mappings_created', 'ports_high_water', 'packets_forwarded', 'packets_held', 'released_joined', 'released_default', 'hold_timeouts', 'migrations', 'unattested', 'tracker_queries', 'tracker_pushes', 'tracker_unavailable')) + ' dropped=%s' % d['packets_dropped']['total']"
}
