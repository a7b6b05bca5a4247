/*
 * etrack.c: the replay's embedded tracker (see etrack.h).
 */
#include "etrack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOMBSTONES 32

struct econn {
    struct qasm_proto_conn c;
    uint32_t last_seq;
    size_t ntomb;
    struct qasm_cid tomb[MAX_TOMBSTONES];
};

struct qasm_etrack {
    struct econn *v;
    size_t n, cap;
    struct qasm_etrack_stats st;
};

int qasm_etrack_new(struct qasm_etrack **pt)
{
    *pt = calloc(1, sizeof(**pt));
    return *pt ? 0 : -ENOMEM;
}

void qasm_etrack_del(struct qasm_etrack *t)
{
    if (!t)
        return;
    free(t->v);
    free(t);
}

static int find_key(const struct qasm_etrack *t, const struct qasm_cid *odcid,
                    const struct qasm_addr *client0)
{
    for (size_t i = t->n; i-- > 0;) {
        const struct qasm_proto_conn *c = &t->v[i].c;
        if (qasm_cid_eq(&c->odcid, odcid) && qasm_addr_eq(&c->clients[0], client0))
            return (int)i;
    }
    return -1;
}

static int is_tomb(const struct econn *e, const struct qasm_cid *cid)
{
    for (size_t i = 0; i < e->ntomb; i++)
        if (qasm_cid_eq(&e->tomb[i], cid))
            return 1;
    return 0;
}

static void add_dcid(struct econn *e, const struct qasm_proto_dcid *d)
{
    struct qasm_proto_conn *c = &e->c;

    if (d->cid.len == 0 || qasm_cid_eq(&d->cid, &c->odcid) || is_tomb(e, &d->cid))
        return;
    if (qasm_proto_conn_find_dcid(c, &d->cid) >= 0)
        return;
    if (c->ndcids == QASM_PROTO_MAX_DCIDS) {
        /* make room: drop the lowest sequence number */
        size_t lo = 0;
        for (size_t i = 1; i < c->ndcids; i++)
            if (c->dcids[i].seq < c->dcids[lo].seq)
                lo = i;
        memmove(&c->dcids[lo], &c->dcids[lo + 1], (c->ndcids - lo - 1) * sizeof(c->dcids[0]));
        c->ndcids--;
    }
    c->dcids[c->ndcids++] = *d;
    c->dcid_len = d->cid.len;
    c->rev++;
}

static void retire_dcid(struct econn *e, const struct qasm_proto_dcid *d)
{
    struct qasm_proto_conn *c = &e->c;
    int i = qasm_proto_conn_find_dcid(c, &d->cid);

    if (!is_tomb(e, &d->cid)) {
        if (e->ntomb == MAX_TOMBSTONES) {
            memmove(&e->tomb[0], &e->tomb[1], (MAX_TOMBSTONES - 1) * sizeof(e->tomb[0]));
            e->ntomb--;
        }
        e->tomb[e->ntomb++] = d->cid;
    }
    if (i < 0)
        return;
    memmove(&c->dcids[i], &c->dcids[i + 1], (c->ndcids - (size_t)i - 1) * sizeof(c->dcids[0]));
    c->ndcids--;
    c->rev++;
}

/* add_client adds |a| if missing; returns its index. */
static int add_client(struct econn *e, const struct qasm_addr *a)
{
    struct qasm_proto_conn *c = &e->c;

    for (size_t i = 0; i < c->nclients; i++)
        if (qasm_addr_eq(&c->clients[i], a))
            return (int)i;
    if (c->nclients == QASM_PROTO_MAX_CLIENTS) {
        /* make room: drop the oldest non-key, non-current address */
        size_t drop = 1;
        if (drop == c->current)
            drop = 2;
        memmove(&c->clients[drop], &c->clients[drop + 1],
                (c->nclients - drop - 1) * sizeof(c->clients[0]));
        c->nclients--;
        if (c->current > drop)
            c->current--;
    }
    c->clients[c->nclients] = *a;
    c->rev++;
    return c->nclients++;
}

int qasm_etrack_apply(struct qasm_etrack *t, const struct qasm_proto_msg *m,
                      const struct qasm_addr *source)
{
    if (!qasm_proto_is_report(m->hdr.type)) {
        t->st.not_report++;
        return -EINVAL;
    }
    const struct qasm_proto_report *r = &m->u.report;
    if (source && !qasm_addr_ip_eq(source, &r->client)) {
        t->st.rejected_source++;
        return -EPERM;
    }
    int idx = find_key(t, &r->odcid, &r->client0);
    if (idx < 0) {
        if (t->n == t->cap) {
            size_t ncap = t->cap ? 2 * t->cap : 16;
            struct econn *nv = realloc(t->v, ncap * sizeof(*nv));
            if (!nv)
                return -ENOMEM;
            t->v = nv;
            t->cap = ncap;
        }
        idx = (int)t->n++;
        struct econn *e = &t->v[idx];
        memset(e, 0, sizeof(*e));
        e->c.odcid = r->odcid;
        e->c.clients[0] = r->client0;
        e->c.nclients = 1;
        t->st.conns++;
    }
    struct econn *e = &t->v[idx];
    struct qasm_proto_conn *c = &e->c;
    if (c->flags & QASM_PROTO_REC_CLOSED) {
        t->st.ignored_closed++;
        return -ENOENT;
    }
    t->st.reports++;
    int newest = r->seq >= e->last_seq;
    if (newest)
        e->last_seq = r->seq;
    int ci = add_client(e, &r->client);
    if (newest && c->current != ci) {
        c->current = (uint8_t)ci;
        c->rev++;
    }
    switch (m->hdr.type) {
    case QASM_PROTO_REPORT_OPEN:
        c->scid = r->scid;
        if (!qasm_addr_eq(&c->server, &r->server)) {
            c->server = r->server;
            c->rev++;
        }
        break;
    case QASM_PROTO_REPORT_DCID_NEW:
        add_dcid(e, &r->dcid);
        break;
    case QASM_PROTO_REPORT_DCID_RETIRE:
        retire_dcid(e, &r->dcid);
        break;
    case QASM_PROTO_REPORT_CLOSE:
        c->flags |= QASM_PROTO_REC_CLOSED;
        c->rev++;
        break;
    case QASM_PROTO_REPORT_REFRESH: {
        const struct qasm_proto_conn *f = &r->conn;
        if (f->server.family && !c->server.family)
            c->server = f->server;
        if (f->scid.len && !c->scid.len)
            c->scid = f->scid;
        if (f->dcid_len)
            c->dcid_len = f->dcid_len;
        for (size_t i = 0; i < f->ndcids; i++)
            add_dcid(e, &f->dcids[i]);
        for (size_t i = 0; i < f->nclients; i++)
            add_client(e, &f->clients[i]);
        if (newest && f->current < f->nclients)
            c->current = (uint8_t)add_client(e, &f->clients[f->current]);
        break;
    }
    default: /* REPORT_ADDR: the address was added above */
        break;
    }
    return idx;
}

int qasm_etrack_find(const struct qasm_etrack *t, const struct qasm_cid *cid,
                     const struct qasm_addr *server)
{
    for (size_t i = t->n; i-- > 0;) {
        const struct qasm_proto_conn *c = &t->v[i].c;
        if (server && server->family && c->server.family && !qasm_addr_eq(server, &c->server))
            continue;
        if (qasm_cid_eq(&c->odcid, cid) || qasm_proto_conn_find_dcid(c, cid) >= 0)
            return (int)i;
    }
    return -1;
}

size_t qasm_etrack_count(const struct qasm_etrack *t)
{
    return t->n;
}

const struct qasm_proto_conn *qasm_etrack_conn(const struct qasm_etrack *t, size_t i)
{
    return i < t->n ? &t->v[i].c : NULL;
}

void qasm_etrack_get_stats(const struct qasm_etrack *t, struct qasm_etrack_stats *st)
{
    *st = t->st;
}
