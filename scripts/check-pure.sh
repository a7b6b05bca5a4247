#!/usr/bin/env bash
# check-pure.sh OBJ...: the pure cores reference no I/O, clock, stdio,
# event-loop or process symbols. Runs `nm -u` on each object and fails,
# naming object and symbol, for any undefined symbol that is neither a qasm_
# symbol (another core, or lib/) nor in the allow list below.
#
# Allowed: memory and string functions, heap allocation, number and address
# text conversions (strto*, inet_pton/ntop: no I/O, no locale files), bounded
# formatting into buffers (snprintf), qsort/bsearch, math, nettle (the MACs),
# assert and errno, the compiler's stack protector and sanitizer hooks, and:
#   - getopt_long and its globals (optarg, optind, opterr, optopt): the option
#     parsers are cores too; they set opterr = 0, so getopt prints nothing;
#   - ngtcp2_pkt_decode_version_cid, ngtcp2_pkt_write_version_negotiation:
#     h3guard.c decodes and writes packets in buffers with libngtcp2's codec;
#   - jansson's parse of a text in memory and its accessors (json_loadb,
#     json_object_*, json_*_value): lib/metrics.c reads a stats object.
# Not allowed (for example): socket, bind, send*, recv*, read, write, open,
# close, poll, epoll_*, clock_gettime, time, gettimeofday, printf, fprintf,
# puts, fopen, fwrite, stdout, stderr, ev_*, getrandom, getenv, exit.
set -u
allow='^(qasm_.*|mem(cpy|move|set|cmp|chr|mem)|str(len|nlen|chr|rchr|cmp|ncmp|cpy|ncpy|spn|cspn|str|error_r)'
allow+='|(c|m|re)alloc|aligned_alloc|free'
allow+='|strto(d|l|ul|ll|ull)|inet_(pton|ntop)|__ctype_b_loc|__ctype_(tolower|toupper)_loc'
allow+='|v?snprintf|qsort|bsearch|llround|lround|round|floor|ceil|sqrt|log|exp|pow|fmin|fmax'
allow+='|nettle_.*|__assert_fail|__errno_location|__stack_chk_fail|_GLOBAL_OFFSET_TABLE_'
allow+='|__(a|ub|t)san_.*|__sanitizer_.*'
allow+='|getopt_long|optarg|optind|opterr|optopt'
allow+='|ngtcp2_pkt_decode_version_cid|ngtcp2_pkt_write_version_negotiation'
allow+='|json_(loadb|delete|object_get|object_iter|object_iter_next|object_iter_key|object_key_to_iter|object_iter_value|integer_value|real_value|string_value))$'
[ $# -gt 0 ] || { echo "usage: check-pure.sh OBJ..." >&2; exit 2; }
bad=0
for o in "$@"; do
  [ -f "$o" ] || { echo "check-pure: $o: missing" >&2; bad=1; continue; }
  for s in $(nm -u "$o" | awk '{print $NF}'); do
    if ! [[ $s =~ $allow ]]; then
      echo "check-pure: $o references $s (not allowed in a pure core)" >&2
      bad=1
    fi
  done
done
[ $bad -eq 0 ] && echo "check-pure: $# objects, no I/O, clock or event-loop symbols"
exit $bad
