/*
 * notcx.c: libqasm-test-notcx.so, a kernel without tcx links for
 * tests/integration/netns_normalize.sh: preloaded (LD_PRELOAD) into
 * qasm-normalize, it answers every bpf_link_create (libbpf's, which the tcx
 * attach uses) with -EINVAL, as a kernel before Linux 6.6 answers the tcx
 * attach types, so --hook auto's fallback to the clsact qdisc runs.
 */
#include <errno.h>

struct bpf_link_create_opts;

int bpf_link_create(int prog_fd, int target_fd, int attach_type,
                    const struct bpf_link_create_opts *opts);

int bpf_link_create(int prog_fd, int target_fd, int attach_type,
                    const struct bpf_link_create_opts *opts)
{
    (void)prog_fd, (void)target_fd, (void)attach_type, (void)opts;
    return -EINVAL;
}
