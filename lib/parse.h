/*
 * parse.h: numbers as a user types them on a command line or in a file:
 * unsigned decimal integers within a range, byte sizes with a K/M/G suffix,
 * positive reals. Pure: no I/O, no locale, no global state but errno (which
 * strtod sets and these leave as they found it). Durations are
 * qasm_duration_parse (clock.h), HOST:PORT is qasm_hostport_parse (addr.h).
 *
 * Integers are strict: decimal digits only, so a sign, a leading space, a
 * base prefix or a trailing character is refused (strtoull alone would take
 * " -1" as 2^64-1).
 */
#ifndef QASM_PARSE_H
#define QASM_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * qasm_parse_u64 reads the whole of |s| as a decimal integer in
 * [|min|, |max|]. Returns 0, -EINVAL (not a number) or -ERANGE (overflow or
 * out of range); |*v| is written only on success.
 */
int qasm_parse_u64(uint64_t *v, const char *s, uint64_t min, uint64_t max);

/*
 * qasm_parse_u64_prefix reads the decimal digits that start s[0..len) (not
 * NUL-terminated; what follows them is the caller's) as a value of at most
 * |max|. Returns how many characters it used (> 0), or -EINVAL (no digit) or
 * -ERANGE (more than |max|).
 */
int qasm_parse_u64_prefix(uint64_t *v, const char *s, size_t len, uint64_t max);

/*
 * qasm_parse_size reads a byte count: an integer with an optional K, M or G
 * suffix, either case, powers of 1024 ("1500", "64k", "10M", "1G"; "10MB" is
 * refused), in [|min|, |max|]. Returns 0, -EINVAL or -ERANGE.
 */
int qasm_parse_size(uint64_t *v, const char *s, uint64_t min, uint64_t max);

/*
 * qasm_parse_positive reads the whole of |s| as a finite real number in
 * (0, |max|] (strtod syntax: "2", "0.5", "1e3"). Returns 0, -EINVAL or
 * -ERANGE.
 */
int qasm_parse_positive(double *v, const char *s, double max);

/*
 * qasm_parse_flag_u64 is qasm_parse_u64 for a command-line flag: on failure
 * it writes "--NAME: expected an integer in MIN..MAX, got 'S'" into |err|
 * (the programs' common wording) and returns the error.
 */
int qasm_parse_flag_u64(uint64_t *v, const char *name, const char *s, uint64_t min,
                        uint64_t max, char *err, size_t errlen);

/*
 * qasm_parse_errf writes a one-line message into |err| (|errlen| bytes,
 * truncated to fit) and returns -1: the error path of the option parsers
 * that report to their caller instead of exiting.
 */
int qasm_parse_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * qasm_parse_usagef is qasm_parse_errf with the programs' usage wording
 * appended: "MESSAGE (see --help)". Returns -1.
 */
int qasm_parse_usagef(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * The files an option parser's flags name (key files, passwords): read by
 * the program after the parse, in the order the flags came, so the first
 * unreadable one is the error, as when each was read at its flag. Up to
 * QASM_PARSE_MAX_FILES are kept; more replace the last.
 */
#define QASM_PARSE_MAX_FILES 8
struct qasm_parse_files {
    const char *path[QASM_PARSE_MAX_FILES];
    int kind[QASM_PARSE_MAX_FILES];  /* the caller's: which flag named it */
    int n;
};

/* qasm_parse_files_add records |path| for flag |kind|. */
void qasm_parse_files_add(struct qasm_parse_files *f, int kind, const char *path);

/*
 * Addresses typed as host names ("localhost:4790"): a pure parser cannot
 * resolve them, so qasm_parse_addr keeps the text and the port, and the
 * program resolves them after the parse (qasm_cli_resolve_names, cli.h).
 */
#define QASM_PARSE_MAX_NAMES 16
struct qasm_addr;
struct qasm_parse_names {
    const char *flag[QASM_PARSE_MAX_NAMES];  /* "--listen" */
    const char *text[QASM_PARSE_MAX_NAMES];  /* "localhost:4790" */
    struct qasm_addr *dst[QASM_PARSE_MAX_NAMES];
    int n;
};

/*
 * qasm_parse_addr reads "HOST:PORT" for |flag| into |a|: 0 when HOST is
 * numeric (qasm_addr_parse); 1 when it is a name ("localhost", "[host]"),
 * with only a->port set (the family stays 0) and the name recorded in
 * |names| (NULL: names refused); -EINVAL when it is neither, -ENOSPC past
 * QASM_PARSE_MAX_NAMES names.
 */
int qasm_parse_addr(struct qasm_addr *a, const char *s, const char *flag,
                    struct qasm_parse_names *names);

struct option;

/*
 * Rows of a getopt_long table (the caller includes <getopt.h>): an option
 * that takes a value, one that takes none, and the closing row.
 */
#define QASM_PARSE_OPT_ARG(name, val) { (name), required_argument, NULL, (val) }
#define QASM_PARSE_OPT_FLAG(name, val) { (name), no_argument, NULL, (val) }
#define QASM_PARSE_OPT_END { NULL, 0, NULL, 0 }

/*
 * qasm_parse_getopt_errf writes into |err| the message glibc's getopt_long
 * prints itself when opterr is set ("PROG: unrecognized option '--x'",
 * "... is ambiguous; possibilities: ...", "... doesn't allow an argument",
 * "... requires an argument", "PROG: invalid option -- 'x'", "PROG: option
 * requires an argument -- 'x'"), without the newline, for the '?' that
 * getopt_long(argc, argv, |shortopts|, |longopts|) with opterr = 0 just
 * returned; reads optind and optopt. Returns -1.
 * It lets a parser that must not print keep a program's old messages.
 */
int qasm_parse_getopt_errf(char *err, size_t errlen, int argc, char *const argv[],
                           const char *shortopts, const struct option *longopts);

#endif
