#!/usr/bin/env bash
# mboxctl.sh: qasm-mbox's control socket and qasm-mboxctl, like conntrack -L / -E.
#  - a reactive NAT with a migrating client (qasm-udpdrive reporting to the
#    tracker): `list` shows the connection's entry with its fields (O-DCID,
#    every client address, public port, age, expiry, packets both ways),
#    `events` shows new and migrated with timestamps, `--json` parses,
#    `stats` is the --stats-json object; a stopped EVENTS reader and a client
#    that never sends its request do not stall forwarding;
#  - a second NAT with a one-port pool flooded from a refused 5-tuple: the
#    stopped reader falls behind and is dropped (counted, logged), the live
#    readers see the refused events, forwarding goes on;
#  - usage errors (exit 2) and an unreachable socket (exit 1).
# Loopback and Unix sockets in the test's directory only, every process bounded.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh
[ -x "$B/qasm-mboxctl" ] || { echo "FAIL: $B/qasm-mboxctl not built"; exit 1; }

base=$(free_ports 24) || { echo "no free ports"; exit 1; }
TRK=$base SRV=$((base + 1)) NAT=$((base + 2)) NAT2=$((base + 3)) ECHO=$((base + 4))
POOL_LO=$((base + 8)) POOL_HI=$((base + 15)) POOL2=$((base + 16))
CTL=$T/nat.sock CTL2=$T/nat2.sock
ctl() { timeout "$(scaled 30)" "$B/qasm-mboxctl" "$@"; }

start tracker "$B/qasm-tracker" --listen 127.0.0.1:$TRK
start server "$B/qasm-udpdrive" server --listen 127.0.0.1:$SRV
wait_bound $TRK tcp && wait_bound $SRV || exit 1
start nat "$B/qasm-mbox" nat --mode reactive --listen 127.0.0.1:$NAT --upstream 127.0.0.1:$SRV \
    --ports $POOL_LO-$POOL_HI --tracker 127.0.0.1:$TRK --hold $HOLD --control "$CTL" \
    --stats-json "$T/nat.json"
wait_bound $NAT || exit 1
wait_until 30 test -S "$CTL" || { echo "no control socket"; exit 1; }
wait_json "$T/nat.json" "d['tracker']['up']" || echo "(tracker session not up yet)"

echo "# readers: text and JSON event streams, a stopped one, one that never asks"
start ev_text "$B/qasm-mboxctl" events --control "$CTL"
start ev_json "$B/qasm-mboxctl" events --json --control "$CTL"
start ev_stopped "$B/qasm-mboxctl" events --control "$CTL"
timeout "$(scaled 120)" "$B/qasm-mboxctl" events --json --count 2 --control "$CTL" >"$T/ev_count.out" &
EVC=$!; PIDS[ev_count]=$EVC
start idle python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(60)' "$CTL"
wait_stats nat "$T/nat.json" "d['control']['event_readers'] == 4 and d['control']['connections'] == 5" ||
    { echo "FAIL: the readers never connected"; exit 1; }
kill -STOP "$(child_pid ev_stopped)"

echo "# a migrating client through the NAT"
c1=$(timeout "$(scaled 60)" "$B/qasm-udpdrive" client --handshake-timeout $HS_TIMEOUT --linger $LINGER \
    --to 127.0.0.1:$NAT --conn 41 --packets 30 --migrate-every 5 --interval 10ms --tracker 127.0.0.1:$TRK)
rc=$?
echo "client: $c1"
check "the client's handshake" "$rc == 0"
check "every phase answered (a stopped reader and an idle client stall nothing)" \
    "$(echo "$c1" | json /dev/stdin "d['phases_ok'] == d['phases'] == 6")"
od=$(echo "$c1" | json /dev/stdin "d['odcid']")

ctl list --control "$CTL" >"$T/list.txt" 2>"$T/list.err"
check "list exits 0" "$? == 0"
echo "list: $(cat "$T/list.txt")"
line=$(grep "odcid=$od " "$T/list.txt")
check "list: one line for the connection" "$(grep -c "odcid=$od " "$T/list.txt") == 1"
check "list: the fields of the entry (clients, public port, age, expiry, packets, assured)" \
    "$(echo "$line" | grep -cE "^quic odcid=$od client=127\.0\.0\.1:[0-9]+ server=127\.0\.0\.1:$SRV clients=(127\.0\.0\.1:[0-9]+,){5}127\.0\.0\.1:[0-9]+ public_port=$POOL_LO age=[0-9.]+s expires=[0-9.]+s packets=[0-9]+/[0-9]+ \[ASSURED\]$")"
pk=$(echo "$line" | sed -nE 's/.* packets=([0-9]+)\/([0-9]+).*/\1 \2/p')
check "list: packets both ways counted (client->server, server->client: $pk)" \
    "$(echo "$pk" | awk '{print ($1 >= 31 && $2 >= 30)}')"
check "list: the entry count on stderr" "$(grep -c 'entries shown' "$T/list.err")"

ctl list --json --control "$CTL" >"$T/list.json"
check "list --json parses (python3 -m json.tool)" "$(python3 -m json.tool "$T/list.json" >/dev/null && echo 1 || echo 0)"
check "list --json: the connection's entry with its fields" \
    "$(json "$T/list.json" "[(e['public_port'], len(e['clients']), e['assured'], e['packets_orig'] > 30, e['packets_reply'] >= 30, 0 <= e['age_s'] < e['age_s'] + e['expires_s'] <= 121) for e in d['entries'] if e.get('odcid') == '$od'] == [($POOL_LO, 6, True, True, True, True)]")"

ctl stats --control "$CTL" >"$T/stats.json"
check "stats: the --stats-json object (function, counters, control)" \
    "$(json "$T/stats.json" "d['function'] == 'nat' and d['migrations'] >= 5 and d['control']['requests'] >= 5")"

wait_until 30 sh -c "grep -c MIGRATED '$T/ev_text.log' | grep -q '^5$'"
ts='^\[[0-9]{10}\.[0-9]{6}\] +'
check "events: [NEW] with a timestamp, the O-DCID and the public port" \
    "$(grep -cE "$ts\[NEW\] quic odcid=$od client=127\.0\.0\.1:[0-9]+ server=127\.0\.0\.1:$SRV public_port=$POOL_LO$" "$T/ev_text.log") == 1"
check "events: one [MIGRATED] per migration, with the old address" \
    "$(grep -cE "$ts\[MIGRATED\] quic odcid=$od client=127\.0\.0\.1:[0-9]+ server=\S+ from=127\.0\.0\.1:[0-9]+ public_port=$POOL_LO$" "$T/ev_text.log") == 5"
check "events --json: one JSON object per line, new then 5 migrated, timestamps in order" \
    "$(python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
mine = [e for e in ev if e.get("odcid") == sys.argv[2]]
print(int([e["type"] for e in mine] == ["new"] + ["migrated"] * 5 and
          all(a["time"] <= b["time"] for a, b in zip(mine, mine[1:])) and
          all(e["public_port"] == int(sys.argv[3]) for e in mine)))' "$T/ev_json.log" "$od" $POOL_LO)"
kill -CONT "$(child_pid ev_stopped)"
wait $EVC; rc=$?; unset "PIDS[ev_count]"
check "events --count 2: exits 0 after two events (new, migrated)" \
    "$rc == 0 && $(python3 -c 'import json,sys; print(int([json.loads(l)["type"] for l in open(sys.argv[1])] == ["new", "migrated"]))' "$T/ev_count.out")"

echo "# a one-port NAT flooded from a refused 5-tuple: the stopped reader is dropped"
start echo python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, a = s.recvfrom(2048)
    if d == b"ping":
        s.sendto(d, a)' $ECHO
wait_bound $ECHO || exit 1
start nat2 "$B/qasm-mbox" nat --mode default --listen 127.0.0.1:$NAT2 --upstream 127.0.0.1:$ECHO \
    --ports $POOL2-$POOL2 --control "$CTL2" --stats-json "$T/nat2.json"
wait_bound $NAT2 && wait_until 30 test -S "$CTL2" || exit 1
start ev2 "$B/qasm-mboxctl" events --control "$CTL2"
start ev2_stopped "$B/qasm-mboxctl" events --control "$CTL2"
wait_stats nat2 "$T/nat2.json" "d['control']['event_readers'] == 2" || { echo "FAIL: no readers"; exit 1; }
kill -STOP "$(child_pid ev2_stopped)"
flood=$(timeout "$(scaled 60)" python3 - 127.0.0.1 $NAT2 <<'EOF'
import socket, sys, time
to = (sys.argv[1], int(sys.argv[2]))
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # takes the only port
a.settimeout(5)
a.sendto(b"ping", to)
a.recv(100)
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # refused: one event per datagram
for i in range(20000):
    b.sendto(b"x" * 16, to)
    if i % 500 == 499:
        time.sleep(0.01)   # the loopback buffers do not drop them
a.settimeout(1)             # the mapped flow still goes through (UDP: a ping may be lost
for _ in range(30):         # while the middlebox's receive buffer is full of the flood)
    a.sendto(b"ping", to)
    try:
        print(len(a.recv(100)))
        break
    except socket.timeout:
        pass
EOF
)
check "nat2: the mapped flow is still forwarded after the flood" "${flood:-0} == 4"
wait_stats nat2 "$T/nat2.json" "d['control']['slow_readers_dropped'] >= 1" ||
    echo "(the stopped reader was not dropped)"
check "nat2: the stopped reader was dropped and counted" \
    "$(json "$T/nat2.json" "d['control']['slow_readers_dropped']") >= 1"
check "nat2: ... and logged" "$(grep -c 'dropped an EVENTS reader' "$T/nat2.log") >= 1"
check "nat2: the live reader saw the refusals (reason pool_exhausted)" \
    "$(grep -cE "$ts\[REFUSED\] udp client=127\.0\.0\.1:[0-9]+ server=\S+ reason=pool_exhausted$" "$T/ev2.log") >= 1000"
check "nat2: the live reader is still connected" \
    "$(json "$T/nat2.json" "d['control']['event_readers']") == 1"

echo "# a LIST longer than one chunk (256 entries): 700 flows through a rate limiter"
RL=$((base + 5)) CTL3=$T/rl.sock
start rl "$B/qasm-mbox" ratelimit --mode default --listen 127.0.0.1:$RL --upstream 127.0.0.1:$ECHO \
    --rate 1000 --control "$CTL3" --stats-json "$T/rl.json"
wait_bound $RL && wait_until 30 test -S "$CTL3" || exit 1
timeout "$(scaled 60)" python3 - 127.0.0.1 $RL <<'EOF'
import socket, sys, time
for i in range(700):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
    s.close()
    if i % 100 == 99:
        time.sleep(0.02)
EOF
wait_stats rl "$T/rl.json" "d['mappings'] >= 600" || echo "(fewer than 600 flows arrived)"
n=$(json "$T/rl.json" "d['mappings']")
ctl list --control "$CTL3" >"$T/rl.txt" 2>/dev/null
check "rl: list shows every entry ($n), one line each" \
    "$n >= 300 && $(grep -cE '^udp client=127\.0\.0\.1:[0-9]+ server=127\.0\.0\.1:'$ECHO' clients=\S+ tokens=[0-9.]+ age=' "$T/rl.txt") == $n"
ctl list --json --control "$CTL3" >"$T/rl.json.list"
check "rl: list --json: the same count, every entry distinct" \
    "$(json "$T/rl.json.list" "d['count'] == len(d['entries']) == len(set(e['client'] for e in d['entries'])) == $n")"

echo "# usage errors and failures"
for args in "" "show" "list extra" "list --count 2" "events --count x" "list --bogus"; do
    # shellcheck disable=SC2086
    "$B/qasm-mboxctl" $args >/dev/null 2>"$T/usage.err"; rc=$?
    check "qasm-mboxctl $args: exit 2 with one line" "$rc == 2 && $(wc -l <"$T/usage.err") == 1"
done
"$B/qasm-mboxctl" --help >/dev/null; check "--help exits 0" "$? == 0"
"$B/qasm-mboxctl" --version | grep -q '^qasm-mboxctl '; check "--version" "$? == 0"
"$B/qasm-mboxctl" list --control "$T/none.sock" 2>"$T/none.err"; rc=$?
check "an unreachable socket: exit 1, said" "$rc == 1 && $(grep -c 'cannot connect' "$T/none.err") == 1"
printf 'FLUSH\n' | timeout 10 python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(200).decode().strip())' "$CTL" >"$T/err.txt"
check "a bad request: one ERR line" "$(grep -c "^ERR unknown request 'FLUSH'" "$T/err.txt") == 1"
"$B/qasm-mbox" nat --mode default --listen 127.0.0.1:0 --upstream 127.0.0.1:$SRV \
    --control "$CTL" >"$T/dup.log" 2>&1; rc=$?
check "a second qasm-mbox on a live socket: exit 1, said" "$rc == 1 && $(grep -c 'Address already in use' "$T/dup.log") == 1"
stop nat
check "the socket file goes with the middlebox" "$([ -e "$CTL" ] && echo 0 || echo 1)"
finish
