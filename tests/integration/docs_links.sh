#!/usr/bin/env bash
# docs_links.sh: the docs stand alone. Every relative link of every Markdown
# file of the repository points at a file (and #anchor) that exists, every
# repository path named in backquotes exists, and nothing refers to notes,
# paths outside the repository or issue numbers (scripts/docs-links.py).
# Also: the checker itself fails on a file with each kind of problem, and
# `make help` names every target of the Makefile.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/test_lib.sh
fail=0
"$QASM_PYTHON" scripts/docs-links.py || fail=1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=docs-links-selftest-$$.md
trap 'rm -rf "$tmp" "$bad"' EXIT
printf '%s\n' '# T' '[a](docs/NO-SUCH.md) [b](docs/MIDDLEBOXES.md#no-such-heading)' \
    '`lib/no_such_file.c` DESIGN.md ../shared/x issue 9' >"$bad"
"$QASM_PYTHON" scripts/docs-links.py "$bad" >"$tmp/out"
n=$(grep -c '^docs-links: docs-links-selftest' "$tmp/out")
if [ "$n" != 6 ]; then
    echo "FAIL: the checker found $n of the 6 problems of a bad file:"; cat "$tmp/out"; fail=1
else
    echo "ok: the checker finds the 6 problems of a bad file"
fi

# make help: every target a user can name (.PHONY in the Makefile and the
# module.mk files) is listed in the help text.
make --no-print-directory NODEPS=1 help >"$tmp/help" 2>&1 || { echo "FAIL: make help"; fail=1; }
mkfiles=$(git ls-files Makefile '*.mk' 2>/dev/null || ls Makefile */*.mk)
for t in $(sed -n 's/^\.PHONY: *//p' $mkfiles | tr ' ' '\n' | sort -u); do
    grep -Eq "make $t\b|\b$t\b.*\(make" "$tmp/help" || { echo "FAIL: make help does not list '$t'"; fail=1; }
done
[ $fail = 0 ] && echo "ok: make help lists every target"
exit $fail
