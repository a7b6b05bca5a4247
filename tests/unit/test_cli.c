/*
 * test_cli.c: the programs' front end (lib/cli.c): the version text, "-" as
 * standard output, host names resolved after numeric addresses, and the
 * one-line usage error (in a child, since it exits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"

static void test_version(void **state)
{
    (void)state;
    char want[256];
    snprintf(want, sizeof(want), "%s (%s)", qasm_version(), qasm_version_commit());
    assert_string_equal(qasm_version_string(), want);
    assert_true(strlen(qasm_version()) > 0);
    assert_true(strlen(qasm_version_commit()) > 0);
}

/* The numbers a counters-only reply carries give the same text back (the commit's hex digits). */
static void test_version_numbers(void **state)
{
    (void)state;
    char got[64], want[64], hex[17] = "";
    unsigned a, b, c;
    assert_int_equal(sscanf(qasm_version(), "%u.%u.%u", &a, &b, &c), 3);
    assert_int_equal(qasm_version_number(), (uint64_t)a * 1000000 + b * 1000 + c);
    qasm_version_format(got, sizeof(got), qasm_version_number(), qasm_version_commit_number());
    size_t n = strspn(qasm_version_commit(), "0123456789abcdefABCDEF");
    memcpy(hex, qasm_version_commit(), n < 16 ? n : 16);
    snprintf(want, sizeof(want), "%s (%07llx)", qasm_version(), strtoull(n ? hex : "0", NULL, 16));
    assert_string_equal(got, want);
    qasm_version_format(got, sizeof(got), 12003004, 0x1253bf4);
    assert_string_equal(got, "12.3.4 (1253bf4)");
    qasm_version_format(got, sizeof(got), 1000, 0xbf4);
    assert_string_equal(got, "0.1.0 (0000bf4)");
}

static void test_stdout(void **state)
{
    (void)state;
    assert_true(qasm_cli_is_stdout("-"));
    assert_false(qasm_cli_is_stdout("-x"));
    assert_false(qasm_cli_is_stdout(NULL));
    FILE *f = qasm_cli_fopen("-", "w");
    assert_ptr_equal(f, stdout);
    assert_int_equal(qasm_cli_fclose(f), 0);
    /* stdout is still open: a second write works */
    assert_true(fputs("", stdout) >= 0);
}

static void test_resolve(void **state)
{
    (void)state;
    struct qasm_addr a;
    char err[320];
    assert_int_equal(qasm_cli_resolve(&a, "127.0.0.1:5000", err, sizeof(err)), 0);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, 5000);
    assert_int_equal(qasm_cli_resolve(&a, "[::1]:7", err, sizeof(err)), 0);
    assert_int_equal(a.family, AF_INET6);
    assert_int_equal(a.port, 7);
    assert_int_equal(qasm_cli_resolve(&a, "localhost:0", err, sizeof(err)), 0);
    assert_true(a.family == AF_INET || a.family == AF_INET6);
    assert_int_equal(a.port, 0);
    assert_int_equal(qasm_cli_resolve(&a, "[localhost]:9", err, sizeof(err)), 0);
    assert_int_equal(a.port, 9);
    assert_int_equal(qasm_cli_resolve(&a, "localhost", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(qasm_cli_resolve(&a, "localhost:http", err, sizeof(err)), -1);
    assert_int_equal(qasm_cli_resolve(&a, "no-such-host.invalid:1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot resolve 'no-such-host.invalid:1'"));
}

/* What qasm_cli_usage_exit(|prog|, |msg|) prints on stderr, and its exit status. */
static int usage_of(const char *prog, const char *msg, char *out, size_t outlen)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        qasm_cli_usage_exit(prog, msg);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, outlen - 1);
    close(p[0]);
    out[n > 0 ? n : 0] = 0;
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_usage(void **state)
{
    (void)state;
    char out[512];
    assert_int_equal(usage_of("qasm-x", "--n: bad (see --help)", out, sizeof(out)), 2);
    assert_string_equal(out, "qasm-x: --n: bad; try 'qasm-x --help'\n");
    assert_int_equal(usage_of("qasm-x", "./build/qasm-x: unrecognized option '--y'", out,
                              sizeof(out)), 2);
    assert_string_equal(out, "qasm-x: unrecognized option '--y'; try 'qasm-x --help'\n");
    assert_int_equal(usage_of("qasm-x", "one\ntwo", out, sizeof(out)), 2);
    assert_string_equal(out, "qasm-x: one; try 'qasm-x --help'\n");
    assert_int_equal(usage_of("qasm-x", "other: x", out, sizeof(out)), 2);
    assert_string_equal(out, "qasm-x: other: x; try 'qasm-x --help'\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_version_numbers),
        cmocka_unit_test(test_stdout),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_usage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
