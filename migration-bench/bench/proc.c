#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 256

static struct bench_proc *registry[MAX_PROCS];

static void reservations_forget(void);

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

/* Opens LOGDIR/NAME.log (the command line on its first line) and |out_path|. */
static int open_outputs(struct bench_proc *p, const char *name, const char *logdir,
                        char *const argv[], const char *out_path, int *outfd)
{
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
    *outfd = -1;
    if (out_path != NULL) {
        *outfd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (*outfd == -1) {
            int err = errno;
            close(fd);
            return -err;
        }
    }
    return fd;
}

/*
 * Forks a child in its own process group with stdout to |outfd| (or the
 * log), stderr to the log, stdin from /dev/null; the child returns 0 from
 * here, the parent the child's pid (registered) or -errno.
 */
static pid_t fork_child(struct bench_proc *p, int fd, int outfd)
{
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
        signal(SIGPIPE, SIG_DFL);
        return 0;
    }
    setpgid(pid, pid);
    close(fd);
    if (outfd >= 0)
        close(outfd);
    p->pid = pid;
    registry_add(p);
    return pid;
}

int bench_proc_start_out(struct bench_proc *p, const char *name, const char *logdir,
                         char *const argv[], char *const env[], const char *out_path)
{
    int outfd, fd = open_outputs(p, name, logdir, argv, out_path, &outfd);
    if (fd < 0)
        return fd;
    pid_t pid = fork_child(p, fd, outfd);
    if (pid != 0)
        return pid < 0 ? (int)pid : 0;
    for (int i = 0; env && env[i]; i++)
        putenv(env[i]);
    execvp(argv[0], argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int bench_proc_fork(struct bench_proc *p, const char *name, const char *logdir,
                    int (*fn)(void *arg), void *arg)
{
    char *argv[] = { (char *)name, "(forked)", NULL };
    int outfd, fd = open_outputs(p, name, logdir, argv, NULL, &outfd);
    if (fd < 0)
        return fd;
    pid_t pid = fork_child(p, fd, outfd);
    if (pid != 0)
        return pid < 0 ? (int)pid : 0;
    /* The parent's children and port reservations are not this child's. */
    for (int i = 0; i < MAX_PROCS; i++)
        registry[i] = NULL;
    reservations_forget();
    int rv = fn(arg);
    fflush(NULL);
    exit(rv);
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

/*
 * Port reservations, shared with the integration tests (tests/integration/
 * test_lib.sh, docs/TESTBED.md): a port picked as free may be taken before the
 * process meant for it binds it (a NAT's pool is bound only when mappings are
 * made), so ports come from below the kernel's ephemeral range (no port-0 bind
 * or connect anywhere can get one) and each gets a file
 * $QASM_PORT_LOCKDIR/<port> (default /tmp/qasm-test-ports) holding
 * "<pid> <starttime>" of its owner, made under an flock of .lock. A file whose
 * owner is gone, or older than an hour, is stale. Ours go at exit.
 */
#define PORT_LO 20000
#define MAX_RESERVED 1024
static uint16_t reserved[MAX_RESERVED];
static int nreserved;
static int overflowed; /* more than MAX_RESERVED: release scans the lock directory */
static pid_t reserver;

static const char *lock_dir(void)
{
    const char *d = getenv("QASM_PORT_LOCKDIR");
    return d && *d ? d : "/tmp/qasm-test-ports";
}

static int port_hi(void)
{
    int lo = 0, hi = 32767;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f) {
        if (fscanf(f, "%d", &lo) == 1 && lo - 1 < hi && lo - 1 > PORT_LO + 1000)
            hi = lo - 1;
        fclose(f);
    }
    return hi;
}

/* Field 22 of /proc/PID/stat (start time), as text. */
static int start_time(long pid, char *out, size_t n)
{
    char path[64], buf[1024], *save = NULL;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t len = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    char *tok = strtok_r(p + 1, " ", &save);
    for (int i = 0; tok && i < 19; i++)
        tok = strtok_r(NULL, " ", &save);
    if (tok == NULL)
        return -1;
    snprintf(out, n, "%s", tok);
    return 0;
}

static void my_owner(char *out, size_t n)
{
    char st[32] = "None";
    start_time((long)getpid(), st, sizeof(st));
    snprintf(out, n, "%ld %s\n", (long)getpid(), st);
}

/* Removes the reservation file |path| if it names |me| as its owner. */
static void unlink_if_ours(const char *path, const char *me)
{
    char text[128];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    if (strcmp(text, me) == 0)
        unlink(path);
}

/* Every file of the lock directory naming us as owner (more than MAX_RESERVED). */
static void release_all_ours(void)
{
    char me[64], path[4200];
    my_owner(me, sizeof(me));
    DIR *d = opendir(lock_dir());
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "%s/%s", lock_dir(), e->d_name);
        unlink_if_ours(path, me);
    }
    closedir(d);
}

static void release_reserved(void)
{
    char path[4200];
    if (getpid() != reserver) /* a forked child that exits: not its files */
        return;
    if (overflowed) {
        release_all_ours();
    } else {
        for (int i = 0; i < nreserved; i++) {
            snprintf(path, sizeof(path), "%s/%u", lock_dir(), reserved[i]);
            unlink(path);
        }
    }
    nreserved = 0;
    overflowed = 0;
}

static void reservations_forget(void)
{
    nreserved = 0;
    overflowed = 0;
    reserver = 0;
}

/* 1 if a live reservation holds |port|: another process's, or ours (a port
 * this run was already given, e.g. a listen port not bound yet, must not
 * come back inside a later range). Stale ones are removed. */
static int port_held(uint16_t port, const char *me)
{
    char path[4200], text[128], st[32];
    struct stat sb;
    long pid;
    snprintf(path, sizeof(path), "%s/%u", lock_dir(), port);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t len = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[len] = '\0';
    if (strcmp(text, me) == 0)
        return 1;
    char owner_st[32];
    if (sscanf(text, "%ld %31s", &pid, owner_st) == 2 && stat(path, &sb) == 0 &&
        time(NULL) - sb.st_mtime < 3600 && start_time(pid, st, sizeof(st)) == 0 &&
        strcmp(st, owner_st) == 0)
        return 1;
    unlink(path);
    return 0;
}

static void reserve(uint16_t port, const char *me)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%u", lock_dir(), port);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd != -1) {
        ssize_t w = write(fd, me, strlen(me));
        (void)w; /* a reservation that could not be written only weakens the protection */
        close(fd);
    }
    if (nreserved < MAX_RESERVED)
        reserved[nreserved++] = port;
    else
        overflowed = 1; /* released at exit by a scan of the directory */
    if (reserver == 0) {
        reserver = getpid();
        atexit(release_reserved);
    }
}

/* |n| consecutive free, unreserved ports (UDP on |ip|; with |tcp|, TCP on
 * 127.0.0.1 and UDP on ::1 too), reserved for us; the first, or 0. */
static uint16_t pick_ports(const char *ip, int n, int tcp)
{
    char me[64], path[4200];
    int hi = port_hi(), lk;
    uint16_t found = 0;
    my_owner(me, sizeof(me));
    mkdir(lock_dir(), 01777);
    chmod(lock_dir(), 01777);
    snprintf(path, sizeof(path), "%s/.lock", lock_dir());
    lk = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (lk != -1)
        flock(lk, LOCK_EX); /* one allocation at a time, machine-wide */
    for (int attempt = 0; attempt < 500 && !found && hi - PORT_LO + 1 >= n; attempt++) {
        uint16_t base = (uint16_t)(PORT_LO + (unsigned)rand() % (unsigned)(hi - PORT_LO + 2 - n));
        int ok = 1;
        for (int i = 0; i < n && ok; i++) {
            uint16_t port = (uint16_t)(base + i);
            ok = !port_held(port, me) && try_bind(AF_INET, SOCK_DGRAM, ip, port) == 0 &&
                 (!tcp || (try_bind(AF_INET, SOCK_STREAM, "127.0.0.1", port) == 0 &&
                           try_bind(AF_INET6, SOCK_DGRAM, "::1", port) == 0));
        }
        if (ok) {
            for (int i = 0; i < n; i++)
                reserve((uint16_t)(base + i), me);
            found = base;
        }
    }
    if (lk != -1)
        close(lk);
    return found;
}

uint16_t bench_free_port(void)
{
    return pick_ports("127.0.0.1", 1, 1);
}

uint16_t bench_free_port_range(const char *ip, int n)
{
    return pick_ports(ip, n, 0);
}

void bench_release_ports(uint16_t first, int n)
{
    char me[64], path[4200];
    my_owner(me, sizeof(me));
    for (int i = 0; i < n; i++) {
        uint16_t port = (uint16_t)(first + i);
        snprintf(path, sizeof(path), "%s/%u", lock_dir(), port);
        unlink_if_ours(path, me);
        for (int k = 0; k < nreserved; k++)
            if (reserved[k] == port) {
                reserved[k] = reserved[--nreserved];
                break;
            }
    }
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
