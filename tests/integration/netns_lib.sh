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
