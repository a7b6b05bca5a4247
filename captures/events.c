/*
 * events.c: the --tracker-events JSON-lines reader (see events.h). Each
 * line is parsed by jansson; only flat objects of strings and numbers are
 * accepted.
 */
#include "events.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* A value as the old hand-written reader kept it: a string's bytes, a number's text. */
static int field_value(struct field *x, json_t *v)
{
    int n;
    x->is_str = json_is_string(v);
    if (x->is_str) {
        /* Escapes for control characters (\n, \u0001) were refused before jansson too. */
        for (const char *c = json_string_value(v); *c; c++)
            if ((unsigned char)*c < 0x20)
                return -1;
        n = json_string_length(v) < sizeof(x->val)
                ? snprintf(x->val, sizeof(x->val), "%s", json_string_value(v)) : -1;
    }
    else if (json_is_integer(v))
        n = snprintf(x->val, sizeof(x->val), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        n = snprintf(x->val, sizeof(x->val), "%.17g", json_real_value(v));
    else
        return -1;
    return n < 0 || (size_t)n >= sizeof(x->val) ? -1 : 0;
}

/*
 * One line, parsed by jansson, flattened into |f|: an object of at most
 * MAX_FIELDS strings and numbers, keys shorter than 32 bytes, values than
 * MAX_TOKEN. Duplicate keys are refused (the old reader took the first).
 */
static int parse_object(const char *p, struct field *f, size_t *nf, char *why, size_t whylen)
{
    json_error_t jerr;
    const char *key;
    json_t *v;
    int rv = 0;

    *nf = 0;
    if (*p != '{') {
        snprintf(why, whylen, "expected '{'");
        return -1;
    }
    json_t *o = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        if (json_error_code(&jerr) == json_error_end_of_input_expected)
            snprintf(why, whylen, "trailing characters");
        else
            snprintf(why, whylen, "column %d: %.100s", jerr.column, jerr.text);
        return -1;
    }
    if (json_object_size(o) > MAX_FIELDS) {
        snprintf(why, whylen, "too many fields");
        json_decref(o);
        return -1;
    }
    json_object_foreach(o, key, v) {
        struct field *x = &f[(*nf)++];
        if (strlen(key) >= sizeof(x->key)) {
            snprintf(why, whylen, "bad key");
            rv = -1;
            break;
        }
        strcpy(x->key, key);
        if (field_value(x, v) < 0) {
            snprintf(why, whylen, json_is_string(v) ? "bad string value"
                                  : json_is_number(v) ? "number too long"
                                  : "values must be strings or numbers");
            rv = -1;
            break;
        }
    }
    json_decref(o);
    return rv;
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
    char why[128];
    const char *p = skip_ws(line);

    if (*p == '\0' || *p == '#')
        return 0;
    if (parse_object(p, f, &nf, why, sizeof(why)) < 0)
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
    if (rv < 0 || (rv == 1 && v > UINT32_MAX))
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
        if (rv < 0 || (rv == 1 && v >= (1ull << 62)))
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
