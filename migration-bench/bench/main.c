/*
 * qasm-bench: runs the paper's experiments (and ours) and prints a table:
 * experiment, the paper's claim, our measured figure, whether they agree.
 * The top layer: parses the command line (bench_opts.h), picks the
 * topology, runs experiments (experiments.h). See `qasm-bench --help`.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "bench_opts.h"
#include "proc.h"
#include "report.h"
#include "topo_netns.h"

static const char usage[] =
        "usage: qasm-bench list\n"
        "       qasm-bench run EXPERIMENT...|all [--quick] [--out DIR] [--set KEY=VALUE]... "
        "[--capture]\n"
        "             [--repeat N] [--dry-run] [--topology loopback|netns]\n"
        "             [--hop qasm|qasm-xdp|kernel-nat|'cmd:COMMAND']\n"
        "       qasm-bench report DIR...\n"
        "       qasm-bench netns up|down ID\n"
        "\n"
        "Runs the QASM paper's experiments on loopback: starts the tracker, HTTP/3\n"
        "servers, middlebox chains and migrating clients (agent preloaded), measures,\n"
        "and writes results/<experiment>-<time>/ with raw CSV, summary.json and plots\n"
        "(PNG and SVG, gnuplot). Ends with a table: the paper's claim, our figure.\n"
        "\n"
        "  -h, --help       this text\n"
        "  --version        print the version and the commit it was built from\n"
        "  --quick          short runs (the make bench budget: all in under 10 minutes)\n"
        "  --out DIR        result root (default: results)\n"
        "  --set KEY=VALUE  override a parameter (see docs/BENCHMARKS.md), repeatable\n"
        "  --repeat N       runs per point of fig7b, fig8a and fig8b (error bars: min,\n"
        "                   median, max); the same as --set repeat=N\n"
        "  --dry-run        print each experiment's effective parameters, run nothing\n"
        "  --capture        also record a pcap of each run (needs qasm-capture)\n"
        "  --topology T     loopback (default) or netns: table1, nat-dos, lb and fig7a on\n"
        "                   network namespaces with a router hop (root; docs/TESTBED.md);\n"
        "                   kernel-nat always runs there\n"
        "  --hop H          netns hop: qasm (qasm-mbox --io packet, default), qasm-xdp\n"
        "                   (qasm-mbox --io xdp), kernel-nat\n"
        "                   (nftables masquerade + conntrack; with qasm-normalize in front too,\n"
        "                   where it was built) or 'cmd:COMMAND' ({inside},\n"
        "                   {outside} replaced by the hop's interface names)\n"
        "\n"
        "all is every experiment but xdp (the XDP fast path's cost per packet and hop\n"
        "throughput: root and BPF, about a minute with --quick; run it by name).\n"
        "\n"
        "netns up ID builds the --topology netns testbed alone (namespaces qasm-c-ID,\n"
        "qasm-h-ID, qasm-s-ID, IPv4 and IPv6; root) and leaves it up; netns down ID\n"
        "kills what runs inside and deletes it (tests/integration/netns_lib.sh).\n"
        "\n"
        "report DIR prints a result folder's table (DIR: an experiment's folder or a\n"
        "result root); report DIR1 DIR2... prints each headline number side by side\n"
        "with its ratio to DIR1's. report writes nothing (docs/RESULTS.md).\n";

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
        return -errno;
    return 0;
}

static const struct bench_experiment *find_experiment(const char *name)
{
    for (const struct bench_experiment *e = bench_experiments; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* The summary.json of experiment |e| before it runs: provenance, options. */
static json_t *summary_new(struct bench *b, const struct bench_experiment *e, time_t now,
                           const char *stamp, const char *agent_from)
{
    json_t *s = json_pack("{s:s,s:s,s:b,s:o,s:o,s:o,s:o}", "experiment", e->name, "started", stamp,
                          "quick", b->quick, "rows", json_array(), "results", json_object(),
                          "headline", json_object(), "params", json_object());
    json_object_set_new(s, "meta", bench_meta(b, now));
    json_t *sets = json_array();
    for (int i = 0; i < b->nsets; i++)
        json_array_append_new(sets, json_string(b->sets[i]));
    json_object_set_new(s, "set", sets);
    json_object_set_new(s, "agent_preload", json_pack("{s:s,s:s}", "env", b->agent + 11,
                                                       "from", agent_from));
    json_object_set_new(s, "topology", json_string(b->netns ? "netns" : "loopback"));
    if (b->netns)
        json_object_set_new(s, "hop", json_string(b->hop ? b->hop : "qasm"));
    return s;
}

/* Runs one experiment into OUTROOT/<name>-<time>/ and writes its summary.json. */
static int run_one(struct bench *b, const struct bench_experiment *e, const char *agent_from)
{
    char stamp[32], path[PATH_MAX];
    time_t now = time(NULL);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
    if (snprintf(b->outdir, sizeof(b->outdir), "%.3000s/%s-%s", b->outroot, e->name, stamp) >=
        (int)sizeof(b->outdir))
        return bench_fail("result path too long");
    if (mkdir_p(b->outdir) < 0)
        return bench_fail("cannot create %s: %s", b->outdir, strerror(errno));
    b->exp = e->name;
    b->summary = summary_new(b, e, now, stamp, agent_from);
    bench_progress("%s: %s -> %s", e->name, e->what, b->outdir);
    int first_row = b->nrows;
    int rv = b->netns && !e->netns
                     ? bench_fail("%s: not available with --topology netns yet (table1, nat-dos, "
                                  "lb, fig7a are)", e->name)
                     : e->run(b);
    bench_proc_stop_all();
    if (rv < 0 && b->nrows == first_row)
        bench_row_add(b, e->name, e->what, -1, "failed: see %s", b->outdir);
    json_object_set_new(b->summary, "status", json_string(rv < 0 ? "failed" : "ok"));
    json_dump_file(b->summary, bench_path(b, path, sizeof(path), "summary.json"),
                   JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(b->summary);
    b->summary = NULL;
    b->exp = NULL;
    return rv;
}

/* The experiments |o| names, "all" expanded; returns their number or -1 (unknown name). */
static int resolve(const struct bench_opts *o, const struct bench_experiment **todo, int max)
{
    int n = 0;
    for (int i = 0; i < o->nexps; i++) {
        if (strcmp(o->exps[i], "all") == 0) {
            for (const struct bench_experiment *e = bench_experiments; e->name && n < max; e++)
                if (!e->named_only)
                    todo[n++] = e;
            continue;
        }
        const struct bench_experiment *e = find_experiment(o->exps[i]);
        if (e == NULL)
            return bench_fail("unknown experiment '%s' (qasm-bench list)", o->exps[i]);
        if (n < max)
            todo[n++] = e;
    }
    return n;
}

/* Every --set key must be some experiment's parameter: a typo is a usage error. */
static int check_sets(const struct bench_opts *o)
{
    for (int i = 0; i < o->nsets; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)strcspn(o->sets[i], "="), o->sets[i]);
        if (!bench_param_known(key)) {
            fprintf(stderr, "qasm-bench: --set: unknown parameter '%s' (valid: ", key);
            bench_param_keys(stderr);
            fprintf(stderr, "); try 'qasm-bench --help'\n");
            return -1;
        }
    }
    return 0;
}

/* run --dry-run: each experiment's effective parameters, nothing started. */
static int dry_run(struct bench *b, const struct bench_experiment *const *todo, int ntodo)
{
    for (int i = 0; i < ntodo; i++) {
        printf("%s%s:\n", todo[i]->name, b->quick ? " (--quick)" : "");
        bench_param_print(b, todo[i]->name, stdout);
    }
    return 0;
}

/* run: 0 all ran, 1 one failed, 2 a usage error. */
static int cmd_run(struct bench *b, const struct bench_opts *o)
{
    static char repeat[32];
    const struct bench_experiment *todo[BENCH_OPTS_MAX_EXPS];
    int failed = 0, ntodo = resolve(o, todo, BENCH_OPTS_MAX_EXPS);
    if (ntodo < 0 || check_sets(o) < 0)
        return 2;
    b->quick = o->quick;
    b->capture = o->capture;
    b->netns = o->netns;
    b->hop = o->hop;
    snprintf(b->outroot, sizeof(b->outroot), "%s", o->out);
    if (o->repeat > 0) {
        snprintf(repeat, sizeof(repeat), "repeat=%d", o->repeat);
        b->sets[b->nsets++] = repeat;
    }
    for (int i = 0; i < o->nsets; i++)
        b->sets[b->nsets++] = o->sets[i];
    if (o->dry_run)
        return dry_run(b, todo, ntodo);
    if (b->netns && topo_netns_check(b->hop) < 0)
        return 1;
    const char *agent_from = bench_agent_preload(b);
    bench_progress("agent: %s (%s)", b->agent, agent_from);
    for (int i = 0; i < ntodo; i++)
        if (run_one(b, todo[i], agent_from) < 0)
            failed++;
    bench_print_table(b, stdout);
    printf("\nresults and plots: %s/<experiment>-<time>/ (summary.json, *.csv, *.png, *.svg)\n",
           b->outroot);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct bench_opts o;
    char self[PATH_MAX], err[256];

    qasm_cli_front("qasm-bench", argc, argv);
    if (bench_opts_parse(argc, argv, &o, err, sizeof(err)) < 0)
        qasm_cli_usage_exit("qasm-bench", err);
    if (o.cmd == BENCH_OPTS_HELP) {
        fputs(usage, stdout);
        return 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return bench_fail("cannot find my own path") ? 1 : 1;
    self[n] = '\0';
    snprintf(b.bindir, sizeof(b.bindir), "%s", dirname(self));
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    bench_proc_install_handlers();
    if (o.cmd == BENCH_OPTS_LIST) {
        for (const struct bench_experiment *e = bench_experiments; e->name; e++)
            printf("%-11s %s%s\n", e->name, e->what, e->named_only ? " [not in all]" : "");
        return 0;
    }
    if (o.cmd == BENCH_OPTS_RUN)
        return cmd_run(&b, &o);
    if (o.cmd == BENCH_OPTS_NETNS)
        return topo_netns_check(NULL) < 0 || topo_netns_testbed(o.netns_id, o.netns_up) < 0;
    return bench_report(&b, o.report_dirs, o.nreports, stdout) < 0 ? 1 : 0;
}
