#!/usr/bin/env bash
# check_size.sh: scripts/check-size.sh finds a function over its limit (and a
# main() over 60 lines) in synthetic files and accepts them at the limit
# (make test runs it on the tree: check-size).
set -u
cd "$(dirname "$0")/../.." || exit 1
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
gen() { # gen FILE NAME BODY_LINES: a definition of NAME whose body has BODY_LINES lines
  { printf 'static int\n%s(int a,\n    int b)\n{\n' "$2"
    for _ in $(seq 1 "$3"); do echo '    a += b;'; done
    printf '    return a;\n}\n'; } >"$1"
}
# Counted from the line of the name to the closing brace: BODY_LINES + 5.
gen "$t/ok.c" fine 115
gen "$t/long.c" too_long 116
scripts/check-size.sh "$t/ok.c" >/dev/null || fail "a 120-line function refused"
out=$(scripts/check-size.sh "$t/long.c") && fail "a 121-line function accepted"
echo "$out" | grep -q "long.c:2: too_long() is 121 lines (limit 120)" || fail "no line naming the function: $out"
echo "ok: 120 lines accepted, 121 named and refused"
gen "$t/main.c" main 55
scripts/check-size.sh "$t/main.c" >/dev/null || fail "a 60-line main() refused"
gen "$t/main.c" main 56
scripts/check-size.sh "$t/main.c" >/dev/null && fail "a 61-line main() accepted"
echo "ok: main() of 60 lines accepted, 61 refused"
echo "PASS check_size.sh"
