#!/usr/bin/env bash
# mbox_burst.sh: qasm-mbox nat under a burst, both ways. Under load the
# driver takes the sockets it reads and sends from out of its epoll set
# until the burst ends (relay.sockets_parked); replies that reach a public
# port meanwhile, and datagrams that reach the listen socket, must still
# all be read once the burst ends. The client blasts datagrams (sendmmsg
# as fast as it can), the server echoes every one, the relay forwards both
# ways; then a second client, slow, must get through the same sockets.
# Loopback only, every process bounded.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

base=$(free_ports 4) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2))
N=2000 # replies queue on one public socket while it may be parked: 4 MB holds them

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV --echo all --stats-json "$T/server.json"
start nat "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:$NAT --upstream 127.0.0.1:$SRV \
    --stats-json "$T/nat.json"
wait_bound $TRK tcp && wait_bound $SRV && wait_bound $NAT || exit 1

# Up to 5 blasts: a loaded machine may never fill a receive batch in one.
for i in 1 2 3 4 5; do
    c=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --to 127.0.0.1:$NAT --conn $((40 + i)) \
        --packets $N --migrate-every 0 --blast --linger "$LINGER" \
        --handshake-timeout $HS_TIMEOUT --tracker 127.0.0.1:$TRK); rc=$?
    echo "blast $i: $c"
    check "blast $i: handshake" "$rc == 0"
    [ $rc = 0 ] || break
    fresh_stats nat "$T/nat.json" || { echo "no stats"; FAILS=$((FAILS + 1)); break; }
    [ "$(json "$T/nat.json" "d['relay']['sockets_parked']")" -gt 0 ] && break
done
echo "nat: $(summary "$T/nat.json")"
s="$T/nat.json"
check "the burst parked sockets (read or sent from in a full batch)" \
    "$(json $s "d['relay']['sockets_parked']") > 0"
# Once everything has settled, every datagram the server sent (its echoes
# and handshake answers) has been read by the relay, and forwarded.
settled() {
    fresh_stats nat "$s" && [ "$(json "$s" "d['relay']['packets_received']")" = \
        "$(json "$T/server.json" "d['packets_received'] + d['packets_sent']")" ]
}
wait_until 30 settled
srv_rx=$(json "$T/server.json" "d['packets_received']")
srv_tx=$(json "$T/server.json" "d['packets_sent']")
echo "server: received $srv_rx sent $srv_tx"
check "the relay read what the client and the server sent (none left in a parked socket)" \
    "$(json $s "d['relay']['packets_received']") == $srv_rx + $srv_tx"
check "the relay forwarded everything it read" \
    "$(json $s "d['relay']['packets_sent']") == $(json $s "d['relay']['packets_received']")"
check "nothing dropped by the core" "$(json $s "d['packets_dropped']['total']") == 0"
c=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --to 127.0.0.1:$NAT --conn 99 --packets 10 \
    --migrate-every 0 --interval 10ms --linger "$LINGER" --handshake-timeout $HS_TIMEOUT \
    --tracker 127.0.0.1:$TRK); rc=$?
echo "slow client after the bursts: $c"
check "after the bursts: a slow client gets every answer (the sockets are watched again)" \
    "$rc == 0 && $(echo "$c" | json /dev/stdin "d['packets_received'] == d['packets_sent'] == 10")"
finish
