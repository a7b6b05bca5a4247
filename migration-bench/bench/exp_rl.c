/*
 * fig7a: a rate limiter at 5 packets/s per connection while the client
 * migrates. The default (5-tuple) limiter gives every migrated path a fresh
 * bucket, so the connection gets more than its rate; the aware ones hold it.
 */
#include <math.h>
#include <string.h>

#include "exp_common.h"
#include "experiments.h"

int exp_fig7a(struct bench *b)
{
    char url[128], upstream[64], entry[64], dur[32], every[32], rate[32], burst[32];
    double duration = bench_param(b, "duration");
    double rl_rate = bench_param(b, "rate");
    snprintf(dur, sizeof(dur), "%gs", duration);
    snprintf(every, sizeof(every), "%gms", bench_param(b, "migrate_every") * 1000);
    snprintf(rate, sizeof(rate), "%g", rl_rate);
    snprintf(burst, sizeof(burst), "%g", bench_param(b, "burst"));
    FILE *csv = exp_csv_open(b, "fig7a.csv", "second,default,reactive,proactive");
    if (csv == NULL)
        return -1;
    int secs = (int)duration;
    double series[3][128] = { { 0 } };
    double avg[3] = { -1, -1, -1 };
    for (int m = 0; m < 3; m++) {
        struct topo t;
        struct bench_proc client;
        char name[32];
        topo_init(&t, b);
        if (topo_start_tracker(&t) < 0 || topo_start_server(&t, "server") < 0) {
            fclose(csv);
            return -1;
        }
        topo_addr(upstream, sizeof(upstream), t.server_port[0]);
        const char *rl[] = { "--rate", rate, "--burst", burst, NULL };
        snprintf(name, sizeof(name), "ratelimit-%s", bench_modes[m]);
        int i = topo_start_mbox(&t, name, "ratelimit", bench_modes[m], upstream, 0, rl);
        if (i < 0) {
            topo_stop(&t);
            fclose(csv);
            return -1;
        }
        topo_addr(entry, sizeof(entry), t.mbox_port[i]);
        const char *extra[] = { "--duration", dur, "--interval", "50ms", "--concurrency", "4",
                                "--migrate-every", every, "--migrate-kind", "port",
                                "--idle-timeout", "60s", NULL };
        snprintf(name, sizeof(name), "client-%s", bench_modes[m]);
        if (topo_start_client(&t, &client, name, entry, 1, extra,
                              topo_url(&t, url, sizeof(url), 0, "/")) < 0) {
            topo_stop(&t);
            fclose(csv);
            return -1;
        }
        /* Sample the limiter's forwarded-packet counter once a second. */
        double last = 0, total = 0;
        int n = 0;
        for (int s = 0; s < secs && s < 128; s++) {
            bench_sleep(1.0);
            json_t *st = topo_mbox_stats(&t, i);
            double fwd = bench_json_num(st, "packets_forwarded", 0);
            json_decref(st);
            series[m][s] = fwd - last;
            last = fwd;
            if (s >= 2) { /* after the handshake's first burst */
                total += series[m][s];
                n++;
            }
        }
        bench_proc_stop(&client);
        json_t *cj = topo_client_result(&t, &client, name, 5);
        exp_record(b, bench_modes[m], cj);
        json_decref(cj);
        topo_stop(&t);
        avg[m] = n ? total / n : -1;
        bench_progress("  fig7a %-9s forwarded %.1f pkt/s on average (limit %g/s)", bench_modes[m],
                       avg[m], rl_rate);
    }
    for (int s = 0; s < secs && s < 128; s++)
        fprintf(csv, "%d,%.0f,%.0f,%.0f\n", s + 1, series[0][s], series[1][s], series[2][s]);
    fclose(csv);
    char script[1400];
    snprintf(script, sizeof(script),
             "  set title 'Rate limiter at %g packets/s per connection, client migrating (paper Fig. 7a)'\n"
             "  set xlabel 'time (s)'\n  set ylabel 'packets forwarded per second'\n  set yrange [0:*]\n"
             "  plot 'fig7a.csv' every ::1 using 1:2 with linespoints lw 2 lc rgb '#c0392b' title 'default', "
             "'' every ::1 using 1:3 with linespoints lw 2 lc rgb '#2e86c1' title 'reactive', "
             "'' every ::1 using 1:4 with linespoints lw 2 lc rgb '#229954' title 'proactive', "
             "%g with lines dt 2 lc rgb 'black' title 'limit'",
             rl_rate, rl_rate);
    bench_plot(b, "fig7a", script);
    int measured = avg[0] >= 0 && avg[1] >= 0 && avg[2] >= 0;
    bench_headline(b, "limit_pkt_per_s", rl_rate);
    for (int m = 0; m < 3; m++) {
        char key[64];
        snprintf(key, sizeof(key), "%s_pkt_per_s", bench_modes[m]);
        bench_headline(b, key, avg[m]);
    }
    /* Aware holds the rate (a small allowance for the bucket's depth), default exceeds it. */
    double cap = rl_rate * 1.3;
    int agree = measured && avg[1] <= cap && avg[2] <= cap && avg[0] > cap;
    bench_row_add(b, "fig7a", "default bypassed by migration, aware holds the rate", measured ? agree : -1,
                  "limit %g pkt/s: default %.1f, reactive %.1f, proactive %.1f pkt/s", rl_rate, avg[0],
                  avg[1], avg[2]);
    return measured ? 0 : -1;
}
