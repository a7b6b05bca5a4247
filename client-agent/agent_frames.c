/*
 * agent_frames.c: a QUIC v1 frame walker that only keeps NEW_CONNECTION_ID
 * (see agent_frames.h). Frame layouts: RFC 9000 §19, RFC 9221 (DATAGRAM).
 */
#include "agent_frames.h"

#include <string.h>

#include "bytes.h"

struct rd {
    const uint8_t *p;
    size_t left;
    int bad;
};

static inline uint64_t vi(struct rd *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : qasm_varint_get(&v, r->p, r->left);

    if (n == 0) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    r->left -= n;
    return v;
}

static inline void skip(struct rd *r, uint64_t n)
{
    if (r->bad || n > r->left) {
        r->bad = 1;
        return;
    }
    r->p += n;
    r->left -= (size_t)n;
}

/* Skips a run of PADDING (type 0x00), 8 bytes at a time. */
static inline void skip_padding(struct rd *r)
{
    uint64_t w;
    while (r->left >= 8 && (memcpy(&w, r->p, 8), w == 0)) {
        r->p += 8;
        r->left -= 8;
    }
    while (r->left > 0 && r->p[0] == 0x00) {
        r->p++;
        r->left--;
    }
}

/* Reads a NEW_CONNECTION_ID frame's body into |nc|: 0, or -1 if it is malformed. */
static int read_newcid(struct rd *r, struct qasm_agent_newcid *nc)
{
    memset(nc, 0, sizeof(*nc));
    nc->seq = vi(r);
    nc->retire_prior_to = vi(r);
    if (r->bad || r->left < 1)
        return -1;
    uint8_t cidlen = r->p[0];
    if (cidlen < 1 || cidlen > 20 || r->left < 1u + cidlen + 16u)
        return -1;
    nc->cid.len = cidlen;
    memcpy(nc->cid.data, r->p + 1, cidlen);
    skip(r, 1u + cidlen + 16u);
    return 0;
}

/* Skips an ACK frame's body (type 0x02, or 0x03 with ECN counts). */
static void skip_ack(struct rd *r, uint64_t type)
{
    vi(r);              /* largest acknowledged */
    vi(r);              /* delay */
    uint64_t n = vi(r); /* range count */
    vi(r);              /* first range */
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        vi(r);
        vi(r);
    }
    if (type == 0x03) {
        vi(r);
        vi(r);
        vi(r);
    }
}

/*
 * Skips the body of a frame of |type| other than PADDING and
 * NEW_CONNECTION_ID. Returns 1 where the walk stops (a frame that runs to the
 * end of the packet, an unknown type), else 0; a malformed frame sets r->bad.
 */
static int skip_frame(struct rd *r, uint64_t type)
{
    switch (type) {
    case 0x01: /* PING */
    case 0x1e: /* HANDSHAKE_DONE */
        return 0;
    case 0x02: /* ACK */
    case 0x03:
        skip_ack(r, type);
        return 0;
    case 0x04: /* RESET_STREAM */
        vi(r);
        vi(r);
        vi(r);
        return 0;
    case 0x05: /* STOP_SENDING */
    case 0x11: /* MAX_STREAM_DATA */
    case 0x15: /* STREAM_DATA_BLOCKED */
        vi(r);
        vi(r);
        return 0;
    case 0x06: /* CRYPTO */
        vi(r);
        skip(r, vi(r));
        return 0;
    case 0x07: /* NEW_TOKEN */
        skip(r, vi(r));
        return 0;
    case 0x08: case 0x09: case 0x0a: case 0x0b: /* STREAM */
    case 0x0c: case 0x0d: case 0x0e: case 0x0f:
        vi(r);            /* stream id */
        if (type & 0x04)
            vi(r);        /* offset */
        if (!(type & 0x02))
            return 1;     /* data runs to the end of the packet */
        skip(r, vi(r));
        return 0;
    case 0x10: /* MAX_DATA */
    case 0x12: /* MAX_STREAMS */
    case 0x13:
    case 0x14: /* DATA_BLOCKED */
    case 0x16: /* STREAMS_BLOCKED */
    case 0x17:
    case 0x19: /* RETIRE_CONNECTION_ID */
        vi(r);
        return 0;
    case 0x1a: /* PATH_CHALLENGE */
    case 0x1b: /* PATH_RESPONSE */
        skip(r, 8);
        return 0;
    case 0x1c: /* CONNECTION_CLOSE (transport) */
        vi(r);
        vi(r);
        skip(r, vi(r));
        return 0;
    case 0x1d: /* CONNECTION_CLOSE (application) */
        vi(r);
        skip(r, vi(r));
        return 0;
    case 0x30: /* DATAGRAM to the end */
        return 1;
    case 0x31:
        skip(r, vi(r));
        return 0;
    default: /* unknown (or extension) frame: its length is unknown, stop */
        return 1;
    }
}

size_t qasm_agent_frames_scan(const uint8_t *p, size_t len, struct qasm_agent_newcid *out,
                              size_t max)
{
    struct rd r = { p, len, 0 };
    size_t found = 0;

    while (r.left > 0 && !r.bad) {
        if (r.p[0] == 0x00) {
            skip_padding(&r);
            continue;
        }
        uint64_t type = vi(&r);
        if (type == 0x18) { /* NEW_CONNECTION_ID */
            struct qasm_agent_newcid nc;
            if (read_newcid(&r, &nc) < 0)
                return found;
            if (found < max)
                out[found++] = nc;
        } else if (skip_frame(&r, type)) {
            return found;
        }
    }
    return found;
}
