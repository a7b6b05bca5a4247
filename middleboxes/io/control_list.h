/*
 * control_list.h: the answer to the control socket's LIST, made so that it
 * never holds up the middlebox's loop: the core's table is copied at once
 * (a plain copy of each entry's fields, no formatting), then formatted a
 * chunk of entries at a time as the client reads (control.c asks for the
 * next chunk when the socket has taken the previous one). The listing is
 * the table as it was at the request, like conntrack -L.
 */
#ifndef QASM_CONTROL_LIST_H
#define QASM_CONTROL_LIST_H

#include <stddef.h>
#include <stdio.h>

#include "clock.h"
#include "mbox.h"

/* Entries copied at most: the rest is left out and the listing says "truncated". */
#define QASM_CONTROL_LIST_ENTRIES 1000000

struct qasm_control_list;

/*
 * qasm_control_list_new copies the entries of |m| (at most |max|) for a
 * LIST of a |core| middlebox at time |now| (|wall|: the same instant in
 * seconds since the epoch), text or |json|. 0, or -ENOMEM.
 */
int qasm_control_list_new(struct qasm_control_list **pl, const struct qasm_mbox *m,
                          const struct qasm_mbox_config *core, int json, qasm_tstamp now,
                          double wall, size_t max);

/*
 * qasm_control_list_next writes the next |n| entries to |f| (the JSON head
 * before the first, the tail after the last; text: a "# truncated" line
 * after the last when entries were left out). Returns 1 while entries
 * remain, 0 once the whole listing was written.
 */
int qasm_control_list_next(struct qasm_control_list *l, FILE *f, size_t n);

/* The entries copied, and whether some were left out. */
size_t qasm_control_list_count(const struct qasm_control_list *l);
int qasm_control_list_truncated(const struct qasm_control_list *l);

void qasm_control_list_del(struct qasm_control_list *l);

#endif
