#!/usr/bin/env bash
# bench-agent.sh: cost of the client agent (build/libqasm-agent.so).
#  1. Goodput and CPU of a download by Debian's gtlsclient from gtlsserver on
#     127.0.0.1, without the agent, with it (default: spare CIDs learnt by
#     walking decrypted frames), with QASM_AGENT_PREREG=qlog and with
#     QASM_AGENT_PREREG=off, interleaved in the same run; medians and ratios.
#  2. Instructions (valgrind --tool=callgrind, repeatable on a noisy machine):
#     a 5 MB download without and with the agent; instructions of the event
#     loop per received packet, and the agent's own instructions per packet;
#     qasm-h3-client at 100 Hz: the agent's instructions per migration.
#  3. Cost per migration: qasm-h3-client migrating at 100 Hz, with and without
#     the agent (CPU difference / migrations), and the agent's own timers
#     (time inside the migration call, total reporting time).
# Usage: client-agent/bench-agent.sh [RUNS (7)] [MB (100)] ; env QASM_BUILD (build)
# Prints a Markdown section on stdout (for docs/BENCHMARKS.md).
set -u
case ${1:-} in
-h | --help)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
B=${QASM_BUILD:-build}
. "$(dirname "$0")/bench_gtls.sh"
RUNS=${1:-7}
MB=${2:-100}
[[ $RUNS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ ]] ||
    { echo "bench-agent.sh: RUNS and MB must be positive integers (see --help)" >&2; exit 2; }
for x in "$B/libqasm-agent.so" "$B/qasm-tracker" "$B/qasm-h3-client" "$B/qasm-h3-server"; do
    [ -e "$x" ] || { echo "bench-agent.sh: $x not built" >&2; exit 2; }
done
AGENT=$(readlink -f "$B/libqasm-agent.so")
T=$(mktemp -d /tmp/qasm-agent-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    release_ports
    rm -rf "$T"
}
trap cleanup EXIT
bench_gtls_up 900
HP=$(reserve_ports 1) || exit 1
timeout 900 "$B/qasm-h3-server" --listen "127.0.0.1:$HP" --no-json >"$T/h3server.log" 2>&1 &
PIDS+=($!)
wait_until 30 udp_bound "$HP" || { echo "bench-agent.sh: qasm-h3-server did not start" >&2; exit 1; }

# One timed run: prints "wall user sys" (seconds) of the client.
run_gtls() { # MODE: off | on | qlog | noprereg
    local env=()
    case $1 in
    on) env=(LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP") ;;
    qlog) env=(LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP" QASM_AGENT_PREREG=qlog) ;;
    noprereg) env=(LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP" QASM_AGENT_PREREG=off) ;;
    esac
    local TIMEFORMAT="%R %U %S"
    { time env "${env[@]}" timeout 60 gtlsclient -q --no-http-dump --no-quic-dump \
        --exit-on-all-streams-close --change-local-addr=50ms \
        127.0.0.1 "$SP" https://localhost/big.bin >/dev/null 2>&1; } 2>&1
}

for i in $(seq "$RUNS"); do
    # Rotate the order so that no mode always runs first.
    case $((i % 4)) in
    0) order="off on qlog noprereg" ;; 1) order="on qlog noprereg off" ;;
    2) order="qlog noprereg off on" ;; *) order="noprereg off on qlog" ;;
    esac
    for m in $order; do
        echo "$m $(run_gtls "$m")" >>"$T/gtls.txt"
    done
done

# Callgrind: 5 MB, one run per mode.
head -c 5000000 /dev/urandom >"$T/htdocs/f5.bin"
for m in off on; do
    env=()
    [ "$m" = on ] && env=(LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP")
    env "${env[@]}" timeout 300 valgrind --tool=callgrind --callgrind-out-file="$T/cg.$m" \
        gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
        --change-local-addr=50ms 127.0.0.1 "$SP" https://localhost/f5.bin >/dev/null 2>"$T/vg.$m"
done

# Callgrind: qasm-h3-client at 100 Hz for 2 s with the agent.
LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP" timeout 120 valgrind --tool=callgrind \
    --callgrind-out-file="$T/cg.h3" "$B/qasm-h3-client" --migrate-hz 100 --duration 2s --size 20k \
    --interval 5ms --json "https://127.0.0.1:$HP/" >"$T/cgh3.json" 2>"$T/vg.h3"

run_h3() { # MODE: off | on ; prints "user sys migrations" and keeps the agent line
    local env=()
    [ "$1" = on ] && env=(LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP" QASM_AGENT_LOG=info)
    local TIMEFORMAT="%U %S"
    local t
    t=$( { time env "${env[@]}" timeout 30 "$B/qasm-h3-client" --migrate-hz 100 --duration 3s \
        --size 20k --interval 5ms --json "https://127.0.0.1:$HP/" >"$T/h3.json" \
        2>"$T/h3.err"; } 2>&1)
    grep -o 'exit: .*' "$T/h3.err" >>"$T/h3agent.txt"
    echo "$t $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["migrations"])' "$T/h3.json")"
}
for i in $(seq 5); do
    echo "off $(run_h3 off)" >>"$T/h3.txt"
    echo "on $(run_h3 on)" >>"$T/h3.txt"
done

python3 - "$T/gtls.txt" "$T/h3.txt" "$T/h3agent.txt" "$MB" "$RUNS" "$T/cg.off" "$T/cg.on" "$T/cg.h3" "$T/cgh3.json" <<'EOF'
import json, re, statistics, subprocess, sys
gtls, h3, h3agent, mb, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
cg_off, cg_on, cg_h3, cg_h3json = sys.argv[6], sys.argv[7], sys.argv[8], sys.argv[9]
rows = {}
for line in open(gtls):
    m, wall, user, sys_ = line.split()
    rows.setdefault(m, []).append((float(wall), float(user) + float(sys_)))
med = lambda xs: statistics.median(xs)
print("| mode | goodput (Gbit/s, median of %d) | client CPU (s, median) | goodput ratio vs off | CPU ratio vs off |" % runs)
print("|---|---|---|---|---|")
base_g = mb * 8e6 / med([w for w, _ in rows["off"]]) / 1e9
base_c = med([c for _, c in rows["off"]])
for m, label in (("off", "without agent"), ("on", "with agent (default, PREREG=decrypt)"),
                 ("qlog", "with agent, QASM_AGENT_PREREG=qlog"),
                 ("noprereg", "with agent, QASM_AGENT_PREREG=off")):
    g = mb * 8e6 / med([w for w, _ in rows[m]]) / 1e9
    c = med([c for _, c in rows[m]])
    print("| %s | %.2f | %.3f | %.3f | %.3f |" % (label, g, c, g / base_g, c / base_c))
print()

def cg(path):
    """(event loop inclusive Ir, agent exclusive Ir, calls to ngtcp2's read_pkt)"""
    inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    exc = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                         capture_output=True, text=True).stdout
    num = lambda l: int(l.split()[0].replace(",", ""))
    loop = max([num(l) for l in inc.splitlines() if ":ev_run " in l] or [0])
    agent = sum(num(l) for l in exc.splitlines()
                if "libqasm-agent.so]" in l and re.match(r"\s*[\d,]+ ", l))
    calls, cur = 0, None
    names = {}
    for l in open(path):
        m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", l)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3)
            cur = names.get(m.group(2), "") if m.group(1) == "cfn" else None
            continue
        m = re.match(r"calls=(\d+)", l)
        if m and cur == "ngtcp2_crypto_decrypt_cb":
            calls += int(m.group(1))
    return loop, agent, calls
try:
    loff, _, poff = cg(cg_off)
    lon, aon, pon = cg(cg_on)
    print("callgrind, 5 MB download (%d / %d packets decrypted): event loop %.0f / %.0f instructions "
          "per packet without / with the agent; the agent's own code **%.0f instructions per packet "
          "(%.1f %% of the client's per-packet instructions)**."
          % (poff, pon, loff / poff, lon / pon, aon / pon, 100.0 * aon / pon / (loff / poff)))
except Exception as ex:  # valgrind missing or failed
    print("callgrind figures unavailable: %s" % ex)
try:
    _, agent_h3, pkts_h3 = cg(cg_h3)
    migs_h3 = json.load(open(cg_h3json))["migrations"]
    exc = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", cg_h3],
                         capture_output=True, text=True).stdout
    rep = max([int(l.split()[0].replace(",", "")) for l in exc.splitlines()
               if re.search(r"interpose\.c:(flush|batch_send)\b", l)] or [0])
    print()
    print("callgrind, qasm-h3-client at 100 Hz (%d migrations, %d packets decrypted): the agent's own "
          "user-space code %.0f instructions per migration overall (all of its work divided by the "
          "migrations), of which encoding and handing reports to the kernel (flush) %.0f; the kernel's "
          "`sendmmsg` path is not counted by callgrind." % (migs_h3, pkts_h3, agent_h3 / max(migs_h3, 1),
                                                          rep / max(migs_h3, 1)))
except Exception as ex:
    print("callgrind h3 figures unavailable: %s" % ex)
print()
h = {"off": [], "on": []}
for line in open(h3):
    m, user, sys_, mig = line.split()
    h[m].append((float(user) + float(sys_), int(mig)))
off_c = med([c for c, _ in h["off"]])
on_c = med([c for c, _ in h["on"]])
migs = med([n for _, n in h["on"]])
incall, total = [], []
for line in open(h3agent):
    a = re.search(r"(\d+) migrations, ([\d.]+) us/migration in-call, ([\d.]+) us reporting", line)
    if a and int(a.group(1)):
        incall.append(float(a.group(2)))
        total.append(float(a.group(3)) / int(a.group(1)))
print("qasm-h3-client, 100 Hz for 3 s (5 runs each): client CPU %.3f s without, %.3f s with the agent "
      "(%d migrations): **%.1f µs CPU per migration** (difference / migrations; includes the frame walk "
      "of every received packet, and noise). Agent's own timers (wall clock, median): **%.1f µs inside the "
      "migration call** (ACTIVATE + address report sent before the call returns), **%.1f µs of reporting "
      "per migration** in total (spare, active, address, retire: ~4 datagrams)."
      % (off_c, on_c, migs, (on_c - off_c) * 1e6 / max(migs, 1), med(incall) if incall else 0,
         med(total) if total else 0))
EOF
