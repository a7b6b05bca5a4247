#!/usr/bin/env python3
"""agent_wire.py: checks a loopback capture (libpcap format) holding both a
QUIC connection (client <-> server on SERVER_PORT) and the agent's reports
to the tracker (UDP to TRACKER_PORT), all in one clock.

Prints a JSON summary on stdout:
  odcid            DCID of the client's first Initial
  dcid_len         length of the server's CIDs (SCID of its first Initial)
  client_ports     client UDP ports seen sending to the server, in order
  wire_dcids       DCIDs the client used (short header), in order of first use
  reported         DCIDs named by REPORT_DCID_NEW (and the O-DCID of REPORT_OPEN)
  unknown          wire DCIDs never reported
  late             wire DCIDs whose first report came after their first use
  before_first_use count of wire DCIDs reported before their first use
  lead_us          per wire DCID: first-use time minus report time (us)
  report_types     count of reports by type
usage: agent_wire.py CAPTURE SERVER_PORT TRACKER_PORT
"""
import json
import struct
import sys


def packets(path):
    """Yields (time, sport, dport, payload) for IPv4/IPv6 UDP in a pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        end = "<"
    else:
        end = ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(end + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        t = sec + frac / (1e9 if nano else 1e6)
        if linktype == 1:  # Ethernet (Linux lo)
            if len(pkt) < 14:
                continue
            etype = struct.unpack(">H", pkt[12:14])[0]
            ip = pkt[14:]
        elif linktype == 113:  # Linux cooked
            if len(pkt) < 16:
                continue
            etype = struct.unpack(">H", pkt[14:16])[0]
            ip = pkt[16:]
        else:
            continue
        if etype == 0x0800 and len(ip) >= 20 and ip[9] == 17:
            ihl = (ip[0] & 15) * 4
            udp = ip[ihl:]
        elif etype == 0x86DD and len(ip) >= 40 and ip[6] == 17:
            udp = ip[40:]
        else:
            continue
        if len(udp) < 8:
            continue
        sport, dport = struct.unpack(">HH", udp[:4])
        yield t, sport, dport, udp[8:]


def take_cid(b, o):
    n = b[o]
    return b[o + 1:o + 1 + n].hex(), o + 1 + n


def take_addr(b, o):
    fam = b[o]
    o += 1
    if fam == 0:
        return None, o
    if fam == 4:
        return (b[o + 2:o + 6], struct.unpack(">H", b[o:o + 2])[0]), o + 6
    return (b[o + 2:o + 18], struct.unpack(">H", b[o:o + 2])[0]), o + 18


def varint(b, o):
    first = b[o]
    n = 1 << (first >> 6)
    v = first & 0x3F
    for i in range(1, n):
        v = (v << 8) | b[o + i]
    return v, o + n


def main():
    cap, sport_srv, tport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    odcid = None
    dcid_len = None
    client_ports = []
    first_use = {}
    order = []
    reported = {}
    types = {}
    for t, sp, dp, pl in packets(cap):
        if dp == tport and len(pl) >= 12 and pl[:2] == b"QT":
            typ = pl[3]
            types[typ] = types.get(typ, 0) + 1
            try:
                o = 12
                od, o = take_cid(pl, o)
                _, o = take_addr(pl, o)
                _, o = take_addr(pl, o)
                o += 4
                if typ == 0x01:
                    reported.setdefault(od, t)
                elif typ == 0x02:
                    d, o = take_cid(pl, o)
                    reported.setdefault(d, t)
                elif typ == 0x06:
                    pass
            except IndexError:
                pass
            continue
        if dp == sport_srv and pl:
            if sp not in client_ports:
                client_ports.append(sp)
            if pl[0] & 0x80:
                if len(pl) < 6:
                    continue
                dcid, _ = take_cid(pl, 5)
                ptype = (pl[0] >> 4) & 3
                if odcid is None and ptype == 0:
                    odcid = dcid
            elif dcid_len is not None:
                dcid = pl[1:1 + dcid_len].hex()
            else:
                continue
            if dcid not in first_use:
                first_use[dcid] = t
                order.append(dcid)
        elif sp == sport_srv and pl and (pl[0] & 0x80) and dcid_len is None and len(pl) > 6:
            # Server's first long-header packet: its SCID gives the CID length.
            _, o = take_cid(pl, 5)
            dcid_len = pl[o]
    wire = [d for d in order if d != odcid]
    unknown = [d for d in wire if d not in reported]
    late = [d for d in wire if d in reported and reported[d] > first_use[d]]
    lead = {d: round((first_use[d] - reported[d]) * 1e6, 1) for d in wire if d in reported}
    print(json.dumps({
        "odcid": odcid,
        "odcid_reported": odcid in reported if odcid else False,
        "dcid_len": dcid_len,
        "client_ports": client_ports,
        "wire_dcids": wire,
        "reported": sorted(reported),
        "unknown": unknown,
        "late": late,
        "before_first_use": len(wire) - len(unknown) - len(late),
        "lead_us": lead,
        "report_types": {str(k): v for k, v in sorted(types.items())},
    }))


if __name__ == "__main__":
    main()
