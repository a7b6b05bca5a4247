/*
 * events.c: the --tracker-events JSON-lines reader (see events.h). The
 * lines are flat objects of strings and numbers; nothing else is accepted.
 */
#include "events.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

struct event {
    qasm_tstamp t;
    size_t line;
    struct qasm_proto_msg m;
};

struct qasm_events {
    struct event *v;
    size_t n, cap;
};

#define MAX_FIELDS 16
#define MAX_TOKEN 128

struct field {
    char key[32];
    char val[MAX_TOKEN];
    int is_str;
};

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static const char *read_string(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\') {
            p++;
            if (*p != '"' && *p != '\\' && *p != '/')
                return NULL;
        }
        if (n + 1 >= cap)
            return NULL;
        out[n++] = *p;
    }
    if (*p != '"')
        return NULL;
    out[n] = '\0';
    return p + 1;
}

static int parse_object(const char *p, struct field *f, size_t *nf, const char **why)
{
    *nf = 0;
    p = skip_ws(p);
    if (*p++ != '{') {
        *why = "expected '{'";
        return -1;
    }
    p = skip_ws(p);
    if (*p == '}')
        return 0;
    for (;;) {
        if (*nf == MAX_FIELDS) {
            *why = "too many fields";
            return -1;
        }
        struct field *x = &f[(*nf)++];
        p = read_string(skip_ws(p), x->key, sizeof(x->key));
        if (!p) {
            *why = "bad key";
            return -1;
        }
        p = skip_ws(p);
        if (*p++ != ':') {
            *why = "expected ':'";
            return -1;
        }
        p = skip_ws(p);
        if (*p == '"') {
            x->is_str = 1;
            p = read_string(p, x->val, sizeof(x->val));
            if (!p) {
                *why = "bad string value";
                return -1;
            }
        } else {
            size_t n = 0;
            x->is_str = 0;
            while (*p && (isdigit((unsigned char)*p) || strchr("+-.eE", *p))) {
                if (n + 1 >= sizeof(x->val)) {
                    *why = "number too long";
                    return -1;
                }
                x->val[n++] = *p++;
            }
            x->val[n] = '\0';
            if (n == 0) {
                *why = "values must be strings or numbers";
                return -1;
            }
        }
        p = skip_ws(p);
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p++ != '}') {
            *why = "expected ',' or '}'";
            return -1;
        }
        p = skip_ws(p);
        if (*p) {
            *why = "trailing characters";
            return -1;
        }
        return 0;
    }
}

static const struct field *get(const struct field *f, size_t nf, const char *key)
{
    for (size_t i = 0; i < nf; i++)
        if (strcmp(f[i].key, key) == 0)
            return &f[i];
    return NULL;
}

static int get_u64(const struct field *f, size_t nf, const char *key, uint64_t *v)
{
    const struct field *x = get(f, nf, key);
    if (!x)
        return 0;
    if (x->is_str || qasm_parse_u64(v, x->val, 0, UINT64_MAX) < 0)
        return -1;
    return 1;
}

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

int qasm_events_parse_line(const char *line, qasm_tstamp *t, struct qasm_proto_msg *m, char *err,
                           size_t errlen)
{
    struct field f[MAX_FIELDS];
    size_t nf;
    const char *why = NULL;
    const char *p = skip_ws(line);

    if (*p == '\0' || *p == '#')
        return 0;
    if (parse_object(p, f, &nf, &why) < 0)
        return ERR("%s", why);

    uint64_t v;
    int rv = get_u64(f, nf, "t_ns", &v);
    if (rv < 0)
        return ERR("t_ns: expected a non-negative integer");
    if (rv == 1) {
        *t = v;
    } else {
        const struct field *x = get(f, nf, "t");
        char *end;
        if (!x || x->is_str)
            return ERR("missing time: t_ns (integer ns) or t (seconds)");
        double s = strtod(x->val, &end);
        if (*end || !(s >= 0) || s > 1.8e10)
            return ERR("t: expected seconds, got '%s'", x->val);
        *t = (qasm_tstamp)(s * 1e9 + 0.5);
    }

    static const struct {
        const char *name;
        uint8_t type;
    } types[] = {
        { "open", QASM_PROTO_REPORT_OPEN },         { "dcid_new", QASM_PROTO_REPORT_DCID_NEW },
        { "dcid_retire", QASM_PROTO_REPORT_DCID_RETIRE }, { "addr", QASM_PROTO_REPORT_ADDR },
        { "close", QASM_PROTO_REPORT_CLOSE },
    };
    const struct field *ty = get(f, nf, "type");
    uint8_t type = 0;
    for (size_t i = 0; ty && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(ty->val, types[i].name) == 0)
            type = types[i].type;
    if (!type)
        return ERR("type: expected open, dcid_new, dcid_retire, addr or close");
    qasm_proto_msg_init(m, type, 0);
    struct qasm_proto_report *r = &m->u.report;

    const struct field *x = get(f, nf, "odcid");
    if (!x || qasm_cid_parse(&r->odcid, x->val) < 0)
        return ERR("odcid: expected hex (up to 20 bytes)");
    x = get(f, nf, "client0");
    if (!x || qasm_addr_parse(&r->client0, x->val) < 0)
        return ERR("client0: expected IP:PORT or [V6]:PORT");
    x = get(f, nf, "client");
    if (x && qasm_addr_parse(&r->client, x->val) < 0)
        return ERR("client: expected IP:PORT or [V6]:PORT");
    if (!x)
        r->client = r->client0;
    rv = get_u64(f, nf, "seq", &v);
    if (rv < 0 || v > UINT32_MAX)
        return ERR("seq: expected an integer");
    r->seq = rv == 1 ? (uint32_t)v : 0;
    if (type == QASM_PROTO_REPORT_OPEN) {
        x = get(f, nf, "server");
        if (!x || qasm_addr_parse(&r->server, x->val) < 0)
            return ERR("open needs server IP:PORT");
        x = get(f, nf, "scid");
        if (x && qasm_cid_parse(&r->scid, x->val) < 0)
            return ERR("scid: expected hex");
    }
    if (type == QASM_PROTO_REPORT_DCID_NEW || type == QASM_PROTO_REPORT_DCID_RETIRE) {
        x = get(f, nf, "dcid");
        if (!x || qasm_cid_parse(&r->dcid.cid, x->val) < 0 || r->dcid.cid.len == 0)
            return ERR("%s needs dcid (hex)", ty->val);
        rv = get_u64(f, nf, "cid_seq", &v);
        if (rv < 0 || v >= (1ull << 62))
            return ERR("cid_seq: expected an integer");
        r->dcid.seq = rv == 1 ? v : 0;
    }
    return 1;
}

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

int qasm_events_load(struct qasm_events **pe, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    size_t lineno = 0;
    int rv = 0;

    *pe = NULL;
    if (!f) {
        rv = -errno;
        snprintf(err, errlen, "%s", strerror(errno));
        return rv;
    }
    struct qasm_events *e = calloc(1, sizeof(*e));
    if (!e) {
        fclose(f);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "line %zu: longer than %zu bytes", lineno, sizeof(line) - 1);
            rv = -EINVAL;
            break;
        }
        struct event ev;
        char why[160];
        int k = qasm_events_parse_line(line, &ev.t, &ev.m, why, sizeof(why));
        if (k < 0) {
            snprintf(err, errlen, "line %zu: %s", lineno, why);
            rv = -EINVAL;
            break;
        }
        if (k == 0)
            continue;
        ev.line = lineno;
        if (ev.m.u.report.seq == 0)
            ev.m.u.report.seq = (uint32_t)lineno;
        if (e->n == e->cap) {
            size_t ncap = e->cap ? 2 * e->cap : 64;
            struct event *nv = realloc(e->v, ncap * sizeof(*nv));
            if (!nv) {
                snprintf(err, errlen, "out of memory");
                rv = -ENOMEM;
                break;
            }
            e->v = nv;
            e->cap = ncap;
        }
        e->v[e->n++] = ev;
    }
    fclose(f);
    if (rv < 0) {
        qasm_events_del(e);
        return rv;
    }
    qsort(e->v, e->n, sizeof(e->v[0]), cmp_event);
    *pe = e;
    return 0;
}

int qasm_events_get(const struct qasm_events *e, size_t i, qasm_tstamp *t,
                    const struct qasm_proto_msg **m)
{
    if (!e || i >= e->n)
        return -ENOENT;
    *t = e->v[i].t;
    *m = &e->v[i].m;
    return 0;
}

void qasm_events_del(struct qasm_events *e)
{
    if (!e)
        return;
    free(e->v);
    free(e);
}
