#!/usr/bin/python3
"""docs-examples.py: the examples of README.md and docs/*.md, extracted, run and checked.

  docs-examples.py check [FILE.md...]       every code block is marked (no run)
  docs-examples.py list  [FILE.md...]       the examples, their needs and timeouts
  docs-examples.py run   [FILE.md...] [--only NAME]...
                                            run every example, check its expectations

Without FILE, README.md and docs/*.md of the repository. The marker syntax is
described in docs/TESTBED.md ("Examples in the docs"). In short:

  <!-- example: NAME [needs: root,netns,redis,slow,TOOL] [timeout: 60] [setup: NAME] -->
  ```sh
  commands, run with bash -e in a scratch directory
  ```
  <!-- expect:
  requests_ok == 30              a Python expression on numbers found in the output
  re: "pool_exhausted": [1-9]    a line of the output matches
  no: error                      no line of the output matches
  exit: 1                        the script's exit status (default 0)
  -->

  <!-- not-run: WHY -->          a shell block that is shown, never run
  ```sh ... ```

<!-- examples: one-shell --> anywhere in a file runs its examples in order in
one shell (as a reader pastes them), each checked on its part of the output.

A `console` example holds `$ COMMAND` lines and the output they print: each
shown output line must appear in that order (`...` skips any number).

Every fenced block needs a language; a shell block (sh, bash, shell, console)
needs one of the two markers; an indented code block is refused (fence it).

Each example runs bounded by its timeout (60 s; times QASM_TEST_SLOWDOWN) in
its own process group, killed at the end, in a scratch directory under
$QASM_BUILD/docs-examples/ that links every top-level entry of the
repository (build/ is the build being tested), with the build first in PATH
(so `build/qasm-mbox` and `qasm-mbox` both work), stdin /dev/null. When
unshare(1) can, it runs in its own network namespace (loopback only) and
mount namespace with a private /tmp, so its fixed ports and /tmp files never
meet another run's; otherwise the examples of concurrent runs take turns
(a lock file) on the host's loopback.

Env: QASM_BUILD (default build), QASM_TEST_SLOWDOWN, QASM_DOCS_SLOW=1 (also
run the examples marked `needs: slow`), QASM_TEST_RESULTS (append one
"PASS|FAIL|SKIP docs FILE:NAME 0 0" line per example, as run-tests.sh does).
Exit status: 1 if a block is unmarked or an example failed, 2 on bad usage.
"""
import ast
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHELL_LANGS = {"sh", "bash", "shell", "console", "zsh"}
# A block in another language (or none) that starts like a command line
# would escape the rule that commands are marked: it must be labelled sh.
COMMANDISH = re.compile(r"^\s*(\$ |sudo |make\b|build/|qasm-|captures/|scripts/|tests/|"
                        r"migration-bench/|middleboxes/|tracker/|python3 |redis-|ip netns|cd )")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)")
MARK = re.compile(r"^\s*<!--\s*(example|not-run|expect)\b\s*:?(.*?)(-->)?\s*$")
ONE_SHELL = re.compile(r"^\s*<!--\s*examples\s*:\s*one-shell\s*-->\s*$")
one_shell = set()           # the files marked <!-- examples: one-shell -->
KEYS = {"needs", "timeout", "setup"}
NEEDS = {"root", "netns", "redis", "slow"}
DEFAULT_TIMEOUT = 60


class Block:
    """One fenced code block and the markers around it."""

    def __init__(self, path, line, lang, body):
        self.path, self.line, self.lang, self.body = path, line, lang, body
        self.kind = None        # "example", "not-run" or None
        self.name = None
        self.opts = {}
        self.expect = []        # (line number, assertion text)

    @property
    def where(self):
        return "%s:%d" % (os.path.relpath(self.path, ROOT), self.line)

    @property
    def ident(self):
        return "%s:%s" % (os.path.relpath(self.path, ROOT), self.name)


def parse_opts(text):
    """'NAME needs: a,b timeout: 30' -> (NAME, {needs: [...], timeout: 30}, error)."""
    text = text.strip()
    m = re.match(r"([A-Za-z0-9][A-Za-z0-9_.-]*)\s*(.*)$", text)
    if not m:
        return None, {}, "example: needs a NAME (letters, digits, - _ .)"
    name, rest = m.group(1), m.group(2).strip()
    opts = {}
    for part in re.findall(r"\[?\s*(\w[\w-]*)\s*:\s*([^\]\s]+)\s*\]?", rest):
        key, val = part
        if key not in KEYS:
            return name, opts, "unknown key '%s' (%s)" % (key, ", ".join(sorted(KEYS)))
        opts[key] = val
    leftover = re.sub(r"\[?\s*\w[\w-]*\s*:\s*[^\]\s]+\s*\]?", "", rest).strip()
    if leftover:
        return name, opts, "cannot read '%s' (KEY: VALUE)" % leftover
    if "needs" in opts:
        opts["needs"] = [n for n in re.split(r"[,|]", opts["needs"]) if n]
    if "timeout" in opts:
        if not opts["timeout"].isdigit():
            return name, opts, "timeout: expected seconds, got '%s'" % opts["timeout"]
        opts["timeout"] = int(opts["timeout"])
    return name, opts, None


def read_comment(lines, i):
    """The HTML comment starting at lines[i]: (kind, text, index after it)."""
    m = MARK.match(lines[i])
    kind, text = m.group(1), m.group(2)
    if m.group(3):
        return kind, text, i + 1
    parts = [text]
    j = i + 1
    while j < len(lines) and "-->" not in lines[j]:
        parts.append(lines[j])
        j += 1
    if j < len(lines):
        parts.append(lines[j].split("-->")[0])
    return kind, "\n".join(parts), j + 1


def parse(path):
    """(blocks, errors) of one Markdown file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    rel = os.path.relpath(path, ROOT)
    blocks, errors = [], []
    pending = None          # (kind, text, line) of a marker waiting for its block
    last = None             # the last block, for an expect comment
    in_list = False
    prev_blank = True
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
            start = i
            body = []
            i += 1
            while i < len(lines):
                c = lines[i]
                if c.strip().startswith(fence[0] * len(fence)) and not c.strip().strip(fence[0]):
                    break
                body.append(c[len(indent):] if c.startswith(indent) else c.lstrip())
                i += 1
            if i >= len(lines):
                errors.append("%s:%d: fence never closed" % (rel, start + 1))
            b = Block(path, start + 1, lang, body)
            if pending:
                kind, text, mline = pending
                b.kind = kind
                if kind == "example":
                    b.name, b.opts, err = parse_opts(text)
                    if err:
                        errors.append("%s:%d: %s" % (rel, mline, err))
                else:
                    b.opts["why"] = text.strip()
                    if not b.opts["why"]:
                        errors.append("%s:%d: not-run: say why" % (rel, mline))
                pending = None
            blocks.append(b)
            last = b
            i += 1
            prev_blank = False
            continue
        if ONE_SHELL.match(line):
            one_shell.add(path)
            i += 1
            continue
        mk = MARK.match(line)
        if mk:
            kind, text, nxt = read_comment(lines, i)
            if kind == "expect":
                if last is None or last.kind != "example" or last.expect:
                    errors.append("%s:%d: expect: not right after an example's block"
                                  % (rel, i + 1))
                else:
                    for k, t in enumerate(text.split("\n")):
                        if t.strip():
                            last.expect.append((i + 1 + k, t.strip()))
            else:
                if pending:
                    errors.append("%s:%d: marker without a code block" % (rel, pending[2]))
                pending = (kind, text, i + 1)
            i = nxt
            continue
        stripped = line.strip()
        if not stripped:
            prev_blank = True
            i += 1
            continue
        if pending and not stripped.startswith("<!--"):
            errors.append("%s:%d: marker not followed by a code block" % (rel, pending[2]))
            pending = None
        if re.match(r"\s*([-*+]|\d+\.)\s", line):
            in_list = True
        elif not line.startswith(" ") and not line.startswith("\t"):
            in_list = False
        if prev_blank and not in_list and (line.startswith("    ") or line.startswith("\t")):
            errors.append("%s:%d: indented code block: fence it (```sh with a marker, "
                          "or ```text)" % (rel, i + 1))
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                i += 1
            continue
        if not line.startswith(" "):
            last = None if not stripped.startswith("<!--") else last
        prev_blank = False
        i += 1
    if pending:
        errors.append("%s:%d: marker without a code block" % (rel, pending[2]))
    errors += check_blocks(rel, blocks)
    return blocks, errors


def check_blocks(rel, blocks):
    errors = []
    names = {}
    for b in blocks:
        if not b.lang:
            errors.append("%s: code block without a language: say which (sh, text, json, "
                          "c, ini...)" % b.where)
        shell = b.lang in SHELL_LANGS
        if shell and b.kind is None:
            errors.append("%s: unmarked %s block: precede it with <!-- example: NAME --> "
                          "or <!-- not-run: WHY -->" % (b.where, b.lang))
        if not shell and b.kind == "example":
            errors.append("%s: example: only sh, bash or console blocks run" % b.where)
        first = next((l for l in b.body if l.strip() and not l.lstrip().startswith("#")), "")
        if not shell and b.kind is None and COMMANDISH.match(first):
            errors.append("%s: a %s block that starts like a command (%s): label it sh and "
                          "mark it" % (b.where, b.lang or "plain", first.strip()[:40]))
        if b.kind == "example" and b.name:
            if b.name in names:
                errors.append("%s: example %s already at line %d" % (b.where, b.name,
                                                                     names[b.name].line))
            names[b.name] = b
            setup = b.opts.get("setup")
            if setup and setup not in names:
                errors.append("%s: setup: %s is not an example above it" % (b.where, setup))
            for lno, t in b.expect:
                err = check_assertion(t)
                if err:
                    errors.append("%s:%d: %s" % (rel, lno, err))
    return errors


# --- expectations -----------------------------------------------------------

ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub,
           ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Compare, ast.Eq, ast.NotEq,
           ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Name, ast.Load, ast.Constant)


def check_assertion(t):
    """None if the assertion line can be evaluated, else why not."""
    m = re.match(r"(re|no|exit)\s*:\s*(.*)$", t)
    if m:
        if m.group(1) == "exit":
            return None if m.group(2).isdigit() else "exit: expected a number"
        try:
            re.compile(m.group(2))
        except re.error as e:
            return "bad regular expression '%s': %s" % (m.group(2), e)
        return None
    try:
        tree = ast.parse(t, mode="eval")
    except SyntaxError:
        return "cannot read the assertion '%s' (re:, no:, exit: or an expression)" % t
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED):
            return "assertion '%s': only names, numbers, + - * /, comparisons, and/or/not" % t
    return None


def value_of(name, text):
    """The last number printed after NAME ("NAME": N, NAME: N, NAME=N, NAME N)."""
    pat = re.compile(r'(?<![\w.])"?' + re.escape(name) +
                     r'"?[ \t]*(?:[:=][ \t]*|[ \t]+)(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\b')
    found = pat.findall(text)
    return float(found[-1]) if found else None


def evaluate(expect, out, rc, secs):
    """The assertions that do not hold, each with what was seen."""
    failed = []
    want_rc = 0
    for _, t in expect:
        m = re.match(r"exit\s*:\s*(\d+)$", t)
        if m:
            want_rc = int(m.group(1))
    if rc != want_rc:
        failed.append("exit status %d, expected %d" % (rc, want_rc))
    lines = out.split("\n")
    for _, t in expect:
        m = re.match(r"(re|no)\s*:\s*(.*)$", t)
        if m:
            hit = any(re.search(m.group(2), l) for l in lines)
            if m.group(1) == "re" and not hit:
                failed.append("no output line matches %s" % m.group(2))
            if m.group(1) == "no" and hit:
                failed.append("an output line matches %s" % m.group(2))
            continue
        if t.startswith("exit"):
            continue
        tree = ast.parse(t, mode="eval")
        env = {"seconds": secs}
        missing = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id not in env:
                v = value_of(node.id, out)
                if v is None:
                    missing.append(node.id)
                env[node.id] = v
        if missing:
            failed.append("%s: %s not in the output" % (t, ", ".join(missing)))
            continue
        if not eval(compile(tree, "<expect>", "eval"), {"__builtins__": {}}, env):
            seen = ", ".join("%s=%g" % (k, v) for k, v in sorted(env.items()))
            failed.append("%s does not hold (%s)" % (t, seen))
    return failed


def console_split(body):
    """A console block: (script, expected output lines)."""
    script, want, cont = [], [], False
    for l in body:
        if cont or l.startswith("$ "):
            script.append(l[2:] if l.startswith("$ ") and not cont else l)
            cont = l.rstrip().endswith("\\")
        else:
            want.append(l.rstrip())
    return "\n".join(script) + "\n", want


def console_missing(want, out):
    """The first shown output line not found (in order) in the output, or None."""
    got = [l.rstrip() for l in out.split("\n")]
    pos = 0
    for w in want:
        if w.strip() in ("", "..."):
            continue
        while pos < len(got) and got[pos] != w:
            pos += 1
        if pos >= len(got):
            return w
        pos += 1
    return None


# --- running ----------------------------------------------------------------

def slowdown():
    try:
        return max(1.0, float(os.environ.get("QASM_TEST_SLOWDOWN", "1")))
    except ValueError:
        return 1.0


def isolation():
    """The unshare(1) prefix that gives an example its own net and mount namespaces."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return None
    cands = [["unshare", "--net", "--mount", "--fork"]] if os.geteuid() == 0 else []
    cands.append(["unshare", "--map-root-user", "--net", "--mount", "--fork"])
    for c in cands:
        try:
            r = subprocess.run(c + ["sh", "-c", "ip link set lo up && mount -t tmpfs t /tmp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            return c
    return None


def unmet(b):
    """Why this example cannot run here, or None."""
    for n in b.opts.get("needs", []):
        if n == "root" and os.geteuid() != 0:
            return "needs root"
        if n == "netns":
            if os.geteuid() != 0:
                return "needs root for network namespaces"
            r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                return "ip netns does not work here"
        elif n == "redis":
            if not shutil.which("redis-server") or not shutil.which("redis-cli"):
                return "needs redis-server and redis-cli (apt-get install redis-server)"
        elif n == "slow":
            if os.environ.get("QASM_DOCS_SLOW") != "1":
                return "slow: runs with QASM_DOCS_SLOW=1"
        elif n not in NEEDS and not shutil.which(n):
            return "needs %s" % n
    return None


def script_of(b, by_name):
    """The bash text of an example: its setup chain first, then its own lines."""
    parts, seen, cur = [], set(), b
    while cur is not None and cur.name not in seen:
        seen.add(cur.name)
        text = console_split(cur.body)[0] if cur.lang == "console" else "\n".join(cur.body) + "\n"
        parts.insert(0, "# --- %s (%s)\n%s" % (cur.name, cur.where, text))
        cur = by_name.get(cur.opts.get("setup"))
    return "".join(parts)


PRELUDE = """\
exec 9>"$QASM_EXAMPLE_TRACE"; BASH_XTRACEFD=9; set -x
"""


def prepare_scratch(scratch, build):
    if os.path.isdir(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    bname = os.path.realpath(build)
    for e in sorted(os.listdir(ROOT)):
        if e.startswith(".") or os.path.realpath(os.path.join(ROOT, e)) == bname:
            continue
        os.symlink(os.path.join(ROOT, e), os.path.join(scratch, e))
    os.symlink(bname, os.path.join(scratch, "build"))


def become_subreaper():
    """Orphans of an example come to us (not to init), so they are reaped at once."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_group(pgid, grace):
    """SIGTERM the example's process group, SIGKILL what is left after grace s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            reap()
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)


def execute(ident, text, limit, build, iso, workroot):
    """Run one bash script as an example: (rc or None on timeout, secs, output, tail of
    the trace, scratch directory)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", ident)
    scratch = os.path.join(workroot, safe)
    prepare_scratch(scratch, build)
    script = os.path.join(workroot, safe + ".sh")
    trace = os.path.join(workroot, safe + ".trace")
    logf = os.path.join(workroot, safe + ".log")
    with open(script, "w") as f:
        f.write(PRELUDE + text)
    env = dict(os.environ)
    env["PATH"] = os.path.realpath(build) + os.pathsep + env.get("PATH", "")
    env["QASM_EXAMPLE_TRACE"] = trace
    inner = 'cd "$1" && exec bash -e "$2"'
    if iso:
        inner = ('ip link set lo up && mount -t tmpfs -o mode=1777 qasm-docs /tmp || exit 97; '
                 + inner)
    cmd = (iso or []) + ["bash", "-c", inner, "example", scratch, script]
    lock = None
    if not iso:       # shared loopback: concurrent runs take turns
        lock = open(os.path.join("/tmp", "qasm-docs-examples.lock"), "a")
        fcntl.flock(lock, fcntl.LOCK_EX)
    start = time.monotonic()
    with open(logf, "w") as out:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        try:
            rc = p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            rc = None
        secs = time.monotonic() - start
        kill_group(p.pid, 3)
        if rc is None:
            p.wait()
    if lock:
        lock.close()
    output = open(logf, errors="replace").read()
    tr = open(trace, errors="replace").read().split("\n")[-15:] if os.path.exists(trace) else []
    if iso and rc == 97:
        output += "\n(could not set up the namespaces)"
    for f in (script, trace, logf):
        if os.path.exists(f):
            os.unlink(f)
    return rc, secs, output, tr, scratch


def judge(b, output, rc, secs):
    """The expectations of one example that its output does not meet."""
    failed = evaluate(b.expect, output, rc, secs)
    if b.lang == "console":
        miss = console_missing(console_split(b.body)[1], output)
        if miss is not None:
            failed.append("shown output line not printed: %s" % miss)
    return failed


def report(failed, output, tr, scratch):
    return failed + ["--- output (last 40 lines):"] + output.split("\n")[-40:] + \
        ["--- last commands:"] + tr + ["--- kept in %s" % scratch]


def run_one(b, by_name, build, iso, workroot):
    """(status, seconds, details) of one example, its setup chain first."""
    why = unmet(b)
    if why:
        return "SKIP", 0.0, [why]
    limit = b.opts.get("timeout", DEFAULT_TIMEOUT) * slowdown()
    rc, secs, output, tr, scratch = execute(b.ident, script_of(b, by_name), limit, build, iso,
                                            workroot)
    if rc is None:
        return "FAIL", secs, report(["timed out after %.0f s" % limit], output, tr, scratch)
    failed = judge(b, output, rc, secs)
    if failed:
        return "FAIL", secs, report(failed, output, tr, scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    return "PASS", secs, []


SEG = re.compile(r"^@@qasm-example (\S+) ([0-9.]+)@@$", re.M)


def run_session(examples, build, iso, workroot):
    """The examples of a file marked one-shell, in order in one script (as a reader
    pastes them into one shell; setup: is not used): [(example, status, secs, details)]."""
    for b in examples:
        why = unmet(b)
        if why:
            return [(x, "SKIP", 0.0, ["%s (one shell with %s)" % (why, b.name)]) for x in examples]
    mark = "printf '\\n@@qasm-example %s %s@@\\n' '{0}' \"$(date +%s.%N)\"\n"
    text = ""
    for b in examples:
        body = console_split(b.body)[0] if b.lang == "console" else "\n".join(b.body) + "\n"
        text += mark.replace("{0}", b.name) + "# --- %s (%s)\n%s" % (b.name, b.where, body)
    text += mark.replace("{0}", "@end")
    limit = sum(b.opts.get("timeout", DEFAULT_TIMEOUT) for b in examples) * slowdown()
    ident = "%s:one-shell" % os.path.relpath(examples[0].path, ROOT)
    rc, secs, output, tr, scratch = execute(ident, text, limit, build, iso, workroot)
    marks = [(m.group(1), float(m.group(2)), m.start(), m.end()) for m in SEG.finditer(output)]
    seen = {name: i for i, (name, _, _, _) in enumerate(marks)}
    results, any_failed = [], False
    for b in examples:
        if b.name not in seen:
            results.append((b, "FAIL", 0.0, ["not reached: an example before it failed"]))
            any_failed = True
            continue
        i = seen[b.name]
        last = i + 1 >= len(marks)
        seg = output[marks[i][3]:] if last else output[marks[i][3]:marks[i + 1][2]]
        t_end = time.time() if last else marks[i + 1][1]
        brc = 0 if not last else (rc if rc is not None else -1)
        failed = ["timed out after %.0f s" % limit] if last and rc is None else \
            judge(b, seg, brc, t_end - marks[i][1])
        if failed:
            any_failed = True
            results.append((b, "FAIL", t_end - marks[i][1], report(failed, seg, tr, scratch)))
        else:
            results.append((b, "PASS", t_end - marks[i][1], []))
    if rc is not None and rc != 0 and "@end" in seen and not any_failed:
        results[-1] = (examples[-1], "FAIL", results[-1][2],
                       report(["exit status %d after the last example" % rc], output, tr, scratch))
        any_failed = True
    if not any_failed:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def default_files():
    docs = os.path.join(ROOT, "docs")
    return [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    only, files = [], []
    while rest:
        a = rest.pop(0)
        if a == "--only" and rest:
            only.append(rest.pop(0))
        elif a.startswith("-"):
            print("docs-examples.py: unknown flag %s; try 'docs-examples.py --help'" % a,
                  file=sys.stderr)
            return 2
        else:
            files.append(os.path.abspath(a))
    if cmd not in ("check", "list", "run"):
        print("docs-examples.py: unknown command %s; try 'docs-examples.py --help'" % cmd,
              file=sys.stderr)
        return 2
    files = files or default_files()
    allblocks, errors = [], []
    for f in files:
        bl, er = parse(f)
        allblocks.append((f, bl))
        errors += er
    for e in errors:
        print("docs: " + e)
    nex = sum(1 for _, bl in allblocks for b in bl if b.kind == "example")
    nnot = sum(1 for _, bl in allblocks for b in bl if b.kind == "not-run")
    if cmd == "check":
        print("docs: %d files, %d examples, %d shown but not run, %d errors"
              % (len(files), nex, nnot, len(errors)))
        return 1 if errors else 0
    if cmd == "list":
        for _, bl in allblocks:
            for b in bl:
                if b.kind == "example":
                    print("%-48s %-22s %4ds  %d checks  %s" % (
                        b.ident, ",".join(b.opts.get("needs", [])) or "-",
                        b.opts.get("timeout", DEFAULT_TIMEOUT), len(b.expect), b.where))
        return 1 if errors else 0
    if errors:
        return 1
    build = os.environ.get("QASM_BUILD", "build")
    if not os.path.isabs(build):
        build = os.path.join(ROOT, build)
    workroot = os.path.join(build, "docs-examples")
    os.makedirs(workroot, exist_ok=True)
    iso = isolation()
    become_subreaper()
    print("docs: %d examples; %s" % (nex, "each in its own network and mount namespace"
                                     if iso else "on the host's loopback (no unshare)"))
    results = os.environ.get("QASM_TEST_RESULTS")
    bad = 0
    for path, bl in allblocks:
        by_name = {b.name: b for b in bl if b.kind == "example"}
        if path in one_shell and not only and by_name:
            print("  (%s: its examples in one shell, in order)" % os.path.relpath(path, ROOT))
            outcome = run_session([b for b in bl if b.kind == "example"], build, iso, workroot)
        else:
            outcome = ((b,) + run_one(b, by_name, build, iso, workroot) for b in bl
                       if b.kind == "example" and (not only or b.name in only or b.ident in only))
        for b, status, secs, details in outcome:
            note = "  (%s)" % details[0] if status == "SKIP" else ""
            print("  %s  docs   %-44s %6.1fs%s" % (status, b.ident, secs, note), flush=True)
            if status == "FAIL":
                bad += 1
                for d in details:
                    print("        " + d)
            if results:
                with open(results, "a") as r:
                    r.write("%s docs %s 0 0\n" % (status, b.ident))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
