/*
 * parse.c: numbers from text (see parse.h).
 */
#include "parse.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
