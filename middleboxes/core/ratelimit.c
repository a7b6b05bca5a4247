/* ratelimit.c: the rate-limiter function, see ratelimit.h. */
#include "ratelimit.h"

#include <errno.h>
#include <stdlib.h>

struct ratelimit {
    struct qasm_bucket_params bp;
    int bytes; /* a token is a byte of payload, not a packet */
};

static int rl_init(void **st, const struct qasm_mbox_config *cfg, struct qasm_ring *events)
{
    (void)events;
    *st = NULL;
    struct qasm_bucket_params bp;
    if (qasm_bucket_params_init(&bp, cfg->rl_rate, cfg->rl_burst) < 0)
        return -EINVAL;
    struct ratelimit *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->bp = bp;
    r->bytes = cfg->rl_bytes;
    *st = r;
    return 0;
}

static void rl_fini(void *st)
{
    free(st);
}

static int rl_on_new_flow(void *st, union qasm_mbox_fn_state *fs, void *owner,
                          const struct qasm_addr *client, qasm_tstamp now)
{
    (void)owner;
    (void)client;
    qasm_bucket_init(&fs->bucket, &((const struct ratelimit *)st)->bp, now);
    return 0;
}

static void rl_on_free(void *st, union qasm_mbox_fn_state *fs)
{
    (void)st;
    (void)fs;
}

static void rl_on_client(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                         qasm_tstamp now, struct qasm_mbox_verdict *v)
{
    const struct ratelimit *r = st;
    if (!qasm_bucket_take(&fs->bucket, &r->bp, r->bytes ? pkt->len : 1, now)) {
        v->action = QASM_MBOX_DROP;
        v->reason = QASM_MBOX_DROP_RATE_LIMITED;
    }
}

static void rl_on_server(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                         const struct qasm_addr *client, qasm_tstamp now,
                         struct qasm_mbox_verdict *v)
{
    (void)client;
    rl_on_client(st, fs, pkt, now, v);
}

static int rl_flow_hop(const void *st, const union qasm_mbox_fn_state *fs,
                       const struct qasm_addr *dst, struct qasm_addr *hop)
{
    (void)st;
    (void)fs;
    *hop = *dst; /* the upstream */
    return 1;
}

static void rl_info(const void *st, const union qasm_mbox_fn_state *fs, qasm_tstamp last_seen,
                    struct qasm_mbox_entry_info *info)
{
    info->tokens = qasm_bucket_tokens(&fs->bucket, &((const struct ratelimit *)st)->bp, last_seen);
}

static void rl_stats(const void *st, struct qasm_mbox_stats *s)
{
    (void)st;
    (void)s;
}

static uint8_t rl_family(const void *st)
{
    (void)st;
    return 0;
}

const struct qasm_mbox_fn_ops qasm_ratelimit_ops = {
    .init = rl_init,
    .fini = rl_fini,
    .on_new_flow = rl_on_new_flow,
    .on_free = rl_on_free,
    .on_client = rl_on_client,
    .on_server = rl_on_server,
    .flow_hop = rl_flow_hop,
    .info = rl_info,
    .stats = rl_stats,
    .by_port = NULL,
    .family = rl_family,
    .unknown_server = QASM_MBOX_FN_UNKNOWN_NEW,
    .cidlen_per_server = 1,
};
