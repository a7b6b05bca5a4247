#!/usr/bin/env bash
# docs_examples.sh: every example of README.md and docs/*.md runs and shows
# what the prose says (scripts/docs-examples.py: the marked fenced blocks,
# each in a scratch directory, its own network and mount namespace when
# unshare can, bounded, its process group killed; the expectations after
# each block checked). A shell block that is neither an example nor marked
# not-run fails the check. An example whose needs (root, netns, redis, a
# tool, slow) are not met here is listed as SKIP with the reason (in the
# totals of make test too: run-tests.sh exports QASM_TEST_RESULTS).
# First the harness itself, on a small file of its own: it must refuse an
# unmarked block, fail a false expectation and a timeout, skip an unmet
# need, and kill what an example leaves running.
# Env: QASM_BUILD (default build), QASM_DOCS_SLOW=1 (also the slow ones).
# test-timeout: 900
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tag=qasm-docs-selftest-$$

printf '%s\n' '# t' '```sh' 'echo unmarked' '```' >"$tmp/unmarked.md"
if "$QASM_PYTHON" scripts/docs-examples.py check "$tmp/unmarked.md" >"$tmp/out" 2>&1 ||
   ! grep -q 'unmarked sh block' "$tmp/out"; then
    echo "FAIL: an unmarked sh block passes the check"; cat "$tmp/out"; fail=1
else
    echo "ok: an unmarked sh block fails the check"
fi

cat >"$tmp/self.md" <<MD
# self-test

<!-- example: holds -->
\`\`\`sh
echo '"answer": 42'
bash -c 'exec -a $tag sleep 300' &
\`\`\`
<!-- expect:
answer == 42
re: answer
-->

<!-- example: false -->
\`\`\`sh
echo '"answer": 41'
\`\`\`
<!-- expect:
answer == 42
-->

<!-- example: slow timeout: 2 -->
\`\`\`sh
sleep 30
\`\`\`

<!-- example: unmet needs: no-such-tool-$$ -->
\`\`\`sh
echo never
\`\`\`
MD
QASM_TEST_RESULTS= QASM_TEST_SLOWDOWN=1 "$QASM_PYTHON" scripts/docs-examples.py run "$tmp/self.md" >"$tmp/out" 2>&1
rc=$?
want() { grep -Eq "$1" "$tmp/out" || { echo "FAIL: self-test: $2"; fail=1; }; }
want 'PASS  docs +[^ ]*self.md:holds' "a true expectation passes"
want 'FAIL  docs +[^ ]*self.md:false' "a false expectation fails"
want 'answer == 42 does not hold \(answer=41' "the failure says what was seen"
want 'FAIL  docs +[^ ]*self.md:slow' "an example past its timeout fails"
want 'SKIP  docs +[^ ]*self.md:unmet .*needs no-such-tool' "an unmet need is a SKIP with the reason"
[ $rc = 1 ] || { echo "FAIL: self-test exit status $rc, expected 1"; fail=1; }

# one shell: a variable set by the first example is seen by the second; a
# failing example stops the shell and the next one is reported not reached.
cat >"$tmp/shell.md" <<'MD'
<!-- examples: one-shell -->
<!-- example: first -->
```sh
X=41
```
<!-- example: second -->
```sh
echo "x $((X + 1))"; false
```
<!-- expect:
x == 42
-->
<!-- example: third -->
```sh
echo never
```
MD
QASM_TEST_RESULTS= "$QASM_PYTHON" scripts/docs-examples.py run "$tmp/shell.md" >>"$tmp/out" 2>&1
want 'PASS  docs +[^ ]*shell.md:first' "one shell: the first example passes"
want 'FAIL  docs +[^ ]*shell.md:second' "one shell: a failing command fails its example"
want 'exit status 1, expected 0' "one shell: the failure names the exit status"
grep -Eq 'x == 42 does not hold' "$tmp/out" && { echo "FAIL: one shell: X not kept"; fail=1; }
want 'not reached: an example before it failed' "one shell: the rest is not reached"
if pgrep -f "^$tag" >/dev/null; then
    echo "FAIL: a process the example left running survived"; fail=1
fi
[ $fail = 0 ] && echo "ok: the harness passes, fails, times out, skips and cleans up as it should"
[ $fail = 0 ] || { cat "$tmp/out"; exit 1; }

"$QASM_PYTHON" scripts/docs-examples.py check || exit 1
exec "$QASM_PYTHON" scripts/docs-examples.py run
