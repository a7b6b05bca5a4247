/*
 * bench.c: the bench core: parameters, result rows and the final table,
 * paths, progress and error lines. Calls nothing above it (topologies,
 * experiments, main).
 */
#include "bench.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const bench_modes[3] = { "default", "reactive", "proactive" };

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
