#include "bench_opts.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

/* --topology and --hop: their values, and that --hop goes with netns. */
static int check_topology(const char *topology, struct bench_opts *o, char *err, size_t errlen)
{
    if (topology == NULL || strcmp(topology, "loopback") == 0)
        o->netns = 0;
    else if (strcmp(topology, "netns") == 0)
        o->netns = 1;
    else
        return qasm_parse_errf(err, errlen,
                               "--topology: expected loopback or netns, got '%s'", topology);
    if (o->hop == NULL)
        return 0;
    if (!o->netns)
        return qasm_parse_errf(err, errlen, "--hop needs --topology netns");
    if (strcmp(o->hop, "qasm") != 0 && strcmp(o->hop, "qasm-xdp") != 0 &&
        strcmp(o->hop, "kernel-nat") != 0 && (strncmp(o->hop, "cmd:", 4) != 0 || o->hop[4] == '\0'))
        return qasm_parse_errf(err, errlen,
                               "--hop: expected qasm, qasm-xdp, kernel-nat or 'cmd:COMMAND', "
                               "got '%s'",
                    o->hop);
    return 0;
}

/* run's arguments: options and experiment names, in any order. */
static int parse_run(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen)
{
    const char *topology = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            o->quick = 1;
        } else if (strcmp(a, "--capture") == 0) {
            o->capture = 1;
        } else if (strcmp(a, "--dry-run") == 0) {
            o->dry_run = 1;
        } else if (strcmp(a, "--repeat") == 0 && v) {
            uint64_t n;
            if (qasm_parse_u64(&n, v, 1, 1000) < 0)
                return qasm_parse_errf(err, errlen, "--repeat: expected 1 to 1000, got '%s'", v);
            o->repeat = (int)n;
            i++;
        } else if (strcmp(a, "--topology") == 0 && v) {
            topology = argv[++i];
        } else if (strcmp(a, "--hop") == 0 && v) {
            o->hop = argv[++i];
        } else if (strcmp(a, "--out") == 0 && v) {
            o->out = argv[++i];
        } else if (strcmp(a, "--set") == 0 && v) {
            if (strchr(v, '=') == NULL || v[0] == '=' || o->nsets == BENCH_OPTS_MAX_SETS)
                return qasm_parse_errf(err, errlen, "--set: expected KEY=VALUE, got '%s'", v);
            o->sets[o->nsets++] = argv[++i];
        } else if (a[0] == '-') {
            return qasm_parse_errf(err, errlen,
                                   "unknown or incomplete option '%s' (see --help)", a);
        } else if (o->nexps < BENCH_OPTS_MAX_EXPS) {
            o->exps[o->nexps++] = a;
        }
    }
    if (o->nexps == 0)
        return qasm_parse_errf(err, errlen,
                               "run: name at least one experiment, or all (qasm-bench list)");
    return check_topology(topology, o, err, errlen);
}

/* netns up|down ID: ID names the namespaces (qasm-c-ID ...), so only safe characters. */
static int parse_netns(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen)
{
    if (argc != 4 || (strcmp(argv[2], "up") != 0 && strcmp(argv[2], "down") != 0))
        return qasm_parse_errf(err, errlen, "netns: expected 'netns up ID' or 'netns down ID'");
    size_t n = strlen(argv[3]);
    if (n == 0 || n > 20 || strspn(argv[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                             "0123456789_.-") != n)
        return qasm_parse_errf(err, errlen,
                               "netns: ID must be 1 to 20 of A-Z a-z 0-9 _ . -, got '%s'",
                    argv[3]);
    o->cmd = BENCH_OPTS_NETNS;
    o->netns_up = strcmp(argv[2], "up") == 0;
    o->netns_id = argv[3];
    return 0;
}

int bench_opts_parse(int argc, char **argv, struct bench_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->out = "results";
    err[0] = '\0';
    if (argc < 2)
        return qasm_parse_errf(err, errlen, "expected a command: list, run or report (see --help)");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        o->cmd = BENCH_OPTS_HELP;
        return 0;
    }
    if (strcmp(cmd, "list") == 0) {
        o->cmd = BENCH_OPTS_LIST;
        return 0;
    }
    if (strcmp(cmd, "run") == 0) {
        o->cmd = BENCH_OPTS_RUN;
        return parse_run(argc - 2, argv + 2, o, err, errlen);
    }
    if (strcmp(cmd, "report") == 0) {
        o->cmd = BENCH_OPTS_REPORT;
        if (argc < 3)
            return qasm_parse_errf(err, errlen, "report: expected one result folder or more");
        if (argc - 2 > BENCH_OPTS_MAX_REPORTS)
            return qasm_parse_errf(err, errlen, "report: at most %d result folders",
                                   BENCH_OPTS_MAX_REPORTS);
        for (int i = 2; i < argc; i++)
            o->report_dirs[o->nreports++] = argv[i];
        o->report_dir = argv[2];
        return 0;
    }
    if (strcmp(cmd, "netns") == 0)
        return parse_netns(argc, argv, o, err, errlen);
    return qasm_parse_errf(err, errlen,
                           "unknown command '%s' (list, run, report or netns)", cmd);
}
