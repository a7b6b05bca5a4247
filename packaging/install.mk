# packaging/: `make install` and `make uninstall`, like a Debian tool.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   programs, libqasm-agent.so, its header and
#                                                 pkg-config file, man pages, bash completion,
#                                                 Wireshark dissector, systemd units, examples
#   make uninstall [PREFIX=...] [DESTDIR=...]     removes exactly those files
#
# Every directory below may be overridden on the command line; docs/INSTALL.md
# says what goes where. Man pages (help2man) and the completion script are
# generated from each program's --help into $(O)/packaging/.

PREFIX     ?= /usr/local
DESTDIR    ?=
QASM_VERSION ?= 0.1.0
# Debian's multiarch triplet (x86_64-linux-gnu): libraries go to lib/<triplet>.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib$(if $(MULTIARCH),/$(MULTIARCH))
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/qasm
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Where Debian's Wireshark loads global Lua plugins from (`tshark -G folders`).
WIRESHARK_PLUGINDIR ?= $(LIBDIR)/wireshark/plugins
# /usr: systemd's own directory (/lib/systemd/system on Debian 12); else PREFIX/lib/systemd/system.
SYSTEMD_UNITDIR ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system),$(PREFIX)/lib/systemd/system)
# The units read /etc/qasm/*.conf whatever the prefix (nothing is installed there).
SYSCONFDIR ?= /etc
INSTALL    ?= install

# The programs users run (test-only programs such as qasm-udpdrive and the
# corpus generator stay in build/), with the NAME line of their man page.
INSTALL_PROGS := qasm-tracker qasm-trackctl qasm-mbox qasm-mboxctl qasm-replay qasm-capture \
                 qasm-h3-server qasm-h3-client qasm-bench qasm-mbox-bench qasm-tracker-bench
MANDESC_qasm-tracker       := QUIC connection tracking agent of QASM
MANDESC_qasm-trackctl      := inspect and drive a qasm-tracker
MANDESC_qasm-mbox          := QUIC-aware NAT, rate limiter and load balancer
MANDESC_qasm-mboxctl       := list the live table and events of a running qasm-mbox
MANDESC_qasm-replay        := replay a pcap file through a qasm middlebox core
MANDESC_qasm-capture       := record packets into a pcap file
MANDESC_qasm-h3-server     := HTTP/3 server of the qasm experiments
MANDESC_qasm-h3-client     := HTTP/3 client that migrates on a schedule
MANDESC_qasm-bench         := run the experiments of the QASM paper
MANDESC_qasm-mbox-bench    := per-packet cost of the qasm middlebox cores
MANDESC_qasm-tracker-bench := load benchmark of qasm-tracker beside Redis
# The eBPF client agent, where the BPF toolchain built it (agentd/module.mk).
INSTALL_PROGS += $(filter qasm-agentd,$(PROGS))
MANDESC_qasm-agentd        := eBPF QUIC client agent of QASM
# The tc-BPF normaliser (middleboxes/normalize/module.mk), with its unit below.
INSTALL_PROGS += $(filter qasm-normalize,$(PROGS))
MANDESC_qasm-normalize     := QUIC migration normaliser in front of the kernel NAT

PKG_O         := $(O)/packaging
INSTALL_BINS  := $(addprefix $(O)/,$(INSTALL_PROGS))
INSTALL_MANS  := $(addprefix $(PKG_O)/man/,$(addsuffix .1,$(INSTALL_PROGS)))
INSTALL_COMPL := $(PKG_O)/qasm.bash
INSTALL_UNITS := qasm-tracker.service qasm-mbox@.service
INSTALL_EXAMPLES := packaging/tracker.conf packaging/mbox-nat.conf packaging/mbox-packet-io.conf
INSTALL_UNITS += $(if $(filter qasm-normalize,$(PROGS)),qasm-normalize@.service)
INSTALL_EXAMPLES += packaging/normalize.conf

.PHONY: install uninstall

# help2man runs a wrapper of the same name around packaging/help-for-man.sh
# (the usage block as help2man's SYNOPSIS; exit 0 so that a program whose --help
# exits non-zero still gets a page). --version-string: not every program has
# --version.
$(PKG_O)/h2m/%: $(O)/% packaging/help-for-man.sh
	@mkdir -p $(@D)
	$(Q)printf '#!/bin/sh\nexec "%s" "%s"\n' "$(abspath packaging/help-for-man.sh)" "$(abspath $<)" >$@.$$$$ && \
	    chmod +x $@.$$$$ && mv $@.$$$$ $@

$(PKG_O)/man/%.1: $(PKG_O)/h2m/% packaging/see-also.h2m
	@mkdir -p $(@D)
	@command -v help2man >/dev/null || { echo "help2man is missing: make deps (or apt-get install help2man)" >&2; exit 1; }
	$(if $(filter 0,$(V)),@echo "  MAN     $@")
	$(Q)help2man --no-info --no-discard-stderr --version-string='$(QASM_VERSION)' \
	    --name='$(MANDESC_$*)' --section=1 --source='qasm $(QASM_VERSION)' \
	    --manual='qasm manual' --include=packaging/see-also.h2m --output=$@.$$$$ $< && mv $@.$$$$ $@

$(INSTALL_COMPL): packaging/gen-completion.sh $(INSTALL_BINS)
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  GEN     $@")
	$(Q)packaging/gen-completion.sh $(O) $(INSTALL_PROGS) >$@.$$$$ && mv $@.$$$$ $@

# A file substituted with the installation's directories.
subst_dirs = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
                 -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
                 -e 's|@VERSION@|$(QASM_VERSION)|g'

# Built first (the programs, then their pages and completion), then copied.
# The agent is installed under its SONAME (if the link gave it one) with the
# libqasm-agent.so link beside it for -lqasm-agent; without one, as libqasm-agent.so.
install: $(INSTALL_BINS) $(O)/libqasm-agent.so $(INSTALL_MANS) $(INSTALL_COMPL)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/qasm $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(WIRESHARK_PLUGINDIR) $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	soname=$$(objdump -p $(O)/libqasm-agent.so | awk '$$1 == "SONAME" {print $$2}'); \
	if [ -n "$$soname" ] && [ "$$soname" != libqasm-agent.so ]; then \
	    $(INSTALL) -m 0644 $(O)/libqasm-agent.so $(DESTDIR)$(LIBDIR)/$$soname && \
	    ln -sf $$soname $(DESTDIR)$(LIBDIR)/libqasm-agent.so; \
	else \
	    $(INSTALL) -m 0644 $(O)/libqasm-agent.so $(DESTDIR)$(LIBDIR)/libqasm-agent.so; \
	fi
	$(INSTALL) -m 0644 client-agent/qasm_agent.h $(DESTDIR)$(INCLUDEDIR)/qasm/
	$(subst_dirs) packaging/qasm-agent.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/qasm-agent.pc
	$(INSTALL) -m 0644 $(INSTALL_MANS) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(INSTALL_COMPL) $(DESTDIR)$(BASHCOMPDIR)/qasm
	for p in $(INSTALL_PROGS); do ln -sf qasm $(DESTDIR)$(BASHCOMPDIR)/$$p; done
	$(INSTALL) -m 0644 captures/qasm-tracker.lua $(DESTDIR)$(WIRESHARK_PLUGINDIR)/
	for u in $(INSTALL_UNITS); do \
	    $(subst_dirs) packaging/$$u.in >$(DESTDIR)$(SYSTEMD_UNITDIR)/$$u && \
	    chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$$u; \
	done
	$(INSTALL) -m 0644 $(INSTALL_EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	$(INSTALL) -m 0644 README.md LICENSE CITATION.cff docs/INSTALL.md $(DESTDIR)$(DOCDIR)/

# Exactly the files above; then the directories only qasm owns, if empty.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(INSTALL_PROGS))
	lib=$(DESTDIR)$(LIBDIR)/libqasm-agent.so; \
	if [ -L "$$lib" ]; then rm -f "$(DESTDIR)$(LIBDIR)/$$(readlink "$$lib")"; fi; rm -f "$$lib"
	rm -f $(DESTDIR)$(INCLUDEDIR)/qasm/qasm_agent.h $(DESTDIR)$(PKGCONFIGDIR)/qasm-agent.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(addsuffix .1,$(INSTALL_PROGS)))
	rm -f $(DESTDIR)$(BASHCOMPDIR)/qasm $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(INSTALL_PROGS))
	rm -f $(DESTDIR)$(WIRESHARK_PLUGINDIR)/qasm-tracker.lua
	rm -f $(addprefix $(DESTDIR)$(SYSTEMD_UNITDIR)/,$(INSTALL_UNITS))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(INSTALL_EXAMPLES)))
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,README.md LICENSE CITATION.cff INSTALL.md)
	rmdir $(DESTDIR)$(INCLUDEDIR)/qasm $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
