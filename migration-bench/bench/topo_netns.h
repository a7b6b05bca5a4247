/*
 * topo_netns.h: the network-namespace implementation of the topology
 * interface (topo.h), for `qasm-bench run ... --topology netns [--hop SPEC]`:
 *
 *   client ns (c0) 10.77.1.2-9 == (in0) 10.77.1.1 hop 10.77.2.1 (out0) == (s0) 10.77.2.2
 *
 * The tracker runs in the hop namespace (10.77.1.1:4790), the HTTP/3
 * servers in the server namespace (10.77.2.2:4433, lb's second backend
 * :4434), clients (agent preloaded) in the client namespace. The hop is:
 *
 *   qasm          qasm-mbox nat (lb: qasm-mbox lb, VIP 10.77.1.1:443; fig7a:
 *                 qasm-mbox ratelimit) --io packet in the three modes (default)
 *   qasm-xdp      the same with --io xdp (the far ends made ready for XDP
 *                 forwarding over veth: docs/XDP.md)
 *   kernel-nat    the Linux kernel: nftables masquerade, real conntrack; the
 *                 table is read with `conntrack -L`
 *   cmd:COMMAND   any command, run in the hop namespace with {inside} and
 *                 {outside} replaced by the interface names (in0, out0)
 *
 * Every run creates its namespaces and deletes them at the end, after a
 * failure and on SIGINT / SIGTERM. Needs root. Uses only the bench core
 * (bench.h) and its processes (proc.h).
 */
#ifndef QASM_BENCH_TOPO_NETNS_H
#define QASM_BENCH_TOPO_NETNS_H

#include <jansson.h>
#include <limits.h>

#include "bench.h"
#include "proc.h"

/* The client namespace's addresses (for --local-addrs). */
#define TOPO_NETNS_CLIENT_ADDRS "10.77.1.2-10.77.1.9"

/* The testbed of one run: tracker, one or two servers, the hop. */
struct topo_netns {
    struct bench *b;
    struct bench_proc tracker, server[2], hop;
    int nservers, have_hop, lb;
    const char *kind;           /* "qasm", "kernel", "cmd" */
    char stats[PATH_MAX];       /* the qasm hop's --stats-json */
};

/*
 * topo_netns_check: can this machine run the netns topology with |hop| (a
 * valid spec, see bench_opts.h)? Root, `ip`, and for kernel-nat `nft` and
 * `conntrack`. Returns 0, or -1 with the reason printed.
 */
int topo_netns_check(const char *hop);

/*
 * topo_netns_modes points |modes| at the modes |hop| runs in; returns their
 * number. kernel-nat: kernel, and normalize (the same NAT with qasm-normalize
 * on in0) when qasm-normalize was built.
 */
int topo_netns_modes(const struct bench *b, const char *hop, const char *const **modes);

/*
 * topo_netns_nat_open builds the namespaces, starts tracker and server and
 * the NAT hop |hop| in |mode| with |pool| public ports (0: 1024 for qasm,
 * no bound for the kernel) and |entries| table entries in its stats.
 */
int topo_netns_nat_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode,
                        int pool, int entries);

/* topo_netns_lb_open: tracker, two backends, an LB hop (qasm or cmd:; not kernel-nat). */
int topo_netns_lb_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode);

/*
 * topo_netns_rl_open: tracker, server, a rate-limiter hop (qasm-mbox
 * ratelimit with |rl|: --rate, --burst; the qasm hops only).
 */
int topo_netns_rl_open(struct topo_netns *n, struct bench *b, const char *hop, const char *mode,
                       const char *const rl[]);

/*
 * topo_netns_client_start starts qasm-h3-client --json EXTRA... in the
 * client namespace (agent preloaded) towards the server (lb: through the
 * VIP); topo_netns_client_wait waits for it (stopped after |timeout_s|) and
 * returns its JSON, and its exit status in |status|.
 */
int topo_netns_client_start(struct topo_netns *n, struct bench_proc *p, const char *name,
                            const char *const extra[]);
json_t *topo_netns_client_wait(struct topo_netns *n, struct bench_proc *p, const char *name,
                               double timeout_s, int *status);

/* topo_netns_table: the hop's table (qasm stats, or conntrack entries as the same fields). */
json_t *topo_netns_table(struct topo_netns *n, const char *mode);

/*
 * topo_netns_testbed: `qasm-bench netns up|down ID`: builds (|up|) or
 * deletes the testbed alone, namespaces qasm-{c,h,s}-ID with the addresses
 * above and fd77:1::2-9 / fd77:1::1 / fd77:2::1 / fd77:2::2 (IPv6), for
 * tests/integration/netns_lib.sh. It outlives the process. |id| must be
 * validated by the caller (bench_opts). Returns 0 or -1.
 */
int topo_netns_testbed(const char *id, int up);

/* topo_netns_close stops everything and deletes the namespaces. */
void topo_netns_close(struct topo_netns *n);

#endif
