# qasm-mbox shell (relay backend, tracker session, stats) around the core's MBOX_CORE_SRCS.
# Recursive '=' so MBOX_CORE_SRCS may be appended anywhere in this file.
PROGS += qasm-mbox
qasm-mbox_SRCS = $(MBOX_CORE_SRCS) middleboxes/main.c middleboxes/relay.c \
                 middleboxes/tracker_session.c middleboxes/tracker_link.c middleboxes/stats.c
qasm-mbox_LIBS = $(LIBEV_LIBS)
