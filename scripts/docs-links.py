#!/usr/bin/python3
"""docs-links.py [FILE.md...]: the Markdown files of the repository stand alone.

Fails (exit 1) when a file
  - links ([text](target)) to a relative path that does not exist in the
    repository, or to an #anchor that no heading of the target file makes;
  - names, in backquotes, a path of the repository (lib/..., docs/...,
    tests/..., a file with an extension) that does not exist;
  - refers to what a user of the repository does not have: design notes,
    the workspace outside it (../shared), issue numbers.
Without FILE: every *.md file tracked by git (or found) outside build/.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOP = ("lib", "docs", "tests", "middleboxes", "tracker", "client-agent", "migration-bench",
       "captures", "scripts", "packaging")
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
TICK = re.compile(r"`([^`\s]+)`")
FORBIDDEN = [
    (re.compile(r"\bDESIGN\.md\b"), "a design note the repository does not have"),
    (re.compile(r"(\.\./|/work/)shared\b"), "a path outside the repository"),
    (re.compile(r"\bnotes? §\s*\d"), "a section of notes the repository does not have"),
    (re.compile(r"\b(FINDINGS|PEERS|STYLE)\.md\b"), "a note the repository does not have"),
    (re.compile(r"\b[Ii]ssues? #?\d+\b"), "an issue number (say what it is instead)"),
    (re.compile(r"\b[Tt]he issue's\b"), "an issue the reader cannot see (say what it asked)"),
]


def md_files():
    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "*.md", "**/*.md"],
                             capture_output=True, text=True, check=True).stdout.split()
        files = sorted(set(out))
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, fs in os.walk(ROOT):
            dirs[:] = [x for x in dirs if not x.startswith(".") and x != "build"]
            files += [os.path.relpath(os.path.join(d, f), ROOT) for f in fs if f.endswith(".md")]
    return [os.path.join(ROOT, f) for f in files]


def slug(heading):
    """GitHub's anchor of a heading."""
    h = heading.strip().lower()
    h = re.sub(r"[`*_\[\]()]", "", h)
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path):
    out, fence = set(), False
    for line in open(path, encoding="utf-8"):
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and line.startswith("#"):
            out.add(slug(line.lstrip("#")))
    return out


def check(path):
    errors = []
    rel = os.path.relpath(path, ROOT)
    here = os.path.dirname(path)
    fence = False
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
        for rx, why in FORBIDDEN:
            m = rx.search(line)
            if m:
                errors.append("%s:%d: '%s': %s" % (rel, n, m.group(0), why))
        if fence:
            continue
        for m in LINK.finditer(line):
            target = m.group(1) or m.group(2)
            if re.match(r"[a-z]+:", target):
                continue                       # http:, https:, mailto:
            fname, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(here, fname)) if fname else path
            if not dest.startswith(ROOT + os.sep) and dest != ROOT:
                errors.append("%s:%d: link %s leaves the repository" % (rel, n, target))
            elif not os.path.exists(dest):
                errors.append("%s:%d: link %s: no such file" % (rel, n, target))
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                errors.append("%s:%d: link %s: no heading makes #%s" % (rel, n, target, anchor))
        for m in TICK.finditer(line):
            p = m.group(1).rstrip(".,:;")
            if not re.match(r"(%s)/[\w./+-]*\.[A-Za-z0-9]+$" % "|".join(TOP), p):
                continue
            if not os.path.exists(os.path.join(ROOT, p)):
                errors.append("%s:%d: `%s`: no such file in the repository" % (rel, n, p))
    return errors


def main(argv):
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    files = [os.path.abspath(a) for a in argv] or md_files()
    errors = []
    for f in files:
        errors += check(f)
    for e in errors:
        print("docs-links: " + e)
    print("docs-links: %d files, %d problems" % (len(files), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
