/*
 * proto.h: the tracker protocol (docs/PROTOCOL.md), one binary format used
 * by client agents (UDP reports), middleboxes (TCP sessions: query,
 * subscribe, pushes), qasm-trackctl and the replay tool. This is the codec
 * only: I/O-free, allocation-free, no globals. Every message is
 * length-checked; decoding never reads outside the buffer it is given.
 *
 * Every message starts with a fixed 12-byte header (big-endian):
 *
 *   0  magic    2  'Q' 'T' (0x51 0x54)
 *   2  version  1  QASM_PROTO_VERSION
 *   3  type     1  enum qasm_proto_type
 *   4  length   2  whole message, header included, 12..QASM_PROTO_MAX_MSG
 *   6  flags    2  reserved: senders write 0, receivers ignore
 *   8  req_id   4  chosen by the requester; echoed in every reply, and in
 *                  the pushes of a subscription (the SUBSCRIBE's req_id)
 *
 * Over UDP one datagram holds exactly one message. Over TCP messages are
 * back to back; qasm_proto_frame() finds their boundaries. The magic,
 * version, type and length fields keep this layout in every future
 * version, so a receiver can always skip a message it does not understand.
 *
 * Typical use:
 *
 *   struct qasm_proto_msg m;
 *   qasm_proto_msg_init(&m, QASM_PROTO_QUERY, 42);
 *   m.u.query.dcid = dcid; m.u.query.wait_ms = 2;
 *   ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
 *   ...
 *   ssize_t len = qasm_proto_frame(rbuf, rlen);   // > 0: a whole message
 *   int rv = qasm_proto_decode(&m, rbuf, (size_t)len);
 */
#ifndef QASM_PROTO_H
#define QASM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"
#include "cid.h"

#define QASM_PROTO_MAGIC0 0x51 /* 'Q' */
#define QASM_PROTO_MAGIC1 0x54 /* 'T' */
#define QASM_PROTO_VERSION 3
/* Oldest version qasm_proto_decode accepts: version 2 differs only in lacking
 * the session handshake (HELLO, CHALLENGE, AUTH), so its messages decode as-is. */
#define QASM_PROTO_VERSION_MIN 2
/* The version byte a report's connection MAC covers: 2, the version that
 * introduced it (reports are the same in versions 2 and 3). */
#define QASM_PROTO_MAC_VERSION 2
#define QASM_PROTO_HDR_LEN 12
/* Largest message (header included). A report always fits one UDP datagram. */
#define QASM_PROTO_MAX_MSG 4096
/* Default port of the tracker (UDP and TCP). */
#define QASM_PROTO_DEFAULT_PORT 4790

/*
 * Report authentication (docs/PROTOCOL.md, "Authentication"): the agent
 * chooses a random secret per connection and sends it in REPORT_OPEN and
 * REPORT_REFRESH; every report carries a MAC under that secret
 * (HMAC-SHA-256 truncated to 16 bytes), so only the connection's owner can
 * change it. A report may also carry a second MAC under a key shared with
 * the tracker (key_mac, length 0 or 16; lib/auth.h computes it).
 */
#define QASM_PROTO_SECRET_LEN 16
#define QASM_PROTO_MAC_LEN 16
/* Session handshake (version 3): nonces and proofs of HELLO, CHALLENGE, AUTH. */
#define QASM_PROTO_NONCE_LEN 16
#define QASM_PROTO_PROOF_LEN 16

/* Bounds of a connection record: more DCIDs or client addresses are refused (-E2BIG). */
#define QASM_PROTO_MAX_DCIDS 16
#define QASM_PROTO_MAX_CLIENTS 8
/* Counters in one STATS reply, and the longest counter name (NUL excluded). */
#define QASM_PROTO_MAX_STATS 96
#define QASM_PROTO_STAT_NAMELEN 31
/* Longest text in an ERROR reply (NUL excluded). */
#define QASM_PROTO_ERR_TEXTLEN 127

enum qasm_proto_type {
    /* Agent -> tracker, UDP, fire and forget (no reply). */
    QASM_PROTO_REPORT_OPEN = 0x01,        /* connection opened */
    QASM_PROTO_REPORT_DCID_NEW = 0x02,    /* client started to use (or may use) a DCID */
    QASM_PROTO_REPORT_DCID_RETIRE = 0x03, /* client retired a DCID */
    QASM_PROTO_REPORT_ADDR = 0x04,        /* client address changed (migration, rebinding) */
    QASM_PROTO_REPORT_CLOSE = 0x05,       /* connection closed */
    QASM_PROTO_REPORT_REFRESH = 0x06,     /* periodic full state of the connection */

    /* Middlebox / trackctl -> tracker, TCP, each answered (see docs/PROTOCOL.md). */
    QASM_PROTO_QUERY = 0x10,       /* -> RECORD or NOT_FOUND */
    QASM_PROTO_SUBSCRIBE = 0x11,   /* -> RECORD (known now) or OK (pending), then PUSHes */
    QASM_PROTO_UNSUBSCRIBE = 0x12, /* -> OK, or NOT_FOUND if no such subscription */
    QASM_PROTO_DUMP = 0x13,        /* -> RECORD per connection, then OK (count) */
    QASM_PROTO_STATS = 0x14,       /* -> STATS_REPLY */
    QASM_PROTO_HELLO = 0x15,       /* client nonce: starts the key handshake -> CHALLENGE */
    QASM_PROTO_AUTH = 0x16,        /* client proof of the key -> OK, or ERROR and close */

    /* Tracker -> middlebox / trackctl, TCP. */
    QASM_PROTO_RECORD = 0x20,      /* a connection record */
    QASM_PROTO_NOT_FOUND = 0x21,   /* no connection for that CID (after the wait, if any) */
    QASM_PROTO_PUSH = 0x22,        /* a subscribed connection changed: event + record */
    QASM_PROTO_OK = 0x23,          /* success without a record; carries a count */
    QASM_PROTO_ERROR = 0x24,       /* request refused: code + text */
    QASM_PROTO_STATS_REPLY = 0x25, /* counters */
    QASM_PROTO_CHALLENGE = 0x26,   /* tracker nonce and the tracker's proof of the key */
};

/* Events carried by PUSH (what changed in the connection). */
enum qasm_proto_event {
    QASM_PROTO_EV_OPENED = 1,      /* the connection became known */
    QASM_PROTO_EV_DCID_NEW = 2,    /* a DCID was added */
    QASM_PROTO_EV_DCID_RETIRE = 3, /* a DCID was retired */
    QASM_PROTO_EV_ADDR = 4,        /* a client address was added or became current */
    QASM_PROTO_EV_REFRESH = 5,     /* a refresh changed the record */
    QASM_PROTO_EV_CLOSED = 6,      /* the agent reported close: last push */
    QASM_PROTO_EV_EXPIRED = 7,     /* idle for the TTL and removed: last push */
    QASM_PROTO_EV_EVICTED = 8,     /* removed for lack of room: last push */
};

/* Codes of ERROR replies. */
enum qasm_proto_errcode {
    QASM_PROTO_E_VERSION = 1,   /* unsupported protocol version */
    QASM_PROTO_E_TYPE = 2,      /* unknown or unexpected message type */
    QASM_PROTO_E_MALFORMED = 3, /* body does not decode */
    QASM_PROTO_E_LIMIT = 4,     /* too many subscriptions / waits on this session */
    QASM_PROTO_E_INTERNAL = 5,  /* out of memory or similar */
    QASM_PROTO_E_AUTH = 6,      /* key handshake required or failed: the session closes */
};

/* Flags of SUBSCRIBE / UNSUBSCRIBE. */
#define QASM_PROTO_SUB_ALL 0x01u /* every connection (cid ignored): for trackctl watch */

/* Record flags. */
#define QASM_PROTO_REC_CLOSED 0x01u /* the agent reported the connection closed */

/*
 * Header flag of DUMP: the tracker should send each record with its times;
 * header flag of RECORD: the body ends with the times (age_ms u32, then
 * expires_ms u32). Optional both ways: a tracker that predates it ignores
 * the DUMP flag and sends plain records (has_times 0).
 */
#define QASM_PROTO_HDR_TIMES 0x0001u

struct qasm_proto_hdr {
    uint8_t version;
    uint8_t type;    /* enum qasm_proto_type */
    uint16_t length; /* whole message */
    uint16_t flags;
    uint32_t req_id;
};

/* One DCID of a connection with its QUIC sequence number (RFC 9000 §5.1.1). */
struct qasm_proto_dcid {
    struct qasm_cid cid;
    uint64_t seq;
};

/*
 * A connection record: what the tracker knows about one QUIC connection.
 * The same struct is carried by REPORT_REFRESH (agent's full state), RECORD
 * (QUERY / SUBSCRIBE / DUMP replies) and PUSH. clients[0] is the first
 * client address, which with odcid is the connection's key; clients[current]
 * is the address in use now.
 */
struct qasm_proto_conn {
    struct qasm_cid odcid;    /* DCID of the client's first Initial */
    struct qasm_cid scid;     /* client's SCID (DCID of server -> client packets); may be empty */
    struct qasm_addr server;  /* server address (family 0 = unknown) */
    uint32_t rev;             /* tracker: bumped on every change; agent: 0 */
    uint8_t dcid_len;         /* length of the server-chosen DCIDs (0 = not known yet) */
    uint8_t flags;            /* QASM_PROTO_REC_* */
    uint8_t current;          /* index of the current client address (< nclients) */
    uint8_t ndcids;           /* <= QASM_PROTO_MAX_DCIDS */
    uint8_t nclients;         /* 1..QASM_PROTO_MAX_CLIENTS */
    struct qasm_proto_dcid dcids[QASM_PROTO_MAX_DCIDS]; /* active DCIDs (O-DCID not repeated) */
    struct qasm_addr clients[QASM_PROTO_MAX_CLIENTS];
    /* RECORD with QASM_PROTO_HDR_TIMES only (DUMP replies): */
    uint8_t has_times;
    uint32_t age_ms;          /* since the tracker made the record */
    uint32_t expires_ms;      /* until it goes unless reported again (ttl, or close linger) */
};

/*
 * An agent report (types 0x01..0x06). Every report names its connection by
 * (odcid, client0) and carries the address the connection uses now
 * (client), whose IP a tracker with `--trust source` compares with the
 * datagram's source IP. seq numbers the reports of one connection from 1
 * (the agent increments it for every report it sends, retransmissions of
 * the same state included); the tracker uses it to order reordered reports.
 */
struct qasm_proto_report {
    struct qasm_cid odcid;
    struct qasm_addr client0; /* first client address of the connection */
    struct qasm_addr client;  /* client address in use now */
    uint32_t seq;
    /* REPORT_OPEN */
    struct qasm_cid scid;     /* client's SCID */
    struct qasm_addr server;
    /* REPORT_DCID_NEW / REPORT_DCID_RETIRE (dcid.len is the CID length) */
    struct qasm_proto_dcid dcid;
    /* REPORT_ADDR: the new address is |client| (nothing more). */
    /* REPORT_REFRESH: full state; conn.odcid/clients[0] repeat the key. */
    struct qasm_proto_conn conn;
    /* REPORT_OPEN, REPORT_REFRESH: the connection's secret (never in records). */
    uint8_t secret[QASM_PROTO_SECRET_LEN];
    /* Every report: MAC under the connection's secret (qasm_proto_report_sign); all zero = none. */
    uint8_t mac[QASM_PROTO_MAC_LEN];
    /* MAC under the tracker's shared key (lib/auth.h): length 0 (none) or QASM_PROTO_MAC_LEN. */
    uint8_t key_mac_len;
    uint8_t key_mac[QASM_PROTO_MAC_LEN];
};

/*
 * QUERY: find the connection that uses |dcid| (any active DCID or the
 * O-DCID). With |server| set (family != 0) only a connection to that
 * server matches. wait_ms > 0: if nothing matches now, the tracker holds the
 * query up to wait_ms and answers as soon as the DCID becomes known (RECORD)
 * or at the deadline (NOT_FOUND). The tracker caps wait_ms (see PROTOCOL.md).
 * With |client| set (an optional trailing field), a wait also lasts until
 * the connection lists that client address: a middlebox that saw a known
 * DCID from a new address asks "tell me once this address is attested"
 * (the agent's address report may trail the migrated packet). At the
 * deadline the tracker answers with what it has (RECORD) or NOT_FOUND.
 */
struct qasm_proto_query {
    struct qasm_cid dcid;
    struct qasm_addr server;
    uint32_t wait_ms;
    struct qasm_addr client;
};

/*
 * SUBSCRIBE / UNSUBSCRIBE: to the connection that uses |cid| (O-DCID or any
 * DCID; optionally to |server|). A subscription to a CID not yet known
 * stays pending and binds when a connection with that CID appears. With
 * QASM_PROTO_SUB_ALL in flags, to every connection. Subscriptions end with
 * the TCP session, on UNSUBSCRIBE, or after the CLOSED/EXPIRED/EVICTED push.
 */
struct qasm_proto_sub {
    uint8_t flags;
    struct qasm_cid cid;
    struct qasm_addr server;
};

/* NOT_FOUND echoes the CID asked for. */
struct qasm_proto_notfound {
    struct qasm_cid cid;
};

/* PUSH: what happened, and the record after it (before removal for the last push). */
struct qasm_proto_push {
    uint8_t event; /* enum qasm_proto_event */
    struct qasm_proto_conn conn;
};

/* OK: |count| is the number of records sent (DUMP), else 0. */
struct qasm_proto_ok {
    uint32_t count;
};

struct qasm_proto_error {
    uint16_t code;                          /* enum qasm_proto_errcode */
    char text[QASM_PROTO_ERR_TEXTLEN + 1];  /* NUL-terminated */
};

struct qasm_proto_stat {
    char name[QASM_PROTO_STAT_NAMELEN + 1]; /* NUL-terminated, [a-z0-9_.] */
    uint64_t value;
};

struct qasm_proto_stats {
    uint8_t n;
    struct qasm_proto_stat s[QASM_PROTO_MAX_STATS];
};

/*
 * HELLO (nonce), CHALLENGE (nonce, proof), AUTH (proof): the key handshake
 * of a TCP session (docs/PROTOCOL.md, "Session authentication"); the fields
 * a type does not carry are zero. lib/auth.h computes the proofs.
 */
struct qasm_proto_auth {
    uint8_t nonce[QASM_PROTO_NONCE_LEN];
    uint8_t proof[QASM_PROTO_PROOF_LEN];
};

/* A decoded (or to-be-encoded) message: the header and the body for its type. */
struct qasm_proto_msg {
    struct qasm_proto_hdr hdr;
    union {
        struct qasm_proto_report report; /* REPORT_* */
        struct qasm_proto_query query;   /* QUERY */
        struct qasm_proto_sub sub;       /* SUBSCRIBE, UNSUBSCRIBE (DUMP, STATS: empty body) */
        struct qasm_proto_conn conn;     /* RECORD */
        struct qasm_proto_notfound notfound;
        struct qasm_proto_push push;
        struct qasm_proto_ok ok;
        struct qasm_proto_error error;
        struct qasm_proto_stats stats;   /* STATS_REPLY */
        struct qasm_proto_auth auth;     /* HELLO, CHALLENGE, AUTH */
    } u;
};

/*
 * qasm_proto_msg_init zeroes |m| and sets its header (version, |type|,
 * |req_id|). The length is computed by qasm_proto_encode.
 */
void qasm_proto_msg_init(struct qasm_proto_msg *m, uint8_t type, uint32_t req_id);

/*
 * qasm_proto_frame tells whether |buf| (|len| bytes, the start of a TCP
 * stream's unread data) begins with a whole message. Returns its length
 * (>= QASM_PROTO_HDR_LEN) if it is all there, 0 if more bytes are needed,
 * or -EBADMSG if the header is invalid (bad magic, length below 12 or above
 * QASM_PROTO_MAX_MSG): the stream cannot be resynchronised, close it. It
 * does not check version or type, so an unknown message can be skipped.
 */
ssize_t qasm_proto_frame(const uint8_t *buf, size_t len);

/*
 * qasm_proto_decode_hdr reads the header of the message at |buf| (|len| bytes)
 * into |h|. Returns 0; -EBADMSG for bad magic, a length field below 12 or
 * above the limit, or a length field that differs from |len|; -EPROTO if
 * |len| < 12. Version and type are not checked.
 */
int qasm_proto_decode_hdr(struct qasm_proto_hdr *h, const uint8_t *buf, size_t len);

/*
 * qasm_proto_decode decodes one whole message (|len| bytes: one datagram,
 * or the length qasm_proto_frame returned) into |m|. Returns 0, or:
 *   -EBADMSG         bad header (as qasm_proto_decode_hdr; |len| must equal the length field)
 *   -EPROTONOSUPPORT version outside QASM_PROTO_VERSION_MIN..QASM_PROTO_VERSION
 *                    (m->hdr is filled: reply with an ERROR)
 *   -ENOMSG          unknown type (m->hdr is filled)
 *   -E2BIG           a list longer than its bound (DCIDs, clients, stats)
 *   -EPROTO          malformed body: truncated, trailing bytes, CID > 20 bytes,
 *                    bad address family, bad index or event, unterminated text
 * On error the body of |m| is unspecified.
 */
int qasm_proto_decode(struct qasm_proto_msg *m, const uint8_t *buf, size_t len);

/*
 * qasm_proto_decode_v1 decodes a message of protocol version 1, for tools
 * that read recordings made before reports were authenticated (qasm-replay).
 * Version 1 differs only in its reports, which end after their body: no
 * secret, no MACs (those fields of |m| are zero). Returns as
 * qasm_proto_decode (-EPROTONOSUPPORT for any other version). A tracker
 * never accepts version 1.
 */
int qasm_proto_decode_v1(struct qasm_proto_msg *m, const uint8_t *buf, size_t len);

/*
 * qasm_proto_encode writes |m| (header fields version, type, flags, req_id
 * and the body for the type; the length is computed) into |buf| of |cap|
 * bytes. Returns the message length, or -ENOBUFS if |cap| is too small,
 * -EINVAL for an unknown type or an out-of-bounds field (CID > 20 bytes,
 * list count over its bound, current >= nclients, unset family where an
 * address is required).
 */
ssize_t qasm_proto_encode(uint8_t *buf, size_t cap, const struct qasm_proto_msg *m);

/*
 * qasm_proto_encode_query is a shortcut for QUERY: |server| may be NULL.
 * Returns as qasm_proto_encode.
 */
ssize_t qasm_proto_encode_query(uint8_t *buf, size_t cap, uint32_t req_id,
                                const struct qasm_cid *dcid, const struct qasm_addr *server,
                                uint32_t wait_ms);

/*
 * qasm_proto_encode_error is a shortcut for ERROR replies (|text| may be
 * NULL; it is cut to QASM_PROTO_ERR_TEXTLEN). Returns as qasm_proto_encode.
 */
ssize_t qasm_proto_encode_error(uint8_t *buf, size_t cap, uint32_t req_id, uint16_t code,
                                const char *text);

/*
 * qasm_proto_conn_find_dcid returns the index of |cid| among conn's DCIDs,
 * or -1. The O-DCID is not in the list (compare it separately).
 */
int qasm_proto_conn_find_dcid(const struct qasm_proto_conn *conn, const struct qasm_cid *cid);

/* qasm_proto_conn_holds_cid tells whether |cid| is conn's O-DCID or one of its DCIDs. */
int qasm_proto_conn_holds_cid(const struct qasm_proto_conn *conn, const struct qasm_cid *cid);

/* qasm_proto_event_final tells whether a push event is a connection's last (closed, expired, evicted). */
int qasm_proto_event_final(uint8_t event);

/*
 * qasm_proto_event_removes tells whether after |event| the connection is
 * gone (expired, evicted), not merely closed (a closed one lingers).
 */
int qasm_proto_event_removes(uint8_t event);

/*
 * qasm_proto_stats_add appends counter |name| (cut to
 * QASM_PROTO_STAT_NAMELEN) with |value| to |st|; ignored when it is full.
 */
void qasm_proto_stats_add(struct qasm_proto_stats *st, const char *name, uint64_t value);

/*
 * qasm_proto_report_auth_input writes the bytes a report's connection MAC
 * covers into |buf| (|cap| bytes): the protocol version, the type, and the
 * report's fields in their wire encoding up to the MAC (head, type-specific
 * body, secret for OPEN/REFRESH). The header's req_id, flags and length and
 * the trailing MACs are not covered (they carry no meaning for a report).
 * Because the covered bytes are a canonical re-encoding of the decoded
 * fields, a receiver verifies a decoded report without its raw bytes.
 * Returns the length, or as qasm_proto_encode.
 */
ssize_t qasm_proto_report_auth_input(uint8_t *buf, size_t cap, uint8_t type,
                                     const struct qasm_proto_report *r);

/*
 * qasm_proto_report_sign authenticates |r| (a report of |type|) with the
 * connection's |secret|: for OPEN and REFRESH it copies |secret| into
 * r->secret, then sets r->mac to HMAC-SHA-256(secret, auth input) cut to
 * QASM_PROTO_MAC_LEN bytes. Sign after every other field is set. Returns 0
 * or -EINVAL (a field the encoder would refuse).
 */
int qasm_proto_report_sign(uint8_t type, struct qasm_proto_report *r,
                           const uint8_t secret[QASM_PROTO_SECRET_LEN]);

/*
 * qasm_proto_report_verify tells whether r->mac is the MAC of |r| under
 * |secret| (compared in constant time). Returns 1 if it is, else 0 (also
 * for an all-zero MAC, i.e. an unauthenticated report).
 */
int qasm_proto_report_verify(uint8_t type, const struct qasm_proto_report *r,
                             const uint8_t secret[QASM_PROTO_SECRET_LEN]);

/* qasm_proto_report_has_mac tells whether |r| carries a MAC (not all zero). */
int qasm_proto_report_has_mac(const struct qasm_proto_report *r);

/* qasm_proto_type_name returns "QUERY", "REPORT_OPEN", ... or "?" for an unknown type. */
const char *qasm_proto_type_name(uint8_t type);

/* qasm_proto_event_name returns "opened", "dcid_new", ... or "?" for an unknown event. */
const char *qasm_proto_event_name(uint8_t event);

/* qasm_proto_is_report tells whether |type| is an agent report (REPORT_*). */
int qasm_proto_is_report(uint8_t type);

#endif
