/*
 * json.c: atomic JSON stats files for qasm-mbox (the histogram is lib/hist).
 */
#include "json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void json_key(struct qasm_json *j, const char *key)
{
    if (!j->first[j->depth])
        fputs(j->compact ? ", " : ",", j->f);
    j->first[j->depth] = 0;
    if (!j->compact)
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

void qasm_json_begin_line(struct qasm_json *j, FILE *f)
{
    qasm_json_begin(j, f);
    j->compact = 1;
}

void qasm_json_end(struct qasm_json *j)
{
    fputs(j->compact ? "}\n" : "\n}\n", j->f);
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
    if (empty || j->compact)
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

void qasm_json_null(struct qasm_json *j, const char *key)
{
    json_key(j, key);
    fputs("null", j->f);
}

void qasm_json_fixed(struct qasm_json *j, const char *key, double v, int decimals)
{
    json_key(j, key);
    if (isfinite(v))
        fprintf(j->f, "%.*f", decimals, v);
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
    static const char *const names[] = { "mean", "min", "p50", "p90", "p99", "p999", "max" };
    qasm_json_u64(j, "count", h->n);
    if (h->n == 0) { /* nothing measured: no value, not a 0 that reads as "instant" */
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            qasm_json_null(j, names[i]);
        qasm_json_close(j);
        return;
    }
    qasm_json_dbl(j, "mean", (double)h->sum / (double)h->n);
    qasm_json_u64(j, "min", h->min);
    qasm_json_u64(j, "p50", qasm_hist_quantile(h, 0.50, QASM_JSON_HIST_BITS));
    qasm_json_u64(j, "p90", qasm_hist_quantile(h, 0.90, QASM_JSON_HIST_BITS));
    qasm_json_u64(j, "p99", qasm_hist_quantile(h, 0.99, QASM_JSON_HIST_BITS));
    qasm_json_u64(j, "p999", qasm_hist_quantile(h, 0.999, QASM_JSON_HIST_BITS));
    qasm_json_u64(j, "max", h->max);
    qasm_json_close(j);
}

/* "-": one document on standard output, flushed (a line each time with --stats-json -). */
static int write_stdout(qasm_json_fill_fn fill, void *ud)
{
    struct qasm_json j;
    qasm_json_begin(&j, stdout);
    fill(&j, ud);
    qasm_json_end(&j);
    return fflush(stdout) != 0 || ferror(stdout) ? -EIO : 0;
}

int qasm_json_write_file(const char *path, qasm_json_fill_fn fill, void *ud)
{
    if (strcmp(path, "-") == 0)
        return write_stdout(fill, ud);
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

int qasm_json_to_string(qasm_json_fill_fn fill, void *ud, char **out, size_t *len)
{
    FILE *f = open_memstream(out, len);
    if (!f)
        return -ENOMEM;
    struct qasm_json j;
    qasm_json_begin(&j, f);
    fill(&j, ud);
    qasm_json_end(&j);
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return -ENOMEM;
    }
    return 0;
}
