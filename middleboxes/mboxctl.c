/*
 * mboxctl.c: qasm-mboxctl, conntrack for qasm-mbox: sends one request to a
 * middlebox's control socket (middleboxes/io/control_proto.h) and copies
 * the answer to standard output. The middlebox formats the lines; this
 * program finds the socket, counts what it shows and reports failures.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "middleboxes/io/control.h"
#include "middleboxes/mboxctl_opts.h"

#define PROG "qasm-mboxctl"

/* The only middlebox socket where qasm-mbox puts its default one; exits 1 if none or several. */
static void find_socket(char *path, size_t n)
{
    char def[256], pat[300];
    qasm_control_default_path(def, sizeof(def), "*");
    snprintf(pat, sizeof(pat), "%s", def);
    glob_t g;
    memset(&g, 0, sizeof(g));
    (void)glob(pat, 0, NULL, &g);
    if (geteuid() == 0) /* systemd units qasm-mbox@NAME (RuntimeDirectory=qasm-mbox-NAME) */
        (void)glob("/run/qasm-mbox-*/control.sock", g.gl_pathc ? GLOB_APPEND : 0, NULL, &g);
    if (g.gl_pathc == 0) {
        fprintf(stderr, "%s: no middlebox control socket matches %s (is qasm-mbox running? "
                "give --control PATH)\n", PROG, pat);
        exit(1);
    }
    if (g.gl_pathc > 1) {
        fprintf(stderr, "%s: %zu middlebox control sockets match %s: choose one with --control "
                "(%s, %s%s)\n", PROG, (size_t)g.gl_pathc, pat, g.gl_pathv[0], g.gl_pathv[1],
                g.gl_pathc > 2 ? ", ..." : "");
        exit(1);
    }
    snprintf(path, n, "%s", g.gl_pathv[0]);
    globfree(&g);
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        fprintf(stderr, "%s: socket path too long: %s\n", PROG, path);
        exit(1);
    }
    memcpy(sa.sun_path, path, len + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "%s: cannot connect to %s: %s (is qasm-mbox running?)\n", PROG, path,
                strerror(errno));
        exit(1);
    }
    return fd;
}

/*
 * Copies the answer on |fd| to standard output; |lines|: how many lines it
 * had (events: stops after |count| of them). An "ERR" answer goes to stderr.
 * 0 at the end of the answer, 1 when it failed.
 */
static int copy_answer(int fd, unsigned long count, unsigned long *lines)
{
    char buf[65536];
    int first = 1;
    *lines = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "%s: read: %s\n", PROG, strerror(errno));
            return 1;
        }
        if (n == 0)
            return 0;
        if (first && n >= 4 && memcmp(buf, "ERR ", 4) == 0) {
            fprintf(stderr, "%s: the middlebox says: %.*s", PROG, (int)n - 4, buf + 4);
            return 1;
        }
        first = 0;
        size_t len = (size_t)n;
        for (size_t i = 0; i < len; i++)
            if (buf[i] == '\n' && ++*lines == count) {
                len = i + 1;
                break;
            }
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0)
            return 1; /* standard output closed (a pipe's reader left) */
        if (count && *lines == count)
            return 0;
    }
}

int main(int argc, char **argv)
{
    qasm_cli_front(PROG, argc, argv);
    struct qasm_mboxctl_opts o;
    char err[512], path[256], req[64];
    int rv = qasm_mboxctl_opts_parse(argc, argv, &o, err, sizeof(err));
    if (rv == 1) {
        fputs(qasm_mboxctl_usage(), stdout);
        return 0;
    }
    if (rv < 0)
        qasm_cli_usage_exit(PROG, err);
    if (o.control)
        snprintf(path, sizeof(path), "%s", o.control);
    else
        find_socket(path, sizeof(path));
    int fd = connect_to(path);
    size_t n = qasm_control_request(req, sizeof(req), &o.req);
    if (send(fd, req, n, MSG_NOSIGNAL) != (ssize_t)n) {
        fprintf(stderr, "%s: cannot send to %s: %s\n", PROG, path, strerror(errno));
        return 1;
    }
    unsigned long lines;
    rv = copy_answer(fd, o.count, &lines);
    close(fd);
    if (rv == 0 && o.req.verb == QASM_CONTROL_LIST && !o.req.json)
        fprintf(stderr, "%s %s: %lu entries shown\n", PROG, qasm_version(), lines);
    if (rv == 0 && o.req.verb == QASM_CONTROL_EVENTS && (o.count == 0 || lines < o.count)) {
        fprintf(stderr, "%s: %s closed the event stream (middlebox gone, or this reader was "
                "too slow)\n", PROG, path);
        rv = 1;
    }
    return rv;
}
