/*
 * xdp_maps.h: the maps of the XDP fast path of qasm-mbox (`--io xdp`),
 * shared by the BPF program (middleboxes/xdp/qasm_xdp.bpf.c) and
 * userspace (middleboxes/io/xdp_io.c, tests/unit/test_xdp_prog.c): key and
 * value layouts, bounds, counter names. Fixed-size types from
 * <linux/types.h> only, so both compilers lay the structs out the same.
 *
 * Addresses are 16 bytes (IPv4 in the first 4, the rest zero), ports in
 * network byte order (as on the wire), families AF_INET (2) / AF_INET6 (10).
 * See docs/XDP.md for what each map is for and what happens when it is full.
 */
#ifndef QASM_XDP_MAPS_H
#define QASM_XDP_MAPS_H

#include <linux/bpf.h> /* struct bpf_spin_lock */
#include <linux/types.h>

/*
 * Bounds of the maps (max_entries) as compiled; qasm-mbox sizes entries
 * from the core's --max-entries (entries and slots 1x, flows and DCIDs 4x,
 * attested 2x) before loading. A full map refuses the insert, counted;
 * `entries` is an array (preallocated, 64 bytes a slot), so "full" is
 * userspace's slot allocator having none free (middleboxes/io/xdp_slots.h).
 */
#define QASM_XDP_MAX_ENTRIES 65536  /* state entries (NAT mappings, buckets, LB flows, conns) */
#define QASM_XDP_MAX_FLOWS (4 * QASM_XDP_MAX_ENTRIES) /* both directions, two paths each */
#define QASM_XDP_MAX_DCIDS (4 * QASM_XDP_MAX_ENTRIES)
#define QASM_XDP_MAX_ATTESTED (2 * QASM_XDP_MAX_ENTRIES)
#define QASM_XDP_MAX_SERVERS 4096
#define QASM_XDP_MAX_ENTRIES_LIMIT (1u << 21) /* --max-entries beyond this: this */

#define QASM_XDP_AF_INET 2
#define QASM_XDP_AF_INET6 10

enum qasm_xdp_dir {
    QASM_XDP_FROM_CLIENT = 0, /* arrived on the inside interface */
    QASM_XDP_FROM_SERVER = 1  /* arrived on the outside interface */
};

/* The 5-tuple of a packet as it arrives, and its direction: key of `flows`. */
struct qasm_xdp_fkey {
    __u8 saddr[16];
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
    __u8 family;
    __u8 dir;
    __u16 pad;
};

enum qasm_xdp_ekind {
    QASM_XDP_E_FLOW = 1, /* a 5-tuple entry: client addr (a), server addr (b) */
    QASM_XDP_E_CONN = 2  /* a QUIC connection: its O-DCID (odcid / len) */
};

/*
 * Names a state entry (one of the core's): what userspace knows it by, the
 * key of `slots` (and the value of `dcids`, the connection in `attested`).
 */
struct qasm_xdp_ekey {
    __u8 kind;     /* enum qasm_xdp_ekind */
    __u8 len;      /* CONN: O-DCID length; FLOW: family */
    __u16 port_a;  /* FLOW: client port */
    __u16 port_b;  /* FLOW: server port */
    __u16 pad;
    __u8 data[32]; /* CONN: O-DCID; FLOW: client IP, server IP */
};

/* Flags of a flow. */
#define QASM_XDP_F_DST_CLIENT 0x1u /* NAT return: the destination is the entry's latest client */

/*
 * A flow's cached next hop: the result of the FIB and neighbour lookup for
 * the destination the flow last rewrote to, written by the kernel. Valid
 * while |at| is within the configuration's nh_ttl_ns and |daddr| is the
 * packet's new destination (a NAT return flow follows the entry's latest
 * client) and the packet is no longer than |len| (the lookup checked the
 * egress MTU for that length); userspace writes it zero (a flow (re)written
 * asks the FIB).
 */
struct qasm_xdp_nh {
    __u64 at;       /* bpf_ktime_get_ns of the lookup; 0: none */
    __u8 daddr[16]; /* the destination it was looked up for */
    __u32 ifindex;  /* egress interface */
    __u16 len;      /* the longest packet (IP length) the lookup's MTU check passed */
    __u8 dmac[6];
    __u8 smac[6];
    __u16 pad;
};

/*
 * Where a state entry lives: its index in the array `entries` and the
 * generation userspace handed that slot out with. A slot freed (its entry
 * swept or closed) gets a new generation, so a flow or a DCID still naming
 * the old one never reaches the slot's next owner (the kernel compares the
 * two: a mismatch is an entry gone). Generation 0 is never handed out.
 */
struct qasm_xdp_ref {
    __u32 slot;
    __u32 gen;
};

/*
 * Value of `flows`: what to write into the packet, and its state entry:
 * |ref| for the kernel (an array index, the same instructions whatever the
 * entry is keyed by), |entry| for userspace (the sweep tells the core).
 */
struct qasm_xdp_flow {
    struct qasm_xdp_ekey entry;
    struct qasm_xdp_ref ref;
    __u8 saddr[16]; /* the packet leaves with these (F_DST_CLIENT: daddr/dport from the entry) */
    __u8 daddr[16];
    __u16 sport;
    __u16 dport;
    __u32 flags;
    __u64 last_seen; /* bpf_ktime_get_ns of the last packet (the kernel writes it) */
    __u64 packets;   /* packets handled in the kernel on this flow */
    struct qasm_xdp_nh nh;
};

/*
 * Value of `entries` (an array, indexed by struct qasm_xdp_ref's slot): one
 * state entry of the core, |gen| the generation of its slot (written by
 * userspace only: the live owner's, or a free one after it). The lock guards the
 * client address (several words rewritten together, from any CPU); the rate
 * limiter's bucket is the one word |rl_tat|, updated by compare-and-swap
 * without the lock (see docs/XDP.md, "The rate limiter's bucket").
 */
struct qasm_xdp_entry {
    struct bpf_spin_lock lock;
    __u32 family;
    __u64 rl_tat;     /* RL: the bucket's theoretical arrival time, in ticks (below) */
    __u64 last_seen;
    __u8 client[16];  /* NAT: latest client address (return traffic goes there) */
    __u16 client_port;
    __u16 hop_port;   /* NAT: public port; LB: backend port */
    __u8 hop[16];     /* NAT: public address; LB: backend address */
    __u32 gen;        /* the slot's generation (struct qasm_xdp_ref) */
};

/*
 * The rate limiter's bucket in the kernel is GCRA (the virtual-scheduling
 * form of a token bucket): |rl_tat| is the time at which the bucket would be
 * full again, in ticks of 2^-QASM_XDP_RL_SHIFT ns of bpf_ktime_get_ns (so the
 * ticks wrap every 2^(64-SHIFT) ns, some 208 days: every comparison is a
 * signed difference, as with TCP sequence numbers). A packet of cost c is let
 * through when max(tat - now, 0) + c * interval <= tolerance, and then
 * tat = max(tat, now) + c * interval. interval = 1e9 / rate ns per token and
 * tolerance = burst * interval (in ticks) make it the core's bucket of that
 * rate and burst (middleboxes/core/bucket.h). A |rl_tat| of "now" is a full
 * bucket. Ranges (checked where the configuration is written): the most a
 * packet costs times interval, plus tolerance, is below QASM_XDP_RL_HORIZON; a
 * difference tat - now of HORIZON or more is an entry idle for over 156 days,
 * taken as full (idle 156 to 208 days it would look owed: the sweeper removes
 * idle entries within conntrack's timeouts, minutes).
 */
#define QASM_XDP_RL_SHIFT 10
#define QASM_XDP_RL_HORIZON (1ULL << 62)
#define QASM_XDP_RL_TRIES 4 /* compare-and-swap attempts before a packet is dropped as contended */

/*
 * The slow path's charge: the context of qasm_xdp_rl_charge (a
 * SEC("syscall") program userspace runs with BPF_PROG_TEST_RUN). A packet
 * the userspace core decided to forward for a connection that has a slot
 * takes |cost| tokens from that slot's bucket, the same word and the same
 * function as a packet the XDP program forwards: one budget per
 * connection, whichever path its packets take. The program's return value
 * (enum qasm_xdp_charge_rc) says what the bucket decided.
 */
struct qasm_xdp_charge {
    struct qasm_xdp_ref ref; /* the connection's slot and its generation */
    __u64 cost;              /* tokens (1, or bytes of UDP payload with rl_bytes); 0: a touch */
};

enum qasm_xdp_charge_rc {
    QASM_XDP_CHARGE_LIMITED = 0,   /* the bucket is empty: the packet must not be sent */
    QASM_XDP_CHARGE_ALLOWED = 1,   /* taken (and the entry's last_seen refreshed) */
    QASM_XDP_CHARGE_CONTENDED = 2, /* changed under QASM_XDP_RL_TRIES tries: dropped, as in XDP */
    QASM_XDP_CHARGE_GONE = 3       /* no such entry (slot freed or handed on): nothing taken */
};

/* Key of `dcids`: a server-chosen DCID (value: the connection's struct qasm_xdp_ekey; its
 * slot is `slots`[ekey], looked up on a migration's first packet only). */
struct qasm_xdp_cid {
    __u8 len;
    __u8 data[20];
    __u8 pad[3];
};

/* Key of `attested`: a client address the tracker attests for a connection (value: __u64 when). */
struct qasm_xdp_attest {
    struct qasm_xdp_ekey conn;
    __u8 addr[16];
    __u16 port;
    __u8 family;
    __u8 pad;
};

/* Key of `servers`: a server address (value: __u32, the length of the CIDs it chose). */
struct qasm_xdp_srv {
    __u8 addr[16];
    __u16 port;
    __u8 family;
    __u8 pad;
};

enum qasm_xdp_fn { QASM_XDP_NAT = 0, QASM_XDP_RATELIMIT = 1, QASM_XDP_LB = 2 };

/* The one value of `config` (an array of 1): set by userspace before attaching. */
struct qasm_xdp_cfg {
    __u32 function;   /* enum qasm_xdp_fn (the core's enum qasm_mbox_function) */
    __u32 aware;      /* reactive / proactive: long headers go up, DCIDs are looked up */
    __u32 ifindex_in; /* inside interface (clients) */
    __u32 ifindex_out;
    __u64 rl_interval;   /* RL: ticks per token (1e9 / rate ns, see QASM_XDP_RL_SHIFT); 0: no limit */
    __u64 rl_tolerance;  /* RL: burst x rl_interval ticks */
    __u32 rl_bytes;      /* RL: a token is a byte of UDP payload */
    __u32 fib_ifindex;   /* the FIB is asked as if the packet came in there (0: where it did) */
    __u32 no_fib;        /* tests: no FIB lookup, the rewritten frame goes back out (XDP_TX) */
    __u32 keep_ttl;      /* benchmarks: TTL kept, so BPF_PROG_TEST_RUN's repeats see one frame */
    __u32 pad;
    __u64 nh_ttl_ns;     /* a flow's cached next hop is looked up again after this; 0: every packet */
    __u64 clock_ns;      /* tests: the rate limiter's clock reads this; 0: bpf_ktime_get_ns */
};

/* qasm-mbox's nh_ttl_ns: a changed neighbour or route is followed within a second. */
#define QASM_XDP_NH_TTL_NS 1000000000ULL

/*
 * The one value of `fwd` (an array of 1): what qasm_xdp_fwd, the bare
 * forwarder (the floor of the cost benchmark, qasm-xdp-bench), writes and
 * where it sends every frame. Not used by qasm-mbox.
 */
struct qasm_xdp_fwd {
    __u32 ifindex; /* 0: the frame goes up (XDP_PASS) */
    __u8 dmac[6];
    __u8 smac[6];
};

/*
 * The one value of `gen` (an array of 1): the hop benchmark's traffic
 * generator qasm_xdp_gen (qasm-xdp-hopgen, run by BPF_PROG_TEST_RUN with
 * live frames) sends its frame from |flows| source ports, |port0| up (host
 * byte order; to |flows| destination ports with |vary_dst|: replies), its Ethernet, IPv4 and UDP headers written from |head| each
 * time (a live frame's page comes back from wherever the frame went, as the
 * hop left it). With |dcid_per_flow| set, the last two bytes of the short
 * header's 8-byte DCID get the flow's index (big endian) too, so each flow
 * is a connection of its own to a middlebox that keys on DCIDs. Not used by
 * qasm-mbox.
 */
#define QASM_XDP_GEN_HEAD 42 /* Ethernet + IPv4 (no options) + UDP */
#define QASM_XDP_GEN_DCID_IDX (QASM_XDP_GEN_HEAD + 1 + 6) /* the DCID's last two bytes */
struct qasm_xdp_gen {
    __u32 flows;
    __u32 port0;
    __u8 head[48];
    __u32 dcid_per_flow;
    __u32 vary_dst; /* the flows differ by destination port (|port0| up), not by source */
};

/* Slots of `gen_count` (per CPU): frames generated, frames the sink counted and dropped. */
enum { QASM_XDP_GEN_SENT = 0, QASM_XDP_GEN_SUNK = 1, QASM_XDP_GEN_MAX = 2 };

/* The kernel's counters (a per-CPU array indexed by these); names in QASM_XDP_COUNTER_NAMES. */
enum qasm_xdp_counter {
    QASM_XDP_C_RX = 0,          /* frames seen */
    QASM_XDP_C_FORWARDED,       /* rewritten and redirected to the other interface */
    QASM_XDP_C_TX,              /* rewritten and sent back out of the same interface */
    QASM_XDP_C_MIGRATED,        /* a known connection's packet from an attested new address */
    QASM_XDP_C_RATE_LIMITED,    /* dropped: the entry's bucket was empty */
    QASM_XDP_C_PASS_NOT_IP,     /* up to the kernel / slow path: ARP, other EtherTypes */
    QASM_XDP_C_PASS_NOT_UDP,    /* ... another IP protocol (the slow path decides) */
    QASM_XDP_C_PASS_FRAGMENT,   /* ... an IP fragment or an IPv6 extension header */
    QASM_XDP_C_PASS_MALFORMED,  /* ... truncated or bad header (the slow path counts it) */
    QASM_XDP_C_PASS_TTL,        /* ... TTL / hop limit <= 1 */
    QASM_XDP_C_PASS_LONG,       /* ... aware modes: a QUIC long header (the core learns from it) */
    QASM_XDP_C_PASS_NEW,        /* ... no flow, no known DCID: a new flow for the core */
    QASM_XDP_C_PASS_UNATTESTED, /* ... a known DCID from an address not attested (yet) */
    QASM_XDP_C_PASS_NO_ROUTE,   /* ... the FIB has no route / neighbour yet */
    QASM_XDP_C_PASS_OTHER_IF,   /* ... arrived on neither interface of the hop */
    QASM_XDP_C_PASS_VLAN,       /* ... a tagged frame the FIB sends out of another interface */
    QASM_XDP_C_FLOW_FULL,       /* a migrated flow's entry not stored: `flows` full */
    QASM_XDP_C_FIB_LOOKUP,      /* FIB lookups: a flow's next hop new, stale or its dest moved */
    QASM_XDP_C_RL_CONTENDED,    /* dropped: the bucket changed under QASM_XDP_RL_TRIES attempts */
    QASM_XDP_C_MAX
};

#define QASM_XDP_COUNTER_NAMES                                                              \
    { "packets_received", "forwarded", "packets_sent", "migrated", "rate_limited",             \
      "pass_not_ip", "pass_not_udp",                                                      \
      "pass_fragment", "pass_malformed", "pass_ttl", "pass_long_header", "pass_new",      \
      "pass_unattested", "pass_no_route", "pass_other_if", "pass_vlan", "flow_full",     \
      "fib_lookups", "rate_limit_contended" }

#endif
