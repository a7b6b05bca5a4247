/*
 * tracker: the tracker benchmark (qasm-tracker-bench, which also runs
 * Debian's redis-server and redis-benchmark side by side) folded into the table.
 */
#include <string.h>

#include "exp_common.h"
#include "experiments.h"

int exp_tracker(struct bench *b)
{
    char bin[PATH_MAX], out[PATH_MAX];
    struct bench_proc p;
    bench_path(b, out, sizeof(out), "tracker-bench.json");
    const char *argv[] = { bench_bin(b, bin, sizeof(bin), "qasm-tracker-bench"), "--json",
                           b->quick ? "--quick" : NULL, NULL };
    if (bench_proc_start_out(&p, "tracker-bench", b->outdir, (char *const *)argv, NULL, out) < 0)
        return bench_fail("cannot start %s", bin);
    int st = bench_proc_wait(&p, b->quick ? 180 : 900);
    if (st != 0) {
        bench_proc_stop(&p);
        bench_proc_tail(&p, 20);
        bench_row_add(b, "tracker", ">= Redis ops/s, p99 query < 100 us", -1, "benchmark failed (exit %d)", st);
        return -1;
    }
    json_t *j = bench_json_load(out);
    exp_record(b, "tracker_bench", j);
    double q = bench_json_num(j, "qasm.queries_per_s", -1);
    double u = bench_json_num(j, "qasm.updates_per_s", -1);
    double rget = bench_json_num(j, "redis.get_per_s", -1);
    double rset = bench_json_num(j, "redis.set_per_s", -1);
    double p99 = bench_json_num(j, "qasm.query_p99_us", -1);
    int measured = q > 0 && u > 0;
    int agree = measured && p99 >= 0 && p99 < 100 && (rget <= 0 || q >= rget) && (rset <= 0 || u >= rset);
    bench_row_add(b, "tracker", ">= Redis ops/s, p99 query < 100 us (our target)", measured ? agree : -1,
                  "queries %.0f/s (redis GET %.0f), updates %.0f/s (redis SET %.0f), p99 %.0f us", q, rget,
                  u, rset, p99);
    json_decref(j);
    return measured ? 0 : -1;
}
