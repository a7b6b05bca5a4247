/*
 * topo.h: the topologies the experiments run on. Two layers:
 *
 * - The topology interface (topo_nat_open ... topo_close): a tracker, the
 *   server(s), one hop (a NAT, a hash LB or a rate limiter) between them,
 *   and migrating clients (agent preloaded) in front of it. It has two
 *   implementations, chosen by the bench's --topology: loopback (here) and
 *   network namespaces (topo_netns.h). Experiments written against it
 *   (table1, nat-dos, lb, fig7a) run on both.
 * - The loopback building blocks (topo_start_tracker ... topo_stop): free
 *   ports on 127.0.0.1, chains of qasm-mbox, for the experiments that run
 *   on loopback only.
 *
 * Every process gets a log in the result folder. The topologies' command
 * lines live here (loopback) and in topo_netns.c (netns), nowhere else;
 * the benchmarks of one program alone (fig9's qasm-mbox-bench, the tracker
 * benchmark in tracker_load.c) start their own program.
 */
#ifndef QASM_BENCH_TOPO_H
#define QASM_BENCH_TOPO_H

#include <jansson.h>
#include <stdint.h>

#include "bench.h"
#include "proc.h"
#include "topo_netns.h"

#define TOPO_MAX_SERVERS 4
#define TOPO_MAX_MBOX 8
#define TOPO_MAX_ARGS 64

struct topo {
    struct bench *b;
    struct bench_proc tracker;
    uint16_t tracker_port;
    int have_tracker;
    struct bench_proc server[TOPO_MAX_SERVERS];
    uint16_t server_port[TOPO_MAX_SERVERS];
    int nservers;
    struct bench_proc mbox[TOPO_MAX_MBOX];
    uint16_t mbox_port[TOPO_MAX_MBOX];
    uint16_t mbox_pool[TOPO_MAX_MBOX]; /* NAT: first public port */
    char mbox_stats[TOPO_MAX_MBOX][PATH_MAX];
    char mbox_name[TOPO_MAX_MBOX][32];
    int nmbox;
    int npool[TOPO_MAX_MBOX];           /* NAT: pool size */
    struct bench_proc capture;          /* --capture: qasm-capture on lo */
    int capturing;
    int ncaptures;
    /* The topology interface's state. */
    int netns;                          /* 1: the netns implementation (ns) */
    struct topo_netns ns;
    int hop;                            /* loopback: the hop's middlebox index */
    char entry[64];                     /* loopback: the hop's address */
};

/*
 * topo_modes points |modes| at the modes the bench's hop runs in (loopback
 * and --hop qasm: default, reactive, proactive; kernel-nat: kernel; cmd:
 * cmd) and returns their number.
 */
int topo_modes(const struct bench *b, const char *const **modes);

/* topo_label is "" on loopback, " (netns)" on netns: for progress lines. */
const char *topo_label(const struct bench *b);

/* topo_mode_aware: 1 for reactive / proactive, the QUIC-aware modes. */
int topo_mode_aware(const char *mode);

/*
 * topo_nat_open starts tracker, server and a NAT hop in |mode| with |pool|
 * public ports, listing |entries| table entries in its stats (loopback: 0
 * lists none). Returns 0 or -1; call topo_close either way.
 */
int topo_nat_open(struct topo *t, struct bench *b, const char *mode, int pool, int entries);

/* topo_lb_open starts tracker, two backends and a hash LB hop in |mode|. */
int topo_lb_open(struct topo *t, struct bench *b, const char *mode);

/*
 * topo_rl_open starts tracker, server and a rate-limiter hop (`qasm-mbox
 * ratelimit`) in |mode| with the limiter's flags |rl| (--rate, --burst;
 * NULL-terminated). netns: only the qasm hops have one.
 */
int topo_rl_open(struct topo *t, struct bench *b, const char *mode, const char *const rl[]);

/* topo_client_addrs: the client side's address range (for --local-addrs). */
const char *topo_client_addrs(const struct topo *t);

/*
 * topo_client runs qasm-h3-client --json EXTRA... through the hop to the
 * first server, agent preloaded, and returns its JSON summary (NULL on
 * failure) and its exit status in |status|.
 */
json_t *topo_client(struct topo *t, const char *name, const char *const extra[],
                    double timeout_s, int *status);

/*
 * topo_client_start starts the client of topo_client in the background (the
 * experiment samples the hop meanwhile); topo_client_wait waits for it (up
 * to |timeout_s|, then stops it) and returns what topo_client returns.
 */
int topo_client_start(struct topo *t, struct bench_proc *p, const char *name,
                      const char *const extra[]);
json_t *topo_client_wait(struct topo *t, struct bench_proc *p, const char *name,
                         double timeout_s, int *status);

/* topo_hop_table returns the hop's fresh stats (NAT / LB table), or {} when not visible. */
json_t *topo_hop_table(struct topo *t, const char *mode);

/*
 * topo_hop_forwarded: the packets a qasm hop forwarded, from its stats: the
 * core's packets_forwarded, plus with --io xdp those the kernel forwarded
 * itself (xdp.forwarded, redirected; xdp.packets_sent, sent back out of the
 * same interface), which never reach the core, less the core's forwards
 * the kernel's bucket refused on the slow path (a rate limiter's
 * packets_dropped.xdp_slow_rate_limited: one budget for both paths). -1
 * without stats.
 */
double topo_hop_forwarded(json_t *st);

/* topo_unknown_dcid sums the servers' unknown_dcid counts (misrouted packets; after topo_close). */
double topo_unknown_dcid(const struct topo *t);

/* topo_close stops what topo_nat_open / topo_lb_open started. */
void topo_close(struct topo *t);

void topo_init(struct topo *t, struct bench *b);

/* topo_start_tracker starts qasm-tracker on a free port (UDP+TCP). */
int topo_start_tracker(struct topo *t);

/* topo_start_server starts qasm-h3-server; returns its index or -1. */
int topo_start_server(struct topo *t, const char *name);

/*
 * topo_start_mbox starts `qasm-mbox FUNCTION --mode MODE` listening on a
 * free port, sending to |upstream| ("IP:PORT"; for lb: NULL, backends go
 * in |extra|), with --tracker when one runs and --stats-json in the result
 * folder. A NAT gets a free pool of |pool| ports on 127.0.0.1. |extra| is
 * NULL-terminated (may be NULL). Returns the index or -1.
 */
int topo_start_mbox(struct topo *t, const char *name, const char *function, const char *mode,
                    const char *upstream, int pool, const char *const extra[]);

/* topo_addr writes "127.0.0.1:PORT". */
char *topo_addr(char *buf, size_t len, uint16_t port);

/*
 * topo_start_client starts qasm-h3-client --json --connect CONNECT EXTRA...
 * URL (stdout to NAME.json), with the agent preloaded when |agent| and a
 * tracker runs. Returns 0 or -1.
 */
int topo_start_client(struct topo *t, struct bench_proc *p, const char *name,
                      const char *connect, int agent, const char *const extra[], const char *url);

/* topo_client_result waits for a client (up to |timeout_s|) and loads its JSON. */
json_t *topo_client_result(struct topo *t, struct bench_proc *p, const char *name,
                           double timeout_s);

/* topo_run_client = start + result. */
json_t *topo_run_client(struct topo *t, const char *name, const char *connect, int agent,
                        const char *const extra[], const char *url, double timeout_s);

/* topo_url writes "https://localhost:PORT/PATH" for server |i|. */
char *topo_url(const struct topo *t, char *buf, size_t len, int i, const char *path);

/* topo_mbox_stats asks middlebox |i| for fresh stats (SIGUSR1) and loads them. */
json_t *topo_mbox_stats(struct topo *t, int i);

/* topo_check_alive fails (with the dead process's log tail) if any started process died. */
int topo_check_alive(struct topo *t);

/*
 * topo_capture_start records every packet to or from the topology's ports
 * (tracker, servers, middleboxes, NAT pools) into OUTDIR/NAME.pcap with
 * qasm-capture, when the bench runs with --capture; no-op otherwise.
 */
int topo_capture_start(struct topo *t, const char *name);

/* topo_stop stops middleboxes, servers and tracker (their final stats are written at exit). */
void topo_stop(struct topo *t);

#endif
