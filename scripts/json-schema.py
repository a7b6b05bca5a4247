#!/usr/bin/env python3
"""json-schema.py: check JSON documents the programs wrote against docs/JSON.md.

  json-schema.py keys FILE...            print every field path and its JSON type
  json-schema.py check DOC FILE...       every field of the FILEs is documented
                                         under DOC in docs/JSON.md, and every
                                         field documented there as `always` is
                                         present in each FILE

A FILE holds one JSON document, or one per line (JSON lines, like
`qasm-mboxctl events --json`). Field paths: `a.b` for a member of a nested
object, `a[]` for the elements of an array, `a[].b` for a member of objects
in an array. In docs/JSON.md a table follows a line `<!-- schema: DOC -->`;
its first column is the path in backticks (`*` stands for any one name, for
objects keyed by a reason or a bucket; a trailing `.**` stands for
everything below, described by a table of its own), its second the type,
its third `always` or the condition under which the field is written. A first
column may name several fields (`a`, `b`) that share the rest of the row.
Elements of arrays (`a[]`) are never required (an array may be empty); the
members of objects in an array (`a[].b`) only when the array has one.
"""
import json
import os
import re
import sys

TYPES = {dict: "object", list: "array", str: "string", bool: "bool", int: "integer",
         float: "number", type(None): "null"}


def walk(v, path, out):
    t = TYPES[type(v)]
    if path:
        out.setdefault(path, set()).add(t)
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, path + "." + k if path else k, out)
    elif isinstance(v, list):
        for x in v:
            walk(x, path + "[]", out)


def load(path):
    text = open(path).read()
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(l) for l in text.splitlines() if l.strip()]


def doc_fields(doc, md):
    """{path: (types, when)} of the table under <!-- schema: doc -->."""
    fields, on = {}, False
    for line in open(md):
        m = re.match(r"<!-- schema: (\S+) -->", line)
        if m:
            on = m.group(1) == doc
            continue
        if not on:
            continue
        if line.startswith("|"):
            cols = [c.strip() for c in line.strip().strip("|").split("|")]
            names = re.findall(r"`([^`]+)`", cols[0])
            if names and re.fullmatch(r"(`[^`]+`(, )?)+", cols[0]) and len(cols) >= 3:
                for n in names:
                    fields[n] = (set(re.findall(r"[a-z]+", cols[1])), cols[2])
        elif fields and not line.strip():
            on = False
    return fields


def matches(pattern, path):
    """`*` is any one name; a trailing `.**` is anything below (a table of its own)."""
    rest = pattern.endswith(".**")
    if rest:
        pattern = pattern[:-3]
    rx = "".join("[^.\\[\\]]+" if p == "*" else re.escape(p)
                 for p in re.split(r"(\*)", pattern))
    return re.fullmatch(rx + ("[.\\[].*" if rest else ""), path) is not None


def check(doc, files, md):
    fields = doc_fields(doc, md)
    if not fields:
        print("json-schema: no table <!-- schema: %s --> in %s" % (doc, md))
        return 1
    bad = 0
    for f in files:
        for d in load(f):
            seen = {}
            walk(d, "", seen)
            for path, types in sorted(seen.items()):
                pats = [p for p in fields if matches(p, path)]
                if not pats:
                    print("json-schema: %s: %s: field `%s` is not in %s" % (doc, f, path, md))
                    bad += 1
                    continue
                allowed = fields[pats[0]][0]
                if pats[0].endswith(".**"):
                    continue
                # a number written without a fraction parses as an integer
                if "number" in allowed:
                    allowed = allowed | {"integer"}
                if not types <= allowed:
                    print("json-schema: %s: %s: `%s` is %s, documented as %s" %
                          (doc, f, path, "/".join(sorted(types)), "/".join(sorted(allowed))))
                    bad += 1
            for p, (_, when) in fields.items():
                if when != "always" or p.endswith("[]"):
                    continue  # an array may be empty
                if "[]" in p and not any(matches(p[:p.rindex("[]") + 2], s) for s in seen):
                    continue  # a member of objects in an array: only when there is one
                if not any(matches(p, s) for s in seen):
                    print("json-schema: %s: %s: documented field `%s` (always) is missing" % (doc, f, p))
                    bad += 1
    print("json-schema: %s: %d file(s), %d documented fields, %d problem(s)" %
          (doc, len(files), len(fields), bad))
    return 1 if bad else 0


def main(argv):
    md = os.environ.get("QASM_JSON_DOC",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "JSON.md"))
    if len(argv) >= 2 and argv[0] == "keys":
        seen = {}
        for f in argv[1:]:
            for d in load(f):
                walk(d, "", seen)
        for path, types in sorted(seen.items()):
            print("%s\t%s" % (path, "/".join(sorted(types))))
        return 0
    if len(argv) >= 3 and argv[0] == "check":
        return check(argv[1], argv[2:], md)
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
