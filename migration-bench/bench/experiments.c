#include "bench.h"
#include "experiments.h"

const struct bench_experiment bench_experiments[] = {
    { "table1", "NAT table under migration: public ports per QUIC connection (Table 1)", exp_table1, 1 },
    { "nat-dos", "migrations exhaust a NAT port pool; a second user is refused (§2.1)", exp_natdos, 1 },
    { "kernel-nat", "the kernel's NAT alone vs behind qasm-normalize: conntrack entries, ports", exp_kernel_nat, 1 },
    { "lb", "hash load balancer: migrated connection misrouted vs kept (§2.2)", exp_lb, 1 },
    { "fig7a", "rate limiter 5 pkt/s, client migrating: packets/s over time (Fig. 7a)", exp_fig7a, 0 },
    { "fig8a", "per-request latency through the NAT, migration every 10 packets (Fig. 8a)", exp_fig8a, 0 },
    { "fig8b", "per-request latency through the rate limiter, same load (Fig. 8b)", exp_fig8b, 0 },
    { "fig9", "middlebox per-packet processing: lookup / new / update entry (Fig. 9)", exp_fig9, 0 },
    { "fig7b", "throughput through chains of 0-5 NATs, migration every 10 s and 100 ms (Fig. 7b)", exp_fig7b, 0 },
    { "rate-sweep", "migration rate 1-1000 Hz x 1-100 connections, per mode", exp_sweep, 0 },
    { "tracker", "tracker updates/queries per second and latency beside Redis", exp_tracker, 0 },
    { NULL, NULL, NULL, 0 },
};

/* Every parameter --set can change, with its defaults (--quick, full). */
const struct bench_param_def bench_param_defs[] = {
    { "table1", "duration", "2.5", "6", "client run (s)" },
    { "table1", "migrate_every", "0.3", "0.5", "seconds between migrations" },
    { "kernel-nat", "duration", "2.5", "6", "client run (s)" },
    { "kernel-nat", "migrate_every", "0.3", "0.5", "seconds between migrations" },
    { "nat-dos", "pool", "8", "16", "NAT public ports" },
    { "nat-dos", "duration", "2", "4", "attacker run (s)" },
    { "lb", "duration", "6", "12", "client run (s)" },
    { "lb", "migrate_every", "1.2", "1.2", "seconds between migrations" },
    { "fig7a", "duration", "8", "30", "client run (s)" },
    { "fig7a", "rate", "5", "5", "limiter rate (packets/s per connection)" },
    { "fig7a", "burst", "10", "10", "limiter bucket depth (packets)" },
    { "fig7a", "migrate_every", "1", "2", "seconds between migrations" },
    { "fig8a", "requests", "300", "1000", "requests per run" },
    { "fig8a", "interval_ms", "5", "5", "ms between requests" },
    { "fig8a", "repeat", "1", "1", "runs per mode (--repeat)" },
    { "fig8b", "requests", "300", "1000", "requests per run" },
    { "fig8b", "interval_ms", "5", "5", "ms between requests" },
    { "fig8b", "repeat", "1", "1", "runs per mode (--repeat)" },
    { "fig7b", "duration", "2", "30", "download run (s)" },
    { "fig7b", "migrate_every", "1s", "10s", "migration period (with unit) of the first series" },
    { "fig7b", "max_nats", "5", "5", "longest chain" },
    { "fig7b", "repeat", "1", "1", "runs per point (--repeat)" },
    { "rate-sweep", "rates", "10,100,1000", "1,10,100,1000", "migration rates (Hz)" },
    { "rate-sweep", "conns", "1,10", "1,10,100", "concurrent connections" },
    { "rate-sweep", "duration", "2", "10", "client run (s)" },
    { NULL, NULL, NULL, NULL, NULL },
};
