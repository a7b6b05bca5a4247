#!/bin/sh
# help-for-man.sh PROGRAM: PROGRAM's --help as help2man reads it. The usage
# block becomes "Usage: ..." with one "or: PROGRAM ..." line per form (an
# indented line that does not start with the program's name continues the
# previous form), so help2man makes it the SYNOPSIS. Exits 0 even if --help
# does not, so every program gets a page.
prog=$1
name=$(basename "$prog")
"$prog" --help 2>&1 | awk -v name="$name" '
  NR == 1 && tolower($1) == "usage:" { sub(/^[Uu]sage:[ \t]*/, ""); form = $0; u = 1; next }
  u && /^[ \t]+[^ \t]/ {
    line = $0; sub(/^[ \t]+/, "", line)
    if (index(line, name " ") == 1 || line == name) { print (n++ ? "  or: " : "Usage: ") form; form = line }
    else form = form " " line
    next
  }
  u { print (n++ ? "  or: " : "Usage: ") form; u = 0 }
  { print }
  END { if (u) print (n++ ? "  or: " : "Usage: ") form }'
exit 0
