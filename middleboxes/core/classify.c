/* classify.c: QUIC classification for middleboxes, see classify.h. */
#include "classify.h"

#include <errno.h>
#include <stdlib.h>

#include "bytes.h"
#include "htab.h"
#include "quic.h"

enum qasm_pkt_kind qasm_classify(const uint8_t *data, size_t len, int short_dcid_len,
                                 struct qasm_cid *dcid)
{
    if (len == 0)
        return QASM_PKT_NONQUIC;
    if (data[0] & 0x80) {
        struct qasm_quic_hdr hd;
        if (qasm_quic_parse(&hd, data, len, 0, QASM_QUIC_F_GREASE_OK) < 0)
            return QASM_PKT_NONQUIC;
        if (hd.version != QASM_QUIC_V1 && hd.version != QASM_QUIC_V2)
            return QASM_PKT_NONQUIC;
        *dcid = hd.dcid;
        return hd.type == QASM_QUIC_INITIAL ? QASM_PKT_INITIAL : QASM_PKT_LONG;
    }
    /* The fixed bit may be greased (RFC 9287): a short header is only
     * believed for servers already seen speaking QUIC (CID length known). */
    if (short_dcid_len < 0) {
        if (!(data[0] & 0x40))
            return QASM_PKT_NONQUIC;
        return len >= 1 + QASM_QUIC_MIN_PROTECTED ? QASM_PKT_SHORT_NOLEN : QASM_PKT_NONQUIC;
    }
    if (short_dcid_len > QASM_CID_MAXLEN ||
        len < 1 + (size_t)short_dcid_len + QASM_QUIC_MIN_PROTECTED)
        return QASM_PKT_NONQUIC;
    dcid->len = (uint8_t)short_dcid_len;
    memcpy(dcid->data, data + 1, (size_t)short_dcid_len);
    return QASM_PKT_SHORT;
}

int qasm_classify_server_cid_len(const uint8_t *data, size_t len)
{
    if (len == 0 || !(data[0] & 0x80))
        return -1;
    struct qasm_quic_hdr hd;
    if (qasm_quic_parse(&hd, data, len, 0, QASM_QUIC_F_GREASE_OK) < 0)
        return -1;
    if (hd.version != QASM_QUIC_V1 && hd.version != QASM_QUIC_V2)
        return -1;
    return hd.scid.len;
}

struct cidlen {
    struct qasm_addr server;
    uint64_t hash;
    uint8_t len;
    struct cidlen *next; /* insertion order, for eviction */
};

struct qasm_cidlen_table {
    struct qasm_htab *h;
    uint64_t seed;
    size_t max;
    struct cidlen *oldest, *newest;
};

static int cidlen_eq(const void *entry, const void *key)
{
    return qasm_addr_eq(&((const struct cidlen *)entry)->server, key);
}

int qasm_cidlen_table_new(struct qasm_cidlen_table **pt, size_t max, uint64_t seed)
{
    *pt = NULL;
    struct qasm_cidlen_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    if (qasm_htab_new(&t->h, 64, cidlen_eq) < 0) {
        free(t);
        return -ENOMEM;
    }
    t->seed = seed;
    t->max = max ? max : 1;
    *pt = t;
    return 0;
}

void qasm_cidlen_table_del(struct qasm_cidlen_table *t)
{
    if (t == NULL)
        return;
    struct cidlen *c = t->oldest;
    while (c) {
        struct cidlen *n = c->next;
        free(c);
        c = n;
    }
    qasm_htab_del(t->h);
    free(t);
}

int qasm_cidlen_get(const struct qasm_cidlen_table *t, const struct qasm_addr *server)
{
    const struct cidlen *c = qasm_htab_find(t->h, qasm_addr_hash(server, t->seed), server);
    return c ? c->len : -1;
}

int qasm_cidlen_set(struct qasm_cidlen_table *t, const struct qasm_addr *server, uint8_t len)
{
    uint64_t hash = qasm_addr_hash(server, t->seed);
    struct cidlen *c = qasm_htab_find(t->h, hash, server);
    if (c) {
        if (c->len == len)
            return 0;
        c->len = len;
        return 1;
    }
    if (qasm_htab_count(t->h) >= t->max && t->oldest) {
        struct cidlen *o = t->oldest;
        qasm_htab_remove_ptr(t->h, o->hash, o);
        t->oldest = o->next;
        if (t->oldest == NULL)
            t->newest = NULL;
        free(o);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->server = *server;
    c->hash = hash;
    c->len = len;
    if (qasm_htab_insert(t->h, hash, c) < 0) {
        free(c);
        return -ENOMEM;
    }
    if (t->newest)
        t->newest->next = c;
    else
        t->oldest = c;
    t->newest = c;
    return 1;
}

size_t qasm_cidlen_count(const struct qasm_cidlen_table *t)
{
    return qasm_htab_count(t->h);
}
