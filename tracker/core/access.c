#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "parse.h"

int qasm_access_allow_add(struct qasm_access *a, const char *prefix)
{
    char ip[64];
    const char *slash = strchr(prefix, '/');
    size_t n = slash ? (size_t)(slash - prefix) : strlen(prefix);
    if (n == 0 || n >= sizeof(ip))
        return -EINVAL;
    memcpy(ip, prefix, n);
    ip[n] = '\0';
    struct qasm_access_prefix p;
    memset(&p, 0, sizeof(p));
    if (qasm_addr_parse_ip(&p.net, ip, 0) < 0)
        return -EINVAL;
    unsigned max = p.net.family == AF_INET ? 32 : 128;
    p.bits = (uint8_t)max;
    if (slash) {
        uint64_t b;
        if (qasm_parse_u64(&b, slash + 1, 0, max) < 0)
            return -EINVAL;
        p.bits = (uint8_t)b;
    }
    if (a->nallow >= QASM_ACCESS_MAX_ALLOW)
        return -ENOSPC;
    a->allow[a->nallow++] = p;
    return 0;
}

static int prefix_match(const struct qasm_access_prefix *p, const struct qasm_addr *x)
{
    if (p->net.family != x->family)
        return 0;
    unsigned full = p->bits / 8, rest = p->bits % 8;
    if (memcmp(p->net.ip, x->ip, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (p->net.ip[full] & mask) == (x->ip[full] & mask);
}

int qasm_access_allowed(struct qasm_access *a, const struct qasm_addr *peer)
{
    if (a->nallow == 0)
        return 1;
    for (unsigned i = 0; i < a->nallow; i++)
        if (prefix_match(&a->allow[i], peer))
            return 1;
    a->n.allow_refused++;
    return 0;
}

int qasm_access_is_loopback(const struct qasm_addr *a)
{
    static const uint8_t v6lo[16] = { [15] = 1 };
    if (a->family == AF_INET)
        return a->ip[0] == 127;
    return a->family == AF_INET6 && memcmp(a->ip, v6lo, 16) == 0;
}

int qasm_access_sess_init(const struct qasm_access *a, struct qasm_access_sess *st,
                          const uint8_t tn[QASM_PROTO_NONCE_LEN])
{
    memset(st, 0, sizeof(*st));
    memcpy(st->tn, tn, QASM_PROTO_NONCE_LEN);
    return a->key.len == 0;
}

static int reply_error(struct qasm_proto_msg *out, uint32_t req_id, const char *text, int what)
{
    qasm_proto_msg_init(out, QASM_PROTO_ERROR, req_id);
    out->u.error.code = QASM_PROTO_E_AUTH;
    snprintf(out->u.error.text, sizeof(out->u.error.text), "%s", text);
    return what;
}

int qasm_access_session_msg(struct qasm_access *a, struct qasm_access_sess *st,
                            int *authenticated, int rv, const struct qasm_proto_msg *m,
                            struct qasm_proto_msg *out)
{
    uint8_t type = m->hdr.type;
    int handshake = rv == 0 && (type == QASM_PROTO_HELLO || type == QASM_PROTO_AUTH);
    if (*authenticated) {
        if (handshake && a->key.len == 0 && type == QASM_PROTO_HELLO)
            return reply_error(out, m->hdr.req_id, "no key configured on this tracker",
                               QASM_ACCESS_REPLY);
        return QASM_ACCESS_HANDLE; /* a second handshake is an unexpected type there */
    }
    if (!handshake) {
        a->n.auth_required++;
        return reply_error(out, m->hdr.req_id, "key required: authenticate first (HELLO)",
                           QASM_ACCESS_CLOSE);
    }
    if (type == QASM_PROTO_HELLO) {
        if (st->hello) {
            a->n.auth_failed++;
            return reply_error(out, m->hdr.req_id, "authentication failed", QASM_ACCESS_CLOSE);
        }
        st->hello = 1;
        memcpy(st->cn, m->u.auth.nonce, QASM_PROTO_NONCE_LEN);
        qasm_proto_msg_init(out, QASM_PROTO_CHALLENGE, m->hdr.req_id);
        memcpy(out->u.auth.nonce, st->tn, QASM_PROTO_NONCE_LEN);
        qasm_auth_proof(&a->key, QASM_AUTH_TRACKER, st->cn, st->tn, out->u.auth.proof);
        return QASM_ACCESS_REPLY;
    }
    if (!st->hello ||
        !qasm_auth_proof_ok(&a->key, QASM_AUTH_CLIENT, st->cn, st->tn, m->u.auth.proof)) {
        a->n.auth_failed++;
        return reply_error(out, m->hdr.req_id, "authentication failed", QASM_ACCESS_CLOSE);
    }
    *authenticated = 1;
    a->n.auth_ok++;
    qasm_proto_msg_init(out, QASM_PROTO_OK, m->hdr.req_id);
    return QASM_ACCESS_REPLY;
}

int qasm_access_report(struct qasm_access *a, uint8_t type, const struct qasm_proto_report *r)
{
    if (a->key.len == 0)
        return 0; /* no key: a key MAC means nothing here */
    int v = qasm_auth_report_check(&a->key, type, r);
    if (v == QASM_AUTH_FORGED) {
        a->n.rejected_key_mac++;
        return -EPERM;
    }
    if (v == QASM_AUTH_NONE && a->trust == QASM_TRUST_MAC) {
        a->n.rejected_no_key_mac++;
        return -EPERM;
    }
    a->n.reports_key_mac += v == QASM_AUTH_VALID;
    return 0;
}

const struct qasm_addr *qasm_access_trust_refusal(const struct qasm_proto_report *r,
                                                  const struct qasm_addr *src,
                                                  const char **fix)
{
    const struct qasm_addr *claimed =
            src && qasm_addr_ip_eq(&r->client, src) ? &r->client0 : &r->client;
    if (src && claimed->family != src->family)
        *fix = "the agent reports over another address family than its connection's: let the "
               "tracker listen on both (--listen 127.0.0.1:P --listen [::1]:P) and give the "
               "agent both (QASM_TRACKER=127.0.0.1:P,[::1]:P), or use --trust mac with "
               "--key (QASM_TRACKER_KEY)";
    else
        *fix = "a NAT or another host between agent and tracker: use --trust mac with --key "
               "(QASM_TRACKER_KEY), or --trust any in a lab";
    return claimed;
}

int qasm_access_store_trust_any(const struct qasm_access *a)
{
    return a->trust != QASM_TRUST_SOURCE;
}
