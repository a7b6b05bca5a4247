/*
 * control.c: the control socket (see control.h). One request per
 * connection: LIST and STATS answers are built at once into the client's
 * output buffer, written as the socket takes them, then the connection
 * closes; an EVENTS client stays and gets each pump's events appended.
 */
#include "middleboxes/io/control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "middleboxes/io/control_list.h"
#include "middleboxes/io/control_proto.h"
#include "middleboxes/io/mbox_json.h"

#define CLIENT_TIMEOUT 10.0 /* seconds a client has to send its request, or to take more of
                               its answer */
#define LIST_CHUNK 256      /* entries formatted per pass of the loop */

struct client {
    LIST_ENTRY(client) link;
    struct qasm_control *c;
    int fd;
    ev_io rd, wr;
    ev_timer idle;
    char in[QASM_CONTROL_LINE_MAX];
    size_t nin;
    char *out;
    size_t off, len;
    struct qasm_control_list *list; /* a LIST answer still being formatted */
    int closing; /* close once |out| is written */
    int events;  /* an EVENTS reader */
    int json;
};

struct qasm_control {
    struct ev_loop *loop;
    struct qasm_control_config cfg;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    ino_t ino; /* the socket file's: removed at exit only if still ours */
    ev_io accept_io;
    LIST_HEAD(, client) clients;
    size_t nclients, nevents;
    /* counters */
    uint64_t requests, bad_requests, refused_busy, slow_dropped, truncated, events_sent;
};

/* ---- clients ---- */

static void client_close(struct client *cl)
{
    struct qasm_control *c = cl->c;
    ev_io_stop(c->loop, &cl->rd);
    ev_io_stop(c->loop, &cl->wr);
    ev_timer_stop(c->loop, &cl->idle);
    close(cl->fd);
    LIST_REMOVE(cl, link);
    c->nclients--;
    if (cl->events && --c->nevents == 0)
        qasm_mbox_table_events(c->cfg.m, 0);
    qasm_control_list_del(cl->list);
    free(cl->out);
    free(cl);
}

/* A memory stream for an answer to |cl| (*buf and *size set when it is closed); NULL, with
 * the client closed, when there is no memory. */
static FILE *answer_stream(struct client *cl, char **buf, size_t *size)
{
    *buf = NULL;
    *size = 0;
    FILE *f = open_memstream(buf, size);
    if (f == NULL)
        client_close(cl);
    return f;
}

/* The answer's clock: CLIENT_TIMEOUT from now (it restarts whenever the reader takes some). */
static void answer_timer(struct client *cl)
{
    ev_timer_stop(cl->c->loop, &cl->idle);
    ev_timer_set(&cl->idle, CLIENT_TIMEOUT, 0.);
    ev_timer_start(cl->c->loop, &cl->idle);
}

/* The next LIST_CHUNK entries of the LIST answer into |out| (empty). 0, or -1 when closed. */
static int list_chunk(struct client *cl)
{
    char *buf;
    size_t size;
    FILE *f = answer_stream(cl, &buf, &size);
    if (f == NULL)
        return -1;
    int more = qasm_control_list_next(cl->list, f, LIST_CHUNK);
    fclose(f);
    free(cl->out);
    cl->out = buf;
    cl->off = 0;
    cl->len = size;
    if (!more) {
        qasm_control_list_del(cl->list);
        cl->list = NULL;
    }
    return 0;
}

/*
 * Writes what the socket takes, and at most one more chunk of a LIST (the
 * next waits for the next pass of the loop); closes a finished or broken
 * client. 0, or -1 when closed.
 */
static int client_write(struct client *cl)
{
    for (int chunks = 0;; chunks++) {
        while (cl->off < cl->len) {
            ssize_t w = send(cl->fd, cl->out + cl->off, cl->len - cl->off, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                ev_io_start(cl->c->loop, &cl->wr);
                return 0;
            }
            if (w <= 0) {
                client_close(cl);
                return -1;
            }
            cl->off += (size_t)w;
            if (cl->closing)
                answer_timer(cl);
        }
        cl->off = cl->len = 0;
        if (cl->list == NULL || chunks > 0)
            break;
        if (list_chunk(cl) < 0)
            return -1;
    }
    if (cl->list) { /* more to format: when the loop comes back (the socket is writable) */
        ev_io_start(cl->c->loop, &cl->wr);
        return 0;
    }
    ev_io_stop(cl->c->loop, &cl->wr);
    if (cl->closing) {
        client_close(cl);
        return -1;
    }
    return 0;
}

/* Queues |n| bytes; an EVENTS reader past its bound is dropped. 0, or -1 when closed. */
static int client_queue(struct client *cl, const char *p, size_t n)
{
    size_t pending = cl->len - cl->off;
    if (cl->events && pending + n > QASM_CONTROL_EVENTS_MAX) {
        cl->c->slow_dropped++;
        qasm_warn("control: dropped an EVENTS reader %zu bytes behind (slow reader, %llu so far)",
                  pending, (unsigned long long)cl->c->slow_dropped);
        client_close(cl);
        return -1;
    }
    if (cl->off > 0) {
        memmove(cl->out, cl->out + cl->off, pending);
        cl->off = 0;
        cl->len = pending;
    }
    char *b = realloc(cl->out, cl->len + n);
    if (b == NULL) {
        client_close(cl);
        return -1;
    }
    memcpy(b + cl->len, p, n);
    cl->out = b;
    cl->len += n;
    return client_write(cl);
}

/* Answers with |buf| (|size| bytes, freed with the client), then closes; a reader that
 * has not taken it all within CLIENT_TIMEOUT is dropped (its memory with it). */
static void client_answer(struct client *cl, char *buf, size_t size)
{
    free(cl->out);
    cl->out = buf;
    cl->off = 0;
    cl->len = size;
    cl->closing = 1;
    answer_timer(cl);
    (void)client_write(cl);
}

static void client_error(struct client *cl, const char *msg)
{
    char *buf;
    size_t size;
    FILE *f = answer_stream(cl, &buf, &size);
    if (f == NULL)
        return;
    fprintf(f, "ERR %s\n", msg);
    fclose(f);
    client_answer(cl, buf, size);
}

/* ---- answers ---- */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* LIST: a copy of the table now, sent a chunk at a time (control_list.h). */
static void answer_list(struct client *cl, int json)
{
    struct qasm_control *c = cl->c;
    if (qasm_control_list_new(&cl->list, c->cfg.m, c->cfg.core, json, qasm_now(), wall_now(),
                              QASM_CONTROL_LIST_ENTRIES) < 0) {
        client_error(cl, "out of memory");
        return;
    }
    if (qasm_control_list_truncated(cl->list)) {
        c->truncated++;
        qasm_warn("control: LIST stopped at %zu entries", qasm_control_list_count(cl->list));
    }
    cl->closing = 1;
    answer_timer(cl);
    (void)client_write(cl);
}

static void client_request(struct client *cl, const char *line, size_t len)
{
    struct qasm_control *c = cl->c;
    struct qasm_control_req r;
    char err[160];
    ev_timer_stop(c->loop, &cl->idle);
    if (qasm_control_parse(line, len, &r, err, sizeof(err)) < 0) {
        c->bad_requests++;
        client_error(cl, err);
        return;
    }
    c->requests++;
    if (r.verb == QASM_CONTROL_EVENTS) {
        cl->events = 1;
        cl->json = r.json;
        if (c->nevents++ == 0)
            qasm_mbox_table_events(c->cfg.m, QASM_CONTROL_QUEUE);
        return;
    }
    if (r.verb == QASM_CONTROL_LIST) {
        answer_list(cl, r.json);
        return;
    }
    char *buf;
    size_t size;
    FILE *f = answer_stream(cl, &buf, &size);
    if (f == NULL)
        return;
    struct qasm_json j;
    qasm_json_begin(&j, f);
    c->cfg.stats(&j, c->cfg.stats_ud);
    qasm_json_end(&j);
    fclose(f);
    client_answer(cl, buf, size);
}

static void client_read(struct client *cl)
{
    char tmp[512];
    ssize_t n = recv(cl->fd, tmp, sizeof(tmp), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(cl);
        return;
    }
    if (cl->events || cl->closing)
        return; /* one request per connection: the rest is ignored */
    for (ssize_t i = 0; i < n; i++) {
        if (tmp[i] == '\n') {
            client_request(cl, cl->in, cl->nin);
            return;
        }
        if (cl->nin == sizeof(cl->in) - 1) {
            cl->c->bad_requests++;
            client_error(cl, "request line too long");
            return;
        }
        cl->in[cl->nin++] = tmp[i];
    }
}

static void rd_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    client_read(w->data);
}

static void wr_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    (void)client_write(w->data);
}

static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct client *cl = w->data;
    if (cl->closing) {
        cl->c->slow_dropped++;
        qasm_warn("control: dropped a reader that left %zu bytes of its answer unread for 10 s",
                  cl->len - cl->off);
        client_close(cl);
        return;
    }
    cl->c->bad_requests++;
    client_error(cl, "no request within 10 s");
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct qasm_control *c = w->data;
    int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    struct client *cl = calloc(1, sizeof(*cl));
    if (cl == NULL) {
        close(fd);
        return;
    }
    cl->c = c;
    cl->fd = fd;
    ev_io_init(&cl->rd, rd_cb, fd, EV_READ);
    ev_io_init(&cl->wr, wr_cb, fd, EV_WRITE);
    ev_timer_init(&cl->idle, idle_cb, CLIENT_TIMEOUT, 0.);
    cl->rd.data = cl->wr.data = cl->idle.data = cl;
    LIST_INSERT_HEAD(&c->clients, cl, link);
    c->nclients++;
    if (c->nclients > QASM_CONTROL_MAX_CLIENTS) {
        c->refused_busy++;
        qasm_warn("control: refused a client: %d already connected", QASM_CONTROL_MAX_CLIENTS);
        client_error(cl, "busy");
        return;
    }
    ev_io_start(loop, &cl->rd);
    ev_timer_start(loop, &cl->idle);
}

/* ---- events ---- */

void qasm_control_pump(struct qasm_control *c)
{
    struct qasm_mbox_table_event ev;
    if (c == NULL || c->nevents == 0 || !qasm_mbox_next_table_event(c->cfg.m, &ev))
        return;
    /* Each form once, if a reader wants it: [0] text, [1] JSON. */
    int want[2] = {0, 0};
    struct client *cl, *next;
    LIST_FOREACH(cl, &c->clients, link)
        if (cl->events)
            want[cl->json] = 1;
    char *buf[2] = {NULL, NULL};
    size_t size[2] = {0, 0}, n = 0;
    FILE *f[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++)
        if (want[k] && (f[k] = open_memstream(&buf[k], &size[k])) == NULL)
            want[k] = 0;
    qasm_tstamp now = qasm_now();
    double wall = wall_now();
    enum qasm_mbox_function fn = c->cfg.core->function;
    do {
        double at = wall - (now > ev.at ? (double)(now - ev.at) / 1e9 : 0.0);
        if (want[0])
            qasm_control_event_text(f[0], &ev, fn, at);
        if (want[1])
            qasm_control_event_json(f[1], &ev, fn, at);
        n++;
    } while (qasm_mbox_next_table_event(c->cfg.m, &ev));
    for (int k = 0; k < 2; k++)
        if (want[k])
            fclose(f[k]);
    c->events_sent += n;
    for (cl = LIST_FIRST(&c->clients); cl; cl = next) {
        next = LIST_NEXT(cl, link);
        if (cl->events && want[cl->json])
            (void)client_queue(cl, buf[cl->json], size[cl->json]);
    }
    free(buf[0]);
    free(buf[1]);
}

/* ---- the socket ---- */

/* Whether a server answers at |sa| (a live middlebox) rather than a stale file. */
static int in_use(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int live = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    close(fd);
    return live;
}

static int listen_at(struct qasm_control *c)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
    if (in_use(&sa))
        return -EADDRINUSE;
    (void)unlink(c->path); /* a stale socket file (a killed middlebox) */
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -errno;
    struct stat st;
    if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->fd, 16) < 0 ||
        stat(c->path, &st) < 0) {
        int err = -errno;
        close(c->fd);
        c->fd = -1;
        return err;
    }
    c->ino = st.st_ino;
    return 0;
}

int qasm_control_new(struct qasm_control **pc, struct ev_loop *loop,
                     const struct qasm_control_config *cfg)
{
    *pc = NULL;
    struct qasm_control *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->loop = loop;
    c->cfg = *cfg;
    c->fd = -1;
    LIST_INIT(&c->clients);
    if (cfg->path)
        snprintf(c->path, sizeof(c->path), "%s", cfg->path);
    else
        qasm_control_default_path(c->path, sizeof(c->path),
                                  qasm_mbox_function_name(cfg->core->function));
    int rv = cfg->path && strlen(cfg->path) >= sizeof(c->path) ? -ENAMETOOLONG : listen_at(c);
    if (rv < 0) {
        /* Only an explicit path is required: a default one that is taken or not
         * writable (a read-only working directory) leaves the middlebox without. */
        if (cfg->path == NULL)
            qasm_warn("no control socket: %s: %s%s (give --control PATH)", c->path,
                      strerror(-rv), rv == -EADDRINUSE ? ", another middlebox's" : "");
        else
            fprintf(stderr, "qasm-mbox: --control %s: %s\n", c->path, strerror(-rv));
        free(c);
        return cfg->path == NULL ? 0 : rv;
    }
    ev_io_init(&c->accept_io, accept_cb, c->fd, EV_READ);
    c->accept_io.data = c;
    ev_io_start(loop, &c->accept_io);
    qasm_info("control socket %s", c->path);
    *pc = c;
    return 0;
}

void qasm_control_del(struct qasm_control *c)
{
    if (c == NULL)
        return;
    while (!LIST_EMPTY(&c->clients))
        client_close(LIST_FIRST(&c->clients));
    ev_io_stop(c->loop, &c->accept_io);
    close(c->fd);
    struct stat st;
    if (stat(c->path, &st) == 0 && st.st_ino == c->ino) /* not a later middlebox's */
        (void)unlink(c->path);
    free(c);
}

void qasm_control_json(struct qasm_json *j, const struct qasm_control *c)
{
    if (c == NULL)
        return;
    qasm_json_obj(j, "control");
    qasm_json_str(j, "path", c->path);
    qasm_json_u64(j, "connections", c->nclients);
    qasm_json_u64(j, "event_readers", c->nevents);
    qasm_json_u64(j, "requests", c->requests);
    qasm_json_u64(j, "bad_requests", c->bad_requests);
    qasm_json_u64(j, "refused_busy", c->refused_busy);
    qasm_json_u64(j, "slow_readers_dropped", c->slow_dropped);
    qasm_json_u64(j, "lists_truncated", c->truncated);
    qasm_json_u64(j, "events_sent", c->events_sent);
    qasm_json_close(j);
}
