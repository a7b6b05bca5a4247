#!/usr/bin/env bash
# docs_examples.sh: every example of README.md and docs/*.md runs and shows
# what the prose says (scripts/docs-examples.py: the marked fenced blocks,
# each in a scratch directory, its own network and mount namespace when
# unshare can, bounded, its process group killed; the expectations after
# each block checked). A shell block that is neither an example nor marked
# not-run fails the check. An example whose needs (root, netns, redis, a
# tool, slow) are not met here is listed as SKIP with the reason (in the
# totals of make test too: run-tests.sh exports QASM_TEST_RESULTS).
# Env: QASM_BUILD (default build), QASM_DOCS_SLOW=1 (also the slow ones).
# test-timeout: 900
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
"$QASM_PYTHON" scripts/docs-examples.py check || exit 1
exec "$QASM_PYTHON" scripts/docs-examples.py run
