#!/usr/bin/env bash
# netns_normalize.sh (root only): qasm-normalize in front of the hop kernel's
# own NAT (nftables masquerade, real conntrack) on the netns testbed
# (netns_lib.sh). The real HTTP/3 client (agent preloaded, reporting to a
# tracker in the hop namespace) migrates by port through the hop:
#  1. kernel NAT alone: conntrack holds one entry per migration;
#  2. kernel NAT + qasm-normalize on the inside interface: the migrated
#     packets are normalised to the connection's first address and the
#     replies reach the client at its current address. Without a hold, a
#     migration whose first packets beat the tracker's push adds its own
#     entry (they pass unchanged, counted as unattested); with the hold
#     conntrack holds one entry for the connection. The transfer completes
#     every time.
#  3. masquerade restricted to 8 public ports: the migrating client alone exhausts
#     them and a second client is refused; with the normaliser it keeps one port and
#     the second client gets in;
#  4. a spoofer with the victim's DCIDs from an unattested address is never normalised;
#  5. the programs are gone from the interface after qasm-normalize exits.
# The hook: the default (tcx links where the kernel has them: Linux 6.6+,
# else the clsact qdisc), the by-address run with --hook clsact; each run
# checks that the programs its stats name are attached to in0 (tcx: the
# kernel's BPF_PROG_QUERY; clsact: tc's filters), and after exit (tcx: also
# after a SIGKILL) that they are gone. A kernel without tcx (every
# bpf_link_create refused by an LD_PRELOAD shim, libqasm-test-notcx.so):
# --hook auto falls back to clsact (said in its log), --hook tcx exits 1.
# Counts only, no timing assertions. SKIP (77) without root, tc, conntrack or
# the BPF toolchain, or when the kernel refuses the tc programs.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/netns_lib.sh
netns_require_root netns_normalize.sh
. tests/integration/mbox_lib.sh
trap 'cleanup; netns_cleanup' EXIT

nz_require netns_normalize.sh qasm-h3-server qasm-h3-client libqasm-agent.so qasm-tracker qasm-trackctl

TRK=$H_IN_IP:4790
SRV_PORT=4433
start trk ip netns exec "$NS_H" "$B/qasm-tracker" --listen $TRK
wait_ns "$NS_H" 4790 tcp || exit 1
# A known stateless-reset secret: the hijacker tells the server's resets from the victim's packets.
RESET=$(printf '5e%.0s' $(seq 32))
start srv ip netns exec "$NS_S" "$B/qasm-h3-server" --listen $S_IP:$SRV_PORT \
    --idle-timeout 10s --no-json --secret $RESET
wait_ns "$NS_S" $SRV_PORT || exit 1

# conntrack entries of UDP flows to the server.
ct_entries() { in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null | grep -c "dport=$SRV_PORT"; }
REQS=20
KIND=port
client() {
    local extra=""
    [ $KIND = addr ] && extra="--migrate-kind addr --local-addrs 10.77.1.2-10.77.1.9"
    h3 "$1" --requests $REQS --interval 50ms --size 1000 --migrate-every 100ms $extra
}

echo "# 1. kernel nat alone"
netns_hop_reset
netns_hop_kernel_nat
c0=$(client knat); rc0=$?
mig0=$(field "$c0" migrations); n0=$(ct_entries)
echo "client (exit $rc0): $c0"
echo "conntrack: $n0 entries, client migrations $mig0"
check "kernel nat alone: the transfer completes" "$rc0 == 0 && $(field "$c0" requests_ok) == $REQS"
check "kernel nat alone: one conntrack entry per migration" "$mig0 >= 3 && $n0 >= $mig0"

S="$T/nz.json"
k() { json "$S" "d['kernel']['$1']"; }
# The default hook on this kernel: tcx when the kernel answers a tcx query (Linux 6.6+).
DEFAULT_HOOK=clsact
in_h python3 tests/integration/tcx_progs.py in0 ingress >/dev/null 2>&1 && DEFAULT_HOOK=tcx
echo "# the default hook on this kernel: $DEFAULT_HOOK"

# nz_on_in0 NAME HOOK: qasm-normalize's programs are on in0 by HOOK (its stats say so, the
# kernel or tc lists their ids); clsact: tc shows them by name too.
nz_on_in0() {
    check "$1: the $2 hook, as its stats say" "$(json "$S" "d['hook'] == '$2'") == 1"
    check "$1: its ingress program is attached to in0 ingress" "$(nz_attached ingress && echo 1 || echo 0) == 1"
    check "$1: its egress program is attached to in0 egress" "$(nz_attached egress && echo 1 || echo 0) == 1"
    [ "$2" = clsact ] || return 0
    check "$1: clsact: attached on in0 ingress" \
        "$(in_h tc filter show dev in0 ingress | grep -c qasm_nz_ingress) == 1"
    check "$1: clsact: attached on in0 egress" \
        "$(in_h tc filter show dev in0 egress | grep -c qasm_nz_egress) == 1"
}
tcx_ids() { in_h python3 tests/integration/tcx_progs.py in0 "$1"; }
# shellcheck disable=SC2317 # (called through wait_until)
tcx_none() { [ -z "$(tcx_ids "$1")" ]; }
# nz_gone NAME HOOK: after exit, nothing of it on in0 (clsact: the qdisc it added is gone).
nz_gone() {
    if [ "$2" = tcx ]; then # (the kernel releases a dead process' links as it closes its files)
        wait_until 10 tcx_none ingress
        check "$1: no tcx program left on in0 ingress" "$(tcx_ids ingress | grep -c .) == 0"
        check "$1: no tcx program left on in0 egress" "$(tcx_ids egress | grep -c .) == 0"
        return 0
    fi
    check "$1: no filter on in0 ingress" \
        "$(in_h tc filter show dev in0 ingress 2>/dev/null | grep -c qasm_nz) == 0"
    check "$1: the clsact qdisc it added is gone" \
        "$(in_h tc qdisc show dev in0 | grep -c clsact) == 0"
}

# nz_run NAME HOLD: kernel nat (public ports $PORTS when set) + qasm-normalize --hold HOLD
# ($NZ_OPTS, hook $HOOK: the default, or --hook clsact) on in0, one client run;
# sets C1 (its JSON), RC1, MIG1 and N1 (conntrack entries), checks what any hold shows.
nz_run() {
    local name=$1 hold=$2
    echo "# kernel nat ${PORTS:-} + qasm-normalize --hold $hold on in0 ($KIND)"
    stop nz
    netns_hop_reset
    netns_hop_kernel_nat ${PORTS:-}
    nz_start "$hold"
    grep -m1 'attached to' "$T/nz.log"
    nz_on_in0 "$name" "${HOOK:-$DEFAULT_HOOK}"
    C1=$(client "$name"); RC1=$?
    MIG1=$(field "$C1" migrations); N1=$(ct_entries)
    fresh_stats nz "$S"
    echo "client (exit $RC1): $C1"
    in_h conntrack -L -p udp --orig-port-dst $SRV_PORT 2>/dev/null | head -n 5
    echo "normaliser: $(json "$S" "d['kernel']") $(json "$S" "d['maps']")"
    echo "conntrack: $N1 entries (kernel nat alone: $n0), client migrations $MIG1"
    check "$name: the transfer completes" "$RC1 == 0 && $(field "$C1" requests_ok) == $REQS"
    check "$name: the client migrated" "$MIG1 >= 3"
    check "$name: the tracker's records reached the maps" \
        "$(json "$S" "d['maps']['records']") >= 1 && $(json "$S" "d['maps']['dcids_written']") >= 1"
    check "$name: migrated packets rewritten to the first address" "$(k normalized) > 0"
    check "$name: replies rewritten to the current address" "$(k out_rewritten) > 0"
    check "$name: nothing dropped by a failed write" "$(k store_failed) == 0"
}

# Without a hold, a migration's first packets may beat the tracker's push: each such
# migration adds its own entry (those packets pass unchanged, counted as unattested).
nz_run "no hold" 0
check "no hold: one entry, plus at most one per migration whose packets beat the push" \
    "$N1 >= 1 && $N1 <= 1 + $(k unattested)"
check "no hold: nothing held" "$(k held) == 0"

# With a hold the push wins: one conntrack entry for the connection.
nz_run "hold" "$HOLD"
check "hold: one conntrack entry for the connection (one per migration without)" \
    "$N1 == 1 && $n0 >= $mig0"
check "hold: no packet passed unattested" "$(k unattested) == 0"
check "hold: the flow cache (4096 slots a CPU) decided packets" \
    "$(json "$S" "d['flow_cache_slots']") == 4096 && $(k fast_path) > 0"

# By address (8 client addresses): the replies' new destination needs its own neighbour
# (bpf_redirect_neigh). One entry again (masquerade keys on the first address).
# On the clsact qdisc (--hook clsact), detached at exit as on tcx; without the flow cache
# (--flow-cache 0: every packet by the full path).
KIND=addr
NZ_OPTS="--hook clsact --flow-cache 0" HOOK=clsact nz_run "hold, by address, clsact" "$HOLD"
check "hold, by address, clsact: one conntrack entry for the connection" "$N1 == 1"
check "hold, by address, clsact: replies sent through the neighbour lookup" "$(k out_neigh) > 0"
check "hold, by address, clsact, --flow-cache 0: no packet decided by a cache" \
    "$(json "$S" "d['flow_cache_slots']") == 0 && $(k fast_path) == 0"
stop nz
nz_gone "clsact, after exit" clsact

# The NAT port pool exhaustion (8 public ports) on the kernel's NAT, and its fix: the
# migrating client alone takes all 8 and a second client is refused; with the normaliser
# the first keeps one port and the second gets in.
echo "# kernel nat, 8 public ports, no normaliser (pool exhaustion)"
stop nz
netns_hop_reset
netns_hop_kernel_nat 40000-40007
c2=$(client pool); rc2=$?
n2=$(ct_entries)
c3=$(h3 pool2 --requests 1 --size 100); rc3=$?
echo "client 1 (exit $rc2), conntrack $n2 entries; client 2 exit $rc3"
check "8 ports, kernel nat alone: the migrating client takes all 8" "$n2 >= 8"
check "8 ports, kernel nat alone: a second client is refused" "$rc3 != 0"
PORTS=40000-40007
nz_run "8 ports, hold, by address" "$HOLD"
c3=$(h3 pool3 --requests 1 --size 100); rc3=$?
echo "client 2 (exit $rc3)"
check "8 ports, normalised: one public port for the migrating client" "$N1 == 1"
check "8 ports, normalised: a second client gets in" "$rc3 == 0"
PORTS=

# A spoofer replaying the victim's DCIDs from an address the tracker never attested
# (hijack_attacker.py, 10.77.1.9; the victim migrates over the other 7 addresses): held,
# then passed unchanged, never normalised onto the victim's entry.
echo "# kernel nat + qasm-normalize --hold $HOLD: hijack attempt"
in_h conntrack -F >/dev/null 2>&1
in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 60 \
    "$B/qasm-h3-client" --json --idle-timeout 5s --requests 40 --interval 100ms --size 5000 \
    --migrate-every 100ms --migrate-kind addr --local-addrs 10.77.1.2-10.77.1.8 \
    "https://$S_IP:$SRV_PORT/" >"$T/victim.json" 2>"$T/victim.log" &
victim=$!
a=$(in_c env QASM_ATTACKER_IP=10.77.1.9 timeout 30 python3 tests/integration/hijack_attacker.py \
    "$B/qasm-trackctl" $TRK $S_IP:$SRV_PORT 3 $RESET 2>"$T/attacker.log")
wait $victim; rc=$?
v=$(cat "$T/victim.json")
fresh_stats nz "$S"
echo "victim (exit $rc): $v"
echo "attacker: $a"
echo "normaliser: $(json "$S" "d['kernel']")"
spoofed=$(in_h conntrack -L -p udp --orig-src 10.77.1.9 2>/dev/null | grep -c "dport=$SRV_PORT")
check "hijack: the attacker sent the victim's DCIDs" "$(field "$a" packets_sent) > 0"
check "hijack: the attacker received nothing of the victim's" "$(field "$a" bytes) == 0"
check "hijack: its packets were held, then passed unchanged (unattested)" \
    "$(k held) > 0 && $(k unattested) > 0"
check "hijack: conntrack shows the attacker's own entry" "$spoofed >= 1"
check "hijack: the victim's migrations kept one entry" "$(ct_entries) - $spoofed == 1"
check "hijack: every request of the victim answered" "$rc == 0 && $(field "$v" requests_ok) == 40"

echo "# exit detaches"
stop nz
nz_gone "$DEFAULT_HOOK, after exit" "$DEFAULT_HOOK"
if [ "$DEFAULT_HOOK" = tcx ]; then # tcx links belong to the process: a crash detaches too
    echo "# tcx: SIGKILL detaches"
    nz_start "$HOLD"
    nz_on_in0 "tcx, before SIGKILL" tcx
    kill -KILL "$(child_pid nz)"
    stop nz
    nz_gone "tcx, after SIGKILL" tcx

    echo "# a kernel without tcx links (bpf_link_create refused: $B/libqasm-test-notcx.so)"
    rm -f "$S"
    start nz ip netns exec "$NS_H" env LD_PRELOAD="$B/libqasm-test-notcx.so" \
        "$B/qasm-normalize" --inside in0 --tracker $TRK --hold 0 --stats-json "$S"
    wait_json "$S" "d['tracker_up']" || { echo "FAIL: qasm-normalize did not start"; cat "$T/nz.log"; exit 1; }
    grep -m1 'refuses tcx' "$T/nz.log"
    check "no tcx, auto: it says it falls back to clsact" \
        "$(grep -c 'the kernel refuses tcx links (Invalid argument.*clsact qdisc of in0 instead' "$T/nz.log") == 1"
    nz_on_in0 "no tcx, auto" clsact
    stop nz
    nz_gone "no tcx, auto, after exit" clsact
    out=$(in_h env LD_PRELOAD="$B/libqasm-test-notcx.so" timeout "$(scaled 30)" \
        "$B/qasm-normalize" --inside in0 --tracker $TRK --hook tcx 2>&1); rc=$?
    echo "--hook tcx (exit $rc): $out"
    check "no tcx, --hook tcx: exit 1 with one line saying why" \
        "$rc == 1 && $(echo "$out" | grep -c .) == 1 && $(echo "$out" | grep -c 'with tcx: Invalid argument') == 1"
    nz_gone "no tcx, --hook tcx" tcx
    nz_gone "no tcx, --hook tcx" clsact
fi
netns_hop_reset
finish
