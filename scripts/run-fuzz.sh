#!/usr/bin/env bash
# run-fuzz.sh BINARY CORPUS SECONDS RESULTS: run one libFuzzer target on a
# copy of its seed corpus for a bounded time; record PASS/FAIL in RESULTS.
set -u
bin=$1 corpus=$2 secs=$3 results=$4
name=$(basename "$bin")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
log="$work.log"
timeout --kill-after=10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout=30 \
  -rss_limit_mb=2048 -print_final_stats=1 "$work" >"$log" 2>&1
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
if [ $rc -eq 0 ]; then
  printf '  PASS  fuzz   %-32s %6ss  (%s runs)\n' "$name" "$secs" "${runs:-?}"
  echo "PASS fuzz $name 0 0" >>"$results"
else
  tail -n 40 "$log"
  printf '  FAIL  fuzz   %-32s (exit %d)\n' "$name" "$rc"
  echo "FAIL fuzz $name 0 0" >>"$results"
fi
rm -f "$log"
exit 0
