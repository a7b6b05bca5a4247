/*
 * proc.h: the bench's child processes. Every process is started in its own
 * process group with stdout/stderr to a log file, registered, and stopped
 * (SIGTERM, then SIGKILL) by bench_proc_stop_all() on every exit path,
 * including SIGINT/SIGTERM of the bench itself.
 */
#ifndef QASM_BENCH_PROC_H
#define QASM_BENCH_PROC_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

struct bench_proc {
    pid_t pid;
    char name[64];
    char log[PATH_MAX];
    int exited;
    int status;     /* exit code, or 128 + signal */
};

/*
 * bench_proc_start runs |argv| (argv[0] a path or a name in PATH) with
 * output to LOGDIR/NAME.log and |env| (NULL-terminated "K=V" strings, may
 * be NULL) added to the environment. Returns 0 or -errno.
 */
int bench_proc_start(struct bench_proc *p, const char *name, const char *logdir,
                     char *const argv[], char *const env[]);

/* bench_proc_start_out is bench_proc_start with stdout to |out_path| (stderr to the log). */
int bench_proc_start_out(struct bench_proc *p, const char *name, const char *logdir,
                         char *const argv[], char *const env[], const char *out_path);

/*
 * bench_proc_fork runs fn(arg) in a child process (output to LOGDIR/NAME.log,
 * registered and stopped like the others); its exit status is fn's return
 * value. For in-process experiments that must not take the bench down
 * with them, and must be bounded (bench_proc_wait).
 */
int bench_proc_fork(struct bench_proc *p, const char *name, const char *logdir,
                    int (*fn)(void *arg), void *arg);

/* bench_proc_alive reaps |p| if it ended; returns 1 while it runs. */
int bench_proc_alive(struct bench_proc *p);

/* bench_proc_wait waits up to |timeout_s|; returns the exit status or -ETIMEDOUT. */
int bench_proc_wait(struct bench_proc *p, double timeout_s);

/* bench_proc_stop sends SIGTERM (SIGKILL after 3 s) and reaps; returns the status. */
int bench_proc_stop(struct bench_proc *p);

/* bench_proc_signal sends |sig| to the process (e.g. SIGUSR1 for stats). */
void bench_proc_signal(struct bench_proc *p, int sig);

/* bench_proc_stop_all stops every process still registered. */
void bench_proc_stop_all(void);

/* bench_proc_install_handlers stops all children on SIGINT/SIGTERM/exit. */
void bench_proc_install_handlers(void);

/* bench_proc_tail prints the last lines of a process log to stderr. */
void bench_proc_tail(const struct bench_proc *p, int lines);

/*
 * bench_free_port returns a port free for both UDP and TCP on 127.0.0.1
 * (and ::1), or 0. Ports come from below the kernel's ephemeral range and are
 * reserved until exit in $QASM_PORT_LOCKDIR (default /tmp/qasm-test-ports), the
 * scheme the integration tests use, so concurrent runs never share a port.
 */
uint16_t bench_free_port(void);

/* bench_free_port_range finds |n| consecutive UDP ports free on |ip| (reserved the
 * same way); returns the first, or 0. */
uint16_t bench_free_port_range(const char *ip, int n);

/* bench_release_ports gives back |n| ports from |first| that this process
 * reserved (a stopped NAT's pool), so later ranges may use them again. */
void bench_release_ports(uint16_t first, int n);

/* bench_wait_udp_port waits until something listens on UDP |port| (from /proc/net/udp*). */
int bench_wait_udp_port(uint16_t port, double timeout_s);

/* bench_sleep sleeps |s| seconds (fractional). */
void bench_sleep(double s);

#endif
