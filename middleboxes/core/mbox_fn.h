/*
 * mbox_fn.h: the middlebox functions (NAT, rate limiter, load balancer)
 * behind one table of operations. The core (mbox.c) classifies packets and
 * keeps the entries; what an entry means is the function's: the NAT owns
 * its public ports and rewrites addresses (nat.h), the rate limiter its
 * token buckets (ratelimit.h), the load balancer its backends (lb.h). The
 * core never switches on the function: it calls these operations, chosen
 * once by qasm_mbox_fn_ops_of.
 */
#ifndef QASM_MBOX_FN_H
#define QASM_MBOX_FN_H

#include <stdint.h>

#include "addr.h"
#include "bucket.h"
#include "clock.h"
#include "mbox.h"
#include "ring.h"

/* An entry's function state (zeroed when the entry is made). */
union qasm_mbox_fn_state {
    uint16_t port;             /* NAT: its public port */
    struct qasm_bucket bucket; /* rate limiter: its token bucket */
    int16_t backend;           /* load balancer: index of its backend */
};

/* What a server-side packet matching no state gets. */
enum qasm_mbox_fn_unknown {
    QASM_MBOX_FN_UNKNOWN_DROP = 0, /* NAT: no mapping, dropped */
    QASM_MBOX_FN_UNKNOWN_NEW = 1,  /* rate limiter: a new entry (both directions share it) */
    QASM_MBOX_FN_UNKNOWN_PASS = 2  /* load balancer: return traffic needs no state */
};

struct qasm_mbox_fn_ops {
    /* Checks |cfg| and makes the function's state |*st|; events (PORT_OPEN /
     * PORT_CLOSE) go to |events|. Returns 0, -EINVAL or -ENOMEM. */
    int (*init)(void **st, const struct qasm_mbox_config *cfg, struct qasm_ring *events);
    void (*fini)(void *st);
    /* A new entry (|owner|, for the server-side lookup) of client |client|:
     * allocate its port / fill its bucket / pick its backend. 0, or -1 when
     * the NAT pool is exhausted. */
    int (*on_new_flow)(void *st, union qasm_mbox_fn_state *fs, void *owner,
                       const struct qasm_addr *client, qasm_tstamp now);
    /* The entry goes (only called for entries with state). */
    void (*on_free)(void *st, union qasm_mbox_fn_state *fs);
    /* A packet of the entry from the client / from the server (|client|: the
     * connection's latest client address): fill or rewrite |v|, or drop. */
    void (*on_client)(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                      qasm_tstamp now, struct qasm_mbox_verdict *v);
    void (*on_server)(void *st, union qasm_mbox_fn_state *fs, const struct qasm_mbox_pkt *pkt,
                      const struct qasm_addr *client, qasm_tstamp now,
                      struct qasm_mbox_verdict *v);
    /* The next hop a FLOW_CLOSE event names for the entry's flow to |dst|:
     * 1 with |hop| set, or 0 when the function has no such event (NAT). */
    int (*flow_hop)(const void *st, const union qasm_mbox_fn_state *fs,
                    const struct qasm_addr *dst, struct qasm_addr *hop);
    /* Fills the function's fields of |info| (entries with state). */
    void (*info)(const void *st, const union qasm_mbox_fn_state *fs, qasm_tstamp last_seen,
                 struct qasm_mbox_entry_info *info);
    /* Adds the function's counters to |s| (may be NULL). */
    void (*stats)(const void *st, struct qasm_mbox_stats *s);
    /* NAT: the entry owning public port |port| (server-side packets are found
     * by port, not by 5-tuple), or NULL. NULL for the others. */
    void *(*by_port)(const void *st, uint16_t port);
    /* Only packets of this address family are valid (NAT: no NAT64); 0 = any. */
    uint8_t (*family)(const void *st);
    enum qasm_mbox_fn_unknown unknown_server;
    /* Server CID lengths are learned per server address (0: one length for
     * all, the load balancer's backends being one service). */
    int cidlen_per_server;
};

#endif
