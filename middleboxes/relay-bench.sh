#!/usr/bin/env bash
# relay-bench.sh: throughput of the qasm-mbox UDP relay on loopback.
# qasm-udpdrive --blast sends N 100-byte QUIC short-header datagrams (one
# connection, no migration) as fast as sendmmsg allows, directly to a sink
# (qasm-udpdrive server --echo none) or through qasm-mbox; the table gives
# what the sink received per second and the core's per-packet time
# (processing_ns from --stats-json). The anchor, measured in the same run
# with the same sender, sink, datagram size and count: qasm-fwd-bare, a
# forwarder with no policy (recvmmsg/sendmmsg by 32); "x bare" is each
# path's delivered rate over the anchor's, and the last line the relay
# NAT's (default mode). Usage: middleboxes/relay-bench.sh [N]
# (env B = build dir, P = first of 3 free ports). Bounded: each process under timeout.
B=${B:-build}; P=${P:-36000}; N=${1:-200000}
run() { # label fn mode [extra qasm-mbox flags]
    local label=$1 fn=$2 mode=$3 extra=${4:-} to M= c
    timeout 60 "$B/qasm-udpdrive" server --listen 127.0.0.1:$((P+1)) --echo none \
        --stats /tmp/rb-srv.$$.json & local S=$!
    to=127.0.0.1:$((P+1))
    if [ "$fn" = bare ]; then
        timeout 60 "$B/qasm-fwd-bare" --listen 127.0.0.1:$((P+2)) --to 127.0.0.1:$((P+1)) \
            2>/dev/null & M=$!
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
    [ -n "$M" ] && [ "$fn" != bare ] && kill -USR1 "$(pgrep -P $M)" && sleep 0.3
    kill $S; wait $S
    python3 - "$label" "$c" /tmp/rb-srv.$$.json /tmp/rb-mb.$$.json "$fn" /tmp/rb-bare.$$ <<'PY'
import json, os, sys
label, c, srv, mb, fn, bf = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
s = json.load(open(srv))
rate = s['rx_known'] / s['rx_span_s'] if s['rx_span_s'] else 0
if fn == 'bare':
    open(bf, 'w').write('%f' % rate)
bare = float(open(bf).read()) if os.path.exists(bf) else 0
ratio = '%.2f' % (rate / bare) if bare and fn else '-'
line = '| %s | %.0f | %d | %.0f | %s |' % (label, c['send_pps'], s['rx_known'], rate, ratio)
if label.startswith('nat default'):
    open(bf + '.nat', 'w').write(ratio)
if os.path.exists(mb):
    m = json.load(open(mb)); h = m['processing_ns']
    line += ' %d | %d / %d / %d |' % (m['relay']['rx'], h['p50'], h['p99'], h['p999'])
else:
    line += ' - | - |'
print(line)
PY
    [ -n "$M" ] && { kill $M; wait $M; }
    rm -f /tmp/rb-mb.$$.json /tmp/rb-srv.$$.json
}
timeout 300 "$B/qasm-tracker" --listen 127.0.0.1:$P 2>/dev/null & T=$!
sleep 0.3
echo "| path | offered pps | delivered (of $N) | delivered pps | x bare | relay rx | core ns p50 / p99 / p99.9 |"
echo "|---|---|---|---|---|---|---|"
run "direct (no middlebox)" "" ""
run "bare forwarder (qasm-fwd-bare)" bare ""
for m in default reactive proactive; do run "nat $m" nat $m; done
run "nat proactive --core-batch" nat proactive --core-batch
for m in default proactive; do run "ratelimit $m" ratelimit $m; done
run "lb default" lb default
kill $T; wait
echo "relay NAT (default mode) / bare forwarder: $(cat /tmp/rb-bare.$$.nat 2>/dev/null || echo -)"
rm -f /tmp/rb-bare.$$ /tmp/rb-bare.$$.nat
