#include "proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 256

static struct bench_proc *registry[MAX_PROCS];

static void registry_add(struct bench_proc *p)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (registry[i] == NULL) {
            registry[i] = p;
            return;
        }
}

static void registry_remove(struct bench_proc *p)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (registry[i] == p)
            registry[i] = NULL;
}

void bench_sleep(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

int bench_proc_start(struct bench_proc *p, const char *name, const char *logdir,
                     char *const argv[], char *const env[])
{
    return bench_proc_start_out(p, name, logdir, argv, env, NULL);
}

int bench_proc_start_out(struct bench_proc *p, const char *name, const char *logdir,
                         char *const argv[], char *const env[], const char *out_path)
{
    int outfd = -1;
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%.3800s/%.200s.log", logdir, name);
    int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return -errno;
    FILE *f = fdopen(dup(fd), "w");
    if (f) {
        fprintf(f, "#");
        for (int i = 0; argv[i]; i++)
            fprintf(f, " %s", argv[i]);
        fprintf(f, "\n");
        fclose(f);
    }
    if (out_path != NULL) {
        outfd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (outfd == -1) {
            int err = errno;
            close(fd);
            return -err;
        }
    }
    pid_t pid = fork();
    if (pid == -1) {
        int err = errno;
        close(fd);
        if (outfd >= 0)
            close(outfd);
        return -err;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(outfd >= 0 ? outfd : fd, 1);
        dup2(fd, 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        for (int i = 0; env && env[i]; i++)
            putenv(env[i]);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(fd);
    if (outfd >= 0)
        close(outfd);
    p->pid = pid;
    registry_add(p);
    return 0;
}

static void set_status(struct bench_proc *p, int st)
{
    p->exited = 1;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    registry_remove(p);
}

int bench_proc_alive(struct bench_proc *p)
{
    int st;
    if (p->pid <= 0 || p->exited)
        return 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        set_status(p, st);
        return 0;
    }
    return 1;
}

int bench_proc_wait(struct bench_proc *p, double timeout_s)
{
    for (double t = 0; t < timeout_s; t += 0.01) {
        if (!bench_proc_alive(p))
            return p->status;
        bench_sleep(0.01);
    }
    return bench_proc_alive(p) ? -ETIMEDOUT : p->status;
}

void bench_proc_signal(struct bench_proc *p, int sig)
{
    if (bench_proc_alive(p))
        kill(p->pid, sig);
}

int bench_proc_stop(struct bench_proc *p)
{
    if (!bench_proc_alive(p))
        return p->exited ? p->status : 0;
    kill(-p->pid, SIGTERM);
    kill(p->pid, SIGTERM);
    if (bench_proc_wait(p, 3.0) == -ETIMEDOUT) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        bench_proc_wait(p, 2.0);
    }
    /* Anything the process group left behind goes too. */
    kill(-p->pid, SIGKILL);
    return p->status;
}

void bench_proc_stop_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (registry[i] != NULL)
            bench_proc_stop(registry[i]);
}

static void on_signal(int sig)
{
    bench_proc_stop_all();
    signal(sig, SIG_DFL);
    raise(sig);
}

void bench_proc_install_handlers(void)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(bench_proc_stop_all);
}

void bench_proc_tail(const struct bench_proc *p, int lines)
{
    char cmd[PATH_MAX + 32];
    fprintf(stderr, "---- last lines of %s ----\n", p->log);
    snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, p->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(no log)\n");
}

static int try_bind(int family, int type, const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        inet_pton(AF_INET, ip, &sin->sin_addr);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &sin6->sin6_addr);
        len = sizeof(*sin6);
    }
    int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    int rv = bind(fd, (struct sockaddr *)&ss, len);
    close(fd);
    return rv;
}

uint16_t bench_free_port(void)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        uint16_t port = (uint16_t)(20000 + (unsigned)rand() % 30000);
        if (try_bind(AF_INET, SOCK_DGRAM, "127.0.0.1", port) == 0 &&
            try_bind(AF_INET, SOCK_STREAM, "127.0.0.1", port) == 0 &&
            try_bind(AF_INET6, SOCK_DGRAM, "::1", port) == 0)
            return port;
    }
    return 0;
}

uint16_t bench_free_port_range(const char *ip, int n)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        uint16_t base = (uint16_t)(20000 + (unsigned)rand() % 30000);
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = try_bind(AF_INET, SOCK_DGRAM, ip, (uint16_t)(base + i)) == 0;
        if (ok)
            return base;
    }
    return 0;
}

static int udp_port_listed(const char *path, uint16_t port)
{
    char line[512];
    unsigned lport;
    FILE *f = fopen(path, "r");
    int found = 0;
    if (f == NULL)
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, " %*d: %*[0-9A-Fa-f]:%x", &lport) == 1 && lport == port;
    fclose(f);
    return found;
}

int bench_wait_udp_port(uint16_t port, double timeout_s)
{
    for (double t = 0; t < timeout_s; t += 0.02) {
        if (udp_port_listed("/proc/net/udp", port) || udp_port_listed("/proc/net/udp6", port))
            return 0;
        bench_sleep(0.02);
    }
    return -ETIMEDOUT;
}
