#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#include "hash.h"

int qasm_addr_parse_ip(struct qasm_addr *a, const char *s, uint16_t port)
{
    struct qasm_addr t;
    memset(&t, 0, sizeof(t));
    if (inet_pton(AF_INET, s, t.ip) == 1)
        t.family = AF_INET;
    else if (inet_pton(AF_INET6, s, t.ip) == 1)
        t.family = AF_INET6;
    else
        return -EINVAL;
    t.port = port;
    *a = t;
    return 0;
}

static int parse_port(uint16_t *port, const char *s)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

int qasm_addr_parse(struct qasm_addr *a, const char *s)
{
    char host[64];
    const char *colon;
    uint16_t port;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        colon = close + 1;
        if (strchr(host, ':') == NULL)
            return -EINVAL;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (strchr(host, ':') != NULL) /* IPv6 needs brackets */
            return -EINVAL;
    }
    if (parse_port(&port, colon + 1) < 0)
        return -EINVAL;
    return qasm_addr_parse_ip(a, host, port);
}

int qasm_hostport_parse(struct qasm_hostport *hp, const char *s)
{
    const char *host = s, *colon;
    size_t hl;
    struct qasm_addr ip;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || (close[1] != ':' && close[1] != '\0'))
            return QASM_HOSTPORT_ERR_BRACKETS;
        if (close[1] == '\0')
            return QASM_HOSTPORT_ERR_NOPORT;
        host = s + 1;
        hl = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return QASM_HOSTPORT_ERR_NOPORT;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl) != NULL) /* "::1:443" is ambiguous */
            return QASM_HOSTPORT_ERR_BRACKETS;
    }
    if (hl == 0)
        return QASM_HOSTPORT_ERR_NOHOST;
    if (hl >= sizeof(hp->host))
        return QASM_HOSTPORT_ERR_LONG;
    if (parse_port(&hp->port, colon + 1) < 0 || hp->port == 0)
        return QASM_HOSTPORT_ERR_PORT;
    memcpy(hp->host, host, hl);
    hp->host[hl] = '\0';
    if (s[0] == '[' && (strchr(hp->host, ':') == NULL ||
                        qasm_addr_parse_ip(&ip, hp->host, 0) < 0 || ip.family != AF_INET6))
        return QASM_HOSTPORT_ERR_BRACKETS;
    if (qasm_addr_parse_ip(&ip, hp->host, 0) == 0) {
        static const uint8_t zero[16];
        if (memcmp(ip.ip, zero, sizeof(zero)) == 0)
            return QASM_HOSTPORT_ERR_ANY;
    }
    return 0;
}

const char *qasm_hostport_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case QASM_HOSTPORT_ERR_NOPORT: return "missing :PORT (expected HOST:PORT or [IPv6]:PORT)";
    case QASM_HOSTPORT_ERR_PORT: return "PORT must be a number from 1 to 65535";
    case QASM_HOSTPORT_ERR_NOHOST: return "missing HOST before :PORT";
    case QASM_HOSTPORT_ERR_BRACKETS: return "an IPv6 address needs brackets: [IPv6]:PORT";
    case QASM_HOSTPORT_ERR_ANY: return "0.0.0.0 and :: name no host; give the tracker's address";
    case QASM_HOSTPORT_ERR_LONG: return "HOST is too long";
    default: return "invalid HOST:PORT";
    }
}

char *qasm_addr_format_ip(char *buf, size_t len, const struct qasm_addr *a)
{
    if (a->family != AF_INET && a->family != AF_INET6) {
        snprintf(buf, len, "-");
        return buf;
    }
    if (inet_ntop(a->family, a->ip, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "?");
    return buf;
}

char *qasm_addr_format(char *buf, size_t len, const struct qasm_addr *a)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->family != AF_INET && a->family != AF_INET6) {
        snprintf(buf, len, "-");
        return buf;
    }
    qasm_addr_format_ip(ip, sizeof(ip), a);
    if (a->family == AF_INET6)
        snprintf(buf, len, "[%s]:%u", ip, a->port);
    else
        snprintf(buf, len, "%s:%u", ip, a->port);
    return buf;
}

int qasm_addr_from_sockaddr(struct qasm_addr *a, const struct sockaddr *sa, socklen_t salen)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        a->family = AF_INET;
        a->port = ntohs(sin->sin_port);
        memcpy(a->ip, &sin->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        a->family = AF_INET6;
        a->port = ntohs(sin6->sin6_port);
        memcpy(a->ip, &sin6->sin6_addr, 16);
        return 0;
    }
    return -EAFNOSUPPORT;
}

socklen_t qasm_addr_to_sockaddr(struct sockaddr_storage *ss, const struct qasm_addr *a)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr, a->ip, 4);
        return sizeof(*sin);
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        memcpy(&sin6->sin6_addr, a->ip, 16);
        return sizeof(*sin6);
    }
    return 0;
}

uint64_t qasm_addr_hash(const struct qasm_addr *a, uint64_t seed)
{
    return qasm_hash(a, sizeof(*a), seed);
}

uint64_t qasm_flow_hash(const struct qasm_flow *f, uint64_t seed)
{
    return qasm_hash(f, sizeof(*f), seed);
}

struct qasm_flow qasm_flow_reverse(const struct qasm_flow *f)
{
    struct qasm_flow r = *f;
    r.src = f->dst;
    r.dst = f->src;
    return r;
}

char *qasm_flow_format(char *buf, size_t len, const struct qasm_flow *f)
{
    char s[QASM_ADDR_STRLEN], d[QASM_ADDR_STRLEN];
    snprintf(buf, len, "%s %s -> %s", f->proto == 17 ? "udp" : f->proto == 6 ? "tcp" : "ip",
             qasm_addr_format(s, sizeof(s), &f->src), qasm_addr_format(d, sizeof(d), &f->dst));
    return buf;
}

static uint32_t low32(const struct qasm_addr *a)
{
    const uint8_t *p = a->family == AF_INET ? a->ip : a->ip + 12;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_low32(struct qasm_addr *a, uint32_t v)
{
    uint8_t *p = a->family == AF_INET ? a->ip : a->ip + 12;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int qasm_addr_range_parse(struct qasm_addr *lo, struct qasm_addr *hi, const char *s)
{
    char buf[128];
    const char *dash = strchr(s, '-');
    if (strlen(s) >= sizeof(buf))
        return -EINVAL;
    if (!dash) {
        if (qasm_addr_parse_ip(lo, s, 0) != 0)
            return -EINVAL;
        *hi = *lo;
        return 0;
    }
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = '\0';
    if (qasm_addr_parse_ip(lo, buf, 0) != 0 || qasm_addr_parse_ip(hi, dash + 1, 0) != 0)
        return -EINVAL;
    if (lo->family != hi->family)
        return -EINVAL;
    size_t prefix = lo->family == AF_INET ? 0 : 12;
    if (memcmp(lo->ip, hi->ip, prefix) != 0 || low32(lo) > low32(hi))
        return -EINVAL;
    return 0;
}

void qasm_addr_range_nth(struct qasm_addr *out, const struct qasm_addr *lo,
                         const struct qasm_addr *hi, uint64_t n)
{
    uint64_t size = (uint64_t)low32(hi) - low32(lo) + 1;
    *out = *lo;
    set_low32(out, (uint32_t)(low32(lo) + n % size));
}

int qasm_addr_set_pktinfo(struct msghdr *mh, void *cbuf, const struct qasm_addr *src,
                          int sock_family)
{
    static const uint8_t zero[16];
    struct cmsghdr *cm = cbuf;

    _Static_assert(CMSG_SPACE(sizeof(struct in6_pktinfo)) <= QASM_ADDR_PKTINFO_SPACE,
                   "QASM_ADDR_PKTINFO_SPACE too small");
    mh->msg_control = NULL;
    mh->msg_controllen = 0;
    if (!src->family || src->family != sock_family ||
        memcmp(src->ip, zero, src->family == AF_INET ? 4 : 16) == 0)
        return 0;
    memset(cbuf, 0, QASM_ADDR_PKTINFO_SPACE);
    mh->msg_control = cbuf;
    if (src->family == AF_INET) {
        struct in_pktinfo pi;
        memset(&pi, 0, sizeof(pi));
        memcpy(&pi.ipi_spec_dst, src->ip, 4);
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    } else {
        struct in6_pktinfo pi;
        memset(&pi, 0, sizeof(pi));
        memcpy(&pi.ipi6_addr, src->ip, 16);
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        mh->msg_controllen = CMSG_SPACE(sizeof(pi));
    }
    return 1;
}
