# tests/: programs the integration tests drive (the suites themselves are
# registered by the module they test).

# qasm-udpdrive: deterministic QUIC-shaped UDP client/server for the middlebox integration tests.
PROGS += qasm-udpdrive
qasm-udpdrive_SRCS := tests/integration/udpdrive.c

# The function-size check itself (make check-size runs it on the tree).
INTEG_TESTS += tests/integration/check_size.sh

# make install / make uninstall into a staged tree (packaging/install.mk).
INTEG_TESTS += tests/integration/install.sh

# Every program's front end: --version, -h, one-line usage errors, host names, "-".
INTEG_TESTS += tests/integration/frontend.sh

# The docs: every example of README.md and docs/*.md runs and prints what the
# prose says; links and named paths exist, nothing outside the repository is cited.
INTEG_TESTS += tests/integration/docs_examples.sh tests/integration/docs_links.sh

# docs/JSON.md lists every field the programs write, with its type (scripts/json-schema.py).
INTEG_TESTS += tests/integration/json_schema.sh
