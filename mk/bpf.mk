# The project's one BPF toolchain (included by the Makefile before the
# module.mk files): clang with the BPF target, bpftool (gen skeleton) and
# libbpf-dev, found once here; `make deps` installs them. Each BPF program
# is NAME.bpf.c in a folder listed in BPF_SRC_DIRS; the rules below compile
# it against the UAPI headers of linux-libc-dev and libbpf's bpf_helpers.h
# (so the object does not depend on the build machine's kernel) into
# $(O)/gen/NAME.bpf.o, with its header dependencies, and generate its libbpf
# skeleton $(O)/gen/NAME.skel.h (named NAME).
#
# A module builds its BPF programs under `ifeq ($(QASM_BPF),1)`, links
# $(BPF_LIBS), and otherwise names what it skips with
# $(call bpf_skip,WHAT): the build then prints one line naming what is
# missing and every program skipped.
# Hide the toolchain to check that path: make O=build-nobpf BPF_BPFTOOL=

BPF_CLANG   := $(shell command -v clang 2>/dev/null)
BPF_BPFTOOL := $(shell command -v bpftool 2>/dev/null || ls /usr/sbin/bpftool 2>/dev/null)
BPF_LIBBPF  := $(shell pkg-config --exists libbpf 2>/dev/null && echo yes)
BPF_MISSING  = $(strip $(if $(BPF_CLANG),,clang) $(if $(BPF_BPFTOOL),,bpftool) $(if $(BPF_LIBBPF),,libbpf-dev))
QASM_BPF    := $(if $(BPF_MISSING),0,1)

BPF_MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
BPF_CFLAGS  := -O2 -g -target bpf -Wall -Wextra -Werror -Wno-unused-parameter -iquote . \
               $(if $(BPF_MULTIARCH),-idirafter /usr/include/$(BPF_MULTIARCH))
BPF_SRC_DIRS := middleboxes/xdp middleboxes/normalize agentd
BPF_SKIPPED :=
bpf_comma := ,
bpf_skip = $(eval BPF_SKIPPED := $(BPF_SKIPPED)$(if $(BPF_SKIPPED),$(bpf_comma) )$(1))

ifeq ($(QASM_BPF),1)
BPF_LIBS = $(call pc,--libs,libbpf)

define bpf_obj_rule
$$(O)/gen/%.bpf.o: $(1)/%.bpf.c
	@mkdir -p $$(@D)
	$$(if $$(filter 0,$$(V)),@echo "  BPF     $$@")
	$$(Q)$$(BPF_CLANG) $$(BPF_CFLAGS) -MMD -MP -MF $$@.d -c -o $$@ $$<
endef
$(foreach d,$(BPF_SRC_DIRS),$(eval $(call bpf_obj_rule,$(d))))

$(O)/gen/%.skel.h: $(O)/gen/%.bpf.o
	$(if $(filter 0,$(V)),@echo "  SKEL    $@")
	$(Q)$(BPF_BPFTOOL) gen skeleton $< name $* >$@.tmp && mv $@.tmp $@

# Keep the objects (intermediates of the skeletons): test_*_prog load them.
.SECONDARY: $(patsubst %.bpf.c,$(O)/gen/%.bpf.o,$(notdir $(wildcard $(addsuffix /*.bpf.c,$(BPF_SRC_DIRS)))))
-include $(wildcard $(O)/gen/*.bpf.o.d)
else
BPF_LIBS =
EXTRA_BINS += bpf-skipped
bpf-skipped:
	@echo "  SKIP    $(BPF_SKIPPED): missing $(BPF_MISSING) (make deps)"
endif
