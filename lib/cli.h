/*
 * cli.h: the front end every program shares: --version, the one-line usage
 * error, "-" for standard output, and host names where an address is taken.
 * Not pure (it prints, exits and resolves names): the option parsers stay
 * pure and the programs call these around them.
 */
#ifndef QASM_CLI_H
#define QASM_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct qasm_addr;

/* The release (packaging/install.mk's QASM_VERSION) and the git commit of the
 * build ("git describe --always --dirty"; "unknown" outside git). */
const char *qasm_version(void);
const char *qasm_version_commit(void);

/* qasm_version_string returns "VERSION (COMMIT)". */
const char *qasm_version_string(void);

/*
 * The version and commit as numbers, for a counters-only reply (the
 * tracker's STATS): MAJOR * 1000000 + MINOR * 1000 + PATCH, and the
 * commit's hexadecimal digits (0 when the build had no commit).
 * qasm_version_format writes "VERSION (COMMIT)" back from them.
 */
uint64_t qasm_version_number(void);
uint64_t qasm_version_commit_number(void);
void qasm_version_format(char *buf, size_t len, uint64_t version, uint64_t commit);

/*
 * qasm_cli_front handles what every program answers before its own parse:
 * "--version" anywhere before a "--" prints "PROG VERSION (COMMIT)" on
 * standard output and exits 0.
 */
void qasm_cli_front(const char *prog, int argc, char **argv);

/*
 * qasm_cli_usage_exit prints the usage error |msg| as one line,
 * "PROG: MSG; try 'PROG --help'", and exits 2. A leading "PROG: " (or
 * argv[0]'s) and a trailing " (see --help)" in |msg| are dropped so the
 * parsers' messages read once.
 */
__attribute__((noreturn)) void qasm_cli_usage_exit(const char *prog, const char *msg);

/* qasm_cli_usage_exitf is qasm_cli_usage_exit with a printf format. */
__attribute__((noreturn, format(printf, 2, 3))) void qasm_cli_usage_exitf(const char *prog,
                                                                           const char *fmt, ...);

/*
 * qasm_cli_fopen opens |path| for writing with fopen |mode|, except "-",
 * which is standard output. qasm_cli_fclose closes what it returned (it
 * flushes standard output instead of closing it); 0 or EOF like fclose.
 */
FILE *qasm_cli_fopen(const char *path, const char *mode);
int qasm_cli_fclose(FILE *f);

/* qasm_cli_is_stdout says whether |path| names standard output ("-"). */
int qasm_cli_is_stdout(const char *path);

/*
 * qasm_cli_resolve reads "HOST:PORT" into |a|: numeric first (as
 * qasm_addr_parse), else HOST ("name" or "[name]") through getaddrinfo, the
 * first UDP address it returns. Returns 0, or -1 with a one-line reason in
 * |err|.
 */
int qasm_cli_resolve(struct qasm_addr *a, const char *s, char *err, size_t errlen);

struct qasm_parse_names;

/*
 * qasm_cli_resolve_names resolves the host names a parse recorded
 * (qasm_parse_addr), in order, into their addresses; the first that fails is
 * a usage error: "PROG: --FLAG cannot resolve ..." and exit 2.
 */
void qasm_cli_resolve_names(const char *prog, const struct qasm_parse_names *n);

#endif
