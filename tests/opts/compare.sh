#!/usr/bin/env bash
# compare.sh OLD NEW CASES [SUFFIX...]: run two builds of a program on every
# line of CASES (arguments in shell syntax, then SUFFIX) and compare stdout,
# stderr and exit status byte for byte; both run as argv[0] "PROG" (the
# basename, through a symlink found in PATH) in an empty directory, each
# under timeout. Prints the differing
# cases and "N cases, M identical"; exit 1 when any differs. Used to show
# that moving a program's option parsing out of main() changed nothing.
set -u
old=$(readlink -f "$1") new=$(readlink -f "$2") cases=$3; shift 3
name=$(basename "$new")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/old" "$tmp/new"
ln -s "$old" "$tmp/old/$name"
ln -s "$new" "$tmp/new/$name"
n=0 same=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  eval "args=($line)"
  for side in old new; do
    mkdir -p "$tmp/run"; ( cd "$tmp/run" && PATH=$tmp/$side:$PATH exec timeout -s KILL 5 "$name" "${args[@]}" "$@" \
        >"$tmp/$side.out" 2>"$tmp/$side.err" </dev/null ); echo $? >"$tmp/$side.rc"
    rm -rf "$tmp/run"
  done
  # log lines carry the time: not part of the comparison
  for f in "$tmp"/old.err "$tmp"/new.err; do sed -Ei 's/^[0-9]{9,}\.[0-9]+ /TIME /' "$f"; done
  n=$((n + 1))
  if cmp -s "$tmp/old.out" "$tmp/new.out" && cmp -s "$tmp/old.err" "$tmp/new.err" &&
     cmp -s "$tmp/old.rc" "$tmp/new.rc"; then
    same=$((same + 1))
  else
    echo "DIFF: $line"
    diff <(cat "$tmp/old.rc" "$tmp/old.err" "$tmp/old.out") <(cat "$tmp/new.rc" "$tmp/new.err" "$tmp/new.out") | head -8
  fi
done <"$cases"
echo "$name: $n cases, $same identical"
[ "$n" -eq "$same" ]
