/*
 * qasm-bench: runs the paper's experiments (and ours) on loopback and
 * prints a table: experiment, the paper's claim, our measured figure,
 * whether they agree. See `qasm-bench --help`.
 */
#include "bench.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "netns.h"
#include "proc.h"

static const char usage[] =
        "usage: qasm-bench list\n"
        "       qasm-bench run EXPERIMENT...|all [--quick] [--out DIR] [--set KEY=VALUE]... "
        "[--capture]\n"
        "             [--topology loopback|netns] [--hop qasm|kernel-nat|'cmd:COMMAND']\n"
        "       qasm-bench report DIR\n"
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
        "  --topology T     loopback (default) or netns: table1 and nat-dos on network\n"
        "                   namespaces with a router hop (root; docs/TESTBED.md)\n"
        "  --hop H          netns hop: qasm (qasm-mbox --io packet, default), kernel-nat\n"
        "                   (nftables masquerade + conntrack) or 'cmd:COMMAND' ({inside},\n"
        "                   {outside} replaced by the hop's interface names)\n";

double bench_param(const struct bench *b, const char *key, double quick, double full)
{
    const char *s = bench_param_str(b, key, NULL);
    if (s != NULL)
        return strtod(s, NULL);
    return b->quick ? quick : full;
}

const char *bench_param_str(const struct bench *b, const char *key, const char *def)
{
    size_t klen = strlen(key);
    for (int i = b->nsets - 1; i >= 0; i--)
        if (strncmp(b->sets[i], key, klen) == 0 && b->sets[i][klen] == '=')
            return b->sets[i] + klen + 1;
    return def;
}

char *bench_path(const struct bench *b, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%.3800s/%.200s", b->outdir, name);
    return buf;
}

char *bench_bin(const struct bench *b, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%.3800s/%.200s", b->bindir, name);
    return buf;
}

void bench_row_add(struct bench *b, const char *exp, const char *claim, int agree,
                   const char *fmt, ...)
{
    va_list ap;
    if (b->nrows >= BENCH_MAX_ROWS)
        return;
    struct bench_row *r = &b->rows[b->nrows++];
    snprintf(r->exp, sizeof(r->exp), "%s", exp);
    snprintf(r->claim, sizeof(r->claim), "%s", claim);
    va_start(ap, fmt);
    vsnprintf(r->figure, sizeof(r->figure), fmt, ap);
    va_end(ap);
    r->agree = agree;
    if (b->summary != NULL) {
        json_t *rows = json_object_get(b->summary, "rows");
        json_array_append_new(rows, json_pack("{s:s,s:s,s:s,s:b}", "experiment", r->exp, "claim",
                                              r->claim, "figure", r->figure, "agrees",
                                              agree == 1));
    }
}

void bench_progress(const char *fmt, ...)
{
    va_list ap;
    time_t now = time(NULL);
    char ts[16];
    strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
    fprintf(stderr, "[%s] ", ts);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int bench_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "qasm-bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

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

static void print_table(const struct bench *b, FILE *f)
{
    fprintf(f, "\n%-10s | %-44s | %-58s | %s\n", "experiment", "paper's claim", "our figure",
            "agrees");
    fprintf(f, "%.10s-+-%.44s-+-%.58s-+-------\n",
            "------------------------------------------------------------",
            "------------------------------------------------------------",
            "------------------------------------------------------------");
    for (int i = 0; i < b->nrows; i++) {
        const struct bench_row *r = &b->rows[i];
        fprintf(f, "%-10s | %-44s | %-58s | %s\n", r->exp, r->claim, r->figure,
                r->agree == 1 ? "yes" : r->agree == 0 ? "NO" : "n/a");
    }
}

static const struct bench_experiment *find_experiment(const char *name)
{
    for (const struct bench_experiment *e = bench_experiments; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

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
    bench_progress("%s: %s -> %s", e->name, e->what, b->outdir);
    int first_row = b->nrows;
    int rv = b->netns ? bench_netns_run(b, e, b->hop) : e->run(b);
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

static int cmd_run(struct bench *b, int argc, char **argv)
{
    const struct bench_experiment *todo[64];
    int ntodo = 0, failed = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--quick") == 0) {
            b->quick = 1;
        } else if (strcmp(a, "--capture") == 0) {
            b->capture = 1;
        } else if (strcmp(a, "--topology") == 0 && i + 1 < argc) {
            b->topology = argv[++i];
        } else if (strcmp(a, "--hop") == 0 && i + 1 < argc) {
            b->hop = argv[++i];
        } else if (strcmp(a, "--out") == 0 && i + 1 < argc) {
            snprintf(b->outroot, sizeof(b->outroot), "%s", argv[++i]);
        } else if (strcmp(a, "--set") == 0 && i + 1 < argc) {
            if (strchr(argv[i + 1], '=') == NULL || b->nsets == BENCH_MAX_SETS)
                return bench_fail("--set: expected KEY=VALUE, got '%s'", argv[i + 1]);
            b->sets[b->nsets++] = argv[++i];
        } else if (a[0] == '-') {
            return bench_fail("unknown or incomplete option '%s' (see --help)", a);
        } else if (strcmp(a, "all") == 0) {
            for (const struct bench_experiment *e = bench_experiments; e->name && ntodo < 64; e++)
                todo[ntodo++] = e;
        } else {
            const struct bench_experiment *e = find_experiment(a);
            if (e == NULL)
                return bench_fail("unknown experiment '%s' (qasm-bench list)", a);
            if (ntodo < 64)
                todo[ntodo++] = e;
        }
    }
    if (ntodo == 0)
        return bench_fail("run: name at least one experiment, or all (qasm-bench list)");
    b->netns = bench_netns_check(b->topology, b->hop);
    if (b->netns < 0)
        return -1;
    for (int i = 0; i < ntodo; i++)
        if (run_one(b, todo[i]) < 0)
            failed++;
    print_table(b, stdout);
    printf("\nresults and plots: %s/<experiment>-<time>/ (summary.json, *.csv, *.png, *.svg)\n",
           b->outroot);
    return failed ? -1 : 0;
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
    print_table(b, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench b;
    char self[PATH_MAX];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return bench_fail("cannot find my own path") ? 1 : 1;
    self[n] = '\0';
    snprintf(b.bindir, sizeof(b.bindir), "%s", dirname(self));
    snprintf(b.outroot, sizeof(b.outroot), "results");
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    bench_proc_install_handlers();

    if (strcmp(argv[1], "list") == 0) {
        for (const struct bench_experiment *e = bench_experiments; e->name; e++)
            printf("%-11s %s\n", e->name, e->what);
        return 0;
    }
    if (strcmp(argv[1], "run") == 0)
        return cmd_run(&b, argc - 2, argv + 2) < 0 ? 1 : 0;
    if (strcmp(argv[1], "report") == 0) {
        if (argc != 3)
            return bench_fail("report: expected one result folder") ? 2 : 2;
        return cmd_report(&b, argv[2]) < 0 ? 1 : 0;
    }
    bench_fail("unknown command '%s' (list, run, report; see --help)", argv[1]);
    return 2;
}
