# mbox_lib.sh: helpers shared by the tests/integration/mbox_*.sh scripts
# (sourced, not run). Every process is started under `timeout`, recorded,
# and killed by the EXIT trap; everything binds 127.0.0.1 only.
#
#   start NAME CMD...     run CMD in the background (stdout+stderr to $T/NAME.log)
#   stop NAME             SIGTERM the process started as NAME, wait for it
#   json FILE EXPR        print a value of a JSON file (python3 expression on d)
#   check DESC EXPR       fail the test unless the shell arithmetic EXPR holds
#   free_ports N          print the first of N consecutive ports, free (UDP and TCP)
#                         and reserved for this test (reserve_ports in test_lib.sh)
#   wait_bound PORT [tcp] wait until PORT is bound (UDP) / listening (TCP)
#   wait_json FILE EXPR   wait until a stats JSON file exists and EXPR holds
#   wait_stats NAME FILE EXPR  ask qasm-mbox NAME for fresh stats until EXPR holds
#   field JSON KEY        a key of a JSON string (-1 when absent)
#   lb_client_rtt MODE    a migrating client's extra flags through an lb in MODE (LB_RTT)
#   lb_checks LABEL MODE CLIENT RC STATS  the lb's outcome for a client of 40 requests
#                         migrating by port every 100 ms
#   HOLD, HS_TIMEOUT, LINGER   values for --hold, qasm-udpdrive --handshake-timeout
#                         and --linger that a loaded machine does not defeat
# Bounds are generous (30 s and up) and scaled by QASM_TEST_SLOWDOWN; the
# helpers of test_lib.sh (wait_until, scaled, ...) are available too.

set -u
. "$(dirname "${BASH_SOURCE[0]}")/test_lib.sh"
# --hold for the aware middleboxes: how long a packet waits for the tracker's
# answer. Loopback answers take well under a millisecond, but a loaded machine
# can delay any process by tens of milliseconds; a hold that expires turns into
# default treatment (a second mapping) and fails the test for no fault of the code.
HOLD=$(scaled 1)s
# Handshake timeout for qasm-udpdrive clients expected to get through.
HS_TIMEOUT=$(scaled 10)s
# How long a qasm-udpdrive client waits at the end for the replies of its last
# packets: it stops as soon as every phase has had one, so this costs time only
# when phases fail (the default modes).
LINGER=$(scaled 5)s
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
    release_ports
}
trap cleanup EXIT

for bin in qasm-mbox qasm-udpdrive qasm-tracker; do
    [ -x "$B/$bin" ] || { echo "SKIP/FAIL: $B/$bin not built"; exit 1; }
done

start() {
    local name=$1; shift
    # The bound is for a test killed without its trap running: it must outlast the
    # slowest whole test (a loaded machine stretched 60 s past what mbox_nat.sh needs).
    timeout --kill-after=2 "${TEST_PROC_TIMEOUT:-$(scaled 400)}" "$@" >"$T/$name.log" 2>&1 &
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
    reserve_ports "$1"
}

# Waits until a UDP (or TCP with "tcp") port is bound, at most 30 s (scaled).
wait_bound() {
    local port=$1 proto=${2:-udp}
    if [ "$proto" = tcp ]; then
        wait_until 30 tcp_listening "$port" && return 0
    else
        wait_until 30 udp_bound "$port" && return 0
    fi
    echo "port $port ($proto) never bound"; return 1
}

json_true() { [ -s "$1" ] && [ "$(json "$1" "$2" 2>/dev/null)" = 1 ]; }

# Waits until a stats JSON file exists and EXPR (on d) is true, at most 30 s
# (scaled), or $3 tries of 50 ms if that is longer.
wait_json() {
    local secs=30
    [ -n "${3:-}" ] && [ $(( $3 / 20 )) -gt 30 ] && secs=$(( $3 / 20 ))
    wait_until "$secs" json_true "$1" "$2"
}

# Asks a running qasm-mbox (started as NAME) for a fresh stats file and waits for it.
fresh_stats() {
    local name=$1 f=$2 pid
    pid=$(child_pid "$name")
    rm -f "$f"
    [ -n "$pid" ] && kill -USR1 "$pid"
    wait_json "$f" 1
}

# Asks for fresh stats (fresh_stats) until EXPR holds, at most 30 s (scaled).
fresh_true() { fresh_stats "$1" "$2" && json_true "$2" "$3"; }
wait_stats() {
    wait_until 30 fresh_true "$1" "$2" "$3"
}

finish() {
    if [ "$FAILS" -ne 0 ]; then
        echo "$FAILS check(s) failed"
        exit 1
    fi
    echo "all checks passed"
    exit 0
}

field() { echo "$1" | json /dev/stdin "d.get('$2', -1)"; }

# lb_client_rtt MODE: sets LB_RTT, the client's extra flags. Aware modes: a new path's
# validation may take 3 x the first PTO (~100 ms with the 10 ms default initial RTT), and a
# PATH_RESPONSE slower than that on a busy machine would fail it; default mode keeps the 10 ms,
# so a broken path fails before the next migration.
lb_client_rtt() {
    LB_RTT=()
    [ "$1" = default ] || LB_RTT=(--initial-rtt 100ms)
}

# lb_checks LABEL MODE CLIENT RC STATS: default breaks the migrated paths (the other backend;
# ngtcp2 falls back to its old path when the new one fails validation, so the requests may
# still complete: the broken migration shows in the path counts), aware keeps the backend.
lb_checks() {
    local l=$1 mode=$2 c=$3 rc=$4 s=$5
    if [ "$mode" = default ]; then
        check "${l}default: migrated paths broke (sent to the other backend)" \
            "$rc != 0 || $(field "$c" path_validation_failed) > 0"
        return
    fi
    check "$l$mode: every request answered" "$rc == 0 && $(field "$c" requests_ok) == 40"
    # (a validation the next migration overtook on a busy machine is abandoned, not failed)
    check "$l$mode: every migrated path validated" \
        "$(field "$c" path_validation_failed) - $(field "$c" path_validation_aborted) == 0"
    check "$l$mode: one LB entry for the connection" "$(json "$s" "d['mappings_created']") == 1"
}

# One line of the middlebox's stats worth seeing in a log.
summary() {
    json "$1" "' '.join('%s=%s' % (k, d[k]) for k in ('mappings', 'mappings_created', 'ports_high_water', 'packets_forwarded', 'packets_held', 'released_joined', 'released_default', 'hold_timeouts', 'migrations', 'unattested', 'tracker_queries', 'tracker_pushes', 'tracker_unavailable')) + ' dropped=%s' % d['packets_dropped']['total']"
}
