# netns_lib.sh: a three-namespace testbed (sourced, not run; root only).
#
#   client ns (c0)  ==veth==  (in0) hop ns (out0)  ==veth==  (s0) server ns
#   10.77.1.2-9/24            10.77.1.1   10.77.2.1           10.77.2.2/24
#   fd77:1::2-9/64            fd77:1::1   fd77:2::1           fd77:2::2/64
#
# The client namespace has 8 addresses of each family (migration by address);
# both ends route everything through the hop. The hop forwards nothing by
# itself (ip_forward 0) until netns_hop_kernel_forward / netns_hop_kernel_nat.
# Names carry a per-run suffix so parallel runs do not collide, and
# netns_cleanup (installed in the caller's EXIT trap) deletes them. Setup and
# cleanup are `qasm-bench netns up|down` ($QASM_BUILD, default build/): the
# bench's own netns testbed, not a second copy of it.
#
#   netns_setup                  create the namespaces, links, addresses, routes
#   netns_cleanup                delete them (safe to call twice)
#   NS_C / NS_H / NS_S           namespace names; in_c / in_h / in_s CMD...: run inside
#   netns_hop_kernel_forward     the kernel routes between the two sides (plain router)
#   netns_hop_kernel_nat [LO-HI] the kernel NATs (nftables masquerade, optional port range)
#   netns_hop_cmd 'CMD {inside} {outside}'  your own middlebox as the hop (see below)
#   netns_hop_reset              back to a silent hop (forwarding off, no nft rules,
#                                conntrack flushed)
#   wait_ns NS PORT [tcp]        until something listens on PORT in namespace NS
#   h3 NAME [client flags...]    one qasm-h3-client run (agent preloaded) in the client
#                                namespace to https://$S_IP:$SRV_PORT/, tracker $TRK;
#                                JSON on stdout, log in $T/NAME.log (mbox_lib.sh's $B, $T)
#   nat_table1_client MODE       that client run through the hop started as "mb" (mbox_lib.sh's
#                                start) with --stats-json $T/mb.json: sets C1 (JSON), RC1
#   nat_table1_checks MODE STATS CLIENT RC  the NAT's outcome for one client run of 30
#                                requests migrating by address over 8 addresses, 8 ports
#   lb_run_checks MODE           a client through the lb (VIP $H_IN_IP:443, two backends)
#   nz_start HOLD [MODE]         qasm-normalize --hold HOLD --mode MODE (proactive) on the
#                                hop's in0 (mbox_lib.sh's start, as "nz"; stats $T/nz.json,
#                                tracker $TRK; $NZ_OPTS: more of its flags, e.g. --hook clsact);
#                                exits 77 when the kernel refuses the programs
#   nz_hook_ids DIR              the ids of the programs attached to the hop's in0 at DIR
#                                (ingress|egress) on the hook $T/nz.json names: tcx links
#                                (the kernel's BPF_PROG_QUERY, tcx_progs.py) or tc filters
#   nz_attached DIR              the program $T/nz.json gives for DIR is among them
#   nz_hook_show                 what is attached to the hop's in0, for a failure's log

NS_ID=${NS_ID:-$$}
NS_C=qasm-c-$NS_ID
NS_H=qasm-h-$NS_ID
NS_S=qasm-s-$NS_ID
C_IP=10.77.1.2 H_IN_IP=10.77.1.1 H_OUT_IP=10.77.2.1 S_IP=10.77.2.2
C_IP6=fd77:1::2 H_IN_IP6=fd77:1::1 H_OUT_IP6=fd77:2::1 S_IP6=fd77:2::2

netns_require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "SKIP: $1 needs root (network namespaces, veth, nftables)"
        exit 77
    fi
    local t
    for t in ip nft conntrack; do
        command -v $t >/dev/null || { echo "SKIP: $1 needs '$t' (scripts/deps.sh)"; exit 77; }
    done
    [ -x "$(netns_bench_bin)" ] || { echo "FAIL: $1: $(netns_bench_bin) not built (make)"; exit 1; }
}

in_c() { ip netns exec "$NS_C" "$@"; }
in_h() { ip netns exec "$NS_H" "$@"; }
in_s() { ip netns exec "$NS_S" "$@"; }

# The testbed is qasm-bench's (--topology netns builds the same one):
# `qasm-bench netns up|down ID` builds it / kills what runs inside and
# deletes it (migration-bench/bench/topo_netns.c), one definition for both.
netns_bench_bin() { echo "${QASM_BUILD:-build}/qasm-bench"; }

netns_cleanup() {
    "$(netns_bench_bin)" netns down "$NS_ID" >/dev/null 2>&1
    return 0
}

netns_setup() {
    "$(netns_bench_bin)" netns up "$NS_ID"
}

netns_hop_reset() {
    in_h nft flush ruleset 2>/dev/null
    in_h sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
    in_h conntrack -F >/dev/null 2>&1
    return 0
}

netns_hop_kernel_forward() {
    in_h sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

netns_hop_kernel_nat() {
    local udp_rule=""
    [ -n "${1:-}" ] && udp_rule="oifname \"out0\" meta l4proto udp masquerade to :$1"
    netns_hop_kernel_forward
    in_h nft -f - <<EOF
table ip qasm_nat {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        $udp_rule
        oifname "out0" masquerade
    }
}
EOF
}

# netns_hop_cmd 'CMD': your own middlebox as the hop: CMD runs in the hop
# namespace (under sh -c, bounded by NETNS_HOP_TIMEOUT seconds, default 600)
# with {inside} and {outside} replaced by the hop's interface names (in0,
# out0); the kernel's forwarding stays off, so only CMD moves packets.
# Sets HOP_CMD_PID; stop it with kill "$HOP_CMD_PID" (netns_cleanup also does).
netns_hop_cmd() {
    local cmd=${1//\{inside\}/in0}
    cmd=${cmd//\{outside\}/out0}
    ip netns exec "$NS_H" timeout "${NETNS_HOP_TIMEOUT:-600}" sh -c "$cmd" &
    HOP_CMD_PID=$!
}

# wait_ns NS PORT [tcp]: until something listens on PORT in namespace NS (30 s, scaled).
ns_bound() { ip netns exec "$1" ss $3 "sport = :$2" 2>/dev/null | grep -q .; }
wait_ns() {
    local ns=$1 port=$2 opt=-Hlun
    [ "${3:-udp}" = tcp ] && opt=-Hltn
    wait_until 30 ns_bound "$ns" "$port" "$opt" && return 0
    echo "port $port never bound in $ns"; return 1
}

# h3 NAME [client flags...]: one client run in the client namespace; JSON on stdout.
h3() {
    local name=$1; shift
    in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" \
        timeout 40 "$B/qasm-h3-client" --json --idle-timeout 3s "$@" \
        "https://$S_IP:$SRV_PORT/" 2>"$T/$name.log"
}
# nat_table1_checks MODE STATS CLIENT RC: the outcome of a qasm NAT hop (any
# backend; mbox_lib.sh's check / json) for client run CLIENT (JSON, exit RC) of 30
# requests migrating by address, pool of 8 ports: default, a public port per
# migration until the pool is exhausted (table1, nat-dos); aware, one mapping and
# one public port, every request answered, the migrations followed (by the core,
# or by the XDP program in the kernel).
nat_table1_checks() {
    local mode=$1 s=$2 c=$3 rc=$4
    check "$mode: the public address is the outside interface's" \
        "$(json $s "d['public'] == '$H_OUT_IP'") == 1"
    if [ $mode = default ]; then
        check "default (table1): a public port per migration" \
            "$(json $s "d['mappings_created']") >= 8"
        check "default (nat-dos): the 8-port pool is exhausted" \
            "$(json $s "d['ports_high_water']") == 8"
        check "default (nat-dos): packets dropped for pool exhaustion" \
            "$(json $s "d['packets_dropped']['pool_exhausted']") > 0"
        return
    fi
    check "$mode: every request answered" "$rc == 0 && $(field "$c" requests_ok) == 30"
    check "$mode: the client migrated (by address)" "$(field "$c" migrations) >= 5"
    check "$mode (table1): one mapping for the connection" \
        "$(json $s "d['mappings_created']") == 1"
    check "$mode (table1): one public port" "$(json $s "d['ports_high_water']") == 1"
    check "$mode: migrations followed (core or kernel)" \
        "$(json $s "d['migrations'] + d.get('xdp', {}).get('migrated', 0)") >= 5"
}

# nat_table1_client MODE: one client run of 30 requests migrating by address over the
# client namespace's 8 addresses; C1 its JSON, RC1 its exit; fresh stats in $T/mb.json.
nat_table1_client() {
    C1=$(h3 nat1-$1 --requests 30 --interval 50ms --size 1000 --migrate-every 100ms \
        --migrate-kind addr --local-addrs 10.77.1.2-10.77.1.9); RC1=$?
    echo "client 1 (exit $RC1): $C1"
    fresh_stats mb "$T/mb.json"
    echo "nat: $(summary "$T/mb.json")"
}

# lb_run_checks MODE: a client migrating by port (40 requests) through the lb whose
# VIP is $H_IN_IP:443, two backends, hop started as "mb" with --stats-json $T/mb.json:
# default breaks the migrated paths (the other backend), aware keeps the backend.
lb_run_checks() {
    local mode=$1 c rc s="$T/mb.json"
    lb_client_rtt "$mode"
    c=$(in_c env QASM_TRACKER=$TRK LD_PRELOAD="$B/libqasm-agent.so" timeout 40 \
        "$B/qasm-h3-client" --json --idle-timeout 3s --connect $H_IN_IP:443 --requests 40 \
        --interval 50ms --size 1000 --migrate-every 100ms "${LB_RTT[@]}" \
        "https://$S_IP:$SRV_PORT/" 2>"$T/lb-$mode.log"); rc=$?
    echo "client (exit $rc): $c"
    fresh_stats mb "$T/mb.json"; s="$T/mb.json"
    echo "lb: $(summary "$s")"
    check "lb $mode: packets went through the core" "$(json $s "d['packet']['to_core']") > 0"
    lb_checks "lb " "$mode" "$c" "$rc" "$s"
}

# nz_require NAME BIN...: what the normaliser's netns tests need (SKIP, exit 77,
# without tc or a qasm-normalize build; FAIL without a BIN), then the testbed.
nz_require() {
    local name=$1 bin
    shift
    command -v tc >/dev/null || { echo "SKIP: $name needs 'tc' (iproute2)"; exit 77; }
    [ -x "$B/qasm-normalize" ] ||
        { echo "SKIP: $name: qasm-normalize was not built (no BPF toolchain)"; exit 77; }
    for bin in "$@"; do
        [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
    done
    netns_setup || { echo "FAIL: cannot create the namespaces"; exit 1; }
}

# nz_start HOLD [MODE]: qasm-normalize on the hop's inside interface, started as "nz" (mbox_lib.sh),
# --stats-json $T/nz.json, until it is subscribed to the tracker $TRK. A kernel that
# refuses the tc programs is a SKIP (77), any other failure to start a FAIL (1).
nz_start() {
    rm -f "$T/nz.json"
    # shellcheck disable=SC2086 # NZ_OPTS: flags, split
    start nz ip netns exec "$NS_H" "$B/qasm-normalize" --inside in0 --tracker $TRK \
        --mode "${2:-proactive}" --hold "$1" --stats-json "$T/nz.json" ${NZ_OPTS:-}
    wait_json "$T/nz.json" "d['tracker_up']" && return 0
    if grep -q "cannot load\|cannot attach\|cannot add" "$T/nz.log"; then
        echo "SKIP: $(basename "$0"): $(grep -m1 'cannot' "$T/nz.log")"; exit 77
    fi
    echo "FAIL: qasm-normalize did not start"; cat "$T/nz.log"; exit 1
}

# nz_hook_ids DIR: the ids of the programs attached to in0 at DIR (ingress|egress), on the hook
# $T/nz.json names (tcx: the kernel's answer, which Debian 12's bpftool cannot give; clsact:
# tc's filters).
nz_hook_ids() {
    if [ "$(json "$T/nz.json" "d['hook']")" = tcx ]; then
        in_h python3 tests/integration/tcx_progs.py in0 "$1"
    else
        in_h tc filter show dev in0 "$1" | grep -o ' id [0-9]*' | awk '{print $2}'
    fi
}
nz_attached() { nz_hook_ids "$1" | grep -qx "$(json "$T/nz.json" "d['$1']['id']")"; }
nz_hook_show() {
    local dir id
    echo "hook $(json "$T/nz.json" "d['hook']" 2>/dev/null)"
    for dir in ingress egress; do
        echo "$dir (tcx): $(in_h python3 tests/integration/tcx_progs.py in0 $dir 2>&1 | xargs)"
        in_h tc filter show dev in0 $dir 2>&1 | sed "s/^/$dir (tc): /"
        id=$(json "$T/nz.json" "d['$dir']['id']" 2>/dev/null) &&
            bpftool prog show id "$id" 2>&1 | sed "s/^/$dir (bpftool): /"
    done
}
