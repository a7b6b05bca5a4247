/*
 * nz_hook.h: where qasm-normalize's two programs run on the inside
 * interface: tcx links (Linux 6.6+; the kernel drops them when the process
 * exits, even on a crash) or tc filters on the clsact qdisc (a fixed
 * handle and priority; removed by us on every exit path), and what the
 * kernel says of the programs (their ids, run count and run time).
 */
#ifndef QASM_NZ_HOOK_H
#define QASM_NZ_HOOK_H

#include "middleboxes/io/json.h"

/* The programs' places: ingress, egress. */
enum { QASM_NZ_HOOK_INGRESS = 0, QASM_NZ_HOOK_EGRESS = 1 };

struct qasm_nz_hook {
    int ifindex;
    const char *ifname;
    int prog_fds[2];      /* ingress, egress: what is attached */
    int tcx;              /* attached with tcx links (else clsact, once attached) */
    int links[2];         /* tcx: the links' fds (0: none) */
    int filters[2];       /* clsact: our filter is on the hook */
    int qdisc_created;    /* clsact: we made the qdisc, so we remove it */
};

/*
 * qasm_nz_hook_attach attaches |prog_fds| (ingress, egress) to |ifname|
 * (|ifindex|) by |kind| (enum qasm_nz_hook_kind: auto tries tcx, then
 * clsact when the kernel refuses tcx, saying so in one log line). 0, or
 * -1 after one line on stderr saying why (what it got to stays in |h| for
 * qasm_nz_hook_detach).
 */
int qasm_nz_hook_attach(struct qasm_nz_hook *h, int kind, int ifindex, const char *ifname,
                        const int prog_fds[2]);

/* qasm_nz_hook_detach undoes what qasm_nz_hook_attach did, whatever it got to. */
void qasm_nz_hook_detach(struct qasm_nz_hook *h);

/* "tcx" or "clsact": the hook in use. */
const char *qasm_nz_hook_name(const struct qasm_nz_hook *h);

/*
 * qasm_nz_hook_json writes "hook" and, per program ("ingress", "egress"),
 * {"id", and when |accounting|: "run_cnt", "run_time_ns"} as the kernel
 * has them.
 */
void qasm_nz_hook_json(const struct qasm_nz_hook *h, struct qasm_json *j, int accounting);

#endif
