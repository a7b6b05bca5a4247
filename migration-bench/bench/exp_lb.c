/*
 * lb (§2.2): two backends behind a hash load balancer; the client migrates.
 * Default: a migration rehashes the new 5-tuple, the connection lands on
 * the other backend, which does not know it, and the requests fail. Aware:
 * the O-DCID keeps the backend.
 */
#include <string.h>

#include "exp_common.h"
#include "experiments.h"

int exp_lb(struct bench *b)
{
    char url[128], entry[64], dur[32], every[32], be0[64], be1[64];
    double duration = bench_param(b, "duration", 3, 10);
    snprintf(dur, sizeof(dur), "%gs", duration);
    snprintf(every, sizeof(every), "%gms", bench_param(b, "migrate_every", 0.4, 1) * 1000);
    FILE *csv = exp_csv_open(b, "lb.csv", "mode,migrations,requests_ok,requests_failed,client_exit");
    if (csv == NULL)
        return -1;
    double okr[3] = { 0 }, failed[3] = { 0 };
    int exitc[3] = { 0 }, ok = 1;
    for (int m = 0; m < 3; m++) {
        struct topo t;
        struct bench_proc client;
        char name[32];
        topo_init(&t, b);
        if (topo_start_tracker(&t) < 0 || topo_start_server(&t, "backend0") < 0 ||
            topo_start_server(&t, "backend1") < 0) {
            topo_stop(&t);
            fclose(csv);
            return -1;
        }
        topo_addr(be0, sizeof(be0), t.server_port[0]);
        topo_addr(be1, sizeof(be1), t.server_port[1]);
        const char *lbargs[] = { "--backend", be0, "--backend", be1, NULL };
        snprintf(name, sizeof(name), "lb-%s", bench_modes[m]);
        int i = topo_start_mbox(&t, name, "lb", bench_modes[m], NULL, 0, lbargs);
        if (i < 0) {
            topo_stop(&t);
            fclose(csv);
            return -1;
        }
        topo_addr(entry, sizeof(entry), t.mbox_port[i]);
        const char *extra[] = { "--duration", dur, "--interval", "10ms", "--migrate-every", every,
                                "--migrate-kind", "port", "--idle-timeout", "2s", NULL };
        snprintf(name, sizeof(name), "client-%s", bench_modes[m]);
        if (topo_start_client(&t, &client, name, entry, 1, extra,
                              topo_url(&t, url, sizeof(url), 0, "/")) < 0) {
            topo_stop(&t);
            fclose(csv);
            return -1;
        }
        json_t *cj = topo_client_result(&t, &client, name, duration + 20);
        json_t *st = topo_mbox_stats(&t, i);
        topo_stop(&t);
        okr[m] = exp_client_num(cj, "requests_ok");
        failed[m] = exp_client_num(cj, "requests_failed");
        exitc[m] = client.status;
        fprintf(csv, "%s,%.0f,%.0f,%.0f,%d\n", bench_modes[m], exp_client_num(cj, "migrations"),
                okr[m], failed[m], exitc[m]);
        exp_record(b, bench_modes[m], st);
        bench_progress("  lb %-9s migrations %.0f, requests ok %.0f, failed %.0f, client exit %d",
                       bench_modes[m], exp_client_num(cj, "migrations"), okr[m], failed[m], exitc[m]);
        if (cj == NULL)
            ok = 0;
        json_decref(cj);
        json_decref(st);
    }
    fclose(csv);
    bench_plot(b, "lb",
               "  set title 'Hash load balancer, two backends, client migrating (paper §2.2)'\n"
               "  set style data histograms\n  set style fill solid 0.8 border -1\n"
               "  set ylabel 'requests'\n  set yrange [0:*]\n"
               "  plot 'lb.csv' every ::1 using 3:xtic(1) title 'ok', '' every ::1 using 4 title 'failed'");
    int agree = ok && (failed[0] > 0 || exitc[0] != 0) && failed[1] == 0 && failed[2] == 0 &&
                exitc[1] == 0 && exitc[2] == 0;
    bench_row_add(b, "lb", "default: migrated connection misrouted, fails; aware: kept", ok ? agree : -1,
                  "failed requests: default %.0f (exit %d), reactive %.0f, proactive %.0f", failed[0],
                  exitc[0], failed[1], failed[2]);
    return ok ? 0 : -1;
}
