/*
 * netns.h: `qasm-bench run ... --topology netns [--hop SPEC]`: the NAT
 * experiments (table1, nat-dos) on a network-namespace testbed (client ns,
 * hop ns, server ns joined by veth pairs; see docs/TESTBED.md) instead of
 * loopback. The hop is one of:
 *
 *   qasm          qasm-mbox nat (lb: qasm-mbox lb, VIP 10.77.1.1:443) --io packet
 *                 in the three modes (default)
 *   kernel-nat    the Linux kernel: nftables masquerade, real conntrack; the
 *                 table is read with `conntrack -L`
 *   cmd:COMMAND   any command, run in the hop namespace with {inside} and
 *                 {outside} replaced by the interface names (in0, out0)
 *
 * Every run creates its namespaces and deletes them at the end, after a
 * failure and on SIGINT / SIGTERM. Needs root.
 */
#ifndef QASM_BENCH_NETNS_H
#define QASM_BENCH_NETNS_H

#include "bench.h"

/*
 * bench_netns_check validates |topology| ("loopback" or "netns") and |hop|
 * (NULL or a spec above). Returns 1 for netns, 0 for loopback, -1 (message
 * printed) for a bad value or netns without root.
 */
int bench_netns_check(const char *topology, const char *hop);

/*
 * bench_netns_run runs experiment |e| on the netns topology with hop
 * |hop| (NULL: qasm). Only table1, nat-dos and lb are supported; others fail
 * with a clear message. Returns 0 or -1, like an experiment's run().
 */
int bench_netns_run(struct bench *b, const struct bench_experiment *e, const char *hop);

#endif
