/*
 * replay_main.c: qasm-replay, replay pcap / pcapng captures through a
 * middlebox core (see replay.h) and print what it did.
 *
 *   qasm-replay FILE... --function nat|ratelimit|lb --mode default|reactive|proactive
 *               [function flags as in qasm-mbox] [--json] [--write OUT.pcap]
 *               [--tracker-events FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "events.h"
#include "linktype.h"
#include "../middleboxes/mbox.h"
#include "../middleboxes/mbox_flags.h"
#include "replay.h"
#include "../tracker/store.h"

static const char usage_text[] =
    "usage: qasm-replay FILE... --function nat|ratelimit|lb --mode default|reactive|proactive\n"
    "                   [options]\n"
    "Replays pcap/pcapng captures through a QASM middlebox core on the capture's own clock\n"
    "and prints what the middlebox did. Agent reports (tracker protocol datagrams) found in\n"
    "the capture feed an embedded tracker, so the aware modes replay faithfully.\n"
    "\n"
    "  --function F            nat, ratelimit or lb (required)\n"
    "  --mode M                default, reactive or proactive (required)\n"
    "  --json                  print one JSON object instead of the text summary\n"
    "  --write OUT.pcap        write the forwarded packets, translated (raw IP link type)\n"
    "  --tracker-events FILE   agent reports as JSON lines (see docs/CAPTURES.md)\n"
    "  --no-capture-reports    ignore the agent reports found in the capture\n"
    "  --trust-any             accept reports whose client IP is not the datagram's source\n"
    "  --pad-truncated         use frames cut by the snap length whose headers were\n"
    "                          captured (missing payload bytes read as zeros)\n"
    "  --tracker-rtt T         round trip between middlebox and tracker (default 0: the\n"
    "                          tracker answers at once)\n"
    "  --server HOST:PORT      a server address (repeatable); default: learned from client\n"
    "                          Initials and REPORT_OPEN\n"
    " function flags (as in qasm-mbox):\n"
    "  --public IP             nat: public IP (default 127.0.0.1, ::1 for IPv6 servers)\n"
    "  --ports LO-HI           nat: public port pool (default 40000-40063)\n"
    "  --udp-timeout T         idle timeout before traffic flowed both ways (default 30s)\n"
    "  --udp-stream-timeout T  idle timeout after (default 120s)\n"
    "  --rate R --burst N      ratelimit: tokens per second and bucket depth (default 5, 5)\n"
    "  --bytes                 ratelimit: count bytes instead of packets\n"
    "  --backend HOST:PORT     lb: a backend (repeatable, at least one)\n"
    "  --hold T                aware modes: the tracker's wait for a held packet (default 2ms)\n"
    "  --hold-ceiling T        longest a held packet waits for the answer (default 100ms)\n"
    "  --hold-max N --hold-per-dcid N --cache-ttl T --query-timeout T --max-entries N --seed N\n"
    "  --fallback-per-conn N   as qasm-mbox (docs/MIDDLEBOXES.md; max-entries default 65536)\n"
    "  --help                  this text\n"
    "Exit status: 0 ok, 1 unreadable input (also a read error part-way through a\n"
    "file: the summary covers the packets before it), 2 bad usage.\n";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("qasm-replay: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see --help)\n", stderr);
    exit(2);
}

static qasm_duration parse_dur(const char *name, const char *s)
{
    qasm_duration d;
    if (qasm_duration_parse(&d, s) < 0)
        fail("--%s: expected a duration like 2ms or 30s, got '%s'", name, s);
    return d;
}



/* ---- JSON output (one object, nested objects and arrays) ---- */

struct jw {
    FILE *f;
    int depth;
    int first[16];
};

/* One member per line, indented by two spaces per level, so expectations diff well. */
static void jw_sep(struct jw *j, const char *key)
{
    if (!j->first[j->depth])
        fputc(',', j->f);
    j->first[j->depth] = 0;
    fprintf(j->f, "\n%*s", 2 * (j->depth + 1), "");
    if (key)
        fprintf(j->f, "\"%s\": ", key);
}

static void jw_open(struct jw *j, const char *key, char c)
{
    if (j->depth >= 0)
        jw_sep(j, key);
    fputc(c, j->f);
    j->first[++j->depth] = 1;
}

static void jw_close(struct jw *j, char c)
{
    if (!j->first[j->depth])
        fprintf(j->f, "\n%*s", 2 * j->depth, "");
    fputc(c, j->f);
    j->depth--;
}

static void jw_u64(struct jw *j, const char *key, uint64_t v)
{
    jw_sep(j, key);
    fprintf(j->f, "%" PRIu64, v);
}

static void jw_i64(struct jw *j, const char *key, int64_t v)
{
    jw_sep(j, key);
    fprintf(j->f, "%" PRId64, v);
}

/* Strings here are names, hex and addresses: nothing to escape but be safe. */
static void jw_str(struct jw *j, const char *key, const char *s)
{
    jw_sep(j, key);
    fputc('"', j->f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(j->f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(j->f, "\\u%04x", *s);
        else
            fputc(*s, j->f);
    }
    fputc('"', j->f);
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
        jw_open(&j, "client_addrs", '[');
        for (size_t a = 0; a < k->nclients; a++)
            jw_str(&j, NULL, qasm_addr_format(buf, sizeof(buf), &k->clients[a]));
        jw_close(&j, ']');
        jw_u64(&j, "in_reports", (uint64_t)k->in_reports);
        /* addresses seen in packets that no accepted report vouched for (hijack, race lost) */
        jw_open(&j, "unattested_addrs", '[');
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

int main(int argc, char **argv)
{
    enum {
        OPT_FUNCTION = 256, OPT_MODE, OPT_JSON, OPT_WRITE, OPT_EVENTS, OPT_NO_REPORTS,
        OPT_TRUST_ANY, OPT_SERVER, OPT_FN_FLAG, OPT_RTT, OPT_PAD, OPT_HELP
    };
    static const struct option opts[] = {
        { "function", required_argument, NULL, OPT_FUNCTION },
        { "mode", required_argument, NULL, OPT_MODE },
        { "json", no_argument, NULL, OPT_JSON },
        { "write", required_argument, NULL, OPT_WRITE },
        { "tracker-events", required_argument, NULL, OPT_EVENTS },
        { "no-capture-reports", no_argument, NULL, OPT_NO_REPORTS },
        { "trust-any", no_argument, NULL, OPT_TRUST_ANY },
        { "server", required_argument, NULL, OPT_SERVER },
        QASM_MBOX_FLAG_OPTIONS(OPT_FN_FLAG),
        { "tracker-rtt", required_argument, NULL, OPT_RTT },
        { "pad-truncated", no_argument, NULL, OPT_PAD },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    const char *fn_s = NULL, *mode_s = NULL, *write_path = NULL, *events_path = NULL;
    int json = 0;
    static struct qasm_replay_config rc;
    static struct qasm_mbox_flags fl;
    char flag_err[256];

    rc.capture_reports = 1;
    opterr = 0;
    int c, idx = -1;
    while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        switch (c) {
        case OPT_FUNCTION: fn_s = optarg; break;
        case OPT_MODE: mode_s = optarg; break;
        case OPT_JSON: json = 1; break;
        case OPT_WRITE: write_path = optarg; break;
        case OPT_EVENTS: events_path = optarg; break;
        case OPT_NO_REPORTS: rc.capture_reports = 0; break;
        case OPT_TRUST_ANY: rc.trust_any = 1; break;
        case OPT_SERVER:
            if (rc.nservers == QASM_REPLAY_MAX_SERVERS)
                fail("--server: at most %d servers", QASM_REPLAY_MAX_SERVERS);
            if (qasm_addr_parse(&rc.servers[rc.nservers++], optarg) < 0)
                fail("--server: expected HOST:PORT or [V6]:PORT, got '%s'", optarg);
            break;
        case OPT_FN_FLAG:
            if (qasm_mbox_flags_take(&fl, opts[idx].name, optarg, flag_err, sizeof(flag_err)) < 0)
                fail("%s", flag_err);
            break;
        case OPT_RTT: rc.tracker_rtt = parse_dur("tracker-rtt", optarg); break;
        case OPT_PAD: rc.pad_truncated = 1; break;
        case OPT_HELP:
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case ':':
            fail("option %s needs a value", argv[optind - 1]);
        default:
            fail("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        fail("no capture file given");
    if (!fn_s)
        fail("--function is required (nat, ratelimit or lb)");
    if (!mode_s)
        fail("--mode is required (default, reactive or proactive)");
    enum qasm_mbox_function fn;
    enum qasm_mbox_mode mode;
    if (qasm_mbox_function_parse(&fn, fn_s) < 0)
        fail("--function: expected nat, ratelimit or lb, got '%s'", fn_s);
    if (qasm_mbox_mode_parse(&mode, mode_s) < 0)
        fail("--mode: expected default, reactive or proactive, got '%s'", mode_s);
    struct qasm_mbox_config *cfg = &rc.mbox;
    qasm_mbox_config_init(cfg, fn, mode);
    if (qasm_mbox_flags_apply(&fl, cfg, flag_err, sizeof(flag_err)) < 0)
        fail("%s", flag_err);

    /* Open every capture first: a bad file is an error before any output. */
    int nfiles = argc - optind;
    pcap_t **caps = calloc((size_t)nfiles, sizeof(*caps));
    if (!caps)
        return 1;
    const char *link = NULL;
    for (int i = 0; i < nfiles; i++) {
        char err[PCAP_ERRBUF_SIZE];
        const char *path = argv[optind + i];
        caps[i] = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
        if (!caps[i]) {
            /* libpcap's message may already name the file */
            if (strstr(err, path))
                fprintf(stderr, "qasm-replay: %s\n", err);
            else
                fprintf(stderr, "qasm-replay: %s: %s\n", path, err);
            return 1;
        }
        int dlt = pcap_datalink(caps[i]);
        if (!qasm_link_supported(dlt)) {
            fprintf(stderr, "qasm-replay: %s: unsupported link type %d (%s)\n", path, dlt,
                    pcap_datalink_val_to_name(dlt) ? pcap_datalink_val_to_name(dlt) : "?");
            return 1;
        }
        const char *name = qasm_link_name(dlt);
        link = !link || strcmp(link, name) == 0 ? name : "mixed";
    }

    /* A NAT in front of IPv6 servers gets an IPv6 public address unless told otherwise. */
    if (fn == QASM_MBOX_NAT && !fl.public_ip && rc.nservers && rc.servers[0].family == AF_INET6)
        qasm_addr_parse_ip(&cfg->nat_public, "::1", 0);

    struct qasm_events *ev = NULL;
    if (events_path) {
        char err[256];
        if (qasm_events_load(&ev, events_path, err, sizeof(err)) < 0) {
            fprintf(stderr, "qasm-replay: %s: %s\n", events_path, err);
            return 1;
        }
    }

    struct writer w = { 0 };
    if (write_path) {
        w.dead = pcap_open_dead_with_tstamp_precision(DLT_RAW, 65535, PCAP_TSTAMP_PRECISION_MICRO);
        w.d = w.dead ? pcap_dump_open(w.dead, write_path) : NULL;
        if (!w.d) {
            const char *why = w.dead ? pcap_geterr(w.dead) : "cannot open";
            if (strstr(why, write_path))
                fprintf(stderr, "qasm-replay: %s\n", why);
            else
                fprintf(stderr, "qasm-replay: %s: %s\n", write_path, why);
            return 1;
        }
        rc.out = out_cb;
        rc.out_ud = &w;
    }

    struct qasm_replay *r;
    int rv = qasm_replay_new(&r, &rc);
    if (rv < 0) {
        fprintf(stderr, "qasm-replay: invalid configuration for %s/%s: %s\n", fn_s, mode_s,
                strerror(-rv));
        return 2;
    }

    size_t next_ev = 0;
    int read_failed = 0;
    for (int i = 0; i < nfiles; i++) {
        int dlt = pcap_datalink(caps[i]);
        struct pcap_pkthdr *h;
        const u_char *data;
        uint64_t nread = 0;
        int prv;
        while ((prv = pcap_next_ex(caps[i], &h, &data)) == 1) {
            nread++;
            qasm_tstamp t = (qasm_tstamp)h->ts.tv_sec * QASM_SEC + (qasm_tstamp)h->ts.tv_usec;
            const struct qasm_proto_msg *m;
            qasm_tstamp et;
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
                    " good packets): %s\n", argv[optind + i], nread + 1, nread,
                    pcap_geterr(caps[i]));
            read_failed = 1;
        }
        pcap_close(caps[i]);
    }
    {
        const struct qasm_proto_msg *m;
        qasm_tstamp et;
        while (ev && qasm_events_get(ev, next_ev, &et, &m) == 0) {
            qasm_replay_event(r, et, m);
            next_ev++;
        }
    }
    qasm_replay_finish(r);

    if (json)
        print_json(r, cfg, link);
    else
        print_text(r, cfg, link);

    if (w.d) {
        pcap_dump_close(w.d);
        pcap_close(w.dead);
    }
    qasm_replay_del(r);
    qasm_events_del(ev);
    free(caps);
    return read_failed ? 1 : 0;
}
