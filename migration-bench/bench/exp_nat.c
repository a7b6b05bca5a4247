/*
 * NAT experiments: table1 (the NAT table under migration), kernel-nat (the
 * same on the Linux kernel's NAT, alone and behind qasm-normalize), nat-dos
 * (§2.1: pool exhaustion), fig8a (per-request latency through the NAT while
 * migrating every 10 packets) and fig7b (throughput through 0-5 NATs).
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "exp_common.h"
#include "experiments.h"
#include "plots.h"

/* The NAT table as the paper's Table 1 shows it: latest private address -> public port. */
static void write_nat_table(struct bench *b, const char *mode, json_t *st)
{
    char name[64];
    size_t i;
    json_t *e;
    snprintf(name, sizeof(name), "nat-table-%s.csv", mode);
    FILE *f = exp_csv_open(b, name, "key,private_address,addresses_bound,public_port");
    if (f == NULL)
        return;
    json_array_foreach(json_object_get(st, "entries"), i, e)
    {
        json_t *odcid = json_object_get(e, "odcid");
        json_t *client = json_object_get(e, "client");
        json_t *clients = json_object_get(e, "clients");
        /* The latest private address, and how many the entry holds. */
        fprintf(f, "%s,%s,%.0f,%.0f\n", json_is_string(odcid) ? json_string_value(odcid) : "5-tuple",
                json_is_string(client) ? json_string_value(client) : "-",
                json_is_array(clients) ? (double)json_array_size(clients) : 1.0,
                bench_json_num(e, "public_port", -1));
    }
    fclose(f);
}

/* What one mode of table1 measured. */
struct t1_run {
    double migs, ports, entries, reqs_ok, reqs_failed;
};

/* table1's parameters and results. */
struct t1_ctx {
    double duration;
    char every[32];
    struct t1_run r[3];
};

/* table1's judgement of one mode: 1 agrees, 0 not, -1 not judged (a cmd: hop). */
static int t1_judge(const char *mode, const struct t1_run *r)
{
    if (topo_mode_aware(mode))
        return r->ports == 1;
    if (strcmp(mode, "cmd") == 0)
        return -1;
    return r->migs >= 1 && r->ports >= r->migs;
}

/* One table1 run in |mode|: a client migrating across addresses through one NAT. */
static int t1_run_mode(struct bench *b, FILE *csv, const char *mode, int m, void *ctx)
{
    struct t1_ctx *c = ctx;
    struct t1_run *r = &c->r[m];
    double duration = c->duration;
    struct topo t;
    char name[32], dur[32];
    snprintf(dur, sizeof(dur), "%gs", duration);
    if (topo_nat_open(&t, b, mode, 64, 64) < 0) {
        topo_close(&t);
        return -1;
    }
    const char *extra[] = { "--duration", dur, "--interval", "20ms", "--migrate-every", c->every,
                            "--migrate-kind", "addr", "--local-addrs", topo_client_addrs(&t),
                            NULL };
    int status;
    snprintf(name, sizeof(name), "client-%s", mode);
    json_t *cj = topo_client(&t, name, extra, duration + 20, &status);
    json_t *st = topo_hop_table(&t, mode);
    topo_close(&t);
    r->migs = exp_client_num(cj, "migrations");
    r->ports = bench_json_num(st, "ports_in_use", -1);
    r->entries = bench_json_num(st, "mappings", -1);
    r->reqs_ok = exp_client_num(cj, "requests_ok");
    r->reqs_failed = exp_client_num(cj, "requests_failed");
    fprintf(csv, "%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", mode, r->migs,
            bench_json_num(st, "mappings", -1), bench_json_num(st, "mappings_created", -1),
            r->ports, r->reqs_ok, r->reqs_failed);
    write_nat_table(b, mode, st);
    exp_record(b, mode, st);
    bench_progress("  %s%s %-9s migrations %.0f, NAT ports in use %.0f, mappings created %.0f",
                   b->exp, topo_label(b), mode, r->migs, r->ports, bench_json_num(st, "mappings_created", -1));
    int measured = cj != NULL && st != NULL;
    json_decref(cj);
    json_decref(st);
    return measured ? 0 : 1;
}

/* table1's headline numbers of one mode. */
static void t1_headline(struct bench *b, const char *mode, const struct t1_run *r)
{
    char key[64];
    snprintf(key, sizeof(key), "%s_ports_in_use", mode);
    bench_headline(b, key, r->ports);
    snprintf(key, sizeof(key), "%s_migrations", mode);
    bench_headline(b, key, r->migs);
    snprintf(key, sizeof(key), "%s_requests_ok", mode);
    bench_headline(b, key, r->reqs_ok);
}

/* table1's rows: one for the three modes on loopback, one per mode on netns. */
static void t1_rows(struct bench *b, const char *const *modes, int nm, const int ok[3],
                    const struct t1_run *r)
{
    if (!b->netns) {
        int agree = ok[2];
        for (int m = 0; m < nm; m++)
            agree &= t1_judge(modes[m], &r[m]) == 1;
        bench_row_add(b, "table1", "aware: 1 public port per connection; default: 1 per migration",
                      ok[2] ? agree : -1,
                      "default %.0f ports for %.0f migrations; reactive %.0f; proactive %.0f",
                      r[0].ports, r[0].migs, r[1].ports, r[2].ports);
        return;
    }
    for (int m = 0; m < nm; m++) {
        char claim[160];
        int judged = t1_judge(modes[m], &r[m]);
        snprintf(claim, sizeof(claim), "netns, %s: %s", modes[m],
                 topo_mode_aware(modes[m]) ? "1 public port per connection"
                 : judged >= 0             ? "1 public port per migration"
                                           : "(your middlebox: not judged)");
        if (judged >= 0)
            bench_row_add(b, "table1", claim, ok[m] ? judged : -1,
                          "%.0f public ports for %.0f migrations, %.0f requests ok", r[m].ports,
                          r[m].migs, r[m].reqs_ok);
        else
            bench_row_add(b, "table1", claim, -1, "%.0f migrations, %.0f requests ok, %.0f failed "
                          "(table not visible to the bench)", r[m].migs, r[m].reqs_ok,
                          r[m].reqs_failed);
    }
}

/* table1's client run in each mode of the topology, into |csvname| (the columns
 * |mappings| names the table's entries); returns the number of modes or -1. */
static int t1_run_all(struct bench *b, const char *csvname, const char *mappings,
                      struct t1_ctx *c, const char *const **modes, int ok[3])
{
    char head[160];
    c->duration = bench_param(b, "duration");
    snprintf(c->every, sizeof(c->every), "%gms", bench_param(b, "migrate_every") * 1000);
    snprintf(head, sizeof(head), "mode,migrations,%s,mappings_created,ports_in_use,requests_ok,"
             "requests_failed", mappings);
    FILE *csv = exp_csv_open(b, csvname, head);
    return csv == NULL ? -1 : exp_each_mode(b, csv, modes, ok, t1_run_mode, c);
}

/* table1: a client migrates across ports and addresses through one NAT. */
int exp_table1(struct bench *b)
{
    struct t1_ctx c = { 0 };
    const char *const *modes;
    int ok[3] = { 0 }, nm = t1_run_all(b, "table1.csv", "mappings", &c, &modes, ok);
    if (nm < 0)
        return -1;
    plots_table1(b);
    for (int m = 0; m < nm; m++)
        t1_headline(b, modes[m], &c.r[m]);
    t1_rows(b, modes, nm, ok, c.r);
    return ok[nm - 1] ? 0 : -1;
}

/* kernel-nat's headline numbers and table rows, per mode (kernel, normalize). */
static void knat_report(struct bench *b, const char *const *modes, int nm, const int ok[3],
                        const struct t1_run *r)
{
    char key[64];
    for (int m = 0; m < nm; m++) {
        snprintf(key, sizeof(key), "%s_conntrack_entries", modes[m]);
        bench_headline(b, key, r[m].entries);
        t1_headline(b, modes[m], &r[m]);
        int aware = topo_mode_aware(modes[m]);
        int agree = aware ? r[m].entries == 1 && r[m].ports == 1
                          : r[m].migs >= 1 && r[m].entries >= r[m].migs;
        bench_row_add(b, "kernel-nat",
                      aware ? "kernel NAT + qasm-normalize: 1 conntrack entry, 1 port per connection"
                            : "kernel NAT alone: 1 conntrack entry and 1 port per migration",
                      ok[m] ? agree : -1,
                      "%.0f entries, %.0f public ports for %.0f migrations, %.0f requests ok",
                      r[m].entries, r[m].ports, r[m].migs, r[m].reqs_ok);
    }
    if (nm < 2)
        bench_row_add(b, "kernel-nat", "kernel NAT + qasm-normalize", -1,
                      "not run: qasm-normalize was not built (BPF toolchain, make deps)");
}

/*
 * kernel-nat: table1's client on the netns testbed whatever --topology says,
 * through the kernel's NAT (nftables masquerade) alone and with qasm-normalize
 * in front of it. Not root or no nft/conntrack: a row saying so, not a failure.
 */
int exp_kernel_nat(struct bench *b)
{
    if (geteuid() != 0 || topo_netns_check("kernel-nat") < 0) {
        bench_row_add(b, "kernel-nat", "the kernel's NAT alone and behind qasm-normalize", -1,
                      "not run: needs root, nft and conntrack (network namespaces)");
        return 0;
    }
    struct t1_ctx c = { 0 };
    int netns = b->netns;
    const char *hop = b->hop;
    b->netns = 1;
    b->hop = "kernel-nat";
    const char *const *modes;
    int ok[3] = { 0 }, nm = t1_run_all(b, "kernel-nat.csv", "conntrack_entries", &c, &modes, ok);
    b->netns = netns;
    b->hop = hop;
    if (nm < 0)
        return -1;
    plots_kernel_nat(b);
    knat_report(b, modes, nm, ok, c.r);
    return ok[nm - 1] ? 0 : -1;
}

/* What one mode of nat-dos measured. */
struct dos_run {
    double used, att_migs;
    double used_before; /* ports in use when the victim started */
    int victim_ok, pool;
};

/* nat-dos's parameters and results. */
struct dos_ctx {
    int pool;
    double duration;
    struct dos_run r[3];
};

/* nat-dos's judgement of one mode: aware lets the victim in, a plain NAT refuses it. */
static int dos_judge(const char *mode, const struct dos_run *r)
{
    if (topo_mode_aware(mode))
        return r->victim_ok;
    if (strcmp(mode, "cmd") == 0)
        return -1;
    /* Not judged when the attacker left a port free: the victim's start proves nothing. */
    if (r->used_before < r->pool)
        return -1;
    return !r->victim_ok;
}

/* The ports the hop has in use now (-1: its table does not say). */
static double hop_ports(struct topo *t, const char *mode)
{
    json_t *st = topo_hop_table(t, mode);
    double n = bench_json_num(st, "ports_in_use", -1);
    json_decref(st);
    return n;
}

/* One nat-dos run in |mode|: an attacker migrates through a |pool|-port NAT, then a victim. */
static int dos_run_mode(struct bench *b, FILE *csv, const char *mode, int m, void *ctx)
{
    struct dos_ctx *c = ctx;
    struct dos_run *r = &c->r[m];
    int pool = c->pool;
    double duration = c->duration;
    struct topo t;
    char name[32], dur[32], every[32];
    snprintf(dur, sizeof(dur), "%gs", duration);
    snprintf(every, sizeof(every), "%gms", duration * 1000 / (pool * 2));
    if (topo_nat_open(&t, b, mode, pool, 0) < 0) {
        topo_close(&t);
        return -1;
    }
    /* Once the pool is gone the attacker's own packets are dropped too:
     * a short idle timeout ends it soon after --duration. */
    const char *att[] = { "--duration", dur, "--interval", "20ms", "--migrate-every", every,
                          "--migrate-kind", "port", "--idle-timeout", "2s", NULL };
    int status;
    snprintf(name, sizeof(name), "attacker-%s", mode);
    json_t *aj = topo_client(&t, name, att, duration + 20, &status);
    r->att_migs = exp_client_num(aj, "migrations");
    r->pool = pool;
    r->used_before = hop_ports(&t, mode);
    /* A plain NAT with a port left (on a slow machine fewer migrations took one): a second
     * attacker, so that the victim meets the exhausted pool the experiment is about. */
    if (!topo_mode_aware(mode) && r->used_before >= 0 && r->used_before < pool) {
        snprintf(name, sizeof(name), "attacker2-%s", mode);
        json_t *again = topo_client(&t, name, att, duration + 20, &status);
        r->att_migs += exp_client_num(again, "migrations");
        json_decref(again);
        r->used_before = hop_ports(&t, mode);
    }
    const char *vic[] = { "--requests", "3", "--idle-timeout", "3s", NULL };
    snprintf(name, sizeof(name), "victim-%s", mode);
    json_t *vj = topo_client(&t, name, vic, 30, &status);
    json_t *st = topo_hop_table(&t, mode);
    topo_close(&t);
    r->used = bench_json_num(st, "ports_in_use", -1);
    r->victim_ok = vj != NULL && exp_client_num(vj, "requests_ok") >= 3;
    fprintf(csv, "%s,%.0f,%.0f,%d,%.0f,%.0f,%.0f\n", mode, r->att_migs, r->used, pool,
            bench_json_num(st, "packets_dropped.pool_exhausted", -1),
            exp_client_num(vj, "requests_ok"), exp_client_num(vj, "requests_failed"));
    exp_record(b, mode, st);
    bench_progress("  nat-dos%s %-9s attacker migrations %.0f, ports %.0f/%d (%.0f before the "
                   "victim), victim %s", topo_label(b), mode, r->att_migs, r->used, pool,
                   r->used_before, r->victim_ok ? "connected" : "REFUSED");
    int measured = aj != NULL && st != NULL;
    json_decref(aj);
    json_decref(vj);
    json_decref(st);
    return measured ? 0 : 1;
}

/* nat-dos's rows: one for the three modes on loopback, one per mode on netns. */
static void dos_rows(struct bench *b, const char *const *modes, int nm, const int ok[3], int pool,
                     const struct dos_run *r)
{
    if (!b->netns) {
        int agree = ok[2], judged = 1;
        for (int m = 0; m < nm; m++) {
            int j = dos_judge(modes[m], &r[m]);
            agree &= j == 1;
            judged &= j >= 0;
        }
        bench_row_add(b, "nat-dos", "default: pool exhausted, 2nd user refused; aware: not",
                      ok[2] && judged ? agree : -1,
                      "default %.0f/%d ports (%.0f before the victim%s), victim %s; aware "
                      "%.0f/%.0f ports, victim %s/%s", r[0].used, pool, r[0].used_before,
                      judged ? "" : ": not exhausted, not judged",
                      r[0].victim_ok ? "ok" : "refused", r[1].used, r[2].used,
                      r[1].victim_ok ? "ok" : "refused", r[2].victim_ok ? "ok" : "refused");
        return;
    }
    for (int m = 0; m < nm; m++) {
        char claim[160];
        int judged = dos_judge(modes[m], &r[m]);
        snprintf(claim, sizeof(claim), "netns, %s: %s", modes[m],
                 topo_mode_aware(modes[m])      ? "a second client gets in"
                 : strcmp(modes[m], "cmd") != 0 ? "pool exhausted, second client refused"
                                                : "(your middlebox: not judged)");
        bench_row_add(b, "nat-dos", claim, ok[m] && judged >= 0 ? judged : -1,
                      "%.0f/%d ports used (%.0f before the victim), victim %s", r[m].used, pool,
                      r[m].used_before, r[m].victim_ok ? "ok" : "refused");
    }
}

/* nat-dos: a migrating client exhausts a small pool; can a second client connect? */
int exp_natdos(struct bench *b)
{
    struct dos_ctx c = { .pool = (int)bench_param(b, "pool"),
                         .duration = bench_param(b, "duration") };
    FILE *csv = exp_csv_open(b, "nat-dos.csv",
                             "mode,attacker_migrations,ports_in_use,pool,pool_exhausted_drops,"
                             "victim_ok,victim_failed");
    if (csv == NULL)
        return -1;
    const char *const *modes;
    int ok[3] = { 0 }, nm = exp_each_mode(b, csv, &modes, ok, dos_run_mode, &c);
    if (nm < 0)
        return -1;
    plots_natdos(b);
    bench_headline(b, "pool", c.pool);
    for (int m = 0; m < nm; m++) {
        char key[64];
        snprintf(key, sizeof(key), "%s_ports_in_use", modes[m]);
        bench_headline(b, key, c.r[m].used);
        snprintf(key, sizeof(key), "%s_victim_ok", modes[m]);
        bench_headline(b, key, c.r[m].victim_ok);
    }
    dos_rows(b, modes, nm, ok, c.pool, c.r);
    return ok[nm - 1] ? 0 : -1;
}

/* One latency run of fig8 (the |run|th in |mode| |m|): p50 and p99 in µs, -1 if not measured. */
struct lat_point {
    double p50, p99, failed;
};

static int lat_run_once(struct bench *b, const char *exp, const char *function, int m, int run,
                        FILE *sum, struct lat_point *pt)
{
    char url[128], entry[64], reqs[16], ival[32], csvname[64], upstream[64], name[32];
    char csvpath[PATH_MAX];
    double n = bench_param(b, "requests"), ival_ms = bench_param(b, "interval_ms");
    struct topo t;
    snprintf(reqs, sizeof(reqs), "%.0f", n);
    snprintf(ival, sizeof(ival), "%gms", ival_ms);
    topo_init(&t, b);
    if (topo_start_tracker(&t) < 0 || topo_start_server(&t, "server") < 0)
        return -1;
    topo_addr(upstream, sizeof(upstream), t.server_port[0]);
    const char *rl[] = { "--rate", "100000", "--burst", "100000", NULL };
    snprintf(name, sizeof(name), "%s-%s", function, bench_modes[m]);
    /* A pool large enough for every migration: this measures latency, not nat-dos. */
    int i = topo_start_mbox(&t, name, function, bench_modes[m], upstream, 2048,
                            strcmp(function, "ratelimit") == 0 ? rl : NULL);
    if (i < 0) {
        topo_stop(&t);
        return -1;
    }
    topo_addr(entry, sizeof(entry), t.mbox_port[i]);
    /* The first run keeps the names of a single run; further runs get -rN. */
    char suffix[16] = "";
    if (run > 0)
        snprintf(suffix, sizeof(suffix), "-r%d", run + 1);
    snprintf(csvname, sizeof(csvname), "latency-%s%s.csv", bench_modes[m], suffix);
    bench_path(b, csvpath, sizeof(csvpath), csvname);
    const char *extra[] = { "--requests", reqs, "--interval", ival, "--migrate-every-packets",
                            "10", "--csv", csvpath, NULL };
    snprintf(name, sizeof(name), "client-%s%s", bench_modes[m], suffix);
    json_t *cj = topo_run_client(&t, name, entry, 1, extra,
                                 topo_url(&t, url, sizeof(url), 0, "/"), n * ival_ms / 1000 + 30);
    json_t *st = topo_mbox_stats(&t, 0);
    topo_stop(&t);
    pt->p50 = exp_client_latency(cj, "p50");
    pt->p99 = exp_client_latency(cj, "p99");
    pt->failed = exp_client_num(cj, "requests_failed");
    fprintf(sum, "%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d\n", bench_modes[m], pt->p50,
            exp_client_latency(cj, "p90"), pt->p99, exp_client_latency(cj, "max"),
            exp_client_num(cj, "migrations"), pt->failed, run + 1);
    if (run == 0)
        exp_record(b, bench_modes[m], cj);
    bench_progress("  %s %-9s p50 %.0f us, p99 %.0f us, migrations %.0f, failed %.0f", exp,
                   bench_modes[m], pt->p50, pt->p99, exp_client_num(cj, "migrations"), pt->failed);
    json_decref(cj);
    json_decref(st);
    return 0;
}

/* Runs the paper's latency workload through |function| in every mode, |repeat| times each. */
int exp_latency(struct bench *b, const char *exp, const char *function, const char *title)
{
    int repeat = exp_repeat(b);
    double p50[3][EXP_MAX_REPEAT], p99[3][EXP_MAX_REPEAT], failed = 0;
    double med[3] = { -1, -1, -1 }, p99m[3] = { -1, -1, -1 };
    FILE *sum = exp_csv_open(b, "latency-summary.csv",
                             "mode,p50_us,p90_us,p99_us,max_us,migrations,failed,run");
    FILE *stats = exp_csv_open(b, "latency-stats.csv",
                               "mode,p50_min_us,p50_us,p50_max_us,p99_min_us,p99_us,p99_max_us,runs");
    if (sum == NULL || stats == NULL) {
        if (sum)
            fclose(sum);
        return -1;
    }
    for (int m = 0; m < 3; m++) {
        for (int k = 0; k < repeat; k++) {
            struct lat_point pt;
            if (lat_run_once(b, exp, function, m, k, sum, &pt) < 0) {
                fclose(sum);
                fclose(stats);
                return -1;
            }
            p50[m][k] = pt.p50;
            p99[m][k] = pt.p99;
            failed += pt.failed > 0 ? pt.failed : 0;
        }
        double a[3], c[3];
        exp_min_med_max(p50[m], repeat, a);
        exp_min_med_max(p99[m], repeat, c);
        med[m] = a[1];
        p99m[m] = c[1];
        fprintf(stats, "%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d\n", bench_modes[m], a[0], a[1], a[2],
                c[0], c[1], c[2], repeat);
        char key[64];
        snprintf(key, sizeof(key), "%s_p50_us", bench_modes[m]);
        bench_headline(b, key, med[m]);
        snprintf(key, sizeof(key), "%s_p99_us", bench_modes[m]);
        bench_headline(b, key, p99m[m]);
    }
    fclose(sum);
    fclose(stats);
    plots_latency(b, exp, title);
    int measured = med[0] > 0 && med[1] > 0 && med[2] > 0;
    double r1 = measured ? med[1] / med[0] : 0, r2 = measured ? med[2] / med[0] : 0;
    bench_headline(b, "reactive_p50_ratio", measured ? r1 : -1);
    bench_headline(b, "proactive_p50_ratio", measured ? r2 : -1);
    bench_headline(b, "requests_failed", failed);
    if (measured)
        bench_row_add(b, exp, "aware latency ~ default", r1 < 1.25 && r2 < 1.25 && failed == 0,
                      "p50 default %.0f us, reactive x%.2f, proactive x%.2f; p99 %.0f/%.0f/%.0f us",
                      med[0], r1, r2, p99m[0], p99m[1], p99m[2]);
    else /* a mode without one answered request: no ratio to give */
        bench_row_add(b, exp, "aware latency ~ default", -1,
                      "not measured: p50 default %.0f, reactive %.0f, proactive %.0f us; %.0f requests failed",
                      med[0], med[1], med[2], failed);
    return measured ? 0 : -1;
}

int exp_fig8a(struct bench *b)
{
    return exp_latency(b, "fig8a", "nat", "Per-request latency through the NAT, migration every 10 packets (paper Fig. 8a)");
}

int exp_fig8b(struct bench *b)
{
    return exp_latency(b, "fig8b", "ratelimit", "Per-request latency through the rate limiter, migration every 10 packets (paper Fig. 8b)");
}

/* One throughput run through |n| NATs. */
static double chain_run(struct bench *b, int n, const char *mode, const char *every, double duration,
                        int run, double *migrations, double *failed)
{
    struct topo t;
    char entry[64], url[128], dur[32], name[64];
    snprintf(dur, sizeof(dur), "%gs", duration);
    topo_init(&t, b);
    if (topo_start_tracker(&t) < 0 || topo_start_server(&t, "server") < 0) {
        topo_stop(&t);
        return -1;
    }
    if (n == 0)
        topo_addr(entry, sizeof(entry), t.server_port[0]);
    else if (exp_nat_chain(&t, n, mode, 64, NULL, entry, sizeof(entry)) < 0) {
        topo_stop(&t);
        return -1;
    }
    const char *extra[] = { "--duration", dur, "--size", "4M", "--migrate-every", every,
                            "--idle-timeout", "5s", NULL };
    snprintf(name, sizeof(name), "client-%dnat-%s-%s", n, mode, every);
    if (run > 0) /* --repeat: the first run keeps the single run's name */
        snprintf(name + strlen(name), sizeof(name) - strlen(name), "-r%d", run + 1);
    json_t *cj = topo_run_client(&t, name, entry, 1, extra, topo_url(&t, url, sizeof(url), 0, "/"),
                                 duration + 30);
    topo_stop(&t);
    double bps = exp_client_num(cj, "throughput_bps");
    *migrations = exp_client_num(cj, "migrations");
    *failed = exp_client_num(cj, "requests_failed");
    json_decref(cj);
    return bps;
}

/* One fig7b point: |n| NATs in mode |m|, |repeat| runs; bps[] gets min, median, max. */
static void chain_point(struct bench *b, int n, int m, const char *period, double duration,
                        int repeat, double bps[3])
{
    double v[EXP_MAX_REPEAT];
    for (int k = 0; k < repeat; k++) {
        double mig, failed;
        char r[32];
        v[k] = chain_run(b, n, bench_modes[m], period, duration, k, &mig, &failed);
        bench_progress("  fig7b %d NAT %-9s migrate every %-5s %s (%.0f migrations, %.0f failed)",
                       n, bench_modes[m], period, exp_rate_str(r, sizeof(r), v[k]), mig, failed);
    }
    exp_min_med_max(v, repeat, bps);
}

int exp_fig7b(struct bench *b)
{
    double duration = bench_param(b, "duration");
    const char *periods[2] = { bench_param_str(b, "migrate_every"), "100ms" };
    int maxn = (int)bench_param(b, "max_nats"), repeat = exp_repeat(b);
    /* The medians first (the columns of a single run), then each mode's min and max. */
    FILE *csv = exp_csv_open(b, "fig7b.csv", "nats,period,default_bps,reactive_bps,proactive_bps,"
                             "default_min,default_max,reactive_min,reactive_max,proactive_min,"
                             "proactive_max");
    if (csv == NULL)
        return -1;
    double worst = 1e9, sum_ratio = 0;
    int nratio = 0;
    for (int p = 0; p < 2; p++) {
        for (int n = 0; n <= maxn; n++) {
            double bps[3][3];
            for (int m = 0; m < 3; m++) {
                if (n == 0 && m > 0) /* no middlebox: the mode does not matter */
                    memcpy(bps[m], bps[0], sizeof(bps[0]));
                else
                    chain_point(b, n, m, periods[p], duration, repeat, bps[m]);
            }
            fprintf(csv, "%d,%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", n, periods[p],
                    bps[0][1], bps[1][1], bps[2][1], bps[0][0], bps[0][2], bps[1][0], bps[1][2],
                    bps[2][0], bps[2][2]);
            for (int m = 0; m < 3; m++) {
                char key[64];
                snprintf(key, sizeof(key), "%s_bps_%dnat_%s", bench_modes[m], n, periods[p]);
                bench_headline(b, key, bps[m][1]);
            }
            if (n > 0 && bps[0][1] > 0 && p == 0) {
                for (int m = 1; m < 3; m++) {
                    double r = bps[m][1] / bps[0][1];
                    worst = fmin(worst, r);
                    sum_ratio += r;
                    nratio++;
                }
            }
        }
    }
    fclose(csv);
    plots_fig7b(b, periods[0], periods[1], maxn);
    int measured = nratio > 0;
    double mean = measured ? sum_ratio / nratio : 0;
    bench_headline(b, "aware_default_ratio_mean", measured ? mean : -1);
    bench_headline(b, "aware_default_ratio_worst", measured ? worst : -1);
    /* Short runs on a shared machine are noisy: the claim holds when aware
     * is on average not slower than default (single runs vary by +-20 %). */
    bench_row_add(b, "fig7b", "throughput through 1-5 NATs: aware ~ default", measured ? mean > 0.9 : -1,
                  "aware/default throughput: mean x%.2f, worst x%.2f (migration every %s)", mean, worst,
                  periods[0]);
    return measured ? 0 : -1;
}
