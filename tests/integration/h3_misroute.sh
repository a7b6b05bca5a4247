#!/usr/bin/env bash
# h3_misroute.sh: a migrated connection that a (QUIC-unaware) load balancer
# sends to the wrong backend fails visibly and in bounded time.
# A small Python UDP relay plays a 5-tuple load balancer: the first client
# address goes to server A, every later client address (i.e. after a
# migration) to server B. B does not know the DCID: it counts unknown_dcid
# and answers with a stateless reset.
#   - with different reset secrets the client cannot authenticate the reset
#     and fails by idle timeout (--idle-timeout 2s): exit non-zero, in-flight
#     request failed;
#   - with a shared --secret the client accepts B's stateless reset and fails
#     at once (stateless_resets >= 1 in its JSON; connections_failed = 1 and
#     exit status 1 even when no request happened to be in flight).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/h3_lib.sh"

cat >"$T/relay.py" <<'PY'
import selectors, socket, sys
lport, a_port, b_port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sel = selectors.DefaultSelector()
front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
front.bind(("127.0.0.1", lport))
sel.register(front, selectors.EVENT_READ, None)
flows = {}
while True:
    for key, _ in sel.select():
        if key.data is None:
            data, src = front.recvfrom(65536)
            up = flows.get(src)
            if up is None:
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                up.connect(("127.0.0.1", a_port if not flows else b_port))
                flows[src] = up
                sel.register(up, selectors.EVENT_READ, src)
            up.send(data)
        else:
            data = key.fileobj.recv(65536)
            front.sendto(data, key.data)
PY

run_case() {  # NAME SECRET_ARGS...
    local name=$1; shift
    local PA PB R
    PA=$(freeport); PB=$(freeport); R=$(freeport)
    start_server "${name}A" --listen "127.0.0.1:$PA" --idle-timeout 2s "$@"
    start_server "${name}B" --listen "127.0.0.1:$PB" --idle-timeout 2s "$@"
    timeout 60 python3 "$T/relay.py" "$R" "$PA" "$PB" >"$T/relay.log" 2>&1 &
    PIDS+=($!)
    wait_udp "$R" || fail "$name: the relay did not start"
    local t0 t1
    t0=$(date +%s)
    if timeout "$(scaled 60)" "$CLI" --json --connect "127.0.0.1:$R" --duration 5s --size 64k --interval 10ms \
        --migrate-every 300ms --idle-timeout 2s "https://127.0.0.1:$PA/" \
        >"$T/$name.c.json" 2>"$T/$name.c.log"; then
        fail "$name: misrouted client exited 0"
    fi
    t1=$(date +%s)
    # By the idle timeout (2 s after the misroute), not by our timeout's kill.
    [ $((t1 - t0)) -le "$(scaled 20)" ] || fail "$name: the failure took $((t1 - t0)) s"
    [ "$(jget "$T/$name.c.json" connections_failed)" = 1 ] || fail "$name: connection not failed"
    stop_server "${name}A"
    stop_server "${name}B"
    [ "$(jget "$T/${name}B.json" unknown_dcid)" -ge 1 ] || fail "$name: B counted no unknown DCID"
    [ "$(jget "$T/${name}B.json" stateless_resets)" -ge 1 ] || fail "$name: B sent no reset"
    [ "$(jget "$T/${name}B.json" connections)" = 0 ] || fail "$name: B accepted a connection"
}

run_case idle
[ "$(jget "$T/idle.c.json" requests_failed)" -ge 1 ] || fail "idle: no failed request"
echo "ok: misrouted migration fails by idle timeout ($(jget "$T/idle.c.json" requests_ok) requests ok before)"
SECRET=$(python3 -c 'import os; print(os.urandom(32).hex())')
run_case reset --secret "$SECRET"
[ "$(jget "$T/reset.c.json" stateless_resets)" -ge 1 ] || fail "client did not accept the stateless reset"
echo "ok: with a shared --secret the client takes B's stateless reset"
echo "PASS"
