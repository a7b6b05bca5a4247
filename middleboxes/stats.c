/*
 * stats.c: latency histogram and atomic JSON stats files for qasm-mbox.
 */
#include "stats.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void qasm_hist_init(struct qasm_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

/* Values below 16 get their own bucket; above, 16 buckets per power of two. */
static size_t hist_index(uint64_t v)
{
    if (v < QASM_HIST_SUB)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v);
    uint64_t sub = (v >> (e - QASM_HIST_SUB_BITS)) & (QASM_HIST_SUB - 1);
    return (size_t)(e - QASM_HIST_SUB_BITS + 1) * QASM_HIST_SUB + (size_t)sub;
}

static uint64_t hist_upper(size_t idx)
{
    if (idx < QASM_HIST_SUB)
        return idx;
    int e = (int)(idx / QASM_HIST_SUB) + QASM_HIST_SUB_BITS - 1;
    uint64_t sub = idx % QASM_HIST_SUB;
    int shift = e - QASM_HIST_SUB_BITS;
    uint64_t lower = (QASM_HIST_SUB + sub) << shift;
    return lower + ((uint64_t)1 << shift) - 1;
}

void qasm_hist_add(struct qasm_hist *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->count++;
    h->sum += v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

uint64_t qasm_hist_quantile(const struct qasm_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < QASM_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t u = hist_upper(i);
            if (u > h->max)
                u = h->max;
            if (u < h->min)
                u = h->min;
            return u;
        }
    }
    return h->max;
}

static void json_key(struct qasm_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    fprintf(j->f, "\n%*s", 2 * (j->depth + 1), "");
    if (key && !j->array[j->depth])
        fprintf(j->f, "\"%s\": ", key);
}

void qasm_json_begin(struct qasm_json *j, FILE *f)
{
    memset(j, 0, sizeof(*j));
    j->f = f;
    j->first[0] = 1;
    fputc('{', f);
}

void qasm_json_end(struct qasm_json *j)
{
    fputs("\n}\n", j->f);
}

static void json_open(struct qasm_json *j, const char *key, int array)
{
    json_key(j, key);
    fputc(array ? '[' : '{', j->f);
    if (j->depth < 7)
        j->depth++;
    j->first[j->depth] = 1;
    j->array[j->depth] = array;
}

void qasm_json_obj(struct qasm_json *j, const char *key)
{
    json_open(j, key, 0);
}

void qasm_json_arr(struct qasm_json *j, const char *key)
{
    json_open(j, key, 1);
}

void qasm_json_close(struct qasm_json *j)
{
    int empty = j->first[j->depth];
    char end = j->array[j->depth] ? ']' : '}';
    if (j->depth > 0)
        j->depth--;
    if (empty)
        fputc(end, j->f);
    else
        fprintf(j->f, "\n%*s%c", 2 * (j->depth + 1), "", end);
}

void qasm_json_u64(struct qasm_json *j, const char *key, uint64_t v)
{
    json_key(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

void qasm_json_i64(struct qasm_json *j, const char *key, int64_t v)
{
    json_key(j, key);
    fprintf(j->f, "%" PRId64, v);
}

void qasm_json_dbl(struct qasm_json *j, const char *key, double v)
{
    json_key(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.6g", v);
    else
        fputs("null", j->f);
}

void qasm_json_str(struct qasm_json *j, const char *key, const char *v)
{
    json_key(j, key);
    fputc('"', j->f);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(j->f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(j->f, "\\u%04x", *p);
        else
            fputc(*p, j->f);
    }
    fputc('"', j->f);
}

void qasm_json_bool(struct qasm_json *j, const char *key, int v)
{
    json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

void qasm_json_hist(struct qasm_json *j, const char *key, const struct qasm_hist *h)
{
    qasm_json_obj(j, key);
    qasm_json_u64(j, "count", h->count);
    qasm_json_dbl(j, "mean", h->count ? (double)h->sum / (double)h->count : 0.0);
    qasm_json_u64(j, "min", h->count ? h->min : 0);
    qasm_json_u64(j, "p50", qasm_hist_quantile(h, 0.50));
    qasm_json_u64(j, "p90", qasm_hist_quantile(h, 0.90));
    qasm_json_u64(j, "p99", qasm_hist_quantile(h, 0.99));
    qasm_json_u64(j, "p999", qasm_hist_quantile(h, 0.999));
    qasm_json_u64(j, "max", h->max);
    qasm_json_close(j);
}

int qasm_stats_write_file(const char *path, qasm_stats_fill_fn fill, void *ud)
{
    size_t n = strlen(path) + 5;
    char *tmp = malloc(n);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        int err = errno;
        free(tmp);
        return -err;
    }
    struct qasm_json j;
    qasm_json_begin(&j, f);
    fill(&j, ud);
    qasm_json_end(&j);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(tmp);
        free(tmp);
        return -EIO;
    }
    if (rename(tmp, path) == -1) {
        int err = errno;
        unlink(tmp);
        free(tmp);
        return -err;
    }
    free(tmp);
    return 0;
}
