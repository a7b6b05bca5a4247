/*
 * fig7a: a rate limiter at 5 packets/s per connection while the client
 * migrates. The default (5-tuple) limiter gives every migrated path a fresh
 * bucket, so the connection gets more than its rate; the aware ones hold it.
 * Written against the topology interface: runs on loopback and on netns
 * (--hop qasm: --io packet, qasm-xdp: --io xdp).
 */
#include <string.h>

#include "clock.h"
#include "exp_common.h"
#include "experiments.h"

#define RL_MAX_SECS 128

/* fig7a's parameters and what it measured. */
struct rl_ctx {
    char dur[32], every[32], rate[32], burst[32];
    const char *kind;           /* --migrate-kind: port or addr */
    double limit;
    int secs;
    double series[3][RL_MAX_SECS];  /* packets forwarded in each second */
    double avg[3];                  /* their mean after the first 2 s, -1: not measured */
};

/* The client's flags: by port, or across the client side's addresses. */
static void rl_client_args(const struct rl_ctx *c, const struct topo *t, const char *argv[15])
{
    const char *a[] = { "--duration", c->dur, "--interval", "50ms", "--concurrency", "4",
                        "--migrate-every", c->every, "--migrate-kind", c->kind,
                        "--idle-timeout", "60s", NULL, NULL, NULL };
    memcpy(argv, a, sizeof(a));
    if (strcmp(c->kind, "addr") == 0) {
        argv[12] = "--local-addrs";
        argv[13] = topo_client_addrs(t);
    }
}

/* Samples the hop's forwarded packets once a second while the client runs; returns the last stats. */
static json_t *rl_sample(struct topo *t, struct rl_ctx *c, const char *mode, int m)
{
    double last = 0, total = 0, secs = 0;
    qasm_tstamp prev = qasm_now();
    json_t *st = NULL;
    for (int s = 0; s < c->secs && s < RL_MAX_SECS; s++) {
        bench_sleep(1.0);
        json_decref(st);
        st = topo_hop_table(t, mode);
        double fwd = topo_hop_forwarded(st);
        /* Each sample spans its second plus the stats' round trip: divide by what it took. */
        qasm_tstamp now = qasm_now();
        double dt = (double)(now - prev) / QASM_SEC;
        prev = now;
        if (fwd < 0)
            return st; /* no stats: not measured */
        c->series[m][s] = dt > 0 ? (fwd - last) / dt : 0;
        if (s >= 2) { /* after the handshake's first burst */
            total += fwd - last;
            secs += dt;
        }
        last = fwd;
    }
    c->avg[m] = secs > 0 ? total / secs : -1;
    return st;
}

/* One fig7a run in |mode| (the |m|th). */
static int rl_run_mode(struct bench *b, struct rl_ctx *c, const char *mode, int m)
{
    struct topo t;
    struct bench_proc client;
    char name[32], key[48];
    const char *rl[] = { "--rate", c->rate, "--burst", c->burst, NULL };
    const char *extra[15];
    int status;
    if (topo_rl_open(&t, b, mode, rl) < 0) {
        topo_close(&t);
        return -1;
    }
    rl_client_args(c, &t, extra);
    snprintf(name, sizeof(name), "client-%s", mode);
    if (topo_client_start(&t, &client, name, extra) < 0) {
        topo_close(&t);
        return -1;
    }
    json_t *st = rl_sample(&t, c, mode, m);
    bench_proc_stop(&client);
    json_t *cj = topo_client_wait(&t, &client, name, 5, &status);
    topo_close(&t);
    exp_record(b, mode, cj);
    snprintf(key, sizeof(key), "hop-%s", mode);
    exp_record(b, key, st);
    /* --io xdp: how the forwarded packets split between the kernel and the slow path. */
    double kernel = bench_json_num(st, "xdp.forwarded", -1);
    double slow_refused = bench_json_num(st, "packets_dropped.xdp_slow_rate_limited", 0);
    char split[160] = "";
    if (kernel >= 0)
        snprintf(split, sizeof(split), " (in all: kernel %.0f + slow path %.0f; kernel bucket "
                 "drops %.0f, of the slow path's %.0f)",
                 kernel + bench_json_num(st, "xdp.packets_sent", 0),
                 bench_json_num(st, "packets_forwarded", 0) - slow_refused,
                 bench_json_num(st, "xdp.rate_limited", 0) + slow_refused, slow_refused);
    bench_progress("  fig7a%s %-9s forwarded %.1f pkt/s on average (limit %g/s)%s", topo_label(b),
                   mode, c->avg[m], c->limit, split);
    json_decref(cj);
    json_decref(st);
    return 0;
}

static void rl_plot(struct bench *b, double limit)
{
    char script[1400];
    snprintf(script, sizeof(script),
             "  set title 'Rate limiter at %g packets/s per connection, client migrating (paper Fig. 7a)'\n"
             "  set xlabel 'time (s)'\n  set ylabel 'packets forwarded per second'\n  set yrange [0:*]\n"
             "  plot 'fig7a.csv' every ::1 using 1:2 with linespoints lw 2 lc rgb '#c0392b' title 'default', "
             "'' every ::1 using 1:3 with linespoints lw 2 lc rgb '#2e86c1' title 'reactive', "
             "'' every ::1 using 1:4 with linespoints lw 2 lc rgb '#229954' title 'proactive', "
             "%g with lines dt 2 lc rgb 'black' title 'limit'",
             limit, limit);
    bench_plot(b, "fig7a", script);
}

int exp_fig7a(struct bench *b)
{
    struct rl_ctx c = { .limit = bench_param(b, "rate"), .avg = { -1, -1, -1 } };
    double duration = bench_param(b, "duration");
    c.secs = (int)duration;
    c.kind = bench_param_str(b, "migrate_kind");
    if (strcmp(c.kind, "port") != 0 && strcmp(c.kind, "addr") != 0)
        return bench_fail("fig7a: migrate_kind must be port or addr, got '%s'", c.kind);
    snprintf(c.dur, sizeof(c.dur), "%gs", duration);
    snprintf(c.every, sizeof(c.every), "%gms", bench_param(b, "migrate_every") * 1000);
    snprintf(c.rate, sizeof(c.rate), "%g", c.limit);
    snprintf(c.burst, sizeof(c.burst), "%g", bench_param(b, "burst"));
    FILE *csv = exp_csv_open(b, "fig7a.csv", "second,default,reactive,proactive");
    if (csv == NULL)
        return -1;
    for (int m = 0; m < 3; m++) {
        if (rl_run_mode(b, &c, bench_modes[m], m) < 0) {
            fclose(csv);
            return -1;
        }
    }
    for (int s = 0; s < c.secs && s < RL_MAX_SECS; s++)
        fprintf(csv, "%d,%.1f,%.1f,%.1f\n", s + 1, c.series[0][s], c.series[1][s], c.series[2][s]);
    fclose(csv);
    rl_plot(b, c.limit);
    const double *avg = c.avg;
    int measured = avg[0] >= 0 && avg[1] >= 0 && avg[2] >= 0;
    bench_headline(b, "limit_pkt_per_s", c.limit);
    for (int m = 0; m < 3; m++) {
        char key[64];
        snprintf(key, sizeof(key), "%s_pkt_per_s", bench_modes[m]);
        bench_headline(b, key, avg[m]);
    }
    /* Aware holds the rate (a small allowance for the bucket's depth), default exceeds it. */
    double cap = c.limit * 1.3;
    int agree = measured && avg[1] <= cap && avg[2] <= cap && avg[0] > cap;
    bench_row_add(b, "fig7a", "default bypassed by migration, aware holds the rate", measured ? agree : -1,
                  "limit %g pkt/s: default %.1f, reactive %.1f, proactive %.1f pkt/s%s%s%s", c.limit,
                  avg[0], avg[1], avg[2], b->netns ? " (netns, --hop " : "",
                  b->netns ? (b->hop ? b->hop : "qasm") : "", b->netns ? ")" : "");
    return measured ? 0 : -1;
}
