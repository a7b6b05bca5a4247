/* `qasm-bench report`: one result folder's table, or several compared (report.h). */
#include "report.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPORT_MAX 64

/* The summaries of one DIR argument: its own, or its subfolders' (sorted by name). */
struct report_set {
    const char *dir;
    json_t *sums[REPORT_MAX];
    int n;
};

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_one(struct report_set *s, const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%.3800s/summary.json", dir);
    json_t *j = s->n < REPORT_MAX ? bench_json_load(path) : NULL;
    if (j != NULL)
        s->sums[s->n++] = j;
}

static int load_set(struct report_set *s, const char *dir)
{
    char path[PATH_MAX], *names[REPORT_MAX];
    struct stat st;
    int n = 0;
    s->dir = dir;
    s->n = 0;
    snprintf(path, sizeof(path), "%.3800s/summary.json", dir);
    if (stat(path, &st) == 0) {
        load_one(s, dir);
        return s->n ? 0 : bench_fail("%s: unreadable summary.json", dir);
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < REPORT_MAX)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), name_cmp);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%.3000s/%.500s", dir, names[i]);
        load_one(s, path);
        free(names[i]);
    }
    return s->n ? 0 : bench_fail("%s: no summary.json here or in its subfolders", dir);
}

static const char *str_of(json_t *j, const char *key)
{
    const char *s = json_string_value(json_object_get(j, key));
    return s ? s : "?";
}

/* The latest summary of experiment |exp| in |s| (folders sort by time), or NULL. */
static json_t *find_exp(const struct report_set *s, const char *exp)
{
    for (int i = s->n - 1; i >= 0; i--)
        if (strcmp(str_of(s->sums[i], "experiment"), exp) == 0)
            return s->sums[i];
    return NULL;
}

static void print_value(FILE *out, json_t *v)
{
    if (json_is_number(v))
        fprintf(out, " %14.6g", json_number_value(v));
    else
        fprintf(out, " %14s", "null");
}

/* One line per headline number of experiment |exp|: values, then ratios to the first. */
static void compare_exp(const struct report_set *sets, int nsets, const char *exp, FILE *out)
{
    json_t *first = find_exp(&sets[0], exp);
    const char *key;
    json_t *v0;
    json_object_foreach(json_object_get(first, "headline"), key, v0)
    {
        fprintf(out, "%-10s %-28s", exp, key);
        for (int k = 0; k < nsets; k++)
            print_value(out, json_object_get(json_object_get(find_exp(&sets[k], exp), "headline"),
                                             key));
        for (int k = 1; k < nsets; k++) {
            json_t *v = json_object_get(json_object_get(find_exp(&sets[k], exp), "headline"), key);
            if (json_is_number(v) && json_is_number(v0) && json_number_value(v0) != 0)
                fprintf(out, "  x%-8.3f", json_number_value(v) / json_number_value(v0));
            else
                fprintf(out, "  %-9s", "-");
        }
        fputc('\n', out);
    }
}

static void compare(const struct report_set *sets, int nsets, FILE *out)
{
    for (int k = 0; k < nsets; k++) {
        json_t *m = json_object_get(sets[k].sums[0], "meta");
        fprintf(out, "[%d] %s: qasm %s (%s), %s, started %s\n", k + 1, sets[k].dir,
                str_of(m, "qasm_version"), str_of(m, "qasm_commit"), str_of(m, "host"),
                str_of(m, "started_utc"));
    }
    fprintf(out, "\n%-10s %-28s", "experiment", "headline");
    for (int k = 0; k < nsets; k++) {
        char label[16];
        snprintf(label, sizeof(label), "[%d]", k + 1);
        fprintf(out, " %14s", label);
    }
    for (int k = 1; k < nsets; k++)
        fprintf(out, "  [%d]/[1]  ", k + 1);
    fputc('\n', out);
    for (int i = 0; i < sets[0].n; i++) {
        const char *exp = str_of(sets[0].sums[i], "experiment");
        if (find_exp(&sets[0], exp) == sets[0].sums[i])
            compare_exp(sets, nsets, exp, out);
    }
}

/* One folder: the table, as at the end of a run, and the headline numbers. */
static void single(struct bench *b, const struct report_set *s, FILE *out)
{
    size_t i;
    json_t *row;
    for (int k = 0; k < s->n; k++)
        json_array_foreach(json_object_get(s->sums[k], "rows"), i, row)
            bench_row_add(b, str_of(row, "experiment"), str_of(row, "claim"),
                          json_is_true(json_object_get(row, "agrees")), "%s",
                          str_of(row, "figure"));
    bench_print_table(b, out);
    fputc('\n', out);
    for (int k = 0; k < s->n; k++) {
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(s->sums[k], "headline"), key, v)
        {
            fprintf(out, "%-10s %-28s", str_of(s->sums[k], "experiment"), key);
            print_value(out, v);
            fputc('\n', out);
        }
    }
}

int bench_report(struct bench *b, const char *const *dirs, int ndirs, FILE *out)
{
    static struct report_set sets[16];
    int rv = 0, loaded = 0;
    if (ndirs > 16)
        return bench_fail("report: at most 16 folders");
    for (; loaded < ndirs; loaded++)
        if ((rv = load_set(&sets[loaded], dirs[loaded])) < 0)
            break;
    if (rv == 0) {
        if (ndirs == 1)
            single(b, &sets[0], out);
        else
            compare(sets, ndirs, out);
    }
    for (int k = 0; k < loaded; k++)
        for (int i = 0; i < sets[k].n; i++)
            json_decref(sets[k].sums[i]);
    return rv;
}
