/* lb.c: the load-balancer function and its backend choice, see lb.h. */
#include "lb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define LB_SEED 0x51a5b0a1c0ffee11ULL

size_t qasm_lb_pick(const struct qasm_addr *client, size_t nbackends)
{
    /* Key = IP bytes and port, as nginx's "$remote_addr$remote_port". */
    uint8_t key[18];
    size_t iplen = client->family == AF_INET6 ? 16 : 4;
    memcpy(key, client->ip, iplen);
    key[iplen] = (uint8_t)(client->port >> 8);
    key[iplen + 1] = (uint8_t)client->port;
    return (size_t)(qasm_hash(key, iplen + 2, LB_SEED) % nbackends);
}

struct lb {
    size_t n;
    struct qasm_addr backends[]; /* copied from the configuration */
};

static int lb_init(void **st, const struct qasm_mbox_config *cfg, struct qasm_ring *events)
{
    (void)events;
    *st = NULL;
    if (cfg->lb_nbackends == 0 || cfg->lb_nbackends > QASM_MBOX_MAX_BACKENDS ||
        cfg->lb_backends == NULL)
        return -EINVAL;
    struct lb *l = calloc(1, sizeof(*l) + cfg->lb_nbackends * sizeof(l->backends[0]));
    if (l == NULL)
        return -ENOMEM;
    l->n = cfg->lb_nbackends;
    memcpy(l->backends, cfg->lb_backends, l->n * sizeof(l->backends[0]));
    *st = l;
    return 0;
}

static void lb_fini(void *st)
{
    free(st);
}

static int lb_on_new_flow(void *st, union qasm_mbox_fn_state *fs, void *owner,
                          const struct qasm_addr *client, qasm_tstamp now)
{
    (void)owner;
    (void)now;
    fs->backend = (int16_t)qasm_lb_pick(client, ((const struct lb *)st)->n);
    return 0;
}

static void lb_on_free(void *st, union qasm_mbox_fn_state *fs)
{
    (void)st;
    (void)fs;
}

static void lb_on_client(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                         qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    (void)pkt;
    (void)now;
    v->backend = fs->backend;
    v->flow.dst = ((const struct lb *)st)->backends[fs->backend];
}

static void lb_on_server(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                         const struct qasm_addr *client, qasm_tstamp now,
                         struct qasm_mbox_verdict *v)
{
    (void)st;
    (void)pkt;
    (void)client;
    (void)now;
    v->backend = fs->backend;
}

static int lb_flow_hop(const void *st, const union qasm_mbox_fn_state *fs,
                       const struct qasm_addr *dst, struct qasm_addr *hop)
{
    (void)dst;
    *hop = ((const struct lb *)st)->backends[fs->backend];
    return 1;
}

static void lb_info(const void *st, const union qasm_mbox_fn_state *fs, qasm_tstamp last_seen,
                    struct qasm_mbox_entry_info *info)
{
    (void)st;
    (void)last_seen;
    info->backend = fs->backend;
}

static void lb_stats(const void *st, struct qasm_mbox_stats *s)
{
    (void)st;
    (void)s;
}

static uint8_t lb_family(const void *st)
{
    (void)st;
    return 0;
}

const struct qasm_mbox_fn_ops qasm_lb_ops = {
    .init = lb_init,
    .fini = lb_fini,
    .on_new_flow = lb_on_new_flow,
    .on_free = lb_on_free,
    .on_client = lb_on_client,
    .on_server = lb_on_server,
    .flow_hop = lb_flow_hop,
    .info = lb_info,
    .stats = lb_stats,
    .by_port = NULL,
    .family = lb_family,
    .unknown_server = QASM_MBOX_FN_UNKNOWN_PASS,
    .cidlen_per_server = 0,
};
