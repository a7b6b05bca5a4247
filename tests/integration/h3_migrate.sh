#!/usr/bin/env bash
# h3_migrate.sh: migration on loopback, client directly to the server.
#   - 10 s at --migrate-hz 1000 (new port + new DCID each time) while
#     downloading /bytes/32k every 2 ms (about 130 Mbit/s: enough traffic in
#     flight at every migration, without saturating a shared 2-core machine,
#     whose queueing would inflate the RTT and so the CID recycling time)
#     with --verify: zero failed requests,
#     zero corrupt bytes, every one of the 10,000 slots accounted for (done or
#     skipped: the scheduler keeps a grid of slots and catches up after a
#     stall, up to 8 pending; slots it could not catch up are reported as
#     migrations_skipped), at least 1,000 done. How many are done depends on
#     the machine's load (spare CIDs come back a PTO after retirement): a
#     benchmark figure (qasm-bench rate-sweep, docs/BENCHMARKS.md), printed here.
#     The server must have seen (nearly) all of them.
#   - 2 s at 200 Hz with --migrate-kind addr over 127.0.0.2-127.0.0.200;
#   - 2 s at 200 Hz with --rebind (no new DCID);
#   - --migrate-every-packets 10 with small requests every 5 ms;
#   - many connections migrating at once.
#   The timed runs require one slot in ten done (migrations happen all along);
#   the share done is printed and is a benchmark figure.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/h3_lib.sh"

P=$(freeport)
start_server srv --listen "127.0.0.1:$P" --idle-timeout 10s
URL=https://127.0.0.1:$P/

timeout 60 "$CLI" --json --verify --duration 10s --size 32k --interval 2ms --migrate-hz 1000 \
    --idle-timeout 10s --csv "$T/req.csv" --timeline "$T/tl.csv" "$URL" >"$T/m1000.json" 2>"$T/m1000.log" ||
    fail "1000 Hz run: exit $?"
ok=$(jget "$T/m1000.json" requests_ok)
m=$(jget "$T/m1000.json" migrations)
att=$(jget "$T/m1000.json" migrations_attempted)
skip=$(jget "$T/m1000.json" migrations_skipped)
echo "1000 Hz: requests_ok=$ok migrations=$m attempted=$att skipped=$skip"
[ "$(jget "$T/m1000.json" requests_failed)" = 0 ] || fail "1000 Hz: failed requests"
[ "$(jget "$T/m1000.json" verify_errors)" = 0 ] || fail "1000 Hz: corrupt bytes"
[ "$ok" -ge 1000 ] || fail "1000 Hz: only $ok requests"
slots=$((m + skip))
[ "$slots" -ge 9500 ] && [ "$slots" -le 10500 ] ||
    fail "1000 Hz: the schedule had $slots slots, not within 5 % of 10000"
# How many of the slots became migrations is a figure of the machine's load,
# not of correctness: a spare CID comes back one PTO after its retirement, and
# the PTO grows with CPU contention (9997 of 10,000 unloaded; 7940 at load 9,
# 2 cores). That share is measured by qasm-bench (rate-sweep) and
# docs/BENCHMARKS.md; here it is printed. The test asserts what does not depend
# on time: every slot accounted for (above), no failed request, no corrupt byte,
# the server saw the client's migrations (below), and migrations did happen
# all along (at least one slot in ten; a broken migration path makes ~0).
[ "$m" -ge 1000 ] || fail "1000 Hz: only $m of $slots scheduled migrations happened"
if [ "$m" -ge 9500 ] && [ "$m" -le 10500 ]; then
    echo "ok: $m migrations, within 5 % of 10000"
else
    echo "ok: $m migrations of $slots slots (loaded machine: $((att - m)) attempts found no spare CID," \
         "$skip slots skipped; all slots accounted for)"
fi
[ $(( $(wc -l <"$T/req.csv") - 1 )) = "$ok" ] || fail "csv rows != requests_ok"
[ "$(wc -l <"$T/tl.csv")" -ge 90 ] || fail "timeline too short"
stop_server srv
sm=$(jget "$T/srv.json" migrations)
echo "server saw $sm migrations, validated $(jget "$T/srv.json" paths_validated) paths"
[ "$sm" -ge $((m * 95 / 100)) ] || fail "server saw $sm of $m migrations"

start_server srv2 --listen "127.0.0.1:$P" --idle-timeout 10s
timeout 60 "$CLI" --json --verify --duration 2s --size 1M --migrate-hz 200 --migrate-kind addr \
    --local-addrs 127.0.0.2-127.0.0.200 "$URL" >"$T/addr.json" 2>"$T/addr.log" ||
    fail "addr migration: exit $?"
# As at 1000 Hz: the share of the 400 slots done depends on the machine's load
# (a benchmark figure); the test asserts no failed request or corrupt byte (the
# client's exit status) and that migrations happened all along (one slot in ten).
[ "$(jget "$T/addr.json" migrations)" -ge 40 ] || fail "addr migration: too few migrations"
echo "ok: --migrate-kind addr ($(jget "$T/addr.json" migrations) migrations)"

timeout 60 "$CLI" --json --verify --duration 2s --size 1M --migrate-hz 200 --rebind "$URL" \
    >"$T/rebind.json" 2>"$T/rebind.log" || fail "rebind: exit $?"
[ "$(jget "$T/rebind.json" migrations)" -ge 40 ] || fail "rebind: too few migrations"
echo "ok: --rebind ($(jget "$T/rebind.json" migrations) rebindings)"

timeout 60 "$CLI" --json --requests 100 --interval 5ms --size 100 --migrate-every-packets 10 \
    "$URL" >"$T/pk.json" 2>"$T/pk.log" || fail "every-packets: exit $?"
[ "$(jget "$T/pk.json" migrations)" -ge 20 ] || fail "every-packets: too few migrations"
echo "ok: --migrate-every-packets 10 ($(jget "$T/pk.json" migrations) migrations)"

timeout 60 "$CLI" --json --verify --connections 20 --duration 2s --size 100k --concurrency 2 \
    --migrate-hz 100 "$URL" >"$T/many.json" 2>"$T/many.log" || fail "20 connections: exit $?"
# 4000 slots (20 x 100 Hz x 2 s): 1833 done beside two make test and a CPU hog.
[ "$(jget "$T/many.json" migrations)" -ge 400 ] || fail "20 connections: too few migrations"
echo "ok: 20 connections at 100 Hz ($(jget "$T/many.json" migrations) migrations," \
     "$(jget "$T/many.json" migrations_skipped) slots skipped)"
stop_server srv2
[ "$(jget "$T/srv2.json" conn_errors)" = 0 ] || fail "server connection errors"
echo "PASS"
