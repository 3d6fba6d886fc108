#!/usr/bin/env python3
"""Side-by-side benchmark of `lookout stats` against `inotifywatch` (inotify-tools).

Standard library plus a C compiler (the writer is compiled at start).  Typical use (from the
repository root):

    python3 bench/stats_compare.py --lookout build/lookout           # 3 runs, 1k and 10k trees (~5 min)
    python3 bench/stats_compare.py --lookout build/lookout --quick   # 1 run, 1k tree, smaller bursts

Both tools run the way a user runs them: `inotifywatch -r DIR` and `lookout stats -r DIR`, in
DIR's parent (so rows read `t/e/`), stdout and stderr to files.  They run one at a time on
identical fresh trees under /dev/shm (tmpfs), the order rotating per run, so neither sees the
other's directory listings and CPU/RSS are the tool's alone.  Measured, per run and tool:

1. setup: spawn until "Finished establishing watches, now collecting statistics." on stderr
   (both print it), CPU seconds (utime+stime from /proc) and RSS at that moment, on trees of
   1k dirs / 10k files and 10k dirs / 100k files (compare.py's build_tree).
2. burst: 100 dirs x 10 files made before the tool starts; a C writer then does N appends
   (open O_APPEND, write 1 byte, close) round-robin over the 1000 files, then creates and
   deletes new files.  The true number of inotify records per column is known (open, modify,
   close_write, create, delete).  Once the tool has gone idle (no CPU for 1 s, deadline 120 s)
   it gets SIGINT and its table is parsed: counted/true per column, CPU during the burst,
   peak RSS (VmHWM), and anything it said on stderr about overflows.
3. renames: appends in t/d and t/d/s, `mv t/d t/e`, more appends in t/e and t/e/s: are the
   rows right (t/e/ and t/e/s/ with every modify, no t/d row)?
4. overflow honesty: the tool is SIGSTOPped, 50 000 files are created in one directory (150 000
   records: create, open, close_write; the default queue holds 16 384), SIGCONT; counted vs true
   and whether the tool said anything about lost events.

Only processes started by this script are signalled (by pid); every one is killed in a
`finally`.  No sysctl is changed.  The report is the `stats` section of bench/RESULTS.md.
With STATSBENCH_DIAG=FILE, a tool that does not go idle or does not exit after SIGINT gets
`strace -c`, 0.2 s of `strace` and gdb's stacks appended to FILE.
"""

import argparse
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = "stats"                    # <!-- stats:begin --> ... <!-- stats:end --> in RESULTS.md
ALL_TOOLS = ["lookout", "inotifywatch"]
FINISHED = b"Finished establishing watches, now collecting statistics."

sys.path.insert(0, HERE)
import compare as C  # noqa: E402  (importing runs nothing)

(build_tree, cpu_seconds, mem_mb, med, pick_tools, machine, write_raw, term_as_interrupt, fmt,
 replace_section, loadavg, log) = (C.build_tree, C.cpu_seconds, C.mem_mb, C.med, C.pick_tools,
                                   C.machine, C.write_raw, C.term_as_interrupt, C.fmt,
                                   C.replace_section, C.loadavg, C.log)

LIVE = []            # Popen objects of tools still running: killed on every exit path

WRITER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
/* burst ROOT ND NF APPENDS CREATES DELETES : appends round-robin over ROOT/bDDD/fFFFF, then
   CREATES new files ROOT/bDDD/nNNNNN (round-robin over dirs), then unlinks the first DELETES.
   create ROOT N : N new files ROOT/cNNNNNN.  Prints the wall time of the operations. */
static double now(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9;
}
int main(int argc, char **argv) {
  char p[4096];
  double a = now();
  if (argc == 4 && !strcmp(argv[1], "create")) {
    int n = atoi(argv[3]);
    for (int i = 0; i < n; i++) {
      snprintf(p, sizeof p, "%s/c%06d", argv[2], i);
      int fd = open(p, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) { perror(p); return 1; }
      close(fd);
    }
  } else if (argc == 8 && !strcmp(argv[1], "burst")) {
    int nd = atoi(argv[3]), nf = atoi(argv[4]);
    long na = atol(argv[5]), nc = atol(argv[6]), nx = atol(argv[7]);
    long files = (long)nd * nf;
    for (long i = 0; i < na; i++) {
      long k = i % files;
      snprintf(p, sizeof p, "%s/b%03ld/f%04ld", argv[2], k % nd, k / nd);
      int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
      if (fd < 0) { perror(p); return 1; }
      if (write(fd, "x", 1) != 1) { perror(p); return 1; }
      close(fd);
    }
    for (long i = 0; i < nc; i++) {
      snprintf(p, sizeof p, "%s/b%03ld/n%06ld", argv[2], i % nd, i);
      int fd = open(p, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) { perror(p); return 1; }
      close(fd);
    }
    for (long i = 0; i < nx; i++) {
      snprintf(p, sizeof p, "%s/b%03ld/n%06ld", argv[2], i % nd, i);
      if (unlink(p) != 0) { perror(p); return 1; }
    }
  } else {
    fprintf(stderr, "usage\n");
    return 2;
  }
  printf("%.6f\n", now() - a);
  return 0;
}
"""


def make_writer(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("stats_compare.py needs a C compiler (cc) for the writer")
    src, exe = os.path.join(workdir, "writer.c"), os.path.join(workdir, "writer")
    with open(src, "w") as f:
        f.write(WRITER_C)
    r = subprocess.run([cc, "-O2", "-o", exe, src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise SystemExit("cc failed on the writer: %s" % r.stdout.decode()[:500])
    return exe


def run_writer(writer, *args):
    r = subprocess.run([writer] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("writer failed: %s" % r.stderr.decode()[:300])
    return float(r.stdout.decode().strip())


# --------------------------------------------------------------------------- one tool

class Tool(object):
    """One `lookout stats -r NAME` or `inotifywatch -r NAME` run in NAME's parent directory."""

    def __init__(self, tool, parent, name, logdir, lookout):
        self.tool = tool
        tag = "%s-%d" % (tool, time.monotonic_ns())
        self.out_path = os.path.join(logdir, tag + ".out")
        self.err_path = os.path.join(logdir, tag + ".err")
        cmd = ([lookout, "stats", "-r", name] if tool == "lookout" else ["inotifywatch", "-r", name])
        self.t0 = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, cwd=parent, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, start_new_session=True)
        LIVE.append(self.proc)

    def pid(self):
        return [self.proc.pid] if self.proc.poll() is None else []

    def cpu(self):
        return cpu_seconds(self.pid())

    def mem(self):
        return mem_mb(self.pid())

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_finished(self, timeout):
        """Seconds from spawn until the 'Finished establishing watches' line (None: deadline)."""
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            with open(self.err_path, "rb") as f:
                if FINISHED in f.read():
                    return time.monotonic() - self.t0
            if self.proc.poll() is not None:
                return None
            time.sleep(0.002)
        return None

    def wait_idle(self, quiet=1.0, cap=60.0, tick=0.1):
        """Waits until the tool used (almost) no CPU for `quiet` seconds; returns the waited
        time, or None at the deadline.  Called after the writer has finished."""
        start = time.monotonic()
        hist = [(start, self.cpu())]
        while time.monotonic() - start < cap:
            time.sleep(tick)
            now, c = time.monotonic(), self.cpu()
            hist.append((now, c))
            old = [h for h in hist if now - h[0] >= quiet]
            if old and c - old[-1][1] < 0.015:
                return now - start
            if self.proc.poll() is not None:
                return None
        return None

    def finish(self, timeout=20.0):
        """SIGINT, wait for the exit; returns the parsed table."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            diag = self.diag()
            self.kill()
            raise ToolHung("%s did not exit within %.0f s of SIGINT; %s" % (self.tool, timeout, diag))
        self.rc = self.proc.returncode
        if self.proc in LIVE:
            LIVE.remove(self.proc)
        with open(self.out_path, "rb") as f:
            return parse_table(f.read().decode("utf-8", "replace"))

    def diag(self):
        """What a process that does not exit is doing: CPU over 1 s, threads, stderr tail."""
        c0 = self.cpu()
        time.sleep(1.0)
        c1 = self.cpu()
        threads = []
        try:
            for tid in sorted(os.listdir("/proc/%d/task" % self.proc.pid)):
                b = "/proc/%d/task/%s/" % (self.proc.pid, tid)
                try:
                    st = open(b + "stat").read().rsplit(")", 1)[1].split()
                    wchan = open(b + "wchan").read().strip()
                    sc = open(b + "syscall").read().split()[0]
                    threads.append("%s %s utime=%s stime=%s wchan=%s syscall=%s" % (
                        tid, st[0], st[11], st[12], wchan or "-", sc))
                except OSError:
                    pass
        except OSError:
            pass
        text = "CPU %.2f s in the last 1 s; threads: %s; stderr tail: %s" % (
            c1 - c0, " | ".join(threads), " | ".join(self.stderr().strip().splitlines()[-4:]))
        if os.environ.get("STATSBENCH_DIAG"):     # a file: also append strace -c and gdb stacks
            with open(os.environ["STATSBENCH_DIAG"], "a") as f:
                f.write("=== %s pid %d: %s\n" % (self.tool, self.proc.pid, text))
                f.flush()
                for cmd in (["timeout", "-s", "INT", "2", "strace", "-f", "-c", "-p", str(self.proc.pid)],
                            ["timeout", "-s", "INT", "0.2", "strace", "-f", "-tt", "-p", str(self.proc.pid)],
                            ["gdb", "-p", str(self.proc.pid), "-batch", "-ex",
                             "thread apply all bt 25"]):
                    if shutil.which("timeout") and shutil.which("strace" if cmd[0] == "timeout" else cmd[0]):
                        try:
                            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                               timeout=30)
                            out = r.stdout
                        except subprocess.TimeoutExpired as e:
                            out = e.output or b""
                        f.write(out.decode("utf-8", "replace")[:20000] + "\n")
        return text

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
                self.proc.kill()
            except OSError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self.proc in LIVE:
            LIVE.remove(self.proc)


class ToolHung(Exception):
    pass


def parse_table(text):
    """inotifywatch's table -> (columns, {filename: {column: count}}, totals by column)."""
    lines = [l for l in text.splitlines() if l.strip()]
    head = None
    rows = {}
    for l in lines:
        parts = l.split()
        if parts and parts[0] == "total" and parts[-1] == "filename":
            head = parts[:-1]
            continue
        if head is None:
            continue
        vals = l.split(None, len(head))
        if len(vals) != len(head) + 1 or not all(v.isdigit() for v in vals[:len(head)]):
            continue
        rows[vals[-1]] = {c: int(v) for c, v in zip(head, vals[:len(head)])}
    totals = {}
    for r in rows.values():
        for c, v in r.items():
            totals[c] = totals.get(c, 0) + v
    return head or [], rows, totals


OVERFLOW_WORDS = re.compile(r"overflow|lost|rescan|dropped", re.I)


def said_overflow(stderr_text):
    lines = [l.strip() for l in stderr_text.splitlines() if OVERFLOW_WORDS.search(l)]
    return "; ".join(lines)[:300]


# --------------------------------------------------------------------------- tests

def test_setup(tool, tree_root, workdir, lookout, timeout):
    t = Tool(tool, os.path.dirname(tree_root), os.path.basename(tree_root), workdir, lookout)
    try:
        ready = t.wait_finished(timeout)
        if ready is None:
            return {"error": "no 'Finished establishing watches' within %.0f s (rc %s): %s"
                    % (timeout, t.proc.poll(), t.stderr()[-200:])}
        cpu = t.cpu()
        rss, hwm = t.mem()
        return {"ready_s": ready, "cpu_s": cpu, "rss_mb": rss, "hwm_mb": hwm}
    finally:
        t.kill()


def test_burst(tool, base, workdir, lookout, writer, n_app, n_create, n_delete):
    nd, nf = 100, 10
    parent = tempfile.mkdtemp(prefix="burst-", dir=base)
    root = os.path.join(parent, "t")
    os.mkdir(root)
    for d in range(nd):
        os.mkdir(os.path.join(root, "b%03d" % d))
        for j in range(nf):
            os.close(os.open(os.path.join(root, "b%03d" % d, "f%04d" % j),
                             os.O_CREAT | os.O_WRONLY, 0o644))
    true = {"open": n_app + n_create, "modify": n_app, "close_write": n_app + n_create,
            "create": n_create, "delete": n_delete}
    t = Tool(tool, parent, "t", workdir, lookout)
    try:
        if t.wait_finished(60) is None:
            return {"error": "not ready in 60 s: %s" % t.stderr()[-200:]}
        c0 = t.cpu()
        w0 = time.monotonic()
        writer_s = run_writer(writer, "burst", root, nd, nf, n_app, n_create, n_delete)
        idle = t.wait_idle()
        done_s = time.monotonic() - w0
        cpu = t.cpu() - c0
        rss, hwm = t.mem()
        if idle is None:
            busy = t.diag()
        try:
            head, rows, totals = t.finish()
        except ToolHung as e:
            return {"error": "%s (before SIGINT it had not gone idle within 60 s of the writer: %s)"
                    % (e, busy if idle is None else "it had"), "cpu_s": cpu, "writer_s": writer_s}
        res = {"writer_s": writer_s, "cpu_s": cpu, "rss_mb": rss, "hwm_mb": hwm,
               "done_s": done_s if idle is not None else None, "rows": len(rows),
               "said": said_overflow(t.stderr())}
        tot_true = 0
        tot_counted = 0
        for c, v in true.items():
            res["n_" + c] = totals.get(c, 0)
            res["r_" + c] = totals.get(c, 0) / float(v) if v else None
            tot_true += v
            tot_counted += totals.get(c, 0)
        res["n_sum"], res["r_sum"] = tot_counted, tot_counted / float(tot_true)
        res["others"] = {c: v for c, v in totals.items() if c not in true and c != "total" and v}
        if idle is None:
            res["note"] = "did not go idle within 60 s after the writer"
        return res
    finally:
        t.kill()
        shutil.rmtree(parent, ignore_errors=True)


def append(path, n):
    for _ in range(n):
        with open(path, "a") as f:
            f.write("x")


def row_text(rows, cols=("modify", "create", "delete", "moved_from", "moved_to", "move_self")):
    return ["%s %s" % (k, " ".join("%s=%d" % (c, r.get(c, 0)) for c in cols if r.get(c, 0)))
            for k, r in sorted(rows.items())]


def test_rename(tool, base, workdir, lookout, case):
    """case 'within': mv t/d t/e inside the tree; 'out': mv t/d out of the tree, then writes
    there; 'in': a directory with 4 files and a subdirectory with 2 is moved into the tree."""
    parent = tempfile.mkdtemp(prefix="rename-", dir=base)
    os.makedirs(os.path.join(parent, "t", "d", "s"))
    os.makedirs(os.path.join(parent, "out", "m", "s"))
    for p in ("t/d/a", "t/d/s/x", "out/m/a", "out/m/b", "out/m/c", "out/m/s/y", "out/m/s/z"):
        open(os.path.join(parent, p), "w").close()
    P = lambda q: os.path.join(parent, q)
    t = Tool(tool, parent, "t", workdir, lookout)
    try:
        if t.wait_finished(30) is None:
            return {"error": "not ready in 30 s: %s" % t.stderr()[-200:]}
        if case == "within":
            append(P("t/d/a"), 5)
            append(P("t/d/s/x"), 5)
            os.rename(P("t/d"), P("t/e"))
            append(P("t/e/a"), 3)
            append(P("t/e/s/x"), 3)
            open(P("t/e/s/y"), "w").close()
        elif case == "out":
            append(P("t/d/s/x"), 4)
            os.rename(P("t/d"), P("out/d"))
            append(P("out/d/s/x"), 3)
        else:
            os.rename(P("out/m"), P("t/m"))
            t.wait_idle(quiet=0.5, cap=20)     # the tool has taken the new directories in
            append(P("t/m/s/y"), 2)
        t.wait_idle(quiet=0.5, cap=20)
        try:
            head, rows, totals = t.finish()
        except ToolHung as e:
            return {"error": str(e)}
        if case == "within":
            ok = (all(rows.get(k, {}).get("modify") == 8 for k in ("t/e/", "t/e/s/"))
                  and not any(k.startswith("t/d") for k in rows)
                  and rows.get("t/e/s/", {}).get("create") == 1)
        elif case == "out":
            ok = (totals.get("modify", 0) == 4 and totals.get("delete", 0) == 0
                  and rows.get("t/", {}).get("moved_from") == 1)
        else:
            ok = (totals.get("create", 0) == 0 and totals.get("modify", 0) == 2
                  and rows.get("t/m/s/", {}).get("modify") == 2
                  and rows.get("t/", {}).get("moved_to") == 1)
        return {"right": "yes" if ok else "no", "rows_shown": row_text(rows)}
    finally:
        t.kill()
        shutil.rmtree(parent, ignore_errors=True)


RENAME_CASES = [
    ("within", "5 appends to t/d/a and to t/d/s/x, `mv t/d t/e`, 3 appends to t/e/a and t/e/s/x, "
     "create t/e/s/y.  Right: rows t/e/ and t/e/s/ with modify 8 each, create 1 on t/e/s/, no t/d row."),
    ("out", "4 appends to t/d/s/x, `mv t/d out/d` (out of the watched tree), 3 appends to "
     "out/d/s/x.  Kernel records on watched directories: modify 4, moved_from 1 on t/, move_self "
     "1 on t/d/ (the tools also see their own listings: open/close_nowrite/access, not shown).  Right: modify 4 in all, moved_from 1 on t/, no delete (no file was deleted)."),
    ("in", "`mv out/m t/m` (m holds a, b, c and s/ with y, z), then 2 appends to t/m/s/y.  Kernel "
     "records: moved_to 1 on t/, modify 2 on t/m/s/ (the appends wait until the tool has been idle "
     "0.5 s after the move, so both tools have watched t/m/s by then).  Right: moved_to 1 on t/, modify 2 on "
     "t/m/s/, no create (nothing was created)."),
]


def test_overflow(tool, base, workdir, lookout, writer, n):
    parent = tempfile.mkdtemp(prefix="overflow-", dir=base)
    os.makedirs(os.path.join(parent, "t", "q"))
    t = Tool(tool, parent, "t", workdir, lookout)
    try:
        if t.wait_finished(30) is None:
            return {"error": "not ready in 30 s: %s" % t.stderr()[-200:]}
        os.kill(t.proc.pid, signal.SIGSTOP)
        try:
            run_writer(writer, "create", os.path.join(parent, "t", "q"), n)
        finally:
            os.kill(t.proc.pid, signal.SIGCONT)
        c0 = t.cpu()
        idle = t.wait_idle(quiet=1.0, cap=60)
        cpu = t.cpu() - c0
        try:
            head, rows, totals = t.finish()
        except ToolHung as e:
            return {"error": str(e), "cpu_s": cpu}
        err = t.stderr()
        res = {"n_create": totals.get("create", 0), "r_create": totals.get("create", 0) / float(n),
               "n_open": totals.get("open", 0), "n_close_write": totals.get("close_write", 0),
               "cpu_s": cpu, "said": said_overflow(err) or "nothing",
               "said_yes": "yes" if said_overflow(err) else "no",
               "stderr_tail": " | ".join(err.strip().splitlines()[-6:])[:400]}
        if idle is None:
            res["note"] = "did not go idle within 60 s"
        return res
    finally:
        t.kill()
        shutil.rmtree(parent, ignore_errors=True)


# --------------------------------------------------------------------------- report

def build_section(R, meta, tools, sizes, P):
    L = ["## `lookout stats` vs inotifywatch", "", "Generated by `bench/stats_compare.py`.", ""]
    for k, v in meta:
        L.append("- %s: %s" % (k, v))
    L += ["", "Both tools run as a user runs them, `lookout stats -r t` and `inotifywatch -r t` "
          "(cwd = t's parent, default options, default queue), one at a time on identical fresh "
          "trees on tmpfs, the order rotating per run.  Cells: median over runs "
          "<sub>(min–max)</sub>; ratio = lookout/inotifywatch within a run, median of those.  "
          "The machine is shared with a C++ build on 2 cores: read CPU seconds rather than wall "
          "times.", ""]
    L += ["### 1. Setup", "", "Spawn until `Finished establishing watches, now collecting "
          "statistics.` on stderr; CPU (user+system) and RSS read at that moment.", ""]
    for s in sizes:
        g = (lambda s: lambda t: R["setup"][s].get(t, []))(s)
        L.append("#### %s dirs / %s files" % C.SIZES[s])
        L.append("")
        C.table(L, tools, R, [
            ("time to 'Finished establishing watches' (s)", g, "ready_s", "s"),
            ("CPU for setup (s)", g, "cpu_s", "cpu"),
            ("RSS after setup (MiB)", g, "rss_mb", "mb"),
            ("peak RSS (VmHWM, MiB)", g, "hwm_mb", "mb"),
        ])
    gb = lambda t: R["burst"].get(t, [])
    L += ["### 2. Burst: counted / true per column", "",
          "100 dirs × 10 files made before the tool starts; then the C writer does %d appends "
          "(open O_APPEND, write 1 byte, close; round-robin over the 1000 files), %d creates "
          "(open O_CREAT|O_EXCL, close) and %d unlinks of those new files, as fast as it can.  "
          "True records: open %d, modify %d, close_write %d, create %d, delete %d.  When the tool "
          "has used no CPU for 1 s it gets SIGINT and the table it prints is summed per column."
          % (P["app"], P["create"], P["delete"], P["app"] + P["create"], P["app"],
             P["app"] + P["create"], P["create"], P["delete"]), ""]
    C.table(L, tools, R, [
        ("open counted/true", gb, "r_open", "ratio", False),
        ("modify counted/true", gb, "r_modify", "ratio", False),
        ("close_write counted/true", gb, "r_close_write", "ratio", False),
        ("create counted/true", gb, "r_create", "ratio", False),
        ("delete counted/true", gb, "r_delete", "ratio", False),
        ("all five columns counted/true", gb, "r_sum", "ratio", False),
        ("records counted (5 columns)", gb, "n_sum", "int", False),
        ("writer duration (s)", gb, "writer_s", "s", False),
        ("writer start until the tool went idle (s)", gb, "done_s", "s"),
        ("CPU during burst (s)", gb, "cpu_s", "cpu"),
        ("RSS after burst (MiB)", gb, "rss_mb", "mb"),
        ("peak RSS (VmHWM, MiB)", gb, "hwm_mb", "mb"),
    ])
    for t in tools:
        said = [r.get("said") or "nothing" for r in gb(t) if r and "error" not in r]
        oth = [r.get("others") for r in gb(t) if r and r.get("others")]
        L.append("- %s on stderr about lost events, per run: %s%s" % (
            t, " · ".join("`%s`" % s for s in said),
            ("; other columns counted: %s" % oth) if oth else ""))
    L += ["", "### 3. Renames", "",
          "Rows right or not, per run; the rows of the last run (columns other than "
          "open/close/access, zeros left out).", "",
          "| case | tool | right (per run) | rows (last run) |", "|---|---|---|---|"]
    for case, what in RENAME_CASES:
        for t in tools:
            rr = [r for r in R["rename"].get(case, {}).get(t, []) if r]
            right = " ".join(r.get("right", "error") for r in rr)
            last = rr[-1].get("rows_shown", [rr[-1].get("error")]) if rr else []
            L.append("| %s | %s | %s | %s |" % (case, t, right, "<br>".join("`%s`" % x for x in last)))
    L.append("")
    for case, what in RENAME_CASES:
        L.append("- *%s*: %s" % (case, what))
    go = lambda t: R["overflow"].get(t, [])
    L += ["", "### 4. Overflow honesty", "",
          "The tool is SIGSTOPped, the writer creates %d files in t/q (open O_CREAT|O_EXCL + "
          "close: %d records; the queue holds %s), SIGCONT; SIGINT once it has been idle 1 s."
          % (P["ovf"], 3 * P["ovf"], meta_get(meta, "max_queued_events")), ""]
    C.table(L, tools, R, [
        ("create counted/true", go, "r_create", "ratio", False),
        ("create counted", go, "n_create", "int", False),
        ("open counted", go, "n_open", "int", False),
        ("close_write counted", go, "n_close_write", "int", False),
        ("CPU after SIGCONT (s)", go, "cpu_s", "cpu"),
    ])
    for t in tools:
        rr = [r for r in go(t) if r and "error" not in r]
        L.append("- %s said something about lost events: %s (last run: %s)" % (
            t, " ".join(r["said_yes"] for r in rr) or "—",
            ("`%s`" % rr[-1]["said"]) if rr else "—"))
    errs = []
    for test in ("setup", "burst", "rename", "overflow"):
        node = R[test]
        groups = node.items() if test not in ("setup", "rename") else [
            (s + " " + t, v) for s in node for t, v in node[s].items()]
        for name, runs in groups:
            for i, r in enumerate(runs):
                if r and "error" in r:
                    errs.append("%s %s run %d: %s" % (test, name, i + 1, r["error"]))
                if r and r.get("note"):
                    errs.append("%s %s run %d: %s" % (test, name, i + 1, r["note"]))
    L += ["", "### Errors and notes", ""] + (["- " + e for e in errs] if errs else ["None."])
    return "\n".join(L) + "\n"


def clean_argv(argv):
    """The command line minus --out/--raw/--lookout and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--raw", "--lookout"):
            skip = True
        elif not a.split("=")[0] in ("--out", "--raw", "--lookout"):
            out.append(a)
    return out


def meta_get(meta, key):
    for k, v in meta:
        if k == key:
            return v
    return "?"


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 run, the 1k tree only, 20 000 appends, 10 000 files in the overflow test")
    ap.add_argument("--runs", type=int, help="runs (default 3, --quick 1)")
    ap.add_argument("--only", help="comma list of tools (%s)" % ",".join(ALL_TOOLS))
    ap.add_argument("--sizes", help="comma list of setup trees (1k, 10k, 50k)")
    ap.add_argument("--appends", type=int, help="appends in the burst (default 100000)")
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"))
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"), help="markdown report")
    ap.add_argument("--raw", help="also write all per-run numbers as JSON to this file")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    tools = pick_tools(ap, ALL_TOOLS, args.only)
    sizes = ([s.strip() for s in args.sizes.split(",")] if args.sizes
             else (["1k"] if args.quick else ["1k", "10k"]))
    P = {"app": args.appends or (20000 if args.quick else 100000),
         "create": 2000 if args.quick else 10000, "delete": 2000 if args.quick else 10000,
         "ovf": 10000 if args.quick else 50000}
    if "inotifywatch" in tools and not shutil.which("inotifywatch"):
        ap.error("inotifywatch not found (apt-get install inotify-tools)")
    term_as_interrupt()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    base = tempfile.mkdtemp(prefix="lookout-statsbench-", dir=shm)
    t_start, load_start = time.monotonic(), loadavg()
    R = {"setup": {s: {} for s in sizes}, "burst": {}, "rename": {}, "overflow": {}}
    loads = []
    try:
        workdir = os.path.join(base, "work")
        os.makedirs(workdir)
        writer = make_writer(workdir)
        lookout = os.path.join(workdir, "lookout")
        shutil.copy2(os.path.abspath(args.lookout), lookout)  # a rebuild cannot mix binaries
        trees = {}
        for s in sizes:
            t = time.monotonic()
            nd, nf = C.SIZES[s]
            root = os.path.join(base, "tree-%s" % s, "t")
            os.makedirs(os.path.dirname(root))
            build_tree(root, nd, nf)
            trees[s] = root
            log("built tree %s (%d dirs, %d files) in %.1f s" % (s, nd, nf, time.monotonic() - t))
        for run in range(runs):
            order = tools[run % len(tools):] + tools[:run % len(tools)]
            loads.append(loadavg())
            log("=== run %d/%d (order %s, load %s)" % (run + 1, runs, ",".join(order), loads[-1]))
            for s in sizes:
                for t in order:
                    r = test_setup(t, trees[s], workdir, lookout, 60 + C.SIZES[s][1] * 0.001)
                    R["setup"][s].setdefault(t, []).append(r)
                    log("setup %-4s %-12s %s" % (s, t, r))
            for t in order:
                r = test_burst(t, base, workdir, lookout, writer, P["app"], P["create"], P["delete"])
                R["burst"].setdefault(t, []).append(r)
                log("burst %-12s %s" % (t, r))
            for case, _ in RENAME_CASES:
                for t in order:
                    r = test_rename(t, base, workdir, lookout, case)
                    R["rename"].setdefault(case, {}).setdefault(t, []).append(r)
                    log("rename %-6s %-12s %s" % (case, t, r))
            for t in order:
                r = test_overflow(t, base, workdir, lookout, writer, P["ovf"])
                R["overflow"].setdefault(t, []).append(r)
                log("overflow %-12s %s" % (t, r))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        raise
    finally:
        for p in list(LIVE):          # only processes this script started, by pid
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(base, ignore_errors=True)
    cpu, osname = machine()
    iw = subprocess.run(["inotifywatch", "--help"], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT).stdout.decode().splitlines()[0].strip()
    lo_v = subprocess.run([args.lookout, "--version"], stdout=subprocess.PIPE).stdout.decode().strip()
    head = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h"],
                          stdout=subprocess.PIPE).stdout.decode().strip()
    with open(C.QUEUE_SYSCTL) as f:
        queue = f.read().strip()
    meta = [("Date", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
            ("Machine", "%s, %d CPUs, kernel %s, %s" % (cpu, os.cpu_count(), os.uname().release, osname)),
            ("Command", "`python3 bench/stats_compare.py%s`" % "".join(
                " " + a for a in clean_argv(sys.argv[1:]))),
            ("Tools", "%s (%s, repo HEAD %s); %s" % (lo_v, args.lookout, head, iw)),
            ("Runs", "%d; setup trees %s; burst %d appends + %d creates + %d deletes; overflow %d creates"
             % (runs, ", ".join("%d dirs/%d files" % C.SIZES[s] for s in sizes), P["app"],
                P["create"], P["delete"], P["ovf"])),
            ("max_queued_events", queue),
            ("Wall time", "%.0f s" % (time.monotonic() - t_start)),
            ("Load average at start / per run / end", "%s / %s / %s (2 cores shared with a C++ build)"
             % (load_start, " · ".join(loads), loadavg()))]
    section = build_section(R, meta, tools, sizes, P)
    replace_section(args.out, MARKER, section)
    log("wrote %s" % args.out)
    write_raw(args.raw, dict(meta), R)
    print(section)


if __name__ == "__main__":
    main()
