/* nat.c: the NAT function, see nat.h. */
#include "nat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "portpool.h"

struct nat {
    struct qasm_portpool *pool;
    struct qasm_addr pub; /* public IP, port 0 */
    struct qasm_ring *events;
};

static int nat_init(void **st, const struct qasm_mbox_config *cfg, struct qasm_ring *events)
{
    *st = NULL;
    if (cfg->nat_port_min == 0 || cfg->nat_port_max < cfg->nat_port_min ||
        cfg->nat_public.family == 0)
        return -EINVAL;
    struct nat *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    int rv = qasm_portpool_new(&n->pool, cfg->nat_port_min, cfg->nat_port_max);
    if (rv < 0) {
        free(n);
        return rv;
    }
    n->pub = cfg->nat_public;
    n->events = events;
    *st = n;
    return 0;
}

static void nat_fini(void *st)
{
    struct nat *n = st;
    if (n == NULL)
        return;
    qasm_portpool_del(n->pool);
    free(n);
}

static void port_event(struct nat *n, enum qasm_mbox_event_type type, uint16_t port)
{
    struct qasm_mbox_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = type;
    ev.addr = n->pub;
    ev.addr.port = port;
    (void)qasm_ring_push(n->events, &ev);
}

static int nat_on_new_flow(void *st, union qasm_mbox_fn_state *fs, void *owner,
                           const struct qasm_addr *client, qasm_tstamp now)
{
    struct nat *n = st;
    (void)client;
    (void)now;
    uint16_t port = qasm_portpool_alloc(n->pool, owner);
    if (port == 0)
        return -1;
    fs->port = port;
    port_event(n, QASM_MBOX_EV_PORT_OPEN, port);
    return 0;
}

static void nat_on_free(void *st, union qasm_mbox_fn_state *fs)
{
    struct nat *n = st;
    if (fs->port == 0)
        return;
    qasm_portpool_free(n->pool, fs->port);
    port_event(n, QASM_MBOX_EV_PORT_CLOSE, fs->port);
}

static void nat_on_client(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                          qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    const struct nat *n = st;
    (void)pkt;
    (void)now;
    v->public_port = fs->port;
    v->flow.src = n->pub;
    v->flow.src.port = fs->port;
}

static void nat_on_server(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                          const struct qasm_addr *client, qasm_tstamp now,
                          struct qasm_mbox_verdict *v)
{
    (void)st;
    (void)pkt;
    (void)now;
    v->public_port = fs->port;
    v->flow.dst = *client;
}

static int nat_flow_hop(const void *st, const union qasm_mbox_fn_state *fs,
                        const struct qasm_addr *dst, struct qasm_addr *hop)
{
    (void)st;
    (void)fs;
    (void)dst;
    (void)hop;
    return 0; /* the shell's public sockets follow PORT_CLOSE */
}

static void nat_info(const void *st, const union qasm_mbox_fn_state *fs, qasm_tstamp last_seen,
                     struct qasm_mbox_entry_info *info)
{
    (void)st;
    (void)last_seen;
    info->public_port = fs->port;
}

static void nat_stats(const void *st, struct qasm_mbox_stats *s)
{
    const struct nat *n = st;
    s->ports_in_use = qasm_portpool_in_use(n->pool);
    s->ports_high_water = qasm_portpool_high_water(n->pool);
}

static void *nat_by_port(const void *st, uint16_t port)
{
    return qasm_portpool_owner(((const struct nat *)st)->pool, port);
}

static uint8_t nat_family(const void *st)
{
    return ((const struct nat *)st)->pub.family;
}

const struct qasm_mbox_fn_ops qasm_nat_ops = {
    .init = nat_init,
    .fini = nat_fini,
    .on_new_flow = nat_on_new_flow,
    .on_free = nat_on_free,
    .on_client = nat_on_client,
    .on_server = nat_on_server,
    .flow_hop = nat_flow_hop,
    .info = nat_info,
    .stats = nat_stats,
    .by_port = nat_by_port,
    .family = nat_family,
    .unknown_server = QASM_MBOX_FN_UNKNOWN_DROP,
    .cidlen_per_server = 1,
};
