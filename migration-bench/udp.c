/* udp.c: UDP sockets with packet info (see udp.h). */
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <unistd.h>

static void set_buffers(int fd)
{
    int sz = 4 * 1024 * 1024;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
}

static int open_socket(int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    set_buffers(fd);
    return fd;
}

int qasm_udp_listen(const struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    int on = 1, fd, err;
    if (sl == 0)
        return -EINVAL;
    if ((fd = open_socket(a->family)) < 0)
        return fd;
    if (a->family == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        err = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on));
    } else {
        err = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
    }
    if (err != 0 || bind(fd, (struct sockaddr *)&ss, sl) != 0) {
        err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int qasm_udp_connect(const struct qasm_addr *local, const struct qasm_addr *remote,
                     struct qasm_addr *bound)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, err;
    if ((fd = open_socket(remote->family)) < 0)
        return fd;
    if (local && local->family) {
        sl = qasm_addr_to_sockaddr(&ss, local);
        if (bind(fd, (struct sockaddr *)&ss, sl) != 0)
            goto fail;
    }
    sl = qasm_addr_to_sockaddr(&ss, remote);
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0)
        goto fail;
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        qasm_addr_from_sockaddr(bound, (struct sockaddr *)&ss, sl) != 0)
        goto fail;
    return fd;
fail:
    err = errno ? -errno : -EINVAL;
    close(fd);
    return err;
}

ssize_t qasm_udp_recv(int fd, void *buf, size_t len, struct sockaddr_storage *remote,
                      socklen_t *remotelen, struct sockaddr_storage *local)
{
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } cbuf;
    struct iovec iov = {buf, len};
    struct msghdr mh = {0};
    mh.msg_name = remote;
    mh.msg_namelen = sizeof(*remote);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = local ? cbuf.b : NULL;
    mh.msg_controllen = local ? sizeof(cbuf) : 0;
    ssize_t n;
    do {
        n = recvmsg(fd, &mh, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    *remotelen = mh.msg_namelen;
    if (!local)
        return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            ((struct sockaddr_in *)local)->sin_addr = pi.ipi_addr;
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            ((struct sockaddr_in6 *)local)->sin6_addr = pi.ipi6_addr;
        }
    }
    return n;
}

static int gso_broken;

/* put_cmsg writes control message |level|/|type| with |len| bytes of |data| at |c|, adds its
 * space to *clen and returns the next free header (NULL when |mh|'s buffer is full). */
static struct cmsghdr *put_cmsg(struct msghdr *mh, struct cmsghdr *c, int level, int type,
                                const void *data, size_t len, size_t *clen)
{
    c->cmsg_level = level;
    c->cmsg_type = type;
    c->cmsg_len = CMSG_LEN(len);
    memcpy(CMSG_DATA(c), data, len);
    *clen += CMSG_SPACE(len);
    return CMSG_NXTHDR(mh, c);
}

static int send_one(int fd, const void *buf, size_t len, const struct sockaddr *remote,
                    socklen_t remotelen, const struct sockaddr *local, size_t gso)
{
    union {
        struct cmsghdr h;
        uint8_t b[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(uint16_t))];
    } cbuf;
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {0};
    size_t clen = 0;
    memset(&cbuf, 0, sizeof(cbuf));
    mh.msg_name = (void *)remote;
    mh.msg_namelen = remote ? remotelen : 0;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf.b;
    mh.msg_controllen = sizeof(cbuf.b);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (local && local->sa_family == AF_INET &&
        ((const struct sockaddr_in *)local)->sin_addr.s_addr != INADDR_ANY) {
        struct in_pktinfo pi = {0};
        pi.ipi_spec_dst = ((const struct sockaddr_in *)local)->sin_addr;
        c = put_cmsg(&mh, c, IPPROTO_IP, IP_PKTINFO, &pi, sizeof(pi), &clen);
    } else if (local && local->sa_family == AF_INET6 &&
               !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)local)->sin6_addr)) {
        struct in6_pktinfo pi = {0};
        pi.ipi6_addr = ((const struct sockaddr_in6 *)local)->sin6_addr;
        c = put_cmsg(&mh, c, IPPROTO_IPV6, IPV6_PKTINFO, &pi, sizeof(pi), &clen);
    }
    if (gso) {
        uint16_t seg = (uint16_t)gso;
        (void)put_cmsg(&mh, c, SOL_UDP, UDP_SEGMENT, &seg, sizeof(seg), &clen);
    }
    mh.msg_controllen = clen;
    if (clen == 0)
        mh.msg_control = NULL;
    ssize_t n;
    do {
        n = sendmsg(fd, &mh, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

int qasm_udp_send(int fd, const void *buf, size_t len, const struct sockaddr *remote,
                  socklen_t remotelen, const struct sockaddr *local, size_t gso)
{
    if (gso == 0 || gso >= len)
        return send_one(fd, buf, len, remote, remotelen, local, 0);
    if (!gso_broken) {
        int rv = send_one(fd, buf, len, remote, remotelen, local, gso);
        if (rv != -EIO && rv != -EINVAL && rv != -ENOPROTOOPT && rv != -EOPNOTSUPP)
            return rv;
        gso_broken = 1;
    }
    const uint8_t *p = buf;
    int rv = 0;
    for (size_t off = 0; off < len && rv == 0; off += gso)
        rv = send_one(fd, p + off, len - off < gso ? len - off : gso, remote, remotelen, local, 0);
    return rv;
}
