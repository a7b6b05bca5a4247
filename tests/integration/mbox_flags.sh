#!/usr/bin/env bash
# mbox_flags.sh: qasm-mbox's command line and lifecycle: --help, one-line
# errors with status 2 for bad flags, status 1 when --listen cannot be bound,
# stats JSON on SIGUSR1 and at exit, clean exit (0) on SIGTERM and SIGINT.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/mbox_lib.sh

M="$B/qasm-mbox"
base=$(free_ports 4) || { echo "no free ports"; exit 1; }
L=127.0.0.1:$base U=127.0.0.1:$((base + 1))

out=$(timeout 5 "$M" --help); rc=$?
check "--help exits 0" "$rc == 0"
check "--help prints the usage" "$(echo "$out" | grep -c '^usage: qasm-mbox nat|ratelimit|lb')"

bad() { # description, then args
    local desc=$1; shift
    local err rc
    err=$(timeout 5 "$M" "$@" 2>&1 >/dev/null); rc=$?
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

# A port already bound: exit 1.
python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",int(sys.argv[1]))); time.sleep(3)' $base &
holder=$!
sleep 0.3
timeout 5 "$M" nat --mode default --listen $L --upstream $U 2>/dev/null; rc=$?
check "listen address in use: exit 1" "$rc == 1"
kill $holder 2>/dev/null; wait $holder 2>/dev/null

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
finish
