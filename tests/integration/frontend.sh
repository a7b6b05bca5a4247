#!/usr/bin/env bash
# frontend.sh: every program has the same front end. --version prints
# "PROG VERSION (COMMIT)" and exits 0; -h exits 0 with the usage; a bad flag
# is one line on stderr naming the flag and "--help", exit 2. Host names work
# where an address is (qasm-tracker --listen localhost:0, qasm-trackctl
# --tracker localhost:PORT), and "-" is standard output (qasm-mbox
# --stats-json -, with "version" in the JSON).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
B=${QASM_BUILD:-build}
root=$PWD
fail=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

progs="qasm-tracker qasm-trackctl qasm-mbox qasm-mbox-bench qasm-replay qasm-capture
       qasm-corpus-gen qasm-h3-server qasm-h3-client qasm-bench qasm-tracker-bench
       qasm-udpdrive qasm-fwd-bare"
[ -x "$B/qasm-agentd" ] && progs="$progs qasm-agentd"  # built only with the BPF toolchain
[ -x "$B/qasm-xdp-bench" ] && progs="$progs qasm-xdp-bench qasm-xdp-hopgen"  # likewise
for p in $progs; do
    bin="$root/$B/$p"
    out=$(timeout "$(scaled 10)" "$bin" --version 2>"$tmp/err"); rc=$?
    check "$p --version: exit 0, one line 'PROG VERSION (COMMIT)'" \
        "[ $rc = 0 ] && [ \"\$(printf '%s\n' \"\$out\" | wc -l)\" = 1 ] &&
         printf '%s\n' \"\$out\" | grep -Eq '^$p [0-9]+\.[0-9]+\.[0-9]+ \([^ ]+\)$'"
    timeout "$(scaled 10)" "$bin" -h >"$tmp/h" 2>&1; rc=$?
    check "$p -h: exit 0 with the usage" "[ $rc = 0 ] && grep -qi usage $tmp/h"
    (cd "$tmp" && timeout "$(scaled 10)" "$bin" --no-such-flag >/dev/null 2>"$tmp/bad"); rc=$?
    check "$p --no-such-flag: exit 2, one line naming the flag and --help" \
        "[ $rc = 2 ] && [ \$(wc -l <$tmp/bad) = 1 ] && grep -q -- '--no-such-flag' $tmp/bad &&
         grep -q -- \"try '$p --help'\" $tmp/bad"
done

# A bad flag after a command or function is the same single line.
for cmd in "qasm-mbox nat --no-such-flag" "qasm-trackctl stats --no-such-flag" \
           "qasm-bench run --no-such-flag" "qasm-udpdrive client --no-such-flag"; do
    set -- $cmd
    timeout "$(scaled 10)" "$root/$B/$1" "${@:2}" >/dev/null 2>"$tmp/bad"; rc=$?
    check "$cmd: exit 2, one line" \
        "[ $rc = 2 ] && [ \$(wc -l <$tmp/bad) = 1 ] && grep -q -- '--no-such-flag' $tmp/bad"
done

# Host names: the tracker listens on localhost, trackctl reaches it by name.
"$B/qasm-tracker" --listen localhost:0 --log-level info 2>"$tmp/tracker.log" &
pids+=($!)
port=$(logged_port "$tmp/tracker.log")
check "qasm-tracker --listen localhost:0 listens" "[ -n '$port' ]"
if [ -n "$port" ]; then
    # localhost may be ::1 or 127.0.0.1: trackctl resolves it the same way
    addr=$(sed -n 's/.*listening on \(\[[^]]*\]\|[0-9.]*\):.*/\1/p' "$tmp/tracker.log" | head -n 1)
    "$B/qasm-trackctl" --tracker "localhost:$port" --json stats >"$tmp/stats.json" 2>"$tmp/ctl.err"
    check "qasm-trackctl --tracker localhost:$port --json stats carries the version ($addr)" \
        "$QASM_PYTHON -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d[\"version\"] == sys.argv[2], d' \
         $tmp/stats.json \"\$($B/qasm-trackctl --version | cut -d' ' -f2-)\""
fi
"$B/qasm-tracker" --listen nosuch.invalid:1 >/dev/null 2>"$tmp/bad"; rc=$?
check "an unresolvable --listen: exit 2, one line" \
    "[ $rc = 2 ] && [ \$(wc -l <$tmp/bad) = 1 ] && grep -q 'nosuch.invalid' $tmp/bad"

# "-" is standard output: qasm-mbox --stats-json - prints the JSON (at exit
# at least) and creates no file named "-".
(cd "$tmp" && timeout -s TERM "$(scaled 2)" "$root/$B/qasm-mbox" nat --mode default \
    --listen 127.0.0.1:0 --upstream localhost:9 --stats-json - >"$tmp/sj.out" 2>"$tmp/sj.err")
check "qasm-mbox --stats-json - prints JSON with the version" \
    "$QASM_PYTHON - $tmp/sj.out <<'EOF'
import json, sys
s = open(sys.argv[1]).read()
dec, i, docs = json.JSONDecoder(), 0, []
while True:
    while i < len(s) and s[i].isspace():
        i += 1
    if i == len(s):
        break
    d, i = dec.raw_decode(s, i)
    docs.append(d)
assert docs and all('version' in d and d['function'] == 'nat' for d in docs), docs
EOF"
check "no file named '-'" "[ ! -e $tmp/- ]"

exit $fail
