/*
 * access.h: who may use the tracker (qasm-tracker --key, --trust, --allow;
 * docs/PROTOCOL.md "Session authentication", "Key MAC"; docs/TRACKER.md
 * "Access"). The policy without the daemon around it: which peers may
 * open a TCP session (--allow prefixes), the key handshake of a session
 * (HELLO -> CHALLENGE -> AUTH, lib/auth.h), and whether an agent report's
 * key MAC admits it. I/O-free: the daemon passes in the tracker's nonce
 * (from the kernel's random source) and does the sending and closing.
 */
#ifndef QASM_TRACKER_ACCESS_H
#define QASM_TRACKER_ACCESS_H

#include <stdint.h>

#include "addr.h"
#include "auth.h"
#include "proto.h"

#define QASM_ACCESS_MAX_ALLOW 32

/* --trust: what admits an agent report besides its connection MAC. */
enum qasm_access_trust {
    QASM_TRUST_SOURCE = 0, /* the client address's IP is the datagram's source IP */
    QASM_TRUST_ANY = 1,    /* any source (labs) */
    QASM_TRUST_MAC = 2,    /* a key MAC that verifies, from any source (NAT, IPv6 <-> IPv4) */
};

struct qasm_access_prefix {
    struct qasm_addr net; /* family and IP (port unused) */
    uint8_t bits;
};

struct qasm_access {
    struct qasm_auth_key key;     /* len 0: no key (sessions need no handshake) */
    enum qasm_access_trust trust;
    struct qasm_access_prefix allow[QASM_ACCESS_MAX_ALLOW];
    unsigned nallow;              /* 0: every peer may open a session */
    struct {
        uint64_t auth_ok;             /* sessions that proved the key */
        uint64_t auth_failed;         /* AUTH with a wrong proof (or out of turn): closed */
        uint64_t auth_required;       /* a request before the handshake: closed */
        uint64_t allow_refused;       /* sessions from a peer outside --allow: closed at accept */
        uint64_t reports_key_mac;     /* reports whose key MAC verified */
        uint64_t rejected_key_mac;    /* reports with a key MAC that does not verify (forged) */
        uint64_t rejected_no_key_mac; /* --trust mac: reports without a key MAC */
    } n;
};

/* Per-session handshake state; zero it at accept, then qasm_access_sess_init. */
struct qasm_access_sess {
    int hello;                            /* HELLO seen, CHALLENGE sent */
    uint8_t cn[QASM_PROTO_NONCE_LEN];     /* client's nonce */
    uint8_t tn[QASM_PROTO_NONCE_LEN];     /* tracker's nonce */
};

/*
 * qasm_access_allow_add parses "IP" or "IP/BITS" (IPv4 or IPv6, no
 * brackets) into the allow list. Returns 0, -EINVAL (does not parse, bits
 * beyond the family's), -ENOSPC (more than QASM_ACCESS_MAX_ALLOW).
 */
int qasm_access_allow_add(struct qasm_access *a, const char *prefix);

/* qasm_access_allowed tells whether |peer| may open a session (counts a refusal). */
int qasm_access_allowed(struct qasm_access *a, const struct qasm_addr *peer);

/* qasm_access_is_loopback: |a| in 127.0.0.0/8 or ::1 (else, without a key, the tracker warns). */
int qasm_access_is_loopback(const struct qasm_addr *a);

/*
 * qasm_access_sess_init sets up a session's handshake state with the
 * tracker's nonce |tn| (fresh random bytes per session) and tells whether
 * the session starts authenticated (1: no key configured) or not (0).
 */
int qasm_access_sess_init(const struct qasm_access *a, struct qasm_access_sess *st,
                          const uint8_t tn[QASM_PROTO_NONCE_LEN]);

/* What the daemon does with a message of a session (qasm_access_session_msg). */
enum {
    QASM_ACCESS_HANDLE = 0, /* an authenticated session's request: handle it */
    QASM_ACCESS_REPLY = 1,  /* send *out, go on with the session */
    QASM_ACCESS_CLOSE = 2,  /* send *out (an ERROR), then close the session */
};

/*
 * qasm_access_session_msg is the handshake: it looks at message |m| (|rv|:
 * what qasm_proto_decode returned for it) of a session whose state is |st|
 * and |*authenticated|. An authenticated session's requests are handled
 * (HELLO and AUTH again are unexpected types). Before that: HELLO gets a
 * CHALLENGE (the tracker's nonce and proof), AUTH with the client's proof
 * sets *authenticated and gets OK, and anything else, a second HELLO or a
 * wrong proof gets one ERROR (code 6) and the session closes. A tracker
 * without a key answers HELLO with ERROR code 6 and keeps the session.
 */
int qasm_access_session_msg(struct qasm_access *a, struct qasm_access_sess *st,
                            int *authenticated, int rv, const struct qasm_proto_msg *m,
                            struct qasm_proto_msg *out);

/*
 * qasm_access_report tells whether an agent report |r| of |type| passes the
 * key policy: 0 yes (then the store applies its own checks: source under
 * --trust source, the connection MAC always); -EPERM no (counted:
 * rejected_key_mac for a key MAC that does not verify, under any trust
 * mode; rejected_no_key_mac for none under --trust mac).
 */
int qasm_access_report(struct qasm_access *a, uint8_t type, const struct qasm_proto_report *r);

/*
 * Why --trust source refused report |r| from |src| (the store said
 * -EACCES): the address the report claims that is not the source's IP (its
 * client address, else its first client address, which must be the
 * source's for a report that creates a connection), and what the operator
 * can do (*fix: a sentence; an IPv6 connection reported over IPv4, or the
 * other way round, gets the address-family fix). Returns the claimed address.
 */
const struct qasm_addr *qasm_access_trust_refusal(const struct qasm_proto_report *r,
                                                  const struct qasm_addr *src,
                                                  const char **fix);

/* qasm_access_store_trust_any: the store's trust_any for the mode (mac: the key MAC attests). */
int qasm_access_store_trust_any(const struct qasm_access *a);

#endif
