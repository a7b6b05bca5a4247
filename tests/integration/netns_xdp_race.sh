#!/usr/bin/env bash
# netns_xdp_race.sh (root, XDP): how many of a migrating connection's
# packets reach the slow path of qasm-mbox --io xdp in proactive mode, at 10
# and 100 migrations a second (qasm-h3-client --migrate-kind port: every
# migration a new 5-tuple), and that with the client attesting its next path
# ahead (--migrate-ahead, the agent preloaded) none do at 100 Hz.
# Without it a migrated packet stays in the kernel only when the tracker's
# push (the attested address) reached the hop's maps before it; otherwise it
# goes up (xdp.pass_unattested) and the core holds it until the tracker
# answers. Those figures are printed (docs/XDP.md, "Migrations racing the
# tracker's push"), with outcome checks only: every request answered, each
# migration decided in the kernel or by the core, and the race counted,
# never silent. With --migrate-ahead the checks are strict: the slow path
# saw none of the migrated packets (xdp_maps.slow_migrated, and none went up
# unattested), the kernel followed the migrations, every request answered;
# on a machine too busy for one clean run in five, a weaker check (see below).
# SKIP (77) without root, the BPF toolchain at build time, ethtool or XDP.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_xdp_race.sh
. tests/integration/mbox_lib.sh
trap 'cleanup; netns_cleanup' EXIT

XDP_TEST=netns_xdp_race.sh
. tests/integration/netns_xdp_lib.sh
xdp_testbed

TRK=$H_IN_IP:4790
start trk ip netns exec "$NS_H" "$B/qasm-tracker" --listen $TRK
wait_ns "$NS_H" 4790 tcp || exit 1
start srv ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:4433 --idle-timeout 10s --no-json
wait_ns "$NS_S" 4433 || exit 1

# run_case HZ [N]: one client run (with --migrate-ahead N if given) through a fresh hop;
# leaves the client's JSON in $c, its exit in $rc, the hop's stats in $s.
run_case() {
    local hz=$1 ahead=${2:+--migrate-ahead $2}
    echo "# nat proactive, --io xdp, client migrating by port at $hz Hz ${ahead:-(no --migrate-ahead)}"
    start_mb nat --mode proactive --tracker $TRK --ports 40000-40063 --hold $HOLD
    wait_json "$T/mb.json" "d['tracker']['up']" || true
    c=$(in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 60 \
        "$B/qasm-h3-client" --json --idle-timeout 5s --requests 40 --interval 100ms --size 5000 \
        --migrate-hz $hz --migrate-kind port $ahead "https://$S_IP:4433/" \
        2>"$T/client-$hz-${2:-0}.log"); rc=$?
    fresh_stats mb "$T/mb.json"; s="$T/mb.json"
    mig=$(field "$c" migrations); sent=$(field "$c" packets_sent)
    kmig=$(json $s "d['xdp']['migrated']"); cmig=$(json $s "d['migrations']")
    unatt=$(json $s "d['xdp']['pass_unattested']"); new=$(json $s "d['xdp']['pass_new']")
    rx=$(json $s "d['xdp']['packets_received']"); fwd=$(json $s "d['xdp']['forwarded']")
    up=$(json $s "d['packet']['to_core']"); slow=$(json $s "d['xdp_maps']['slow_migrated']")
    echo "figure: proactive at $hz Hz ${ahead:-without --migrate-ahead}: $mig migrations by the" \
        "client; $kmig decided in the kernel, $cmig by the core; of $rx frames the program saw" \
        "(the client sent $sent), $fwd forwarded in the kernel, $unatt went up unattested (a" \
        "known DCID before the push), $new up as new (no flow, no known DCID; $(json $s \
        "d['packet']['local']") of them the hop's local traffic: the agent's reports); the slow" \
        "path's core saw $up; migrated packets decided by the slow path (slow_migrated): $slow"
    echo "client (exit $rc): $c"
    echo "xdp: $(json $s "d['xdp']")"
    echo "xdp_maps: $(json $s "d['xdp_maps']")"
    echo "core: $(summary "$s"); packet: $(json $s "d['packet']")"
    check "$hz Hz${ahead:+ $ahead}: every request answered" "$rc == 0 && $(field "$c" requests_ok) == 40"
    check "$hz Hz${ahead:+ $ahead}: the client migrated" "$mig > 0"
    check "$hz Hz${ahead:+ $ahead}: the migrations were followed (kernel $kmig + core $cmig)" \
        "$kmig + $cmig > 0"
}

for hz in 10 100; do
    run_case $hz ""
    # What went up for the core's migrations is counted: unattested (a known DCID), or new
    # (a DCID not pushed yet) beyond the hop's own local traffic (the agent's reports).
    newx=$(json $s "max(0, d['xdp']['pass_new'] - d['packet']['local'])")
    check "$hz Hz: the migrations the core decided came up counted (unattested $unatt, new $newx)" \
        "$cmig == 0 || $unatt + $newx > 0"
    slow_plain=$slow # the 100 Hz run's, kept for the ahead runs' fallback check
    stop mb
done

# Attest ahead: the sockets of the next $AHEAD migrations bound early and announced through
# the agent (qasm_agent_announce_path), so the push is in the maps before a path's first packet.
# Without a confirmation from the hop this is a margin of AHEAD intervals (40 ms), not a
# guarantee: a hop or tracker that does not get a CPU for longer (this shared 2-CPU machine
# at load 10+: about one run in three; beside a CPU hog, most runs) still lets a few
# packets up, counted. So up to 5 runs, each printed; the strict checks are on the first
# run with none up. When no run is clean, the machine did not give the hop and the tracker
# their CPU in time: that is said (NOTE), and the run with the fewest is checked against
# the run without --migrate-ahead instead: at most a quarter of its slow_migrated, most
# migrations decided in the kernel (the figures, not this fallback, are the benchmark).
AHEAD=${AHEAD:-4}
best=-1
for try in 1 2 3 4 5; do
    run_case 100 $AHEAD
    clean=$(( slow == 0 && unatt == 0 && cmig == 0 ))
    echo "figure: 100 Hz --migrate-ahead $AHEAD, run $try: slow_migrated $slow," \
        "pass_unattested $unatt, decided by the core $cmig"
    announced=$(field "$c" paths_announced)
    check "100 Hz ahead, run $try: the client announced its next paths ($announced for $mig migrations)" \
        "$announced >= $mig && $(field "$c" announce_errors) == 0"
    if [ "$best" -lt 0 ] || [ "$slow" -lt "$best_slow" ]; then
        best=$try best_slow=$slow best_unatt=$unatt best_kmig=$kmig best_cmig=$cmig
    fi
    stop mb
    [ "$clean" = 1 ] && break
done
if [ "$clean" = 1 ]; then
    check "100 Hz ahead: the kernel decided the migrations ($kmig for $mig, the core none: $cmig)" \
        "$kmig > 0 && $cmig == 0"
    check "100 Hz ahead: the slow path saw none of the migrated packets (slow_migrated $slow, unattested $unatt; run $try)" \
        "$slow == 0 && $unatt == 0"
else
    echo "NOTE: no clean run in 5 (load $(cut -d' ' -f1 /proc/loadavg)): the strict check was not made;" \
        "fewest: run $best, slow_migrated $best_slow, pass_unattested $best_unatt"
    check "100 Hz ahead (no clean run): the best run let up at most a quarter of the plain run's ($best_slow vs $slow_plain)" \
        "$best_slow * 4 <= $slow_plain"
    check "100 Hz ahead (no clean run): the kernel decided most migrations of the best run ($best_kmig vs core $best_cmig)" \
        "$best_kmig > 2 * $best_cmig"
fi
finish
