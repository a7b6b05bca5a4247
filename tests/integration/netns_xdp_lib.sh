# netns_xdp_lib.sh: the netns testbed (netns_lib.sh) made ready for
# qasm-mbox --io xdp, for netns_xdp.sh and netns_xdp_race.sh (sourced after
# netns_lib.sh and mbox_lib.sh). XDP_TEST names the test in its SKIP lines.

# xdp_testbed: the namespaces, with what XDP forwarding over veth needs
# (docs/XDP.md): an XDP program on the far ends (qasm_xdp_pass), no TX
# checksum offload there, lo's forwarding on in the hop (the program asks
# the FIB as from lo; the hop's own forwarding stays off). SKIP (77) without
# the BPF toolchain at build time, ethtool or XDP on veth.
xdp_testbed() {
    OBJ=$B/gen/qasm_xdp.bpf.o
    [ -f "$OBJ" ] || { echo "SKIP: $XDP_TEST: --io xdp was not built (no BPF toolchain)"; exit 77; }
    command -v ethtool >/dev/null || { echo "SKIP: $XDP_TEST needs ethtool (scripts/deps.sh)"; exit 77; }
    local bin
    for bin in qasm-h3-server qasm-h3-client libqasm-agent.so; do
        [ -e "$B/$bin" ] || { echo "FAIL: $B/$bin not built"; exit 1; }
    done
    netns_setup || { echo "FAIL: cannot create the namespaces"; exit 1; }
    if ! in_c ip link set dev c0 xdpdrv obj "$OBJ" program qasm_xdp_pass ||
       ! in_s ip link set dev s0 xdpdrv obj "$OBJ" program qasm_xdp_pass; then
        echo "SKIP: $XDP_TEST: cannot attach an XDP program to a veth (ip link ... xdpdrv)"
        exit 77
    fi
    in_c ethtool -K c0 tx off >/dev/null && in_s ethtool -K s0 tx off >/dev/null ||
        { echo "FAIL: ethtool -K tx off"; exit 1; }
    in_h sysctl -qw net.ipv4.conf.lo.forwarding=1 net.ipv6.conf.lo.forwarding=1
}

# start_mb ARGS...: qasm-mbox --io xdp in the hop, stats in $T/mb.json; SKIP
# when the program cannot be loaded or attached, FAIL when it did not start.
start_mb() {
    rm -f "$T/mb.json" # the last run's stats must not pass for this one's
    start mb ip netns exec "$NS_H" "$B/qasm-mbox" "$@" --io xdp --inside in0 --outside out0 \
        --stats-json "$T/mb.json" --stats-entries 16
    if ! wait_json "$T/mb.json" "d['io'] == 'xdp'"; then
        if grep -q "cannot load\|cannot attach" "$T/mb.log"; then
            echo "SKIP: $XDP_TEST: $(grep -m1 'cannot' "$T/mb.log")"; exit 77
        fi
        echo "FAIL: qasm-mbox --io xdp did not start"; exit 1
    fi
}
