/*
 * bench.c: the bench core: parameters, result rows and the final table,
 * paths, progress and error lines. Calls nothing above it (topologies,
 * experiments, main).
 */
#include "bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *const bench_modes[3] = { "default", "reactive", "proactive" };

/* A parameter's value as JSON: a number when the whole string is one. */
static json_t *param_json(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (end != v && *end == '\0')
        return json_real(d);
    return json_string(v);
}

static const struct bench_param_def *param_def(const char *exp, const char *key)
{
    for (const struct bench_param_def *d = bench_param_defs; d->exp; d++)
        if (strcmp(d->exp, exp) == 0 && strcmp(d->key, key) == 0)
            return d;
    return NULL;
}

/* The last --set KEY=VALUE's value, or NULL. */
static const char *param_set(const struct bench *b, const char *key)
{
    size_t klen = strlen(key);
    for (int i = b->nsets - 1; i >= 0; i--)
        if (strncmp(b->sets[i], key, klen) == 0 && b->sets[i][klen] == '=')
            return b->sets[i] + klen + 1;
    return NULL;
}

static const char *param_value(const struct bench *b, const struct bench_param_def *d)
{
    const char *s = param_set(b, d->key);
    return s != NULL ? s : b->quick ? d->quick : d->full;
}

const char *bench_param_str(struct bench *b, const char *key)
{
    const struct bench_param_def *d = param_def(b->exp ? b->exp : "", key);
    if (d == NULL) {
        /* A programming error: every parameter is in the table (--set, --dry-run). */
        fprintf(stderr, "qasm-bench: %s has no parameter '%s' in bench_param_defs\n", b->exp, key);
        abort();
    }
    const char *v = param_value(b, d);
    if (b->summary != NULL) {
        json_t *params = json_object_get(b->summary, "params");
        if (params == NULL)
            json_object_set_new(b->summary, "params", params = json_object());
        json_object_set_new(params, key, param_json(v));
    }
    return v;
}

double bench_param(struct bench *b, const char *key)
{
    return strtod(bench_param_str(b, key), NULL);
}

int bench_param_known(const char *key)
{
    for (const struct bench_param_def *d = bench_param_defs; d->exp; d++)
        if (strcmp(d->key, key) == 0)
            return 1;
    return 0;
}

void bench_param_print(struct bench *b, const char *exp, FILE *f)
{
    int n = 0;
    for (const struct bench_param_def *d = bench_param_defs; d->exp; d++) {
        if (strcmp(d->exp, exp) != 0)
            continue;
        fprintf(f, "  %-14s %-14s %s%s\n", d->key, param_value(b, d), d->what,
                param_set(b, d->key) ? " (--set)" : "");
        n++;
    }
    if (n == 0)
        fprintf(f, "  (no parameters)\n");
}

void bench_param_keys(FILE *f)
{
    const char *sep = "";
    for (const struct bench_param_def *d = bench_param_defs; d->exp; d++) {
        const struct bench_param_def *e = bench_param_defs;
        while (e != d && strcmp(e->key, d->key) != 0)
            e++;
        if (e == d) {
            fprintf(f, "%s%s", sep, d->key);
            sep = ", ";
        }
    }
}

void bench_headline(struct bench *b, const char *key, double v)
{
    if (b->summary == NULL)
        return;
    json_t *h = json_object_get(b->summary, "headline");
    if (h == NULL)
        json_object_set_new(b->summary, "headline", h = json_object());
    json_object_set_new(h, key, isnan(v) || v < 0 ? json_null() : json_real(v));
}

const char *bench_agent_preload(struct bench *b)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%.3800s/libqasm-agent.so", b->bindir);
    if (access(path, R_OK) == 0) {
        snprintf(b->agent, sizeof(b->agent), "LD_PRELOAD=%s", path);
        return "build tree";
    }
    snprintf(b->agent, sizeof(b->agent), "LD_PRELOAD=libqasm-agent.so");
    return "library path";
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

void bench_print_table(const struct bench *b, FILE *f)
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
