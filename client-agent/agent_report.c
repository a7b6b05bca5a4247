/*
 * agent_report.c: agent events -> tracker protocol reports (see
 * agent_report.h and docs/PROTOCOL.md).
 */
#include "agent_report.h"

#include <errno.h>
#include <string.h>

static uint8_t report_type(enum qasm_agent_ev_type t)
{
    switch (t) {
    case QASM_AGENT_EV_OPEN:
        return QASM_PROTO_REPORT_OPEN;
    case QASM_AGENT_EV_DCID_ACTIVE:
    case QASM_AGENT_EV_DCID_SPARE:
        return QASM_PROTO_REPORT_DCID_NEW;
    case QASM_AGENT_EV_DCID_RETIRED:
        return QASM_PROTO_REPORT_DCID_RETIRE;
    case QASM_AGENT_EV_ADDR:
        return QASM_PROTO_REPORT_ADDR;
    case QASM_AGENT_EV_CLOSE:
        return QASM_PROTO_REPORT_CLOSE;
    case QASM_AGENT_EV_REFRESH:
        return QASM_PROTO_REPORT_REFRESH;
    }
    return 0;
}

static void add_dcids(struct qasm_proto_conn *pc, const struct qasm_agent_conn *c,
                      enum qasm_agent_dcid_state state)
{
    for (size_t i = 0; i < c->ndcids && pc->ndcids < QASM_PROTO_MAX_DCIDS; i++) {
        const struct qasm_agent_dcid *d = &c->dcids[i];
        if (d->state != state || qasm_cid_eq(&d->cid, &c->odcid) ||
            qasm_proto_conn_find_dcid(pc, &d->cid) >= 0)
            continue;
        pc->dcids[pc->ndcids].cid = d->cid;
        pc->dcids[pc->ndcids].seq = d->seq == QASM_AGENT_SEQ_UNKNOWN ? 0 : d->seq;
        pc->ndcids++;
    }
}

void qasm_agent_report_state(struct qasm_proto_conn *pc, const struct qasm_agent_conn *c)
{
    const struct qasm_agent_dcid *cur;
    size_t first;

    memset(pc, 0, sizeof(*pc));
    pc->odcid = c->odcid;
    pc->scid = c->scid;
    pc->server = c->remote;
    pc->flags = c->closed ? QASM_PROTO_REC_CLOSED : 0;
    if (!qasm_cid_eq(&c->dcid, &c->odcid)) {
        pc->dcid_len = c->dcid.len;
        cur = qasm_agent_conn_find_dcid(c, &c->dcid);
        pc->dcids[0].cid = c->dcid;
        pc->dcids[0].seq = cur && cur->seq != QASM_AGENT_SEQ_UNKNOWN ? cur->seq : 0;
        pc->ndcids = 1;
    }
    add_dcids(pc, c, QASM_AGENT_DCID_ACTIVE);
    add_dcids(pc, c, QASM_AGENT_DCID_SPARE);

    pc->clients[0] = c->client0;
    pc->nclients = 1;
    /* The most recent addresses that fit, in order, after the first one. */
    first = c->naddrs > QASM_PROTO_MAX_CLIENTS - 1 ? c->naddrs - (QASM_PROTO_MAX_CLIENTS - 1) : 0;
    for (size_t i = first; i < c->naddrs; i++)
        if (!qasm_addr_eq(&c->addrs[i], &c->client0))
            pc->clients[pc->nclients++] = c->addrs[i];
    for (uint8_t i = 0; i < pc->nclients; i++)
        if (qasm_addr_eq(&pc->clients[i], &c->local))
            pc->current = i;
}

int qasm_agent_report_fill(struct qasm_proto_msg *m, struct qasm_agent_conn *c,
                           const struct qasm_agent_ev *ev)
{
    struct qasm_proto_report *r;

    qasm_proto_msg_init(m, report_type((enum qasm_agent_ev_type)ev->type), 0);
    r = &m->u.report;
    r->odcid = c->odcid;
    r->client0 = c->client0;
    r->client = c->local;
    r->seq = ++c->report_seq;
    switch ((enum qasm_agent_ev_type)ev->type) {
    case QASM_AGENT_EV_OPEN:
        r->scid = c->scid;
        r->server = c->remote;
        break;
    case QASM_AGENT_EV_DCID_ACTIVE:
    case QASM_AGENT_EV_DCID_SPARE:
    case QASM_AGENT_EV_DCID_RETIRED:
        r->dcid.cid = ev->cid;
        r->dcid.seq = ev->seq == QASM_AGENT_SEQ_UNKNOWN ? 0 : ev->seq;
        break;
    case QASM_AGENT_EV_ADDR:
        r->client = ev->addr;
        break;
    case QASM_AGENT_EV_CLOSE:
        break;
    case QASM_AGENT_EV_REFRESH:
        qasm_agent_report_state(&r->conn, c);
        break;
    }
    return 0;
}

ssize_t qasm_agent_report_encode(uint8_t *buf, size_t cap, struct qasm_agent_conn *c,
                                 const struct qasm_agent_ev *ev,
                                 const struct qasm_auth_key *key)
{
    struct qasm_proto_msg m;

    qasm_agent_report_fill(&m, c, ev);
    if (qasm_proto_report_sign(m.hdr.type, &m.u.report, c->secret) < 0)
        return -EINVAL;
    if (key && key->len && qasm_auth_report_sign(key, m.hdr.type, &m.u.report) < 0)
        return -EINVAL;
    return qasm_proto_encode(buf, cap, &m);
}
