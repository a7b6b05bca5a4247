#!/usr/bin/env bash
# regen-corpus.sh [SCENARIO...]: regenerate the regression corpus in one
# command: rebuild the generator and the replay, rewrite the synthetic
# captures (qasm-corpus-gen, deterministic: byte-identical unless the
# generator changed), then rewrite every expected summary with
# `regress.sh --update`. Review the result with `git diff captures/corpus`
# (python3 -m json.tool helps) before committing: a changed expectation is a
# changed middlebox behaviour.
#
# Captures recorded with the real tools (captures/record-real.sh,
# captures/record-trackctl.sh) are kept: only the scenarios of
# qasm-corpus-gen --list are rewritten.
# Env: QASM_BUILD (default build).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${QASM_BUILD:-build}
cd "$root"
make --no-print-directory NODEPS=1 O="$build" "$build/qasm-corpus-gen" "$build/qasm-replay"
"$build/qasm-corpus-gen" "$here/corpus" "$@"
QASM_BUILD=$build "$here/regress.sh" --update
du -ch "$here"/corpus/*.pcap* | tail -1 | sed 's/^/corpus size: /'
git -C "$root" status --short -- captures/corpus | head -40 || true
