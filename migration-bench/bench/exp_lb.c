/*
 * lb (§2.2): two backends behind a hash load balancer; the client migrates.
 * Default: a migration rehashes the new 5-tuple, the connection lands on
 * the other backend, which does not know it, and the requests fail. Aware:
 * the O-DCID keeps the backend. Written against the topology interface:
 * runs on loopback and on netns.
 */
#include <string.h>

#include "exp_common.h"
#include "experiments.h"

/* What one mode of lb measured. */
struct lb_run {
    double migs, okr, failed, misrouted;
    int exitc;
};

/* lb's parameters and results. */
struct lb_ctx {
    double duration;
    char every[32];
    int attempts;       /* default runs (see lb_mode) */
    struct lb_run r[3];
};

/* lb's judgement of one mode: aware keeps everything, default fails; a cmd: hop is not judged. */
static int lb_judge(const char *mode, const struct lb_run *r)
{
    if (topo_mode_aware(mode))
        return r->failed == 0 && r->exitc == 0 && r->misrouted == 0;
    if (strcmp(mode, "cmd") == 0)
        return -1;
    return r->failed > 0 || r->exitc != 0;
}

/* One lb run in |mode|. */
static int lb_run_once(struct bench *b, FILE *csv, const char *mode, double duration,
                       const char *every, struct lb_run *r)
{
    struct topo t;
    char name[32], dur[32];
    snprintf(dur, sizeof(dur), "%gs", duration);
    if (topo_lb_open(&t, b, mode) < 0) {
        topo_close(&t);
        return -1;
    }
    const char *extra[] = { "--duration", dur, "--interval", "10ms", "--migrate-every", every,
                            "--migrate-kind", "port", "--idle-timeout", "1s", NULL };
    snprintf(name, sizeof(name), "client-%s", mode);
    json_t *cj = topo_client(&t, name, extra, duration + 20, &r->exitc);
    json_t *st = topo_hop_table(&t, mode);
    topo_close(&t);
    /* Packets a backend could not place (unknown DCID) were misrouted. */
    r->misrouted = topo_unknown_dcid(&t);
    r->migs = exp_client_num(cj, "migrations");
    r->okr = exp_client_num(cj, "requests_ok");
    r->failed = exp_client_num(cj, "requests_failed");
    fprintf(csv, "%s,%.0f,%.0f,%.0f,%d,%.0f\n", mode, r->migs, r->okr, r->failed, r->exitc,
            r->misrouted);
    exp_record(b, mode, st);
    bench_progress("  lb%s %-9s migrations %.0f, requests ok %.0f, failed %.0f, client exit %d, "
                   "misrouted packets %.0f", topo_label(b), mode, r->migs, r->okr, r->failed,
                   r->exitc, r->misrouted);
    int measured = cj != NULL;
    json_decref(cj);
    json_decref(st);
    return measured ? 0 : 1;
}

/*
 * One lb mode. The hash may by chance keep every new port on the same
 * backend: the default run is repeated (at most 3 times) until one
 * migration was misrouted, and the attempts are reported.
 */
static int lb_mode(struct bench *b, FILE *csv, const char *mode, int m, void *ctx)
{
    struct lb_ctx *c = ctx;
    int dflt = strcmp(mode, "default") == 0, measured = 1, rv;
    do {
        rv = lb_run_once(b, csv, mode, c->duration, c->every, &c->r[m]);
        measured &= rv == 0;
        c->attempts += dflt;
    } while (rv >= 0 && dflt && c->r[m].misrouted == 0 && c->attempts < 3);
    return rv < 0 ? -1 : measured ? 0 : 1;
}

/* lb's rows: one for the three modes on loopback, one per mode on netns. */
static void lb_rows(struct bench *b, const char *const *modes, int nm, const int ok[3],
                    int attempts, const struct lb_run *r)
{
    if (!b->netns) {
        int agree = ok[2];
        for (int m = 0; m < nm; m++)
            agree &= lb_judge(modes[m], &r[m]) == 1;
        bench_row_add(b, "lb", "default: migrated connection misrouted, fails; aware: kept",
                      ok[2] ? agree : -1,
                      "default: %.0f misrouted pkts, %.0f failed (try %d); aware: %.0f/%.0f "
                      "misrouted, %.0f/%.0f failed", r[0].misrouted, r[0].failed, attempts,
                      r[1].misrouted, r[2].misrouted, r[1].failed, r[2].failed);
        return;
    }
    for (int m = 0; m < nm; m++) {
        char claim[160];
        int judged = lb_judge(modes[m], &r[m]);
        snprintf(claim, sizeof(claim), "netns, %s: %s", modes[m],
                 topo_mode_aware(modes[m]) ? "the migrated connection keeps its backend"
                 : judged >= 0             ? "migrated connection misrouted"
                                           : "(your middlebox: not judged)");
        bench_row_add(b, "lb", claim, ok[m] && judged >= 0 ? judged : -1,
                      "%.0f misrouted packets, %.0f requests ok, %.0f failed", r[m].misrouted,
                      r[m].okr, r[m].failed);
    }
}

int exp_lb(struct bench *b)
{
    /* A migration every 1.2 s and an idle timeout of 1 s: a connection sent
     * to the wrong backend dies before the next migration could rescue it. */
    struct lb_ctx c = { .duration = bench_param(b, "duration") };
    snprintf(c.every, sizeof(c.every), "%gms", bench_param(b, "migrate_every") * 1000);
    FILE *csv = exp_csv_open(b, "lb.csv",
                             "mode,migrations,requests_ok,requests_failed,client_exit,misrouted_packets");
    if (csv == NULL)
        return -1;
    const char *const *modes;
    int ok[3] = { 0 }, nm = exp_each_mode(b, csv, &modes, ok, lb_mode, &c);
    if (nm < 0)
        return -1;
    bench_plot(b, "lb",
               "  set multiplot layout 1,2 title 'Hash load balancer, two backends, client "
               "migrating (paper §2.2)'\n"
               "  set style data histograms\n  set style fill solid 0.8 border -1\n"
               "  set key outside bottom center horizontal\n"
               "  set title 'requests (a failed one ends the connection)'\n"
               "  set ylabel 'requests'\n  set yrange [0:*]\n"
               "  plot 'lb.csv' every ::1 using 3:xtic(1) title 'ok', '' every ::1 using 4 title 'failed'\n"
               "  set title 'packets sent to the wrong backend'\n"
               "  set ylabel 'packets'\n  set yrange [0:*]\n  set offsets 0, 0, graph 0.1, 0\n"
               "  plot 'lb.csv' every ::1 using 6:xtic(1) notitle lc rgb '#cc5b4f', \\\n"
               "       '' every ::1 using 0:6:6 with labels offset 0,0.8 notitle\n"
               "  unset multiplot");
    for (int m = 0; m < nm; m++) {
        char key[64];
        snprintf(key, sizeof(key), "%s_misrouted_packets", modes[m]);
        bench_headline(b, key, c.r[m].misrouted);
        snprintf(key, sizeof(key), "%s_requests_ok", modes[m]);
        bench_headline(b, key, c.r[m].okr);
        snprintf(key, sizeof(key), "%s_requests_failed", modes[m]);
        bench_headline(b, key, c.r[m].failed);
    }
    bench_headline(b, "default_attempts", c.attempts);
    lb_rows(b, modes, nm, ok, c.attempts, c.r);
    return ok[nm - 1] ? 0 : -1;
}
