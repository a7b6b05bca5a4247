/*
 * mbox_util.h: helpers for the middlebox core tests: build QUIC datagrams
 * (client Initial, server long header, short header), packet views, and a
 * small driver that keeps the datagram buffers alive while packets are held.
 */
#ifndef QASM_TEST_MBOX_UTIL_H
#define QASM_TEST_MBOX_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cid.h"
#include "clock.h"
#include "mbox.h"

#define T_CID_LEN 8
#define T_DGRAM_MAX 1300

struct tpkt {
    uint8_t buf[T_DGRAM_MAX];
    size_t len;
};

static inline struct qasm_addr t_addr(const char *s)
{
    struct qasm_addr a;
    memset(&a, 0, sizeof(a));
    if (qasm_addr_parse(&a, s) != 0)
        abort();
    return a;
}

static inline struct qasm_cid t_cid(uint8_t seed)
{
    struct qasm_cid c;
    memset(&c, 0, sizeof(c));
    c.len = T_CID_LEN;
    for (int i = 0; i < T_CID_LEN; i++)
        c.data[i] = (uint8_t)(seed * 16 + i + 1);
    return c;
}

/* A v1 long header packet of type |type| (0 Initial, 2 Handshake) padded to |total| bytes. */
static inline void t_long(struct tpkt *p, int type, const struct qasm_cid *dcid,
                          const struct qasm_cid *scid, size_t total)
{
    size_t off = 0;
    uint8_t *b = p->buf;
    b[off++] = (uint8_t)(0xc0 | (type << 4) | 0x03);
    b[off++] = 0;
    b[off++] = 0;
    b[off++] = 0;
    b[off++] = 1;
    b[off++] = dcid->len;
    memcpy(b + off, dcid->data, dcid->len);
    off += dcid->len;
    b[off++] = scid->len;
    memcpy(b + off, scid->data, scid->len);
    off += scid->len;
    if (type == 0)
        b[off++] = 0; /* token length */
    size_t rest = total - off - 2;
    b[off++] = (uint8_t)(0x40 | (rest >> 8));
    b[off++] = (uint8_t)rest;
    memset(b + off, 0xab, rest);
    p->len = off + rest;
}

static inline void t_initial(struct tpkt *p, const struct qasm_cid *dcid,
                             const struct qasm_cid *scid)
{
    t_long(p, 0, dcid, scid, 1200);
}

/* A short header packet with |dcid| and |payload| bytes after it. */
static inline void t_short(struct tpkt *p, const struct qasm_cid *dcid, size_t payload)
{
    p->buf[0] = 0x43;
    memcpy(p->buf + 1, dcid->data, dcid->len);
    memset(p->buf + 1 + dcid->len, 0x5a, payload);
    p->len = 1 + dcid->len + payload;
}

static inline struct qasm_mbox_pkt t_pkt(const struct tpkt *p, const char *src, const char *dst,
                                         enum qasm_mbox_dir dir)
{
    struct qasm_mbox_pkt pk;
    memset(&pk, 0, sizeof(pk));
    pk.flow.src = t_addr(src);
    pk.flow.dst = t_addr(dst);
    pk.flow.proto = 17;
    pk.dir = dir;
    pk.data = p->buf;
    pk.len = p->len;
    pk.opaque = (void *)p;
    return pk;
}

/* Sends |p| from |src| to |dst| at |now|; returns the action, verdict in |v|. */
static inline enum qasm_mbox_action t_send(struct qasm_mbox *m, const struct tpkt *p,
                                           const char *src, const char *dst,
                                           enum qasm_mbox_dir dir, qasm_tstamp now,
                                           struct qasm_mbox_verdict *v)
{
    struct qasm_mbox_pkt pk = t_pkt(p, src, dst, dir);
    return qasm_mbox_process(m, &pk, now, v);
}

/* Pops one request of |type|, skipping none; returns 1 if found. */
static inline int t_req(struct qasm_mbox *m, enum qasm_mbox_req_type type, struct qasm_mbox_req *r)
{
    while (qasm_mbox_next_request(m, r))
        if (r->type == type)
            return 1;
    return 0;
}

static inline size_t t_count_events(struct qasm_mbox *m, enum qasm_mbox_event_type type)
{
    struct qasm_mbox_event ev;
    size_t n = 0;
    while (qasm_mbox_next_event(m, &ev))
        if (ev.type == type)
            n++;
    return n;
}

/* A tracker record for one connection. */
struct trec {
    struct qasm_mbox_record r;
    struct qasm_cid dcids[8];
    struct qasm_addr clients[8];
};

static inline void t_rec(struct trec *t, const struct qasm_cid *odcid, const char *server)
{
    memset(t, 0, sizeof(*t));
    t->r.odcid = *odcid;
    t->r.server = t_addr(server);
    t->r.dcid_len = T_CID_LEN;
    t->r.dcids = t->dcids;
    t->r.clients = t->clients;
}

static inline void t_rec_dcid(struct trec *t, const struct qasm_cid *c)
{
    t->dcids[t->r.ndcids++] = *c;
}

static inline void t_rec_client(struct trec *t, const char *a)
{
    t->clients[t->r.nclients++] = t_addr(a);
}

static inline struct qasm_mbox_stats t_stats(const struct qasm_mbox *m)
{
    struct qasm_mbox_stats st;
    qasm_mbox_get_stats(m, &st);
    return st;
}

/*
 * A spoofed flood: |n| one-packet flows ("ping", never answered) from
 * distinct addresses 10.64.0.0/10, ports from 1024, to |dst| at |now|.
 * Returns how many the core forwarded.
 */
static inline size_t t_flood(struct qasm_mbox *m, size_t n, const char *dst, qasm_tstamp now)
{
    struct tpkt p;
    struct qasm_mbox_verdict v;
    memcpy(p.buf, "ping", 4);
    p.len = 4;
    struct qasm_mbox_pkt pk = t_pkt(&p, "10.64.0.0:1024", dst, QASM_MBOX_FROM_CLIENT);
    size_t fwd = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t host = 0x0a400000u + (uint32_t)(i / 64);
        pk.flow.src.ip[0] = (uint8_t)(host >> 24);
        pk.flow.src.ip[1] = (uint8_t)(host >> 16);
        pk.flow.src.ip[2] = (uint8_t)(host >> 8);
        pk.flow.src.ip[3] = (uint8_t)host;
        pk.flow.src.port = (uint16_t)(1024 + i % 64);
        fwd += qasm_mbox_process(m, &pk, now, &v) == QASM_MBOX_FORWARD;
    }
    return fwd;
}

#endif
