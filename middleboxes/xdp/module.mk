# The XDP fast path of qasm-mbox (`--io xdp`, docs/XDP.md): the BPF program
# (clang -target bpf against the UAPI headers of linux-libc-dev and libbpf's
# bpf_helpers.h, so the object does not depend on the build machine's
# kernel), its libbpf skeleton (bpftool gen skeleton) in $(O)/gen, and the
# backend middleboxes/io/xdp_io.c. Without clang, bpftool or libbpf-dev
# everything else is built, the build says what it skipped, and
# `--io xdp` says it was not built (exit 2).

XDP_CLANG   := $(shell command -v clang 2>/dev/null)
XDP_BPFTOOL := $(shell command -v bpftool 2>/dev/null || ls /usr/sbin/bpftool 2>/dev/null)
XDP_LIBBPF  := $(shell pkg-config --exists libbpf 2>/dev/null && echo yes)
XDP_MISSING := $(if $(XDP_CLANG),,clang) $(if $(XDP_BPFTOOL),,bpftool) $(if $(XDP_LIBBPF),,libbpf-dev)
QASM_XDP    := $(if $(strip $(XDP_MISSING)),0,1)

XDP_BPF_OBJ  := $(O)/gen/qasm_xdp.bpf.o
XDP_SKEL     := $(O)/gen/qasm_xdp.skel.h
XDP_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS   := -O2 -g -target bpf -Wall -Wextra -Werror -Wno-unused-parameter -iquote . \
                $(if $(XDP_MULTIARCH),-idirafter /usr/include/$(XDP_MULTIARCH))

ifeq ($(QASM_XDP),1)
$(XDP_BPF_OBJ): middleboxes/xdp/qasm_xdp.bpf.c middleboxes/xdp/xdp_maps.h
	@mkdir -p $(@D)
	$(if $(filter 0,$(V)),@echo "  BPF     $@")
	$(Q)$(XDP_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(XDP_SKEL): $(XDP_BPF_OBJ)
	$(if $(filter 0,$(V)),@echo "  SKEL    $@")
	$(Q)$(XDP_BPFTOOL) gen skeleton $< name qasm_xdp >$@.tmp && mv $@.tmp $@

XDP_LIBS = $(call pc,--libs,libbpf)
qasm-mbox_SRCS += middleboxes/io/xdp_io.c
qasm-mbox_LIBS += $(XDP_LIBS)
$(O)/obj/middleboxes/io/xdp_io.o $(O)/obj/tests/unit/test_xdp_prog.o: $(XDP_SKEL)
$(O)/obj/middleboxes/io/xdp_io.o $(O)/obj/tests/unit/test_xdp_prog.o: CFLAGS += -iquote $(O)/gen
$(O)/obj/middleboxes/main.o $(O)/obj/tests/unit/test_xdp_prog.o: CFLAGS += -DQASM_HAVE_XDP=1
else
XDP_LIBS =
EXTRA_BINS += xdp-skipped
xdp-skipped:
	@echo "  SKIP    --io xdp (the XDP fast path): missing $(strip $(XDP_MISSING)) (make deps)"
endif

# The program's fixtures through BPF_PROG_TEST_RUN (root; SKIP elsewhere).
UNIT_TESTS += test_xdp_prog
test_xdp_prog_SRCS := tests/unit/test_xdp_prog.c
test_xdp_prog_LIBS = $(CMOCKA_LIBS) $(XDP_LIBS)
INTEG_TESTS += tests/integration/netns_xdp.sh
