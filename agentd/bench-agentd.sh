#!/usr/bin/env bash
# bench-agentd.sh: cost of the eBPF client agent (qasm-agentd), as root.
#  1. Goodput and CPU of a download by Debian's gtlsclient (no LD_PRELOAD)
#     from gtlsserver on 127.0.0.1, one --change-local-addr migration, in a
#     cgroup v2 the script creates; per round, interleaved (the order
#     rotates): without any agent ("off"), with qasm-agentd --cgroup
#     ("agentd"), with qasm-agentd --cgroup --prereg gnutls ("prereg"), and
#     with the library agent (LD_PRELOAD, "lib") for comparison. Client CPU
#     is user+sys of the client process; the daemon's CPU is read from
#     /proc/PID/stat over the download (the daemon is started before each
#     agentd/prereg download and stopped after it).
#  2. Per-packet cost of the BPF programs under that traffic:
#     kernel.bpf_stats_enabled=1 for two extra downloads (one per daemon
#     mode; the sysctl is restored on exit), run_time_ns / run_cnt of each of
#     the daemon's programs from `bpftool prog show`.
#  3. Per-packet cost on one crafted packet: build/test_agentd_prog's cost
#     lines (BPF_PROG_TEST_RUN, 10^6 repeats per case).
# Usage: agentd/bench-agentd.sh [ROUNDS (7)] [MB (100)] ; env QASM_BUILD (build)
# Prints a Markdown section on stdout (for docs/BENCHMARKS.md); exit 77 when
# it cannot run here (not root, no cgroup v2, qasm-agentd not built).
set -u
case ${1:-} in
-h | --help)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
B=${QASM_BUILD:-build}
ROUNDS=${1:-7}
MB=${2:-100}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ ]] ||
    { echo "bench-agentd.sh: ROUNDS and MB must be positive integers (see --help)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "SKIP: bench-agentd.sh needs root (BPF, cgroups)" >&2; exit 77; }
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG2" ] || { echo "SKIP: no cgroup v2 hierarchy mounted" >&2; exit 77; }
for x in "$B/qasm-agentd" "$B/qasm-tracker" "$B/libqasm-agent.so" "$B/test_agentd_prog"; do
    [ -e "$x" ] || { echo "SKIP: $x not built" >&2; exit 77; }
done
for x in gtlsclient gtlsserver bpftool python3 openssl; do
    command -v "$x" >/dev/null || { echo "SKIP: $x not installed" >&2; exit 77; }
done
AGENT=$(readlink -f "$B/libqasm-agent.so")
T=$(mktemp -d /tmp/qasm-agentd-bench.XXXXXX)
CG=$CG2/qasm-agentd-bench-$$
mkdir "$CG" || exit 1
STATS_OLD=$(cat /proc/sys/kernel/bpf_stats_enabled)
PIDS=()
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    echo "$STATS_OLD" >/proc/sys/kernel/bpf_stats_enabled
    for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
freeport() {
    python3 -c 'import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0))
t=socket.socket(); t.bind(("127.0.0.1",s.getsockname()[1])); print(s.getsockname()[1])'
}
TP=$(freeport); SP=$(freeport)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=localhost >/dev/null 2>&1
mkdir -p "$T/htdocs"
head -c $((MB * 1000000)) /dev/urandom >"$T/htdocs/big.bin"
timeout 3600 "$B/qasm-tracker" --listen "127.0.0.1:$TP" --log-level warn >"$T/tracker.log" 2>&1 &
PIDS+=($!)
timeout 3600 gtlsserver -q -d "$T/htdocs" 127.0.0.1 "$SP" "$T/key.pem" "$T/cert.pem" \
    >"$T/server.log" 2>&1 &
PIDS+=($!)
for port in "$TP" "$SP"; do # wait until both listen
    for _ in $(seq 100); do
        [ -n "$(ss -Hlun "sport = :$port" 2>/dev/null)" ] && break
        sleep 0.1
    done
done

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Starts qasm-agentd (MODE agentd | prereg) on the cgroup; waits until it watches.
start_daemon() {
    local extra=()
    [ "$1" = prereg ] && extra=(--prereg gnutls)
    rm -f "$T/agentd.json"
    "$B/qasm-agentd" --tracker "127.0.0.1:$TP" --cgroup "$CG" "${extra[@]}" --log warn \
        --stats-json "$T/agentd.json" >>"$T/agentd.log" 2>&1 &
    DPID=$!
    for _ in $(seq 300); do
        [ -s "$T/agentd.json" ] && return 0
        kill -0 "$DPID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench-agentd.sh: qasm-agentd did not start: $(tail -n 3 "$T/agentd.log")" >&2
    exit 1
}
stop_daemon() {
    kill -INT "$DPID" && wait "$DPID"
    DPID=
}

# One download in the cgroup: prints "wall user sys" (seconds) of the client.
client() {
    local TIMEFORMAT="%R %U %S"
    { time env "$@" timeout 120 bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$CG" \
        gtlsclient -q --no-http-dump --no-quic-dump --exit-on-all-streams-close \
        --change-local-addr=50ms 127.0.0.1 "$SP" https://localhost/big.bin \
        >/dev/null 2>"$T/client.err"; } 2>&1
}

# One round of MODE: appends "mode wall user sys daemon_cpu_s opened" to $T/runs.txt.
round() {
    local m=$1 t d0 d1 opened=0 dcpu=0
    case $m in
    off) t=$(client) ;;
    lib) t=$(client LD_PRELOAD="$AGENT" QASM_TRACKER="127.0.0.1:$TP") ;;
    agentd | prereg)
        start_daemon "$m"
        d0=$(cpu_ticks "$DPID")
        t=$(client)
        d1=$(cpu_ticks "$DPID")
        stop_daemon
        dcpu=$(python3 -c "import os; print(($d1 - $d0) / os.sysconf('SC_CLK_TCK'))")
        opened=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["opened"])' \
            "$T/agentd.json")
        ;;
    esac
    echo "$m $t $dcpu $opened" >>"$T/runs.txt"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M)
for i in $(seq "$ROUNDS"); do
    case $((i % 4)) in
    0) order="off agentd prereg lib" ;; 1) order="agentd prereg lib off" ;;
    2) order="prereg lib off agentd" ;; *) order="lib off agentd prereg" ;;
    esac
    for m in $order; do round "$m"; done
done

# bpf_stats: one download per daemon mode with the kernel's run-time accounting on.
prog_stats() { # prints "name run_time_ns run_cnt" for the programs $DPID holds (its fds'
    # fdinfo names their ids: Debian's bpftool cannot list programs by process)
    local id
    for id in $(grep -h '^prog_id:' /proc/"$DPID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u); do
        bpftool -j prog show id "$id" | python3 -c '
import json, sys
p = json.load(sys.stdin)
print(p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))'
    done
}
echo 1 >/proc/sys/kernel/bpf_stats_enabled
for m in agentd prereg; do
    start_daemon "$m"
    prog_stats | sed "s/^/$m before /" >>"$T/stats.txt"
    client >/dev/null
    prog_stats | sed "s/^/$m after /" >>"$T/stats.txt"
    stop_daemon
done
echo "$STATS_OLD" >/proc/sys/kernel/bpf_stats_enabled
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

"$B/test_agentd_prog" 2>&1 | grep -o 'cost: .*' >"$T/cost.txt"

python3 - "$T/runs.txt" "$T/stats.txt" "$T/cost.txt" "$MB" "$ROUNDS" "$START" "$LOAD0" "$LOAD1" <<'EOF'
import statistics, sys
runs, stats, cost, mb, rounds, start, l0, l1 = sys.argv[1:9]
mb, rounds = int(mb), int(rounds)
rows = {}
for line in open(runs):
    m, wall, user, sys_, dcpu, opened = line.split()
    rows.setdefault(m, []).append((mb * 8e6 / float(wall) / 1e9, float(user) + float(sys_),
                                   float(dcpu), int(opened)))
med = statistics.median
print("Run at %s UTC, %d rounds of %d MB, load average %s before, %s after."
      % (start, rounds, mb, l0, l1))
print()
print("| mode | goodput Gbit/s median (min-max) | ratio vs off | client CPU s median (min-max) "
      "| ratio vs off | daemon CPU s (median, max) | rounds the daemon saw the connection |")
print("|---|---|---|---|---|---|---|")
g0 = med([r[0] for r in rows["off"]])
c0 = med([r[1] for r in rows["off"]])
labels = (("off", "without agent"), ("agentd", "`qasm-agentd --cgroup`"),
          ("prereg", "`qasm-agentd --cgroup --prereg gnutls`"),
          ("lib", "library agent (`LD_PRELOAD`, default)"))
for m, label in labels:
    r = rows[m]
    g, c = [x[0] for x in r], [x[1] for x in r]
    d = [x[2] for x in r]
    dcol = "%.2f, %.2f" % (med(d), max(d)) if m in ("agentd", "prereg") else "-"
    seen = "%d/%d" % (sum(1 for x in r if x[3] >= 1), len(r)) if m in ("agentd", "prereg") else "-"
    print("| %s | %.2f (%.2f-%.2f) | %.3f | %.3f (%.3f-%.3f) | %.3f | %s | %s |"
          % (label, med(g), min(g), max(g), med(g) / g0, med(c), min(c), max(c), med(c) / c0,
             dcol, seen))
print()
st = {}
for line in open(stats):
    m, when, name, ns, cnt = line.split()
    st.setdefault((m, name), {})[when] = (int(ns), int(cnt))
print("Under the same traffic (`kernel.bpf_stats_enabled=1`, one %d MB download per mode):" % mb)
print()
print("| daemon | program | runs | ns per run |")
print("|---|---|---|---|")
for (m, name), v in sorted(st.items()):
    if "before" in v and "after" in v:
        ns, cnt = v["after"][0] - v["before"][0], v["after"][1] - v["before"][1]
        print("| %s | %s | %d | %s |" % (m, name, cnt, "%.0f" % (ns / cnt) if cnt else "-"))
print()
print("One crafted packet, `BPF_PROG_TEST_RUN` (`build/test_agentd_prog`):")
print()
for line in open(cost):
    print("* " + line.strip()[len("cost: "):])
EOF
