/*
 * control_proto.c: the control socket's requests and the text / JSON lines
 * of its answers (see control_proto.h).
 */
#include "middleboxes/io/control_proto.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cid.h"
#include "parse.h"
#include "middleboxes/io/json.h"

static const char *const verbs[] = {"LIST", "EVENTS", "STATS"};

/* The next space-separated word of line[*pos..len) into |w| (truncated); its length. */
static size_t word(const char *line, size_t len, size_t *pos, char *w, size_t wn)
{
    size_t i = *pos, n = 0;
    while (i < len && isspace((unsigned char)line[i]))
        i++;
    while (i < len && !isspace((unsigned char)line[i])) {
        if (n + 1 < wn)
            w[n] = line[i];
        n++;
        i++;
    }
    w[n < wn ? n : wn - 1] = '\0';
    *pos = i;
    return n;
}

int qasm_control_parse(const char *line, size_t len, struct qasm_control_req *r, char *err,
                       size_t errlen)
{
    char verb[16], arg[16], extra[16];
    size_t pos = 0;
    memset(r, 0, sizeof(*r));
    if (word(line, len, &pos, verb, sizeof(verb)) == 0) {
        qasm_parse_errf(err, errlen, "empty request (LIST, EVENTS or STATS)");
        return -1;
    }
    size_t i;
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (strcasecmp(verb, verbs[i]) == 0)
            break;
    if (i == sizeof(verbs) / sizeof(verbs[0])) {
        qasm_parse_errf(err, errlen, "unknown request '%s' (LIST, EVENTS or STATS)", verb);
        return -1;
    }
    r->verb = (enum qasm_control_verb)i;
    if (word(line, len, &pos, arg, sizeof(arg)) > 0) {
        if (strcasecmp(arg, "json") == 0)
            r->json = 1;
        else if (strcasecmp(arg, "text") != 0) {
            qasm_parse_errf(err, errlen, "%s: unknown format '%s' (text or json)", verbs[i], arg);
            return -1;
        }
        if (r->verb == QASM_CONTROL_STATS && !r->json) {
            qasm_parse_errf(err, errlen, "STATS is JSON only");
            return -1;
        }
    }
    if (r->verb == QASM_CONTROL_STATS)
        r->json = 1;
    if (word(line, len, &pos, extra, sizeof(extra)) > 0) {
        qasm_parse_errf(err, errlen, "%s: unexpected '%s'", verbs[i], extra);
        return -1;
    }
    return 0;
}

size_t qasm_control_request(char *buf, size_t n, const struct qasm_control_req *r)
{
    int k = snprintf(buf, n, "%s%s\n", verbs[r->verb],
                     r->json && r->verb != QASM_CONTROL_STATS ? " json" : "");
    return k < 0 ? 0 : (size_t)k;
}

static double secs(qasm_tstamp later, qasm_tstamp earlier)
{
    return later > earlier ? (double)(later - earlier) / 1e9 : 0.0;
}

/* "quic odcid=HEX " or "udp ", then client= and server=. */
static void head_text(FILE *f, int quic, const struct qasm_cid *odcid,
                      const struct qasm_addr *client, const struct qasm_addr *server)
{
    char a[QASM_ADDR_STRLEN], b[QASM_ADDR_STRLEN], hex[QASM_CID_HEXLEN];
    if (quic)
        fprintf(f, "quic odcid=%s ", qasm_cid_hex(hex, odcid));
    else
        fputs("udp ", f);
    fprintf(f, "client=%s server=%s", qasm_addr_format(a, sizeof(a), client),
            qasm_addr_format(b, sizeof(b), server));
}

/* The function's state: public_port=, tokens= or backend=. */
static void state_text(FILE *f, enum qasm_mbox_function fn, uint16_t port, int backend,
                       double tokens)
{
    switch (fn) {
    case QASM_MBOX_NAT: fprintf(f, " public_port=%u", port); break;
    case QASM_MBOX_RATELIMIT: fprintf(f, " tokens=%.2f", tokens); break;
    case QASM_MBOX_LB: fprintf(f, " backend=%d", backend); break;
    }
}

void qasm_control_entry_text(FILE *f, const struct qasm_mbox_entry_info *e,
                             enum qasm_mbox_function fn, qasm_tstamp now)
{
    char a[QASM_ADDR_STRLEN];
    head_text(f, e->quic, &e->odcid, &e->client, &e->server);
    fputs(" clients=", f);
    for (size_t i = 0; i < e->nclients; i++)
        fprintf(f, "%s%s", i ? "," : "", qasm_addr_format(a, sizeof(a), &e->clients[i]));
    if (e->nclients == 0)
        fputc('-', f);
    state_text(f, fn, e->public_port, e->backend, e->tokens);
    fprintf(f, " age=%.1fs expires=%.1fs packets=%llu/%llu%s\n", secs(now, e->created),
            secs(e->expires, now), (unsigned long long)e->packets_orig,
            (unsigned long long)e->packets_reply, e->assured ? " [ASSURED]" : "");
}

void qasm_control_entry_json(struct qasm_json *j, const struct qasm_mbox_entry_info *e,
                             enum qasm_mbox_function fn, qasm_tstamp now)
{
    char a[QASM_ADDR_STRLEN], hex[QASM_CID_HEXLEN];
    qasm_json_obj(j, NULL);
    qasm_json_bool(j, "quic", e->quic);
    if (e->quic)
        qasm_json_str(j, "odcid", qasm_cid_hex(hex, &e->odcid));
    qasm_json_str(j, "client", qasm_addr_format(a, sizeof(a), &e->client));
    qasm_json_arr(j, "clients");
    for (size_t i = 0; i < e->nclients; i++)
        qasm_json_str(j, NULL, qasm_addr_format(a, sizeof(a), &e->clients[i]));
    qasm_json_close(j);
    qasm_json_str(j, "server", qasm_addr_format(a, sizeof(a), &e->server));
    switch (fn) {
    case QASM_MBOX_NAT: qasm_json_u64(j, "public_port", e->public_port); break;
    case QASM_MBOX_RATELIMIT: qasm_json_dbl(j, "tokens", e->tokens); break;
    case QASM_MBOX_LB: qasm_json_i64(j, "backend", e->backend); break;
    }
    qasm_json_bool(j, "assured", e->assured);
    qasm_json_dbl(j, "idle_s", now > e->last_seen ? (double)(now - e->last_seen) / 1e9 : 0.0);
    qasm_json_dbl(j, "age_s", now > e->created ? (double)(now - e->created) / 1e9 : 0.0);
    qasm_json_dbl(j, "expires_s", e->expires > now ? (double)(e->expires - now) / 1e9 : 0.0);
    qasm_json_u64(j, "packets_orig", e->packets_orig);
    qasm_json_u64(j, "packets_reply", e->packets_reply);
    qasm_json_close(j);
}

void qasm_control_event_text(FILE *f, const struct qasm_mbox_table_event *ev,
                             enum qasm_mbox_function fn, double wall)
{
    char tag[16], a[QASM_ADDR_STRLEN];
    snprintf(tag, sizeof(tag), "[%s]", qasm_mbox_te_name(ev->type));
    for (char *p = tag; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    fprintf(f, "[%.6f] %10s ", wall, tag);
    head_text(f, ev->quic, &ev->odcid, &ev->client, &ev->server);
    if (ev->type == QASM_MBOX_TE_MIGRATED)
        fprintf(f, " from=%s", qasm_addr_format(a, sizeof(a), &ev->from));
    if (ev->type == QASM_MBOX_TE_REFUSED) {
        fprintf(f, " reason=%s\n", qasm_mbox_drop_name(ev->reason));
        return;
    }
    state_text(f, fn, ev->public_port, ev->backend, 0);
    if (ev->type == QASM_MBOX_TE_EXPIRED || ev->type == QASM_MBOX_TE_EVICTED ||
        ev->type == QASM_MBOX_TE_RELEASED)
        fprintf(f, " age=%.1fs packets=%llu/%llu", secs(ev->at, ev->created),
                (unsigned long long)ev->packets_orig, (unsigned long long)ev->packets_reply);
    fputc('\n', f);
}

void qasm_control_event_json(FILE *f, const struct qasm_mbox_table_event *ev,
                             enum qasm_mbox_function fn, double wall)
{
    char a[QASM_ADDR_STRLEN], hex[QASM_CID_HEXLEN];
    struct qasm_json j;
    qasm_json_begin_line(&j, f);
    qasm_json_fixed(&j, "time", wall, 6);
    qasm_json_str(&j, "type", qasm_mbox_te_name(ev->type));
    qasm_json_bool(&j, "quic", ev->quic);
    if (ev->quic)
        qasm_json_str(&j, "odcid", qasm_cid_hex(hex, &ev->odcid));
    qasm_json_str(&j, "client", qasm_addr_format(a, sizeof(a), &ev->client));
    if (ev->type == QASM_MBOX_TE_MIGRATED)
        qasm_json_str(&j, "from", qasm_addr_format(a, sizeof(a), &ev->from));
    qasm_json_str(&j, "server", qasm_addr_format(a, sizeof(a), &ev->server));
    if (ev->type == QASM_MBOX_TE_REFUSED) {
        qasm_json_str(&j, "reason", qasm_mbox_drop_name(ev->reason));
    } else {
        if (fn == QASM_MBOX_NAT)
            qasm_json_u64(&j, "public_port", ev->public_port);
        else if (fn == QASM_MBOX_LB)
            qasm_json_i64(&j, "backend", ev->backend);
        qasm_json_dbl(&j, "age_s", secs(ev->at, ev->created));
        qasm_json_u64(&j, "packets_orig", ev->packets_orig);
        qasm_json_u64(&j, "packets_reply", ev->packets_reply);
    }
    qasm_json_end(&j);
}

void qasm_control_default_path(char *buf, size_t n, const char *fn)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR"), *rt = getenv("RUNTIME_DIRECTORY");
    if (rt && *rt && strcmp(fn, "*") != 0) /* a systemd unit's RuntimeDirectory= */
        snprintf(buf, n, "%.*s/control.sock", (int)strcspn(rt, ":"), rt);
    else if (geteuid() == 0 && (mkdir("/run/qasm", 0755) == 0 || errno == EEXIST))
        snprintf(buf, n, "/run/qasm/mbox-%s.sock", fn);
    else if (xdg && *xdg) {
        snprintf(buf, n, "%s/qasm", xdg);
        (void)mkdir(buf, 0700);
        snprintf(buf, n, "%s/qasm/mbox-%s.sock", xdg, fn);
    } else
        snprintf(buf, n, "qasm-mbox-%s.sock", fn);
}
