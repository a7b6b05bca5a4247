#include "topo.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void topo_init(struct topo *t, struct bench *b)
{
    memset(t, 0, sizeof(*t));
    t->b = b;
}

char *topo_addr(char *buf, size_t len, uint16_t port)
{
    snprintf(buf, len, "127.0.0.1:%u", port);
    return buf;
}

char *topo_url(const struct topo *t, char *buf, size_t len, int i, const char *path)
{
    snprintf(buf, len, "https://localhost:%u%s", t->server_port[i], path);
    return buf;
}

static int start_and_wait(struct topo *t, struct bench_proc *p, const char *name,
                          char *const argv[], uint16_t port)
{
    if (bench_proc_start(p, name, t->b->outdir, argv, NULL) < 0)
        return bench_fail("cannot start %s", argv[0]);
    if (bench_wait_udp_port(port, 5.0) < 0 || !bench_proc_alive(p)) {
        bench_proc_tail(p, 20);
        return bench_fail("%s did not come up on port %u", name, port);
    }
    return 0;
}

int topo_start_tracker(struct topo *t)
{
    char bin[PATH_MAX], listen[64];
    t->tracker_port = bench_free_port();
    topo_addr(listen, sizeof(listen), t->tracker_port);
    char *argv[] = { bench_bin(t->b, bin, sizeof(bin), "qasm-tracker"), "--listen", listen,
                     "--trust", "any", NULL };
    if (start_and_wait(t, &t->tracker, "tracker", argv, t->tracker_port) < 0)
        return -1;
    t->have_tracker = 1;
    return 0;
}

int topo_start_server(struct topo *t, const char *name)
{
    char bin[PATH_MAX], listen[64];
    if (t->nservers == TOPO_MAX_SERVERS)
        return -1;
    int i = t->nservers;
    t->server_port[i] = bench_free_port();
    topo_addr(listen, sizeof(listen), t->server_port[i]);
    char *argv[] = { bench_bin(t->b, bin, sizeof(bin), "qasm-h3-server"), "--listen", listen,
                     NULL };
    if (start_and_wait(t, &t->server[i], name, argv, t->server_port[i]) < 0)
        return -1;
    t->nservers++;
    return i;
}

int topo_start_mbox(struct topo *t, const char *name, const char *function, const char *mode,
                    const char *upstream, int pool, const char *const extra[])
{
    char bin[PATH_MAX], listen[64], tracker[64], ports[32], stats[PATH_MAX];
    const char *argv[TOPO_MAX_ARGS];
    int n = 0;

    if (t->nmbox == TOPO_MAX_MBOX)
        return -1;
    int i = t->nmbox;
    t->mbox_port[i] = bench_free_port();
    topo_addr(listen, sizeof(listen), t->mbox_port[i]);
    snprintf(t->mbox_name[i], sizeof(t->mbox_name[i]), "%s", name);
    snprintf(stats, sizeof(stats), "%.3800s/%.200s.stats.json", t->b->outdir, name);
    memcpy(t->mbox_stats[i], stats, sizeof(stats));
    argv[n++] = bench_bin(t->b, bin, sizeof(bin), "qasm-mbox");
    argv[n++] = function;
    argv[n++] = "--mode";
    argv[n++] = mode;
    argv[n++] = "--listen";
    argv[n++] = listen;
    if (upstream) {
        argv[n++] = "--upstream";
        argv[n++] = upstream;
    }
    if (strcmp(function, "nat") == 0) {
        t->mbox_pool[i] = bench_free_port_range("127.0.0.1", pool);
        if (t->mbox_pool[i] == 0)
            return bench_fail("no free range of %d ports for %s", pool, name);
        snprintf(ports, sizeof(ports), "%u-%u", t->mbox_pool[i], t->mbox_pool[i] + pool - 1);
        argv[n++] = "--ports";
        argv[n++] = ports;
        t->npool[i] = pool;
    }
    if (strcmp(mode, "default") != 0 && t->have_tracker) {
        argv[n++] = "--tracker";
        argv[n++] = topo_addr(tracker, sizeof(tracker), t->tracker_port);
    }
    argv[n++] = "--stats-json";
    argv[n++] = stats;
    for (int k = 0; extra && extra[k] && n < TOPO_MAX_ARGS - 1; k++)
        argv[n++] = extra[k];
    argv[n] = NULL;
    if (start_and_wait(t, &t->mbox[i], name, (char *const *)argv, t->mbox_port[i]) < 0)
        return -1;
    t->nmbox++;
    return i;
}

/* Appends "port A" (b == 0) or "portrange A-B" to a BPF "or" list. */
static void add_port(char *buf, size_t len, unsigned a, unsigned b)
{
    size_t n = strlen(buf);
    if (b == 0)
        snprintf(buf + n, len - n, "%sport %u", n ? " or " : "", a);
    else
        snprintf(buf + n, len - n, "%sportrange %u-%u", n ? " or " : "", a, b);
}

int topo_capture_start(struct topo *t, const char *name)
{
    char bin[PATH_MAX], filter[2048] = "", out[PATH_MAX], fexpr[2100], line[256];
    if (!t->b->capture || t->capturing)
        return 0;
    if (t->have_tracker)
        add_port(filter, sizeof(filter), t->tracker_port, 0);
    for (int i = 0; i < t->nservers; i++)
        add_port(filter, sizeof(filter), t->server_port[i], 0);
    for (int i = 0; i < t->nmbox; i++) {
        add_port(filter, sizeof(filter), t->mbox_port[i], 0);
        if (t->npool[i] > 0)
            add_port(filter, sizeof(filter), t->mbox_pool[i],
                     (unsigned)(t->mbox_pool[i] + t->npool[i] - 1));
    }
    snprintf(fexpr, sizeof(fexpr), "udp and (%s)", filter[0] ? filter : "port 0");
    snprintf(out, sizeof(out), "%.3800s/%.100s.pcap", t->b->outdir, name);
    char cname[128];
    snprintf(cname, sizeof(cname), "capture-%.100s", name);
    const char *argv[] = { bench_bin(t->b, bin, sizeof(bin), "qasm-capture"), "-w", out, "-i", "lo",
                           "-f", fexpr, NULL };
    if (bench_proc_start(&t->capture, cname, t->b->outdir, (char *const *)argv, NULL) < 0)
        return bench_fail("cannot start qasm-capture");
    /* Wait for its "capturing on" line so the first packets are not missed. */
    for (int k = 0; k < 300; k++) {
        FILE *f = fopen(t->capture.log, "r");
        int up = 0;
        while (f && fgets(line, sizeof(line), f))
            up |= strstr(line, "capturing on") != NULL;
        if (f)
            fclose(f);
        if (up) {
            t->capturing = 1;
            t->ncaptures++;
            return 0;
        }
        if (!bench_proc_alive(&t->capture))
            break;
        bench_sleep(0.01);
    }
    bench_proc_tail(&t->capture, 5);
    return bench_fail("qasm-capture did not start (needs root / CAP_NET_RAW)");
}

int topo_start_client(struct topo *t, struct bench_proc *p, const char *name,
                      const char *connect, int agent, const char *const extra[], const char *url)
{
    if (topo_capture_start(t, name) < 0)
        return -1;
    char bin[PATH_MAX], out[PATH_MAX], trk[64], trkenv[80];
    const char *argv[TOPO_MAX_ARGS];
    char *env[4] = { NULL };
    int n = 0;

    argv[n++] = bench_bin(t->b, bin, sizeof(bin), "qasm-h3-client");
    argv[n++] = "--json";
    if (connect) {
        argv[n++] = "--connect";
        argv[n++] = connect;
    }
    for (int k = 0; extra && extra[k] && n < TOPO_MAX_ARGS - 2; k++)
        argv[n++] = extra[k];
    argv[n++] = url;
    argv[n] = NULL;
    if (agent && t->have_tracker) {
        snprintf(trkenv, sizeof(trkenv), "QASM_TRACKER=%s",
                 topo_addr(trk, sizeof(trk), t->tracker_port));
        env[0] = t->b->agent;
        env[1] = trkenv;
    }
    snprintf(out, sizeof(out), "%.3800s/%.200s.json", t->b->outdir, name);
    if (bench_proc_start_out(p, name, t->b->outdir, (char *const *)argv, env, out) < 0)
        return bench_fail("cannot start %s", argv[0]);
    return 0;
}

json_t *topo_client_result(struct topo *t, struct bench_proc *p, const char *name,
                           double timeout_s)
{
    char out[PATH_MAX];
    int st = bench_proc_wait(p, timeout_s);
    if (st < 0) {
        bench_fail("%s still running after %.0f s: stopped", name, timeout_s);
        bench_proc_stop(p);
    }
    /* A tracker, server or middlebox that died during the run makes the
     * figures meaningless: say which, and record it in the summary. */
    if (topo_check_alive(t) < 0 && t->b->summary != NULL) {
        json_t *died = json_object_get(t->b->summary, "process_died");
        if (died == NULL)
            json_object_set_new(t->b->summary, "process_died", died = json_array());
        json_array_append_new(died, json_string(name));
    }
    snprintf(out, sizeof(out), "%.3800s/%.200s.json", t->b->outdir, name);
    json_t *j = bench_json_load(out);
    if (j == NULL) {
        bench_proc_tail(p, 20);
        bench_fail("%s (exit %d) wrote no JSON summary", name, p->status);
    }
    return j;
}

json_t *topo_run_client(struct topo *t, const char *name, const char *connect, int agent,
                        const char *const extra[], const char *url, double timeout_s)
{
    struct bench_proc p;
    if (topo_start_client(t, &p, name, connect, agent, extra, url) < 0)
        return NULL;
    return topo_client_result(t, &p, name, timeout_s);
}

json_t *topo_mbox_stats(struct topo *t, int i)
{
    if (bench_proc_alive(&t->mbox[i])) {
        bench_proc_signal(&t->mbox[i], SIGUSR1);
        bench_sleep(0.15);
    }
    return bench_json_load(t->mbox_stats[i]);
}

int topo_check_alive(struct topo *t)
{
    struct bench_proc *all[1 + TOPO_MAX_SERVERS + TOPO_MAX_MBOX];
    int n = 0;
    if (t->have_tracker)
        all[n++] = &t->tracker;
    for (int i = 0; i < t->nservers; i++)
        all[n++] = &t->server[i];
    for (int i = 0; i < t->nmbox; i++)
        all[n++] = &t->mbox[i];
    for (int i = 0; i < n; i++) {
        if (!bench_proc_alive(all[i])) {
            bench_proc_tail(all[i], 20);
            return bench_fail("%s died during the run (exit status %d): its figures are void, "
                              "see %s", all[i]->name, all[i]->status, all[i]->log);
        }
    }
    return 0;
}

void topo_stop(struct topo *t)
{
    if (t->capturing) {
        bench_sleep(0.05); /* the last packets in flight */
        bench_proc_stop(&t->capture);
        t->capturing = 0;
    }
    /* Every port the topology was given goes back once its process is gone:
     * a run starts hundreds of topologies, and ports kept until exit would
     * scatter over the space until no NAT pool of 2048 fits any more. */
    for (int i = 0; i < t->nmbox; i++) {
        bench_proc_stop(&t->mbox[i]);
        bench_release_ports(t->mbox_port[i], 1);
        if (t->npool[i] > 0) {
            bench_release_ports(t->mbox_pool[i], t->npool[i]);
            t->npool[i] = 0;
        }
    }
    for (int i = 0; i < t->nservers; i++) {
        bench_proc_stop(&t->server[i]);
        bench_release_ports(t->server_port[i], 1);
    }
    if (t->have_tracker) {
        bench_proc_stop(&t->tracker);
        bench_release_ports(t->tracker_port, 1);
    }
}

/* The topology interface: loopback here, netns in topo_netns.c. */

int topo_modes(const struct bench *b, const char *const **modes)
{
    if (b->netns)
        return topo_netns_modes(b, b->hop, modes);
    *modes = bench_modes;
    return 3;
}

const char *topo_label(const struct bench *b)
{
    return b->netns ? " (netns)" : "";
}

int topo_mode_aware(const char *mode)
{
    return strcmp(mode, "reactive") == 0 || strcmp(mode, "proactive") == 0 ||
           strcmp(mode, "normalize") == 0;
}

int topo_nat_open(struct topo *t, struct bench *b, const char *mode, int pool, int entries)
{
    char upstream[64], name[32], ent[16];
    topo_init(t, b);
    t->netns = b->netns;
    if (t->netns)
        return topo_netns_nat_open(&t->ns, b, b->hop, mode, pool, entries);
    snprintf(ent, sizeof(ent), "%d", entries);
    const char *natargs[] = { "--stats-entries", ent, NULL };
    if (topo_start_tracker(t) < 0 || topo_start_server(t, "server") < 0)
        return -1;
    topo_addr(upstream, sizeof(upstream), t->server_port[0]);
    snprintf(name, sizeof(name), "nat1-%s", mode);
    t->hop = topo_start_mbox(t, name, "nat", mode, upstream, pool, entries > 0 ? natargs : NULL);
    if (t->hop < 0)
        return -1;
    topo_addr(t->entry, sizeof(t->entry), t->mbox_port[t->hop]);
    return 0;
}

int topo_lb_open(struct topo *t, struct bench *b, const char *mode)
{
    char n0[32], n1[32], be0[64], be1[64], name[32];
    topo_init(t, b);
    t->netns = b->netns;
    if (t->netns)
        return topo_netns_lb_open(&t->ns, b, b->hop, mode);
    snprintf(n0, sizeof(n0), "backend0-%s", mode);
    snprintf(n1, sizeof(n1), "backend1-%s", mode);
    if (topo_start_tracker(t) < 0 || topo_start_server(t, n0) < 0 ||
        topo_start_server(t, n1) < 0)
        return -1;
    topo_addr(be0, sizeof(be0), t->server_port[0]);
    topo_addr(be1, sizeof(be1), t->server_port[1]);
    const char *lbargs[] = { "--backend", be0, "--backend", be1, NULL };
    snprintf(name, sizeof(name), "lb-%s", mode);
    t->hop = topo_start_mbox(t, name, "lb", mode, NULL, 0, lbargs);
    if (t->hop < 0)
        return -1;
    topo_addr(t->entry, sizeof(t->entry), t->mbox_port[t->hop]);
    return 0;
}

int topo_rl_open(struct topo *t, struct bench *b, const char *mode, const char *const rl[])
{
    char upstream[64], name[32];
    topo_init(t, b);
    t->netns = b->netns;
    if (t->netns)
        return topo_netns_rl_open(&t->ns, b, b->hop, mode, rl);
    if (topo_start_tracker(t) < 0 || topo_start_server(t, "server") < 0)
        return -1;
    topo_addr(upstream, sizeof(upstream), t->server_port[0]);
    snprintf(name, sizeof(name), "ratelimit-%s", mode);
    t->hop = topo_start_mbox(t, name, "ratelimit", mode, upstream, 0, rl);
    if (t->hop < 0)
        return -1;
    topo_addr(t->entry, sizeof(t->entry), t->mbox_port[t->hop]);
    return 0;
}

const char *topo_client_addrs(const struct topo *t)
{
    return t->netns ? TOPO_NETNS_CLIENT_ADDRS : "127.0.0.2-127.0.0.9";
}

int topo_client_start(struct topo *t, struct bench_proc *p, const char *name,
                      const char *const extra[])
{
    char url[128];
    if (t->netns)
        return topo_netns_client_start(&t->ns, p, name, extra);
    return topo_start_client(t, p, name, t->entry, 1, extra,
                             topo_url(t, url, sizeof(url), 0, "/"));
}

json_t *topo_client_wait(struct topo *t, struct bench_proc *p, const char *name,
                         double timeout_s, int *status)
{
    if (t->netns)
        return topo_netns_client_wait(&t->ns, p, name, timeout_s, status);
    json_t *j = topo_client_result(t, p, name, timeout_s);
    *status = p->status;
    return j;
}

json_t *topo_client(struct topo *t, const char *name, const char *const extra[],
                    double timeout_s, int *status)
{
    struct bench_proc p;
    *status = -1;
    if (topo_client_start(t, &p, name, extra) < 0)
        return NULL;
    return topo_client_wait(t, &p, name, timeout_s, status);
}

json_t *topo_hop_table(struct topo *t, const char *mode)
{
    if (t->netns)
        return topo_netns_table(&t->ns, mode);
    return topo_mbox_stats(t, t->hop);
}

double topo_hop_forwarded(json_t *st)
{
    if (st == NULL)
        return -1;
    return bench_json_num(st, "packets_forwarded", 0) -
           bench_json_num(st, "packets_dropped.xdp_slow_rate_limited", 0) +
           bench_json_num(st, "xdp.forwarded", 0) + bench_json_num(st, "xdp.packets_sent", 0);
}

double topo_unknown_dcid(const struct topo *t)
{
    int n = t->netns ? t->ns.nservers : t->nservers;
    double sum = 0;
    for (int k = 0; k < n; k++) {
        json_t *sj = bench_json_load(t->netns ? t->ns.server[k].log : t->server[k].log);
        sum += bench_json_num(sj, "unknown_dcid", 0);
        json_decref(sj);
    }
    return sum;
}

void topo_close(struct topo *t)
{
    if (t->netns)
        topo_netns_close(&t->ns);
    else
        topo_stop(t);
}
