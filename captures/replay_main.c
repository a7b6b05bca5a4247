/*
 * replay_main.c: qasm-replay, replay pcap / pcapng captures through a
 * middlebox core (see replay.h) and print what it did.
 *
 *   qasm-replay FILE... --function nat|ratelimit|lb --mode default|reactive|proactive
 *               [function flags as in qasm-mbox] [--json] [--write OUT.pcap]
 *               [--tracker-events FILE]
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <pcap/pcap.h>

#include "addr.h"
#include "cli.h"
#include "cid.h"
#include "clock.h"
#include "events.h"
#include "linktype.h"
#include "mbox.h"
#include "mbox_flags.h"
#include "replay.h"
#include "replay_opts.h"
#include "store.h"

/* ---- JSON output (one object, nested objects and arrays), built with jansson ---- */

struct jw {
    FILE *f;
    int depth;
    json_t *stack[16];  /* the open containers; stack[0] is the whole object */
};

/* Adds |v| to the innermost open container: under |key| in an object, appended to an array. */
static void jw_add(struct jw *j, const char *key, json_t *v)
{
    json_t *c = j->stack[j->depth];
    if (json_is_object(c))
        json_object_set_new(c, key, v);
    else
        json_array_append_new(c, v);
}

static void jw_open(struct jw *j, const char *key, char c)
{
    json_t *v = c == '{' ? json_object() : json_array();
    if (j->depth >= 0)
        jw_add(j, key, v);
    j->stack[++j->depth] = v;
}

/*
 * Closing the whole object prints it: one member per line, indented by two
 * spaces per level, keys in the order written, so expectations diff well.
 */
static void jw_close(struct jw *j, char c)
{
    (void)c;
    if (--j->depth >= 0)
        return;
    json_dumpf(j->stack[0], j->f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j->stack[0]);
}

static void jw_u64(struct jw *j, const char *key, uint64_t v)
{
    jw_add(j, key, json_integer((json_int_t)v));
}

static void jw_i64(struct jw *j, const char *key, int64_t v)
{
    jw_add(j, key, json_integer((json_int_t)v));
}

static void jw_str(struct jw *j, const char *key, const char *s)
{
    jw_add(j, key, json_string(s));
}

/* ---- output ---- */

static void json_mbox(struct jw *j, const struct qasm_mbox_config *cfg, const struct qasm_mbox *m)
{
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(m, &st);

    jw_open(j, "middlebox", '{');
    jw_str(j, "function", qasm_mbox_function_name(cfg->function));
    jw_str(j, "mode", qasm_mbox_mode_name(cfg->mode));
    jw_u64(j, "mappings", st.mappings);
    jw_u64(j, "mappings_created", st.mappings_created);
    jw_u64(j, "mappings_expired", st.mappings_expired);
    jw_u64(j, "flows", st.flows);
    jw_u64(j, "conns", st.conns);
    jw_u64(j, "dcids", st.dcids);
    jw_u64(j, "ports_in_use", st.ports_in_use);
    jw_u64(j, "ports_high_water", st.ports_high_water);
    jw_u64(j, "packets_in", st.packets_in);
    jw_u64(j, "packets_forwarded", st.packets_forwarded);
    jw_open(j, "packets_dropped", '{');
    jw_u64(j, "total", st.packets_dropped);
    for (int r = 1; r < QASM_MBOX_DROP_MAX; r++)
        jw_u64(j, qasm_mbox_drop_name((enum qasm_mbox_drop_reason)r), st.packets_dropped_by[r]);
    jw_close(j, '}');
    jw_u64(j, "packets_held", st.packets_held);
    jw_u64(j, "packets_released", st.packets_released);
    jw_u64(j, "released_joined", st.released_joined);
    jw_u64(j, "released_default", st.released_default);
    jw_u64(j, "hold_timeouts", st.hold_timeouts);
    jw_u64(j, "held_now", st.held_now);
    jw_u64(j, "migrations", st.migrations);
    jw_u64(j, "unattested", st.unattested);
    jw_u64(j, "cid_lens_learned", st.cid_lens_learned);
    jw_u64(j, "tracker_queries", st.tracker_queries);
    jw_u64(j, "tracker_waits", st.tracker_waits);
    jw_u64(j, "tracker_answers", st.tracker_answers);
    jw_u64(j, "tracker_not_found", st.tracker_not_found);
    jw_u64(j, "tracker_timeouts", st.tracker_timeouts);
    jw_u64(j, "tracker_late", st.tracker_late);
    jw_u64(j, "tracker_pushes", st.tracker_pushes);
    jw_u64(j, "tracker_subscribes", st.tracker_subscribes);
    jw_u64(j, "tracker_unsubscribes", st.tracker_unsubscribes);
    jw_u64(j, "tracker_unavailable", st.tracker_unavailable);
    jw_u64(j, "requests_dropped", st.requests_dropped);
    jw_u64(j, "cache_hits", st.cache_hits);
    jw_u64(j, "cache_misses", st.cache_misses);
    jw_open(j, "paths", '{');
    for (int p = 0; p < QASM_MBOX_PATH_MAX; p++)
        jw_u64(j, qasm_mbox_path_name((enum qasm_mbox_path)p), st.path[p]);
    jw_close(j, '}');
    jw_open(j, "classes", '{');
    for (int c = 0; c < QASM_MBOX_CLASS_MAX; c++)
        jw_u64(j, qasm_mbox_class_name((enum qasm_mbox_class)c), st.cls[c]);
    jw_close(j, '}');
    jw_close(j, '}');
}

static void print_json(const struct qasm_replay *r, const struct qasm_mbox_config *cfg,
                       const char *link)
{
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    struct jw j = { .f = stdout, .depth = -1 };
    char buf[QASM_ADDR_STRLEN > QASM_CID_HEXLEN ? QASM_ADDR_STRLEN : QASM_CID_HEXLEN];

    jw_open(&j, NULL, '{');
    jw_str(&j, "link_type", link);
    jw_u64(&j, "duration_us",
           (qasm_replay_last_ts(r) - qasm_replay_first_ts(r)) / QASM_US);
    jw_u64(&j, "packets", c->packets);
    jw_u64(&j, "udp_packets", c->udp_packets);
    jw_u64(&j, "quic_packets", c->quic_packets);
    jw_u64(&j, "quic_fixed_bit_clear", c->quic_greased);
    jw_open(&j, "skipped", '{');
    jw_u64(&j, "not_ip", c->not_ip);
    jw_u64(&j, "unsupported_link", c->unsupported_link);
    jw_u64(&j, "not_udp", c->not_udp);
    jw_u64(&j, "fragments", c->fragments);
    jw_u64(&j, "truncated", c->truncated);
    jw_u64(&j, "padded", c->padded);
    jw_u64(&j, "malformed_ip", c->malformed_ip);
    jw_u64(&j, "other_hop", c->other_hop);
    jw_close(&j, '}');
    jw_u64(&j, "time_backwards", c->time_backwards);
    jw_open(&j, "tracker", '{');
    jw_u64(&j, "messages", c->tracker_msgs);
    jw_u64(&j, "malformed", c->tracker_bad);
    jw_u64(&j, "events", c->tracker_events);
    jw_u64(&j, "reports_applied", c->reports_applied);
    jw_u64(&j, "reports_rejected", c->reports_rejected);
    {
        const struct qasm_store_stats *ts = qasm_replay_tracker_stats(r);
        jw_u64(&j, "rejected_trust", ts->rejected_trust);
        /* not from the connection's owner: no MAC, a bad one, another secret */
        jw_u64(&j, "rejected_owner",
               ts->rejected_unauth + ts->rejected_bad_mac + ts->rejected_owner);
        jw_u64(&j, "ignored_closed", ts->ignored_closed);
        jw_u64(&j, "unchanged", ts->unchanged);
        jw_u64(&j, "conns_created", ts->created);
        jw_u64(&j, "conns_closed", ts->closed);
    }
    jw_u64(&j, "queries_answered", c->queries_answered);
    jw_u64(&j, "queries_not_found", c->queries_not_found);
    jw_u64(&j, "pushes", c->pushes);
    jw_close(&j, '}');
    jw_open(&j, "replay", '{');
    jw_u64(&j, "mbox_packets", c->mbox_packets);
    jw_u64(&j, "from_client", c->from_client);
    jw_u64(&j, "from_server", c->from_server);
    jw_u64(&j, "unattributed_quic", c->unattributed_quic);
    jw_u64(&j, "ports_opened", c->ports_opened);
    jw_u64(&j, "ports_closed", c->ports_closed);
    jw_u64(&j, "return_misrouted", c->return_misrouted);
    jw_u64(&j, "deferred", c->deferred);
    jw_u64(&j, "written", c->written);
    jw_close(&j, '}');

    jw_open(&j, "connections", '[');
    for (size_t i = 0; i < qasm_replay_nconns(r); i++) {
        const struct qasm_replay_conn *k = qasm_replay_conn(r, i);
        jw_open(&j, NULL, '{');
        jw_str(&j, "odcid", qasm_cid_hex(buf, &k->odcid));
        jw_str(&j, "server", qasm_addr_format(buf, sizeof(buf), &k->server));
        jw_open(&j, "dcids", '[');
        for (size_t d = 0; d < k->ndcids; d++)
            jw_str(&j, NULL, qasm_cid_hex(buf, &k->dcids[d]));
        jw_close(&j, ']');
        jw_open(&j, "clients", '[');
        for (size_t a = 0; a < k->nclients; a++)
            jw_str(&j, NULL, qasm_addr_format(buf, sizeof(buf), &k->clients[a]));
        jw_close(&j, ']');
        jw_u64(&j, "in_reports", (uint64_t)k->in_reports);
        /* addresses seen in packets that no accepted report vouched for (hijack, race lost) */
        jw_open(&j, "unattested_clients", '[');
        for (size_t a = 0; k->in_reports && a < k->nclients; a++) {
            size_t b;
            for (b = 0; b < k->nattested; b++)
                if (qasm_addr_eq(&k->attested[b], &k->clients[a]))
                    break;
            if (b == k->nattested)
                jw_str(&j, NULL, qasm_addr_format(buf, sizeof(buf), &k->clients[a]));
        }
        jw_close(&j, ']');
        jw_u64(&j, "packets", k->packets);
        jw_u64(&j, "forwarded", k->forwarded);
        jw_u64(&j, "dropped", k->dropped);
        jw_u64(&j, "held", k->held);
        if (cfg->function == QASM_MBOX_NAT) {
            jw_open(&j, "public_ports", '[');
            for (size_t p = 0; p < k->nports; p++)
                jw_u64(&j, NULL, k->ports[p]);
            jw_close(&j, ']');
        }
        if (cfg->function == QASM_MBOX_LB) {
            jw_open(&j, "backends", '[');
            for (size_t b = 0; b < k->nbackends; b++)
                jw_i64(&j, NULL, k->backends[b]);
            jw_close(&j, ']');
        }
        jw_close(&j, '}');
    }
    jw_close(&j, ']');
    json_mbox(&j, cfg, qasm_replay_mbox(r));
    jw_close(&j, '}');
    fputc('\n', stdout);
}

static void print_text(const struct qasm_replay *r, const struct qasm_mbox_config *cfg,
                       const char *link)
{
    const struct qasm_replay_counts *c = qasm_replay_counts(r);
    struct qasm_mbox_stats st;
    char buf[QASM_ADDR_STRLEN > QASM_CID_HEXLEN ? QASM_ADDR_STRLEN : QASM_CID_HEXLEN];

    qasm_mbox_get_stats(qasm_replay_mbox(r), &st);
    printf("replay: %s %s, link type %s, %.3f s of capture\n",
           qasm_mbox_function_name(cfg->function), qasm_mbox_mode_name(cfg->mode), link,
           (double)(qasm_replay_last_ts(r) - qasm_replay_first_ts(r)) / 1e9);
    printf("packets: %" PRIu64 " read, %" PRIu64 " UDP, %" PRIu64 " QUIC (%" PRIu64
           " with the fixed bit clear), %" PRIu64 " tracker messages (%" PRIu64
           " reports applied, %" PRIu64 " rejected)\n",
           c->packets, c->udp_packets, c->quic_packets, c->quic_greased, c->tracker_msgs,
           c->reports_applied, c->reports_rejected);
    printf("skipped: %" PRIu64 " not IP, %" PRIu64 " not UDP, %" PRIu64 " fragments, %" PRIu64
           " truncated, %" PRIu64 " malformed, %" PRIu64 " other hop, %" PRIu64
           " bad tracker messages\n",
           c->not_ip + c->unsupported_link, c->not_udp, c->fragments, c->truncated,
           c->malformed_ip, c->other_hop, c->tracker_bad);
    printf("middlebox: %" PRIu64 " in (%" PRIu64 " from clients, %" PRIu64
           " from servers), %" PRIu64 " forwarded, %" PRIu64 " dropped, %" PRIu64 " held\n",
           st.packets_in, c->from_client, c->from_server, st.packets_forwarded,
           st.packets_dropped, st.packets_held);
    for (int k = 1; k < QASM_MBOX_DROP_MAX; k++)
        if (st.packets_dropped_by[k])
            printf("  dropped %s: %" PRIu64 "\n",
                   qasm_mbox_drop_name((enum qasm_mbox_drop_reason)k), st.packets_dropped_by[k]);
    printf("state: %" PRIu64 " mappings created, %" PRIu64 " now, %" PRIu64
           " expired; %" PRIu64 " migrations followed, %" PRIu64 " unattested\n",
           st.mappings_created, st.mappings, st.mappings_expired, st.migrations, st.unattested);
    if (cfg->function == QASM_MBOX_NAT)
        printf("nat: %" PRIu64 " public ports in use, high water %" PRIu64
               ", %" PRIu64 " return packets misrouted\n",
               st.ports_in_use, st.ports_high_water, c->return_misrouted);
    if (cfg->mode != QASM_MBOX_DEFAULT)
        printf("tracker: %" PRIu64 " queries (%" PRIu64 " answered, %" PRIu64
               " not found), %" PRIu64 " pushes, cache %" PRIu64 " hits %" PRIu64 " misses\n",
               st.tracker_queries, c->queries_answered, c->queries_not_found, c->pushes,
               st.cache_hits, st.cache_misses);
    printf("connections: %zu\n", qasm_replay_nconns(r));
    for (size_t i = 0; i < qasm_replay_nconns(r); i++) {
        const struct qasm_replay_conn *k = qasm_replay_conn(r, i);
        char srv[QASM_ADDR_STRLEN];
        printf("  %s -> %s: %zu DCIDs, %zu client addresses, %" PRIu64 " packets, %" PRIu64
               " forwarded, %" PRIu64 " dropped",
               qasm_cid_hex(buf, &k->odcid), qasm_addr_format(srv, sizeof(srv), &k->server),
               k->ndcids, k->nclients, k->packets, k->forwarded, k->dropped);
        if (cfg->function == QASM_MBOX_NAT)
            printf(", %zu public ports", k->nports);
        if (cfg->function == QASM_MBOX_LB)
            printf(", %zu backends", k->nbackends);
        putchar('\n');
    }
}

/* ---- input ---- */

struct writer {
    pcap_t *dead;
    pcap_dumper_t *d;
};

static void out_cb(void *ud, qasm_tstamp t, const uint8_t *ip, size_t len)
{
    struct writer *w = ud;
    struct pcap_pkthdr h;
    h.ts.tv_sec = (time_t)(t / QASM_SEC);
    h.ts.tv_usec = (suseconds_t)(t % QASM_SEC / 1000);
    h.caplen = h.len = (bpf_u_int32)len;
    pcap_dump((u_char *)w->d, &h, ip);
}

/* Opens every capture first: a bad file is an error before any output. 0, or -1 (said). */
static int open_captures(const struct qasm_replay_opts *o, pcap_t **caps, const char **link)
{
    *link = NULL;
    for (int i = 0; i < o->nfiles; i++) {
        char err[PCAP_ERRBUF_SIZE];
        const char *path = o->files[i];
        caps[i] = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
        if (!caps[i]) {
            /* libpcap's message may already name the file */
            if (strstr(err, path))
                fprintf(stderr, "qasm-replay: %s\n", err);
            else
                fprintf(stderr, "qasm-replay: %s: %s\n", path, err);
            return -1;
        }
        int dlt = pcap_datalink(caps[i]);
        if (!qasm_link_supported(dlt)) {
            fprintf(stderr, "qasm-replay: %s: unsupported link type %d (%s)\n", path, dlt,
                    pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
            return -1;
        }
        const char *name = qasm_link_name(dlt);
        *link = !*link || strcmp(*link, name) == 0 ? name : "mixed";
    }
    return 0;
}

/* --write: a raw-IP pcap writer for the forwarded packets. 0, or -1 (said). */
static int open_writer(struct writer *w, const char *path)
{
    w->dead = pcap_open_dead_with_tstamp_precision(DLT_RAW, 65535, PCAP_TSTAMP_PRECISION_MICRO);
    w->d = w->dead ? pcap_dump_open(w->dead, path) : NULL;
    if (!w->d) {
        const char *why = w->dead ? pcap_geterr(w->dead) : "cannot open";
        if (strstr(why, path))
            fprintf(stderr, "qasm-replay: %s\n", why);
        else
            fprintf(stderr, "qasm-replay: %s: %s\n", path, why);
        return -1;
    }
    return 0;
}

/* Every frame of every file through the replay, the events in time order between them.
 * Returns 1 when a file could not be read to its end (said), else 0. */
static int replay_files(struct qasm_replay *r, const struct qasm_replay_opts *o, pcap_t **caps,
                        struct qasm_events *ev)
{
    size_t next_ev = 0;
    int read_failed = 0;
    const struct qasm_proto_msg *m;
    qasm_tstamp et;
    for (int i = 0; i < o->nfiles; i++) {
        int dlt = pcap_datalink(caps[i]);
        struct pcap_pkthdr *h;
        const u_char *data;
        uint64_t nread = 0;
        int prv;
        while ((prv = pcap_next_ex(caps[i], &h, &data)) == 1) {
            nread++;
            qasm_tstamp t = (qasm_tstamp)h->ts.tv_sec * QASM_SEC + (qasm_tstamp)h->ts.tv_usec;
            while (ev && qasm_events_get(ev, next_ev, &et, &m) == 0 && et <= t) {
                qasm_replay_event(r, et, m);
                next_ev++;
            }
            qasm_replay_frame(r, t, dlt, data, h->caplen, h->len);
        }
        /* The summary still covers what was read, but a cut or corrupt file
         * is not a clean result: exit 1 and say where it broke. */
        if (prv == -1) {
            fprintf(stderr, "qasm-replay: %s: read error at packet %" PRIu64 " (after %" PRIu64
                    " good packets): %s\n", o->files[i], nread + 1, nread,
                    pcap_geterr(caps[i]));
            read_failed = 1;
        }
        pcap_close(caps[i]);
    }
    while (ev && qasm_events_get(ev, next_ev, &et, &m) == 0) {
        qasm_replay_event(r, et, m);
        next_ev++;
    }
    qasm_replay_finish(r);
    return read_failed;
}

int main(int argc, char **argv)
{
    static struct qasm_replay_opts o;  /* the replay's config points into it */
    char err[512];
    qasm_cli_front("qasm-replay", argc, argv);
    int rv = qasm_replay_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_replay_usage(), stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit("qasm-replay", err);
    qasm_cli_resolve_names("qasm-replay", &o.fl.names);
    const char *link;
    pcap_t **caps = calloc((size_t)o.nfiles, sizeof(*caps));
    if (!caps || open_captures(&o, caps, &link) < 0)
        return 1;
    struct qasm_events *ev = NULL;
    if (o.events_path && qasm_events_load(&ev, o.events_path, err, sizeof(err)) < 0) {
        fprintf(stderr, "qasm-replay: %s: %s\n", o.events_path, err);
        return 1;
    }
    struct writer w = { 0 };
    if (o.write_path) {
        if (open_writer(&w, o.write_path) < 0)
            return 1;
        o.rc.out = out_cb;
        o.rc.out_ud = &w;
    }
    struct qasm_replay *r;
    rv = qasm_replay_new(&r, &o.rc);
    if (rv < 0) {
        fprintf(stderr, "qasm-replay: invalid configuration for %s/%s: %s\n", o.fn_s, o.mode_s,
                strerror(-rv));
        return 2;
    }
    int read_failed = replay_files(r, &o, caps, ev);
    if (o.json)
        print_json(r, &o.rc.mbox, link);
    else
        print_text(r, &o.rc.mbox, link);
    if (w.d) {
        pcap_dump_close(w.d);
        pcap_close(w.dead);
    }
    qasm_replay_del(r);
    qasm_events_del(ev);
    free(caps);
    return read_failed ? 1 : 0;
}
