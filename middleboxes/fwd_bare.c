/*
 * fwd_bare.c: qasm-fwd-bare, the anchor of middleboxes/relay-bench.sh: a
 * UDP forwarder with no policy at all, so that the relay's throughput can
 * be read against what this machine's kernel allows a userspace forwarder
 * in the same run. recvmmsg / sendmmsg by 32; what arrives on --listen
 * goes to --to from one socket connected to it, what comes back goes to
 * the last client heard from. No core, no loop library, no stats but a
 * count on stderr at exit.
 *
 *   qasm-fwd-bare --listen HOST:PORT --to HOST:PORT [--epoll]
 *
 * --epoll waits with epoll instead of poll: both sockets stay registered
 * while it forwards, as in an event loop (libev). The kernel then runs the
 * socket's wake-up path for every datagram sent (the write-space callback
 * of the sending socket finds the epoll entry), which poll, registered
 * only while it sleeps, does not.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"

#define BATCH 32
#define MAXLEN 4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int udp_socket(const struct qasm_addr *bind_to, const struct qasm_addr *connect_to)
{
    struct sockaddr_storage ss;
    const struct qasm_addr *a = bind_to ? bind_to : connect_to;
    int fd = socket(a->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int size = 1 << 22;
    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) == -1)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    if (bind_to && bind(fd, (struct sockaddr *)&ss, qasm_addr_to_sockaddr(&ss, bind_to)) == -1)
        return -1;
    if (connect_to &&
        connect(fd, (struct sockaddr *)&ss, qasm_addr_to_sockaddr(&ss, connect_to)) == -1)
        return -1;
    return fd;
}

struct fwd {
    int lfd, ufd;
    struct sockaddr_storage client; /* the last client heard from */
    socklen_t client_len;
    uint8_t buf[BATCH][MAXLEN];
    struct iovec iov[BATCH];
    struct sockaddr_storage from[BATCH];
    struct mmsghdr msg[BATCH];
    uint64_t rx, tx;
};

/* One batch from |in| out of |out| (to |to|, or connected when NULL); 0 when |in| is empty. */
static int pass(struct fwd *f, int in, int out, int from_client)
{
    for (int i = 0; i < BATCH; i++) {
        f->iov[i].iov_base = f->buf[i];
        f->iov[i].iov_len = MAXLEN;
        memset(&f->msg[i].msg_hdr, 0, sizeof(f->msg[i].msg_hdr));
        f->msg[i].msg_hdr.msg_iov = &f->iov[i];
        f->msg[i].msg_hdr.msg_iovlen = 1;
        f->msg[i].msg_hdr.msg_name = &f->from[i];
        f->msg[i].msg_hdr.msg_namelen = sizeof(f->from[i]);
    }
    int n = recvmmsg(in, f->msg, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return 0;
    f->rx += (uint64_t)n;
    if (from_client) {
        f->client = f->from[n - 1];
        f->client_len = f->msg[n - 1].msg_hdr.msg_namelen;
    } else if (f->client_len == 0) {
        return 1; /* nobody to send to yet */
    }
    for (int i = 0; i < n; i++) {
        f->iov[i].iov_len = f->msg[i].msg_len;
        f->msg[i].msg_hdr.msg_name = from_client ? NULL : &f->client;
        f->msg[i].msg_hdr.msg_namelen = from_client ? 0 : f->client_len;
    }
    for (int k = 0; k < n;) {
        int s = sendmmsg(out, f->msg + k, (unsigned)(n - k), 0);
        if (s <= 0) {
            if (s == -1 && errno == EINTR)
                continue;
            k++; /* the first was refused: skip it */
            continue;
        }
        f->tx += (uint64_t)s;
        k += s;
    }
    return 1;
}

static void drain_ready(struct fwd *fw, int lfd_ready, int ufd_ready)
{
    if (lfd_ready)
        while (pass(fw, fw->lfd, fw->ufd, 1))
            ;
    if (ufd_ready)
        while (pass(fw, fw->ufd, fw->lfd, 0))
            ;
}

static int run_poll(struct fwd *fw)
{
    struct pollfd pfd[2] = {{.fd = fw->lfd, .events = POLLIN}, {.fd = fw->ufd, .events = POLLIN}};
    while (!stop)
        if (poll(pfd, 2, -1) > 0)
            drain_ready(fw, pfd[0].revents != 0, pfd[1].revents != 0);
    return 0;
}

static int run_epoll(struct fwd *fw)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev[2] = {{.events = EPOLLIN, .data.fd = fw->lfd},
                                {.events = EPOLLIN, .data.fd = fw->ufd}};
    if (ep == -1 || epoll_ctl(ep, EPOLL_CTL_ADD, fw->lfd, &ev[0]) == -1 ||
        epoll_ctl(ep, EPOLL_CTL_ADD, fw->ufd, &ev[1]) == -1)
        return -1;
    while (!stop) {
        int n = epoll_wait(ep, ev, 2, -1), l = 0, u = 0;
        for (int i = 0; i < n; i++) {
            l |= ev[i].data.fd == fw->lfd;
            u |= ev[i].data.fd == fw->ufd;
        }
        drain_ready(fw, l, u);
    }
    close(ep);
    return 0;
}

static struct fwd f;

int main(int argc, char **argv)
{
    struct qasm_addr listen_a, to_a;
    qasm_cli_front("qasm-fwd-bare", argc, argv);
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: qasm-fwd-bare --listen HOST:PORT --to HOST:PORT [--epoll]\n"
             "Forwards UDP from --listen to --to and back to the last client, no policy\n"
             "(the anchor of middleboxes/relay-bench.sh). HOST is an address or a name.\n"
             "  --epoll     wait with epoll (sockets registered all along), not poll\n"
             "  -h, --help  this text\n"
             "  --version   print the version and the commit it was built from");
        return 0;
    }
    char err[320];
    int use_epoll = argc == 6 && strcmp(argv[5], "--epoll") == 0;
    for (int i = 1; i < argc - use_epoll; i += 2)
        if (strcmp(argv[i], "--listen") != 0 && strcmp(argv[i], "--to") != 0)
            qasm_cli_usage_exitf("qasm-fwd-bare", "unrecognized option '%s'", argv[i]);
    if (argc - use_epoll != 5 || strcmp(argv[1], "--listen") || strcmp(argv[3], "--to"))
        qasm_cli_usage_exit("qasm-fwd-bare", "expected --listen HOST:PORT --to HOST:PORT");
    if (qasm_cli_resolve(&listen_a, argv[2], err, sizeof(err)) < 0)
        qasm_cli_usage_exitf("qasm-fwd-bare", "--listen %s", err);
    if (qasm_cli_resolve(&to_a, argv[4], err, sizeof(err)) < 0)
        qasm_cli_usage_exitf("qasm-fwd-bare", "--to %s", err);
    f.lfd = udp_socket(&listen_a, NULL);
    f.ufd = udp_socket(NULL, &to_a);
    if (f.lfd < 0 || f.ufd < 0) {
        fprintf(stderr, "qasm-fwd-bare: %s\n", strerror(errno));
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (use_epoll ? run_epoll(&f) : run_poll(&f)) {
        fprintf(stderr, "qasm-fwd-bare: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "qasm-fwd-bare: rx %" PRIu64 " tx %" PRIu64 "\n", f.rx, f.tx);
    return 0;
}
