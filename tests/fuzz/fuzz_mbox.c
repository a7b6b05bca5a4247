/*
 * fuzz_mbox: arbitrary datagrams and tracker answers fed to each middlebox
 * core (NAT, rate limiter, LB) in each mode. The input is a script: byte 0
 * picks function and mode, then each op byte says what happens next (a
 * client or server datagram with fuzzed bytes from a small set of
 * addresses, a tracker answer or push built from fuzzed bytes, time
 * passing, the tracker going down or up). Checks the core's invariants
 * (bounds of the hold queue and the port pool, every held packet comes
 * back, everything expires) besides memory safety.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NADDR 6
#define MAXBUF 256

static const char *const client_addrs[NADDR] = {"10.0.0.1:1000", "10.0.0.1:1001", "10.0.0.2:1000",
                                                "[2001:db8::1]:5", "10.0.0.3:7", "10.0.0.4:8"};
static const char *const server_addrs[3] = {"192.0.2.1:443", "192.0.2.2:443", "[2001:db8::2]:443"};

struct script {
    const uint8_t *p;
    size_t n;
};

static int take(struct script *s, uint8_t *b)
{
    if (s->n == 0)
        return 0;
    *b = *s->p++;
    s->n--;
    return 1;
}

static void check_at(int cond, int line)
{
    if (!cond) {
        fprintf(stderr, "fuzz_mbox: invariant at line %d broken\n", line);
        abort();
    }
}
#define check(cond) check_at((cond), __LINE__)

static size_t outstanding;

static void drain(struct qasm_mbox *m, uint64_t *ids, size_t *nids)
{
    struct qasm_mbox_event ev;
    while (qasm_mbox_next_event(m, &ev))
        check(ev.type == QASM_MBOX_EV_PORT_OPEN || ev.type == QASM_MBOX_EV_PORT_CLOSE ||
              ev.type == QASM_MBOX_EV_FLOW_CLOSE);
    struct qasm_mbox_table_event te;
    while (qasm_mbox_next_table_event(m, &te))
        check(te.type < QASM_MBOX_TE_MAX);
    struct qasm_mbox_verdict v;
    while (qasm_mbox_next_release(m, &v)) {
        check(v.opaque != NULL);
        check(v.action == QASM_MBOX_FORWARD || v.action == QASM_MBOX_DROP);
        check(outstanding > 0);
        outstanding--;
    }
    struct qasm_mbox_req r;
    while (qasm_mbox_next_request(m, &r)) {
        check(r.type <= QASM_MBOX_REQ_UNSUBSCRIBE);
        if (r.type == QASM_MBOX_REQ_QUERY && *nids < 64)
            ids[(*nids)++] = r.id;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct script s = {data + 1, size - 1};
    struct qasm_mbox_config cfg;
    qasm_mbox_config_init(&cfg, (enum qasm_mbox_function)(data[0] % 3),
                          (enum qasm_mbox_mode)((data[0] / 3) % 3));
    cfg.nat_port_min = 40000;
    cfg.nat_port_max = 40007;
    cfg.hold_max = 8;
    cfg.hold_max_per_dcid = 3;
    cfg.max_requests = 16;
    cfg.rl_bytes = (data[0] / 9) & 1;
    /* Small tables and caps too, so eviction and fallback recycling run. */
    static const size_t max_entries[4] = {QASM_MBOX_DEFAULT_MAX_ENTRIES, 2, 4, 8};
    cfg.max_entries = max_entries[(data[0] / 18) % 4];
    cfg.fallback_per_conn = (data[0] / 72) % 2 ? 1 : QASM_MBOX_DEFAULT_FALLBACK_PER_CONN;
    cfg.flow_events = 1;
    struct qasm_addr backends[3];
    for (int i = 0; i < 3; i++)
        qasm_addr_parse(&backends[i], server_addrs[i]);
    cfg.lb_backends = backends;
    cfg.lb_nbackends = 2;
    struct qasm_mbox *m;
    if (qasm_mbox_new(&m, &cfg) != 0)
        abort();
    qasm_mbox_table_events(m, 16); /* a small bound: the overflow path too */

    /* Every datagram stays alive until the end: held packets point into them. */
    size_t nbufs = 0, capbufs = 64;
    uint8_t **bufs = malloc(capbufs * sizeof(*bufs));
    uint64_t ids[64];
    size_t nids = 0;
    qasm_tstamp now = 1;
    outstanding = 0;
    uint8_t op;
    while (take(&s, &op) && bufs) {
        switch (op % 8) {
        case 0:
        case 1:
        case 2: { /* datagram */
            uint8_t a, b, len;
            if (!take(&s, &a) || !take(&s, &b) || !take(&s, &len))
                break;
            size_t l = len < s.n ? len : s.n;
            if (nbufs == capbufs) {
                uint8_t **nb = realloc(bufs, 2 * capbufs * sizeof(*bufs));
                if (nb == NULL)
                    break;
                bufs = nb;
                capbufs *= 2;
            }
            uint8_t *buf = calloc(1, MAXBUF); /* batches below reuse it with other lengths */
            if (buf == NULL)
                break;
            memcpy(buf, s.p, l);
            s.p += l;
            s.n -= l;
            bufs[nbufs++] = buf;
            struct qasm_mbox_pkt pk;
            memset(&pk, 0, sizeof(pk));
            const char *ca = client_addrs[a % NADDR];
            const char *sa = server_addrs[b % 3];
            pk.dir = (op % 8) == 2 ? QASM_MBOX_FROM_SERVER : QASM_MBOX_FROM_CLIENT;
            if (pk.dir == QASM_MBOX_FROM_CLIENT) {
                qasm_addr_parse(&pk.flow.src, ca);
                qasm_addr_parse(&pk.flow.dst, sa);
            } else {
                qasm_addr_parse(&pk.flow.src, sa);
                qasm_addr_parse(&pk.flow.dst, ca);
                if (cfg.function == QASM_MBOX_NAT) /* to a public port */
                    pk.flow.dst.port = (uint16_t)(40000 + (a % 10));
            }
            pk.flow.proto = 17;
            pk.data = buf;
            pk.len = l;
            pk.opaque = buf;
            struct qasm_mbox_verdict v;
            enum qasm_mbox_action act = qasm_mbox_process(m, &pk, now, &v);
            check(act == v.action);
            if (act == QASM_MBOX_HOLD)
                outstanding++;
            if (act == QASM_MBOX_DROP)
                check(v.reason > QASM_MBOX_DROP_NONE && v.reason < QASM_MBOX_DROP_MAX);
            if (act == QASM_MBOX_FORWARD && cfg.function == QASM_MBOX_NAT &&
                pk.dir == QASM_MBOX_FROM_CLIENT)
                check(v.flow.src.port >= 40000 && v.flow.src.port <= 40007);
            break;
        }
        case 3:
        case 4: { /* answer or push with a record made of fuzzed bytes */
            uint8_t x, y;
            if (!take(&s, &x) || !take(&s, &y))
                break;
            struct qasm_cid dcids[4];
            struct qasm_addr clients[4];
            struct qasm_mbox_record rec;
            memset(&rec, 0, sizeof(rec));
            memset(dcids, 0, sizeof(dcids));
            for (int i = 0; i < 4; i++) {
                uint8_t l = 0;
                take(&s, &l);
                dcids[i].len = (uint8_t)(l % 21);
                for (int j = 0; j < dcids[i].len; j++)
                    take(&s, &dcids[i].data[j]);
                qasm_addr_parse(&clients[i], client_addrs[(x + i) % NADDR]);
            }
            rec.odcid = dcids[0];
            rec.dcids = dcids + 1;
            rec.ndcids = (size_t)(y % 4);
            rec.clients = clients;
            rec.nclients = (size_t)((y >> 2) % 5);
            rec.dcid_len = (uint8_t)((y >> 4) % 22);
            rec.closed = (y >> 7) & 1;
            if (op % 8 == 3) {
                uint64_t id = nids ? ids[x % nids] : x;
                qasm_mbox_answer(m, id, (y & 0x40) ? NULL : &rec, now);
            } else {
                qasm_mbox_push(m, &rec, now);
            }
            break;
        }
        case 5: { /* time passes */
            uint8_t t;
            if (!take(&s, &t))
                break;
            now += (qasm_tstamp)t * (t & 1 ? QASM_MS / 4 : QASM_SEC);
            if (now >= qasm_mbox_next_expiry(m))
                qasm_mbox_expire(m, now);
            break;
        }
        case 6:
            if (op & 0x20)
                qasm_mbox_flush(m);
            else
                qasm_mbox_tracker_state(m, op & 0x10, now);
            break;
        default: {
            if ((op & 0x80) && nbufs > 0) { /* replay stored datagrams as one batch */
                uint8_t k8;
                if (!take(&s, &k8))
                    break;
                size_t k = (size_t)(k8 % 40) + 1;
                struct qasm_mbox_pkt bp[40];
                struct qasm_mbox_verdict bv[40];
                for (size_t j = 0; j < k; j++) {
                    memset(&bp[j], 0, sizeof(bp[j]));
                    size_t bi = (j * 7 + k8) % nbufs;
                    bp[j].dir = (j + k8) % 3 == 2 ? QASM_MBOX_FROM_SERVER : QASM_MBOX_FROM_CLIENT;
                    const char *ca = client_addrs[(j + k8) % NADDR];
                    const char *sa = server_addrs[j % 3];
                    qasm_addr_parse(&bp[j].flow.src, bp[j].dir ? sa : ca);
                    qasm_addr_parse(&bp[j].flow.dst, bp[j].dir ? ca : sa);
                    bp[j].flow.proto = 17;
                    bp[j].data = bufs[bi];
                    bp[j].len = (j * 37 + k8) % MAXBUF;
                    bp[j].opaque = bufs[bi];
                }
                qasm_mbox_process_batch(m, bp, k, now, bv);
                for (size_t j = 0; j < k; j++)
                    if (bv[j].action == QASM_MBOX_HOLD)
                        outstanding++;
                break;
            }
            struct qasm_mbox_stats st;
            qasm_mbox_get_stats(m, &st);
            check(st.held_now <= cfg.hold_max);
            check(st.ports_in_use <= 8);
            check(st.mappings <= cfg.max_entries);
            break;
        }
        }
        drain(m, ids, &nids);
    }
    /* Far future: every held packet comes back (which may create entries at
     * that time), then every entry expires. */
    for (int i = 0; i < 2; i++) {
        now += 1000 * QASM_SEC;
        qasm_mbox_expire(m, now);
        drain(m, ids, &nids);
    }
    check(outstanding == 0);
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(m, &st);
    check(st.mappings == 0 && st.ports_in_use == 0 && st.held_now == 0 && st.flows == 0);
    qasm_mbox_del(m);
    for (size_t i = 0; i < nbufs; i++)
        free(bufs[i]);
    free(bufs);
    return 0;
}
