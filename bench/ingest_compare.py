#!/usr/bin/env python3
"""Side-by-side benchmark of `lookout ingest` against the usual drop-box agents.

Standard library only (pyinotify for its two peers).  Typical use (from the repository root):

    python3 bench/ingest_compare.py            # 2000-file burst, 100 latency samples, 100 files a scenario
    python3 bench/ingest_compare.py --quick    # 300 / 25 / 25                          (~3 min)

Peers, each given the same handler on each file: a pyinotify IN_CREATE agent (the seed style:
react to the file appearing), a pyinotify IN_CLOSE_WRITE agent, an `inotifywait -m -e
close_write | while read` loop, and incrond (an IN_CLOSE_WRITE system table; run in the
foreground with a private configuration, root only).  The handler is a small C program that
stamps clock_gettime(CLOCK_MONOTONIC) at its start, reads the whole file and logs its size and
FNV-1a hash, so the bench can tell a complete read from a partial one.  Measured per tool:
files/s end to end (a burst of small files), latency from the writer's close to the handler's
start (p50/p99), and three drop-box scenarios (slow writer, tmp + rename, close and reopen to
append): files handled with the complete content, partial reads, duplicates, losses.
Only processes started by this script are ever signalled (by their own process group).
"""

import argparse
import datetime
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = "ingest"                   # <!-- ingest:begin --> ... <!-- ingest:end --> in RESULTS.md
ALL_TOOLS = ["lookout", "lookout-fast", "inotifywait-loop", "pyinotify-close", "pyinotify-create", "incron"]

sys.path.insert(0, HERE)
import compare as C  # noqa: E402  (importing runs nothing)
import run_compare as RC  # noqa: E402

loadavg, log, percentile, med, replace_section = C.loadavg, C.log, C.percentile, C.med, C.replace_section

HANDLER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char** argv) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  if (argc < 3) return 2;
  unsigned long long h = 1469598103934665603ULL;
  long long size = 0;
  int fd = open(argv[2], O_RDONLY);
  if (fd < 0) {
    size = -1;
  } else {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i < n; ++i) { h ^= (unsigned char)buf[i]; h *= 1099511628211ULL; }
      size += n;
    }
    close(fd);
  }
  const char* name = strrchr(argv[2], '/');
  name = name ? name + 1 : argv[2];
  char line[4352];
  int len = snprintf(line, sizeof line, "%lld %s %lld %016llx\n",
                     (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, name, size, h);
  int out = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (out >= 0) { write(out, line, (size_t)len); close(out); }
  return 0;
}
"""

PYINOTIFY_AGENT = r"""
import os, subprocess, sys, pyinotify
watch_dir, handler, log, mask_name = sys.argv[1:5]
mask = getattr(pyinotify, mask_name)
class H(pyinotify.ProcessEvent):
    def process_default(self, ev):
        if not ev.dir:
            subprocess.call([handler, log, ev.pathname])
wm = pyinotify.WatchManager()
wm.add_watch(watch_dir, mask)
sys.stderr.write("READY\n"); sys.stderr.flush()
pyinotify.Notifier(wm, H()).loop()
"""


def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def make_handler(workdir):
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise SystemExit("ingest_compare.py needs a C compiler (cc) for the handler")
    src, exe = os.path.join(workdir, "handler.c"), os.path.join(workdir, "handler")
    with open(src, "w") as f:
        f.write(HANDLER_C)
    for flags in (["-static"], []):
        if subprocess.run([cc, "-O2"] + flags + ["-o", exe, src], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0:
            return exe
    raise SystemExit("cc failed on the handler")


def read_log(path):
    """[(start_ns, name, size, hash)]"""
    out = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) == 4:
                    out.append((int(p[0]), p[1], int(p[2]), p[3]))
    except OSError:
        pass
    return out


class Session(object):
    """One tool watching a fresh drop directory, its handler logging to `log`."""

    def __init__(self, tool, base, handler, lookout):
        self.tool = tool
        self.dir = tempfile.mkdtemp(prefix="drop-", dir=base)
        self.log = os.path.join(base, "log-%s-%d" % (tool, time.monotonic_ns()))
        self.err = open(os.path.join(base, "err-%s" % tool), "w")
        self.incron_dir = None
        h = "%s %s" % (handler, self.log)
        if tool.startswith("lookout"):
            extra = ["--settle", "50ms", "-j", "2"] if tool == "lookout-fast" else []
            cmd = [lookout, "ingest", self.dir, "--ready"] + extra + ["--", handler, self.log, "{}"]
        elif tool == "inotifywait-loop":
            cmd = ["bash", "-c", "inotifywait -m -q -e close_write --format '%%w%%f' %s | "
                   "while IFS= read -r f; do %s \"$f\"; done" % (self.dir, h)]
        elif tool.startswith("pyinotify"):
            agent = os.path.join(base, "agent.py")
            with open(agent, "w") as f:
                f.write(PYINOTIFY_AGENT)
            mask = "IN_CREATE" if tool == "pyinotify-create" else "IN_CLOSE_WRITE"
            cmd = [PYTHON, agent, self.dir, handler, self.log, mask]
        elif tool == "incron":
            self.incron_dir = tempfile.mkdtemp(prefix="incron-", dir=base)
            for d in ("system", "user", "lock"):
                os.mkdir(os.path.join(self.incron_dir, d))
            with open(os.path.join(self.incron_dir, "system", "bench"), "w") as f:
                f.write("%s IN_CLOSE_WRITE %s $@/$#\n" % (self.dir, h))
            conf = os.path.join(self.incron_dir, "incron.conf")
            with open(conf, "w") as f:
                f.write("system_table_dir = %s\nuser_table_dir = %s\nlockfile_dir = %s\n"
                        "lockfile_name = incrond-bench\n" % tuple(
                            os.path.join(self.incron_dir, d) for d in ("system", "user", "lock")))
            cmd = ["incrond", "-n", "-f", conf]
        says_ready = tool.startswith("lookout") or tool.startswith("pyinotify")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE if says_ready else self.err,
                                     start_new_session=True)

    def ready(self, timeout=20.0):
        """READY from lookout and pyinotify; for the others, a probe file that gets handled."""
        end = time.monotonic() + timeout
        if self.tool.startswith("lookout") or self.tool.startswith("pyinotify"):
            line = b""
            while time.monotonic() < end and b"READY" not in line:
                line = self.proc.stderr.readline()
                if not line and self.proc.poll() is not None:
                    return False
            if b"READY" not in line:
                return False
        n = 0
        while time.monotonic() < end:
            n += 1
            probe = os.path.join(self.dir, "probe-%d" % n)
            with open(probe, "w") as f:
                f.write("p")
            t = time.monotonic() + 1.0
            while time.monotonic() < min(t, end):
                if any(r[1].startswith("probe-") for r in read_log(self.log)):
                    return True
                time.sleep(0.02)
        return False

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self.err.close()

    def handled(self):
        return [r for r in read_log(self.log) if not r[1].startswith("probe-")]


def wait_for(sess, names, settle_s, cap_s):
    """Waits until every name was handled, then `settle_s` more for late duplicates."""
    end = time.monotonic() + cap_s
    while time.monotonic() < end:
        got = {r[1] for r in sess.handled()}
        if names <= got:
            break
        time.sleep(0.05)
    time.sleep(settle_s)
    return sess.handled()


def judge(expected, handled):
    """expected: {name: (size, hash)}.  Returns complete, partial, duplicates, lost."""
    by = {}
    for r in handled:
        by.setdefault(r[1], []).append(r)
    complete = partial = dup = lost = 0
    for name, (size, h) in expected.items():
        runs = by.get(name, [])
        good = [r for r in runs if r[2] == size and r[3] == h]
        if good:
            complete += 1
        else:
            lost += 1
        partial += len([r for r in runs if not (r[2] == size and r[3] == h)])
        dup += max(0, len(runs) - 1)
    # Runs on names that were never final (a temp name) are partial work too.
    partial += len([r for r in handled if r[1] not in expected])
    return complete, partial, dup, lost


def payload(i, size):
    return (("%08d" % i) * (size // 8 + 1))[:size].encode()


def test_burst(sess, n):
    expected = {}
    t0 = time.monotonic_ns()
    for i in range(n):
        data = payload(i, 200)
        name = "b%05d.xml" % i
        with open(os.path.join(sess.dir, name), "wb") as f:
            f.write(data)
        expected[name] = (len(data), fnv(data))
    handled = wait_for(sess, set(expected), 1.0, 120)
    complete, partial, dup, lost = judge(expected, handled)
    last = max([r[0] for r in handled if r[1] in expected] or [t0])
    return {"burst_files_s": complete / max((last - t0) / 1e9, 1e-9), "burst_lost": lost,
            "burst_dup": dup, "burst_partial": partial}


def test_latency(sess, n):
    lat = []
    lost = 0
    for i in range(n):
        name = "l%04d.xml" % i
        data = payload(i, 100)
        with open(os.path.join(sess.dir, name), "wb") as f:
            f.write(data)
        t = time.monotonic_ns()
        end = time.monotonic() + 5.0
        got = None
        while time.monotonic() < end and got is None:
            for r in sess.handled():
                if r[1] == name:
                    got = r
                    break
            else:
                time.sleep(0.002)
        if got is None:
            lost += 1
        else:
            lat.append((got[0] - t) / 1e6)
        time.sleep(0.05)
    return {"lat_p50_ms": percentile(lat, 50) if lat else None,
            "lat_p99_ms": percentile(lat, 99) if lat else None, "lat_lost": lost}


def scenario(sess, kind, n):
    expected = {}
    for i in range(n):
        name = "%s%04d.xml" % (kind[0], i)
        data = payload(i, 8000)
        final = os.path.join(sess.dir, name)
        if kind == "slow":
            with open(final, "wb") as f:   # 8 writes 30 ms apart, held open
                for k in range(8):
                    f.write(data[k * 1000:(k + 1) * 1000])
                    f.flush()
                    time.sleep(0.03)
        elif kind == "rename":
            tmp = final + ".part"
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, final)
        elif kind == "reopen":
            for k in range(4):            # closed and reopened to append, 30 ms apart
                with open(final, "ab") as f:
                    f.write(data[k * 2000:(k + 1) * 2000])
                time.sleep(0.03)
        expected[name] = (len(data), fnv(data))
    handled = wait_for(sess, set(expected), 1.5, 30)
    c, p, d, l = judge(expected, handled)
    return {kind + "_ok": c, kind + "_partial": p, kind + "_dup": d, kind + "_lost": l}


PYTHON = None   # an interpreter that has pyinotify (Debian's python3-pyinotify is for /usr/bin/python3)


def pyinotify_python():
    for py in (sys.executable, "/usr/bin/python3"):
        if py and subprocess.run([py, "-c", "import pyinotify"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL).returncode == 0:
            return py
    return None


def incron_usable():
    if os.geteuid() != 0:
        return "incrond needs root (its -f option and system tables)"
    if not shutil.which("incrond"):
        return "incrond not installed (apt-get install incron)"
    return ""


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return ("%%.%df" % digits) % v
    return str(v)


def build_section(R, meta, tools, skipped):
    L = ["## `lookout ingest` vs drop-box agents", "",
         "Generated by `bench/ingest_compare.py`.", ""]
    for k, v in meta:
        L.append("- %s: %s" % (k, v))
    L += ["", "Tools (DIR is a fresh directory under /dev/shm; H the handler and its log):", "",
          "- **lookout** `lookout ingest DIR --ready -- H LOG {}` (defaults: `--settle 500ms`, `-j 1`)",
          "- **lookout-fast** `lookout ingest DIR --ready --settle 50ms -j 2 -- H LOG {}`",
          "- **inotifywait-loop** `inotifywait -m -q -e close_write --format '%w%f' DIR | while IFS= read -r f; do H LOG \"$f\"; done`",
          "- **pyinotify-close** a pyinotify Notifier on IN_CLOSE_WRITE running H per event (subprocess.call)",
          "- **pyinotify-create** the same on IN_CREATE (the seed style: react when the file appears)",
          "- **incron** `incrond -n -f CONF`, system table `DIR IN_CLOSE_WRITE H LOG $@/$#`"]
    for t, why in skipped:
        L.append("- %s: not run (%s)" % (t, why))
    rows = [("burst: files/s, close of the first to start of the last handler", "burst_files_s", 0),
            ("burst: lost / duplicated / partial", ("burst_lost", "burst_dup", "burst_partial"), None),
            ("latency p50, close → handler start (ms)", "lat_p50_ms", 1),
            ("latency p99 (ms)", "lat_p99_ms", 1),
            ("latency: files never handled", "lat_lost", None)]
    for kind, what in (("slow", "slow writer (8 writes 30 ms apart, held open)"),
                       ("rename", "tmp + rename (`x.part` → `x`)"),
                       ("reopen", "close and reopen to append (4 × 30 ms)")):
        rows.append(("%s: complete / partial / duplicated / lost" % what,
                     (kind + "_ok", kind + "_partial", kind + "_dup", kind + "_lost"), None))
    run_tools = [t for t in tools if t in R]
    L += ["", "| metric | " + " | ".join(run_tools) + " |", "|---|" + "---|" * len(run_tools)]
    for label, key, digits in rows:
        cells = []
        for t in run_tools:
            r = R[t]
            if "error" in r:
                cells.append("error")
            elif isinstance(key, tuple):
                cells.append(" / ".join(fmt(r.get(k)) for k in key))
            else:
                cells.append(fmt(r.get(key), digits if digits is not None else 1))
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    L += ["", "How to read it:", "",
          "- *burst*: N files of 200 bytes written back to back (open, write, close); files/s is the "
          "number handled with complete content over the time from the first write to the last "
          "handler's start.",
          "- *latency*: one file at a time; the handler's CLOCK_MONOTONIC at start minus the "
          "writer's time.monotonic_ns() just after close. lookout's includes `--settle` by design "
          "(a closed file must stay unchanged that long).",
          "- *scenarios*: each file 8000 bytes. *complete*: the file got a run that read all of it. "
          "*partial*: runs that read less than the final content (or ran on the temporary "
          "name, or found the file gone). *duplicated*: runs beyond the first. *lost*: files never "
          "handled with their complete content."]
    errs = [(t, R[t]["error"]) for t in run_tools if "error" in R[t]]
    L += ["", "### Errors", ""] + (["- %s: %s" % e for e in errs] if errs else ["None."])
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="300-file burst, 25 samples, 25 files a scenario")
    ap.add_argument("--only", help="comma list of tools (%s)" % ",".join(ALL_TOOLS))
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"))
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    burst_n, lat_n, scen_n = (300, 25, 25) if args.quick else (2000, 100, 100)
    tools = args.only.split(",") if args.only else list(ALL_TOOLS)
    skipped = []
    global PYTHON
    PYTHON = pyinotify_python()
    if not PYTHON:
        for t in ("pyinotify-close", "pyinotify-create"):
            if t in tools:
                tools.remove(t)
                skipped.append((t, "python3-pyinotify not installed"))
    if "incron" in tools and incron_usable():
        tools.remove("incron")
        skipped.append(("incron", incron_usable()))
    if "inotifywait-loop" in tools and not shutil.which("inotifywait"):
        tools.remove("inotifywait-loop")
        skipped.append(("inotifywait-loop", "inotify-tools not installed"))

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
    base = tempfile.mkdtemp(prefix="lookout-ingestbench-", dir=shm)
    t_start, load_start = time.monotonic(), loadavg()
    R = {}
    try:
        handler = make_handler(base)
        lookout = os.path.join(base, "lookout")
        shutil.copy2(args.lookout, lookout)   # a rebuild during the run cannot mix binaries
        for tool in tools:
            r = {}
            for test in ("burst", "latency", "slow", "rename", "reopen"):
                sess = Session(tool, base, handler, lookout)
                try:
                    if not sess.ready():
                        r["error"] = "not ready in 20 s (exit status %s)" % sess.proc.poll()
                        break
                    if test == "burst":
                        r.update(test_burst(sess, burst_n))
                    elif test == "latency":
                        r.update(test_latency(sess, lat_n))
                    else:
                        r.update(scenario(sess, test, scen_n))
                finally:
                    sess.stop()
                log("%s %s: %s" % (tool, test, {k: v for k, v in r.items()}))
            R[tool] = r
    finally:
        shutil.rmtree(base, ignore_errors=True)
    cpu, osname = RC.machine()
    meta = [("Date", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
            ("Machine", "%s, %d CPUs, kernel %s, %s" % (cpu, os.cpu_count(), os.uname().release, osname)),
            ("Command", "`python3 bench/ingest_compare.py%s`" % (" --quick" if args.quick else "")),
            ("Sizes", "burst %d files, %d latency samples, %d files per scenario" % (burst_n, lat_n, scen_n)),
            ("lookout", "%s (repo HEAD %s)" % (args.lookout, subprocess.run(
                ["git", "-C", REPO, "log", "-1", "--format=%h"], stdout=subprocess.PIPE).stdout.decode().strip())),
            ("Wall time", "%.0f s" % (time.monotonic() - t_start)),
            ("Load average at start / end", "%s / %s (2 cores shared with other work: compare within a run)"
             % (load_start, loadavg()))]
    replace_section(args.out, MARKER, build_section(R, meta, tools, skipped))
    print(build_section(R, meta, tools, skipped))


if __name__ == "__main__":
    main()
