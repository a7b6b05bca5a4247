/* Plots with gnuplot (Debian's gnuplot-nox) and the bench's JSON helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int bench_plot(const struct bench *b, const char *name, const char *script)
{
    char gp[PATH_MAX], out[PATH_MAX];
    snprintf(gp, sizeof(gp), "%.3800s/%.200s.gp", b->outdir, name);
    snprintf(out, sizeof(out), "%.3800s/%.200s", b->outdir, name);
    FILE *f = fopen(gp, "w");
    if (f == NULL)
        return -errno;
    /* The script plots once per terminal; data paths are relative to the result folder. */
    fprintf(f, "# %s: rendered by qasm-bench (re-render: cd to this folder, gnuplot %s.gp)\n", name, name);
    fprintf(f, "out = '%s'\n", name);
    fprintf(f, "set datafile separator ','\n");
    fprintf(f, "do for [t in 'png svg'] {\n");
    fprintf(f, "  if (t eq 'png') { set terminal pngcairo size 900,560 font 'Sans,11' } "
               "else { set terminal svg size 900,560 font 'Sans,11' }\n");
    fprintf(f, "  set output out . '.' . t\n");
    fprintf(f, "%s\n", script);
    fprintf(f, "}\n");
    fclose(f);
    (void)out;
    return bench_plot_dir(b->outdir) == 0 ? 0 : -1;
}

int bench_plot_dir(const char *dir)
{
    char cmd[PATH_MAX * 2];
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && for g in *.gp; do [ -e \"$g\" ] || continue; "
             "gnuplot \"$g\" 2>>plots.log || echo \"gnuplot failed on $g (see plots.log)\" >&2; done",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

json_t *bench_json_load(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, 0, &err);
    if (j == NULL) {
        /* A program may print log lines before its JSON: take the last object. */
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return NULL;
        char *buf = NULL;
        size_t cap = 0;
        ssize_t n = getdelim(&buf, &cap, '\0', f);
        fclose(f);
        if (n > 0) {
            char *brace = strstr(buf, "\n{");
            char *last = NULL;
            for (char *p = buf[0] == '{' ? buf : brace; p; p = strstr(p + 1, "\n{"))
                last = p;
            if (last)
                j = json_loads(last[0] == '{' ? last : last + 1, JSON_DISABLE_EOF_CHECK, &err);
        }
        free(buf);
    }
    return j;
}

double bench_json_num(json_t *root, const char *path, double def)
{
    char key[128];
    json_t *cur = root;
    const char *p = path;
    while (cur && *p) {
        size_t n = strcspn(p, ".");
        if (n >= sizeof(key))
            return def;
        memcpy(key, p, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        p += n;
        if (*p == '.')
            p++;
    }
    if (cur == NULL || !json_is_number(cur))
        return def;
    return json_number_value(cur);
}
