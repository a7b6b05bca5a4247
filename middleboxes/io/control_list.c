/*
 * control_list.c: a LIST answer from a copy of the core's table, formatted
 * a chunk at a time (see control_list.h).
 */
#include "middleboxes/io/control_list.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "middleboxes/io/control_proto.h"
#include "middleboxes/io/json.h"

struct qasm_control_list {
    struct qasm_mbox_entry_info *e; /* clients: an index into addrs until the copy is done */
    size_t n, cap, next;
    struct qasm_addr *addrs;
    size_t naddrs, capaddrs;
    size_t max;
    int truncated, json, nomem, started;
    enum qasm_mbox_function fn;
    enum qasm_mbox_mode mode;
    qasm_tstamp now;
    double wall;
    struct qasm_json j; /* the JSON writer's state, across chunks */
};

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int copy_cb(const struct qasm_mbox_entry_info *e, void *arg)
{
    struct qasm_control_list *l = arg;
    if (l->n == l->max) {
        l->truncated = 1;
        return 1;
    }
    if (grow((void **)&l->e, &l->cap, l->n + 1, sizeof(*l->e)) < 0 ||
        grow((void **)&l->addrs, &l->capaddrs, l->naddrs + e->nclients, sizeof(*l->addrs)) < 0) {
        l->nomem = 1;
        return 1;
    }
    struct qasm_mbox_entry_info *c = &l->e[l->n++];
    *c = *e;
    c->clients = (const struct qasm_addr *)(uintptr_t)l->naddrs;
    memcpy(l->addrs + l->naddrs, e->clients, e->nclients * sizeof(*e->clients));
    l->naddrs += e->nclients;
    return 0;
}

int qasm_control_list_new(struct qasm_control_list **pl, const struct qasm_mbox *m,
                          const struct qasm_mbox_config *core, int json, qasm_tstamp now,
                          double wall, size_t max)
{
    struct qasm_control_list *l = calloc(1, sizeof(*l));
    *pl = NULL;
    if (l == NULL)
        return -ENOMEM;
    l->max = max;
    l->json = json;
    l->fn = core->function;
    l->mode = core->mode;
    l->now = now;
    l->wall = wall;
    qasm_mbox_foreach(m, copy_cb, l);
    if (l->nomem) {
        qasm_control_list_del(l);
        return -ENOMEM;
    }
    for (size_t i = 0; i < l->n; i++)
        l->e[i].clients = l->addrs + (uintptr_t)l->e[i].clients;
    *pl = l;
    return 0;
}

int qasm_control_list_next(struct qasm_control_list *l, FILE *f, size_t n)
{
    struct qasm_json *j = &l->j;
    if (l->json && !l->started) {
        qasm_json_begin(j, f);
        qasm_json_str(j, "function", qasm_mbox_function_name(l->fn));
        qasm_json_str(j, "mode", qasm_mbox_mode_name(l->mode));
        qasm_json_fixed(j, "time", l->wall, 6);
        qasm_json_arr(j, "entries");
    }
    l->started = 1;
    j->f = f;
    for (; n > 0 && l->next < l->n; n--, l->next++) {
        if (l->json)
            qasm_control_entry_json(j, &l->e[l->next], l->fn, l->now);
        else
            qasm_control_entry_text(f, &l->e[l->next], l->fn, l->now);
    }
    if (l->next < l->n)
        return 1;
    if (l->json) {
        qasm_json_close(j);
        qasm_json_u64(j, "count", l->n);
        qasm_json_bool(j, "truncated", l->truncated);
        qasm_json_end(j);
    } else if (l->truncated) {
        fprintf(f, "# truncated after %zu entries\n", l->n);
    }
    return 0;
}

size_t qasm_control_list_count(const struct qasm_control_list *l)
{
    return l->n;
}

int qasm_control_list_truncated(const struct qasm_control_list *l)
{
    return l->truncated;
}

void qasm_control_list_del(struct qasm_control_list *l)
{
    if (l == NULL)
        return;
    free(l->e);
    free(l->addrs);
    free(l);
}
