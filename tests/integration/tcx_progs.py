#!/usr/bin/env python3
"""tcx_progs.py IF ingress|egress: the ids of the BPF programs attached to
interface IF (in the caller's network namespace) with tcx links, one per
line, in the order they run, as the kernel answers BPF_PROG_QUERY.

Debian 12's tools cannot say it: bpftool 7.1's `net show` lists no tcx
programs and its `link show` gives a tcx link's program but not its
interface. Exit 0 (no line: nothing attached), 3 when the kernel has no
tcx (before Linux 6.6: EINVAL), 1 on another error.
"""
import ctypes
import os
import platform
import socket
import struct
import sys

BPF_PROG_QUERY = 16
ATTACH = {"ingress": 46, "egress": 47}  # BPF_TCX_INGRESS, BPF_TCX_EGRESS (Linux 6.6)
SYS_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "armv7l": 386, "i686": 357}


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ATTACH:
        print("usage: tcx_progs.py IF ingress|egress", file=sys.stderr)
        return 2
    ifindex = socket.if_nametoindex(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    ids = (ctypes.c_uint32 * 64)()
    # union bpf_attr's query: target_ifindex, attach_type, query_flags, attach_flags,
    # prog_ids (u64), count (u32), then prog_attach_flags, link_ids,
    # link_attach_flags, revision (u64 each: left 0).
    attr = ctypes.create_string_buffer(
        struct.pack("=IIIIQII", ifindex, ATTACH[sys.argv[2]], 0, 0,
                    ctypes.addressof(ids), len(ids), 0) + bytes(32), 128)
    if libc.syscall(SYS_BPF[platform.machine()], BPF_PROG_QUERY, attr, 128) != 0:
        err = ctypes.get_errno()
        print("tcx_progs.py: BPF_PROG_QUERY on %s %s: %s"
              % (sys.argv[1], sys.argv[2], os.strerror(err)), file=sys.stderr)
        return 3 if err == 22 else 1
    count = struct.unpack_from("=I", attr.raw, 24)[0]
    for i in range(min(count, len(ids))):
        print(ids[i])
    return 0


if __name__ == "__main__":
    sys.exit(main())
