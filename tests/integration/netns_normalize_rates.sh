#!/usr/bin/env bash
# netns_normalize_rates.sh (root only): qasm-normalize in front of the hop kernel's
# masquerade (netns_lib.sh testbed) with the real HTTP/3 client (agent preloaded)
# migrating at 100 Hz and 1000 Hz, by port and by address (the client namespace's 8
# addresses), 20 requests of 1000 bytes 50 ms apart per run (about a second each):
#  - kernel NAT alone: conntrack holds an entry per migration;
#  - + qasm-normalize with a hold: any entry beyond the first needs a packet from a new
#    5-tuple that passed un-normalised: one that outlived the hold unattested
#    (`unattested`), or one whose DCID the tracker's push had not brought yet
#    (`unknown_dcid`; such packets are never held: the hold is keyed by a known
#    connection). Asserted: entries <= 1 + unattested + unknown_dcid (packets; every
#    extra entry has at least one), and at most one per ten migrations at 100 Hz, one
#    per three at 1000 Hz (the kernel alone: one per migration). Measured on the
#    development VM: 100 Hz 1 entry by port, 1-2 by address (a DCID used before its
#    report was pushed, about one migration in a hundred); 1000 Hz 35-130 entries for
#    750-950 migrations (the client takes a fresh DCID every millisecond, often before
#    the push).
# The client's migrations done are measured (it migrates when it has a packet to send
# and a spare connection ID, so 1000 Hz asks for more than it gets) and printed. The
# transfer is asserted to complete through the kernel alone and at 100 Hz; at 1000 Hz
# by port with the normaliser the client has been seen (2 runs in 8) to lose the
# connection (the server's ngtcp2: ERR_NO_VIABLE_PATH) while its paths flip between
# the normalised and an unknown-DCID 5-tuple,
# so there it is printed, not asserted (docs/NORMALIZE.md, "Not done yet").
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
    check "$name: the client migrated (more than the 10 Hz test's 9)" "$MIG >= 10"
    [ $every = 1ms ] && [ -n "$hold" ] && return 0
    check "$name: the transfer completes" "$RC == 0 && $(field "$C" requests_ok) == $REQS"
}

for kind in port addr; do
    for every in 10ms 1ms; do
        rate_run "kernel nat alone, $kind, $every" $kind $every
        # A migration that sends nothing before the next one makes no entry (a few at 1000 Hz).
        check "kernel nat alone, $kind, $every: an entry per migration (9 in 10 at least)" \
            "$N * 10 >= $MIG * 9"
    done
done

for kind in port addr; do
    for every in 10ms 1ms; do
        name="normalised, $kind, $every"
        rate_run "$name" $kind $every "$HOLD"
        fresh_stats nz "$T/nz.json"
        echo "normaliser: $(json "$T/nz.json" "d['kernel']") $(json "$T/nz.json" "d['maps']")"
        check "$name: migrated packets rewritten, replies too" \
            "$(k normalized) > 0 && $(k out_rewritten) > 0 && $(k store_failed) == 0"
        passed=$(( $(k unattested) + $(k unknown_dcid) ))
        check "$name: entries <= 1 + packets passed un-normalised ($passed)" "$N <= 1 + $passed"
        per=10
        [ $every = 1ms ] && per=3
        check "$name: at most one entry per $per migrations" "$N * $per <= $MIG"
    done
done
stop nz
netns_hop_reset
finish
