#!/usr/bin/env bash
# netns_normalize_rates.sh (root only): qasm-normalize in front of the hop kernel's
# masquerade (netns_lib.sh testbed) with the real HTTP/3 client (agent preloaded)
# migrating at 10, 100 and 1000 Hz, by port and by address (the client namespace's 8
# addresses), 20 requests of 1000 bytes 50 ms apart per run (about a second each):
#  - kernel NAT alone: conntrack holds an entry per migration;
#  - + qasm-normalize with a hold ($HOLD): a packet of a new 5-tuple whose DCID or
#    address the tracker's push has not brought yet is held (dropped, the client
#    resends) until it has, so the connection keeps ONE conntrack entry. The bound
#    asserted: entries <= 1 + the packets that passed un-normalised from a new 5-tuple
#    (`unattested` + `unknown_dcid_new_tuple`: after their hold ran out, every extra
#    entry has at least one), and with none of those, exactly 1; the transfer
#    completes at every rate.
# The client's migrations done are measured (it migrates when it has a packet to send
# and a spare connection ID, so 1000 Hz asks for more than it gets) and printed.
# Counts only, no timing assertions. SKIP (77) as netns_normalize.sh.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_normalize_rates.sh
. tests/integration/mbox_lib.sh
trap 'cleanup; netns_cleanup' EXIT

nz_require netns_normalize_rates.sh qasm-h3-server qasm-h3-client libqasm-agent.so qasm-tracker

TRK=$H_IN_IP:4790
SRV_PORT=4433
start trk ip netns exec "$NS_H" "$B/qasm-tracker" --listen $TRK
wait_ns "$NS_H" 4790 tcp || exit 1
start srv ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:$SRV_PORT \
    --idle-timeout 10s --no-json
wait_ns "$NS_S" $SRV_PORT || exit 1

ct_entries() { in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null | grep -c "dport=$SRV_PORT"; }
k() { json "$T/nz.json" "d['kernel']['$1']"; }
REQS=20

# rate_run NAME KIND EVERY [HOLD]: kernel NAT (+ qasm-normalize --hold HOLD when given),
# one client run migrating by KIND (port|addr) every EVERY; sets C, RC, MIG, N (conntrack).
rate_run() {
    local name=$1 kind=$2 every=$3 hold=${4:-} extra=""
    [ $kind = addr ] && extra="--migrate-kind addr --local-addrs 10.77.1.2-10.77.1.9"
    echo "# $name: kernel nat${hold:+ + qasm-normalize --hold $hold}, by $kind every $every"
    stop nz
    netns_hop_reset
    netns_hop_kernel_nat
    [ -n "$hold" ] && nz_start "$hold"
    C=$(h3 "$name" --requests $REQS --interval 50ms --size 1000 --migrate-every $every $extra)
    RC=$?
    MIG=$(field "$C" migrations); N=$(ct_entries)
    echo "client (exit $RC): $C"
    echo "conntrack: $N entries, client migrations $MIG"
    local least=10
    [ $every = 100ms ] && least=5
    check "$name: the client migrated ($least times at least)" "$MIG >= $least"
    check "$name: the transfer completes" "$RC == 0 && $(field "$C" requests_ok) == $REQS"
}

for kind in port addr; do
    for every in 100ms 10ms 1ms; do
        rate_run "kernel nat alone, $kind, $every" $kind $every
        # A migration that sends nothing before the next one makes no entry (a few at 1000 Hz).
        check "kernel nat alone, $kind, $every: an entry per migration (9 in 10 at least)" \
            "$N * 10 >= $MIG * 9"
    done
done

for kind in port addr; do
    for every in 100ms 10ms 1ms; do
        name="normalised, $kind, $every"
        rate_run "$name" $kind $every "$HOLD"
        fresh_stats nz "$T/nz.json"
        echo "normaliser: $(json "$T/nz.json" "d['kernel']") $(json "$T/nz.json" "d['maps']")"
        check "$name: migrated packets rewritten, replies too" \
            "$(k normalized) > 0 && $(k out_rewritten) > 0 && $(k store_failed) == 0"
        passed=$(( $(k unattested) + $(k unknown_dcid_new_tuple) ))
        check "$name: entries <= 1 + packets of new 5-tuples passed un-normalised ($passed)" \
            "$N <= 1 + $passed"
        [ $passed = 0 ] && check "$name: one conntrack entry for the connection" "$N == 1"
        echo "RESULT $kind $every: migrations $MIG, entries $N, held $(k held)+$(k held_unknown_dcid), by address $(k normalized_by_address), passed $passed"
    done
done
stop nz
netns_hop_reset
finish
