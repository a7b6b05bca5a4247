#!/usr/bin/env bash
# install.sh: `make install` into a staged tree (DESTDIR=tmp, PREFIX=/usr),
# then what a user of the installed tree relies on: every program runs
# --help; pkg-config finds qasm-agent and a C program including
# <qasm/qasm_agent.h> compiles, links and runs against the staged library;
# man renders every page; the Lua dissector lies where tshark looks and
# loads; systemd-analyze verifies the units (from a second install with a
# real PREFIX, so their ExecStart exists); the bash completion loads and
# offers only flags and subcommands the --help texts document; `make
# uninstall` leaves no file behind. Env: QASM_BUILD (default build).
# Tools that are missing (man, tshark, systemd-analyze) are reported as not
# checked; help2man missing: SKIP (make deps installs it).
set -u
slow=${QASM_TEST_SLOWDOWN:-1}  # factor on every bound (busy machines)
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${QASM_BUILD:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
command -v help2man >/dev/null || { echo "SKIP: help2man not installed (make deps)"; exit 77; }
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config not installed"; exit 77; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
errors=0
fail() { echo "FAIL: $*"; errors=$((errors + 1)); }
ok() { echo "ok: $*"; }
notchecked() { echo "SKIP-CHECK: $* (the rest of the test ran)"; }
progs="qasm-tracker qasm-trackctl qasm-mbox qasm-mboxctl qasm-replay qasm-capture qasm-h3-server \
qasm-h3-client qasm-bench qasm-mbox-bench qasm-tracker-bench"
# The eBPF client agent is built (and installed) only with the BPF toolchain.
[ -x "$B/qasm-agentd" ] && progs="$progs qasm-agentd"
# So is the tc-BPF normaliser, with its unit.
[ -x "$B/qasm-normalize" ] && progs="$progs qasm-normalize"
mk() { timeout $((180 * slow)) make -C "$root" --no-print-directory NODEPS=1 O="$B" "$@" >"$work/make.log" 2>&1; }

mk install DESTDIR="$stage" PREFIX=/usr || { tail -20 "$work/make.log"; fail "make install"; exit 1; }
ok "make install DESTDIR=\$tmp PREFIX=/usr"
multiarch=$(cc -print-multiarch 2>/dev/null)
libdir=/usr/lib${multiarch:+/$multiarch}

# 1. the programs: exactly the user-facing ones, each answering --help
installed=$(ls "$stage/usr/bin" | sort | tr '\n' ' ')
expected=$(tr ' ' '\n' <<<"$progs" | grep . | sort | tr '\n' ' ')
[ "$installed" = "$expected" ] || fail "bin/ holds [$installed], expected [$expected]"
for p in $progs; do
  out=$(timeout $((10 * slow)) "$stage/usr/bin/$p" --help 2>&1)
  rc=$?
  if [ $rc -ne 0 ] || ! grep -qi "usage" <<<"$out"; then fail "$p --help: exit $rc"; fi
  timeout $((10 * slow)) "$stage/usr/bin/$p" --help >"$work/help.$p" 2>&1
done
ok "bin/: $(wc -w <<<"$progs") programs, each --help exits 0"

# 2. the agent for linking: installed under its SONAME with the link for -lqasm-agent;
# pkg-config against the staged tree, compile, link, run
[ -f "$stage$libdir/libqasm-agent.so.1" ] && [ ! -L "$stage$libdir/libqasm-agent.so.1" ] ||
  fail "libqasm-agent.so.1 (the SONAME) not installed as a file"
[ "$(readlink "$stage$libdir/libqasm-agent.so")" = libqasm-agent.so.1 ] ||
  fail "libqasm-agent.so is not a link to libqasm-agent.so.1"
export PKG_CONFIG_SYSROOT_DIR=$stage PKG_CONFIG_PATH=$stage$libdir/pkgconfig
flags=$(pkg-config --cflags --libs qasm-agent 2>&1) || fail "pkg-config qasm-agent: $flags"
pfx=$(pkg-config --variable=prefix qasm-agent)
[ "$pfx" = /usr ] || [ "$pfx" = "$stage/usr" ] || fail "qasm-agent.pc: prefix is $pfx, not /usr"
case " $flags " in *" -I$stage/usr/include "*) ;; *) fail "pkg-config --cflags: not the stage: $flags" ;; esac
case " $flags " in *" -L$stage$libdir "*) ;; *) fail "pkg-config --libs: not the stage: $flags" ;; esac
cat >"$work/use_agent.c" <<'EOF'
#include <stdio.h>
#include <qasm/qasm_agent.h>
int main(void)
{
    printf("agent enabled: %d\n", qasm_agent_enabled());
    return 0;
}
EOF
# shellcheck disable=SC2086
if cc -o "$work/use_agent" "$work/use_agent.c" $flags 2>"$work/cc.log"; then
  out=$(LD_LIBRARY_PATH=$stage$libdir timeout 10 "$work/use_agent" 2>&1)
  if [ "$out" = "agent enabled: 0" ]; then
    ok "pkg-config qasm-agent: $flags; a program links and runs"
  else
    fail "the linked program printed [$out]"
  fi
  LD_LIBRARY_PATH=$stage$libdir ldd "$work/use_agent" | grep -q "libqasm-agent.so.1 => $stage$libdir/" ||
    fail "the program does not load the staged libqasm-agent.so"
else
  cat "$work/cc.log"; fail "cc with \$(pkg-config --cflags --libs qasm-agent)"
fi
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

# 3. man pages: one per program, each renders with its NAME line
if command -v man >/dev/null; then
  for p in $progs; do
    page=$stage/usr/share/man/man1/$p.1
    [ -f "$page" ] || { fail "no man page $p.1"; continue; }
    text=$(MANWIDTH=80 timeout $((20 * slow)) man -l "$page" 2>&1) || fail "man -l $p.1"
    grep -q "^NAME" <<<"$text" && grep -q "^ *$p - " <<<"$text" && grep -q "^SYNOPSIS" <<<"$text" ||
      fail "man $p.1 lacks NAME/SYNOPSIS: $(head -5 <<<"$text")"
  done
  ok "man -l renders the $(wc -w <<<"$progs") pages (NAME and SYNOPSIS)"
else
  notchecked "man not installed: pages not rendered"
  for p in $progs; do [ -s "$stage/usr/share/man/man1/$p.1" ] || fail "no man page $p.1"; done
fi

# 4. the Lua dissector: in the directory tshark reads global Lua plugins from
lua=$stage$libdir/wireshark/plugins/qasm-tracker.lua
[ -f "$lua" ] || fail "no $lua"
if command -v tshark >/dev/null; then
  dir=$(timeout 20 tshark -G folders 2>/dev/null | sed -n 's/^Global Lua Plugins:[[:space:]]*//p')
  [ "$dir" = "$libdir/wireshark/plugins" ] || fail "tshark loads Lua plugins from [$dir], installed into $libdir/wireshark/plugins"
  if timeout 20 tshark -G protocols -X "lua_script:$lua" 2>/dev/null | grep -q $'\tqasmt$'; then
    ok "dissector in $dir, loads (protocol qasmt)"
  else
    fail "the staged dissector does not register qasmt"
  fi
else
  notchecked "tshark not installed: the dissector was not loaded"
fi

# 5. bash completion: loads, one entry per program, offers documented words only
comp=$stage/usr/share/bash-completion/completions
bash -n "$comp/qasm" || fail "bash -n on the completion script"
for p in $progs; do [ -e "$comp/$p" ] || fail "no completion entry for $p"; done
complete_words() { # complete_words WORD...: what TAB offers after those words
  bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _qasm_complete "$1"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$comp/qasm" "$@"
}
documented() { grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" "$work/help.$1"; }
nflags=0
for p in $progs; do
  offered=$(complete_words "$p" --)
  [ -n "$offered" ] || fail "$p: no flag offered"
  for f in $offered; do
    nflags=$((nflags + 1))
    documented "$p" "$f" || fail "$p: completion offers $f, which --help does not document"
  done
done
for p in qasm-trackctl qasm-bench qasm-mbox; do
  subs=$(complete_words "$p" "")
  [ -n "$subs" ] || fail "$p: no subcommand offered"
  for s in $subs; do documented "$p" "$s" || fail "$p: completion offers subcommand $s, not in --help"; done
done
[ "$(complete_words qasm-trackctl "" | tr '\n' ' ')" = "dump keygen query report stats watch " ] ||
  fail "qasm-trackctl subcommands: $(complete_words qasm-trackctl "" | tr '\n' ' ')"
complete_words qasm-bench run "" | grep -qx table1 || fail "qasm-bench run: no experiment offered"
[ "$(complete_words qasm-mbox nat --mode "" | tr '\n' ' ')" = "default reactive proactive " ] ||
  fail "qasm-mbox --mode values"
ok "completion: $nflags flags offered, all documented; subcommands, experiments, --mode values"

# 6. systemd units: a second install with a real prefix so ExecStart exists
prefix=$work/prefix
mk install PREFIX="$prefix" || { tail -20 "$work/make.log"; fail "make install PREFIX=$prefix"; }
units=$prefix/lib/systemd/system
for u in qasm-tracker.service qasm-mbox@.service; do
  [ -f "$units/$u" ] || fail "no unit $u"
done
grep -qx "ExecStart=$prefix/bin/qasm-tracker \$ARGS" "$units/qasm-tracker.service" ||
  fail "qasm-tracker.service: ExecStart does not name $prefix/bin/qasm-tracker"
grep -qx "EnvironmentFile=/etc/qasm/mbox-%i.conf" "$units/qasm-mbox@.service" ||
  fail "qasm-mbox@.service: no EnvironmentFile=/etc/qasm/mbox-%i.conf"
vunits="./qasm-tracker.service ./qasm-mbox@nat.service"
if [ -x "$B/qasm-normalize" ]; then
  grep -q "^ExecStart=$prefix/bin/qasm-normalize --inside %i " "$units/qasm-normalize@.service" ||
    fail "qasm-normalize@.service: ExecStart does not name $prefix/bin/qasm-normalize --inside %i"
  vunits="$vunits ./qasm-normalize@lo.service"
fi
[ -f "$stage/lib/systemd/system/qasm-tracker.service" ] || fail "PREFIX=/usr: unit not in /lib/systemd/system"
if command -v systemd-analyze >/dev/null; then
  v=$work/units
  mkdir -p "$v"
  cp "$units/qasm-tracker.service" "$v/"
  cp "$units/qasm-mbox@.service" "$v/qasm-mbox@nat.service"
  [ -f "$units/qasm-normalize@.service" ] && cp "$units/qasm-normalize@.service" "$v/qasm-normalize@lo.service"
  out=$(cd "$v" && MANPATH=$prefix/share/man timeout 30 systemd-analyze verify $vunits 2>&1)
  if [ $? -eq 0 ] && [ -z "$out" ]; then
    ok "systemd-analyze verify: the units clean ($vunits)"
  else
    fail "systemd-analyze verify: $out"
  fi
else
  notchecked "systemd-analyze not installed: units not verified"
fi
mk uninstall PREFIX="$prefix" || fail "make uninstall PREFIX=$prefix"
left=$(find "$prefix" ! -type d 2>/dev/null)
[ -z "$left" ] || fail "uninstall PREFIX=$prefix left: $left"

# 7. uninstall: no file left, directories only
mk uninstall DESTDIR="$stage" PREFIX=/usr || fail "make uninstall"
left=$(find "$stage" ! -type d)
if [ -z "$left" ]; then
  ok "make uninstall leaves $(find "$stage" -type d | wc -l) empty directories, no file"
else
  fail "make uninstall left: $left"
fi

[ $errors -eq 0 ] || { echo "install.sh: $errors failure(s)"; exit 1; }
echo "install.sh: all checks passed"
