#!/usr/bin/env python3
"""hostile_send.py: send a corpus of hostile UDP datagrams to each target.

Usage: hostile_send.py [--seed N] [--cid-len N] [--empty-only] [--pid PID]...
                       [HOST:PORT|[V6]:PORT]...

--empty-only sends just one empty datagram per target.

--pid PID adds every UDP socket process PID holds (from /proc/PID/fd and
/proc/net/udp{,6}; a wildcard address is reached on 127.0.0.1 / ::1),
listed on stderr as "pid PID: ADDR...". A PID without a UDP socket is an
error (exit 2).

The corpus (what anyone who can reach a UDP port may send, and what a NAT
forwards as it forwards any UDP): an empty datagram; 1-byte datagrams
(short-header, long-header and other first bytes); minimum headers (a long
header with zero-length CIDs, short headers with 0-, 8- and --cid-len-byte
DCIDs); truncated long headers (cut inside the DCID, before the SCID
length, inside the SCID); the largest IPv4 UDP payload (65507 bytes) as
random bytes and with long and short first bytes; an Initial-shaped
1200-byte datagram (passes ngtcp2_accept, fails decryption); a 1200-byte
unknown version (asks for Version Negotiation); and random datagrams of
random lengths. Loopback targets only (127.0.0.0/8, ::1). Prints one line:
targets, datagrams sent, spoofed datagrams, send errors.

A connected socket (a QUIC client's, the agent's report socket) only gets
datagrams from its peer, so for those --pid also sends the corpus with the
peer's IPv4 address as source (a raw socket: root only, else skipped with a
note): what a NAT forwarding any UDP, or anyone on a network without
source-address validation, delivers.
"""
import ipaddress
import os
import random
import socket
import struct
import sys


def corpus(rng, cid_len):
    def rb(n):
        return bytes(rng.getrandbits(8) for _ in range(n)) if n < 4096 else os.urandom(n)

    def long_hdr(first, version, dcid, scid):
        return bytes([first]) + version.to_bytes(4, "big") + bytes([len(dcid)]) + dcid + \
            bytes([len(scid)]) + scid

    out = [b""]                                                    # empty
    out += [bytes([b]) for b in (0x00, 0x40, 0x7f, 0x80, 0xc0, 0xff)]  # 1 byte
    out += [long_hdr(0xc0, 1, b"", b""),                           # minimum headers
            b"\x40", b"\x40" + rb(8), b"\x40" + rb(cid_len)]
    out += [b"\xc0\x00\x00\x00\x01\x14" + rb(3),                   # truncated headers
            b"\xc0\x00\x00\x00\x01\x08" + rb(8),
            b"\xc0\x00\x00\x00\x01\x08" + rb(8) + b"\x14" + rb(2),
            b"\xc0\x00\x00\x00", b"\xc0\x00\x00\x00\x01",
            b"\x40" + rb(max(cid_len - 1, 0))]
    out += [os.urandom(65507),                                     # largest IPv4 UDP payload
            b"\xc0\x00\x00\x00\x01" + os.urandom(65502),
            b"\x40" + os.urandom(65506)]
    init = long_hdr(0xc0, 1, rb(8), rb(8)) + b"\x00" + b"\x44\xb0"  # Initial-shaped, 1200 B
    out.append(init + rb(1200 - len(init)))
    vn = long_hdr(0xca, 0x1a2a3a4a, rb(8), rb(8))                  # unknown version, 1200 B
    out.append(vn + rb(1200 - len(vn)))
    out += [rb(rng.randint(1, 1500)) for _ in range(32)]           # random
    return out


def target(spec):
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    ip = ipaddress.ip_address(host)
    if not ip.is_loopback:
        sys.exit("hostile_send.py: loopback targets only, got %s" % spec)
    return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), (host, int(port))


def udp_sockets(pid):
    """The local addresses (HOST:PORT strings) of the UDP sockets of |pid|."""
    inodes = set()
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:                     # the process is gone
        return []
    for fd in fds:
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for fam, path in ((socket.AF_INET, "/proc/net/udp"), (socket.AF_INET6, "/proc/net/udp6")):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] not in inodes:
                continue
            hexip, hexport = f[1].split(":")
            raw = bytes.fromhex(hexip)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            ip = ipaddress.ip_address(raw)
            if ip.is_unspecified:
                ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            port = int(hexport, 16)
            local = ("[%s]:%d" if ip.version == 6 else "%s:%d") % (ip, port)
            peer = None
            rhex, rport = f[2].split(":")
            if int(rport, 16) != 0:     # a connected socket: its peer's address
                raw = bytes.fromhex(rhex)
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                rip = ipaddress.ip_address(raw)
                if rip.version == 6 and rip.ipv4_mapped:
                    rip = rip.ipv4_mapped
                if rip.version == 4:
                    peer = (str(rip), int(rport, 16))
            found.append((local, peer))
    return found


def raw_udp4(src, dst, payload):
    """An IPv4+UDP packet from |src| to |dst| ((ip, port) pairs). The kernel
    fills the IP length, id and checksum (IP_HDRINCL); UDP checksum 0 (none,
    allowed over IPv4)."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    return ip + udp + payload


def main(argv):
    seed, cid_len, specs, spoofed, empty_only = 1, 0, [], [], False
    it = iter(argv)
    for a in it:
        if a == "--seed":
            seed = int(next(it))
        elif a == "--cid-len":
            cid_len = int(next(it))
        elif a == "--empty-only":
            empty_only = True
        elif a == "--pid":
            pid = int(next(it))
            socks = udp_sockets(pid)
            print("pid %d: %s" % (pid, " ".join(
                l + (" (from %s:%d)" % p if p else "") for l, p in socks) or "no UDP socket"),
                file=sys.stderr)
            if not socks:
                return 2
            for local, peer in socks:
                specs.append(local)
                if peer:
                    spoofed.append((local, peer))
        else:
            specs.append(a)
    if not specs:
        sys.exit(__doc__)
    rng = random.Random(seed)
    dgrams = [b""] if empty_only else corpus(rng, cid_len)
    socks = {}
    sent = errors = 0
    for spec in specs:
        fam, addr = target(spec)
        if fam not in socks:
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.bind(("::1" if fam == socket.AF_INET6 else "127.0.0.1", 0))
            socks[fam] = s
        for d in dgrams:
            try:
                socks[fam].sendto(d, addr)
                sent += 1
            except OSError as e:
                errors += 1
                print("send %d bytes to %s: %s" % (len(d), spec, e), file=sys.stderr)
    # Connected sockets only get what comes from their peer: send the corpus
    # again from the peer's address (raw socket, root only; else skipped).
    nspoofed = 0
    if spoofed:
        try:
            raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        except OSError as e:
            print("spoofed sends skipped: %s" % e, file=sys.stderr)
            spoofed = []
        for local, peer in spoofed:
            fam, addr = target(local)
            if fam != socket.AF_INET:
                continue
            for d in dgrams:
                try:
                    raw.sendto(raw_udp4(peer, addr, d), (addr[0], 0))
                    nspoofed += 1
                except OSError as e:
                    errors += 1
                    print("spoofed %d bytes to %s: %s" % (len(d), local, e), file=sys.stderr)
    print("targets=%d datagrams=%d spoofed=%d send_errors=%d" %
          (len(specs), sent, nspoofed, errors))
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
