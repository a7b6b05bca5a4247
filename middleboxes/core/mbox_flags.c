/* mbox_flags.c: the function flags of qasm-mbox and qasm-replay, see mbox_flags.h. */
#include "mbox_flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

int qasm_mbox_flags_take(struct qasm_mbox_flags *f, const char *name, const char *arg, char *err,
                         size_t errlen)
{
    struct {
        const char *name;
        const char **slot;
    } table[] = {
        { "public", &f->public_ip },     { "ports", &f->ports },
        { "udp-timeout", &f->udp_timeout }, { "udp-stream-timeout", &f->udp_stream },
        { "rate", &f->rate },            { "burst", &f->burst },
        { "hold", &f->hold },            { "hold-max", &f->hold_max },
        { "hold-per-dcid", &f->hold_per }, { "hold-ceiling", &f->hold_ceiling },
        { "cache-ttl", &f->cache_ttl },
        { "query-timeout", &f->query_timeout }, { "max-entries", &f->max_entries },
        { "seed", &f->seed },            { "fallback-per-conn", &f->fallback_per_conn },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcmp(name, table[i].name) == 0) {
            *table[i].slot = arg;
            return 1;
        }
    }
    if (strcmp(name, "bytes") == 0) {
        f->bytes = 1;
        return 1;
    }
    if (strcmp(name, "backend") != 0)
        return 0;
    if (f->nbackends == QASM_MBOX_MAX_BACKENDS)
        return qasm_parse_errf(err, errlen,
                               "--backend: at most %d backends", QASM_MBOX_MAX_BACKENDS);
    struct qasm_addr *a = &f->backends[f->nbackends];
    int rv = qasm_parse_addr(a, arg, "--backend", &f->names);
    if (rv == -ENOSPC)
        return qasm_parse_errf(err, errlen, "--backend: at most %d host names ('%s')",
                               QASM_PARSE_MAX_NAMES, arg);
    if (rv < 0)
        return qasm_parse_errf(err, errlen,
                               "--backend: expected HOST:PORT, IP:PORT or [IPv6]:PORT, got '%s'",
                               arg);
    if (a->port == 0)
        return qasm_parse_errf(err, errlen, "--backend: port 0 is not allowed ('%s')", arg);
    f->nbackends++;
    return 1;
}

static int get_u64(uint64_t *v, const char *name, const char *s, uint64_t lo, uint64_t hi,
                   char *err, size_t errlen)
{
    return qasm_parse_flag_u64(v, name, s, lo, hi, err, errlen) < 0 ? -1 : 0;
}

static int get_pos(double *v, const char *name, const char *s, char *err, size_t errlen)
{
    if (qasm_parse_positive(v, s, 1e15) < 0)
        return qasm_parse_errf(err, errlen, "--%s: expected a positive number, got '%s'", name, s);
    return 0;
}

static int get_dur(qasm_duration *d, const char *name, const char *s, char *err, size_t errlen)
{
    if (qasm_duration_parse(d, s) < 0)
        return qasm_parse_errf(err, errlen,
                               "--%s: expected a duration like 2ms or 30s, got '%s'", name, s);
    return 0;
}

static int get_size(size_t *v, const char *name, const char *s, uint64_t hi, char *err,
                    size_t errlen)
{
    uint64_t x;
    if (get_u64(&x, name, s, 0, hi, err, errlen) < 0)
        return -1;
    *v = (size_t)x;
    return 0;
}

/* Flags that only one function takes. */
static int check_function(const struct qasm_mbox_flags *f, enum qasm_mbox_function fn, char *err,
                          size_t errlen)
{
    if (fn == QASM_MBOX_LB && f->nbackends == 0)
        return qasm_parse_errf(err, errlen, "lb needs at least one --backend HOST:PORT");
    if (fn != QASM_MBOX_LB && f->nbackends)
        return qasm_parse_errf(err, errlen, "--backend is only for the lb");
    if (fn != QASM_MBOX_NAT && (f->public_ip || f->ports))
        return qasm_parse_errf(err, errlen, "--public and --ports are only for the nat");
    if (fn != QASM_MBOX_RATELIMIT && (f->rate || f->burst || f->bytes))
        return qasm_parse_errf(err, errlen,
                               "--rate, --burst and --bytes are only for the ratelimit");
    return 0;
}

static int apply_nat(const struct qasm_mbox_flags *f, struct qasm_mbox_config *cfg, char *err,
                     size_t errlen)
{
    if (f->public_ip && qasm_addr_parse_ip(&cfg->nat_public, f->public_ip, 0) < 0)
        return qasm_parse_errf(err, errlen,
                               "--public: expected an IP address, got '%s'", f->public_ip);
    if (f->ports) {
        uint64_t a, b;
        int n = qasm_parse_u64_prefix(&a, f->ports, strlen(f->ports), 65535);
        if (n < 0 || f->ports[n] != '-' || qasm_parse_u64(&b, f->ports + n + 1, 1, 65535) < 0 ||
            a == 0 || a > b)
            return qasm_parse_errf(err, errlen,
                                   "--ports: expected LO-HI with 1 <= LO <= HI <= 65535, got '%s'",
                         f->ports);
        cfg->nat_port_min = (uint16_t)a;
        cfg->nat_port_max = (uint16_t)b;
    }
    return 0;
}

int qasm_mbox_flags_apply(const struct qasm_mbox_flags *f, struct qasm_mbox_config *cfg, char *err,
                          size_t errlen)
{
    if (check_function(f, cfg->function, err, errlen) < 0 || apply_nat(f, cfg, err, errlen) < 0)
        return -1;
    if ((f->udp_timeout && get_dur(&cfg->udp_timeout, "udp-timeout", f->udp_timeout, err, errlen)) ||
        (f->udp_stream &&
         get_dur(&cfg->udp_stream_timeout, "udp-stream-timeout", f->udp_stream, err, errlen)) ||
        (f->rate && get_pos(&cfg->rl_rate, "rate", f->rate, err, errlen)) ||
        (f->burst && get_pos(&cfg->rl_burst, "burst", f->burst, err, errlen)) ||
        (f->hold && get_dur(&cfg->hold_time, "hold", f->hold, err, errlen)) ||
        (f->hold_ceiling &&
         get_dur(&cfg->hold_ceiling, "hold-ceiling", f->hold_ceiling, err, errlen)) ||
        (f->hold_max && get_size(&cfg->hold_max, "hold-max", f->hold_max, 10000000, err, errlen)) ||
        (f->hold_per &&
         get_size(&cfg->hold_max_per_dcid, "hold-per-dcid", f->hold_per, 1000000, err, errlen)) ||
        (f->cache_ttl && get_dur(&cfg->cache_ttl, "cache-ttl", f->cache_ttl, err, errlen)) ||
        (f->query_timeout &&
         get_dur(&cfg->query_timeout, "query-timeout", f->query_timeout, err, errlen)) ||
        (f->max_entries &&
         get_size(&cfg->max_entries, "max-entries", f->max_entries, 100000000, err, errlen)) ||
        (f->fallback_per_conn && get_size(&cfg->fallback_per_conn, "fallback-per-conn",
                                          f->fallback_per_conn, 65535, err, errlen)) ||
        (f->seed && get_u64(&cfg->seed, "seed", f->seed, 0, UINT64_MAX, err, errlen)))
        return -1;
    cfg->rl_bytes = f->bytes;
    cfg->lb_backends = f->backends;
    cfg->lb_nbackends = f->nbackends;
    return 0;
}
