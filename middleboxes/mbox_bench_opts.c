/* mbox_bench_opts.c: qasm-mbox-bench's command line (see mbox_bench_opts.h). */
#include "mbox_bench_opts.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mbox.h"
#include "parse.h"

int qasm_mbench_usage(char *buf, size_t len)
{
    return snprintf(buf, len, "usage: qasm-mbox-bench [--conns N] [--packets N] [--migrations N]\n"
               "                       [--function nat|ratelimit|lb]... [--mode M]... [--quick]\n"
               "Per-packet cost of the middlebox cores (no I/O): new entry, lookup, update\n"
               "(migration), default vs reactive vs proactive in the same run.\n"
               "  --conns N       tracked connections (default 1000000; the NAT at most %d)\n"
               "  --packets N     steady-state packets per mode (default 5000000)\n"
               "  --migrations N  migrations per mode (default 100000)\n"
               "  --quick         100000 connections, 1000000 packets, 20000 migrations\n"
               "  --mode M        only this mode (default, reactive, proactive; repeatable)\n"
               "  -h, --help      this text\n"
               "  --version       print the version and the commit it was built from\n"
               "Times are CPU time of the bench thread. Instructions per packet (repeatable):\n"
               "  valgrind --tool=callgrind --toggle-collect=bench_lookup qasm-mbox-bench ...\n",
            QASM_MBENCH_NAT_MAX_CONNS);
}
static int parse_count(const char *s, size_t *out)
{
    uint64_t v;
    if (qasm_parse_u64(&v, s, 1, 100000000) < 0)
        return -1;
    *out = (size_t)v;
    return 0;
}

static const struct option mbench_lopts[] = {
    {"conns", required_argument, NULL, 'c'},  {"packets", required_argument, NULL, 'p'},
    {"migrations", required_argument, NULL, 'm'}, {"function", required_argument, NULL, 'f'},
    {"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
    {"mode", required_argument, NULL, 'M'},
    {NULL, 0, NULL, 0}};

static const char mbench_short[] = "c:p:m:f:M:qh";

/* One option; 1 = --help, QASM_MBENCH_BAD_OPTION = not one. */
static int mbench_opt(struct qasm_mbench_opts *o, int c, const char *a, int *anyfn, int *anymode,
                      char *err, size_t errlen)
{
    enum qasm_mbox_function f;
    enum qasm_mbox_mode md;
    switch (c) {
    case 'M':
        if (qasm_mbox_mode_parse(&md, a) < 0)
            return qasm_parse_errf(err, errlen, "unknown mode '%s'", a);
        o->modes[md] = *anymode = 1;
        return 0;
    case 'c':
    case 'p':
    case 'm':
        if (parse_count(a, c == 'c' ? &o->nconns : c == 'p' ? &o->npackets : &o->nmig) < 0)
            return qasm_parse_errf(err, errlen, "bad number '%s'", a);
        return 0;
    case 'f':
        if (qasm_mbox_function_parse(&f, a) < 0)
            return qasm_parse_errf(err, errlen, "unknown function '%s'", a);
        o->fns[f] = *anyfn = 1;
        return 0;
    case 'q':
        o->nconns = 100000;
        o->npackets = 1000000;
        o->nmig = 20000;
        return 0;
    case 'h':
        return QASM_MBENCH_HELP;
    }
    return QASM_MBENCH_BAD_OPTION;
}

int qasm_mbench_opts_parse(int argc, char **argv, struct qasm_mbench_opts *o, char *err,
                           size_t errlen)
{
    int anyfn = 0, anymode = 0, c, rv;
    memset(o, 0, sizeof(*o));
    o->nconns = 1000000;
    o->npackets = 5000000;
    o->nmig = 100000;
    optind = 0; /* 0, not 1: glibc then forgets a previous parse (the tests parse many times) */
    opterr = 0; /* getopt's messages come back in err (qasm_parse_getopt_errf) */
    while ((c = getopt_long(argc, argv, mbench_short, mbench_lopts, NULL)) != -1) {
        rv = mbench_opt(o, c, optarg, &anyfn, &anymode, err, errlen);
        if (rv == QASM_MBENCH_BAD_OPTION)
            qasm_parse_getopt_errf(err, errlen, argc, argv, mbench_short, mbench_lopts);
        if (rv != 0)
            return rv;
    }
    if (optind != argc)
        return qasm_parse_errf(err, errlen, "unexpected argument '%s'", argv[optind]);
    for (int i = 0; i < 3; i++) {
        o->fns[i] |= !anyfn;
        o->modes[i] |= !anymode;
    }
    if (o->nmig > o->nconns)
        o->nmig = o->nconns;
    return 0;
}
