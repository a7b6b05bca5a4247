/*
 * bench.h: qasm-bench, the experiment runner. An experiment starts the
 * processes it needs on loopback (tracker, servers, middlebox chains,
 * clients with the agent preloaded), measures, writes its raw data (CSV),
 * a summary.json and gnuplot plots (PNG + SVG) into its result folder, and
 * adds rows to the final table: the paper's claim, our figure, agreement.
 */
#ifndef QASM_BENCH_H
#define QASM_BENCH_H

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#define BENCH_MAX_SETS 64
#define BENCH_MAX_ROWS 128

struct bench_row {
    char exp[32];
    char claim[160];
    char figure[320];
    int agree;          /* 1 agrees, 0 disagrees, -1 not measured */
};

struct bench {
    char bindir[PATH_MAX];      /* where qasm-* binaries are */
    char agent[PATH_MAX + 16];  /* LD_PRELOAD=... for clients (bench_agent_preload) */
    const char *exp;            /* the running experiment's name (parameter defaults) */
    char outroot[PATH_MAX];     /* results/ */
    char outdir[PATH_MAX];      /* results/<exp>-<time>/ of the running experiment */
    int quick;
    int capture;
    const char *hop;            /* --hop SPEC for netns (NULL: qasm); see topo_netns.h */
    int netns;                  /* 1: --topology netns (topo_netns.h) */
    const char *sets[BENCH_MAX_SETS];
    int nsets;
    json_t *summary;            /* the running experiment's summary.json */
    struct bench_row rows[BENCH_MAX_ROWS];
    int nrows;
};

struct bench_experiment {
    const char *name;
    const char *what;
    int (*run)(struct bench *b);
    int netns;                  /* 1: written against the topology interface, runs on netns */
    int named_only;             /* 1: runs when named, not in `all` (make bench's budget) */
};

/* The modes of a QUIC-aware middlebox, in the order of the tables: default, reactive, proactive. */
extern const char *const bench_modes[3];

/* One parameter of an experiment: its key for --set and its defaults. */
struct bench_param_def {
    const char *exp;
    const char *key;
    const char *quick;          /* default with --quick */
    const char *full;           /* default without */
    const char *what;
};

/* The experiment table and their parameters (experiments.c). */
extern const struct bench_experiment bench_experiments[];
extern const struct bench_param_def bench_param_defs[];

/*
 * bench_param_str returns the running experiment's parameter |key|: the
 * last --set KEY=VALUE, else its default (bench_param_defs, by --quick).
 * The key must be in the table. The value used is recorded under
 * "params" in the summary. bench_param is the same as a number.
 */
const char *bench_param_str(struct bench *b, const char *key);
double bench_param(struct bench *b, const char *key);

/* bench_param_known is 1 when some experiment has parameter |key|. */
int bench_param_known(const char *key);

/* bench_param_print prints experiment |exp|'s effective parameters, one per line. */
void bench_param_print(struct bench *b, const char *exp, FILE *f);

/* bench_param_keys prints every valid --set key, comma-separated. */
void bench_param_keys(FILE *f);

/* bench_headline records a headline number under "headline" in the summary
 * (negative or NaN, the bench's "not measured": null). */
void bench_headline(struct bench *b, const char *key, double v);

/* bench_agent_preload fills b->agent: BINDIR/libqasm-agent.so when it exists
 * (the build tree), else the bare name for the loader's search path (an
 * installed bench: the library is in LIBDIR). Returns which one, for logs. */
const char *bench_agent_preload(struct bench *b);

/* bench_meta returns the run's provenance (version, commit, host, kernel,
 * CPU, package versions, start time in ISO 8601 UTC) as a new object. */
json_t *bench_meta(const struct bench *b, time_t start);

/* bench_path writes "OUTDIR/NAME" into |buf|. */
char *bench_path(const struct bench *b, char *buf, size_t len, const char *name);

/* bench_bin writes "BINDIR/NAME". */
char *bench_bin(const struct bench *b, char *buf, size_t len, const char *name);

/* bench_row_add adds a line to the final table (printf-style figure). */
void bench_row_add(struct bench *b, const char *exp, const char *claim, int agree,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* bench_print_table prints the final table (experiment, claim, figure, agrees). */
void bench_print_table(const struct bench *b, FILE *f);

/* bench_progress prints one progress line to stderr. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench_fail prints the error (one line) and returns -1, for experiment bodies. */
int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* bench_plot runs gnuplot on OUTDIR/NAME.gp, which must set its own outputs
 * through the variables 'out' (base path without extension); PNG and SVG are made. */
int bench_plot(const struct bench *b, const char *name, const char *script);

/* bench_plot_dir renders every *.gp of |dir|. */
int bench_plot_dir(const char *dir);

/* JSON helpers: a number at a dotted path ("latency_us.p99"), or |def|. */
double bench_json_num(json_t *root, const char *path, double def);
json_t *bench_json_load(const char *path);

#endif
