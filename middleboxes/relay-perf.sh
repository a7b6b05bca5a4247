#!/usr/bin/env bash
# relay-perf.sh: what each forwarder of relay-bench.sh spends per datagram.
# The same load as relay-bench.sh (qasm-udpdrive --blast, N 100-byte
# datagrams, one connection, into qasm-udpdrive server --echo none) through
# qasm-fwd-bare, qasm-fwd-bare --epoll and qasm-mbox nat (default mode),
# R rounds alternately (and, with B2 = another build directory, that
# build's qasm-mbox as "nat-b2": a change measured beside the code before
# it); per datagram the forwarder forwarded:
#   TOOL=perf (default): perf stat software events on the forwarder: CPU
#     time (task-clock, ns), context switches, system calls; medians of R.
#   TOOL=callgrind: user-space instructions (valgrind, one round): the
#     relay's receive callbacks (ep_cb and burst_cb: receive, core, send, parking), the bare
#     forwarder's whole run (its start-up included, ~150 k). Slowed down
#     ~50x, the forwarder reads full batches of 32.
# Usage: middleboxes/relay-perf.sh [N]   (env B = build dir, P = first of 3
# free ports, R = rounds, default 5; root or perf_event_paranoid <= 1 for perf).
B=${B:-build}; P=${P:-36100}; N=${1:-200000}; R=${R:-5}; TOOL=${TOOL:-perf}
T=$(mktemp -d /tmp/relay-perf.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
one() { # which: bare | bare-epoll | nat
    local w=$1 pre M F mb=$B/qasm-mbox
    if [ "$TOOL" = callgrind ]; then
        pre="valgrind --tool=callgrind --callgrind-out-file=$T/cg.$w"
        [ "${w#nat}" != "$w" ] && pre="$pre --toggle-collect=ep_cb --toggle-collect=burst_cb"
    else
        pre="perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter -o $T/perf.$w"
    fi
    timeout 120 "$B/qasm-udpdrive" server --listen 127.0.0.1:$((P+1)) --echo none \
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
    timeout 120 "$B/qasm-udpdrive" client --to 127.0.0.1:$((P+2)) --conn 9 --packets "$N" \
        --migrate-every 0 --blast --tracker 127.0.0.1:$P >/dev/null
    sleep $([ "$TOOL" = callgrind ] && echo 3 || echo 1)
    # timeout -> perf / valgrind -> the forwarder: SIGINT to the forwarder, the tool reports.
    F=$(pgrep -P "$M"); F=$(pgrep -P "$F" || echo "$F")
    kill -INT $F 2>/dev/null; wait $M
    kill $S; wait $S
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
    ev = {}
    for l in open(t + '/perf.' + w):
        f = l.strip().split(',')
        if len(f) > 3 and not l.startswith('#'):
            ev[f[2]] = float(f[0])
    print(w, fwd, '%.0f' % pps, '%.0f' % (ev['task-clock'] * 1e6 / fwd),
          '%.4f' % (ev['context-switches'] / fwd), '%.4f' % (ev['raw_syscalls:sys_enter'] / fwd))
PY
    rm -f "$T/srv.json" "$T/mb.json" "$T/fwd.err"
}
timeout 600 "$B/qasm-tracker" --listen 127.0.0.1:$P 2>/dev/null &
sleep 0.3
[ "$TOOL" = callgrind ] && R=1
for i in $(seq "$R"); do
    for w in bare bare-epoll nat ${B2:+nat-b2}; do one $w; done
done
python3 - "$T/rows" "$TOOL" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
cg = sys.argv[2] == 'callgrind'
print('| forwarder | runs | forwarded (median) | delivered pps (median) | ' +
      ('user-space instructions per datagram |' if cg else
       'cpu ns per datagram: median (runs) | context switches per datagram | syscalls per datagram |'))
print('|---|---|---|---|---|' + ('' if cg else '---|---|'))
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
        line += '%.0f (%s) | %.4f | %.4f |' % (m(3), ' '.join(x[3] for x in r), m(4), m(5))
    print(line)
if not cg and 'bare' in med:
    for w in ('bare-epoll', 'nat', 'nat-b2'):
        if w in med:
            print('bare / %s, cpu per datagram: %.2f' % (w, med['bare'] / med[w]))
PY
