#include "bench.h"
#include "experiments.h"

const struct bench_experiment bench_experiments[] = {
    { "table1", "NAT table under migration: public ports per QUIC connection (Table 1)", exp_table1, 1 },
    { "nat-dos", "migrations exhaust a NAT port pool; a second user is refused (§2.1)", exp_natdos, 1 },
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
