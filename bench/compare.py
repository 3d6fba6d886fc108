#!/usr/bin/env python3
"""Side-by-side benchmark of lookout against inotifywait, fswatch and watchman.

Standard library only.  See bench/README.md for what is measured and how to read the
numbers.  Typical use (from the repository root):

    python3 bench/compare.py              # default: trees 1k/10k and 10k/100k, 3 runs
    python3 bench/compare.py --quick      # 1k/10k only, 1 run (a smoke test, ~2 min)
    python3 bench/compare.py --full       # adds the 50k dirs / 500k files tree
    python3 bench/compare.py --sizes 1m --only lookout-fanotify,lookout-inotify,inotifywait --runs 1
                                          # 100k dirs / 1M files (needs 8 GiB free)

Every tool is started as a subprocess of this script; its stdout is read line by line in a
reader thread that stamps each line with time.monotonic() when it is read.  Only processes
started by this script are ever signalled (by pid).
"""

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
QUEUE_SYSCTL = "/proc/sys/fs/inotify/max_queued_events"
FAN_QUEUE_SYSCTL = "/proc/sys/fs/fanotify/max_queued_events"

SIZES = {"1k": (1000, 10000), "10k": (10000, 100000), "50k": (50000, 500000),
         "1m": (100000, 1000000)}
# What the 1m tree needs free (its ~1.1M tmpfs inodes and dentries, and the tools' models):
# skipped with a message below this.
HUGE_MIN_AVAILABLE_MIB = 8192
# "lookout" is the default (--backend auto: as root, a fanotify mark once a tree passes 2000
# directories); "lookout-inotify" forces inotify, the backend every user has;
# "lookout-fanotify" forces a fanotify filesystem mark (root).
ALL_TOOLS = ["lookout", "lookout-inotify", "lookout-fanotify", "inotifywait", "fswatch", "watchman"]

BURST_DIRS = 100
BURST_FILES_PER_DIR = 1000
LAT_WRITES = 200
LAT_SPACING = 0.020
RACE_N = 500
APPEND_FILES = 1000     # appends: files in 10 directories, made before the tool starts
APPEND_ROUNDS = 200     # ... each appended one 64-byte line per round, round-robin
PROBE_EVERY = 0.020
SETTLE_AFTER_READY = 0.5
IDLE_QUIET = 1.0            # s without CPU use: the tool's start-up work is done
QUIET_DONE = 1.0      # burst: all files seen -> stop after this much silence
QUIET_MAX = 30.0      # burst: stop 30 s after the last new line ...
IDLE_WIN = 5.0        # ... or after 5 s without a line AND without the tool using CPU
IDLE_CPU = 0.03       # "without CPU" = less than this many CPU seconds in IDLE_WIN

T_START = time.monotonic()


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


LOAD_START = loadavg()
LIVE_SESSIONS = []          # sessions to stop on any exit path
SYSCTL_RESTORE = {}         # sysctl path -> original value while it is lowered
SYSCTL_RAISED = {}          # sysctl path -> original value while it is raised (the 1m tree)


def log(msg):
    sys.stderr.write("[%7.1fs] %s\n" % (time.monotonic() - T_START, msg))
    sys.stderr.flush()


# --------------------------------------------------------------------------- /proc helpers

def _children(pid):
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def proc_tree(roots):
    """roots and all their live descendants."""
    seen, stack = [], list(roots)
    while stack:
        p = stack.pop()
        if p in seen or not os.path.exists("/proc/%d" % p):
            continue
        seen.append(p)
        stack.extend(_children(p))
    return seen


def cpu_seconds(roots):
    """utime+stime+cutime+cstime summed over the process tree, in seconds."""
    total = 0
    for p in proc_tree(roots):
        try:
            with open("/proc/%d/stat" % p) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in rest[11:15])
        except (OSError, IndexError, ValueError):
            pass
    return total / CLK_TCK


def mem_mb(roots):
    """(VmRSS, VmHWM) summed over the process tree, in MiB."""
    rss = hwm = 0
    for p in proc_tree(roots):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return rss / 1024.0, hwm / 1024.0


def read_sysctl(path):
    with open(path) as f:
        return int(f.read().strip())


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def write_sysctl(path, value):
    with open(path, "w") as f:
        f.write("%d\n" % value)


# --------------------------------------------------------------------------- tools

class Event(object):
    __slots__ = ("t", "path", "created", "flags", "fresh")

    def __init__(self, t, path, created, flags, fresh=False):
        self.t, self.path, self.created, self.flags, self.fresh = t, path, created, flags, fresh


def parse_inotify_format(t, line, root, out, sess):
    """'%w%f %e' lines (lookout and inotifywait)."""
    line = line.rstrip("\n")
    if line == "READY":
        sess.self_ready = t
        return
    if " " in line:
        path, ev = line.rsplit(" ", 1)
    else:
        path, ev = "", line
    flags = ev.split(",")
    if "Q_OVERFLOW" in flags:
        sess.overflows += 1
    # normpath only where it changes something (a trailing '/', '//', '.' or '..'): at a burst's
    # 200 000 lines a second this reader must not be what holds the tool back.
    if path and (path[-1] == "/" or "//" in path or "/." in path):
        path = os.path.normpath(path)
    out.append(Event(t, path, "CREATE" in flags or "MOVED_TO" in flags, ev))


def parse_fswatch(t, line, root, out, sess):
    line = line.rstrip("\n")
    if " " in line:
        path, ev = line.rsplit(" ", 1)
    else:
        path, ev = line, ""
    flags = ev.split(",")
    if "Overflow" in flags:
        sess.overflows += 1
    out.append(Event(t, os.path.normpath(path), "Created" in flags, ev))


def parse_watchman(t, line, root, out, sess):
    try:
        pdu = json.loads(line)
    except ValueError:
        sess.garbage += 1
        return
    if not isinstance(pdu, dict):
        return
    if "error" in pdu:
        sess.errors.append(str(pdu["error"])[:300])
    files = pdu.get("files")
    if not files:
        return
    fresh = bool(pdu.get("is_fresh_instance"))
    if fresh:
        sess.fresh_pdus += 1
    base = pdu.get("root", root)
    for f in files:
        name = f.get("name") if isinstance(f, dict) else f
        if not name:
            continue
        created = bool(f.get("new")) or fresh if isinstance(f, dict) else fresh
        out.append(Event(t, os.path.join(base, name), created,
                         "new" if created else "changed", fresh))


class FileTail(object):
    """read1() over a file a process appends to: what is there, else a short wait; b"" once
    the process has ended and everything was read (the stream interface _start_reader uses)."""

    def __init__(self, path, proc):
        self.f, self.proc = open(path, "rb"), proc

    def read1(self, n):
        while True:
            chunk = self.f.read(n)
            if chunk:
                return chunk
            if self.proc.poll() is not None:
                chunk = self.f.read(n)
                if not chunk:
                    self.f.close()
                return chunk
            time.sleep(0.005)


class Session(object):
    """One running instance of one tool watching one root."""

    def __init__(self, tool, root, workdir, lookout_bin, to_file=False):
        """to_file: the tool writes to a file that the bench tails, so it never waits for
        the bench's parsing (a reader that keeps up); else to a pipe the bench reads."""
        self.tool, self.root, self.workdir = tool, root, workdir
        self.events = []
        self.nlines = 0
        self.last_line_t = None
        self.self_ready = None
        self.overflows = 0
        self.garbage = 0
        self.fresh_pdus = 0
        self.errors = []
        self.procs = []        # Popen objects we started (the tool's process roots)
        self.server = None
        self.client = None
        self.conn = None
        self.sock = None
        self.env = None
        self.stderr_path = os.path.join(workdir, "%s.stderr" % tool)
        self._stderr = open(self.stderr_path, "wb")
        self.parser = {"lookout": parse_inotify_format, "lookout-inotify": parse_inotify_format,
                       "lookout-fanotify": parse_inotify_format,
                       "inotifywait": parse_inotify_format,
                       "fswatch": parse_fswatch, "watchman": parse_watchman}[tool]
        LIVE_SESSIONS.append(self)
        self.t0 = time.monotonic()
        if tool == "watchman":
            try:
                self._start_watchman()
            except BaseException:
                self.stop()
                raise
        else:
            cmd = {
                "lookout": [lookout_bin, "watch", "-m", "-r", "-q", "--ready",
                            "--format", "%w%f %e", root],
                "lookout-inotify": [lookout_bin, "watch", "-m", "-r", "-q", "--ready",
                                    "--backend", "inotify", "--format", "%w%f %e", root],
                "lookout-fanotify": [lookout_bin, "watch", "-m", "-r", "-q", "--ready",
                                     "--backend", "fanotify", "--format", "%w%f %e", root],
                "inotifywait": ["inotifywait", "-m", "-r", "-q", "--format", "%w%f %e", root],
                "fswatch": ["fswatch", "-r", "-x", "-l", "0.1", "--allow-overflow",
                            "--event-flag-separator=,", root],
            }[tool]
            self.cmd = cmd
            if to_file:
                out_path = os.path.join(workdir, "%s.out" % tool)
                with open(out_path, "wb") as out:
                    self.client = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                                   stderr=self._stderr, start_new_session=True)
                self.procs.append(self.client)
                self._start_reader(FileTail(out_path, self.client))
            else:
                self.client = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                               stderr=self._stderr, start_new_session=True)
                self.procs.append(self.client)
                self._start_reader(self.client.stdout)

    # -- watchman: a private server per session; the bench speaks watchman's JSON protocol
    # directly on the server's unix socket (the `watchman -j -p` CLI block-buffers its
    # output when stdout is a pipe, which would delay every notification until exit).
    def _start_watchman(self):
        wd = tempfile.mkdtemp(prefix="watchman-", dir=self.workdir)
        cfg = os.path.join(wd, "config.json")
        with open(cfg, "w") as f:
            f.write("{}\n")
        self.sock = os.path.join(wd, "sock")
        self.env = dict(os.environ, WATCHMAN_CONFIG_FILE=cfg)
        self.cmd = ["watchman", "--foreground", "-U", self.sock,
                    "-o", os.path.join(wd, "log"), "--pidfile", os.path.join(wd, "pid"),
                    "--statefile", os.path.join(wd, "state"), "-n"]
        self.server = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.DEVNULL, stderr=self._stderr,
                                       env=self.env, start_new_session=True)
        self.procs.append(self.server)
        deadline = time.monotonic() + 20
        while True:
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("watchman server did not come up (rc=%s)" % self.server.poll())
            if os.path.exists(self.sock):
                try:
                    self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    self.conn.connect(self.sock)
                    break
                except OSError:
                    self.conn.close()
                    self.conn = None
            time.sleep(0.005)
        self.conn.settimeout(600)     # watch/subscribe replies; the reader then blocks freely
        rfile = self.conn.makefile("rb")
        self.conn.sendall((json.dumps(["watch", self.root]) + "\n").encode())
        resp = json.loads(rfile.readline().decode() or "{}")
        if "error" in resp or "watch" not in resp:
            raise RuntimeError("watchman watch failed: %s" % str(resp)[:300])
        sub = ["subscribe", self.root, "bench",
               {"fields": ["name", "exists", "new", "type"]}]
        self.conn.sendall((json.dumps(sub) + "\n").encode())
        self.conn.settimeout(None)
        self._start_reader(rfile)

    def _start_reader(self, stream):
        def run():
            events, parser, root = self.events, self.parser, self.root
            # Whatever the pipe holds, in one read (up to 1 MiB), split into lines, all stamped
            # with the time of that read: a line at a time (readline) capped this reader near
            # 300 000 lines/s, under a burst's pace, so the tools blocked on a full pipe.
            # read1: what the stream's buffer holds first (a watchman client's reply was read
            # from it by a readline), then at most one read of the pipe.
            rest = b""
            try:
                while True:
                    chunk = stream.read1(1 << 20)
                    if not chunk:
                        break
                    t = time.monotonic()
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                    if not lines:
                        continue
                    self.nlines += len(lines)
                    self.last_line_t = t
                    for raw in lines:
                        try:
                            parser(t, raw.decode("utf-8", "replace") + "\n", root, events, self)
                        except Exception as e:  # never let a parse error kill the reader
                            self.garbage += 1
                            if len(self.errors) < 5:
                                self.errors.append("parse: %r on %r" % (e, raw[:200]))
                if rest:  # a last line without its newline
                    self.nlines += 1
                    parser(time.monotonic(), rest.decode("utf-8", "replace"), root, events, self)
            except (OSError, ValueError):
                pass        # stream closed by stop()
        self.reader = threading.Thread(target=run, daemon=True)
        self.reader.start()

    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def died(self):
        """Description of a process that exited on its own, or None."""
        for p in self.procs:
            rc = p.poll()
            if rc is not None:
                return "%s exited rc=%s" % (" ".join(p.args[:2]) if isinstance(p.args, list)
                                           else p.args, rc)
        return None

    def cpu(self):
        return cpu_seconds(self.pids())

    def mem(self):
        return mem_mb(self.pids())

    def stderr_tail(self, n=400):
        try:
            self._stderr.flush()
            with open(self.stderr_path, "rb") as f:
                data = f.read()
            return data[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self in LIVE_SESSIONS:
            LIVE_SESSIONS.remove(self)
        descendants = [p for p in proc_tree(self.pids()) if p not in self.pids()]
        if self.conn is not None:
            try:
                self.conn.shutdown(socket.SHUT_RDWR)
                self.conn.close()
            except OSError:
                pass
        if self.server is not None and self.server.poll() is None:
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(10)
                c.connect(self.sock)
                c.sendall(b'["shutdown-server"]\n')
                c.makefile("rb").readline()
                c.close()
                self.server.wait(5)
            except (OSError, socket.timeout, subprocess.TimeoutExpired, ValueError):
                pass
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.terminate()
                except OSError:
                    pass
        deadline = time.monotonic() + 5
        for p in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for pid in descendants:     # only processes that were children of ours
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if self.client is not None and self.client.stdin:
            try:
                self.client.stdin.close()
            except OSError:
                pass
        self.reader.join(5) if hasattr(self, "reader") else None
        self._stderr.close()


class Cursor(object):
    """Incremental scan over session.events."""

    def __init__(self, sess, start=0):
        self.sess, self.i = sess, start

    def new(self):
        evs = self.sess.events
        n = len(evs)
        out = evs[self.i:n]
        self.i = n
        return out


def wait_ready(sess, probe_dir, timeout):
    """Create probe files in probe_dir every 20 ms until one is reported.

    Returns seconds from spawn to the report (None on timeout)."""
    cur = Cursor(sess)
    probes = set()
    k = 0
    next_probe = time.monotonic()
    deadline = time.monotonic() + timeout
    made = []
    sess.setup_other = 0
    try:
        while True:
            now = time.monotonic()
            for e in cur.new():
                if e.path in probes and not e.fresh:
                    return e.t - sess.t0
                if not e.fresh and not e.path.startswith(probe_dir + "/probe-"):
                    sess.setup_other += 1
            if now > deadline:
                return None
            d = sess.died()
            if d:
                raise RuntimeError("%s before ready; stderr: %s" % (d, sess.stderr_tail()))
            if now >= next_probe:
                p = os.path.join(probe_dir, "probe-%d" % k)
                k += 1
                fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
                os.close(fd)
                probes.add(p)
                made.append(p)
                next_probe = now + PROBE_EVERY
            time.sleep(0.002)
    finally:
        sess.probes = made


def remove_probes(sess):
    for p in getattr(sess, "probes", []):
        try:
            os.unlink(p)
        except OSError:
            pass


# --------------------------------------------------------------------------- workloads

def build_tree(root, ndirs, nfiles):
    """ndirs directories in a 10-ary tree (BFS order), nfiles empty files round-robin.

    Returns the path of the last directory created (a leaf at the deepest level)."""
    os.makedirs(root)
    dirs = [root]
    for i in range(1, ndirs + 1):
        p = dirs[(i - 1) // 10] + "/d%d" % i
        os.mkdir(p)
        dirs.append(p)
    flags = os.O_CREAT | os.O_WRONLY | os.O_EXCL
    for j in range(nfiles):
        os.close(os.open("%s/f%d" % (dirs[1 + j % ndirs], j), flags, 0o644))
    return dirs[-1]


WRITER_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int nd = atoi(argv[2]), nf = atoi(argv[3]);
  char p[4096];
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int d = 0; d < nd; d++)
    for (int j = 0; j < nf; j++) {
      snprintf(p, sizeof p, "%s/b%03d/f%04d", argv[1], d, j);
      int fd = open(p, O_CREAT | O_WRONLY | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) { perror(p); return 1; }
      close(fd);
    }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%ld.%09ld %ld.%09ld\n", (long)a.tv_sec, a.tv_nsec, (long)b.tv_sec, b.tv_nsec);
  return 0;
}
"""

WRITER_PY = r"""
import os, sys, time
root, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fl = os.O_CREAT | os.O_WRONLY | os.O_EXCL
a = time.monotonic()
for d in range(nd):
    for j in range(nf):
        os.close(os.open("%s/b%03d/f%04d" % (root, d, j), fl, 0o644))
b = time.monotonic()
print("%.9f %.9f" % (a, b))
"""


def make_writer(workdir):
    """Compile the C burst writer if a C compiler exists, else fall back to python."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src = os.path.join(workdir, "writer.c")
        exe = os.path.join(workdir, "writer")
        with open(src, "w") as f:
            f.write(WRITER_C)
        r = subprocess.run([cc, "-O2", "-o", exe, src], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode == 0:
            return [exe], "C (open/close)"
        log("writer: cc failed, using python: %s" % r.stdout[:200])
    src = os.path.join(workdir, "writer.py")
    with open(src, "w") as f:
        f.write(WRITER_PY)
    return [sys.executable, src], "python (os.open/os.close)"


def stop_quietly(sess):
    try:
        sess.stop()
    except Exception as e:  # pragma: no cover
        log("  stop failed: %r" % e)


def test_setup(tool, tree_root, last_dir, nfiles, workdir, args):
    res = {}
    timeout = 30 + nfiles * 0.0005
    sess = None
    try:
        sess = Session(tool, tree_root, workdir, args.lookout)
        ready = wait_ready(sess, last_dir, timeout)
        if ready is None:
            res["error"] = "no probe reported within %.0f s" % timeout
            return res
        res["ready_s"] = ready
        res["other_events"] = sess.setup_other
        if sess.self_ready is not None:
            res["self_ready_s"] = sess.self_ready - sess.t0
        time.sleep(SETTLE_AFTER_READY)
        res["cpu_s"] = sess.cpu()
        res["rss_mb"], res["hwm_mb"] = sess.mem()
        # A tool may go on filling its model after it reports changes (lookout's crawl after
        # ready): memory is read again once its CPU time stood still for IDLE_QUIET seconds.
        last, still_since, end = sess.cpu(), time.monotonic(), time.monotonic() + timeout
        while time.monotonic() < end and time.monotonic() - still_since < IDLE_QUIET:
            time.sleep(0.1)
            now = sess.cpu()
            if now != last:
                last, still_since = now, time.monotonic()
        res["idle_s"] = still_since - sess.t0
        res["idle_cpu_s"] = last
        res["idle_rss_mb"], res["idle_hwm_mb"] = sess.mem()
        d = sess.died()
        if d:
            res["error"] = d
    except Exception as e:
        res["error"] = str(e)[:500]
    finally:
        if sess is not None:
            stop_quietly(sess)
            remove_probes(sess)
    return res


def note_end(res, sess):
    """A test's last figures: the tool's memory, and why it ended if it did."""
    res["rss_mb"], res["hwm_mb"] = sess.mem()
    d = sess.died()
    if d:
        res["error"] = "%s; stderr: %s" % (d, sess.stderr_tail(300))


def collect_reported(sess, cur, want, since, stop):
    """The paths of `want` the tool names from `cur` on, until stop(how many, seconds without
    output, seconds since `since`) says so or the tool exits."""
    seen = set()
    last = since
    while True:
        for e in cur.new():
            if e.path in want:
                seen.add(e.path)
        now = time.monotonic()
        if sess.last_line_t and sess.last_line_t > last:
            last = sess.last_line_t
        if stop(len(seen), now - last, now - since) or sess.died():
            return seen
        time.sleep(0.01)


def test_latency_race(tool, base, workdir, args):
    root = os.path.join(base, "lat-%s" % tool)
    os.makedirs(root)
    lat_file = os.path.join(root, "lat.txt")
    with open(lat_file, "w") as f:
        f.write("start\n")
    lat, race = {}, {}
    sess = None
    try:
        sess = Session(tool, root, workdir, args.lookout)
        if wait_ready(sess, root, 60) is None:
            lat["error"] = race["error"] = "not ready within 60 s"
            return lat, race
        fd = os.open(lat_file, os.O_WRONLY | os.O_APPEND)
        time.sleep(0.3)
        cur = Cursor(sess)
        cur.new()
        samples, missed = [], 0
        try:
            for i in range(LAT_WRITES):
                t_w = time.monotonic()
                os.write(fd, b"x\n")
                got = None
                while time.monotonic() < t_w + 2.0:
                    for e in cur.new():
                        if got is None and e.path == lat_file and e.t >= t_w:
                            got = e.t
                    if got is not None:
                        break
                    time.sleep(0.0005)
                if got is None:
                    missed += 1
                else:
                    samples.append((got - t_w) * 1000.0)
                # next write 20 ms after this one, and at least 5 ms after the report
                nxt = max(t_w + LAT_SPACING, (got or 0) + 0.005)
                while time.monotonic() < nxt:
                    time.sleep(0.0005)
                cur.new()
        finally:
            os.close(fd)
        lat["n"] = len(samples)
        lat["missed"] = missed
        if samples:
            lat["p50_ms"] = percentile(samples, 50)
            lat["p99_ms"] = percentile(samples, 99)
            lat["max_ms"] = max(samples)

        # new-directory race
        time.sleep(0.2)
        cur = Cursor(sess)
        cur.new()
        want = set(os.path.join(root, "a%d" % i, "b", "c", "d", "f") for i in range(RACE_N))
        t_begin = time.monotonic()
        for i in range(RACE_N):
            d = os.path.join(root, "a%d" % i, "b", "c", "d")
            os.makedirs(d)
            with open(os.path.join(d, "f"), "w") as f:
                f.write("x\n")
        t_end = time.monotonic()
        seen = collect_reported(sess, cur, want, t_end,
                                lambda n, quiet, elapsed: n == RACE_N or quiet > 5.0 or elapsed > 30.0)
        race["reported"] = len(seen)
        race["total"] = RACE_N
        race["create_s"] = t_end - t_begin
        d = sess.died()
        if d:
            lat["error"] = race["error"] = d
    except Exception as e:
        lat.setdefault("error", str(e)[:500])
        race.setdefault("error", str(e)[:500])
    finally:
        if sess is not None:
            stop_quietly(sess)
        shutil.rmtree(root, ignore_errors=True)
    return lat, race


def test_burst(tool, base, workdir, args, writer, low_queue, to_file=False):
    root = os.path.join(base, "burst-%s" % tool)
    os.makedirs(root)
    res = {}
    sess = None
    try:
        if low_queue:
            # Both kernel queues (inotify's and fanotify's): each tool's instance takes the
            # limit in force when it is created, so they go back as soon as it is ready.
            knobs = [k for k in (QUEUE_SYSCTL, FAN_QUEUE_SYSCTL) if os.path.exists(k)]
            try:
                for k in knobs:
                    orig = read_sysctl(k)
                    write_sysctl(k, 1024)           # raises without root: test fails
                    SYSCTL_RESTORE[k] = orig
                sess = Session(tool, root, workdir, args.lookout, to_file)
                ready = wait_ready(sess, root, 60)
            finally:
                for k in list(SYSCTL_RESTORE):
                    write_sysctl(k, SYSCTL_RESTORE.pop(k))
        else:
            sess = Session(tool, root, workdir, args.lookout, to_file)
            ready = wait_ready(sess, root, 60)
        if ready is None:
            res["error"] = "not ready within 60 s"
            return res
        # 100 new directories; wait until the tool has reported them all
        cur = Cursor(sess)
        dirs = [os.path.join(root, "b%03d" % d) for d in range(BURST_DIRS)]
        dirset = set(dirs)
        for d in dirs:
            os.mkdir(d)
        seen_dirs = set()
        deadline = time.monotonic() + 30
        while len(seen_dirs) < BURST_DIRS and time.monotonic() < deadline:
            for e in cur.new():
                if e.path in dirset:
                    seen_dirs.add(e.path)
            time.sleep(0.005)
        res["dirs_reported"] = len(seen_dirs)
        time.sleep(0.3)   # let trailing directory events drain
        cur.new()
        want = set("%s/b%03d/f%04d" % (root, d, j)
                   for d in range(BURST_DIRS) for j in range(BURST_FILES_PER_DIR))
        total = len(want)
        ov0 = sess.overflows
        lines0 = sess.nlines
        cpu0 = sess.cpu()
        r = subprocess.run(writer + [root, str(BURST_DIRS), str(BURST_FILES_PER_DIR)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("writer failed: %s" % r.stderr[:300])
        w_start, w_end = (float(x) for x in r.stdout.split())
        res["writer_s"] = w_end - w_start
        seen, created = set(), set()
        create_events = 0
        last_hit = None
        last_line = w_end
        cpu_samples = [(time.monotonic(), sess.cpu())]
        why = "?"
        while True:
            for e in cur.new():
                if e.path in want:
                    seen.add(e.path)
                    if e.created:
                        created.add(e.path)
                        create_events += 1
                    last_hit = e.t
            now = time.monotonic()
            if sess.last_line_t and sess.last_line_t > last_line:
                last_line = sess.last_line_t
            quiet = now - last_line
            if cpu_samples[-1][0] < now - 0.5:
                cpu_samples.append((now, sess.cpu()))
            if len(seen) == total and quiet >= QUIET_DONE:
                why = "all reported"
                break
            if quiet >= QUIET_MAX:
                why = "30 s without output"
                break
            if quiet >= IDLE_WIN:
                old = [c for (t, c) in cpu_samples if t <= now - IDLE_WIN]
                if old and cpu_samples[-1][1] - old[-1] < IDLE_CPU:
                    why = "5 s without output and tool idle"
                    break
            if now - w_end > 600:
                why = "10 min cap"
                break
            if sess.died():
                why = "tool exited"
                break
            time.sleep(0.02)
        res["stop_reason"] = why
        res["cpu_s"] = sess.cpu() - cpu0
        res["total"] = total
        res["reported"] = len(seen)
        # Comparable across tools that drop part of the burst (and so do less work).
        res["cpu_ms_per_1k_files"] = res["cpu_s"] / len(seen) * 1e6 if seen else None
        res["reported_created"] = len(created)
        res["create_events"] = create_events
        res["last_event_s"] = (last_hit - w_start) if last_hit else None
        res["overflow_lines"] = sess.overflows - ov0
        res["lines"] = sess.nlines - lines0
        note_end(res, sess)
    except Exception as e:
        res.setdefault("error", str(e)[:500])
    finally:
        if sess is not None:
            stop_quietly(sess)
        shutil.rmtree(root, ignore_errors=True)
    return res


def test_appends(tool, base, workdir, args):
    """Many files appended to at once (a log tree): 1000 files, 200 rounds of one line each.

    The files exist before the tool starts; the writer then appends to each in turn as fast
    as it can. CPU is the tool's from the first write until all files were named by an
    event and the output stood still."""
    root = os.path.join(base, "appends-%s" % tool)
    res = {}
    sess = None
    fds = []
    try:
        paths = []
        for d in range(10):
            os.makedirs(os.path.join(root, "d%d" % d))
        for i in range(APPEND_FILES):
            p = os.path.join(root, "d%d" % (i % 10), "f%04d.log" % i)
            paths.append(p)
            fds.append(os.open(p, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC, 0o644))
        sess = Session(tool, root, workdir, args.lookout, True)
        if wait_ready(sess, root, 60) is None:
            res["error"] = "not ready within 60 s"
            return res
        time.sleep(0.3)
        cur = Cursor(sess)
        cur.new()
        want = set(paths)
        lines0 = sess.nlines
        cpu0 = sess.cpu()
        t0 = time.monotonic()
        for n in range(APPEND_ROUNDS):
            for i, fd in enumerate(fds):
                os.write(fd, b"%08d %08d " % (i, n) + b"x" * 45 + b"\n")
        t_end = time.monotonic()
        res["writer_s"] = t_end - t0
        seen = collect_reported(sess, cur, want, t_end,
                                lambda n, quiet, elapsed: (n == len(want) and quiet >= QUIET_DONE) or quiet >= 10.0)
        res["cpu_s"] = sess.cpu() - cpu0
        res["reported"] = len(seen)
        res["lines"] = sess.nlines - lines0
        note_end(res, sess)
    except Exception as e:
        res.setdefault("error", str(e)[:500])
    finally:
        for fd in fds:
            os.close(fd)
        if sess is not None:
            stop_quietly(sess)
        shutil.rmtree(root, ignore_errors=True)
    return res


# --------------------------------------------------------------------------- statistics

def percentile(values, q):
    v = sorted(values)
    if not v:
        return None
    k = max(0, int(math.ceil(q / 100.0 * len(v))) - 1)
    return v[k]


def med(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def runs_of(per_tool_runs, key):
    return [r.get(key) if r and "error" not in r else None for r in per_tool_runs]


def ratio_median(lo_runs, peer_runs, key):
    """Median over runs of lookout/peer, both taken from the same run."""
    rs = []
    for a, b in zip(runs_of(lo_runs, key), runs_of(peer_runs, key)):
        if a is not None and b not in (None, 0):
            rs.append(a / b)
    return med(rs), len(rs)


# --------------------------------------------------------------------------- command line


def pick_tools(ap, all_tools, only):
    """The tools of --only (comma list), in all_tools' order; an unknown name is an error."""
    tools = all_tools if not only else [t.strip() for t in only.split(",")]
    for t in tools:
        if t not in all_tools:
            ap.error("unknown tool %s (known: %s)" % (t, ", ".join(all_tools)))
    return [t for t in all_tools if t in tools]


def machine():
    """(CPU model, OS name) for a report's header; "?" where unknown."""
    cpu, osname = "?", "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return cpu, osname


def write_raw(path, meta, results):
    """--raw: every per-run number as JSON, beside the markdown tables (no-op without a path)."""
    if not path:
        return
    with open(path, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    log("wrote %s" % path)


def term_as_interrupt():
    """SIGTERM unwinds like ^C, so every exit path stops what the bench started."""
    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)


# --------------------------------------------------------------------------- report

def fmt(v, kind):
    if v is None:
        return "—"
    if kind == "s":
        return "%.3f" % v if v < 10 else "%.1f" % v
    if kind == "ms":
        return "%.2f" % v if v < 10 else "%.1f" % v
    if kind == "mb":
        return "%.1f" % v
    if kind == "cpu":
        return "%.2f" % v
    if kind == "rate":
        return "%.1f" % v if v < 100 else "%.0f" % v
    if kind == "int":
        return "%d" % round(v)
    if kind == "ratio":
        return "%.2f" % v
    return str(v)


def cell(runs, key, kind):
    vals = runs_of(runs, key)
    good = [x for x in vals if x is not None]
    errs = sum(1 for r in runs if r and "error" in r)
    s = fmt(med(good), kind)
    if len(good) > 1 and kind != "int":
        s += " <sub>(%s–%s)</sub>" % (fmt(min(good), kind), fmt(max(good), kind))
    elif len(good) > 1 and min(good) != max(good):
        s += " <sub>(%s–%s)</sub>" % (fmt(min(good), kind), fmt(max(good), kind))
    if errs:
        s += " ⚠%d" % errs
    return s


def table(rows, tools, R, metric_rows):
    """metric_rows: [(label, getter(tool)->runs, key, kind)]"""
    mine = [t for t in tools if t.startswith("lookout")]
    peers = [t for t in tools if not t.startswith("lookout")]
    head = ["metric"] + tools
    head += ["%s/%s" % (m, p) for m in mine for p in peers]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mr in metric_rows:
        label, get, key, kind = mr[:4]
        if not any(get(t) for t in tools):
            continue        # test skipped
        with_ratio = len(mr) < 5 or mr[4]
        row = [label] + [cell(get(t), key, kind) for t in tools]
        for m in mine:
            for p in peers:
                r, n = ratio_median(get(m), get(p), key)
                row.append(fmt(r, "ratio") if with_ratio else "")
        out.append("| " + " | ".join(row) + " |")
    rows.extend(out)
    rows.append("")


def collect_errors(R):
    errs = []

    def walk(prefix, node):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(prefix + [k], v)
        elif isinstance(node, list):
            for i, r in enumerate(node):
                if isinstance(r, dict) and "error" in r:
                    errs.append("%s run %d: %s" % ("/".join(prefix), i + 1, r["error"]))
    walk([], R)
    return errs


def write_report(path, R, meta, tools, sizes, section=None):
    L = []
    L.append("# lookout vs inotifywait, fswatch, watchman")
    L.append("")
    L.append("Generated by `bench/compare.py` (see `bench/README.md` for what every number "
             "means).")
    L.append("")
    L.append("- Date: %s" % meta["date"])
    L.append("- Machine: %s, %d CPUs (`nproc`), %s MiB RAM, kernel %s, %s" % (
        meta["cpu"], meta["nproc"], meta["mem_mb"], meta["kernel"], meta["os"]))
    L.append("- Command: `%s`" % meta["command"])
    L.append("- Runs: %d per measurement; tree sizes run: %s%s" % (
        meta["runs"], ", ".join("%s (%d dirs / %d files)" % (s, SIZES[s][0], SIZES[s][1])
                                for s in sizes),
        "" if "50k" in sizes else " (the 50k/500k tree was not run; use `--full`)"))
    L.append("- Filesystem: %s" % meta["fs"])
    L.append("- Burst writer: %s, median %.0f files/s" % (
        meta["writer"], meta.get("writer_rate") or 0))
    L.append("- Total wall time of the run: %.0f s" % meta["elapsed"])
    L.append("- Load average (1/5/15 min) at start: %s; at end: %s (other work on the "
             "machine adds noise; compare the ranges)" % (meta["load_start"], meta["load_end"]))
    L.append("")
    L.append("Tool versions and exact invocations:")
    L.append("")
    for t in tools:
        L.append("- **%s** %s — `%s`" % (t, meta["versions"].get(t, "?"), meta["cmds"][t]))
    L.append("")
    L.append("Cells are the median over runs with the min–max range in small print; "
             "`⚠n` = n runs failed (see *Errors*).  Ratio columns are lookout/peer computed "
             "within each run, then the median of those ratios.  For times, memory and CPU "
             "a ratio below 1 means lookout is better; for counts (events reported) a ratio "
             "above 1 means lookout reported more.")
    L.append("")
    L.append("Notes that matter when reading the numbers:")
    L.append("")
    L.append("- fswatch has latency batching (`-l`, default 1 s); it was run with `-l 0.1`, "
             "the minimum (in these runs its inotify monitor printed single changes "
             "without waiting for that latency, see section 3).  It was also given `--allow-overflow`: without it fswatch 1.14 "
             "exits with status 5 (\"Event queue overflow\") at the first kernel queue "
             "overflow, which the burst and race tests trigger.")
    L.append("- watchman: a private server (`--foreground`, own socket/state/log) is started "
             "for every test and shut down after it; the bench speaks watchman's JSON "
             "protocol on its socket directly (the `watchman -j -p` CLI block-buffers its "
             "output into a pipe, which would hide all latency).  RSS and CPU are the "
             "server's.  watchman delivers changes after its 20 ms settle period (default "
             "`settle`) and coalesces them per file, so one PDU line can carry 100 000 "
             "files.")
    L.append("- inotifywait was run exactly as `inotifywait -m -r -q --format '%w%f %e'`; "
             "its default event mask also includes OPEN/ACCESS/CLOSE_NOWRITE (lookout's "
             "default mask does not), so in the burst it receives more kernel events per "
             "file than lookout does.")
    L.append("- Ready time is measured from *spawning* the tool until a probe file created "
             "in the last directory of the tree is reported (a new probe every 20 ms), so "
             "it includes the tool's whole initial crawl.  lookout's own `READY` line time "
             "is shown separately.")
    L.append("")

    def setup_get(size):
        return lambda t: R["setup"][size].get(t, [])

    # --- main table
    L.append("## Main table")
    L.append("")
    main = []
    for s in sizes:
        g = setup_get(s)
        main.append(("ready %s (s)" % s, g, "ready_s", "s"))
    for s in sizes:
        main.append(("RSS after setup %s (MiB)" % s, setup_get(s), "rss_mb", "mb"))
    for s in sizes:
        main.append(("RSS when idle %s (MiB)" % s, setup_get(s), "idle_rss_mb", "mb"))
    for s in sizes:
        main.append(("CPU for setup %s (s)" % s, setup_get(s), "cpu_s", "cpu"))
    bd = lambda t: R["burst"]["default"].get(t, [])
    bq = lambda t: R["burst"]["q1024"].get(t, [])
    main.append(("burst: files reported of 100000, default queue", bd, "reported", "int"))
    main.append(("burst: files reported of 100000, queue 1024", bq, "reported", "int"))
    main.append(("burst: CPU (s), default queue", bd, "cpu_s", "cpu"))
    main.append(("burst: CPU per 1000 files reported (ms), default queue", bd,
                 "cpu_ms_per_1k_files", "cpu"))
    bf = lambda t: R["burst"]["file"].get(t, [])
    main.append(("burst to a file: files reported of 100000", bf, "reported", "int"))
    main.append(("burst to a file: CPU (s)", bf, "cpu_s", "cpu"))
    main.append(("burst: last event after start (s), default queue", bd, "last_event_s", "s"))
    la = lambda t: R["latency"].get(t, [])
    main.append(("latency p50 (ms)", la, "p50_ms", "ms"))
    main.append(("latency p99 (ms)", la, "p99_ms", "ms"))
    ra = lambda t: R["race"].get(t, [])
    main.append(("new-dir race: files reported of 500", ra, "reported", "int"))
    ap = lambda t: R["appends"].get(t, [])
    main.append(("appends: CPU (s), 1000 files x 200 lines", ap, "cpu_s", "cpu"))
    table(L, tools, R, main)

    # --- details
    L.append("## 1. Initial setup on generated trees")
    L.append("")
    L.append("Tree: N directories in a 10-ary tree (depth 4–5), 10 empty files per "
             "directory, on tmpfs.  Probe files go into the last directory created (a "
             "deepest leaf).  RSS/peak are summed over the tool's process tree 0.5 s after "
             "ready; CPU is user+system (incl. reaped children) from spawn to that moment.  "
             "*When idle*: read again once the tool's CPU time stood still for %.0f s (lookout "
             "fills its model in after ready on large trees; the figures before it may not "
             "hold the whole model)." % IDLE_QUIET)
    L.append("")
    for s in sizes:
        g = setup_get(s)
        L.append("### %s dirs / %s files" % (SIZES[s][0], SIZES[s][1]))
        L.append("")
        table(L, tools, R, [
            ("time until ready (s)", g, "ready_s", "s"),
            ("lookout's own READY line (s)", g, "self_ready_s", "s", False),
            ("other events printed before ready (not probes)", g, "other_events", "int",
             False),
            ("RSS after setup (MiB)", g, "rss_mb", "mb"),
            ("peak RSS (VmHWM, MiB)", g, "hwm_mb", "mb"),
            ("CPU for setup (s)", g, "cpu_s", "cpu"),
            ("idle: CPU time stood still from (s after spawn)", g, "idle_s", "s"),
            ("RSS when idle (MiB)", g, "idle_rss_mb", "mb"),
            ("peak RSS when idle (VmHWM, MiB)", g, "idle_hwm_mb", "mb"),
            ("CPU until idle (s)", g, "idle_cpu_s", "cpu"),
        ])

    L.append("## 2. Burst: 100 000 creates in 100 new directories")
    L.append("")
    L.append("The 100 directories are created first and the burst starts only once the "
             "tool has reported all of them.  The writer then creates 1 000 empty files per "
             "directory as fast as it can.  *reported* = distinct burst files named by at "
             "least one event; *as create* = named by a create event (CREATE / Created / "
             "watchman `new`).  *last event* = time from the writer's first create to the "
             "last reported line naming a burst file.  *overflow lines* = Q_OVERFLOW "
             "(inotifywait, lookout) or Overflow (fswatch) lines printed.")
    L.append("")
    for key, title in (("default", "Default queue (max_queued_events = %s)" %
                        meta["queue_default"]),
                       ("q1024", "max_queued_events lowered to 1024 while the tool started"),
                       ("file", "Default queue, output to a file the bench tails (the tool "
                                "never waits for the bench's parsing; *last event* then "
                                "includes the bench's own lag)")):
        g = (lambda k: (lambda t: R["burst"][k].get(t, [])))(key)
        L.append("### " + title)
        L.append("")
        table(L, tools, R, [
            ("files reported (of 100000)", g, "reported", "int"),
            ("files reported as create", g, "reported_created", "int"),
            ("create events for burst files (duplicates if > files)", g,
             "create_events", "int"),
            ("dirs reported before the burst (of 100)", g, "dirs_reported", "int", False),
            ("writer duration (s)", g, "writer_s", "s"),
            ("last event after start (s)", g, "last_event_s", "s"),
            ("CPU during burst (s)", g, "cpu_s", "cpu"),
            ("CPU per 1000 files reported (ms)", g, "cpu_ms_per_1k_files", "cpu"),
            ("RSS after burst (MiB)", g, "rss_mb", "mb"),
            ("output lines", g, "lines", "int", False),
            ("overflow lines", g, "overflow_lines", "int", False),
        ])
        reasons = []
        for t in tools:
            rs = [r.get("stop_reason") for r in R["burst"][key].get(t, []) if r]
            if rs:
                reasons.append("%s: %s" % (t, "; ".join(x for x in rs if x)))
        L.append("Why waiting stopped: " + " · ".join(reasons))
        L.append("")

    L.append("## 3. Latency: 200 appends to one file")
    L.append("")
    L.append("The file is held open with O_APPEND; each write of 2 bytes is timed from just "
             "before write(2) to the moment the bench read the tool's first line naming the "
             "file.  Writes are at least 20 ms apart and the next write waits for the report "
             "of the previous one (+5 ms), so every report is attributable to one write.")
    L.append("")
    table(L, tools, R, [
        ("p50 (ms)", la, "p50_ms", "ms"),
        ("p99 (ms)", la, "p99_ms", "ms"),
        ("max (ms)", la, "max_ms", "ms"),
        ("writes not reported within 2 s", la, "missed", "int", False),
    ])

    L.append("## 4. New-directory race")
    L.append("")
    L.append("500 × `mkdir -p aN/b/c/d && echo x > aN/b/c/d/f` back to back (python "
             "os.makedirs + write).  Counted: files f named by any event.")
    L.append("")
    table(L, tools, R, [
        ("files f reported (of 500)", ra, "reported", "int"),
        ("time to create all (s)", ra, "create_s", "s", False),
    ])

    L.append("## 5. Appends: 1000 files, 200 lines each, written in turn")
    L.append("")
    L.append("A log tree: 1000 files in 10 directories, made and opened (O_APPEND) before the "
             "tool starts; the writer (python) then appends one 64-byte line to each in turn, "
             "200 rounds, as fast as it can.  The tool writes to a file the bench tails (as in "
             "the burst's third table; watchman is not run).  CPU is the tool's from the first "
             "write until every file was named by an event and the output stood still for "
             "%.0f s.  Tools may merge a file's repeated writes into one line (lookout merges "
             "those its reader has not taken yet), so *output lines* differ." % QUIET_DONE)
    L.append("")
    table(L, tools, R, [
        ("files reported (of 1000)", ap, "reported", "int"),
        ("writer duration (s)", ap, "writer_s", "s"),
        ("CPU (s)", ap, "cpu_s", "cpu"),
        ("output lines", ap, "lines", "int", False),
        ("RSS after (MiB)", ap, "rss_mb", "mb"),
    ])

    errs = collect_errors(R)
    L.append("## Errors")
    L.append("")
    if errs:
        for e in errs:
            L.append("- " + e.replace("\n", " "))
    else:
        L.append("None.")
    L.append("")
    text = "\n".join(L)
    if section:
        # A run of its own (e.g. the 1m tree) as a marked section below the main report, its
        # headings one level down.
        lines = [("#" + l if l.startswith("#") else l) for l in text.split("\n")]
        lines[0] = lines[0] + " (`%s`)" % section
        replace_section(path, section, "\n".join(lines))
        return
    # Sections written by other scripts (bench/poll_compare.py) survive this rewrite.
    for name, block in kept_sections(path):
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------- kept sections
# RESULTS.md holds this script's report plus sections other scripts own, each between
# `<!-- NAME:begin -->` and `<!-- NAME:end -->`; each script rewrites only its own part.

def _markers(name):
    return "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name


def kept_sections(path):
    """[(name, block)] of every marked section in the file at path, block with its markers."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    out, pos = [], 0
    while True:
        b = text.find("<!-- ", pos)
        if b < 0:
            return out
        e = text.find(":begin -->", b)
        name = text[b + 5:e] if e > 0 else ""
        if not name or "\n" in name or " " in name:
            pos = b + 5
            continue
        end_marker = _markers(name)[1]
        z = text.find(end_marker, e)
        if z < 0:
            return out
        out.append((name, text[b:z + len(end_marker)]))
        pos = z + len(end_marker)


def replace_section(path, name, body):
    """Writes body between NAME's markers in the file at path (appended when absent)."""
    begin, end = _markers(name)
    block = begin + "\n" + body.rstrip("\n") + "\n" + end
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = ""
    b, z = text.find(begin), text.find(end)
    if b >= 0 and z > b:
        text = text[:b] + block + text[z + len(end):]
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + block + "\n"
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------- main

def tool_version(t, lookout_bin):
    try:
        if t.startswith("lookout"):
            v = subprocess.run([lookout_bin, "--version"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=10).stdout.decode().strip()
            try:
                g = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %cs"],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   timeout=10).stdout.decode().strip()
                v += " (built from the working tree; repo HEAD %s)" % g
            except Exception:
                pass
            return v
        if t == "inotifywait":
            out = subprocess.run(["inotifywait", "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=10).stdout.decode()
            return out.splitlines()[0].strip()
        if t == "fswatch":
            return subprocess.run(["fswatch", "--version"], stdout=subprocess.PIPE,
                                  timeout=10).stdout.decode().splitlines()[0].strip()
        if t == "watchman":
            return "watchman " + subprocess.run(
                ["watchman", "--version"], stdout=subprocess.PIPE,
                timeout=10).stdout.decode().strip()
    except Exception as e:
        return "? (%s)" % e
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1k tree only, 1 run")
    ap.add_argument("--full", action="store_true", help="add the 50k dirs / 500k files tree")
    ap.add_argument("--sizes", help="comma list of tree sizes (%s)" % ",".join(SIZES))
    ap.add_argument("--only", help="comma list of tools (%s)" % ",".join(ALL_TOOLS))
    ap.add_argument("--runs", type=int, help="runs per measurement (default 3, --quick 1)")
    ap.add_argument("--lookout", default=os.path.join(REPO, "build-bench", "lookout"),
                    help="lookout binary (default build-bench/lookout)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"), help="markdown report")
    ap.add_argument("--raw", help="also write all per-run numbers as JSON to this file")
    ap.add_argument("--section", help="write the report as this marked section of --out (a "
                    "separate run, e.g. the 1m tree), leaving the main report as it is")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: "
                    "setup,latency,burst,appends")
    args = ap.parse_args()

    if args.sizes:
        sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    elif args.quick:
        sizes = ["1k"]
    elif args.full:
        sizes = ["1k", "10k", "50k"]
    else:
        sizes = ["1k", "10k"]
    for s in sizes:
        if s not in SIZES:
            ap.error("unknown size %s (known: %s)" % (s, ", ".join(SIZES)))
    runs = args.runs or (1 if args.quick else 3)
    tools = pick_tools(ap, ALL_TOOLS, args.only)
    skip = set(x for x in args.skip.split(",") if x)
    args.lookout = os.path.abspath(args.lookout)
    missing = [t for t in tools if not t.startswith("lookout") and not shutil.which(t)]
    if any(t.startswith("lookout") for t in tools) and not os.access(args.lookout, os.X_OK):
        missing.append("lookout (%s)" % args.lookout)
    if missing:
        ap.error("not found: %s" % ", ".join(missing))

    term_as_interrupt()

    is_root = os.geteuid() == 0
    base = tempfile.mkdtemp(prefix="lookout-bench-", dir="/tmp" if is_root else "/dev/shm")
    mounted = False
    R = {"setup": {s: {} for s in sizes}, "burst": {"default": {}, "q1024": {}, "file": {}},
         "latency": {}, "race": {}, "appends": {}}
    meta = {}
    try:
        if is_root:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,nr_inodes=2000000",
                            "none", base], check=True)
            mounted = True
            meta["fs"] = "tmpfs mounted by the bench (size=4g, nr_inodes=2000000)"
        else:
            meta["fs"] = "/dev/shm (not root, no private tmpfs)"
        workdir = os.path.join(base, "work")
        os.makedirs(workdir)
        writer, writer_desc = make_writer(workdir)
        meta["writer"] = writer_desc

        trees = {}
        if "1m" in sizes and mem_available_mib() < HUGE_MIN_AVAILABLE_MIB:
            log("skipping the 1m tree: %d MiB available, it needs %d" % (mem_available_mib(), HUGE_MIN_AVAILABLE_MIB))
            sizes.remove("1m")
            R["setup"].pop("1m", None)
        if "1m" in sizes:
            # inotifywait and fswatch need a watch per directory (the kernel's default is 8192
            # or a RAM-based figure): raised for the run, restored after.
            need = SIZES["1m"][0] + 1000
            k = "/proc/sys/fs/inotify/max_user_watches"
            if read_sysctl(k) < need:
                SYSCTL_RAISED[k] = read_sysctl(k)
                write_sysctl(k, need)
        if "setup" not in skip:
            for s in sizes:
                nd, nf = SIZES[s]
                t = time.monotonic()
                root = os.path.join(base, "tree-%s" % s)
                trees[s] = (root, build_tree(root, nd, nf), nf)
                log("built tree %s (%d dirs, %d files) in %.1f s" % (s, nd, nf,
                                                                    time.monotonic() - t))

        for run in range(runs):
            order = tools[run % len(tools):] + tools[:run % len(tools)]
            log("=== run %d/%d (tool order %s)" % (run + 1, runs, ",".join(order)))
            if "setup" not in skip:
                for s in sizes:
                    root, last, nf = trees[s]
                    for t in order:
                        r = test_setup(t, root, last, nf, workdir, args)
                        R["setup"][s].setdefault(t, []).append(r)
                        log("setup %-4s %-11s %s" % (s, t, short(r)))
            if "latency" not in skip:
                for t in order:
                    lat, race = test_latency_race(t, base, workdir, args)
                    R["latency"].setdefault(t, []).append(lat)
                    R["race"].setdefault(t, []).append(race)
                    log("latency   %-11s %s" % (t, short(lat)))
                    log("race      %-11s %s" % (t, short(race)))
            if "burst" not in skip:
                for key, low, to_file in (("default", False, False), ("q1024", True, False),
                                          ("file", False, True)):
                    for t in order:
                        if to_file and t == "watchman":
                            continue  # a socket the bench reads: no output file to give it
                        r = test_burst(t, base, workdir, args, writer, low, to_file)
                        R["burst"][key].setdefault(t, []).append(r)
                        log("burst %-7s %-11s %s" % (key, t, short(r)))
            if "appends" not in skip:
                for t in order:
                    if t == "watchman":
                        continue  # a socket the bench reads: no output file to give it
                    r = test_appends(t, base, workdir, args)
                    R["appends"].setdefault(t, []).append(r)
                    log("appends   %-11s %s" % (t, short(r)))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        raise
    finally:
        for sess in list(LIVE_SESSIONS):
            stop_quietly(sess)
        for k in list(SYSCTL_RESTORE) + list(SYSCTL_RAISED):
            try:
                write_sysctl(k, SYSCTL_RESTORE.pop(k) if k in SYSCTL_RESTORE else SYSCTL_RAISED.pop(k))
            except OSError as e:
                log("could not restore %s: %s" % (k, e))
        if mounted:
            r = subprocess.run(["umount", base])
            if r.returncode != 0:
                subprocess.run(["umount", "-l", base])
        shutil.rmtree(base, ignore_errors=True)

    # metadata
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError):
        mem = 0
    cpu, osname = machine()
    wr = [r.get("writer_s") for k in R["burst"] for t in R["burst"][k]
          for r in R["burst"][k][t] if r and r.get("writer_s")]
    meta.update({
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu, "mem_mb": mem,
        "os": osname, "runs": runs,
        "command": "python3 bench/compare.py" + "".join(
            " " + (a if " " not in a else "'%s'" % a) for a in sys.argv[1:]),
        "versions": {t: tool_version(t, args.lookout) for t in tools},
        "cmds": {
            "lookout": "lookout watch -m -r -q --ready --format '%w%f %e' DIR",
            "lookout-inotify": "lookout watch -m -r -q --ready --backend inotify --format '%w%f %e' DIR",
            "lookout-fanotify": "lookout watch -m -r -q --ready --backend fanotify --format '%w%f %e' DIR",
            "inotifywait": "inotifywait -m -r -q --format '%w%f %e' DIR",
            "fswatch": "fswatch -r -x -l 0.1 --allow-overflow --event-flag-separator=, DIR",
            "watchman": "watchman --foreground -U SOCK -n -o LOG --pidfile P --statefile S; "
                        "then on SOCK (JSON protocol): [\"watch\", DIR] and "
                        "[\"subscribe\", DIR, \"bench\", {\"fields\": "
                        "[\"name\",\"exists\",\"new\",\"type\"]}]",
        },
        "queue_default": read_sysctl(QUEUE_SYSCTL),
        "load_start": LOAD_START, "load_end": loadavg(),
        "elapsed": time.monotonic() - T_START,
        "writer_rate": (BURST_DIRS * BURST_FILES_PER_DIR / med(wr)) if wr else None,
    })
    write_report(args.out, R, meta, tools, sizes, args.section)
    log("wrote %s" % args.out)
    write_raw(args.raw, meta, R)


def short(r):
    return " ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v)
                    for k, v in r.items())


if __name__ == "__main__":
    main()
