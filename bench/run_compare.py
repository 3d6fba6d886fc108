#!/usr/bin/env python3
"""Side-by-side benchmark of `lookout run` against entr and an inotifywait loop.

Standard library only.  See bench/README.md (section run_compare.py) for what is measured
and how to read the numbers.  Typical use (from the repository root):

    python3 bench/run_compare.py              # 3 runs, 100 saves, 30 s idle (~13 min)
    python3 bench/run_compare.py --quick      # 1 run, 50 saves, 10 s idle    (~2 min)

The command every tool runs is a tiny C program (compiled here with `cc`) that appends
clock_gettime(CLOCK_MONOTONIC) in ns to a log file the moment it starts; the bench stamps
time.monotonic_ns() (the same clock) right after it closes the file it saves.  Only
processes started by this script are ever signalled (by pid / their own process group).
"""

import argparse
import datetime
import hashlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
MARKER = "run"                      # <!-- run:begin --> ... <!-- run:end --> in RESULTS.md

ALL_TOOLS = ["entr", "inotifywait-loop", "lookout-0", "lookout-100ms"]
LOOKOUT_REF = "lookout-0"           # ratio columns: lookout-0 / peer
FILE_NAME = "file.txt"
SAVES_EACH = 20                     # atomic and truncating saves in test 3
GAP_AFTER_RUN = 0.150               # latency: next save this long after the command started
                                    # (entr ignores a change made within ~50-100 ms of a run)
QUIET_AFTER_RUN = 0.300             # save counts: a save is over after this much silence
LATE_WAIT = 0.5                     # after the last save, wait this long for late runs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402  (the sibling script; importing it runs nothing)

# Shared with compare.py: the same /proc walks, statistics and progress lines.
loadavg, log, proc_tree, percentile, med = C.loadavg, C.log, C.proc_tree, C.percentile, C.med
replace_section = C.replace_section
LOAD_START = C.LOAD_START
T_START = time.monotonic()
LIVE = []                           # sessions to stop on every exit path


# --------------------------------------------------------------------------- /proc helpers


def tree_sample(roots):
    """{pid: (utime+stime ticks, schedstat ns)}, {tid: voluntary+involuntary switches}."""
    cpu, ctx = {}, {}
    for p in proc_tree(roots):
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            ticks = int(rest[11]) + int(rest[12])
        except (OSError, IndexError, ValueError):
            continue
        ns = 0
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            tids = []
        for tid in tids:
            base = "/proc/%d/task/%s/" % (p, tid)
            try:
                with open(base + "schedstat") as f:
                    ns += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
            try:
                n = 0
                with open(base + "status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:",
                                            "nonvoluntary_ctxt_switches:")):
                            n += int(line.split()[1])
                ctx[int(tid)] = n
            except (OSError, ValueError):
                pass
        cpu[p] = (ticks, ns)
    return cpu, ctx


def sample_delta(a, b):
    """(CPU s from stat, CPU s from schedstat, context switches) between two samples."""
    cpu_a, ctx_a = a
    cpu_b, ctx_b = b
    ticks = ns = 0
    for p, (t1, n1) in cpu_b.items():
        t0, n0 = cpu_a.get(p, (0, 0))
        ticks += t1 - t0
        ns += n1 - n0
    sw = sum(n - ctx_a.get(tid, 0) for tid, n in ctx_b.items())
    return ticks / CLK_TCK, ns / 1e9, sw


# --------------------------------------------------------------------------- stamp helper

STAMP_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
/* Appends CLOCK_MONOTONIC (ns) at start to argv[1]: one write(2) with O_APPEND, atomic. */
int main(int argc, char **argv) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (argc < 2) return 2;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
  int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return 1;
  if (write(fd, buf, n) != n) return 1;
  close(fd);
  return 0;
}
"""


def make_stamp(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("run_compare.py needs a C compiler (cc) for the stamp helper")
    src = os.path.join(workdir, "stamp.c")
    exe = os.path.join(workdir, "stamp")
    with open(src, "w") as f:
        f.write(STAMP_C)
    for flags, desc in ((["-static"], "C, static"), ([], "C, dynamic")):
        r = subprocess.run([cc, "-O2"] + flags + ["-o", exe, src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode == 0:
            return exe, desc
    raise SystemExit("cc failed on the stamp helper: %s" % r.stdout[:300])


class StampLog(object):
    """The stamp helper's log: one CLOCK_MONOTONIC ns per command start."""

    def __init__(self, path):
        self.path = path
        self.stamps = []
        self._off = 0
        self._buf = b""

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self._off)
                data = f.read()
        except OSError:
            return self.stamps
        self._off += len(data)
        data = self._buf + data
        lines = data.split(b"\n")
        self._buf = lines.pop()
        self.stamps.extend(int(x) for x in lines if x.strip())
        return self.stamps

    def wait_after(self, t_ns, timeout):
        """First stamp >= t_ns, waiting up to timeout s; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            for s in self.poll():
                if s >= t_ns:
                    return s
            if time.monotonic() > deadline:
                return None
            time.sleep(0.0005)

    def wait_quiet(self, quiet, cap):
        """Returns once no new stamp came for `quiet` s (or after `cap` s)."""
        end = time.monotonic() + cap
        n = len(self.poll())
        last = time.monotonic()
        while time.monotonic() < end:
            time.sleep(0.005)
            m = len(self.poll())
            if m != n:
                n, last = m, time.monotonic()
            elif time.monotonic() - last >= quiet:
                return


# --------------------------------------------------------------------------- tools

def tool_cmd(tool, watch_dir, target, stamp, stamp_log, lookout):
    """(argv, stdin bytes or None)."""
    if tool == "entr":
        return ["entr", "-n", "-p", stamp, stamp_log], (target + "\n").encode()
    if tool == "inotifywait-loop":
        script = ("inotifywait -m -q -e close_write --format '%w%f' \"$1\" | "
                  "while read f; do \"$2\" \"$3\"; done")
        return ["bash", "-c", script, "loop", watch_dir, stamp, stamp_log], None
    if tool == "lookout-0":
        return [lookout, "run", watch_dir, "--ready", "--debounce", "0", "--",
                stamp, stamp_log], None
    if tool == "lookout-100ms":
        return [lookout, "run", watch_dir, "--ready", "--", stamp, stamp_log], None
    raise ValueError(tool)


CMD_DOC = {
    "entr": "echo DIR/file.txt | entr -n -p STAMP LOG",
    "inotifywait-loop": "bash -c \"inotifywait -m -q -e close_write --format '%w%f' DIR | "
                        "while read f; do STAMP LOG; done\"",
    "lookout-0": "lookout run DIR --ready --debounce 0 -- STAMP LOG",
    "lookout-100ms": "lookout run DIR --ready -- STAMP LOG   (default --debounce 100ms)",
}


def debounce_s(tool):
    return 0.1 if tool == "lookout-100ms" else 0.0


class Session(object):
    """One running tool watching a fresh directory."""

    def __init__(self, tool, base, stamp, lookout):
        self.tool = tool
        self.root = tempfile.mkdtemp(prefix="%s-" % tool, dir=base)
        self.dir = os.path.join(self.root, "watched")
        os.mkdir(self.dir)
        self.target = os.path.join(self.dir, FILE_NAME)
        with open(self.target, "w") as f:
            f.write("initial\n")
        self.log = StampLog(os.path.join(self.root, "stamps.log"))
        self.stderr_path = os.path.join(self.root, "stderr")
        self._stderr = open(self.stderr_path, "wb")
        argv, data = tool_cmd(tool, self.dir, self.target, stamp, self.log.path, lookout)
        LIVE.append(self)
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data else subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr,
                                     start_new_session=True, cwd=self.root)
        if data:
            self.proc.stdin.write(data)
            self.proc.stdin.close()     # entr reads the file list up to EOF

    def died(self):
        rc = self.proc.poll()
        if rc is None:
            return None
        return "%s exited rc=%s; stderr: %s" % (self.tool, rc, self.stderr_tail())

    def stderr_tail(self, n=300):
        try:
            self._stderr.flush()
            with open(self.stderr_path, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def self_ready(self, timeout):
        """lookout only: seconds from spawn until READY on stderr (None on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "READY" in self.stderr_tail(4096):
                return time.monotonic() - self.t0
            if self.died():
                raise RuntimeError(self.died())
            time.sleep(0.002)
        return None

    def stop(self):
        if self in LIVE:
            LIVE.remove(self)
        descendants = [p for p in proc_tree([self.proc.pid]) if p != self.proc.pid]
        if self.proc.poll() is None:
            try:
                # The process group is the one start_new_session made for our own child
                # (bash + inotifywait + the loop's subshell share it).
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)
        for pid in descendants:         # only processes that were children of ours
            if os.path.exists("/proc/%d" % pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self._stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- saves

def save_truncate(path, i):
    """open(O_TRUNC) + write + close; returns (ns before open, ns right after close)."""
    t_open = time.monotonic_ns()
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"save %d\n" % i)
    os.close(fd)
    return t_open, time.monotonic_ns()


def save_atomic(path, i):
    """Write a hidden temp file in the same directory, then rename it over path."""
    d, n = os.path.split(path)
    tmp = os.path.join(d, ".%s.%d.tmp" % (n, i))
    t_open = time.monotonic_ns()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"atomic %d\n" % i)
    os.close(fd)
    os.rename(tmp, path)
    return t_open, time.monotonic_ns()


def save_echo(path, i):
    """The shell's `echo ... > file` (sh opens with O_TRUNC, echo writes, sh closes)."""
    t_open = time.monotonic_ns()
    subprocess.run(["sh", "-c", "echo echo-%d > \"$1\"" % i, "sh", path], check=True)
    return t_open, time.monotonic_ns()


def attribute(starts, stamps):
    """Runs per save: stamps in [start_i, start_{i+1}); the last window is open-ended."""
    out = [[] for _ in starts]
    for s in stamps:
        k = None
        for i, t in enumerate(starts):
            if s >= t:
                k = i
            else:
                break
        if k is not None:
            out[k].append(s)
    return out


def wait_ready(sess, timeout=15.0):
    """Saves the file every 200 ms until a command run is recorded, then waits for quiet.

    Returns seconds from spawn to the first recorded run."""
    deadline = time.monotonic() + timeout
    i = 0
    while time.monotonic() < deadline:
        t_open, _ = save_truncate(sess.target, 10000 + i)
        i += 1
        s = sess.log.wait_after(t_open, 0.2)
        if s is not None:
            ready = s / 1e9 - sess.t0
            sess.log.wait_quiet(0.5 + debounce_s(sess.tool), 5.0)
            return ready, i
        d = sess.died()
        if d:
            raise RuntimeError(d)
    raise RuntimeError("no run recorded within %.0f s of probing" % timeout)


def test_idle(sess, seconds):
    roots = [sess.proc.pid]
    n0 = len(sess.log.poll())
    a = tree_sample(roots)
    time.sleep(seconds)
    b = tree_sample(roots)
    cpu_stat, cpu_sched, sw = sample_delta(a, b)
    return {
        "idle_cpu_ms": cpu_stat * 1000.0,
        "idle_sched_ms": cpu_sched * 1000.0,
        "idle_wakeups_s": sw / seconds,
        "idle_runs": len(sess.log.poll()) - n0,
        "procs": len(b[0]), "threads": len(b[1]),
    }


def test_latency(sess, n):
    timeout = 2.0 + debounce_s(sess.tool)
    n0 = len(sess.log.poll())
    starts, closes = [], []
    for i in range(n):
        t_open, t_close = save_truncate(sess.target, i)
        starts.append(t_open)
        closes.append(t_close)
        s = sess.log.wait_after(t_open, timeout)
        nxt = time.monotonic() + GAP_AFTER_RUN
        while time.monotonic() < nxt:
            time.sleep(0.001)
        if s is None and sess.died():
            raise RuntimeError(sess.died())
    time.sleep(LATE_WAIT)
    runs = attribute(starts, sess.log.poll()[n0:])
    lat = [(r[0] - c) / 1e6 for r, c in zip(runs, closes) if r]
    res = {
        "n": n,
        "missed": sum(1 for r in runs if not r),
        "extra_runs": sum(max(0, len(r) - 1) for r in runs),
        "negative": sum(1 for x in lat if x < 0),
    }
    if lat:
        res["p50_ms"] = percentile(lat, 50)
        res["p99_ms"] = percentile(lat, 99)
        res["max_ms"] = max(lat)
    return res


def test_saves(sess, kind, n):
    fn = {"atomic": save_atomic, "echo": save_echo}[kind]
    timeout = 2.0 + debounce_s(sess.tool)
    n0 = len(sess.log.poll())
    starts = []
    for i in range(n):
        t_open, _ = fn(sess.target, i)
        starts.append(t_open)
        sess.log.wait_after(t_open, timeout)
        sess.log.wait_quiet(QUIET_AFTER_RUN + debounce_s(sess.tool), 3.0)
        d = sess.died()
        if d:
            raise RuntimeError(d)
    time.sleep(LATE_WAIT)
    runs = attribute(starts, sess.log.poll()[n0:])
    return {
        "runs": sum(len(r) for r in runs),
        "zero": sum(1 for r in runs if not r),
        "multi": sum(1 for r in runs if len(r) > 1),
    }


def run_tool(tool, base, stamp, args):
    res = {}
    sess = None
    try:
        sess = Session(tool, base, stamp, args.lookout)
        if tool.startswith("lookout"):
            r = sess.self_ready(15)
            if r is None:
                raise RuntimeError("no READY within 15 s; stderr: %s" % sess.stderr_tail())
            res["self_ready_s"] = r
        res["ready_s"], res["probes"] = wait_ready(sess)
        res.update(test_idle(sess, args.idle_seconds))
        res.update(test_latency(sess, args.saves))
        for kind in ("atomic", "echo"):
            r = test_saves(sess, kind, SAVES_EACH)
            for k, v in r.items():
                res["%s_%s" % (kind, k)] = v
        d = sess.died()
        if d:
            res["error"] = d
        else:
            tail = sess.stderr_tail(2000).replace("READY", "").strip()
            if tail:
                res["stderr"] = tail[-300:]
    except Exception as e:
        res["error"] = str(e)[:500]
    finally:
        if sess is not None:
            try:
                sess.stop()
            except Exception as e:  # pragma: no cover
                log("  stop failed: %r" % e)
    return res


# --------------------------------------------------------------------------- statistics


# compare.py's: runs_of, the median ratio of two tools within each run, cell formatting.
runs_of, fmt, cell = C.runs_of, C.fmt, C.cell


def ratio_median(a_runs, b_runs, key):
    return C.ratio_median(a_runs, b_runs, key)[0]


def table(L, tools, R, rows):
    """rows: [(label, key or (key, key...) shown as "a / b", kind, with_ratio)]"""
    peers = [t for t in tools if not t.startswith("lookout")]
    ref = LOOKOUT_REF if LOOKOUT_REF in tools else None
    head = ["metric"] + tools + (["%s/%s" % (ref, p) for p in peers] if ref else [])
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for label, key, kind, with_ratio in rows:
        keys = key if isinstance(key, tuple) else (key,)
        row = [label] + [" / ".join(cell(R.get(t, []), k, kind) for k in keys)
                         for t in tools]
        if ref:
            for p in peers:
                row.append(fmt(ratio_median(R[ref], R[p], key), "ratio") if with_ratio else "")
        L.append("| " + " | ".join(row) + " |")
    L.append("")


def build_section(R, meta, tools):
    L = []
    L.append("## `lookout run` vs entr and an inotifywait loop")
    L.append("")
    L.append("Generated by `bench/run_compare.py` (see `bench/README.md`, section "
             "*run_compare.py*).")
    L.append("")
    L.append("- Date: %s" % meta["date"])
    L.append("- Machine: %s, %s CPUs (`nproc`), kernel %s, %s" % (
        meta["cpu"], meta["nproc"], meta["kernel"], meta["os"]))
    L.append("- Command: `%s`" % meta["command"])
    L.append("- Runs: %d (tool order rotates per run); %d saves for latency; %d atomic + %d "
             "`echo >` saves; idle window %g s" % (meta["runs"], meta["saves"], SAVES_EACH,
                                                  SAVES_EACH, meta["idle"]))
    L.append("- Filesystem: a fresh directory under `%s` (tmpfs) per tool and run" % meta["fs"])
    L.append("- The command run on each change: `STAMP LOG`, a %s helper that appends "
             "clock_gettime(CLOCK_MONOTONIC) at its start to LOG (outside the watched "
             "directory)" % meta["stamp"])
    if any(t.startswith("lookout") for t in tools):
        L.append("- lookout binary: %s, copied at start so a rebuild during the run cannot "
                 "mix binaries" % meta["lookout_bin"])
    L.append("- Total wall time of the run: %.0f s" % meta["elapsed"])
    L.append("- Load average (1/5/15 min) at start: %s; at end: %s (2 cores; other work on "
             "the machine, e.g. a compile, adds noise: compare the ranges)" % (
                 meta["load_start"], meta["load_end"]))
    L.append("")
    L.append("Tool versions and invocations (DIR = the watched directory, which holds "
             "`file.txt`; entr is given the file itself, the others watch DIR):")
    L.append("")
    for t in tools:
        L.append("- **%s** %s — `%s`" % (t, meta["versions"].get(t, "?"), CMD_DOC[t]))
    L.append("")
    L.append("Cells are the median over runs with the min–max range in small print; `⚠n` = "
             "n runs failed (see *Errors*).  Ratio columns are lookout-0/peer within each "
             "run, then the median; below 1 means lookout is better (faster, cheaper).")
    L.append("")
    table(L, tools, R, [
        ("latency p50, close → command start (ms)", "p50_ms", "ms", True),
        ("latency p99 (ms)", "p99_ms", "ms", True),
        ("latency max (ms)", "max_ms", "ms", False),
        ("saves without a run (of %d)" % meta["saves"], "missed", "int", False),
        ("extra runs in the latency test", "extra_runs", "int", False),
        ("idle: CPU in %g s, utime+stime (ms)" % meta["idle"], "idle_cpu_ms", "int", False),
        ("idle: CPU in %g s, schedstat (ms)" % meta["idle"], "idle_sched_ms", "ms", True),
        ("idle: wakeups/s (context switches, all threads)", "idle_wakeups_s", "rate", True),
        ("idle: processes / threads watched", ("procs", "threads"), "int", False),
        ("runs for %d atomic saves (tmp + rename)" % SAVES_EACH, "atomic_runs", "int", False),
        ("… atomic saves with no run / with 2+ runs", ("atomic_zero", "atomic_multi"), "int",
         False),
        ("runs for %d `echo > file` saves" % SAVES_EACH, "echo_runs", "int", False),
        ("… `echo >` saves with no run / with 2+ runs", ("echo_zero", "echo_multi"), "int",
         False),
        ("first run after spawn, probing every 200 ms (s)", "ready_s", "s", False),
        ("lookout's READY line after spawn (s)", "self_ready_s", "s", False),
    ])
    L.append("How to read it:")
    L.append("")
    L.append("- *latency*: the bench opens `file.txt` with O_TRUNC, writes one line, closes "
             "it and takes time.monotonic_ns(); the helper's CLOCK_MONOTONIC at its start minus "
             "that is one sample.  The next save waits for the run (deadline 2 s + debounce) "
             "plus %d ms.  Runs are attributed to the last save started before them.  (With 50 ms "
             "instead, entr ran for only 2 of 3 saves: it ignores a change made within "
             "~50–100 ms of starting a run; the other tools missed none.)" %
             (GAP_AFTER_RUN * 1000))
    L.append("- *idle*: after the first run (the ready probe) and 0.5 s of quiet, nothing is "
             "touched for %g s.  CPU is utime+stime from `/proc/PID/stat` over the tool's "
             "process tree (10 ms ticks, hence also the ns-exact `schedstat` row); wakeups are "
             "voluntary+nonvoluntary context switches of every thread of the tree "
             "(`/proc/PID/task/*/status`), per second.  For the inotifywait loop the tree is "
             "bash, inotifywait and the loop's subshell." % meta["idle"])
    L.append("- *atomic save*: write `.file.txt.N.tmp` in DIR, close, rename it over "
             "`file.txt`.  *`echo >` save*: `sh -c 'echo … > DIR/file.txt'`.  After each save "
             "the bench waits for a run and then for %d ms (+ debounce) without one; ideal is "
             "one run per save." % (QUIET_AFTER_RUN * 1000))
    L.append("")
    L.append("### Errors")
    L.append("")
    errs = []
    for t in tools:
        for i, r in enumerate(R.get(t, [])):
            if r.get("error"):
                errs.append("%s run %d: %s" % (t, i + 1, r["error"].replace("\n", " ")))
            if r.get("stderr"):
                errs.append("%s run %d stderr (not fatal): %s" % (
                    t, i + 1, r["stderr"].replace("\n", " ")))
    L.extend("- " + e for e in errs) if errs else L.append("None.")
    return "\n".join(L)


# --------------------------------------------------------------------------- main

def version(tool, lookout):
    try:
        if tool.startswith("lookout"):
            v = subprocess.run([lookout, "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10).stdout.decode().strip()
            g = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %cs"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               timeout=10).stdout.decode().strip()
            return "%s (repo HEAD %s)" % (v, g)
        pkg = {"entr": "entr", "inotifywait-loop": "inotify-tools"}[tool]
        v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           timeout=10).stdout.decode().strip()
        return "%s %s" % (pkg, v or "?")
    except Exception as e:
        return "? (%s)" % e


def short(r):
    keys = ("p50_ms", "p99_ms", "missed", "extra_runs", "idle_cpu_ms", "idle_sched_ms",
            "idle_wakeups_s", "atomic_runs", "echo_runs", "error")
    return " ".join("%s=%s" % (k, ("%.2f" % r[k]) if isinstance(r[k], float) else r[k])
                    for k in keys if k in r)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="1 run, 50 saves, 10 s idle (a smoke test)")
    ap.add_argument("--runs", type=int, help="runs per tool (default 3, --quick 1)")
    ap.add_argument("--saves", type=int, help="saves in the latency test (default 100, "
                    "--quick 50)")
    ap.add_argument("--idle-seconds", type=float,
                    help="idle window (default 30, --quick 10)")
    ap.add_argument("--only", help="comma list of tools (%s)" % ",".join(ALL_TOOLS))
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"),
                    help="lookout binary (default build/lookout)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"),
                    help="markdown file whose run section is (re)written")
    ap.add_argument("--raw", help="also write every per-run number as JSON to this file")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    args.saves = args.saves or (50 if args.quick else 100)
    args.idle_seconds = args.idle_seconds or (10.0 if args.quick else 30.0)
    tools = C.pick_tools(ap, ALL_TOOLS, args.only)
    args.lookout = os.path.abspath(args.lookout)
    missing = []
    if "entr" in tools and not shutil.which("entr"):
        missing.append("entr (apt-get install entr)")
    if "inotifywait-loop" in tools and not shutil.which("inotifywait"):
        missing.append("inotifywait (apt-get install inotify-tools)")
    if any(t.startswith("lookout") for t in tools) and not os.access(args.lookout, os.X_OK):
        missing.append("lookout (%s)" % args.lookout)
    if missing:
        ap.error("not found: %s" % ", ".join(missing))

    C.term_as_interrupt()

    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    base = tempfile.mkdtemp(prefix="lookout-runbench-", dir=shm)
    R = {t: [] for t in tools}
    lookout_desc = args.lookout
    versions = {t: version(t, args.lookout) for t in tools}   # repo HEAD at the start
    try:
        stamp, stamp_desc = make_stamp(base)
        if any(t.startswith("lookout") for t in tools):
            # A private copy: another build may replace --lookout while the bench runs.
            with open(args.lookout, "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()[:12]
            mtime = datetime.datetime.fromtimestamp(os.stat(args.lookout).st_mtime)
            lookout_desc = "%s (mtime %s, sha256 %s)" % (
                args.lookout, mtime.strftime("%Y-%m-%d %H:%M:%S"), sha)
            args.lookout_orig = args.lookout
            args.lookout = os.path.join(base, "lookout")
            shutil.copy2(args.lookout_orig, args.lookout)
            log("lookout: %s, copied" % lookout_desc)
        for run in range(runs):
            order = tools[run % len(tools):] + tools[:run % len(tools)]
            log("=== run %d/%d (order %s), load %s" % (run + 1, runs, ",".join(order),
                                                     loadavg()))
            for t in order:
                r = run_tool(t, base, stamp, args)
                R[t].append(r)
                log("%-16s %s" % (t, short(r)))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        raise
    finally:
        for sess in list(LIVE):
            try:
                sess.stop()
            except Exception as e:  # pragma: no cover
                log("stop failed: %r" % e)
        shutil.rmtree(base, ignore_errors=True)

    cpu, osname = C.machine()
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "os": osname,
        "runs": runs, "saves": args.saves, "idle": args.idle_seconds, "fs": shm,
        "stamp": stamp_desc, "lookout_bin": lookout_desc,
        "command": "python3 bench/run_compare.py" + "".join(
            " " + (a if " " not in a else "'%s'" % a) for a in sys.argv[1:]),
        "versions": versions,
        "load_start": LOAD_START, "load_end": loadavg(),
        "elapsed": time.monotonic() - T_START,
    }
    replace_section(args.out, MARKER, build_section(R, meta, tools))
    log("wrote %s (section %s)" % (args.out, MARKER))
    C.write_raw(args.raw, meta, R)


if __name__ == "__main__":
    main()
