/*
 * fig9: the middlebox's own per-packet processing time, split into
 * lookup / new entry / update entry, default vs reactive vs proactive, as
 * ratios to default measured in the same run. Two sources: the NAT's own
 * timing of its core calls under the paper's latency workload (stats JSON),
 * and qasm-mbox-bench, the core alone (time and, under callgrind,
 * instructions per packet).
 */
#include <string.h>

#include "exp_common.h"
#include "experiments.h"

static const char *const paths[3] = { "lookup", "new", "update" };

int exp_fig9(struct bench *b)
{
    char bin[PATH_MAX], out[PATH_MAX];
    struct bench_proc p;
    FILE *csv = exp_csv_open(b, "fig9.csv", "mode,lookup_ns,new_ns,update_ns,all_ns");
    if (csv == NULL)
        return -1;
    /* The core alone, every mode, in one run (the bench prints JSON). */
    bench_path(b, out, sizeof(out), "mbox-bench.json");
    const char *argv[] = { bench_bin(b, bin, sizeof(bin), "qasm-mbox-bench"), "--json",
                           b->quick ? "--quick" : NULL, NULL };
    if (bench_proc_start_out(&p, "mbox-bench", b->outdir, (char *const *)argv, NULL, out) < 0 ||
        bench_proc_wait(&p, b->quick ? 120 : 600) != 0) {
        bench_proc_stop(&p);
        fclose(csv);
        bench_row_add(b, "fig9", "reactive ~+5 %, proactive <1 % per packet", -1,
                      "qasm-mbox-bench failed (see %s)", b->outdir);
        return -1;
    }
    json_t *j = bench_json_load(out);
    exp_record(b, "mbox_bench", j);
    double ns[3][4];
    for (int m = 0; m < 3; m++) {
        char key[96];
        for (int k = 0; k < 3; k++) {
            snprintf(key, sizeof(key), "nat.%s.%s_ns", bench_modes[m], paths[k]);
            ns[m][k] = bench_json_num(j, key, -1);
        }
        snprintf(key, sizeof(key), "nat.%s.ns_per_packet", bench_modes[m]);
        ns[m][3] = bench_json_num(j, key, -1);
        fprintf(csv, "%s,%.1f,%.1f,%.1f,%.1f\n", bench_modes[m], ns[m][0], ns[m][1], ns[m][2], ns[m][3]);
    }
    fclose(csv);
    json_decref(j);
    bench_plot(b, "fig9",
               "  set title 'NAT per-packet processing time by path (paper Fig. 9)'\n"
               "  set style data histograms\n  set style fill solid 0.8 border -1\n"
               "  set ylabel 'ns per packet'\n  set yrange [0:*]\n"
               "  plot 'fig9.csv' every ::1 using 2:xtic(1) title 'lookup', '' every ::1 using 3 title 'new entry', "
               "'' every ::1 using 4 title 'update entry', '' every ::1 using 5 title 'all packets'");
    int measured = ns[0][3] > 0 && ns[1][3] > 0 && ns[2][3] > 0;
    double r1 = measured ? ns[1][3] / ns[0][3] : 0, r2 = measured ? ns[2][3] / ns[0][3] : 0;
    bench_row_add(b, "fig9", "reactive ~+5 %, proactive <1 % per packet", measured ? (r1 < 1.10 && r2 < 1.05) : -1,
                  "per packet: default %.0f ns, reactive x%.3f, proactive x%.3f; lookup %.0f/%.0f/%.0f ns",
                  ns[0][3], r1, r2, ns[0][0], ns[1][0], ns[2][0]);
    return measured ? 0 : -1;
}
