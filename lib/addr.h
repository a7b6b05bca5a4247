/*
 * addr.h: IPv4/IPv6 transport addresses and UDP 5-tuples as compact value
 * types (zero-padded, so they can be compared and hashed bytewise), with
 * conversions to and from struct sockaddr and text ("1.2.3.4:5",
 * "[::1]:5").
 */
#ifndef QASM_ADDR_H
#define QASM_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* Longest text form: "[" 45-char IPv6 "]:" 5 digits, plus NUL. */
#define QASM_ADDR_STRLEN 56

struct qasm_addr {
    uint8_t family;  /* AF_INET or AF_INET6; 0 = unset */
    uint8_t pad;
    uint16_t port;   /* host byte order */
    uint8_t ip[16];  /* IPv4 in ip[0..3], rest zero */
};

/* A UDP/TCP 5-tuple: src and dst as seen on the wire, and the IP protocol. */
struct qasm_flow {
    struct qasm_addr src;
    struct qasm_addr dst;
    uint8_t proto;
    uint8_t pad[3];
};

/*
 * qasm_addr_parse reads "IPv4:PORT", "[IPv6]:PORT" (numeric only) into
 * |a|. Returns 0, or -EINVAL with nothing written.
 */
int qasm_addr_parse(struct qasm_addr *a, const char *s);

/* qasm_addr_parse_ip reads a bare IPv4 or IPv6 address; the port is set to |port|. */
int qasm_addr_parse_ip(struct qasm_addr *a, const char *s, uint16_t port);

/*
 * qasm_addr_format writes "ip:port" or "[ip6]:port" into |buf| (at least
 * QASM_ADDR_STRLEN bytes) and returns it. An unset address prints "-".
 */
char *qasm_addr_format(char *buf, size_t len, const struct qasm_addr *a);

/* qasm_addr_format_ip writes only the IP (no brackets, no port). */
char *qasm_addr_format_ip(char *buf, size_t len, const struct qasm_addr *a);

/*
 * qasm_addr_from_sockaddr fills |a| from an AF_INET or AF_INET6 sockaddr.
 * A v4-mapped IPv6 address stays IPv6. Returns 0, or -EAFNOSUPPORT.
 */
int qasm_addr_from_sockaddr(struct qasm_addr *a, const struct sockaddr *sa, socklen_t salen);

/* qasm_addr_to_sockaddr fills |ss| and returns its length (0 if |a| is unset). */
socklen_t qasm_addr_to_sockaddr(struct sockaddr_storage *ss, const struct qasm_addr *a);

static inline int qasm_addr_eq(const struct qasm_addr *a, const struct qasm_addr *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

/* qasm_addr_ip_eq compares family and IP, ignoring the port. */
static inline int qasm_addr_ip_eq(const struct qasm_addr *a, const struct qasm_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

uint64_t qasm_addr_hash(const struct qasm_addr *a, uint64_t seed);

static inline int qasm_flow_eq(const struct qasm_flow *a, const struct qasm_flow *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

uint64_t qasm_flow_hash(const struct qasm_flow *f, uint64_t seed);

/*
 * A peer to send to, as a user types it: "HOST:PORT", where HOST is an IPv4
 * address, a bracketed IPv6 address or a name to resolve. Unlike
 * qasm_addr_parse (which also reads listen addresses), a destination must
 * name one host and one port: an unspecified address (0.0.0.0, ::) or port 0
 * is refused, because a socket "connected" to it fails every send later.
 */
#define QASM_HOSTPORT_HOSTLEN 256
struct qasm_hostport {
    char host[QASM_HOSTPORT_HOSTLEN]; /* without brackets */
    uint16_t port;                    /* 1..65535 */
};

/* Errors of qasm_hostport_parse; qasm_hostport_strerror says what to fix. */
enum {
    QASM_HOSTPORT_ERR_NOPORT = -1,   /* no ":PORT" */
    QASM_HOSTPORT_ERR_PORT = -2,     /* PORT not a number in 1..65535 */
    QASM_HOSTPORT_ERR_NOHOST = -3,   /* empty HOST */
    QASM_HOSTPORT_ERR_BRACKETS = -4, /* IPv6 without [], or a bad [] */
    QASM_HOSTPORT_ERR_ANY = -5,      /* 0.0.0.0 or :: */
    QASM_HOSTPORT_ERR_LONG = -6,     /* HOST too long */
};

/* qasm_hostport_parse fills |hp| from |s|. Returns 0 or a QASM_HOSTPORT_ERR_*. */
int qasm_hostport_parse(struct qasm_hostport *hp, const char *s);

/* qasm_hostport_strerror returns a short phrase for a QASM_HOSTPORT_ERR_*. */
const char *qasm_hostport_strerror(int err);

/*
 * qasm_addr_range_parse parses "IP" or "IP-IP" (same family, lo <= hi,
 * IPv4 only for ranges wider than one address in the last 32 bits).
 * 0 or -EINVAL.
 */
int qasm_addr_range_parse(struct qasm_addr *lo, struct qasm_addr *hi, const char *s);

/*
 * qasm_addr_range_nth returns in |out| the |n|-th address (mod range size)
 * of the range [lo, hi], counting on the last 32 bits of the IP.
 */
void qasm_addr_range_nth(struct qasm_addr *out, const struct qasm_addr *lo,
                         const struct qasm_addr *hi, uint64_t n);

/* qasm_flow_reverse returns the 5-tuple of the opposite direction. */
struct qasm_flow qasm_flow_reverse(const struct qasm_flow *f);

/* qasm_flow_format writes "udp SRC -> DST" into |buf| (>= 2*QASM_ADDR_STRLEN+16). */
char *qasm_flow_format(char *buf, size_t len, const struct qasm_flow *f);

/* Room for the control message qasm_addr_set_pktinfo writes (an in6_pktinfo). */
#define QASM_ADDR_PKTINFO_SPACE 64

/*
 * qasm_addr_set_pktinfo makes |mh| (a sendmsg header) leave from the IP of
 * |src| (IP_PKTINFO / IPV6_PKTINFO in |cbuf|, QASM_ADDR_PKTINFO_SPACE
 * bytes, aligned for a struct cmsghdr). Nothing (no control message) when
 * |src| is unset, unspecified, or of another family than the socket's
 * (|sock_family|): the kernel picks the source then. Returns 1 if set.
 */
int qasm_addr_set_pktinfo(struct msghdr *mh, void *cbuf, const struct qasm_addr *src,
                          int sock_family);

#endif
