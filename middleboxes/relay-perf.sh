#!/usr/bin/env bash
# relay-perf.sh: what each forwarder of relay-bench.sh spends per datagram.
# The same load as relay-bench.sh (qasm-udpdrive --blast, N 100-byte
# datagrams, one connection, into qasm-udpdrive server --echo none) through
# qasm-fwd-bare, qasm-fwd-bare --epoll and qasm-mbox nat (default mode),
# R rounds alternately, the order reversed every other round (and, with
# B2 = another build directory, that build's qasm-mbox as "nat-b2": a
# change measured beside the code before it); per datagram the forwarder
# forwarded:
#   TOOL=perf (default): perf stat software events on the forwarder: CPU
#     time (task-clock, ns), context switches, system calls, datagrams per
#     recvmmsg and per sendmmsg, epoll_wait / poll calls; and the CPU time
#     of the sender and of the sink per datagram the sink received; medians
#     of R.
#   TOOL=callgrind: user-space instructions (valgrind, one round): the
#     relay's receive callbacks (ep_cb and burst_cb: receive, core, send, parking), the bare
#     forwarder's whole run (its start-up included, ~150 k). Slowed down
#     ~50x, the forwarder reads full batches of 32.
# Usage: middleboxes/relay-perf.sh [N]   (env B = build dir, P = first of 3
# free ports, R = rounds, default 5; root or perf_event_paranoid <= 1 for perf).
B=${B:-build}; P=${P:-36100}; N=${1:-200000}; R=${R:-5}; TOOL=${TOOL:-perf}
T=$(mktemp -d /tmp/relay-perf.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
EV=task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_recvmmsg
EV=$EV,syscalls:sys_enter_sendmmsg,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll
one() { # which: bare | bare-epoll | nat
    local w=$1 pre M F mb=$B/qasm-mbox spre= cpre=
    if [ "$TOOL" = callgrind ]; then
        pre="valgrind --tool=callgrind --callgrind-out-file=$T/cg.$w"
        [ "${w#nat}" != "$w" ] && pre="$pre --toggle-collect=ep_cb --toggle-collect=burst_cb"
    else
        pre="perf stat -x, -e $EV -o $T/perf.$w"
        spre="perf stat -x, -e task-clock -o $T/perf.sink" cpre="perf stat -x, -e task-clock -o $T/perf.snd"
    fi
    timeout 120 $spre "$B/qasm-udpdrive" server --listen 127.0.0.1:$((P+1)) --echo none \
        --stats-json "$T/srv.json" & local S=$!
    [ "$w" = nat-b2 ] && mb=$B2/qasm-mbox
    if [ "${w#nat}" != "$w" ]; then
        timeout 120 $pre "$mb" nat --mode default --tracker 127.0.0.1:$P \
            --listen 127.0.0.1:$((P+2)) --upstream 127.0.0.1:$((P+1)) \
            --stats-json "$T/mb.json" 2>/dev/null & M=$!
    else
        timeout 120 $pre "$B/qasm-fwd-bare" --listen 127.0.0.1:$((P+2)) \
            --to 127.0.0.1:$((P+1)) $([ "$w" = bare-epoll ] && echo --epoll) \
            2>"$T/fwd.err" & M=$!
    fi
    sleep $([ "$TOOL" = callgrind ] && echo 3 || echo 0.5)
    timeout 120 $cpre "$B/qasm-udpdrive" client --to 127.0.0.1:$((P+2)) --conn 9 --packets "$N" \
        --migrate-every 0 --blast --tracker 127.0.0.1:$P >/dev/null
    sleep $([ "$TOOL" = callgrind ] && echo 3 || echo 1)
    # timeout -> perf / valgrind -> the forwarder: SIGINT to the forwarder, the tool reports.
    F=$(pgrep -P "$M"); F=$(pgrep -P "$F" || echo "$F")
    kill -INT $F 2>/dev/null; wait $M
    F=$(pgrep -P "$S"); F=$(pgrep -P "$F" || echo "$F")
    kill $F 2>/dev/null; wait $S
    python3 - "$w" "$TOOL" "$T" <<'PY' >> "$T/rows"
import json, re, subprocess, sys
w, tool, t = sys.argv[1:4]
s = json.load(open(t + '/srv.json'))
if w.startswith('nat'):
    fwd = json.load(open(t + '/mb.json'))['relay']['packets_sent']
else:
    fwd = int(re.search(r'tx (\d+)', open(t + '/fwd.err').read()).group(1))
pps = s['packets_received_known'] / s['receive_span_s'] if s['receive_span_s'] else 0
if tool == 'callgrind':
    out = subprocess.run(['callgrind_annotate', t + '/cg.' + w], capture_output=True, text=True).stdout
    ir = int(re.search(r'([\d,]+) \S*\s*PROGRAM TOTALS', out).group(1).replace(',', ''))
    print(w, fwd, '%.0f' % pps, '%.1f' % (ir / fwd))
else:
    def events(name):
        ev = {}
        for l in open(t + '/perf.' + name):
            f = l.strip().split(',')
            if len(f) > 3 and not l.startswith('#'):
                ev[f[2].split(':')[-1]] = float(f[0]) if f[0][:1].isdigit() else 0.
        return ev
    ev, got = events(w), s['packets_received_known']
    waits = ev['sys_enter_epoll_wait'] + ev['sys_enter_poll']
    print(w, fwd, '%.0f' % pps, '%.0f' % (ev['task-clock'] * 1e6 / fwd),
          '%.4f' % (ev['context-switches'] / fwd), '%.4f' % (ev['sys_enter'] / fwd),
          '%.1f' % (fwd / max(ev['sys_enter_recvmmsg'], 1)),
          '%.1f' % (fwd / max(ev['sys_enter_sendmmsg'], 1)), '%.4f' % (waits / fwd),
          '%.0f' % (events('snd')['task-clock'] * 1e6 / max(got, 1)),
          '%.0f' % (events('sink')['task-clock'] * 1e6 / max(got, 1)))
PY
    rm -f "$T/srv.json" "$T/mb.json" "$T/fwd.err" "$T/perf.snd" "$T/perf.sink"
}
timeout 600 "$B/qasm-tracker" --listen 127.0.0.1:$P 2>/dev/null &
sleep 0.3
[ "$TOOL" = callgrind ] && R=1
for i in $(seq "$R"); do
    # The order reversed every other round: a slot's own bias (±5 % here) cancels out.
    order="bare bare-epoll nat ${B2:+nat-b2}"
    [ $((i % 2)) = 0 ] && order="${B2:+nat-b2 }nat bare-epoll bare"
    for w in $order; do one $w; done
done
python3 - "$T/rows" "$TOOL" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
cg = sys.argv[2] == 'callgrind'
print('| forwarder | runs | forwarded (median) | delivered pps (median) | ' +
      ('user-space instructions per datagram |' if cg else
       'cpu ns per datagram: median (runs) | context switches per datagram | syscalls per datagram | '
       'datagrams per recvmmsg / sendmmsg | epoll_wait or poll per datagram | sender, sink cpu ns per datagram received |'))
print('|---|---|---|---|---|' + ('' if cg else '---|---|---|---|---|'))
med = {}
for w in ('bare', 'bare-epoll', 'nat', 'nat-b2'):
    r = [x for x in rows if x[0] == w]
    if not r:
        continue
    m = lambda i: statistics.median(float(x[i]) for x in r)
    med[w] = m(3)
    line = '| %s | %d | %.0f | %.0f | ' % (w, len(r), m(1), m(2))
    if cg:
        line += '%.0f |' % m(3)
    else:
        line += '%.0f (%s) | %.4f | %.4f | %.1f / %.1f | %.4f | %.0f, %.0f |' % (
            m(3), ' '.join(x[3] for x in r), m(4), m(5), m(6), m(7), m(8), m(9), m(10))
    print(line)
if not cg and 'bare' in med:
    for w in ('bare-epoll', 'nat', 'nat-b2'):
        if w in med:
            print('bare / %s, cpu per datagram: %.2f' % (w, med['bare'] / med[w]))
PY
