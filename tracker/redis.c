/*
 * redis.c: the Redis backends of the tracker (backend.h): standalone
 * (redis://HOST:PORT) and Cluster (redis-cluster://HOST:PORT[,...]), on
 * hiredis's asynchronous API and its libev adapter, so nothing blocks the
 * tracker's loop. docs/SCALE-OUT.md describes the design; in short:
 *
 *   qc:{ODCID}:CLIENT0   the connection's record (a RECORD message, codec of
 *                        lib/proto.h), PX = --ttl (closed: --close-linger)
 *   qs:{ODCID}:CLIENT0   its sequence number (the record's rev), same TTL
 *   qi:{CID}             index: "{ODCID}:CLIENT0" for the O-DCID and each DCID
 *   qasm:ev              pub/sub channel: 8-byte tracker id + PUSH message
 *
 * The record and the PUSH are followed by the connection's secret (16
 * bytes, docs/PROTOCOL.md "Authentication"), so that any tracker sharing
 * the store can verify the owner's reports. Only trackers read Redis and
 * these channels: the secret never reaches a middlebox (Redis needs AUTH
 * where others can reach it).
 *
 * The hash tag {ODCID} puts everything about one connection in one Cluster
 * slot, so one script (EVAL) bumps the sequence and stores the record
 * atomically. Writes go to the node of the key's slot (slots.h); MOVED
 * updates the slot map and resends, ASK resends once after ASKING; the map
 * is read with CLUSTER SLOTS at start, after MOVED and after a node is lost.
 *
 * Pub/sub: standalone PUBLISH/SUBSCRIBE on qasm:ev; on a Cluster, sharded
 * SPUBLISH/SSUBSCRIBE on 16 channels qasm:ev:{0}..{15} (a connection's
 * changes go to channel crc16(O-DCID) % 16), each subscribed on the node
 * that serves its slot. hiredis 0.14's async context only routes pushes of
 * channels named by a SUBSCRIBE command (and asserts on others), so each
 * per-node context first SUBSCRIBEs to the same names (nobody PUBLISHes to
 * them), which registers them; the "smessage" pushes then reach our
 * callback like "message" ones.
 */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

#include "bytes.h"
#include "hash.h"
#include "degrade.h"
#include "log.h"
#include "slots.h"

#define MAX_NODES 32
#define MAX_INFLIGHT 200000 /* commands in flight before writes are refused */
#define MAX_REDIRECTS 5
#define CHANNEL "qasm:ev"
#define NCHAN 16 /* sharded channels on a Cluster */
#define KEYLEN (8 + QASM_CID_HEXLEN + QASM_ADDR_STRLEN)
#define BACKOFF_MIN 0.1
#define BACKOFF_MAX 5.0

struct node {
    struct qasm_backend *b;
    char host[QASM_SLOT_HOSTLEN + 1];
    int port;
    redisAsyncContext *ac; /* commands; NULL when not connected */
    int up;                /* ac connected */
    int seed;              /* given on the command line */
    redisAsyncContext *sub; /* Cluster: sharded pub/sub context; NULL when none */
    int sub_up;
};

struct counters {
    uint64_t auth_errors; /* AUTH refused, or NOAUTH replies (a password is needed) */
    uint64_t writes, write_errors, unsent, lookups, lookup_hits;
    uint64_t remote_applied, remote_stale, remote_gaps, reconnects, redirects;
};

struct qasm_backend {
    struct qasm_backend_config cfg;
    int cluster;
    struct node nodes[MAX_NODES];
    int nnodes;
    redisAsyncContext *sub; /* pub/sub context */
    int sub_up;
    int sub_node;           /* node the pub/sub context talks to */
    struct qasm_slotmap map;
    int chan_node[NCHAN];   /* Cluster: node where channel i is subscribed, -1 none */
    unsigned chan_slot[NCHAN];
    int map_refreshing;
    uint64_t id;            /* this tracker's id in published messages */
    size_t inflight;
    int applying;           /* inside qasm_store_apply: do not republish */
    int need_resync;
    int closing;            /* qasm_backend_del runs: callbacks do nothing */
    ev_timer retry;
    ev_timer health;        /* 1 s: resynchronise after failed or refused writes */
    double backoff;
    struct counters n;
    struct qasm_degrade down; /* store unreachable or refusing us: said until it is up */
};

/* ---- commands with routing -------------------------------------------- */

typedef void (*reply_fn)(struct qasm_backend *b, redisReply *r, void *priv);

struct cmd {
    struct qasm_backend *b;
    reply_fn fn;
    void *priv;
    unsigned slot;
    int redirects;
    int argc;
    const char *argv[8];
    size_t lens[8];
    char data[]; /* the argument bytes */
};

static void retry_schedule(struct qasm_backend *b);
static void map_refresh(struct qasm_backend *b);
static void chan_reconcile(struct qasm_backend *b);

static int any_up(const struct qasm_backend *b)
{
    for (int i = 0; i < b->nnodes; i++)
        if (b->nodes[i].up)
            return i;
    return -1;
}

static struct node *route(struct qasm_backend *b, unsigned slot)
{
    if (b->cluster) {
        unsigned n = qasm_slotmap_get(&b->map, slot);
        if (n != QASM_SLOT_NONE && (int)n < b->nnodes && b->nodes[n].up)
            return &b->nodes[n];
    }
    int i = any_up(b);
    return i < 0 ? NULL : &b->nodes[i];
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata);

static int cmd_issue(struct cmd *x, struct node *n, int asking)
{
    struct qasm_backend *b = x->b;
    if (asking)
        redisAsyncCommand(n->ac, NULL, NULL, "ASKING");
    if (redisAsyncCommandArgv(n->ac, reply_cb, x, x->argc, x->argv, x->lens) != REDIS_OK)
        return -EIO;
    b->inflight++;
    return 0;
}

/* Send a command routed by |slot|; |fn| gets the reply (NULL on failure). */
static int cmd_send(struct qasm_backend *b, unsigned slot, reply_fn fn, void *priv, int argc,
                    const char **argv, const size_t *lens)
{
    if (b->inflight >= MAX_INFLIGHT) {
        b->need_resync = 1;
        return -ENOBUFS;
    }
    struct node *n = route(b, slot);
    if (n == NULL)
        return -ENOTCONN;
    size_t total = 0;
    for (int i = 0; i < argc; i++)
        total += lens[i];
    struct cmd *x = malloc(sizeof(*x) + total + 1);
    if (x == NULL)
        return -ENOMEM;
    x->b = b;
    x->fn = fn;
    x->priv = priv;
    x->slot = slot;
    x->redirects = 0;
    x->argc = argc;
    size_t off = 0;
    for (int i = 0; i < argc; i++) {
        memcpy(x->data + off, argv[i], lens[i]);
        x->argv[i] = x->data + off;
        x->lens[i] = lens[i];
        off += lens[i];
    }
    if (cmd_issue(x, n, 0) < 0) {
        free(x);
        return -EIO;
    }
    return 0;
}

static struct node *node_find_or_add(struct qasm_backend *b, const char *host, int port);

/*
 * The store cannot be used: a node that does not connect, drops, or refuses
 * us. Said as a degraded cause (lib/degrade.h) until health_cb sees it up.
 */
static void store_down(struct qasm_backend *b, const struct node *n, const char *what)
{
    struct qasm_degrade_line l;
    if (qasm_degrade_hit(&b->down, 1, qasm_now(), &l))
        qasm_log_degrade(&l, "store unreachable", "redis %s:%d: %s (store_up 0; reports are "
                         "kept in memory only, other trackers do not see them)",
                         n ? n->host : "?", n ? n->port : 0, what);
}

/*
 * An AUTH that failed, or a command refused for want of one: counted and
 * said: everything else the store does will fail too.
 */
static void auth_failed(struct qasm_backend *b, const redisAsyncContext *ac, const char *what)
{
    char line[320];
    b->n.auth_errors++;
    snprintf(line, sizeof(line), "%s (store_auth_errors %llu)", what,
             (unsigned long long)b->n.auth_errors);
    store_down(b, ac ? ac->data : NULL, line);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct qasm_backend *b = privdata;
    redisReply *r = reply;
    if (b->closing || r == NULL || r->type != REDIS_REPLY_ERROR)
        return;
    char what[256];
    snprintf(what, sizeof(what), "AUTH refused: %.*s (check --store-auth)", (int)r->len, r->str);
    auth_failed(b, ac, what);
}

/* AUTH first on a new context: hiredis sends commands in the order they were issued. */
static void send_auth(struct qasm_backend *b, redisAsyncContext *ac)
{
    if (b->cfg.auth_pass == NULL)
        return;
    if (b->cfg.auth_user)
        redisAsyncCommand(ac, on_auth, b, "AUTH %s %s", b->cfg.auth_user, b->cfg.auth_pass);
    else
        redisAsyncCommand(ac, on_auth, b, "AUTH %s", b->cfg.auth_pass);
}

static void reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct cmd *x = privdata;
    struct qasm_backend *b = x->b;
    redisReply *r = reply;
    b->inflight--;
    if (!b->closing && r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0)
        auth_failed(b, ac, b->cfg.auth_pass ? "NOAUTH: the AUTH was not accepted"
                                            : "NOAUTH: the server needs a password "
                                              "(--store-auth FILE)");
    if (b->closing) {
        if (x->fn)
            x->fn(b, NULL, x->priv); /* frees what it holds, does nothing else */
        free(x);
        return;
    }
    if (r && r->type == REDIS_REPLY_ERROR && b->cluster && x->redirects < MAX_REDIRECTS) {
        struct qasm_slot_redirect rd;
        if (qasm_slot_redirect(&rd, r->str, r->len) == 0) {
            struct node *n = node_find_or_add(b, rd.host, rd.port);
            b->n.redirects++;
            x->redirects++;
            if (rd.kind == QASM_SLOT_MOVED) {
                if (n)
                    qasm_slotmap_set(&b->map, rd.slot, rd.slot, (unsigned)(n - b->nodes));
                map_refresh(b);
            }
            if (n && n->up && cmd_issue(x, n, rd.kind == QASM_SLOT_ASK) == 0)
                return;
            r = NULL; /* the node is not connected yet: a failure this time */
        }
    }
    if (x->fn)
        x->fn(b, r, x->priv);
    free(x);
}

/* ---- connections ------------------------------------------------------- */

static void sub_connect(struct qasm_backend *b);
static void node_connect(struct node *n);
static void resync(struct qasm_backend *b);

/*
 * The PING queued behind the AUTH: a node is up only once it answers (a
 * connection whose AUTH failed, or that needs one, is not a store).
 */
static void on_ready(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct node *n = privdata;
    struct qasm_backend *b = n->b;
    redisReply *r = reply;
    if (b->closing || r == NULL || n->ac != ac)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOAUTH", 6) != 0) {
            store_down(b, n, r->str);
        } else if (b->cfg.auth_pass == NULL) {
            auth_failed(b, ac, "NOAUTH: the server needs a password (--store-auth FILE)");
        } /* else the AUTH's refusal was said */
        redisAsyncDisconnect(ac); /* on_cmd_disconnect schedules the retry */
        return;
    }
    qasm_info("redis %s:%d: connected", n->host, n->port);
    n->up = 1;
    if (b->cluster)
        map_refresh(b);
    if (!b->cluster && b->sub == NULL)
        sub_connect(b);
    b->need_resync = 1;
    resync(b);
}

static void on_cmd_connect(const redisAsyncContext *ac, int status)
{
    struct node *n = ac->data;
    struct qasm_backend *b = n->b;
    if (b->closing)
        return;
    if (status != REDIS_OK) {
        char what[160];
        snprintf(what, sizeof(what), "connect failed: %s", ac->errstr);
        store_down(b, n, what);
        n->ac = NULL;
        n->up = 0;
        retry_schedule(b);
        return;
    }
    redisAsyncCommand((redisAsyncContext *)ac, on_ready, n, "PING");
}

static void on_cmd_disconnect(const redisAsyncContext *ac, int status)
{
    struct node *n = ac->data;
    struct qasm_backend *b = n->b;
    (void)status;
    if (b->closing)
        return;
    if (n->ac == ac) {
        if (n->up)
            store_down(b, n, "disconnected");
        n->ac = NULL;
        n->up = 0;
    }
    if (b->cluster)
        map_refresh(b);
    retry_schedule(b);
}

/*
 * A new connection to node |n| on the loop, with its callbacks and the
 * store's AUTH queued first (every connection: commands, pub/sub, shard
 * channels). NULL if it cannot even start (the health timer tries again).
 */
static redisAsyncContext *ctx_open(struct node *n, redisConnectCallback *on_connect,
                                   redisDisconnectCallback *on_disconnect)
{
    redisAsyncContext *ac = redisAsyncConnect(n->host, n->port);
    if (ac == NULL)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = n;
    redisLibevAttach(n->b->cfg.loop, ac);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    send_auth(n->b, ac);
    return ac;
}

static void node_connect(struct node *n)
{
    redisAsyncContext *ac = ctx_open(n, on_cmd_connect, on_cmd_disconnect);
    if (ac)
        n->ac = ac;
}

static struct node *node_find_or_add(struct qasm_backend *b, const char *host, int port)
{
    for (int i = 0; i < b->nnodes; i++)
        if (b->nodes[i].port == port && strcmp(b->nodes[i].host, host) == 0)
            return &b->nodes[i];
    if (b->nnodes == MAX_NODES || strlen(host) > QASM_SLOT_HOSTLEN)
        return NULL;
    struct node *n = &b->nodes[b->nnodes++];
    memset(n, 0, sizeof(*n));
    n->b = b;
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    node_connect(n);
    return n;
}

static void slots_cb(struct qasm_backend *b, redisReply *r, void *priv)
{
    (void)priv;
    b->map_refreshing = 0;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            e->element[2]->type != REDIS_REPLY_ARRAY || e->element[2]->elements < 2)
            continue;
        redisReply *m = e->element[2];
        if (m->element[0]->type != REDIS_REPLY_STRING ||
            m->element[1]->type != REDIS_REPLY_INTEGER)
            continue;
        const char *host = m->element[0]->str;
        if (host[0] == '\0')
            host = "127.0.0.1";
        struct node *n = node_find_or_add(b, host, (int)m->element[1]->integer);
        if (n == NULL)
            continue;
        if (e->element[0]->integer >= 0 && e->element[1]->integer < QASM_SLOTS)
            qasm_slotmap_set(&b->map, (unsigned)e->element[0]->integer,
                             (unsigned)e->element[1]->integer, (unsigned)(n - b->nodes));
    }
    chan_reconcile(b);
}

static void map_refresh(struct qasm_backend *b)
{
    if (!b->cluster || b->map_refreshing)
        return;
    const char *argv[] = { "CLUSTER", "SLOTS" };
    size_t lens[] = { 7, 5 };
    /* Any connected node knows the map. */
    if (cmd_send(b, QASM_SLOTS, slots_cb, NULL, 2, argv, lens) == 0)
        b->map_refreshing = 1;
}

/* ---- pub/sub ------------------------------------------------------------ */

/*
 * Decodes a message of |type| followed by an optional connection secret
 * (see the head of this file). Returns 0 and sets *secret (NULL: none).
 */
static int decode_with_secret(struct qasm_proto_msg *m, uint8_t type, const uint8_t *p,
                              size_t len, const uint8_t **secret)
{
    ssize_t mlen = qasm_proto_frame(p, len);
    if (mlen <= 0)
        return -1;
    size_t rest = len - (size_t)mlen;
    if (rest != 0 && rest != QASM_PROTO_SECRET_LEN)
        return -1;
    *secret = rest ? p + mlen : NULL;
    if (qasm_proto_decode(m, p, (size_t)mlen) < 0 || m->hdr.type != type)
        return -1;
    return 0;
}

/* Encodes |m| into |buf| followed by |secret| if not NULL. Returns the length or < 0. */
static ssize_t encode_with_secret(uint8_t *buf, size_t cap, const struct qasm_proto_msg *m,
                                  const uint8_t *secret)
{
    ssize_t n = qasm_proto_encode(buf, cap, m);
    if (n < 0 || secret == NULL)
        return n;
    if (cap - (size_t)n < QASM_PROTO_SECRET_LEN)
        return -ENOBUFS;
    memcpy(buf + n, secret, QASM_PROTO_SECRET_LEN);
    return n + QASM_PROTO_SECRET_LEN;
}

static void apply_record(struct qasm_backend *b, struct qasm_proto_conn *rec,
                         const uint8_t *secret, uint8_t event)
{
    struct qasm_store_conn *c = qasm_store_get(b->cfg.store, &rec->odcid, &rec->clients[0]);
    if (c) {
        struct qasm_proto_conn cur;
        qasm_store_record(c, &cur);
        if (rec->rev > cur.rev + 1)
            b->n.remote_gaps++; /* missed updates: the whole record heals them */
    }
    b->applying = 1;
    int rv = qasm_store_apply(b->cfg.store, rec, secret, event, qasm_now());
    b->applying = 0;
    if (rv == QASM_STORE_CHANGED)
        b->n.remote_applied++;
    else
        b->n.remote_stale++;
}

/* A published record (the publisher's 8-byte id, then a PUSH): applied unless it is ours. */
static void take_published(struct qasm_backend *b, const redisReply *e)
{
    const uint8_t *p = (const uint8_t *)e->str;
    size_t len = e->len;
    if (len < 8 + QASM_PROTO_HDR_LEN || qasm_get64(p) == b->id)
        return;
    struct qasm_proto_msg m;
    const uint8_t *secret;
    if (decode_with_secret(&m, QASM_PROTO_PUSH, p + 8, len - 8, &secret) < 0) {
        b->n.remote_stale++;
        return;
    }
    apply_record(b, &m.u.push.conn, secret, m.u.push.event);
}

static void on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct qasm_backend *b = privdata;
    redisReply *r = reply;
    if (b->closing)
        return;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || strcmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    take_published(b, r->element[2]);
}

/*
 * A pub/sub connection (the backend's, or a Cluster node's for its shard
 * channels), held in |*slot| and up or not in |*up|, failed or was lost:
 * forgotten if it is the one held. Returns whether it was.
 */
static int sub_lost(redisAsyncContext **slot, int *up, const redisAsyncContext *ac)
{
    if (*slot != ac)
        return 0;
    *slot = NULL;
    *up = 0;
    return 1;
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    struct qasm_backend *b = ((struct node *)ac->data)->b;
    if (b->closing)
        return;
    if (status == REDIS_OK) {
        b->sub_up = 1;
        return;
    }
    sub_lost(&b->sub, &b->sub_up, ac);
    b->sub_up = 0;
    retry_schedule(b);
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct qasm_backend *b = ((struct node *)ac->data)->b;
    if (b->closing)
        return;
    if (sub_lost(&b->sub, &b->sub_up, ac))
        qasm_warn("redis: pub/sub connection lost");
    retry_schedule(b);
}

static void sub_connect(struct qasm_backend *b)
{
    int i = any_up(b);
    if (i < 0)
        return;
    redisAsyncContext *ac = ctx_open(&b->nodes[i], on_sub_connect, on_sub_disconnect);
    if (ac == NULL)
        return;
    redisAsyncCommand(ac, on_message, b, "SUBSCRIBE %s", CHANNEL);
    b->sub = ac;
    b->sub_node = i;
}

/* ---- sharded pub/sub (Cluster) --------------------------------------------- */

static size_t chan_name(char *out, size_t cap, unsigned i)
{
    int n = snprintf(out, cap, "%s:{%u}", CHANNEL, i);
    return n < 0 ? 0 : (size_t)n;
}

static void on_shard_msg(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct node *n = privdata;
    struct qasm_backend *b = n->b;
    redisReply *r = reply;
    if (b->closing || r == NULL)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        /* An SSUBSCRIBE refused (MOVED: the slot moved): subscribe again elsewhere. */
        for (unsigned i = 0; i < NCHAN; i++)
            if (b->chan_node[i] == (int)(n - b->nodes))
                b->chan_node[i] = -1;
        map_refresh(b);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "sunsubscribe") == 0) {
        /* The server dropped us (slot migrated or failed over). */
        for (unsigned i = 0; i < NCHAN; i++) {
            char name[32];
            size_t nl = chan_name(name, sizeof(name), i);
            if (nl == r->element[1]->len && memcmp(name, r->element[1]->str, nl) == 0 &&
                b->chan_node[i] == (int)(n - b->nodes))
                b->chan_node[i] = -1;
        }
        map_refresh(b);
        return;
    }
    if (strcmp(kind, "smessage") != 0 || r->element[2]->type != REDIS_REPLY_STRING)
        return;
    take_published(b, r->element[2]);
}

static void on_shard_connect(const redisAsyncContext *ac, int status)
{
    struct node *n = ac->data;
    struct qasm_backend *b = n->b;
    if (b->closing)
        return;
    if (status != REDIS_OK) {
        sub_lost(&n->sub, &n->sub_up, ac);
        n->sub_up = 0;
        return; /* the health timer tries again */
    }
    n->sub_up = 1;
    chan_reconcile(b);
}

static void on_shard_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct node *n = ac->data;
    struct qasm_backend *b = n->b;
    if (b->closing)
        return;
    if (sub_lost(&n->sub, &n->sub_up, ac)) {
        for (unsigned i = 0; i < NCHAN; i++)
            if (b->chan_node[i] == (int)(n - b->nodes))
                b->chan_node[i] = -1;
        map_refresh(b);
    }
}

static void shard_connect(struct node *n)
{
    redisAsyncContext *ac = ctx_open(n, on_shard_connect, on_shard_disconnect);
    if (ac)
        n->sub = ac;
}

/* Subscribe every channel on the node that serves its slot. */
static void chan_reconcile(struct qasm_backend *b)
{
    if (!b->cluster || b->closing)
        return;
    for (unsigned i = 0; i < NCHAN; i++) {
        unsigned owner = qasm_slotmap_get(&b->map, b->chan_slot[i]);
        if (owner == QASM_SLOT_NONE || (int)owner >= b->nnodes || b->chan_node[i] == (int)owner)
            continue;
        struct node *n = &b->nodes[owner];
        if (!n->up)
            continue;
        if (n->sub == NULL) {
            shard_connect(n);
            continue;
        }
        if (!n->sub_up)
            continue;
        char name[32];
        size_t nl = chan_name(name, sizeof(name), i);
        const char *argv[] = { "SUBSCRIBE", name };
        size_t lens[] = { 9, nl };
        const char *sargv[] = { "SSUBSCRIBE", name };
        size_t slens[] = { 10, nl };
        /* SUBSCRIBE first: it registers the name with hiredis (see the top). */
        if (redisAsyncCommandArgv(n->sub, on_shard_msg, n, 2, argv, lens) != REDIS_OK ||
            redisAsyncCommandArgv(n->sub, on_shard_msg, n, 2, sargv, slens) != REDIS_OK)
            continue;
        b->chan_node[i] = (int)owner;
    }
}

static int chans_up(const struct qasm_backend *b)
{
    for (unsigned i = 0; i < NCHAN; i++)
        if (b->chan_node[i] < 0 || !b->nodes[b->chan_node[i]].sub_up)
            return 0;
    return 1;
}

static void publish(struct qasm_backend *b, const struct qasm_proto_conn *rec,
                    const uint8_t *secret, uint8_t event)
{
    uint8_t buf[8 + QASM_PROTO_MAX_MSG + QASM_PROTO_SECRET_LEN];
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_PUSH, 0, 0, 0 };
    m.u.push.event = event;
    m.u.push.conn = *rec;
    qasm_put64(buf, b->id);
    ssize_t n = encode_with_secret(buf + 8, sizeof(buf) - 8, &m, secret);
    if (n < 0)
        return;
    if (b->cluster) {
        char name[32];
        unsigned i = qasm_slot_crc16(rec->odcid.data, rec->odcid.len) % NCHAN;
        size_t nl = chan_name(name, sizeof(name), i);
        const char *argv[] = { "SPUBLISH", name, (const char *)buf };
        size_t lens[] = { 8, nl, (size_t)n + 8 };
        if (cmd_send(b, b->chan_slot[i], NULL, NULL, 3, argv, lens) < 0)
            b->n.unsent++;
        return;
    }
    const char *argv[] = { "PUBLISH", CHANNEL, (const char *)buf };
    size_t lens[] = { 7, sizeof(CHANNEL) - 1, (size_t)n + 8 };
    if (cmd_send(b, qasm_slot_key(CHANNEL, sizeof(CHANNEL) - 1), NULL, NULL, 3, argv, lens) < 0)
        b->n.unsent++;
}

/* ---- reconnection ------------------------------------------------------- */

static int chans_up(const struct qasm_backend *b);

/* Every slot has a node, and that node is connected. */
static int slots_up(const struct qasm_backend *b)
{
    if (!qasm_slotmap_covered(&b->map))
        return 0;
    for (unsigned s = 0; s < QASM_SLOTS; s++)
        if (!b->nodes[qasm_slotmap_get(&b->map, s)].up)
            return 0;
    return 1;
}

/* What stats call store_up: a node for every slot, and the event channels. */
static int store_is_up(const struct qasm_backend *b)
{
    int up = 0;
    for (int i = 0; i < b->nnodes; i++)
        up += b->nodes[i].up;
    if (b->cluster)
        up = up && slots_up(b); /* the node of every slot is connected */
    return up > 0 && (b->cluster ? chans_up(b) : b->sub_up);
}

/* The store-down cause: its count every 10 s while down, its end once up. */
static void down_poll(struct qasm_backend *b)
{
    struct qasm_degrade_line l;
    qasm_tstamp now = qasm_now();
    if (store_is_up(b))
        qasm_degrade_end(&b->down, now, &l);
    else
        qasm_degrade_poll(&b->down, now, &l);
    qasm_log_degrade(&l, "store unreachable", "%d node(s), store_reconnects %llu, "
                     "store_auth_errors %llu", b->nnodes, (unsigned long long)b->n.reconnects,
                     (unsigned long long)b->n.auth_errors);
}

static void health_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_backend *b = w->data;
    down_poll(b);
    if (b->need_resync && b->inflight < MAX_INFLIGHT / 2)
        resync(b);
    if (b->cluster && (!slots_up(b) || !chans_up(b)))
        map_refresh(b); /* until every slot and channel has a live node (failover) */
    chan_reconcile(b);
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_backend *b = w->data;
    int missing = 0;
    for (int i = 0; i < b->nnodes; i++) {
        struct node *n = &b->nodes[i];
        if (n->ac == NULL) {
            b->n.reconnects++;
            node_connect(n);
            missing = 1;
        }
    }
    if (!b->cluster && b->sub == NULL) {
        sub_connect(b);
        missing = 1;
    }
    if (missing) {
        b->backoff *= 2;
        if (b->backoff > BACKOFF_MAX)
            b->backoff = BACKOFF_MAX;
        retry_schedule(b);
    } else {
        b->backoff = BACKOFF_MIN;
    }
}

static void retry_schedule(struct qasm_backend *b)
{
    if (ev_is_active(&b->retry))
        return;
    ev_timer_set(&b->retry, b->backoff, 0.);
    ev_timer_start(b->cfg.loop, &b->retry);
}

/* ---- keys ---------------------------------------------------------------- */

/* "{ODCID}:CLIENT0": the suffix of qc:/qs: keys and the value of index entries. */
static size_t conn_tag(char *out, size_t cap, const struct qasm_cid *odcid,
                       const struct qasm_addr *client0)
{
    char hex[QASM_CID_HEXLEN], a[QASM_ADDR_STRLEN];
    int n = snprintf(out, cap, "{%s}:%s", qasm_cid_hex(hex, odcid),
                     qasm_addr_format(a, sizeof(a), client0));
    return n < 0 ? 0 : (size_t)n;
}

static size_t index_key(char *out, size_t cap, const struct qasm_cid *cid)
{
    char hex[QASM_CID_HEXLEN];
    int n = snprintf(out, cap, "qi:{%s}", qasm_cid_hex(hex, cid));
    return n < 0 ? 0 : (size_t)n;
}

static unsigned ms_of(qasm_duration d)
{
    uint64_t ms = d / QASM_MS;
    return ms == 0 ? 1 : ms > 0x7fffffff ? 0x7fffffff : (unsigned)ms;
}

/* ---- writes --------------------------------------------------------------- */

static const char write_script[] =
    "local s = redis.call('INCR', KEYS[2]) "
    "local r = tonumber(ARGV[1]) "
    "if r > s then redis.call('SET', KEYS[2], r) s = r end "
    "redis.call('PEXPIRE', KEYS[2], ARGV[2]) "
    "redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2]) "
    "return s";

struct write {
    struct qasm_proto_conn rec;
    uint8_t event;
    uint8_t has_secret;
    uint8_t secret[QASM_PROTO_SECRET_LEN];
};

static void count_cb(struct qasm_backend *b, redisReply *r, void *priv)
{
    (void)priv;
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        b->n.write_errors++;
}

static void write_cb(struct qasm_backend *b, redisReply *r, void *priv)
{
    struct write *w = priv;
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        /* Not stored (its master is down, say): rewritten by the resync. The
         * other trackers still get the change if its channel's node is up. */
        b->n.write_errors++;
        b->need_resync = 1;
        if (!b->closing)
            publish(b, &w->rec, w->has_secret ? w->secret : NULL, w->event);
        free(w);
        return;
    }
    uint32_t seq = (uint32_t)r->integer;
    struct qasm_store_conn *c = qasm_store_get(b->cfg.store, &w->rec.odcid, &w->rec.clients[0]);
    if (c)
        qasm_store_conn_set_rev(c, seq);
    w->rec.rev = seq;
    publish(b, &w->rec, w->has_secret ? w->secret : NULL, w->event);
    free(w);
}

/* Index entries for the O-DCID and every active DCID of |rec|. */
static void write_index(struct qasm_backend *b, const struct qasm_proto_conn *rec,
                        const char *tag, size_t taglen, unsigned ttl_ms)
{
    char key[KEYLEN], ttl[16];
    size_t tl = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    for (int i = -1; i < (int)rec->ndcids; i++) {
        const struct qasm_cid *cid = i < 0 ? &rec->odcid : &rec->dcids[i].cid;
        size_t kl = index_key(key, sizeof(key), cid);
        const char *argv[] = { "SET", key, tag, "PX", ttl };
        size_t lens[] = { 3, kl, taglen, 2, tl };
        if (cmd_send(b, qasm_slot_key(key, kl), count_cb, NULL, 5, argv, lens) < 0)
            b->n.unsent++;
    }
}

static int write_record(struct qasm_backend *b, const struct qasm_proto_conn *rec,
                        const uint8_t *secret, uint8_t event)
{
    uint8_t buf[QASM_PROTO_MAX_MSG + QASM_PROTO_SECRET_LEN];
    struct qasm_proto_msg m;
    m.hdr = (struct qasm_proto_hdr){ QASM_PROTO_VERSION, QASM_PROTO_RECORD, 0, 0, 0 };
    m.u.conn = *rec;
    ssize_t n = encode_with_secret(buf, sizeof(buf), &m, secret);
    if (n < 0)
        return -EINVAL;
    char tag[KEYLEN], kc[KEYLEN], ks[KEYLEN], rev[16], ttl[16];
    size_t tl = conn_tag(tag, sizeof(tag), &rec->odcid, &rec->clients[0]);
    size_t kcl = (size_t)snprintf(kc, sizeof(kc), "qc:%s", tag);
    size_t ksl = (size_t)snprintf(ks, sizeof(ks), "qs:%s", tag);
    size_t rl = (size_t)snprintf(rev, sizeof(rev), "%u", rec->rev);
    int closed = (rec->flags & QASM_PROTO_REC_CLOSED) != 0;
    unsigned ttl_ms = ms_of(closed ? b->cfg.close_linger : b->cfg.ttl);
    size_t ttll = (size_t)snprintf(ttl, sizeof(ttl), "%u", ttl_ms);
    struct write *w = malloc(sizeof(*w));
    if (w == NULL)
        return -ENOMEM;
    w->rec = *rec;
    w->event = event;
    w->has_secret = secret != NULL;
    if (secret)
        memcpy(w->secret, secret, sizeof(w->secret));
    const char *argv[] = { "EVAL", write_script, "2", kc, ks, rev, ttl, (const char *)buf };
    size_t lens[] = { 4, sizeof(write_script) - 1, 1, kcl, ksl, rl, ttll, (size_t)n };
    int rv = cmd_send(b, qasm_slot_key(kc, kcl), write_cb, w, 8, argv, lens);
    if (rv < 0) {
        free(w);
        b->n.unsent++;
        b->need_resync = 1;
        return rv;
    }
    b->n.writes++;
    if (!closed)
        write_index(b, rec, tag, tl, ttl_ms);
    return 0;
}

void qasm_backend_changed(struct qasm_backend *b, struct qasm_store_conn *c, uint8_t event)
{
    if (b == NULL || b->applying || qasm_store_conn_replica(c))
        return;
    struct qasm_proto_conn rec;
    qasm_store_record(c, &rec);
    if (qasm_proto_event_removes(event)) {
        /* The keys expire by themselves; tell the other trackers' replicas. */
        rec.rev++;
        publish(b, &rec, qasm_store_conn_secret(c), event);
        return;
    }
    *qasm_store_conn_synced(c) = qasm_now();
    write_record(b, &rec, qasm_store_conn_secret(c), event);
}

void qasm_backend_touch(struct qasm_backend *b, struct qasm_store_conn *c, qasm_tstamp now)
{
    if (b == NULL || c == NULL || qasm_store_conn_replica(c) || qasm_store_conn_closed(c))
        return;
    qasm_tstamp *synced = qasm_store_conn_synced(c);
    if (now - *synced < b->cfg.ttl / 4)
        return;
    *synced = now;
    struct qasm_proto_conn rec;
    qasm_store_record(c, &rec);
    char tag[KEYLEN], key[KEYLEN], ttl[16];
    conn_tag(tag, sizeof(tag), &rec.odcid, &rec.clients[0]);
    size_t ttll = (size_t)snprintf(ttl, sizeof(ttl), "%u", ms_of(b->cfg.ttl));
    for (int k = 0; k < 2; k++) {
        size_t kl = (size_t)snprintf(key, sizeof(key), "%s:%s", k ? "qs" : "qc", tag);
        const char *argv[] = { "PEXPIRE", key, ttl };
        size_t lens[] = { 7, kl, ttll };
        if (cmd_send(b, qasm_slot_key(key, kl), count_cb, NULL, 3, argv, lens) < 0)
            b->n.unsent++;
    }
    for (int i = -1; i < (int)rec.ndcids; i++) {
        size_t kl = index_key(key, sizeof(key), i < 0 ? &rec.odcid : &rec.dcids[i].cid);
        const char *argv[] = { "PEXPIRE", key, ttl };
        size_t lens[] = { 7, kl, ttll };
        if (cmd_send(b, qasm_slot_key(key, kl), count_cb, NULL, 3, argv, lens) < 0)
            b->n.unsent++;
    }
    /* Same rev: the other trackers restart their replica's idle timer. */
    publish(b, &rec, qasm_store_conn_secret(c), QASM_PROTO_EV_REFRESH);
}

/* After a (re)connection: write every connection this tracker owns. */
static void resync(struct qasm_backend *b)
{
    if (!b->need_resync || any_up(b) < 0)
        return;
    b->need_resync = 0;
    size_t pos = 0, n = 0;
    struct qasm_store_conn *c;
    while ((c = qasm_store_next(b->cfg.store, &pos)) != NULL) {
        if (qasm_store_conn_replica(c))
            continue;
        struct qasm_proto_conn rec;
        qasm_store_record(c, &rec);
        *qasm_store_conn_synced(c) = qasm_now();
        write_record(b, &rec, qasm_store_conn_secret(c), QASM_PROTO_EV_REFRESH);
        n++;
    }
    if (n)
        qasm_info("redis: resynchronised %zu connections", n);
}

/* ---- lookups -------------------------------------------------------------- */

struct lookup {
    struct qasm_cid cid;
};

static void lookup_end(struct qasm_backend *b, struct lookup *l, int found)
{
    if (found > 0)
        b->n.lookup_hits++;
    if (b->cfg.lookup_done && !b->closing)
        b->cfg.lookup_done(b->cfg.arg, &l->cid, found);
    free(l);
}

static void record_cb(struct qasm_backend *b, redisReply *r, void *priv)
{
    struct lookup *l = priv;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        lookup_end(b, l, -1);
        return;
    }
    redisReply *rr = r->element[0], *rs = r->element[1];
    struct qasm_proto_msg m;
    const uint8_t *secret = NULL;
    if (rr->type != REDIS_REPLY_STRING || rs->type != REDIS_REPLY_STRING ||
        decode_with_secret(&m, QASM_PROTO_RECORD, (const uint8_t *)rr->str, rr->len, &secret) < 0 ||
        !qasm_proto_conn_holds_cid(&m.u.conn, &l->cid)) {
        lookup_end(b, l, 0);
        return;
    }
    m.u.conn.rev = (uint32_t)strtoul(rs->str, NULL, 10);
    apply_record(b, &m.u.conn, secret, QASM_PROTO_EV_REFRESH);
    lookup_end(b, l, 1);
}

static void index_cb(struct qasm_backend *b, redisReply *r, void *priv)
{
    struct lookup *l = priv;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        lookup_end(b, l, -1);
        return;
    }
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > KEYLEN - 8) {
        lookup_end(b, l, 0);
        return;
    }
    char kc[KEYLEN], ks[KEYLEN];
    size_t kcl = (size_t)snprintf(kc, sizeof(kc), "qc:%.*s", (int)r->len, r->str);
    size_t ksl = (size_t)snprintf(ks, sizeof(ks), "qs:%.*s", (int)r->len, r->str);
    const char *argv[] = { "MGET", kc, ks };
    size_t lens[] = { 4, kcl, ksl };
    if (cmd_send(b, qasm_slot_key(kc, kcl), record_cb, l, 3, argv, lens) < 0)
        lookup_end(b, l, -1);
}

int qasm_backend_lookup(struct qasm_backend *b, const struct qasm_cid *cid)
{
    if (b == NULL)
        return -ENOSYS;
    if (cid->len == 0)
        return -EINVAL;
    struct lookup *l = malloc(sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    l->cid = *cid;
    char key[KEYLEN];
    size_t kl = index_key(key, sizeof(key), cid);
    const char *argv[] = { "GET", key };
    size_t lens[] = { 3, kl };
    int rv = cmd_send(b, qasm_slot_key(key, kl), index_cb, l, 2, argv, lens);
    if (rv < 0) {
        free(l);
        return -ENOTCONN;
    }
    b->n.lookups++;
    return 0;
}

/* ---- setup ------------------------------------------------------------------ */

static int parse_nodes(struct qasm_backend *b, const char *list, char *err, size_t errlen)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : 0;
        if (colon == NULL || colon == tok || end == colon + 1 || *end || port <= 0 ||
            port > 65535) {
            snprintf(err, errlen, "bad HOST:PORT '%s'", tok);
            return -EINVAL;
        }
        *colon = '\0';
        char *host = tok;
        size_t hl = strlen(host);
        if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
            host[hl - 1] = '\0';
            host++;
        }
        if (b->nnodes == MAX_NODES || strlen(host) > QASM_SLOT_HOSTLEN || host[0] == '\0') {
            snprintf(err, errlen, "bad or too many nodes at '%s'", host);
            return -EINVAL;
        }
        struct node *n = &b->nodes[b->nnodes++];
        n->b = b;
        snprintf(n->host, sizeof(n->host), "%s", host);
        n->port = (int)port;
        n->seed = 1;
    }
    if (b->nnodes == 0) {
        snprintf(err, errlen, "no HOST:PORT");
        return -EINVAL;
    }
    if (!b->cluster && b->nnodes != 1) {
        snprintf(err, errlen, "redis:// takes one HOST:PORT (redis-cluster:// takes several)");
        return -EINVAL;
    }
    return 0;
}

int qasm_backend_new(struct qasm_backend **pb, const char *spec,
                     const struct qasm_backend_config *cfg, char *err, size_t errlen)
{
    *pb = NULL;
    if (strcmp(spec, "memory") == 0)
        return 0;
    int cluster;
    const char *rest;
    if (strncmp(spec, "redis://", 8) == 0) {
        cluster = 0;
        rest = spec + 8;
    } else if (strncmp(spec, "redis-cluster://", 16) == 0) {
        cluster = 1;
        rest = spec + 16;
    } else {
        snprintf(err, errlen, "unknown store '%s' (memory, redis://HOST:PORT, "
                 "redis-cluster://HOST:PORT[,HOST:PORT...])", spec);
        return -EINVAL;
    }
    struct qasm_backend *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return -ENOMEM;
    b->cfg = *cfg;
    b->cluster = cluster;
    int rv = parse_nodes(b, rest, err, errlen);
    if (rv < 0) {
        free(b);
        return rv;
    }
    qasm_slotmap_clear(&b->map);
    for (unsigned i = 0; i < NCHAN; i++) {
        char name[32];
        size_t nl = chan_name(name, sizeof(name), i);
        b->chan_node[i] = -1;
        b->chan_slot[i] = qasm_slot_key(name, nl);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    b->id = qasm_hash_mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 22) ^
                          ((uint64_t)(uintptr_t)b << 7));
    b->backoff = BACKOFF_MIN;
    qasm_degrade_init(&b->down, QASM_DEGRADE_ENDS_CALLER, 0);
    ev_timer_init(&b->retry, retry_cb, BACKOFF_MIN, 0.);
    b->retry.data = b;
    int seeds = b->nnodes;
    for (int i = 0; i < seeds; i++)
        node_connect(&b->nodes[i]);
    retry_schedule(b); /* retries whatever did not connect */
    ev_timer_init(&b->health, health_cb, 1., 1.);
    b->health.data = b;
    ev_timer_start(b->cfg.loop, &b->health);
    *pb = b;
    return 0;
}

void qasm_backend_del(struct qasm_backend *b)
{
    if (b == NULL)
        return;
    ev_timer_stop(b->cfg.loop, &b->retry);
    ev_timer_stop(b->cfg.loop, &b->health);
    b->closing = 1; /* replies to pending commands come during the frees */
    if (b->sub) {
        redisAsyncContext *ac = b->sub;
        b->sub = NULL;
        redisAsyncFree(ac);
    }
    for (int i = 0; i < b->nnodes; i++) {
        redisAsyncContext *ac = b->nodes[i].ac;
        b->nodes[i].ac = NULL;
        b->nodes[i].up = 0;
        if (ac)
            redisAsyncFree(ac);
        ac = b->nodes[i].sub;
        b->nodes[i].sub = NULL;
        if (ac)
            redisAsyncFree(ac);
    }
    free(b);
}

void qasm_backend_stats(const struct qasm_backend *b, struct qasm_proto_stats *st)
{
    if (b == NULL)
        return;
    qasm_proto_stats_add(st, "store_up", (uint64_t)store_is_up(b));
    qasm_proto_stats_add(st, "store_inflight", b->inflight);
    qasm_proto_stats_add(st, "store_writes", b->n.writes);
    qasm_proto_stats_add(st, "store_write_errors", b->n.write_errors);
    qasm_proto_stats_add(st, "store_unsent", b->n.unsent);
    qasm_proto_stats_add(st, "store_lookups", b->n.lookups);
    qasm_proto_stats_add(st, "store_lookup_hits", b->n.lookup_hits);
    qasm_proto_stats_add(st, "store_remote_applied", b->n.remote_applied);
    qasm_proto_stats_add(st, "store_remote_stale", b->n.remote_stale);
    qasm_proto_stats_add(st, "store_remote_gaps", b->n.remote_gaps);
    qasm_proto_stats_add(st, "store_reconnects", b->n.reconnects);
    qasm_proto_stats_add(st, "store_auth_errors", b->n.auth_errors);
    qasm_proto_stats_add(st, "store_redirects", b->n.redirects);
}
