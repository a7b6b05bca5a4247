#!/usr/bin/env python3
"""gen.py FLAG... : option cases for compare.sh, one per line: --help,
unknown flags, each flag without its value, each flag with a pool of good
and bad values (SHORT=1: fewer; numbers, sizes, durations, addresses, words), and pairs."""
import shlex, sys
VALUES = ["", "0", "1", "2", "-1", "abc", "7x", "1.5", "0.5", "1e3", "65535", "65536",
          "4294967296", "99999999999999999999", "64k", "10M", "1G", "10MB", "0s", "10ms",
          "1s", "250us", "5m", "3600s", "127.0.0.1:1", "127.0.0.1:0", "[::1]:4433", "[::1]",
          "127.0.0.1", "127.0.0.1-127.0.0.8", "::1", "host:1", " 1", "0x10", "deadbeef",
          "00112233445566778899aabbccddeeff", "port", "addr", "nat", "lb", "ratelimit",
          "reactive", "proactive", "default", "udp", "packet", "info", "debug", "true", "on"]
import os
if os.environ.get("SHORT"):  # a quicker run: one value of each kind
    VALUES = ["", "0", "1", "-1", "abc", "1.5", "65536", "99999999999999999999", "64k", "10ms",
              "0s", "127.0.0.1:1", "127.0.0.1:0", "[::1]:4433", "127.0.0.1", "10-20", "reactive",
              "packet", "debug"]
flags = sys.argv[1:]
cases = ["--help", "-h", "--bogus", "-z", "--", "--=x", "extra", "--help extra"]
for f in flags:
    name, _, kind = f.partition(":")
    cases.append(name)
    if kind == "0":
        cases.append(name + "=x")
        continue
    for v in VALUES:
        cases.append("%s %s" % (name, shlex.quote(v)))
    cases.append("%s=%s" % (name, "1"))
    cases.append(name[:5])  # abbreviation (maybe ambiguous)
for i, f in enumerate(flags):
    a = f.partition(":")[0]
    b = flags[(i + 1) % len(flags)].partition(":")[0]
    cases.append("%s 1 %s 1" % (a, b))
print("\n".join(cases))
