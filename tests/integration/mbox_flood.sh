#!/usr/bin/env bash
# mbox_flood.sh: spoofed one-packet flows against the rate limiter's and the
# load balancer's upstream sockets (one per client address and next hop).
# 600 datagrams, each from its own 127.1.x.y address and port and never
# answered, fill --max-flows 256; then a new client must be served:
#  - at --max-flows the relay closes the least recently used socket for the
#    new flow (upstream_evicted) instead of refusing it (no_socket);
#  - each socket lives as long as its flow's entry in the core: the spoofed
#    entries expire after --udp-timeout (2 s, never answered) and their
#    sockets close with them (upstream_closed), long before the relay's own
#    idle sweep (--udp-stream-timeout, 300 s here).
# Counts, not timings, are checked; the times are printed as figures.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

base=$(free_ports 4) || { echo "no free ports"; exit 1; }
SRV=$base MB=$((base + 1))
NSPOOF=600 MAXF=256

# One datagram from each of N addresses 127.1.x.y (ephemeral port), to 127.0.0.1:PORT.
spoof() {
    python3 - "$1" "$2" <<'EOF'
import socket, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
sent = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.1.%d.%d" % (i // 250, i % 250 + 1), 0))
        s.sendto(b"spoofed one-packet flow", ("127.0.0.1", port))
        sent += 1
    finally:
        s.close()
print(sent)
EOF
}

for fn in ratelimit lb; do
    echo "# $fn default: $NSPOOF spoofed flows, --max-flows $MAXF"
    start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV --stats-json "$T/server.json"
    if [ $fn = lb ]; then
        start mb "$B/qasm-mbox" lb --mode default --listen 127.0.0.1:$MB --backend 127.0.0.1:$SRV \
            --max-flows $MAXF --udp-timeout 2s --udp-stream-timeout 300s --stats-json "$T/mb.json"
    else
        start mb "$B/qasm-mbox" ratelimit --mode default --listen 127.0.0.1:$MB \
            --upstream 127.0.0.1:$SRV --rate 10000 --burst 10000 --max-flows $MAXF \
            --udp-timeout 2s --udp-stream-timeout 300s --stats-json "$T/mb.json"
    fi
    wait_bound $SRV && wait_bound $MB || exit 1
    t0=$(date +%s.%N)
    sent=$(spoof $NSPOOF $MB)
    check "$fn: spoofed datagrams sent" "$sent == $NSPOOF"
    wait_stats mb "$T/mb.json" "d['packets_in'] >= $NSPOOF" ||
        echo "the relay did not see every spoofed datagram"
    full=$(json "$T/mb.json" "d['relay']['upstream_sockets']")
    echo "figure: $fn after the flood: upstream_sockets=$full no_socket=$(json "$T/mb.json" "d['packets_dropped']['no_socket']") upstream_evicted=$(json "$T/mb.json" "d['relay'].get('upstream_evicted', 'n/a')")"
    check "$fn: the flood filled --max-flows ($full)" "$full == $MAXF"

    # A new client right after the flood: its handshake and every phase answered.
    t1=$(date +%s.%N)
    c=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT \
        --linger $LINGER --to 127.0.0.1:$MB --conn 70 --packets 20); rc=$?
    t2=$(date +%s.%N)
    echo "client: $c"
    ok=$( [ $rc = 0 ] && echo "$c" | json /dev/stdin "d['phases_ok'] == d['phases']" || echo 0)
    fresh_stats mb "$T/mb.json"
    nosock=$(json "$T/mb.json" "d['packets_dropped']['no_socket']")
    echo "figure: $fn new client after the flood: served=$ok client_s=$(python3 -c "print(round($t2 - $t1, 2))") no_socket=$nosock upstream_evicted=$(json "$T/mb.json" "d['relay'].get('upstream_evicted', 'n/a')")"
    check "$fn: a new client is served after the flood" "$ok == 1"
    check "$fn: nothing refused for want of a socket" "$nosock == 0"
    check "$fn: sockets stay within --max-flows" \
        "$(json "$T/mb.json" "d['relay']['upstream_sockets']") <= $MAXF"

    # The spoofed entries expire (2 s, never answered): their sockets close with them,
    # the client's (answered: 300 s; one per phase, each from its own port) stay.
    mine=$(echo "$c" | json /dev/stdin "d['phases']" 2>/dev/null || echo 4)
    if wait_stats mb "$T/mb.json" "d['relay']['upstream_sockets'] <= $mine"; then
        gone=1
    else
        gone=0
    fi
    t3=$(date +%s.%N)
    echo "figure: $fn spoofed sockets closed with their entries: $gone after $(python3 -c "print(round($t3 - $t0, 1))") s from the flood (entries: --udp-timeout 2s; relay sweep: 300s); upstream_sockets=$(json "$T/mb.json" "d['relay']['upstream_sockets']") upstream_closed=$(json "$T/mb.json" "d['relay'].get('upstream_closed', 'n/a')") mappings=$(json "$T/mb.json" "d['mappings']")"
    check "$fn: spoofed flows' sockets closed when their entries expired" "$gone == 1"
    check "$fn: closed with their entries, not by the idle sweep" \
        "$(json "$T/mb.json" "d['relay']['upstream_expired']") == 0"
    check "$fn: the log says the bound was hit" "$(grep -c 'upstream sockets' "$T/mb.log") >= 1"
    stop mb
    stop server
done
finish
