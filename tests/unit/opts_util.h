/*
 * opts_util.h: for the tests of the programs' option parsers: split a
 * command line at spaces into argv (argv[0] = "prog"), so a case is one
 * string. At most 159 words of 63 characters.
 */
#ifndef QASM_TEST_OPTS_UTIL_H
#define QASM_TEST_OPTS_UTIL_H

#include <string.h>

struct test_argv {
    char words[160][64];
    char *argv[161];
    int argc;
};

static inline char **test_argv_split(struct test_argv *a, const char *line)
{
    memset(a, 0, sizeof(*a));
    strcpy(a->words[0], "prog");
    a->argv[0] = a->words[0];
    a->argc = 1;
    const char *p = line;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, " ");
        memcpy(a->words[a->argc], p, n);
        a->argv[a->argc] = a->words[a->argc];
        a->argc++;
        p += n;
    }
    return a->argv;
}

/*
 * TEST_OPTS_PARSER(TYPE, FN, ERRLEN): the test file's `o` (struct TYPE),
 * `err` and `parse(line)`, which splits |line| and runs FN on it (o may
 * point into the split words: they stay until the next parse).
 */
#define TEST_OPTS_PARSER(TYPE, FN, ERRLEN)                               \
    static struct TYPE o;                                                \
    static char err[ERRLEN];                                             \
    static int parse(const char *line)                                   \
    {                                                                    \
        static struct test_argv a;                                       \
        char **argv = test_argv_split(&a, line);                         \
        err[0] = 0;                                                      \
        return FN(a.argc, argv, &o, err, sizeof(err));                   \
    }

/* TEST_OPTS_BAD(line, rv, msg): parse(line) returns |rv| with message |msg|. */
#define TEST_OPTS_BAD(line, rv, msg)         \
    do {                                     \
        assert_int_equal(parse(line), rv);   \
        assert_string_equal(err, msg);       \
    } while (0)

#endif
