/*
 * agentd_ev.h: what the eBPF client agent's programs (agentd/qasm_agentd.bpf.c)
 * and the daemon (agentd/agentd.c) share: the ring-buffer event, the flow
 * map's key and value, the counters. Included by both sides, so only
 * fixed-size kernel types (__u8 ... __u64) and no libc.
 */
#ifndef QASM_AGENTD_EV_H
#define QASM_AGENTD_EV_H

#include <linux/types.h>

#define QASM_AGENTD_CID_MAX 20
/* Flows (local 5-tuples) and servers remembered in the kernel (LRU: the oldest go first). */
#define QASM_AGENTD_MAX_FLOWS 65536
#define QASM_AGENTD_MAX_SERVERS 16384
#define QASM_AGENTD_RINGBUF_BYTES (1u << 20)
/* A client Initial is carried in a UDP payload of at least 1200 bytes (RFC 9000 §14.1). */
#define QASM_AGENTD_MIN_INITIAL 1200
/* The flow's last_ns is written at most this often (a write per packet would bounce the line). */
#define QASM_AGENTD_TOUCH_NS 100000000ull

enum qasm_agentd_kind {
    /* Egress long-header Initial on a new flow: dcid = O-DCID candidate, scid = the client's SCID. */
    QASM_AGENTD_EV_INITIAL = 1,
    /* Egress packet whose DCID differs from the flow's last one (a switch, or a new flow:
     * migration / rebinding when the flow was unknown). Long or short header (flags). */
    QASM_AGENTD_EV_DCID = 2,
    /* Ingress long header on a client flow whose SCID is new: the server's CID (its length
     * is the DCID length of the connection's short headers). */
    QASM_AGENTD_EV_SERVER_CID = 3,
    /* --prereg gnutls: a packet payload the client just decrypted (struct
     * qasm_agentd_plain, not struct qasm_agentd_ev). */
    QASM_AGENTD_EV_PLAIN = 4,
    /* An Initial packet of a known client flow, either way (struct
     * qasm_agentd_initpkt): the daemon decrypts it (the keys derive from the
     * connection's DCID) to see a CONNECTION_CLOSE. */
    QASM_AGENTD_EV_INITIAL_PKT = 5,
    /* --prereg gnutls: a payload the client is about to encrypt that starts
     * with CONNECTION_CLOSE (struct qasm_agentd_plain): the client's own close. */
    QASM_AGENTD_EV_PLAIN_OUT = 6,
};

#define QASM_AGENTD_F_LONG 0x01     /* the packet had a long header */
#define QASM_AGENTD_F_NEW_FLOW 0x02 /* the 5-tuple was not known before this packet */
/* A connection already running when the programs were attached: no Initial was
 * seen; the DCID length was inferred from the flow's first short headers. */
#define QASM_AGENTD_F_ADOPTED 0x04

/* Adoption: the DCID is the prefix that QASM_AGENTD_ADOPT_PACKETS short headers
 * of an unknown flow share (what follows it is the header-protected packet
 * number, different in every packet); the first byte must vary (its low bits
 * are header-protected too), which a protocol with a constant header (e.g.
 * WireGuard) does not do. CIDs shorter than QASM_AGENTD_ADOPT_MIN_CID are not
 * adopted. */
#define QASM_AGENTD_ADOPT_PACKETS 8
#define QASM_AGENTD_ADOPT_MIN_CID 4
#define QASM_AGENTD_ADOPT_REJECTED 0xff

/* An unknown flow being watched for adoption. */
struct qasm_agentd_cand {
    __u8 hdr[QASM_AGENTD_CID_MAX]; /* bytes 1..20 of its first short header */
    __u8 first;   /* its first byte */
    __u8 n;       /* packets seen, or QASM_AGENTD_ADOPT_REJECTED */
    __u8 prefix;  /* bytes all of them share after the first */
    __u8 varied;  /* the first byte changed */
};

/* A local 5-tuple: local = source of egress, destination of ingress. */
struct qasm_agentd_fkey {
    __u8 family; /* AF_INET (2) or AF_INET6 (10) */
    __u8 pad;
    __u16 lport; /* host order */
    __u16 rport;
    __u16 pad2;
    __u8 lip[16]; /* IPv4 in [0..3], rest zero */
    __u8 rip[16];
};

#define QASM_AGENTD_FLOW_CLIENT 1 /* a connection this host started (client Initial seen) */
#define QASM_AGENTD_FLOW_PEER 2   /* the peer sent the first Initial: a local server, ignored */

struct qasm_agentd_flow {
    __u64 last_ns;   /* bpf_ktime_get_ns of a recent packet (CLOCK_MONOTONIC) */
    __u8 role;       /* QASM_AGENTD_FLOW_* */
    __u8 dcid_len;   /* length of the server's CIDs (0 = not seen yet) */
    __u8 cur_len;    /* the DCID the client sent last */
    __u8 srv_len;    /* the server's SCID seen last */
    __u8 cur[QASM_AGENTD_CID_MAX];
    __u8 srv[QASM_AGENTD_CID_MAX];
    __u8 inits;      /* Initial packets handed to the daemon (at most QASM_AGENTD_INITS_PER_FLOW;
                      * set to it by the client's first Handshake packet) */
    __u8 pad[3];
};

/* A server (remote address): the length of its CIDs, for short headers on a new flow. */
struct qasm_agentd_skey {
    __u8 family;
    __u8 pad;
    __u16 port;
    __u8 ip[16];
};

struct qasm_agentd_ev {
    __u64 ts_ns;     /* bpf_ktime_get_ns */
    __u64 cookie;    /* socket cookie (0 if none) */
    __u32 uid;       /* socket owner's uid */
    __u8 kind;       /* enum qasm_agentd_kind */
    __u8 flags;      /* QASM_AGENTD_F_* */
    __u8 first;      /* the QUIC packet's first byte */
    __u8 dcid_len;
    __u8 scid_len;
    __u8 pad[3];
    __u32 version;   /* long headers: the QUIC version (host order) */
    struct qasm_agentd_fkey flow;
    __u8 dcid[QASM_AGENTD_CID_MAX];
    __u8 scid[QASM_AGENTD_CID_MAX];
};

enum qasm_agentd_counter {
    QASM_AGENTD_C_PACKETS = 0,   /* UDP packets looked at */
    QASM_AGENTD_C_EVENTS,        /* events written to the ring buffer */
    QASM_AGENTD_C_RINGBUF_FULL,  /* events lost: the ring buffer was full */
    QASM_AGENTD_C_UNATTRIBUTED,  /* egress UDP of no client flow, or short header to an unknown server */
    QASM_AGENTD_C_NOT_QUIC,      /* empty, version negotiation, CID over 20 bytes, ingress long
                                  * header of no client flow */
    QASM_AGENTD_C_TRUNCATED,     /* a header that runs past the packet */
    QASM_AGENTD_C_NOT_UDP,       /* IPv6 extension headers, fragments */
    QASM_AGENTD_C_FLOW_FULL,     /* the flow map refused an entry */
    QASM_AGENTD_C_ADOPTED,       /* running connections adopted (see QASM_AGENTD_F_ADOPTED) */
    QASM_AGENTD_C_PLAINS,        /* --prereg: decrypted payloads copied to the ring buffer */
    QASM_AGENTD_C_DEC_FAILED,    /* --prereg: decrypts that failed or could not be read */
    QASM_AGENTD_C_PLAIN_SKIPPED, /* --prereg: decrypted payloads without a
                                  * NEW_CONNECTION_ID candidate */
    QASM_AGENTD_C_INITIALS,      /* Initial packets of known flows copied to the ring buffer */
    QASM_AGENTD_C_INIT_CAPPED,   /* Initial packets not copied: the flow's quota was used */
    QASM_AGENTD_C_PLAINS_OUT,    /* --prereg: payloads to encrypt starting with CONNECTION_CLOSE */
    QASM_AGENTD_C_MAX,
};

/*
 * --prereg gnutls: what the uprobes on gnutls_aead_cipher_decrypt copy of
 * each successful decryption of a watched process. The plaintext prefix is
 * parsed in userspace (client-agent/agent_frames.c): a QUIC frame walk
 * (varints, ACK ranges, a loop per frame) is too branchy for the verifier's
 * bounded loops, and the userspace walker is the library agent's, tested
 * and fuzzed. The AAD is the packet's header, unprotected: its DCID is one
 * of the client's own CIDs, which is how the frames are tied to their
 * connection (agentd_track.h).
 */
#define QASM_AGENTD_PLAIN_MAX 256 /* NEW_CONNECTION_ID frames come first (ngtcp2 servers) */
#define QASM_AGENTD_AAD_MAX 32
/* Decrypt calls in flight (entry seen, return not yet), keyed by thread. */
#define QASM_AGENTD_MAX_DECRYPTS 4096

struct qasm_agentd_plain {
    __u64 ts_ns;      /* bpf_ktime_get_ns at the return of the decrypt */
    __u64 pid_tgid;   /* bpf_get_current_pid_tgid: tgid << 32 | tid */
    __u8 kind;        /* QASM_AGENTD_EV_PLAIN */
    __u8 aad_len;     /* bytes of aad (the header may be longer) */
    __u16 plain_len;  /* bytes of plain */
    __u32 full_len;   /* the whole plaintext's length */
    __u8 aad[QASM_AGENTD_AAD_MAX];
    __u8 plain[QASM_AGENTD_PLAIN_MAX];
};

/*
 * Initial packets (either way) of a known client flow after the first are
 * copied whole (up to QASM_AGENTD_INIT_MAX bytes of the datagram) for the
 * daemon to decrypt, until the client sends its first Handshake packet
 * (then it discards its Initial keys and ignores Initials: so does the
 * agent). A handshake exchanges a few; the quota per flow bounds what a
 * flood of spoofed server Initials could cost.
 */
#define QASM_AGENTD_INIT_MAX 1536
#define QASM_AGENTD_INITS_PER_FLOW 16

struct qasm_agentd_initpkt {
    __u64 ts_ns;
    __u8 kind;        /* QASM_AGENTD_EV_INITIAL_PKT */
    __u8 egress;      /* 1: the client sent it, 0: it received it */
    __u16 len;        /* bytes of data */
    __u32 full_len;   /* the UDP payload's length */
    struct qasm_agentd_fkey flow;
    __u8 data[QASM_AGENTD_INIT_MAX];
};

#endif
