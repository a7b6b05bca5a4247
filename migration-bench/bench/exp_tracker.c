/*
 * tracker: the tracker benchmark (tracker_load.h: qasm-tracker beside
 * Debian's redis-server and redis-benchmark) folded into the table. It runs
 * in a forked child (bounded; a broken session ends the child, not the bench).
 */
#include <string.h>

#include "exp_common.h"
#include "experiments.h"
#include "tracker_load.h"

static int run_load(void *arg)
{
    return tracker_load_run(arg);
}

int exp_tracker(struct bench *b)
{
    char bin[PATH_MAX], out[PATH_MAX];
    struct bench_proc p;
    struct tracker_load_cfg c;
    tracker_load_defaults(&c);
    if (b->quick)
        c.conns = 20000, c.queries = 30000, c.push_samples = 1000, c.reps = 1;
    c.tracker_bin = bench_bin(b, bin, sizeof(bin), "qasm-tracker");
    c.json_path = bench_path(b, out, sizeof(out), "tracker-bench.json");
    c.logdir = b->outdir;
    if (bench_proc_fork(&p, "tracker-bench", b->outdir, run_load, &c) < 0)
        return bench_fail("cannot start the tracker benchmark");
    int st = bench_proc_wait(&p, b->quick ? 180 : 900);
    if (st != 0) {
        bench_proc_stop(&p);
        bench_proc_tail(&p, 20);
        bench_row_add(b, "tracker", ">= Redis ops/s, p99 query < 100 us", -1, "benchmark failed (exit %d)", st);
        return -1;
    }
    json_t *j = bench_json_load(out);
    exp_record(b, "tracker_bench", j);
    /* depths[] holds 1, 16 and 64 queries in flight; compare at 16 (pipelined). */
    json_t *d1 = json_array_get(json_object_get(j, "depths"), 0);
    json_t *d16 = json_array_get(json_object_get(j, "depths"), 1);
    double q = bench_json_num(d16, "qps", -1), rget = bench_json_num(d16, "redis_get_rps", -1);
    double u = bench_json_num(d16, "tcp_updates_per_s", -1), rset = bench_json_num(d16, "redis_set_rps", -1);
    double p99 = bench_json_num(d1, "p99_us", -1), bpc = bench_json_num(j, "store_bytes_per_conn", -1);
    int measured = q > 0 && u > 0;
    /* Redis missing (--no-redis, no redis-server): its figures are null, not 0. */
    bench_headline(b, "queries_per_s_16", q);
    bench_headline(b, "redis_get_per_s_16", rget > 0 ? rget : -1);
    bench_headline(b, "updates_per_s_16", u);
    bench_headline(b, "redis_set_per_s_16", rset > 0 ? rset : -1);
    bench_headline(b, "query_p99_us_1", p99);
    bench_headline(b, "store_bytes_per_conn", bpc);
    int agree = measured && p99 >= 0 && p99 < 100 && (rget <= 0 || q >= rget) && (rset <= 0 || u >= rset);
    bench_row_add(b, "tracker", ">= Redis ops/s, p99 query < 100 us (our target)", measured ? agree : -1,
                  "16 in flight: %.0f q/s (Redis GET %.0f), %.0f upd/s (SET %.0f); p99 %.0f us; %.0f B/conn",
                  q, rget, u, rset, p99, bpc);
    json_decref(j);
    return measured ? 0 : -1;
}
