#!/usr/bin/env bash
# bench-agentd.sh: cost of the eBPF client agent (qasm-agentd), as root.
#  1. Goodput and CPU of a download by Debian's gtlsclient (no LD_PRELOAD)
#     from gtlsserver on 127.0.0.1, one --change-local-addr migration, in a
#     cgroup v2 the script creates; per round, interleaved (the order
#     rotates by one mode each round): without any agent ("off"), with
#     qasm-agentd --cgroup ("agentd"), with qasm-agentd --cgroup --prereg
#     gnutls ("prereg"), and with the library agent (LD_PRELOAD, "lib") for
#     comparison. Client CPU is user+sys of the client process; the daemon's
#     CPU is read from /proc/PID/stat over the download (the daemon is
#     started before each agentd/prereg download and stopped after it).
#     Each mode's goodput and client CPU vs off are reported as the median
#     [quartiles] of the per-round ratios (a round's downloads run back to
#     back, so a slow minute of a busy machine moves both sides of a ratio
#     alike), with a 95 % confidence interval of that median (order
#     statistics, distribution-free; 6 pairs at least), and as the ratio of
#     the medians over the whole run. 100 MB downloads: at 25 MB the
#     client's start and handshake weigh in and the pairs spread wider.
#  2. The kernel's own accounting of the programs under that traffic: ACCT
#     more downloads per daemon mode among MODES with `qasm-agentd
#     --bpf-stats` (BPF_ENABLE_STATS held by the daemon: the sysctl
#     kernel.bpf_stats_enabled is never touched, so a concurrent benchmark
#     cannot find it left on): each program's run count and run time over
#     the download (the daemon's --stats-json at exit), per run, and the
#     programs' total run time divided by the CPU time of client (user+sys)
#     + server + daemon over the download (/proc/PID/task/*/schedstat, ns):
#     an upper bound on the share of a CPU-bound transfer's goodput the
#     programs can take (it includes the accounting's own clock reads).
#     These downloads are not among the pairs of 1. (the accounting costs
#     every BPF program two clock reads per run).
#  3. Per-packet cost on one crafted packet: build/test_agentd_prog's cost
#     lines (BPF_PROG_TEST_RUN, 10^6 repeats per case).
# Usage: agentd/bench-agentd.sh [ROUNDS] [MB (100)]
#   env MODES: the modes to run, "off" and at least one other
#     (default "off agentd prereg lib"); e.g. MODES="off agentd".
#   ROUNDS defaults to 7 when MODES has prereg (its downloads take about 3x
#     as long), else to 31 (31 off/agentd pairs: 2-3 minutes).
#   env ACCT: accounted downloads per daemon mode (default 5)
#   env QASM_BUILD (build)
set -u
case ${1:-} in
-h | --help)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
B=${QASM_BUILD:-build}
. "$(dirname "$0")/../client-agent/bench_gtls.sh"
read -r -a MODE_LIST <<<"${MODES:-off agentd prereg lib}"
seen=" "
for m in "${MODE_LIST[@]}"; do
    case $m in off | agentd | prereg | lib) ;; *)
        echo "bench-agentd.sh: MODES: unknown mode '$m' (off agentd prereg lib)" >&2; exit 2 ;;
    esac
    [[ $seen == *" $m "* ]] && { echo "bench-agentd.sh: MODES: '$m' twice" >&2; exit 2; }
    seen="$seen$m "
done
[[ $seen == *" off "* && ${#MODE_LIST[@]} -ge 2 ]] ||
    { echo "bench-agentd.sh: MODES must hold off and at least one other mode" >&2; exit 2; }
DEF_ROUNDS=31
[[ $seen == *" prereg "* ]] && DEF_ROUNDS=7
ROUNDS=${1:-$DEF_ROUNDS}
MB=${2:-100}
ACCT=${ACCT:-5}
[[ $ROUNDS =~ ^[1-9][0-9]*$ && $MB =~ ^[1-9][0-9]*$ && $ACCT =~ ^[0-9]+$ ]] ||
    { echo "bench-agentd.sh: ROUNDS, MB (positive) and ACCT must be integers (see --help)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "SKIP: bench-agentd.sh needs root (BPF, cgroups)" >&2; exit 77; }
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
[ -n "$CG2" ] || { echo "SKIP: no cgroup v2 hierarchy mounted" >&2; exit 77; }
for x in "$B/qasm-agentd" "$B/qasm-tracker" "$B/libqasm-agent.so" "$B/test_agentd_prog"; do
    [ -e "$x" ] || { echo "SKIP: $x not built" >&2; exit 77; }
done
for x in gtlsclient gtlsserver python3 openssl; do
    command -v "$x" >/dev/null || { echo "SKIP: $x not installed" >&2; exit 77; }
done
AGENT=$(readlink -f "$B/libqasm-agent.so")
T=$(mktemp -d /tmp/qasm-agentd-bench.XXXXXX)
CG=$CG2/qasm-agentd-bench-$$
mkdir "$CG" || exit 1
PIDS=()
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    release_ports
    for p in $(cat "$CG/cgroup.procs" 2>/dev/null); do kill "$p" 2>/dev/null; done
    for _ in $(seq 50); do rmdir "$CG" 2>/dev/null && break; sleep 0.1; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
bench_gtls_up 3600

SRV=$(pgrep -P "${PIDS[1]}" -x gtlsserver) || { echo "bench-agentd.sh: no gtlsserver process" >&2; exit 1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# CPU time of process $1 so far, ns (all its threads; the softirq work the
# kernel did in their context included).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# Starts qasm-agentd (MODE agentd | prereg, then extra flags) on the cgroup; waits until it watches.
start_daemon() {
    local extra=("${@:2}")
    [ "$1" = prereg ] && extra+=(--prereg gnutls)
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

# One download of MODE in round $2: appends "round mode wall user sys daemon_cpu_s opened"
# to $T/runs.txt.
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
    echo "$2 $m $t $dcpu $opened" >>"$T/runs.txt"
}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date -u +%H:%M)
N=${#MODE_LIST[@]}
for i in $(seq "$ROUNDS"); do # round i starts at mode i mod N: each mode leads in turn
    for k in $(seq 0 $((N - 1))); do round "${MODE_LIST[$(((i + k) % N))]}" "$i"; done
done

# The kernel's accounting: ACCT downloads per daemon mode with --bpf-stats. Appends
# "mode wall user sys server_ns daemon_ns {"prog_..."...}" (the daemon's JSON at exit) to stats.txt.
: >"$T/stats.txt"
for m in agentd prereg; do
    [[ $seen == *" $m "* ]] || continue
    for _ in $(seq "$ACCT"); do
        start_daemon "$m" --bpf-stats
        s0=$(cpu_ns "$SRV") d0=$(cpu_ns "$DPID")
        t=$(client)
        s1=$(cpu_ns "$SRV") d1=$(cpu_ns "$DPID")
        stop_daemon
        echo "$m $t $((s1 - s0)) $((d1 - d0)) $(tr -d ' \n' <"$T/agentd.json")" >>"$T/stats.txt"
    done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

"$B/test_agentd_prog" 2>&1 | grep -o 'cost: .*' >"$T/cost.txt"

python3 - "$T/runs.txt" "$T/stats.txt" "$T/cost.txt" "$MB" "$ROUNDS" "$START" "$LOAD0" "$LOAD1" \
    "${MODE_LIST[*]}" <<'EOF'
import json, math, statistics, sys
runs, stats, cost, mb, rounds, start, l0, l1, modes = sys.argv[1:10]
mb, rounds, modes = int(mb), int(rounds), modes.split()
rows, by_round = {}, {}
for line in open(runs):
    rnd, m, wall, user, sys_, dcpu, opened = line.split()
    r = (mb * 8e6 / float(wall) / 1e9, float(user) + float(sys_), float(dcpu), int(opened))
    rows.setdefault(m, []).append(r)
    by_round.setdefault(int(rnd), {})[m] = r
med = statistics.median

def quartiles(v):
    """[lower quartile, median, upper quartile] of v."""
    return statistics.quantiles(v, n=4, method="inclusive") if len(v) > 1 else [v[0]] * 3

def median_ci(v):
    """95 % confidence interval of the median from order statistics (distribution-free): the
    largest j with P(Binomial(n, 1/2) < j) <= 2.5 %, the interval [v(j), v(n+1-j)] (1-based,
    sorted), which covers the median with probability >= 95 % (with 7 pairs: min-max)."""
    v, n = sorted(v), len(v)
    j, cdf = 0, 0.0
    while j < n and cdf + math.comb(n, j) / 2 ** n <= 0.025:
        cdf += math.comb(n, j) / 2 ** n
        j += 1
    return (v[j - 1], v[n - j]) if j >= 1 else None

def paired(m, col):
    """The per-round ratios of mode m to off in column col."""
    return [x[m][col] / x["off"][col] for x in by_round.values() if x["off"][col] > 0]

names = {"off": "without agent", "agentd": "`qasm-agentd --cgroup`",
         "prereg": "`qasm-agentd --cgroup --prereg gnutls`",
         "lib": "library agent (`LD_PRELOAD`, default)"}
print("Run at %s UTC, %d rounds of %d MB, modes %s, load average %s before, %s after."
      % (start, rounds, mb, " ".join(modes), l0, l1))
print()
print("| mode | goodput Gbit/s median (min-max) | client CPU s median (min-max) "
      "| daemon CPU s (median, max) | rounds the daemon saw the connection |")
print("|---|---|---|---|---|")
for m in modes:
    r = rows[m]
    g, c, d = [x[0] for x in r], [x[1] for x in r], [x[2] for x in r]
    daemon = m in ("agentd", "prereg")
    print("| %s | %.2f (%.2f-%.2f) | %.3f (%.3f-%.3f) | %s | %s |"
          % (names[m], med(g), min(g), max(g), med(c), min(c), max(c),
             "%.2f, %.2f" % (med(d), max(d)) if daemon else "-",
             "%d/%d" % (sum(1 for x in r if x[3] >= 1), len(r)) if daemon else "-"))
print()
print("Versus off: per-round ratios (each round's downloads back to back), median [quartiles] "
      "and the 95 % confidence interval of that median; and the ratio of the medians.")
print()
print("| mode vs off | pairs | goodput ratio median [quartiles] | its 95 % CI | goodput ratio of medians "
      "| client CPU ratio median [quartiles] | its 95 % CI | CPU ratio of medians |")
print("|---|---|---|---|---|---|---|---|")
ci = lambda v: "%.3f-%.3f" % median_ci(v) if median_ci(v) else "- (too few pairs)"
g0, c0 = med([x[0] for x in rows["off"]]), med([x[1] for x in rows["off"]])
verdict = []
for m in [x for x in modes if x != "off"]:
    pg, pc = paired(m, 0), paired(m, 1)
    qg, qc = quartiles(pg), quartiles(pc)
    print("| %s | %d | %.3f [%.3f-%.3f] | %s | %.3f | %.3f [%.3f-%.3f] | %s | %.3f |"
          % (names[m], len(pg), qg[1], qg[0], qg[2], ci(pg), med([x[0] for x in rows[m]]) / g0,
             qc[1], qc[0], qc[2], ci(pc), med([x[1] for x in rows[m]]) / c0))
    lo = median_ci(pg)
    verdict.append(names[m] + (" shown (95 % CI of the median ratio >= 0.99)" if lo and lo[0] >= 0.99
                               else " not shown (95 % CI of the median ratio reaches below 0.99)"
                               if lo else " not resolved (too few pairs)"))
print()
print("Goodput >= 0.99x off: " + "; ".join(verdict) + ".")
print()
acct = {}
for line in open(stats):
    m, wall, user, sys_, srv_ns, dmn_ns, js = line.split(maxsplit=6)
    j = json.loads(js)
    progs = {k[5:-7]: (j[k], j["prog_%s_runs" % k[5:-7]]) for k in j
             if k.startswith("prog_") and k.endswith("_run_ns")}
    cpu = float(user) + float(sys_) + (int(srv_ns) + int(dmn_ns)) / 1e9
    acct.setdefault(m, []).append((progs, cpu, mb * 8e6 / float(wall) / 1e9))
share_of = {}
if acct:
    print("The kernel's accounting (`qasm-agentd --bpf-stats`, %d more %d MB downloads per daemon "
          "mode, not among the pairs): the programs' run time over each download, and that time "
          "over the CPU time of client (user+sys) + server + daemon in the download:" % (
              max(len(v) for v in acct.values()), mb))
    print()
    print("| daemon | program | runs per download (median) | ns per run (all downloads) |")
    print("|---|---|---|---|")
for m, v in sorted(acct.items()):
    for name in sorted(v[0][0]):
        runs = [p[name][1] for p, _, _ in v]
        ns, cnt = sum(p[name][0] for p, _, _ in v), sum(runs)
        if cnt:
            print("| %s | %s | %.0f | %.0f |" % (m, name, med(runs), ns / cnt))
if acct:
    print()
    print("| daemon | BPF ms per download, median (min-max) | CPU s per download (client+server+"
          "daemon), median | BPF / CPU, median (min-max) | goodput Gbit/s, median |")
    print("|---|---|---|---|---|")
for m, v in sorted(acct.items()):
    bpf = [sum(x[0] for x in p.values()) / 1e6 for p, _, _ in v]
    share = [b / 1e3 / c * 100 for b, (_, c, _) in zip(bpf, v)]
    share_of[m] = share
    print("| %s | %.2f (%.2f-%.2f) | %.3f | %.2f %% (%.2f-%.2f %%) | %.2f |" % (
        m, med(bpf), min(bpf), max(bpf), med([c for _, c, _ in v]), med(share), min(share),
        max(share), med([g for _, _, g in v])))
if "agentd" in share_of and "agentd" in modes:
    pg = paired("agentd", 0)
    a, b = med(pg), med(share_of["agentd"])
    print()
    print("Goal (goodput >= 0.99x off) for `qasm-agentd --cgroup`: (a) paired goodput ratio median "
          "%.3f (95 %% CI %s), (b) BPF run time / CPU median %.2f %% (max %.2f %%): %s." % (
              a, ci(pg), b, max(share_of["agentd"]),
              "shown (a >= 0.99 and b < 1 %)" if a >= 0.99 and b < 1 else "not shown"))
print()
print("One crafted packet, `BPF_PROG_TEST_RUN` (`build/test_agentd_prog`):")
print()
for line in open(cost):
    print("* " + line.strip()[len("cost: "):])
EOF
