#include "exp_common.h"

#include <stdlib.h>
#include <string.h>

double exp_client_num(json_t *j, const char *key)
{
    return bench_json_num(j, key, -1);
}

double exp_client_latency(json_t *j, const char *pct)
{
    char path[64];
    snprintf(path, sizeof(path), "latency_us.%s", pct);
    double v = bench_json_num(j, path, -1);
    if (v < 0) {
        snprintf(path, sizeof(path), "latency_%s_us", pct);
        v = bench_json_num(j, path, -1);
    }
    return v;
}

const char *exp_rate_str(char *buf, size_t len, double bps)
{
    if (bps >= 1e9)
        snprintf(buf, len, "%.2f Gb/s", bps / 1e9);
    else if (bps >= 1e6)
        snprintf(buf, len, "%.1f Mb/s", bps / 1e6);
    else
        snprintf(buf, len, "%.0f kb/s", bps / 1e3);
    return buf;
}

FILE *exp_csv_open(struct bench *b, const char *name, const char *header)
{
    char path[PATH_MAX];
    FILE *f = fopen(bench_path(b, path, sizeof(path), name), "w");
    if (f == NULL) {
        bench_fail("cannot write %s", path);
        return NULL;
    }
    fprintf(f, "%s\n", header);
    return f;
}

void exp_record(struct bench *b, const char *key, json_t *j)
{
    json_object_set(json_object_get(b->summary, "results"), key, j ? j : json_null());
}

int exp_nat_chain(struct topo *t, int n, const char *mode, int pool, const char *const extra[],
                  char *entry, size_t entry_len)
{
    char upstream[64], name[32];
    topo_addr(upstream, sizeof(upstream), t->server_port[0]);
    /* Build from the server side back to the client: NAT n-1 faces the server. */
    int idx[TOPO_MAX_MBOX];
    for (int k = n - 1; k >= 0; k--) {
        snprintf(name, sizeof(name), "nat%d-%s", k + 1, mode);
        idx[k] = topo_start_mbox(t, name, "nat", mode, upstream, pool, extra);
        if (idx[k] < 0)
            return -1;
        topo_addr(upstream, sizeof(upstream), t->mbox_port[idx[k]]);
    }
    snprintf(entry, entry_len, "%s", upstream);
    return 0;
}

int exp_each_mode(struct bench *b, FILE *csv, const char *const **modes, int ok[3],
                  exp_mode_fn run, void *ctx)
{
    int nm = topo_modes(b, modes), all = 1;
    for (int m = 0; m < nm; m++) {
        int rv = run(b, csv, (*modes)[m], m, ctx);
        if (rv < 0) {
            fclose(csv);
            return -1;
        }
        all &= rv == 0;
        ok[m] = all;
    }
    fclose(csv);
    return nm;
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void exp_min_med_max(const double *v, int n, double out[3])
{
    double s[EXP_MAX_REPEAT];
    int k = 0;
    for (int i = 0; i < n && k < EXP_MAX_REPEAT; i++)
        if (v[i] >= 0)
            s[k++] = v[i];
    if (k == 0) {
        out[0] = out[1] = out[2] = -1;
        return;
    }
    qsort(s, (size_t)k, sizeof(s[0]), dbl_cmp);
    out[0] = s[0];
    out[1] = k % 2 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2;
    out[2] = s[k - 1];
}

int exp_repeat(struct bench *b)
{
    int r = (int)bench_param(b, "repeat");
    return r < 1 ? 1 : r > EXP_MAX_REPEAT ? EXP_MAX_REPEAT : r;
}
