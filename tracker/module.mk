# tracker/: the tracking agent daemon, qasm-trackctl, the store and query
# cores (tracker/core/), their tests. The protocol codec is lib/proto.c.

PROGS += qasm-tracker
qasm-tracker_SRCS := tracker/daemon.c tracker/daemon_opts.c tracker/core/query.c tracker/core/sessions.c tracker/core/stats.c tracker/core/access.c tracker/core/store.c tracker/core/budget.c tracker/redis.c tracker/core/slots.c
qasm-tracker_LIBS = $(LIBEV_LIBS) $(HIREDIS_LIBS) $(MHD_LIBS) $(JANSSON_LIBS)

PROGS += qasm-trackctl
qasm-trackctl_SRCS := tracker/trackctl.c tracker/trackctl_opts.c
qasm-trackctl_LIBS = $(JANSSON_LIBS)

UNIT_TESTS += test_proto
test_proto_SRCS := tests/unit/test_proto.c
test_proto_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_auth
test_auth_SRCS := tests/unit/test_auth.c tracker/core/access.c
test_auth_LIBS = $(CMOCKA_LIBS)
UNIT_TESTS += test_budget
test_budget_SRCS := tests/unit/test_budget.c tracker/core/budget.c
test_budget_LIBS = $(CMOCKA_LIBS)

# The query core (tracker/core/query.c): waits, subscriptions, pushes; pure.

UNIT_TESTS += test_query
test_query_SRCS := tests/unit/test_query.c tracker/core/query.c tracker/core/store.c
test_query_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_store
test_store_SRCS := tests/unit/test_store.c tracker/core/store.c
test_store_LIBS = $(CMOCKA_LIBS)

INTEG_TESTS += tests/integration/tracker.sh

FUZZ_TARGETS += fuzz_proto
fuzz_proto_SRCS := tests/fuzz/fuzz_proto.c tracker/core/store.c tracker/core/access.c


INTEG_TESTS += tests/integration/tracker_robust.sh
# An attacker who reads the tracker forges reports and sends the victim's DCIDs
# into every aware middlebox: refused (reports bound to the connection's owner).
INTEG_TESTS += tests/integration/tracker_hijack.sh
# Who may read and write the tracker: --key (sessions, key MACs), --trust mac, --allow.
INTEG_TESTS += tests/integration/tracker_key.sh
# A few sessions cannot starve or exhaust the tracker (dump flood, idle
# sessions, subscriptions and slow subscribers, the connection cap filled
# from many addresses): a middlebox's session is served throughout.
INTEG_TESTS += tests/integration/tracker_bounds.sh
# A reactive NAT follows a migrating client while sessions flood the tracker with DUMP.
INTEG_TESTS += tests/integration/tracker_bounds_nat.sh

# Scale-out: shared stores behind tracker/backend.h, Redis and
# Redis Cluster (tracker/redis.c, slot routing in tracker/core/slots.c).
HIREDIS_LIBS = $(call pc,--libs,hiredis)

UNIT_TESTS += test_slots
test_slots_SRCS := tests/unit/test_slots.c tracker/core/slots.c
test_slots_LIBS = $(CMOCKA_LIBS)

# The tracker's tests against Redis, two trackers on one Redis, Redis down/back.
INTEG_TESTS += tests/integration/tracker_redis.sh
# Redis with requirepass / an ACL user: --store-auth FILE, and a clear failure without.
INTEG_TESTS += tests/integration/tracker_redis_auth.sh

UNIT_TESTS += test_store_apply
test_store_apply_SRCS := tests/unit/test_store_apply.c tracker/core/store.c
test_store_apply_LIBS = $(CMOCKA_LIBS)
# The same on a 3-master Redis Cluster with replicas, and a master failover.
INTEG_TESTS += tests/integration/tracker_redis_cluster.sh
# A middlebox (qasm-mbox lb) at tracker B, the client's agent at tracker A, one Redis.
INTEG_TESTS += tests/integration/tracker_redis_mbox.sh
# qasm-mbox lb across a Cluster master failover: default treatment at worst.
INTEG_TESTS += tests/integration/tracker_redis_failover.sh

UNIT_TESTS += test_trackctl_opts
test_trackctl_opts_SRCS := tests/unit/test_trackctl_opts.c tracker/trackctl_opts.c
test_trackctl_opts_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_tracker_opts
test_tracker_opts_SRCS := tests/unit/test_tracker_opts.c tracker/daemon_opts.c tracker/core/access.c \
                          tracker/core/budget.c tracker/core/store.c
test_tracker_opts_LIBS = $(CMOCKA_LIBS)

# The session registry (admission, timeouts) and the STATS reply: pure cores.
UNIT_TESTS += test_sessions
test_sessions_SRCS := tests/unit/test_sessions.c tracker/core/sessions.c tracker/core/budget.c
test_sessions_LIBS = $(CMOCKA_LIBS)

UNIT_TESTS += test_stats
test_stats_SRCS := tests/unit/test_stats.c tracker/core/stats.c tracker/core/sessions.c \
                   tracker/core/budget.c tracker/core/query.c tracker/core/store.c \
                   tracker/core/access.c
test_stats_LIBS = $(CMOCKA_LIBS)
