/*
 * proto.c: encoder and decoder of the tracker protocol (see proto.h and
 * docs/PROTOCOL.md). The decoder reads through a bounded cursor that
 * latches an error; the encoder writes through one that latches overflow.
 */
#include "proto.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "bytes.h"
#include "hmac.h"

/* ---- reading ---------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* 0 or negative errno; once set, every read returns zeros */
};

static int rd_need(struct rd *r, size_t n)
{
    if (r->err)
        return 0;
    if ((size_t)(r->end - r->p) < n) {
        r->err = -EPROTO;
        return 0;
    }
    return 1;
}

static void rd_fail(struct rd *r, int err)
{
    if (!r->err)
        r->err = err;
}

static uint8_t rd_u8(struct rd *r)
{
    if (!rd_need(r, 1))
        return 0;
    return *r->p++;
}

/* The next |n| bytes, or NULL (r->err set) if the message ends before. */
static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (!rd_need(r, n))
        return NULL;
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

static uint16_t rd_u16(struct rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? qasm_get16(p) : 0;
}

static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? qasm_get32(p) : 0;
}

static uint64_t rd_u64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? qasm_get64(p) : 0;
}

static uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    if (r->err)
        return 0;
    size_t n = qasm_varint_get(&v, r->p, (size_t)(r->end - r->p));
    if (n == 0) {
        r->err = -EPROTO;
        return 0;
    }
    r->p += n;
    return v;
}

static void rd_bytes(struct rd *r, uint8_t *dst, size_t n)
{
    if (!rd_need(r, n))
        return;
    memcpy(dst, r->p, n);
    r->p += n;
}

static void rd_cid(struct rd *r, struct qasm_cid *cid)
{
    memset(cid, 0, sizeof(*cid));
    uint8_t len = rd_u8(r);
    if (len > QASM_CID_MAXLEN) {
        rd_fail(r, -EPROTO);
        return;
    }
    cid->len = len;
    rd_bytes(r, cid->data, len);
}

/* An address: family byte 0 (none), 4 or 6, then port and IP. */
static void rd_addr(struct rd *r, struct qasm_addr *a, int required)
{
    memset(a, 0, sizeof(*a));
    uint8_t fam = rd_u8(r);
    if (r->err)
        return;
    if (fam == 0) {
        if (required)
            rd_fail(r, -EPROTO);
        return;
    }
    if (fam != 4 && fam != 6) {
        rd_fail(r, -EPROTO);
        return;
    }
    a->family = fam == 4 ? AF_INET : AF_INET6;
    a->port = rd_u16(r);
    rd_bytes(r, a->ip, fam == 4 ? 4 : 16);
}

static void rd_conn(struct rd *r, struct qasm_proto_conn *c)
{
    memset(c, 0, sizeof(*c));
    rd_cid(r, &c->odcid);
    rd_cid(r, &c->scid);
    rd_addr(r, &c->server, 0);
    c->rev = rd_u32(r);
    c->dcid_len = rd_u8(r);
    c->flags = rd_u8(r);
    c->current = rd_u8(r);
    c->ndcids = rd_u8(r);
    if (r->err)
        return;
    if (c->dcid_len > QASM_CID_MAXLEN) {
        rd_fail(r, -EPROTO);
        return;
    }
    if (c->ndcids > QASM_PROTO_MAX_DCIDS) {
        rd_fail(r, -E2BIG);
        return;
    }
    for (unsigned i = 0; i < c->ndcids && !r->err; i++) {
        rd_cid(r, &c->dcids[i].cid);
        c->dcids[i].seq = rd_varint(r);
    }
    c->nclients = rd_u8(r);
    if (r->err)
        return;
    if (c->nclients > QASM_PROTO_MAX_CLIENTS) {
        rd_fail(r, -E2BIG);
        return;
    }
    if (c->nclients == 0 || c->current >= c->nclients) {
        rd_fail(r, -EPROTO);
        return;
    }
    for (unsigned i = 0; i < c->nclients && !r->err; i++)
        rd_addr(r, &c->clients[i], 1);
}

/* |version| 1: recordings made before reports were authenticated end after the body. */
static void rd_report(struct rd *r, uint8_t type, struct qasm_proto_report *rep, uint8_t version)
{
    memset(rep, 0, sizeof(*rep));
    rd_cid(r, &rep->odcid);
    rd_addr(r, &rep->client0, 1);
    rd_addr(r, &rep->client, 1);
    rep->seq = rd_u32(r);
    switch (type) {
    case QASM_PROTO_REPORT_OPEN:
        rd_cid(r, &rep->scid);
        rd_addr(r, &rep->server, 1);
        break;
    case QASM_PROTO_REPORT_DCID_NEW:
    case QASM_PROTO_REPORT_DCID_RETIRE:
        rd_cid(r, &rep->dcid.cid);
        rep->dcid.seq = rd_varint(r);
        break;
    case QASM_PROTO_REPORT_REFRESH:
        rd_conn(r, &rep->conn);
        break;
    default: /* ADDR, CLOSE: the head only */
        break;
    }
    if (version == 1)
        return;
    if (type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH)
        rd_bytes(r, rep->secret, sizeof(rep->secret));
    /* The tail of every report: the connection MAC, then the key MAC (lib/auth.h). */
    rd_bytes(r, rep->mac, sizeof(rep->mac));
    rep->key_mac_len = rd_u8(r);
    if (!r->err && rep->key_mac_len != 0 && rep->key_mac_len != QASM_PROTO_MAC_LEN)
        rd_fail(r, -EPROTO);
    rd_bytes(r, rep->key_mac, rep->key_mac_len);
}

static int valid_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0')
            return 0;
    return 1;
}

static int valid_stat_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return 0;
    }
    return 1;
}

/* ---- writing ---------------------------------------------------------- */

struct wr {
    uint8_t *p;
    uint8_t *end;
    int err;
};

static uint8_t *wr_need(struct wr *w, size_t n)
{
    if (w->err)
        return NULL;
    if ((size_t)(w->end - w->p) < n) {
        w->err = -ENOBUFS;
        return NULL;
    }
    uint8_t *p = w->p;
    w->p += n;
    return p;
}

static void wr_u8(struct wr *w, uint8_t v)
{
    uint8_t *p = wr_need(w, 1);
    if (p)
        *p = v;
}

static void wr_u16(struct wr *w, uint16_t v)
{
    uint8_t *p = wr_need(w, 2);
    if (p)
        qasm_put16(p, v);
}

static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t *p = wr_need(w, 4);
    if (p)
        qasm_put32(p, v);
}

static void wr_u64(struct wr *w, uint64_t v)
{
    uint8_t *p = wr_need(w, 8);
    if (p)
        qasm_put64(p, v);
}

static void wr_varint(struct wr *w, uint64_t v)
{
    if (v >= (1ULL << 62)) {
        if (!w->err)
            w->err = -EINVAL;
        return;
    }
    uint8_t *p = wr_need(w, qasm_varint_len(v));
    if (p)
        qasm_varint_put(p, v);
}

static void wr_bytes(struct wr *w, const void *src, size_t n)
{
    uint8_t *p = wr_need(w, n);
    if (p && n)
        memcpy(p, src, n);
}

static void wr_invalid(struct wr *w)
{
    if (!w->err)
        w->err = -EINVAL;
}

static void wr_cid(struct wr *w, const struct qasm_cid *cid)
{
    if (cid->len > QASM_CID_MAXLEN) {
        wr_invalid(w);
        return;
    }
    wr_u8(w, cid->len);
    wr_bytes(w, cid->data, cid->len);
}

static void wr_addr(struct wr *w, const struct qasm_addr *a, int required)
{
    if (a->family == 0) {
        if (required)
            wr_invalid(w);
        wr_u8(w, 0);
        return;
    }
    if (a->family != AF_INET && a->family != AF_INET6) {
        wr_invalid(w);
        return;
    }
    int v4 = a->family == AF_INET;
    wr_u8(w, v4 ? 4 : 6);
    wr_u16(w, a->port);
    wr_bytes(w, a->ip, v4 ? 4 : 16);
}

static void wr_conn(struct wr *w, const struct qasm_proto_conn *c)
{
    if (c->dcid_len > QASM_CID_MAXLEN || c->ndcids > QASM_PROTO_MAX_DCIDS ||
        c->nclients == 0 || c->nclients > QASM_PROTO_MAX_CLIENTS || c->current >= c->nclients) {
        wr_invalid(w);
        return;
    }
    wr_cid(w, &c->odcid);
    wr_cid(w, &c->scid);
    wr_addr(w, &c->server, 0);
    wr_u32(w, c->rev);
    wr_u8(w, c->dcid_len);
    wr_u8(w, c->flags);
    wr_u8(w, c->current);
    wr_u8(w, c->ndcids);
    for (unsigned i = 0; i < c->ndcids; i++) {
        wr_cid(w, &c->dcids[i].cid);
        wr_varint(w, c->dcids[i].seq);
    }
    wr_u8(w, c->nclients);
    for (unsigned i = 0; i < c->nclients; i++)
        wr_addr(w, &c->clients[i], 1);
}

/* The fields a report's connection MAC covers: head, body, secret (OPEN, REFRESH). */
static void wr_report_body(struct wr *w, uint8_t type, const struct qasm_proto_report *rep)
{
    wr_cid(w, &rep->odcid);
    wr_addr(w, &rep->client0, 1);
    wr_addr(w, &rep->client, 1);
    wr_u32(w, rep->seq);
    switch (type) {
    case QASM_PROTO_REPORT_OPEN:
        wr_cid(w, &rep->scid);
        wr_addr(w, &rep->server, 1);
        break;
    case QASM_PROTO_REPORT_DCID_NEW:
    case QASM_PROTO_REPORT_DCID_RETIRE:
        wr_cid(w, &rep->dcid.cid);
        wr_varint(w, rep->dcid.seq);
        break;
    case QASM_PROTO_REPORT_REFRESH:
        wr_conn(w, &rep->conn);
        break;
    default:
        break;
    }
    if (type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH)
        wr_bytes(w, rep->secret, sizeof(rep->secret));
}

static void wr_report(struct wr *w, uint8_t type, const struct qasm_proto_report *rep)
{
    wr_report_body(w, type, rep);
    wr_bytes(w, rep->mac, sizeof(rep->mac));
    if (rep->key_mac_len != 0 && rep->key_mac_len != QASM_PROTO_MAC_LEN) {
        wr_invalid(w);
        return;
    }
    wr_u8(w, rep->key_mac_len);
    wr_bytes(w, rep->key_mac, rep->key_mac_len);
}

/* ---- public ----------------------------------------------------------- */

void qasm_proto_msg_init(struct qasm_proto_msg *m, uint8_t type, uint32_t req_id)
{
    memset(m, 0, sizeof(*m));
    m->hdr.version = QASM_PROTO_VERSION;
    m->hdr.type = type;
    m->hdr.req_id = req_id;
}

ssize_t qasm_proto_frame(const uint8_t *buf, size_t len)
{
    if (len >= 1 && buf[0] != QASM_PROTO_MAGIC0)
        return -EBADMSG;
    if (len >= 2 && buf[1] != QASM_PROTO_MAGIC1)
        return -EBADMSG;
    if (len < 6)
        return 0;
    uint16_t mlen = qasm_get16(buf + 4);
    if (mlen < QASM_PROTO_HDR_LEN || mlen > QASM_PROTO_MAX_MSG)
        return -EBADMSG;
    if (len < mlen)
        return 0;
    return (ssize_t)mlen;
}

int qasm_proto_decode_hdr(struct qasm_proto_hdr *h, const uint8_t *buf, size_t len)
{
    if (len < QASM_PROTO_HDR_LEN)
        return -EPROTO;
    if (buf[0] != QASM_PROTO_MAGIC0 || buf[1] != QASM_PROTO_MAGIC1)
        return -EBADMSG;
    h->version = buf[2];
    h->type = buf[3];
    h->length = qasm_get16(buf + 4);
    h->flags = qasm_get16(buf + 6);
    h->req_id = qasm_get32(buf + 8);
    if (h->length < QASM_PROTO_HDR_LEN || h->length > QASM_PROTO_MAX_MSG || h->length != len)
        return -EBADMSG;
    return 0;
}

static int known_type(uint8_t t)
{
    return (t >= QASM_PROTO_REPORT_OPEN && t <= QASM_PROTO_REPORT_REFRESH) ||
           (t >= QASM_PROTO_QUERY && t <= QASM_PROTO_AUTH) ||
           (t >= QASM_PROTO_RECORD && t <= QASM_PROTO_CHALLENGE);
}

/* Versions |vmin|..|vmax|; version 1 reports end after their body. */
static int decode(struct qasm_proto_msg *m, const uint8_t *buf, size_t len, uint8_t vmin,
                  uint8_t vmax)
{
    memset(&m->hdr, 0, sizeof(m->hdr));
    int rv = qasm_proto_decode_hdr(&m->hdr, buf, len);
    if (rv < 0)
        return rv;
    uint8_t version = m->hdr.version;
    if (version < vmin || version > vmax)
        return -EPROTONOSUPPORT;
    uint8_t type = m->hdr.type;
    /* The handshake came with version 3. */
    if (!known_type(type) || (version < 3 && (type == QASM_PROTO_HELLO ||
                                              type == QASM_PROTO_AUTH ||
                                              type == QASM_PROTO_CHALLENGE)))
        return -ENOMSG;

    struct rd r = { buf + QASM_PROTO_HDR_LEN, buf + len, 0 };
    switch (type) {
    case QASM_PROTO_QUERY:
        memset(&m->u.query, 0, sizeof(m->u.query));
        rd_cid(&r, &m->u.query.dcid);
        rd_addr(&r, &m->u.query.server, 0);
        m->u.query.wait_ms = rd_u32(&r);
        if (!r.err && r.p < r.end) /* optional trailing client address */
            rd_addr(&r, &m->u.query.client, 1);
        break;
    case QASM_PROTO_SUBSCRIBE:
    case QASM_PROTO_UNSUBSCRIBE:
        memset(&m->u.sub, 0, sizeof(m->u.sub));
        m->u.sub.flags = rd_u8(&r);
        rd_cid(&r, &m->u.sub.cid);
        rd_addr(&r, &m->u.sub.server, 0);
        break;
    case QASM_PROTO_DUMP:
    case QASM_PROTO_STATS:
        break;
    case QASM_PROTO_HELLO:
    case QASM_PROTO_AUTH:
    case QASM_PROTO_CHALLENGE:
        memset(&m->u.auth, 0, sizeof(m->u.auth));
        if (type != QASM_PROTO_AUTH)
            rd_bytes(&r, m->u.auth.nonce, sizeof(m->u.auth.nonce));
        if (type != QASM_PROTO_HELLO)
            rd_bytes(&r, m->u.auth.proof, sizeof(m->u.auth.proof));
        break;
    case QASM_PROTO_RECORD:
        rd_conn(&r, &m->u.conn);
        if (m->hdr.flags & QASM_PROTO_HDR_TIMES) {
            m->u.conn.has_times = 1;
            m->u.conn.age_ms = rd_u32(&r);
            m->u.conn.expires_ms = rd_u32(&r);
        }
        break;
    case QASM_PROTO_NOT_FOUND:
        rd_cid(&r, &m->u.notfound.cid);
        break;
    case QASM_PROTO_PUSH:
        memset(&m->u.push, 0, offsetof(struct qasm_proto_push, conn));
        m->u.push.event = rd_u8(&r);
        if (!r.err && (m->u.push.event < QASM_PROTO_EV_OPENED ||
                       m->u.push.event > QASM_PROTO_EV_EVICTED))
            rd_fail(&r, -EPROTO);
        rd_conn(&r, &m->u.push.conn);
        break;
    case QASM_PROTO_OK:
        memset(&m->u.ok, 0, sizeof(m->u.ok));
        m->u.ok.count = rd_u32(&r);
        break;
    case QASM_PROTO_ERROR: {
        memset(&m->u.error, 0, sizeof(m->u.error));
        m->u.error.code = rd_u16(&r);
        uint8_t n = rd_u8(&r);
        if (!r.err && n > QASM_PROTO_ERR_TEXTLEN)
            rd_fail(&r, -EPROTO);
        rd_bytes(&r, (uint8_t *)m->u.error.text, n);
        if (!r.err && !valid_text(m->u.error.text, n))
            rd_fail(&r, -EPROTO);
        break;
    }
    case QASM_PROTO_STATS_REPLY: {
        struct qasm_proto_stats *st = &m->u.stats;
        memset(st, 0, sizeof(*st));
        st->n = rd_u8(&r);
        if (!r.err && st->n > QASM_PROTO_MAX_STATS)
            rd_fail(&r, -E2BIG);
        for (unsigned i = 0; i < st->n && !r.err; i++) {
            memset(st->s[i].name, 0, sizeof(st->s[i].name));
            uint8_t n = rd_u8(&r);
            if (!r.err && (n == 0 || n > QASM_PROTO_STAT_NAMELEN))
                rd_fail(&r, -EPROTO);
            rd_bytes(&r, (uint8_t *)st->s[i].name, n);
            if (!r.err && !valid_stat_name(st->s[i].name, n))
                rd_fail(&r, -EPROTO);
            st->s[i].value = rd_u64(&r);
        }
        break;
    }
    default: /* known_type: the agent reports */
        rd_report(&r, type, &m->u.report, version);
        break;
    }
    if (r.err)
        return r.err;
    if (r.p != r.end)
        return -EPROTO; /* trailing bytes */
    return 0;
}

int qasm_proto_decode(struct qasm_proto_msg *m, const uint8_t *buf, size_t len)
{
    return decode(m, buf, len, QASM_PROTO_VERSION_MIN, QASM_PROTO_VERSION);
}

int qasm_proto_decode_v1(struct qasm_proto_msg *m, const uint8_t *buf, size_t len)
{
    return decode(m, buf, len, 1, 1);
}

ssize_t qasm_proto_encode(uint8_t *buf, size_t cap, const struct qasm_proto_msg *m)
{
    uint8_t type = m->hdr.type;
    if (!known_type(type))
        return -EINVAL;
    struct wr w = { buf, buf + (cap < QASM_PROTO_MAX_MSG ? cap : QASM_PROTO_MAX_MSG), 0 };
    wr_u8(&w, QASM_PROTO_MAGIC0);
    wr_u8(&w, QASM_PROTO_MAGIC1);
    wr_u8(&w, m->hdr.version ? m->hdr.version : QASM_PROTO_VERSION);
    wr_u8(&w, type);
    wr_u16(&w, 0); /* length, patched below */
    wr_u16(&w, m->hdr.flags);
    wr_u32(&w, m->hdr.req_id);

    switch (type) {
    case QASM_PROTO_QUERY:
        wr_cid(&w, &m->u.query.dcid);
        wr_addr(&w, &m->u.query.server, 0);
        wr_u32(&w, m->u.query.wait_ms);
        if (m->u.query.client.family != 0)
            wr_addr(&w, &m->u.query.client, 0);
        break;
    case QASM_PROTO_SUBSCRIBE:
    case QASM_PROTO_UNSUBSCRIBE:
        wr_u8(&w, m->u.sub.flags);
        wr_cid(&w, &m->u.sub.cid);
        wr_addr(&w, &m->u.sub.server, 0);
        break;
    case QASM_PROTO_DUMP:
    case QASM_PROTO_STATS:
        break;
    case QASM_PROTO_HELLO:
    case QASM_PROTO_AUTH:
    case QASM_PROTO_CHALLENGE:
        if (type != QASM_PROTO_AUTH)
            wr_bytes(&w, m->u.auth.nonce, sizeof(m->u.auth.nonce));
        if (type != QASM_PROTO_HELLO)
            wr_bytes(&w, m->u.auth.proof, sizeof(m->u.auth.proof));
        break;
    case QASM_PROTO_RECORD:
        wr_conn(&w, &m->u.conn);
        if (m->hdr.flags & QASM_PROTO_HDR_TIMES) {
            wr_u32(&w, m->u.conn.age_ms);
            wr_u32(&w, m->u.conn.expires_ms);
        }
        break;
    case QASM_PROTO_NOT_FOUND:
        wr_cid(&w, &m->u.notfound.cid);
        break;
    case QASM_PROTO_PUSH:
        if (m->u.push.event < QASM_PROTO_EV_OPENED || m->u.push.event > QASM_PROTO_EV_EVICTED)
            wr_invalid(&w);
        wr_u8(&w, m->u.push.event);
        wr_conn(&w, &m->u.push.conn);
        break;
    case QASM_PROTO_OK:
        wr_u32(&w, m->u.ok.count);
        break;
    case QASM_PROTO_ERROR: {
        size_t n = strnlen(m->u.error.text, sizeof(m->u.error.text));
        if (n > QASM_PROTO_ERR_TEXTLEN)
            n = QASM_PROTO_ERR_TEXTLEN;
        wr_u16(&w, m->u.error.code);
        wr_u8(&w, (uint8_t)n);
        wr_bytes(&w, m->u.error.text, n);
        break;
    }
    case QASM_PROTO_STATS_REPLY: {
        const struct qasm_proto_stats *st = &m->u.stats;
        if (st->n > QASM_PROTO_MAX_STATS) {
            wr_invalid(&w);
            break;
        }
        wr_u8(&w, st->n);
        for (unsigned i = 0; i < st->n; i++) {
            size_t n = strnlen(st->s[i].name, sizeof(st->s[i].name));
            if (n == 0 || n > QASM_PROTO_STAT_NAMELEN || !valid_stat_name(st->s[i].name, n))
                wr_invalid(&w);
            wr_u8(&w, (uint8_t)n);
            wr_bytes(&w, st->s[i].name, n);
            wr_u64(&w, st->s[i].value);
        }
        break;
    }
    default: /* known_type: the agent reports */
        wr_report(&w, type, &m->u.report);
        break;
    }
    if (w.err == -ENOBUFS && cap >= QASM_PROTO_MAX_MSG)
        return -EINVAL; /* over QASM_PROTO_MAX_MSG: cannot happen with bounded fields */
    if (w.err)
        return w.err;
    size_t n = (size_t)(w.p - buf);
    qasm_put16(buf + 4, (uint16_t)n);
    return (ssize_t)n;
}

ssize_t qasm_proto_encode_query(uint8_t *buf, size_t cap, uint32_t req_id,
                                const struct qasm_cid *dcid, const struct qasm_addr *server,
                                uint32_t wait_ms)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_QUERY, 0, 0, req_id };
    m.u.query.dcid = *dcid;
    if (server)
        m.u.query.server = *server;
    else
        memset(&m.u.query.server, 0, sizeof(m.u.query.server));
    m.u.query.wait_ms = wait_ms;
    memset(&m.u.query.client, 0, sizeof(m.u.query.client));
    return qasm_proto_encode(buf, cap, &m);
}

ssize_t qasm_proto_encode_error(uint8_t *buf, size_t cap, uint32_t req_id, uint16_t code,
                                const char *text)
{
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_ERROR, 0, 0, req_id };
    m.u.error.code = code;
    m.u.error.text[0] = '\0';
    if (text) {
        size_t n = strnlen(text, QASM_PROTO_ERR_TEXTLEN);
        memcpy(m.u.error.text, text, n);
        m.u.error.text[n] = '\0';
    }
    return qasm_proto_encode(buf, cap, &m);
}

int qasm_proto_conn_find_dcid(const struct qasm_proto_conn *conn, const struct qasm_cid *cid)
{
    for (unsigned i = 0; i < conn->ndcids && i < QASM_PROTO_MAX_DCIDS; i++)
        if (qasm_cid_eq(&conn->dcids[i].cid, cid))
            return (int)i;
    return -1;
}

int qasm_proto_conn_holds_cid(const struct qasm_proto_conn *conn, const struct qasm_cid *cid)
{
    return qasm_cid_eq(&conn->odcid, cid) || qasm_proto_conn_find_dcid(conn, cid) >= 0;
}

int qasm_proto_event_final(uint8_t event)
{
    return event == QASM_PROTO_EV_CLOSED || qasm_proto_event_removes(event);
}

int qasm_proto_event_removes(uint8_t event)
{
    return event == QASM_PROTO_EV_EXPIRED || event == QASM_PROTO_EV_EVICTED;
}

void qasm_proto_stats_add(struct qasm_proto_stats *st, const char *name, uint64_t value)
{
    if (st->n >= QASM_PROTO_MAX_STATS)
        return;
    snprintf(st->s[st->n].name, sizeof(st->s[st->n].name), "%s", name);
    st->s[st->n].value = value;
    st->n++;
}

ssize_t qasm_proto_report_auth_input(uint8_t *buf, size_t cap, uint8_t type,
                                     const struct qasm_proto_report *r)
{
    if (!qasm_proto_is_report(type))
        return -EINVAL;
    struct wr w = { buf, buf + cap, 0 };
    /* Version and type first: a MAC of one type never verifies as another. */
    wr_u8(&w, QASM_PROTO_MAC_VERSION);
    wr_u8(&w, type);
    wr_report_body(&w, type, r);
    if (w.err)
        return w.err;
    return (ssize_t)(w.p - buf);
}

static int report_mac(uint8_t type, const struct qasm_proto_report *r,
                      const uint8_t secret[QASM_PROTO_SECRET_LEN], uint8_t out[QASM_PROTO_MAC_LEN])
{
    uint8_t in[QASM_PROTO_MAX_MSG], full[QASM_SHA256_LEN];
    ssize_t n = qasm_proto_report_auth_input(in, sizeof(in), type, r);
    if (n < 0)
        return (int)n;
    qasm_hmac_sha256(secret, QASM_PROTO_SECRET_LEN, in, (size_t)n, full);
    memcpy(out, full, QASM_PROTO_MAC_LEN);
    return 0;
}

int qasm_proto_report_sign(uint8_t type, struct qasm_proto_report *r,
                           const uint8_t secret[QASM_PROTO_SECRET_LEN])
{
    if (type == QASM_PROTO_REPORT_OPEN || type == QASM_PROTO_REPORT_REFRESH)
        memcpy(r->secret, secret, QASM_PROTO_SECRET_LEN);
    int rv = report_mac(type, r, secret, r->mac);
    return rv < 0 ? -EINVAL : 0;
}

int qasm_proto_report_has_mac(const struct qasm_proto_report *r)
{
    static const uint8_t zero[QASM_PROTO_MAC_LEN];
    return !qasm_memeq_ct(r->mac, zero, sizeof(zero));
}

int qasm_proto_report_verify(uint8_t type, const struct qasm_proto_report *r,
                             const uint8_t secret[QASM_PROTO_SECRET_LEN])
{
    uint8_t want[QASM_PROTO_MAC_LEN];
    if (!qasm_proto_report_has_mac(r) || report_mac(type, r, secret, want) < 0)
        return 0;
    return qasm_memeq_ct(want, r->mac, sizeof(want));
}

const char *qasm_proto_type_name(uint8_t type)
{
    switch (type) {
    case QASM_PROTO_REPORT_OPEN: return "REPORT_OPEN";
    case QASM_PROTO_REPORT_DCID_NEW: return "REPORT_DCID_NEW";
    case QASM_PROTO_REPORT_DCID_RETIRE: return "REPORT_DCID_RETIRE";
    case QASM_PROTO_REPORT_ADDR: return "REPORT_ADDR";
    case QASM_PROTO_REPORT_CLOSE: return "REPORT_CLOSE";
    case QASM_PROTO_REPORT_REFRESH: return "REPORT_REFRESH";
    case QASM_PROTO_QUERY: return "QUERY";
    case QASM_PROTO_SUBSCRIBE: return "SUBSCRIBE";
    case QASM_PROTO_UNSUBSCRIBE: return "UNSUBSCRIBE";
    case QASM_PROTO_DUMP: return "DUMP";
    case QASM_PROTO_STATS: return "STATS";
    case QASM_PROTO_HELLO: return "HELLO";
    case QASM_PROTO_AUTH: return "AUTH";
    case QASM_PROTO_CHALLENGE: return "CHALLENGE";
    case QASM_PROTO_RECORD: return "RECORD";
    case QASM_PROTO_NOT_FOUND: return "NOT_FOUND";
    case QASM_PROTO_PUSH: return "PUSH";
    case QASM_PROTO_OK: return "OK";
    case QASM_PROTO_ERROR: return "ERROR";
    case QASM_PROTO_STATS_REPLY: return "STATS_REPLY";
    default: return "?";
    }
}

const char *qasm_proto_event_name(uint8_t event)
{
    switch (event) {
    case QASM_PROTO_EV_OPENED: return "opened";
    case QASM_PROTO_EV_DCID_NEW: return "dcid_new";
    case QASM_PROTO_EV_DCID_RETIRE: return "dcid_retire";
    case QASM_PROTO_EV_ADDR: return "addr";
    case QASM_PROTO_EV_REFRESH: return "refresh";
    case QASM_PROTO_EV_CLOSED: return "closed";
    case QASM_PROTO_EV_EXPIRED: return "expired";
    case QASM_PROTO_EV_EVICTED: return "evicted";
    default: return "?";
    }
}

int qasm_proto_is_report(uint8_t type)
{
    return type >= QASM_PROTO_REPORT_OPEN && type <= QASM_PROTO_REPORT_REFRESH;
}
