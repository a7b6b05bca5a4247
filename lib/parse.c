/*
 * parse.c: numbers from text (see parse.h).
 */
#include "parse.h"

#include "addr.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Reads the leading digits of s[0..len) into *v; *used = how many it read.
 * 0, or -ERANGE at the first digit that takes the value past |max| (*used
 * then counts the digits before it).
 */
static int digits(uint64_t *v, const char *s, size_t len, uint64_t max, size_t *used)
{
    uint64_t n = 0;
    size_t i = 0;
    int rc = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > max || n > (max - d) / 10) {
            rc = -ERANGE;
            break;
        }
        n = n * 10 + d;
    }
    *used = i;
    *v = n;
    return rc;
}

int qasm_parse_u64_prefix(uint64_t *v, const char *s, size_t len, uint64_t max)
{
    uint64_t n;
    size_t used;
    if (len == 0 || s[0] < '0' || s[0] > '9')
        return -EINVAL;
    if (digits(&n, s, len, max, &used) < 0)
        return -ERANGE;
    if (used > INT32_MAX)
        return -ERANGE;
    *v = n;
    return (int)used;
}

/*
 * Reads the number that starts the NUL-terminated |s|; *rest = what follows
 * its digits. 0, -EINVAL (no digit first) or -ERANGE (past 2^64-1: its
 * digits are still skipped, so that what follows can still be judged).
 */
static int leading(uint64_t *v, const char *s, const char **rest)
{
    size_t used;
    if (s[0] < '0' || s[0] > '9')
        return -EINVAL;
    int rc = digits(v, s, SIZE_MAX, UINT64_MAX, &used);
    while (s[used] >= '0' && s[used] <= '9')
        used++;
    *rest = s + used;
    return rc;
}

int qasm_parse_u64(uint64_t *v, const char *s, uint64_t min, uint64_t max)
{
    uint64_t n;
    const char *rest;
    int rc = leading(&n, s, &rest);
    if (rc == -EINVAL || *rest != '\0')
        return -EINVAL;
    if (rc < 0 || n < min || n > max)
        return -ERANGE;
    *v = n;
    return 0;
}

int qasm_parse_size(uint64_t *v, const char *s, uint64_t min, uint64_t max)
{
    uint64_t n;
    const char *rest;
    int rc = leading(&n, s, &rest);
    if (rc == -EINVAL)
        return -EINVAL;
    unsigned shift = 0;
    switch (*rest) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
    }
    if (rest[shift != 0] != '\0')
        return -EINVAL;
    if (rc < 0 || n > (UINT64_MAX >> shift))
        return -ERANGE;
    n <<= shift;
    if (n < min || n > max)
        return -ERANGE;
    *v = n;
    return 0;
}

int qasm_parse_positive(double *v, const char *s, double max)
{
    char *end;
    int saved = errno;
    errno = 0;
    double x = strtod(s, &end);
    int bad = errno != 0 || end == s || *end != '\0';
    errno = saved;
    if (bad)
        return -EINVAL;
    if (!(x > 0) || !isfinite(x) || x > max)
        return -ERANGE;
    *v = x;
    return 0;
}

int qasm_parse_flag_u64(uint64_t *v, const char *name, const char *s, uint64_t min,
                        uint64_t max, char *err, size_t errlen)
{
    int rc = qasm_parse_u64(v, s, min, max);
    if (rc < 0)
        qasm_parse_errf(err, errlen, "--%s: expected an integer in %" PRIu64 "..%" PRIu64
                        ", got '%s'", name, min, max, s);
    return rc;
}

int qasm_parse_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int qasm_parse_usagef(char *err, size_t errlen, const char *fmt, ...)
{
    char msg[448];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return qasm_parse_errf(err, errlen, "%s (see --help)", msg);
}

/* The long option |el| ("--name[=value]") names: its index, -1 if none, -2 if ambiguous
 * (|amb| gets glibc's list of possibilities: the first match, then each later one
 * that differs from it). */
static int getopt_find(const char *el, const struct option *lo, char *amb, size_t amblen)
{
    const char *name = el + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name), used = 0;
    int found = -1, ambiguous = 0;
    for (int i = 0; lo[i].name; i++)
        if (strlen(lo[i].name) == nl && strncmp(lo[i].name, name, nl) == 0)
            return i;
    amb[0] = 0;
    for (int i = 0; lo[i].name; i++) {
        if (strncmp(lo[i].name, name, nl) != 0)
            continue;
        if (found < 0) {
            found = i;
        } else if (lo[found].has_arg != lo[i].has_arg || lo[found].flag != lo[i].flag ||
                   lo[found].val != lo[i].val) {
            if (!ambiguous)
                used += (size_t)snprintf(amb + used, amblen - used, " '--%s'", lo[found].name);
            ambiguous = 1;
            if (used < amblen)
                used += (size_t)snprintf(amb + used, amblen - used, " '--%s'", lo[i].name);
        }
        if (used >= amblen)
            used = amblen - 1;
    }
    return ambiguous ? -2 : found;
}

int qasm_parse_getopt_errf(char *err, size_t errlen, int argc, char *const argv[],
                           const char *shortopts, const struct option *longopts)
{
    const char *prog = argv[0];
    const char *el = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    char amb[512];
    if (strncmp(el, "--", 2) == 0 && el[2]) {
        int i = getopt_find(el, longopts, amb, sizeof(amb));
        if (i == -2)
            return qasm_parse_errf(err, errlen, "%s: option '%s' is ambiguous; possibilities:%s",
                                   prog, el, amb);
        if (i == -1 && optopt == 0)
            return qasm_parse_errf(err, errlen, "%s: unrecognized option '%s'", prog, el);
        /* consumed whole: a value where none is taken, or none left where one is needed */
        if (i >= 0 && optopt == longopts[i].val && strchr(el, '=') &&
            longopts[i].has_arg == no_argument)
            return qasm_parse_errf(err, errlen, "%s: option '--%s' doesn't allow an argument",
                                   prog, longopts[i].name);
        if (i >= 0 && optopt == longopts[i].val && !strchr(el, '=') && optind == argc &&
            longopts[i].has_arg == required_argument)
            return qasm_parse_errf(err, errlen, "%s: option '--%s' requires an argument", prog,
                                   longopts[i].name);
    }
    /* a short option: a letter it knows is one that lacked its argument */
    if (optopt && optopt != ':' && strchr(shortopts, optopt))
        return qasm_parse_errf(err, errlen, "%s: option requires an argument -- '%c'", prog,
                               optopt);
    return qasm_parse_errf(err, errlen, "%s: invalid option -- '%c'", prog, optopt);
}

/* A host name: letters, digits, '.', '-' and '_', with at least one letter. */
static int host_name(const char *s, size_t n)
{
    int letter = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            letter = 1;
        else if (!(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '_')
            return 0;
    }
    return letter;
}

int qasm_parse_addr(struct qasm_addr *a, const char *s, const char *flag,
                    struct qasm_parse_names *names)
{
    if (qasm_addr_parse(a, s) == 0)
        return 0;
    const char *colon = strrchr(s, ':');
    uint64_t port;
    if (!names || !colon || qasm_parse_u64(&port, colon + 1, 0, 65535) < 0)
        return -EINVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (!host_name(h, hl))
        return -EINVAL;
    if (names->n == QASM_PARSE_MAX_NAMES)
        return -ENOSPC;
    memset(a, 0, sizeof(*a));
    a->port = (uint16_t)port;
    names->flag[names->n] = flag;
    names->text[names->n] = s;
    names->dst[names->n] = a;
    names->n++;
    return 1;
}

void qasm_parse_files_add(struct qasm_parse_files *f, int kind, const char *path)
{
    int i = f->n < QASM_PARSE_MAX_FILES ? f->n++ : QASM_PARSE_MAX_FILES - 1;
    f->path[i] = path;
    f->kind[i] = kind;
}
