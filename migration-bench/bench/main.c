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
#include "bench_opts.h"
#include "proc.h"
#include "topo_netns.h"

static const char usage[] =
        "usage: qasm-bench list\n"
        "       qasm-bench run EXPERIMENT...|all [--quick] [--out DIR] [--set KEY=VALUE]... "
        "[--capture]\n"
        "             [--topology loopback|netns] [--hop qasm|kernel-nat|'cmd:COMMAND']\n"
        "       qasm-bench report DIR\n"
        "       qasm-bench netns up|down ID\n"
        "\n"
        "Runs the QASM paper's experiments on loopback: starts the tracker, HTTP/3\n"
        "servers, middlebox chains and migrating clients (agent preloaded), measures,\n"
        "and writes results/<experiment>-<time>/ with raw CSV, summary.json and plots\n"
        "(PNG and SVG, gnuplot). Ends with a table: the paper's claim, our figure.\n"
        "\n"
        "  --quick          short runs (the make bench budget: all in under 10 minutes)\n"
        "  --out DIR        result root (default: results)\n"
        "  --set KEY=VALUE  override a parameter (see docs/BENCHMARKS.md), repeatable\n"
        "  --capture        also record a pcap of each run (needs qasm-capture)\n"
        "  --topology T     loopback (default) or netns: table1, nat-dos and lb on network\n"
        "                   namespaces with a router hop (root; docs/TESTBED.md)\n"
        "  --hop H          netns hop: qasm (qasm-mbox --io packet, default), kernel-nat\n"
        "                   (nftables masquerade + conntrack) or 'cmd:COMMAND' ({inside},\n"
        "                   {outside} replaced by the hop's interface names)\n"
        "\n"
        "netns up ID builds the --topology netns testbed alone (namespaces qasm-c-ID,\n"
        "qasm-h-ID, qasm-s-ID, IPv4 and IPv6; root) and leaves it up; netns down ID\n"
        "kills what runs inside and deletes it (tests/integration/netns_lib.sh).\n";

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

/* Runs one experiment into OUTROOT/<name>-<time>/ and writes its summary.json. */
static int run_one(struct bench *b, const struct bench_experiment *e)
{
    char stamp[32], path[PATH_MAX];
    time_t now = time(NULL);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", localtime(&now));
    if (snprintf(b->outdir, sizeof(b->outdir), "%.3000s/%s-%s", b->outroot, e->name, stamp) >=
        (int)sizeof(b->outdir))
        return bench_fail("result path too long");
    if (mkdir_p(b->outdir) < 0)
        return bench_fail("cannot create %s: %s", b->outdir, strerror(errno));
    b->summary = json_pack("{s:s,s:s,s:b,s:o,s:o}", "experiment", e->name, "started", stamp,
                           "quick", b->quick, "rows", json_array(), "results", json_object());
    json_t *sets = json_array();
    for (int i = 0; i < b->nsets; i++)
        json_array_append_new(sets, json_string(b->sets[i]));
    json_object_set_new(b->summary, "set", sets);
    if (b->netns) {
        json_object_set_new(b->summary, "topology", json_string("netns"));
        json_object_set_new(b->summary, "hop", json_string(b->hop ? b->hop : "qasm"));
    }
    bench_progress("%s: %s -> %s", e->name, e->what, b->outdir);
    int first_row = b->nrows;
    int rv = b->netns && !e->netns
                     ? bench_fail("%s: not available with --topology netns yet (table1, nat-dos, "
                                  "lb are)", e->name)
                     : e->run(b);
    bench_proc_stop_all();
    if (rv < 0 && b->nrows == first_row)
        bench_row_add(b, e->name, e->what, -1, "failed: see %s", b->outdir);
    json_object_set_new(b->summary, "status", json_string(rv < 0 ? "failed" : "ok"));
    json_dump_file(b->summary, bench_path(b, path, sizeof(path), "summary.json"),
                   JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(b->summary);
    b->summary = NULL;
    return rv;
}

/* The experiments |o| names, "all" expanded; returns their number or -1 (unknown name). */
static int resolve(const struct bench_opts *o, const struct bench_experiment **todo, int max)
{
    int n = 0;
    for (int i = 0; i < o->nexps; i++) {
        if (strcmp(o->exps[i], "all") == 0) {
            for (const struct bench_experiment *e = bench_experiments; e->name && n < max; e++)
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

/* run: 0 all ran, 1 one failed, 2 a usage error. */
static int cmd_run(struct bench *b, const struct bench_opts *o)
{
    const struct bench_experiment *todo[BENCH_OPTS_MAX_EXPS];
    int failed = 0, ntodo = resolve(o, todo, BENCH_OPTS_MAX_EXPS);
    if (ntodo < 0)
        return 2;
    b->quick = o->quick;
    b->capture = o->capture;
    b->netns = o->netns;
    b->hop = o->hop;
    snprintf(b->outroot, sizeof(b->outroot), "%s", o->out);
    for (int i = 0; i < o->nsets; i++)
        b->sets[b->nsets++] = o->sets[i];
    if (b->netns && topo_netns_check(b->hop) < 0)
        return 1;
    for (int i = 0; i < ntodo; i++)
        if (run_one(b, todo[i]) < 0)
            failed++;
    bench_print_table(b, stdout);
    printf("\nresults and plots: %s/<experiment>-<time>/ (summary.json, *.csv, *.png, *.svg)\n",
           b->outroot);
    return failed ? 1 : 0;
}

static int report_dir(const char *dir, struct bench *b)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%.3800s/summary.json", dir);
    json_t *s = bench_json_load(path);
    if (s == NULL)
        return -1;
    bench_plot_dir(dir);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(s, "rows"), i, row)
    {
        json_t *ag = json_object_get(row, "agrees");
        bench_row_add(b, json_string_value(json_object_get(row, "experiment")),
                      json_string_value(json_object_get(row, "claim")), json_is_true(ag), "%s",
                      json_string_value(json_object_get(row, "figure")));
    }
    json_decref(s);
    return 0;
}

static int cmd_report(struct bench *b, const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%.3800s/summary.json", dir);
    if (stat(path, &st) == 0) {
        if (report_dir(dir, b) < 0)
            return bench_fail("%s: unreadable summary.json", dir);
    } else {
        /* A result root: every subfolder with a summary. */
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof(cmd), "ls -1d '%s'/*/ 2>/dev/null", dir);
        FILE *ls = popen(cmd, "r");
        char line[PATH_MAX];
        int n = 0;
        while (ls && fgets(line, sizeof(line), ls)) {
            line[strcspn(line, "\n")] = '\0';
            if (report_dir(line, b) == 0)
                n++;
        }
        if (ls)
            pclose(ls);
        if (n == 0)
            return bench_fail("%s: no summary.json here or in its subfolders", dir);
    }
    bench_print_table(b, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    struct bench_opts o;
    char self[PATH_MAX], err[256];

    if (bench_opts_parse(argc, argv, &o, err, sizeof(err)) < 0) {
        if (argc < 2)
            fputs(usage, stderr);
        else
            bench_fail("%s", err);
        return 2;
    }
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
            printf("%-11s %s\n", e->name, e->what);
        return 0;
    }
    if (o.cmd == BENCH_OPTS_RUN)
        return cmd_run(&b, &o);
    if (o.cmd == BENCH_OPTS_NETNS)
        return topo_netns_check(NULL) < 0 || topo_netns_testbed(o.netns_id, o.netns_up) < 0;
    return cmd_report(&b, o.report_dir) < 0 ? 1 : 0;
}
