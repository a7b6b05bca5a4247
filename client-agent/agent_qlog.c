/*
 * agent_qlog.c: NEW_CONNECTION_ID frames from ngtcp2's qlog JSON (see
 * agent_qlog.h). Every read is bounded by the buffer length.
 */
#include "agent_qlog.h"

#include <string.h>

#include "parse.h"

static const char FRAME_KEY[] = "\"frame_type\":\"new_connection_id\"";

/* Finds "KEY": in [p, end) and returns the byte after the colon, or NULL. */
static const char *after_key(const char *p, const char *end, const char *key)
{
    size_t klen = strlen(key);
    const char *hit;

    while (p < end && (hit = memmem(p, (size_t)(end - p), key, klen)) != NULL) {
        const char *q = hit + klen;
        if (q < end && *q == ':')
            return q + 1;
        p = hit + 1;
    }
    return NULL;
}

static const char *parse_u64(const char *p, const char *end, uint64_t *v)
{
    int n = qasm_parse_u64_prefix(v, p, (size_t)(end - p), UINT64_MAX);
    return n < 0 ? NULL : p + n;
}

/* A quoted hex CID at |p|; returns what follows the closing quote, NULL if malformed. */
static const char *parse_cid(const char *p, const char *end, struct qasm_cid *cid)
{
    if (p >= end || *p != '"')
        return NULL;
    p++;
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (!q || qasm_cid_parse_len(cid, p, (size_t)(q - p)) < 0)
        return NULL;
    return q + 1;
}

size_t qasm_agent_qlog_scan(const void *data, size_t len, struct qasm_agent_newcid *out,
                            size_t max)
{
    const char *p = data, *end = p + len;
    size_t found = 0;
    const char *hit;

    while (found < max && p < end &&
           (hit = memmem(p, (size_t)(end - p), FRAME_KEY, sizeof(FRAME_KEY) - 1)) != NULL) {
        const char *fend, *next, *q;
        struct qasm_agent_newcid nc;

        p = hit + sizeof(FRAME_KEY) - 1;
        /* The frame object ends at the next frame (or the buffer end). */
        next = memmem(p, (size_t)(end - p), "\"frame_type\"", 12);
        fend = next ? next : end;
        memset(&nc, 0, sizeof(nc));
        q = after_key(p, fend, "\"sequence_number\"");
        if (!q || !parse_u64(q, fend, &nc.seq))
            continue;
        q = after_key(p, fend, "\"retire_prior_to\"");
        if (q && !parse_u64(q, fend, &nc.retire_prior_to))
            nc.retire_prior_to = 0;
        q = after_key(p, fend, "\"connection_id\"");
        if (!q || !parse_cid(q, fend, &nc.cid))
            continue;
        out[found++] = nc;
    }
    return found;
}
