/* metrics.c: stats JSON to Prometheus exposition text (see metrics.h). */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define NAME_MAX_LEN 160
#define MAX_DEPTH 4

/* The text being built; |nomem| sticks once an allocation failed. */
struct sbuf {
    char *p;
    size_t len, cap;
    int nomem;
};

struct render {
    const struct qasm_metrics_spec *spec;
    struct sbuf out;
    char **names; /* the families written so far: a name twice is an error */
    size_t nnames, capnames;
    char *err;
    size_t errlen;
    int bad;
};

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
    if (b->nomem)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->nomem = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n + 256;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->nomem = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

/* A label value with \, " and newline escaped (the format's only escapes). */
static void sb_label_value(struct sbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sb_printf(b, "\\%c", *v);
        else if (*v == '\n')
            sb_printf(b, "\\n");
        else
            sb_printf(b, "%c", *v);
    }
}

/* Appends |part| to the metric name |name| (|cap| bytes): [a-zA-Z0-9_], others become '_'. */
static void name_append(char *name, size_t cap, const char *part)
{
    size_t n = strlen(name);
    if (n && n + 1 < cap)
        name[n++] = '_';
    for (; *part && n + 1 < cap; part++) {
        char c = *part;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        name[n++] = ok ? c : '_';
    }
    name[n] = '\0';
}

/* Records the family |name|; 0, or -1 when it was written already (said in r->err). */
static int family_new(struct render *r, const char *name)
{
    for (size_t i = 0; i < r->nnames; i++)
        if (strcmp(r->names[i], name) == 0) {
            if (!r->bad)
                snprintf(r->err, r->errlen, "two values would be the metric %s", name);
            r->bad = 1;
            return -1;
        }
    if (r->nnames == r->capnames) {
        size_t cap = r->capnames ? 2 * r->capnames : 64;
        char **p = realloc(r->names, cap * sizeof(*p));
        if (!p) {
            r->out.nomem = 1;
            return -1;
        }
        r->names = p;
        r->capnames = cap;
    }
    size_t n = strlen(name) + 1;
    char *copy = malloc(n);
    if (!copy) {
        r->out.nomem = 1;
        return -1;
    }
    memcpy(copy, name, n);
    r->names[r->nnames++] = copy;
    return 0;
}

static int is_gauge(const struct render *r, const char *path)
{
    for (const char *const *g = r->spec->gauges; g && *g; g++)
        if (strcmp(*g, path) == 0)
            return 1;
    return 0;
}

static const struct qasm_metrics_object *object_of(const struct render *r, const char *path)
{
    for (const struct qasm_metrics_object *o = r->spec->objects; o && o->key; o++)
        if (strcmp(o->key, path) == 0)
            return o;
    return NULL;
}

/* "# HELP" and "# TYPE" of family |name|, for the JSON value at |path|; 0 or -1. */
static int family_head(struct render *r, const char *name, const char *path, const char *type,
                       const char *what)
{
    if (family_new(r, name) < 0)
        return -1;
    sb_printf(&r->out, "# HELP %s %s \"%s\"%s\n# TYPE %s %s\n", name, r->spec->source, path,
              what, name, type);
    return 0;
}

/* A number or a boolean as a sample value; 0 when |v| is neither. */
static int sample_value(struct sbuf *b, const json_t *v)
{
    if (json_is_integer(v))
        sb_printf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        sb_printf(b, "%.15g", json_real_value(v));
    else if (json_is_boolean(v))
        sb_printf(b, "%d", json_is_true(v) ? 1 : 0);
    else
        return 0;
    return 1;
}

/* One number or boolean at |path|: a family of one sample. */
static void leaf(struct render *r, const char *name, const char *path, const json_t *v)
{
    const char *type = json_is_boolean(v) || is_gauge(r, path) ? "gauge" : "counter";
    if (family_head(r, name, path, type, "") < 0)
        return;
    sb_printf(&r->out, "%s ", name);
    sample_value(&r->out, v);
    sb_printf(&r->out, "\n");
}

/* A labeled map at |path|: one family, a sample per member; "total" its own family. */
static void map(struct render *r, const char *name, const char *path, const char *label,
                const json_t *obj)
{
    const char *type = is_gauge(r, path) ? "gauge" : "counter";
    const char *key;
    json_t *v;
    char what[96];
    snprintf(what, sizeof(what), " by %s", label);
    if (family_head(r, name, path, type, what) < 0)
        return;
    json_object_foreach((json_t *)obj, key, v) {
        if (strcmp(key, "total") == 0 || !(json_is_number(v) || json_is_boolean(v)))
            continue;
        sb_printf(&r->out, "%s{%s=\"", name, label);
        sb_label_value(&r->out, key);
        sb_printf(&r->out, "\"} ");
        sample_value(&r->out, v);
        sb_printf(&r->out, "\n");
    }
    json_t *total = json_object_get(obj, "total");
    if (total && (json_is_number(total) || json_is_boolean(total))) {
        char tname[NAME_MAX_LEN], tpath[NAME_MAX_LEN];
        snprintf(tname, sizeof(tname), "%.150s_total", name);
        snprintf(tpath, sizeof(tpath), "%.150s.total", path);
        leaf(r, tname, tpath, total);
    }
}

static void members(struct render *r, const char *name, const char *path, const json_t *obj,
                    int depth);

/* The member |key| = |v| of the object at |path| (named |name|). */
static void member(struct render *r, const char *name, const char *path, const char *key,
                   const json_t *v, int depth)
{
    char n[NAME_MAX_LEN], p[NAME_MAX_LEN];
    snprintf(p, sizeof(p), "%s%s%s", path, *path ? "." : "", key);
    const struct qasm_metrics_object *o = object_of(r, p);
    snprintf(n, sizeof(n), "%s", name);
    name_append(n, sizeof(n), o && o->name ? o->name : key);
    if (json_is_number(v) || json_is_boolean(v))
        leaf(r, n, p, v);
    else if (json_is_object(v) && o && o->label)
        map(r, n, p, o->label, v);
    else if (json_is_object(v) && depth < MAX_DEPTH)
        members(r, n, p, v, depth + 1);
    /* strings below the top, arrays, null: not metrics */
}

static void members(struct render *r, const char *name, const char *path, const json_t *obj,
                    int depth)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if (r->bad || r->out.nomem)
            return;
        member(r, name, path, key, v, depth);
    }
}

/* qasm_build_info and PREFIX_info (the top-level strings as labels). */
static void info(struct render *r, const json_t *top)
{
    const struct qasm_metrics_spec *s = r->spec;
    if (s->version) {
        family_new(r, "qasm_build_info");
        sb_printf(&r->out, "# HELP qasm_build_info the version and the git commit of the build\n"
                           "# TYPE qasm_build_info gauge\nqasm_build_info{version=\"");
        sb_label_value(&r->out, s->version);
        sb_printf(&r->out, "\",commit=\"");
        sb_label_value(&r->out, s->commit ? s->commit : "unknown");
        sb_printf(&r->out, "\"} 1\n");
    }
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof(name), "%s_info", s->prefix);
    const char *key;
    json_t *v;
    int n = 0;
    json_object_foreach((json_t *)top, key, v) {
        if (!json_is_string(v) || strcmp(key, "version") == 0)
            continue;
        if (n++ == 0 && family_new(r, name) == 0)
            sb_printf(&r->out, "# HELP %s %s: its strings as labels\n# TYPE %s gauge\n%s{", name,
                      s->source, name, name);
        char label[NAME_MAX_LEN] = "";
        name_append(label, sizeof(label), key);
        sb_printf(&r->out, "%s%s=\"", n > 1 ? "," : "", label);
        sb_label_value(&r->out, json_string_value(v));
        sb_printf(&r->out, "\"");
    }
    if (n)
        sb_printf(&r->out, "} 1\n");
}

int qasm_metrics_render(const char *json, size_t len, const struct qasm_metrics_spec *spec,
                        char **out, size_t *outlen, char *err, size_t errlen)
{
    json_error_t je;
    json_t *top = json_loadb(json, len, 0, &je);
    /* A uint64 counter past INT64_MAX is more than jansson's integers hold: as a real, then. */
    if (!top)
        top = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, &je);
    if (!top || !json_is_object(top)) {
        snprintf(err, errlen, "not a JSON object: %s", top ? "another value" : je.text);
        json_decref(top);
        return -EINVAL;
    }
    struct render r = { .spec = spec, .err = err, .errlen = errlen };
    sb_printf(&r.out, "%s", ""); /* an empty object renders as an empty text */
    info(&r, top);
    members(&r, spec->prefix, "", top, 0);
    json_decref(top);
    for (size_t i = 0; i < r.nnames; i++)
        free(r.names[i]);
    free(r.names);
    if (r.out.nomem || r.bad) {
        free(r.out.p);
        if (r.out.nomem)
            snprintf(err, errlen, "out of memory");
        return r.out.nomem ? -ENOMEM : -EINVAL;
    }
    *out = r.out.p;
    *outlen = r.out.len;
    return 0;
}
