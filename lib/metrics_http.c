/*
 * metrics_http.c: the --metrics endpoint (see metrics_http.h). The listening
 * socket is ours (a bind failure says its errno in one line, port 0 tells
 * its port); libmicrohttpd takes it and runs in external epoll mode.
 */
#include "metrics_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "log.h"

#define MAX_CONNS 16
#define CONN_IDLE_S 10

struct qasm_metrics_http {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    ev_io io;       /* MHD's epoll descriptor */
    ev_timer timer; /* MHD's next timeout */
    const struct qasm_metrics_spec *spec;
    qasm_metrics_http_json_fn fn;
    void *ud;
};

static const char content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode, const char *type)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rv = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rv;
}

static enum MHD_Result static_reply(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, (char *)(uintptr_t)text, strlen(text), MHD_RESPMEM_PERSISTENT,
                 "text/plain; charset=utf-8");
}

/* The stats now, rendered; 500 (and a warning) when that fails. */
static enum MHD_Result scrape(struct qasm_metrics_http *h, struct MHD_Connection *c)
{
    char *json = NULL, *text = NULL, err[256] = "";
    size_t jlen = 0, tlen = 0;
    int rv = h->fn(h->ud, &json, &jlen);
    if (rv < 0)
        snprintf(err, sizeof(err), "%s", strerror(-rv));
    else
        rv = qasm_metrics_render(json, jlen, h->spec, &text, &tlen, err, sizeof(err));
    free(json);
    if (rv < 0) {
        qasm_warn("metrics: cannot render the stats: %s", err);
        return static_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the stats\n");
    }
    return reply(c, MHD_HTTP_OK, text, tlen, MHD_RESPMEM_MUST_FREE, content_type);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **req)
{
    (void)version;
    (void)upload;
    (void)req;
    if (*upload_len != 0) {
        *upload_len = 0; /* a body is read and ignored; the answer below follows it */
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return static_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n");
    if (strcmp(url, "/metrics") != 0)
        return static_reply(c, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
    return scrape(cls, c);
}

/* After every run: the timer at MHD's next timeout (0: it has work ready now). */
static void rearm(struct qasm_metrics_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (double)ms / 1e3, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_metrics_http *h = w->data;
    MHD_run(h->mhd);
    rearm(h);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct qasm_metrics_http *h = w->data;
    MHD_run(h->mhd);
    rearm(h);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    qasm_debug("metrics: %s", msg);
}

/* The listening socket on |a| (its real address back in |a|); the descriptor, or -errno. */
static int listen_on(struct qasm_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = qasm_addr_to_sockaddr(&ss, a);
    int one = 1, fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, MAX_CONNS) == -1 ||
        getsockname(fd, (struct sockaddr *)&ss, &(socklen_t){ sizeof(ss) }) == -1) {
        int err = errno;
        close(fd);
        return -err;
    }
    qasm_addr_from_sockaddr(a, (struct sockaddr *)&ss, sizeof(ss));
    return fd;
}

/* MHD on |fd| in external epoll mode; 0, or -1 (|fd| closed, or owned by h->mhd). */
static int start_mhd(struct qasm_metrics_http *h, int fd, int family)
{
    unsigned flags = MHD_USE_EPOLL | (family == AF_INET6 ? MHD_USE_IPv6 : 0);
    h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_IDLE_S,
                              MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_END);
    if (!h->mhd) {
        close(fd);
        return -1;
    }
    /* From here MHD owns |fd|: MHD_stop_daemon closes it. */
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    if (!di)
        return -1;
    ev_io_init(&h->io, io_cb, di->epoll_fd, EV_READ);
    ev_init(&h->timer, timer_cb);
    h->io.data = h->timer.data = h;
    ev_io_start(h->loop, &h->io);
    rearm(h);
    return 0;
}

int qasm_metrics_http_new(struct qasm_metrics_http **ph, struct ev_loop *loop,
                          const struct qasm_addr *a, const struct qasm_metrics_spec *spec,
                          qasm_metrics_http_json_fn fn, void *ud, char *err, size_t errlen)
{
    char as[QASM_ADDR_STRLEN];
    struct qasm_addr bound = *a;
    *ph = NULL;
    struct qasm_metrics_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *h = (struct qasm_metrics_http){ .loop = loop, .spec = spec, .fn = fn, .ud = ud };
    int fd = listen_on(&bound);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s",
                 qasm_addr_format(as, sizeof(as), a), strerror(-fd));
        free(h);
        return fd;
    }
    if (start_mhd(h, fd, a->family) < 0) {
        snprintf(err, errlen, "cannot start the HTTP server (libmicrohttpd) on %s",
                 qasm_addr_format(as, sizeof(as), a));
        qasm_metrics_http_del(h);
        return -EIO;
    }
    qasm_info("metrics on http://%s/metrics", qasm_addr_format(as, sizeof(as), &bound));
    *ph = h;
    return 0;
}

void qasm_metrics_http_del(struct qasm_metrics_http *h)
{
    if (!h)
        return;
    if (h->mhd) {
        if (h->io.data) {
            ev_io_stop(h->loop, &h->io);
            ev_timer_stop(h->loop, &h->timer);
        }
        MHD_stop_daemon(h->mhd);
    }
    free(h);
}
