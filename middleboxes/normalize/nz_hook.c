/* nz_hook.c: qasm-normalize's hook, tcx links or clsact (see nz_hook.h). */
#include "middleboxes/normalize/nz_hook.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "log.h"
#include "middleboxes/normalize/normalize_opts.h"

#define PROG "qasm-normalize"
#define TC_HANDLE 0x9a5d /* fixed, so a rerun replaces what a crashed run left */
#define TC_PRIO 1
#define ENOTSUPP_KERNEL 524 /* the kernel's internal ENOTSUPP, which a syscall may leak */

/* The kernel's values (Linux 6.6), which Debian 12's uapi headers lack. */
#define NZ_TCX_INGRESS 46
#define NZ_TCX_EGRESS 47

static const char *const where[2] = {"ingress", "egress"};

/* A kernel without tcx (before 6.6) refuses the attach type itself. */
static int tcx_refused(int err)
{
    return err == EINVAL || err == EOPNOTSUPP || err == ENOTSUPP_KERNEL || err == ENOSYS;
}

/* Both programs on tcx links, appended after any tcx program already there. 0 or a
 * negative errno (the links made so far closed again); |quiet|: auto's first try. */
static int attach_tcx(struct qasm_nz_hook *h, int quiet)
{
    for (int i = 0; i < 2; i++) {
        int fd = bpf_link_create(h->prog_fds[i], h->ifindex,
                                 (enum bpf_attach_type)(i ? NZ_TCX_EGRESS : NZ_TCX_INGRESS), NULL);
        if (fd >= 0) {
            h->links[i] = fd;
            continue;
        }
        int err = -fd;
        if (!quiet || !tcx_refused(err))
            fprintf(stderr, PROG ": cannot attach the %s program to %s with tcx: %s%s\n",
                    where[i], h->ifname, strerror(err),
                    tcx_refused(err) ? " (tcx links need Linux 6.6+; --hook clsact)" : "");
        qasm_nz_hook_detach(h);
        return -err;
    }
    h->tcx = 1;
    return 0;
}

static void tc_hook_of(const struct qasm_nz_hook *h, struct bpf_tc_hook *t,
                       enum bpf_tc_attach_point ap)
{
    memset(t, 0, sizeof(*t));
    t->sz = sizeof(*t);
    t->ifindex = h->ifindex;
    t->attach_point = ap;
}

static void tc_opts_of(struct bpf_tc_opts *o, int prog_fd)
{
    memset(o, 0, sizeof(*o));
    o->sz = sizeof(*o);
    o->handle = TC_HANDLE;
    o->priority = TC_PRIO;
    o->prog_fd = prog_fd;
}

/* The clsact qdisc (ours when we made it), then both filters. 0 or -1 (said). */
static int attach_clsact(struct qasm_nz_hook *h)
{
    struct bpf_tc_hook t;
    tc_hook_of(h, &t, BPF_TC_INGRESS | BPF_TC_EGRESS);
    int rc = bpf_tc_hook_create(&t);
    if (rc && rc != -EEXIST) {
        fprintf(stderr, PROG ": cannot add a clsact qdisc to %s: %s\n", h->ifname, strerror(-rc));
        return -1;
    }
    h->qdisc_created = rc == 0;
    for (int i = 0; i < 2; i++) {
        struct bpf_tc_opts o;
        tc_hook_of(h, &t, i ? BPF_TC_EGRESS : BPF_TC_INGRESS);
        tc_opts_of(&o, h->prog_fds[i]);
        o.flags = BPF_TC_F_REPLACE;
        rc = bpf_tc_attach(&t, &o);
        if (rc) {
            fprintf(stderr, PROG ": cannot attach the %s program to %s: %s\n", where[i],
                    h->ifname, strerror(-rc));
            return -1;
        }
        h->filters[i] = 1;
    }
    return 0;
}

int qasm_nz_hook_attach(struct qasm_nz_hook *h, int kind, int ifindex, const char *ifname,
                        const int prog_fds[2])
{
    memset(h, 0, sizeof(*h));
    h->ifindex = ifindex;
    h->ifname = ifname;
    h->prog_fds[0] = prog_fds[0];
    h->prog_fds[1] = prog_fds[1];
    if (kind == QASM_NZ_HOOK_CLSACT)
        return attach_clsact(h);
    int rc = attach_tcx(h, kind == QASM_NZ_HOOK_AUTO);
    if (rc == 0)
        return 0;
    if (kind == QASM_NZ_HOOK_TCX || !tcx_refused(-rc))
        return -1;
    qasm_warn("normalize: the kernel refuses tcx links (%s; Linux 6.6+ has them): attaching "
              "to the clsact qdisc of %s instead", strerror(-rc), ifname);
    return attach_clsact(h);
}

void qasm_nz_hook_detach(struct qasm_nz_hook *h)
{
    for (int i = 0; i < 2; i++)
        if (h->links[i] > 0) { /* closing the link detaches (as the process' exit would) */
            close(h->links[i]);
            h->links[i] = 0;
        }
    struct bpf_tc_hook t;
    for (int i = 0; i < 2; i++) {
        if (!h->filters[i])
            continue;
        struct bpf_tc_opts o;
        tc_hook_of(h, &t, i ? BPF_TC_EGRESS : BPF_TC_INGRESS);
        tc_opts_of(&o, 0);
        int rc = bpf_tc_detach(&t, &o);
        if (rc)
            qasm_warn("normalize: cannot detach the %s program from %s: %s", where[i],
                      h->ifname, strerror(-rc));
        h->filters[i] = 0;
    }
    if (h->qdisc_created) {
        tc_hook_of(h, &t, BPF_TC_INGRESS | BPF_TC_EGRESS);
        bpf_tc_hook_destroy(&t);
        h->qdisc_created = 0;
    }
}

const char *qasm_nz_hook_name(const struct qasm_nz_hook *h)
{
    return h->tcx ? "tcx" : "clsact";
}

void qasm_nz_hook_json(const struct qasm_nz_hook *h, struct qasm_json *j, int accounting)
{
    qasm_json_str(j, "hook", qasm_nz_hook_name(h));
    for (int i = 0; i < 2; i++) {
        struct bpf_prog_info info;
        uint32_t len = sizeof(info);
        memset(&info, 0, sizeof(info));
        if (h->prog_fds[i] <= 0 || bpf_obj_get_info_by_fd(h->prog_fds[i], &info, &len) != 0)
            continue;
        qasm_json_obj(j, where[i]);
        qasm_json_u64(j, "id", info.id);
        if (accounting) {
            qasm_json_u64(j, "run_cnt", info.run_cnt);
            qasm_json_u64(j, "run_time_ns", info.run_time_ns);
        }
        qasm_json_close(j);
    }
}
