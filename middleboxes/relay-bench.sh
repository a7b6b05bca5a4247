#!/usr/bin/env bash
# relay-bench.sh: throughput of the qasm-mbox UDP relay on loopback.
# qasm-udpdrive --blast sends N 100-byte QUIC short-header datagrams (one
# connection, no migration) as fast as sendmmsg allows, directly to a sink
# (qasm-udpdrive server --echo none) or through qasm-mbox; the table gives
# what the sink received per second and the core's per-packet time
# (processing_ns from --stats-json). The anchor, measured in the same run
# with the same sender, sink, datagram size and count: qasm-fwd-bare, a
# forwarder with no policy (recvmmsg/sendmmsg by 32); "x bare" is each
# path's delivered rate over the last anchor's; "cpu ns/pkt" the
# forwarder's CPU time (user + system) per delivered datagram. The second
# anchor, qasm-fwd-bare --epoll, is the same forwarder waiting with epoll
# (its sockets registered all along, as in the relay's event loop). The
# anchor, the epoll anchor and the relay NAT (default mode) run R rounds,
# interleaved, the order reversed every other round (anchor first, then
# relay first: neither always gets the warmer or the quieter slot); the
# last lines give their medians and, per round, the relay's ratios to the
# anchor of the same round (delivered rate: relay / anchor; CPU per
# datagram: anchor / relay, so > 1 is the relay cheaper): their median,
# quartiles and the 95 % interval of the median (order statistics of the
# R ratios, distribution-free), and in how many rounds the ratio reached 0.9.
# Usage: middleboxes/relay-bench.sh [N]
# (env B = build dir, P = first of 3 free ports, R = rounds, default 3;
# R = 15 or more to resolve a 10 % difference on a shared machine).
# Bounded: each process under timeout.
B=${B:-build}; P=${P:-36000}; N=${1:-200000}; R=${R:-3}
run() { # label fn mode [extra qasm-mbox flags] [round]
    local label=$1 fn=$2 mode=$3 extra=${4:-} round=${5:-0} to M= c
    timeout 60 "$B/qasm-udpdrive" server --listen 127.0.0.1:$((P+1)) --echo none \
        --stats-json /tmp/rb-srv.$$.json & local S=$!
    to=127.0.0.1:$((P+1))
    if [ "$fn" = bare ] || [ "$fn" = bare-epoll ]; then
        timeout 60 "$B/qasm-fwd-bare" --listen 127.0.0.1:$((P+2)) --to 127.0.0.1:$((P+1)) \
            $([ "$fn" = bare-epoll ] && echo --epoll) 2>/dev/null & M=$!
        to=127.0.0.1:$((P+2))
    elif [ -n "$fn" ]; then
        timeout 60 "$B/qasm-mbox" "$fn" --mode "$mode" --tracker 127.0.0.1:$P \
            --listen 127.0.0.1:$((P+2)) $([ "$fn" = lb ] && echo --backend || echo --upstream) 127.0.0.1:$((P+1)) \
            $([ "$fn" = ratelimit ] && echo --rate 1e9 --burst 1e9) $extra \
            --stats-json /tmp/rb-mb.$$.json 2>/dev/null & M=$!
        to=127.0.0.1:$((P+2))
    fi
    sleep 0.4
    c=$(timeout 60 "$B/qasm-udpdrive" client --to $to --conn 9 --packets "$N" --migrate-every 0 \
        --blast --tracker 127.0.0.1:$P)
    sleep 1.2
    local cpu=0
    if [ -n "$M" ]; then
        [ "${fn#bare}" = "$fn" ] && kill -USR1 "$(pgrep -P $M)" && sleep 0.3
        cpu=$(awk '{print $14 + $15}' /proc/"$(pgrep -P $M)"/stat 2>/dev/null || echo 0)
    fi
    kill $S; wait $S
    python3 - "$label" "$c" /tmp/rb-srv.$$.json /tmp/rb-mb.$$.json "$fn" /tmp/rb-bare.$$ \
        "$cpu" "$(getconf CLK_TCK)" "$round" <<'PY'
import json, os, sys
label, c, srv, mb, fn, bf = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ticks, hz, rnd = int(sys.argv[7]), int(sys.argv[8]), sys.argv[9]
s = json.load(open(srv))
rate = s['packets_received_known'] / s['receive_span_s'] if s['receive_span_s'] else 0
cpu = '%.0f' % (ticks / hz * 1e9 / s['packets_received_known']) if fn and s['packets_received_known'] else '-'
if fn == 'bare':
    open(bf, 'w').write('%f' % rate)
bare = float(open(bf).read()) if os.path.exists(bf) else 0
ratio = '%.2f' % (rate / bare) if bare and fn else '-'
line = '| %s | %.0f | %d | %.0f | %s | %s |' % (label, c['send_pps'], s['packets_received_known'], rate, ratio, cpu)
if rnd != '0':
    with open(bf + '.pairs', 'a') as f:
        f.write('%s %f %s %s\n' % (fn, rate, cpu, rnd))
if os.path.exists(mb):
    m = json.load(open(mb)); h = m['processing_ns']
    line += ' %d | %d / %d / %d |' % (m['relay']['packets_received'], h['p50'], h['p99'], h['p999'])
else:
    line += ' - | - |'
print(line)
PY
    [ -n "$M" ] && { kill $M; wait $M; }
    rm -f /tmp/rb-mb.$$.json /tmp/rb-srv.$$.json
}
timeout 300 "$B/qasm-tracker" --listen 127.0.0.1:$P 2>/dev/null & T=$!
sleep 0.3
echo "| path | offered pps | delivered (of $N) | delivered pps | x bare | cpu ns/pkt | relay rx | core ns p50 / p99 / p99.9 |"
echo "|---|---|---|---|---|---|---|---|"
run "direct (no middlebox)" "" ""
for i in $(seq "$R"); do
    # Odd rounds anchor first, even rounds relay first.
    order="bare bare-epoll nat"
    [ $((i % 2)) = 0 ] && order="nat bare-epoll bare"
    for w in $order; do
        case $w in
        bare) run "bare forwarder (qasm-fwd-bare)" bare "" "" "$i" ;;
        bare-epoll) run "bare forwarder --epoll" bare-epoll "" "" "$i" ;;
        nat) run "nat default" nat default "" "$i" ;;
        esac
    done
done
for m in reactive proactive; do run "nat $m" nat $m; done
run "nat proactive --core-batch" nat proactive --core-batch
for m in default proactive; do run "ratelimit $m" ratelimit $m; done
run "lb default" lb default
kill $T; wait
python3 - /tmp/rb-bare.$$.pairs <<'PY'
import math, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(fn, i):
    v = [float(r[i]) for r in rows if r[0] == fn and r[i] != '-']
    return statistics.median(v) if v else 0
def by_round(fn):
    return {r[3]: r for r in rows if r[0] == fn}
def ratios(fn):
    """Per round: fn's delivered rate over the anchor's, the anchor's cpu per datagram over fn's."""
    a, f = by_round('bare'), by_round(fn)
    rate, cpu = [], []
    for k in sorted(f, key=int):
        if k in a and float(a[k][1]) > 0:
            rate.append(float(f[k][1]) / float(a[k][1]))
            if f[k][2] != '-' and a[k][2] != '-' and float(f[k][2]) > 0:
                cpu.append(float(a[k][2]) / float(f[k][2]))
    return rate, cpu
def median_ci(v):
    """The 95 % interval of the median: order statistics j, n + 1 - j (binomial, p = 1/2)."""
    n, j = len(v), 0
    while j + 1 <= n and sum(math.comb(n, i) for i in range(j + 1)) / 2 ** n <= 0.025:
        j += 1
    s = sorted(v)
    return (s[j - 1], s[n - j]) if j >= 1 else (float('nan'), float('nan'))
def summary(v):
    if not v:
        return 'no rounds'
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0]] * 3
    lo, hi = median_ci(v)
    return ('median %.2f, quartiles %.2f-%.2f, 95 %% interval of the median %.2f-%.2f, '
            '>= 0.9 in %d of %d rounds (%s)'
            % (statistics.median(v), q[0], q[2], lo, hi, sum(x >= 0.9 for x in v), len(v),
               ', '.join('%.2f' % x for x in v)))
b, e, n = med('bare', 1), med('bare-epoll', 1), med('nat', 1)
print('median of %d rounds: bare forwarder %.0f pps (%.0f cpu ns/pkt), bare --epoll %.0f pps '
      '(%.0f cpu ns/pkt), relay NAT default %.0f pps (%.0f cpu ns/pkt)'
      % (len(by_round('nat')), b, med('bare', 2), e, med('bare-epoll', 2), n, med('nat', 2)))
for fn, name in (('nat', 'relay NAT (default mode)'), ('bare-epoll', 'bare forwarder --epoll')):
    rate, cpu = ratios(fn)
    print('%s / bare forwarder, ratio of the medians: %.2f by delivered rate, %.2f by cpu per '
          'datagram' % (name, med(fn, 1) / b if b else 0,
                        med('bare', 2) / med(fn, 2) if med(fn, 2) else 0))
    print('  per round, delivered rate: %s' % summary(rate))
    print('  per round, cpu per datagram (anchor / %s): %s' % (fn, summary(cpu)))
PY
rm -f /tmp/rb-bare.$$ /tmp/rb-bare.$$.pairs
