#!/usr/bin/env bash
# bench_goodput.sh [SECONDS] [ROUNDS]: HTTP/3 goodput on loopback with no
# migration, at 100 Hz and at 1000 Hz, in the same run (rounds interleaved so
# machine noise hits all three alike). One qasm-h3-server on 127.0.0.1, one
# qasm-h3-client connection downloading /bytes/10M back to back for SECONDS
# (default 5) per case. Prints a Markdown table: median goodput per case, its
# ratio to the no-migration case, migrations done and blocked.
# Env: QASM_BUILD (default build); H3_GSO=0 to send without UDP GSO (the
# script passes --gso to server and client by default: loopback goodput).
set -u
B=${QASM_BUILD:-build}
SECS=${1:-5}
ROUNDS=${2:-3}
T=$(mktemp -d /tmp/qasm-h3bench.XXXXXX)
SPID=
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
P=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GSO=--gso
[ "${H3_GSO:-1}" = 0 ] && GSO=
# shellcheck disable=SC2086
timeout $((SECS * ROUNDS * 3 + 120)) "$B/qasm-h3-server" --listen "127.0.0.1:$P" $GSO \
    >"$T/srv.json" 2>"$T/srv.log" &
SPID=$!
sleep 0.3
declare -A ARGS=([none]="" [100hz]="--migrate-hz 100" [1000hz]="--migrate-hz 1000")
CASES="none 100hz 1000hz"
for r in $(seq "$ROUNDS"); do
    for c in $CASES; do
        # shellcheck disable=SC2086
        timeout $((SECS + 60)) "$B/qasm-h3-client" --json --duration "${SECS}s" --size 10M \
            $GSO ${ARGS[$c]} "https://127.0.0.1:$P/" >"$T/$c.$r.json" 2>"$T/$c.$r.log" ||
            echo "warning: $c round $r exited $?" >&2
    done
done
python3 - "$T" "$ROUNDS" <<'PY'
import json, statistics, sys
d, rounds = sys.argv[1], int(sys.argv[2])
res = {}
for c in ("none", "100hz", "1000hz"):
    runs = []
    for r in range(1, rounds + 1):
        try:
            runs.append(json.load(open(f"{d}/{c}.{r}.json")))
        except (OSError, ValueError):
            pass
    res[c] = runs
base = statistics.median(x["throughput_bps"] for x in res["none"])
print("| case | goodput (median of %d) | ratio to no migration | migrations/s | blocked | failed requests |" % rounds)
print("|---|---|---|---|---|---|")
for c, name in (("none", "no migration"), ("100hz", "100 Hz"), ("1000hz", "1000 Hz")):
    runs = res[c]
    g = statistics.median(x["throughput_bps"] for x in runs)
    mps = statistics.median(x["migrations"] / x["duration_s"] for x in runs)
    blk = sum(x["migrations_blocked"] for x in runs)
    fl = sum(x["requests_failed"] for x in runs)
    print("| %s | %.2f Gbit/s | %.2f | %.0f | %d | %d |" % (name, g / 1e9, g / base, mps, blk, fl))
PY
