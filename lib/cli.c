/*
 * cli.c: the programs' shared front end (see cli.h).
 */
#include "cli.h"

#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "parse.h"
#include "qasm_version.h"  /* generated: build/gen/, rewritten when the commit changes */

const char *qasm_version(void)
{
    return QASM_VERSION_TEXT;
}

const char *qasm_version_commit(void)
{
    return QASM_COMMIT_TEXT;
}

const char *qasm_version_string(void)
{
    return QASM_VERSION_TEXT " (" QASM_COMMIT_TEXT ")";
}

uint64_t qasm_version_number(void)
{
    unsigned a = 0, b = 0, c = 0;
    if (sscanf(QASM_VERSION_TEXT, "%u.%u.%u", &a, &b, &c) < 1)
        return 0;
    return (uint64_t)a * 1000000 + (uint64_t)b * 1000 + c;
}

uint64_t qasm_version_commit_number(void)
{
    const char *s = QASM_COMMIT_TEXT;
    uint64_t v = 0;
    for (size_t i = 0; i < 16 && isxdigit((unsigned char)s[i]); i++)
        v = v << 4 | (uint64_t)(isdigit((unsigned char)s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
    return v;
}

void qasm_version_format(char *buf, size_t len, uint64_t version, uint64_t commit)
{
    snprintf(buf, len, "%llu.%llu.%llu (%07llx)", (unsigned long long)(version / 1000000),
             (unsigned long long)(version / 1000 % 1000), (unsigned long long)(version % 1000),
             (unsigned long long)commit);
}

void qasm_cli_front(const char *prog, int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", prog, qasm_version_string());
            exit(fflush(stdout) == 0 ? 0 : 1);
        }
}

/* |msg| without a leading "WHO: " when WHO is the program (by name or path). */
static const char *strip_prog(const char *prog, const char *msg)
{
    const char *colon = strstr(msg, ": ");
    if (!colon)
        return msg;
    size_t n = (size_t)(colon - msg), pl = strlen(prog);
    if (memchr(msg, ' ', n))
        return msg;
    if (n >= pl && memcmp(msg + n - pl, prog, pl) == 0 && (n == pl || msg[n - pl - 1] == '/'))
        return colon + 2;
    return msg;
}

void qasm_cli_usage_exit(const char *prog, const char *msg)
{
    static const char tail[] = " (see --help)";
    const char *m = strip_prog(prog, msg);
    size_t len = strcspn(m, "\n"), tl = sizeof(tail) - 1;
    if (len >= tl && memcmp(m + len - tl, tail, tl) == 0)
        len -= tl;
    fprintf(stderr, "%s: %.*s; try '%s --help'\n", prog, (int)len, m, prog);
    exit(2);
}

void qasm_cli_usage_exitf(const char *prog, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    qasm_cli_usage_exit(prog, msg);
}

int qasm_cli_is_stdout(const char *path)
{
    return path && strcmp(path, "-") == 0;
}

FILE *qasm_cli_fopen(const char *path, const char *mode)
{
    return qasm_cli_is_stdout(path) ? stdout : fopen(path, mode);
}

int qasm_cli_fclose(FILE *f)
{
    return f == stdout ? fflush(f) : fclose(f);
}

int qasm_cli_resolve(struct qasm_addr *a, const char *s, char *err, size_t errlen)
{
    if (qasm_addr_parse(a, s) == 0)
        return 0;
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1]) {
        snprintf(err, errlen, "'%s': expected HOST:PORT", s);
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "'%s': host name too long", s);
        return -1;
    }
    memcpy(host, s, hl);
    host[hl] = 0;
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                              .ai_flags = AI_NUMERICSERV }, *res = NULL;
    int rv = getaddrinfo(host, colon + 1, &hints, &res);
    if (rv != 0 || !res) {
        snprintf(err, errlen, "cannot resolve '%s': %s", s, rv ? gai_strerror(rv) : "no address");
        return -1;
    }
    rv = qasm_addr_from_sockaddr(a, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rv < 0) {
        snprintf(err, errlen, "'%s': not an IPv4 or IPv6 address", s);
        return -1;
    }
    return 0;
}

void qasm_cli_resolve_names(const char *prog, const struct qasm_parse_names *n)
{
    char err[320];
    for (int i = 0; i < n->n; i++)
        if (qasm_cli_resolve(n->dst[i], n->text[i], err, sizeof(err)) < 0)
            qasm_cli_usage_exitf(prog, "%s %s", n->flag[i], err);
}
