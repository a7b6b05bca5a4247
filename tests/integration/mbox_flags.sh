#!/usr/bin/env bash
# mbox_flags.sh: qasm-mbox's command line and lifecycle: --help, one-line
# errors with status 2 for bad flags, status 1 when --listen cannot be bound,
# stats JSON on SIGUSR1 and at exit, clean exit (0) on SIGTERM and SIGINT.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

M="$B/qasm-mbox"
base=$(free_ports 4) || { echo "no free ports"; exit 1; }
L=127.0.0.1:$base U=127.0.0.1:$((base + 1))

out=$(timeout "$(scaled 30)" "$M" --help); rc=$?
check "--help exits 0" "$rc == 0"
check "--help prints the usage" "$(echo "$out" | grep -c '^usage: qasm-mbox nat|ratelimit|lb')"

bad() { # description, then args
    local desc=$1; shift
    local err rc
    err=$(timeout "$(scaled 30)" "$M" "$@" 2>&1 >/dev/null); rc=$?
    check "$desc: exit 2" "$rc == 2"
    check "$desc: one line on stderr" "$(echo "$err" | wc -l) == 1"
    echo "     ($err)"
}
bad "no function" --mode default --listen $L --upstream $U
bad "unknown function" firewall --mode default --listen $L --upstream $U
bad "no mode" nat --listen $L --upstream $U
bad "bad mode" nat --mode sideways --listen $L --upstream $U
bad "no listen" nat --mode default --upstream $U
bad "no upstream" nat --mode default --listen $L
bad "bad address" nat --mode default --listen 127.0.0.1 --upstream $U
bad "aware without tracker" nat --mode reactive --listen $L --upstream $U
bad "lb without backend" lb --mode default --listen $L
bad "lb with upstream" lb --mode default --listen $L --upstream $U --backend $U
bad "bad port range" nat --mode default --listen $L --upstream $U --ports 50-10
bad "bad duration" nat --mode default --listen $L --upstream $U --udp-timeout soon
bad "bad rate" ratelimit --mode default --listen $L --upstream $U --rate -3
bad "rate on a nat" nat --mode default --listen $L --upstream $U --rate 5
bad "unknown flag" nat --mode default --listen $L --upstream $U --frobnicate
bad "missing value" nat --mode default --listen $L --upstream
bad "bad log level" nat --mode default --listen $L --upstream $U --log-level loud

# A port already bound: exit 1. The holder binds port 0 and says which port it
# got (a number picked first and bound later could be taken in between).
start holder python3 -u -c 'import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",0))
print(s.getsockname()[1]); time.sleep(600)'
wait_until 30 grep -q '^[0-9]' "$T/holder.log" || { echo "FAIL: the port holder did not start"; exit 1; }
held=$(head -n 1 "$T/holder.log")
# Exit 1 comes at once; should qasm-mbox bind after all, it runs to the timeout (124).
timeout "$(scaled 30)" "$M" nat --mode default --listen 127.0.0.1:$held --upstream $U 2>/dev/null; rc=$?
check "listen address in use: exit 1" "$rc == 1"
stop holder

# Lifecycle: stats on SIGUSR1, at exit; SIGTERM and SIGINT exit 0.
for sig in TERM INT; do
    start mb "$M" ratelimit --mode default --listen $L --upstream $U --stats-json "$T/s.json" \
        --log-level warn
    wait_bound $base || exit 1
    fresh_stats mb "$T/s.json"
    check "SIG$sig run: SIGUSR1 writes the stats" "$(json "$T/s.json" "d['function'] == 'ratelimit'")"
    pid=$(child_pid mb)
    rm -f "$T/s.json"
    kill -$sig "$pid"
    wait "${PIDS[mb]}"; rc=$?
    unset "PIDS[mb]"
    check "SIG$sig: exit 0" "$rc == 0"
    check "SIG$sig: the stats are written at exit" "$(json "$T/s.json" "'processing_ns' in d")"
done
# --listen HOST:0: a free port, named in the stats JSON and the log line.
start mb "$M" ratelimit --mode default --listen 127.0.0.1:0 --upstream $U --stats-json "$T/s.json"
wait_json "$T/s.json" "d['listen'] != '127.0.0.1:0'" || echo "(no port in the stats)"
p0=$(json "$T/s.json" "d['listen'].rsplit(':', 1)[1]")
check "port 0: the stats name the port picked" "${p0:-0} > 0"
check "port 0: the log line names it too" "$(logged_port "$T/mb.log" || echo 0) == ${p0:-0}"
check "port 0: the middlebox listens on it" "$(udp_bound "${p0:-0}" && echo 1 || echo 0)"
stop mb
# Junk on both sides: empty, tiny, oversize and random datagrams, broken long headers.
# The middlebox stays up and counts what it could not forward.
start sink "$B/qasm-udpdrive" server --listen $U --echo none --stats-json "$T/sink.json"
start mb "$M" nat --mode reactive --tracker 127.0.0.1:$((base + 2)) --listen $L --upstream $U \
    --ports $((base + 3))-$((base + 3)) --stats-json "$T/s.json" --log-level error
wait_bound $base && wait_bound $((base + 1)) || exit 1
python3 - $base <<'PY'
import os, random, socket, sys
random.seed(7)
to = ("127.0.0.1", int(sys.argv[1]))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
s.sendto(b"", to)
s.sendto(b"\x00", to)
s.sendto(b"\xc0" + b"\x00\x00\x00\x01" + b"\xff" * 40, to)      # DCID length 255
s.sendto(b"\xc3\x00\x00\x00\x01\x08" + b"A" * 8 + b"\x00\x00\x44", to)  # truncated Initial
s.sendto(b"\x40" + os.urandom(30), to)                          # short header, unknown server
s.sendto(b"x" * 5000, to)                                       # above --max-datagram
for _ in range(300):
    s.sendto(os.urandom(random.randint(1, 1500)), to)
s2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # a second flow: the 1-port pool is full
for _ in range(10):
    s2.sendto(os.urandom(64), to)
PY
# The 10 packets of the second flow were sent last: once they are counted, all were read.
wait_stats mb "$T/s.json" "d['packets_dropped']['pool_exhausted'] >= 10" ||
    echo "(the middlebox did not count all the junk in $(scaled 30) s)"
echo "mb: $(summary "$T/s.json")"
check "junk: the middlebox is still up" "$(json "$T/s.json" "d['relay']['packets_received']") >= 300"
check "junk: the oversize datagram is counted" \
    "$(json "$T/s.json" "d['packets_dropped']['oversize']") == 1"
check "junk: the one-port pool refused the second flow, counted" \
    "$(json "$T/s.json" "d['packets_dropped']['pool_exhausted']") == 10"
check "junk: every datagram accounted for (forwarded or dropped)" \
    "$(json "$T/s.json" "d['packets_in'] == d['packets_forwarded'] + d['packets_dropped']['total'] - d['packets_dropped']['oversize'] - d['packets_dropped']['no_socket'] - d['packets_dropped']['send_error']")"
stop mb
stop sink
check "junk: what was forwarded reached the server" \
    "$(json "$T/sink.json" "d['packets_received']") >= 1"
finish
