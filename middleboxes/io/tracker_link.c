/*
 * tracker_link.c: core requests <-> tracker protocol messages.
 *
 * Pending requests live in a fixed ring indexed by the low bits of their
 * req_id (no allocation on the packet path). A reply whose slot was reused
 * or forgotten is "unknown": a RECORD is still given to the core (as an
 * answer to no query, which only feeds the cache).
 */
#include "tracker_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RING_BITS 16
#define RING_SIZE (1u << RING_BITS)

enum pend_kind {
    PEND_NONE = 0,
    PEND_QUERY = 1,
    PEND_SUBSCRIBE = 2,
    PEND_UNSUBSCRIBE = 3,
};

struct pend {
    uint32_t req_id;
    uint8_t kind;
    uint64_t mbox_id;
};

struct qasm_tlink {
    struct qasm_mbox *m;
    struct qasm_tsess *s;
    qasm_tlink_drain_fn drain;
    void *ud;
    uint32_t next_id;
    struct pend *ring;
    struct qasm_tlink_counters c;
    qasm_tlink_record_fn on_record; /* optional observer of the records fed to the core */
    void *record_ud;
};

static void link_up(void *ud)
{
    struct qasm_tlink *l = ud;
    qasm_mbox_tracker_state(l->m, 1, qasm_now());
    l->drain(l->ud);
}

static void link_down(void *ud)
{
    struct qasm_tlink *l = ud;
    memset(l->ring, 0, RING_SIZE * sizeof(*l->ring));
    qasm_mbox_tracker_state(l->m, 0, qasm_now());
    l->drain(l->ud);
}

static struct pend *pend_find(struct qasm_tlink *l, uint32_t req_id)
{
    struct pend *p = &l->ring[req_id & (RING_SIZE - 1)];
    if (p->kind == PEND_NONE || p->req_id != req_id)
        return NULL;
    return p;
}

static void link_msg(void *ud, const struct qasm_proto_msg *msg)
{
    struct qasm_tlink *l = ud;
    qasm_tstamp now = qasm_now();
    struct pend *p = pend_find(l, msg->hdr.req_id);

    switch (msg->hdr.type) {
    case QASM_PROTO_RECORD:
        if (p && p->kind == PEND_QUERY) {
            l->c.answers++;
            qasm_mbox_answer_conn(l->m, p->mbox_id, &msg->u.conn, now);
            p->kind = PEND_NONE;
        } else if (p && p->kind == PEND_SUBSCRIBE) {
            qasm_mbox_push_conn(l->m, 0, &msg->u.conn, now); /* known at subscription time */
            p->kind = PEND_NONE;
        } else {
            l->c.answers_unknown++;
            qasm_mbox_answer_conn(l->m, UINT64_MAX, &msg->u.conn, now);
        }
        break;
    case QASM_PROTO_NOT_FOUND:
        if (p && p->kind == PEND_QUERY) {
            l->c.answers++;
            qasm_mbox_answer_conn(l->m, p->mbox_id, NULL, now);
        }
        if (p)
            p->kind = PEND_NONE;
        break;
    case QASM_PROTO_PUSH:
        l->c.pushes++;
        qasm_mbox_push_conn(l->m, msg->u.push.event, &msg->u.push.conn, now);
        break;
    case QASM_PROTO_OK:
        if (p)
            p->kind = PEND_NONE;
        break;
    case QASM_PROTO_ERROR:
        l->c.errors++;
        qasm_debug("tracker error %u on req %u: %s", msg->u.error.code, msg->hdr.req_id,
                   msg->u.error.text);
        if (p && p->kind == PEND_QUERY)
            qasm_mbox_answer_conn(l->m, p->mbox_id, NULL, now);
        if (p)
            p->kind = PEND_NONE;
        break;
    default:
        qasm_debug("tracker: unexpected %s message ignored", qasm_proto_type_name(msg->hdr.type));
        return;
    }
    if (l->on_record && msg->hdr.type == QASM_PROTO_RECORD)
        l->on_record(l->record_ud, 0, &msg->u.conn);
    else if (l->on_record && msg->hdr.type == QASM_PROTO_PUSH)
        l->on_record(l->record_ud, msg->u.push.event, &msg->u.push.conn);
    l->drain(l->ud);
}

void qasm_tlink_on_record(struct qasm_tlink *l, qasm_tlink_record_fn fn, void *ud)
{
    l->on_record = fn;
    l->record_ud = ud;
}

int qasm_tlink_new(struct qasm_tlink **pl, struct ev_loop *loop, const struct qasm_addr *tracker,
                   const struct qasm_auth_key *key, struct qasm_mbox *m,
                   qasm_tlink_drain_fn drain, void *ud)
{
    *pl = NULL;
    struct qasm_tlink *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->ring = calloc(RING_SIZE, sizeof(*l->ring));
    if (!l->ring) {
        free(l);
        return -ENOMEM;
    }
    l->m = m;
    l->drain = drain;
    l->ud = ud;
    l->next_id = 1;
    /* The core starts "up" in the aware modes: down until the session says otherwise. */
    qasm_mbox_tracker_state(m, 0, qasm_now());
    static const struct qasm_tsess_callbacks cb = {
        .on_up = link_up,
        .on_down = link_down,
        .on_msg = link_msg,
    };
    int rv = qasm_tsess_new(&l->s, loop, tracker, key, &cb, l);
    if (rv < 0) {
        free(l->ring);
        free(l);
        return rv;
    }
    *pl = l;
    return 0;
}

void qasm_tlink_del(struct qasm_tlink *l)
{
    if (!l)
        return;
    qasm_tsess_del(l->s);
    free(l->ring);
    free(l);
}

void qasm_tlink_pump(struct qasm_tlink *l)
{
    struct qasm_mbox_req req;
    struct qasm_proto_msg msg;
    int failed_query = 0;
    while (qasm_mbox_next_request(l->m, &req)) {
        uint32_t id = l->next_id++;
        if (id == 0)
            id = l->next_id++;
        uint8_t kind;
        switch (req.type) {
        case QASM_MBOX_REQ_QUERY:
            qasm_proto_msg_init(&msg, QASM_PROTO_QUERY, id);
            msg.u.query.dcid = req.dcid;
            msg.u.query.wait_ms = req.wait_ms;
            /* With a wait, the tracker also waits for this address to be attested. */
            msg.u.query.client = req.client;
            /* No server filter: in a chain the packet's destination is the
             * next hop, not the server the agent reported. */
            msg.u.query.client = req.client;
            kind = PEND_QUERY;
            break;
        case QASM_MBOX_REQ_SUBSCRIBE:
            qasm_proto_msg_init(&msg, QASM_PROTO_SUBSCRIBE, id);
            msg.u.sub.cid = req.odcid;
            kind = PEND_SUBSCRIBE;
            break;
        case QASM_MBOX_REQ_UNSUBSCRIBE:
            qasm_proto_msg_init(&msg, QASM_PROTO_UNSUBSCRIBE, id);
            msg.u.sub.cid = req.odcid;
            kind = PEND_UNSUBSCRIBE;
            break;
        default:
            continue;
        }
        int rv = qasm_tsess_send(l->s, &msg);
        if (rv < 0) {
            l->c.requests_failed++;
            if (req.type == QASM_MBOX_REQ_QUERY) {
                qasm_mbox_answer_conn(l->m, req.id, NULL, qasm_now());
                failed_query = 1;
            }
            continue;
        }
        l->c.requests_sent++;
        struct pend *p = &l->ring[id & (RING_SIZE - 1)];
        p->req_id = id;
        p->kind = kind;
        p->mbox_id = req.id;
    }
    qasm_tsess_flush(l->s);
    if (failed_query)
        l->drain(l->ud); /* released packets to send */
}

int qasm_tlink_is_up(const struct qasm_tlink *l)
{
    return qasm_tsess_is_up(l->s);
}

const struct qasm_tlink_counters *qasm_tlink_counters(const struct qasm_tlink *l)
{
    return &l->c;
}

const struct qasm_tsess_counters *qasm_tlink_session_counters(const struct qasm_tlink *l)
{
    return qasm_tsess_counters(l->s);
}

void qasm_tlink_set_keepalive(struct qasm_tlink *l, double secs)
{
    qasm_tsess_set_keepalive(l->s, secs);
}
