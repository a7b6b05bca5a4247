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

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static const char *parse_cid(const char *p, const char *end, struct qasm_cid *cid)
{
    size_t n = 0;

    if (p >= end || *p != '"')
        return NULL;
    p++;
    while (p < end && *p != '"') {
        int hi, lo;
        if (end - p < 2 || n == QASM_CID_MAXLEN)
            return NULL;
        hi = hexval(p[0]);
        lo = hexval(p[1]);
        if (hi < 0 || lo < 0)
            return NULL;
        cid->data[n++] = (uint8_t)(hi << 4 | lo);
        p += 2;
    }
    if (p >= end)
        return NULL;
    cid->len = (uint8_t)n;
    return p + 1;
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
