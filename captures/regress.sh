#!/usr/bin/env bash
# regress.sh [--update | --strict] [CAPTURE...]: replay every capture of
# captures/corpus/ through every middlebox function in every mode and compare
# the JSON summary with captures/corpus/expected/NAME.FUNCTION.MODE.json.
# --update rewrites the expectations instead (review them with git diff
# before committing). The comparison ignores the core's internal accounting
# (cache_hits, cache_misses, the DCID table size, the fig9 paths), which an
# optimisation may change without changing what the middlebox does;
# --strict compares everything.
#
# Per-capture options: NAME.events.jsonl is passed as --tracker-events;
# NAME.flags holds lines "FUNCTION: flags..." ("all: ..." for every function).
# Env: QASM_BUILD (default build).
set -u
here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus
build=${QASM_BUILD:-build}
replay=$build/qasm-replay
update=0 strict=0
case "${1:-}" in
  --update) update=1; shift ;;
  --strict) strict=1; shift ;;
esac
# what the middlebox did, without how it found out (one JSON member per line)
behaviour() {
  if [ $strict = 1 ]; then cat "$1"; return; fi
  sed -e '/^    "cache_hits": /d' -e '/^    "cache_misses": /d' -e '/^    "dcids": [0-9]/d' \
      -e '/^    "paths": {/,/^    },/d' "$1"
}
[ -x "$replay" ] || { echo "regress: $replay not built (make $replay)" >&2; exit 1; }
mkdir -p "$corpus/expected"

declare -A fflags=(
  [nat]="--ports 40000-40063"
  [ratelimit]="--rate 5 --burst 5"
  [lb]="--backend 127.0.0.1:4433 --backend 127.0.0.1:4434 --backend 127.0.0.1:4435 --backend 127.0.0.1:4436"
)

if [ $# -gt 0 ]; then
  caps=()
  for a in "$@"; do
    if [ -e "$a" ]; then caps+=("$a"); else caps+=("$corpus/$a"); fi
  done
else
  caps=()
  for f in "$corpus"/*.pcap "$corpus"/*.pcapng; do [ -e "$f" ] && caps+=("$f"); done
fi
[ ${#caps[@]} -gt 0 ] || { echo "regress: no capture in $corpus" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 updated=0
for cap in "${caps[@]}"; do
  base=$(basename "$cap"); name=${base%.*}
  extra=()
  [ -e "$corpus/$name.events.jsonl" ] && extra+=(--tracker-events "$corpus/$name.events.jsonl")
  for fn in nat ratelimit lb; do
    cflags=""
    if [ -e "$corpus/$name.flags" ]; then
      cflags=$(sed -n -e "s/^all: *//p" -e "s/^$fn: *//p" "$corpus/$name.flags" | tr '\n' ' ')
    fi
    for mode in default reactive proactive; do
      exp=$corpus/expected/$name.$fn.$mode.json
      out=$tmp/out.json
      # shellcheck disable=SC2086
      if ! timeout 60 "$replay" "$cap" --function "$fn" --mode "$mode" ${fflags[$fn]} $cflags \
           "${extra[@]}" --json >"$out" 2>"$tmp/err"; then
        echo "FAIL $name $fn $mode: qasm-replay failed: $(head -3 "$tmp/err")"
        fail=$((fail + 1)); continue
      fi
      if [ $update = 1 ]; then
        if ! cmp -s "$out" "$exp"; then cp "$out" "$exp"; updated=$((updated + 1)); fi
        pass=$((pass + 1)); continue
      fi
      if [ ! -e "$exp" ]; then
        echo "FAIL $name $fn $mode: no expectation $exp (run captures/regen-corpus.sh)"
        fail=$((fail + 1)); continue
      fi
      if cmp -s <(behaviour "$exp") <(behaviour "$out"); then
        pass=$((pass + 1))
      else
        echo "FAIL $name $fn $mode: summary differs from $(basename "$exp"):"
        diff -u <(behaviour "$exp") <(behaviour "$out") | sed -n '3,40p'
        fail=$((fail + 1))
      fi
    done
  done
done
if [ $update = 1 ]; then
  echo "regress: $pass replays, $updated expectations rewritten, $fail failed"
else
  echo "regress: $pass passed, $fail failed (${#caps[@]} captures x 3 functions x 3 modes)"
fi
[ $fail -eq 0 ]
