#!/usr/bin/env python3
"""Side-by-side benchmark of `lookout tail` against `tail -F`, rsyslog's imfile and syslog-ng.

Standard library only.  Typical use (from the repository root):

    python3 bench/tail_compare.py            # 500k-line busy file, 1000 files x 200 lines, 200 latency samples
    python3 bench/tail_compare.py --quick    # 100k / 1000 x 40 / 50

Peers: GNU `tail -F -q -n +1` on the files a glob matched at its start (the way it is run on
a log tree: new files are never seen), and rsyslogd with imfile in inotify mode (a private
configuration in the foreground; skipped with a message when rsyslogd or imfile is absent).
syslog-ng's wildcard-file source (recursive, inotify) runs beside them; where rsyslog is installed
(they conflict as packages) it runs from syslog-ng-core unpacked into /var/tmp.  Every tool's output goes into one pipe that this
script reads, stamping arrival times, so every tool is measured the same way.  Scenarios, each
on a fresh directory under /dev/shm with a fresh tool process:

  busy      one file, N lines written as fast as possible: lines/s end to end, CPU s per GB
  files     1000 files in 10 directories, appended to round-robin
  rename    rename rotation (app.log -> app.log.K, 3 more lines into the old file, reopen)
  copytrunc copytruncate (copy, truncate; the writer pauses during the two)
  newdirs   50 new directories made after the start, one 100-line file each
  latency   one line every 10 ms: write -> output p50/p99

Lines are numbered; lost and duplicated lines are counted per scenario.  Only processes this
script starts are ever signalled (by their own process group).
"""

import argparse
import datetime
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = "tail"  # <!-- tail:begin --> ... <!-- tail:end --> in RESULTS.md

sys.path.insert(0, HERE)
import compare as C  # noqa: E402  (importing runs nothing)

log, percentile, med, replace_section = C.log, C.percentile, C.med, C.replace_section
cpu_seconds, mem_mb, loadavg = C.cpu_seconds, C.mem_mb, C.loadavg

RSYSLOG_CONF = """
global(workDirectory="{work}")
module(load="imfile" mode="inotify")
input(type="imfile" File="{root}/*.log" Tag="t" reopenOnTruncate="on" addMetadata="off")
input(type="imfile" File="{root}/*/*.log" Tag="t" reopenOnTruncate="on" addMetadata="off")
input(type="imfile" File="{root}/*/*/*.log" Tag="t" reopenOnTruncate="on" addMetadata="off")
template(name="raw" type="string" string="%rawmsg%\\n")
action(type="ompipe" pipe="{fifo}" template="raw")
"""

# syslog-ng's wildcard-file source: recursive, inotify, every file (max-files defaults to 100),
# the line as it is (no syslog parsing), out through a named pipe like imfile's ompipe; with
# flow control, as its manual advises for file sources (without it a full output queue drops).
SYSLOG_NG_CONF = """@version: 3.38
options {{ stats_freq(0); }};
source s {{ wildcard-file(base-dir("{root}") filename-pattern("*.log") recursive(yes)
  monitor-method("inotify") max-files(100000) flags(no-parse)); }};
destination d {{ pipe("{fifo}" template("$MSG\\n")); }};
log {{ source(s); destination(d); flags(flow-control); }};
"""
# syslog-ng-core conflicts with rsyslog (both provide system-log-daemon), so where rsyslog is
# installed syslog-ng runs from its Debian package unpacked here, its two libraries installed.
SYSLOG_NG_DIR = "/var/tmp/lookout-bench/syslog-ng"


def find_syslog_ng():
    """(argv prefix, env) to run syslog-ng, or (None, reason)."""
    if shutil.which("syslog-ng"):
        return ["syslog-ng"], None
    root = os.path.join(SYSLOG_NG_DIR, "root")
    exe = os.path.join(root, "usr", "sbin", "syslog-ng")
    if not os.path.exists(exe):
        os.makedirs(SYSLOG_NG_DIR, exist_ok=True)
        steps = [["apt-get", "download", "syslog-ng-core"]]
        for cmd in steps:
            r = subprocess.run(cmd, cwd=SYSLOG_NG_DIR, capture_output=True, text=True)
            if r.returncode != 0:
                return None, "syslog-ng: `%s` failed (%s); not run" % (" ".join(cmd), r.stderr.strip()[-200:])
        debs = glob.glob(os.path.join(SYSLOG_NG_DIR, "syslog-ng-core_*.deb"))
        if not debs or subprocess.run(["dpkg", "-x", debs[0], root]).returncode != 0:
            return None, "syslog-ng: the downloaded syslog-ng-core package could not be unpacked; not run"
    r = subprocess.run(["apt-get", "install", "-y", "-q", "libivykis0", "libnet1"], capture_output=True, text=True)
    if r.returncode != 0:
        return None, "syslog-ng: its libraries (libivykis0, libnet1) could not be installed; not run"
    libdir = os.path.join(root, "usr", "lib", "syslog-ng")
    env = dict(os.environ, LD_LIBRARY_PATH=libdir)
    return [exe, "--module-path", os.path.join(libdir, "3.38")], env


class Reader(threading.Thread):
    """Reads the tool's output pipe: all bytes, and arrival times of `lat` lines."""

    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd, self.chunks, self.size, self.lat, self.done = fd, [], 0, {}, False
        self.last_growth = time.monotonic()

    def run(self):
        pending = b""
        while True:
            try:
                b = os.read(self.fd, 1 << 20)
            except OSError:
                break
            if not b:
                break
            now = time.monotonic_ns()
            self.chunks.append(b)
            self.size += len(b)
            self.last_growth = time.monotonic()
            if b"lat " in b or pending:
                data = pending + b
                lines = data.split(b"\n")
                pending = lines.pop()
                for ln in lines:
                    if ln.startswith(b"lat "):
                        parts = ln.split()
                        if len(parts) >= 3 and parts[1] not in self.lat:
                            self.lat[parts[1]] = now - int(parts[2])
                if len(pending) > 4096:
                    pending = b""
        self.done = True

    def text(self):
        return b"".join(self.chunks)


def count_lines(data, tag):
    """(seen count per number) for lines 'TAG N ...'."""
    seen = {}
    prefix = tag.encode() + b" "
    for ln in data.split(b"\n"):
        if ln.startswith(prefix):
            try:
                n = int(ln.split()[1])
            except (IndexError, ValueError):
                continue
            seen[n] = seen.get(n, 0) + 1
    return seen


def lost_dup(seen, total):
    lost = sum(1 for i in range(total) if i not in seen)
    dup = sum(c - 1 for c in seen.values() if c > 1)
    return lost, dup


class Session:
    def __init__(self, tool, root, args):
        self.tool, self.root, self.args = tool, root, args
        self.work = tempfile.mkdtemp(prefix="tailbench-w-", dir="/dev/shm")
        self.fifo = os.path.join(self.work, "out.fifo")
        os.mkfifo(self.fifo)
        self.proc = None

    def start(self, files):
        rfd = os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK)
        wfd = os.open(self.fifo, os.O_WRONLY)
        os.set_blocking(rfd, True)
        try:
            import fcntl
            fcntl.fcntl(rfd, 1031, 1 << 20)  # F_SETPIPE_SZ: the same 1 MiB pipe for every tool
        except OSError:
            pass
        self.reader = Reader(rfd)
        self.reader.start()
        env = None
        if self.tool == "lookout":
            cmd = [self.args.lookout, "tail", "--no-filename", self.root]
        elif self.tool == "tail-F":
            cmd = ["tail", "-F", "-q", "-n", "+1", "--"] + files
        elif self.tool == "syslog-ng":
            conf = os.path.join(self.work, "syslog-ng.conf")
            with open(conf, "w") as f:
                f.write(SYSLOG_NG_CONF.format(root=self.root, fifo=self.fifo))
            w = self.work
            cmd = self.args.syslog_ng + ["-F", "-f", conf, "-R", os.path.join(w, "persist"),
                                         "-p", os.path.join(w, "pid"), "-c", os.path.join(w, "ctl")]
            env = self.args.syslog_ng_env
        else:
            conf = os.path.join(self.work, "rsyslog.conf")
            with open(conf, "w") as f:
                f.write(RSYSLOG_CONF.format(work=self.work, root=self.root, fifo=self.fifo))
            cmd = ["rsyslogd", "-n", "-f", conf, "-i", os.path.join(self.work, "pid")]
        self.proc = subprocess.Popen(cmd, env=env, stdout=wfd, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        os.close(wfd)
        # Ready when a line written to the probe file comes out (tail -F: the probe existed).
        probe = os.path.join(self.root, "probe.log")
        deadline = time.monotonic() + 30
        k = 0
        while time.monotonic() < deadline:
            with open(probe, "a") as f:
                f.write("probe %d\n" % k)
            k += 1
            t = time.monotonic() + 0.3
            while time.monotonic() < t:
                if b"probe " in self.reader.text()[-4096:] or b"probe " in self.reader.text():
                    return True
                time.sleep(0.01)
        return False

    def cpu(self):
        return cpu_seconds([self.proc.pid])

    def mem(self):
        return mem_mb([self.proc.pid])

    def wait_quiet(self, pred, quiet_s, timeout_s):
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if pred():
                return True
            if time.monotonic() - self.reader.last_growth > quiet_s:
                return False
            time.sleep(0.01)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        shutil.rmtree(self.work, ignore_errors=True)


def line_bytes(tag, n, width):
    s = "%s %d " % (tag, n)
    return (s + "x" * max(0, width - len(s) - 1) + "\n").encode()


def scenario(tool, name, args):
    root = tempfile.mkdtemp(prefix="tailbench-", dir="/dev/shm")
    try:
        return _scenario(tool, name, args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _scenario(tool, name, args, root):
    r = {}
    files = [os.path.join(root, "probe.log")]
    open(files[0], "w").close()
    if name == "files":
        for d in range(10):
            os.makedirs(os.path.join(root, "d%d" % d))
            for k in range(100):
                p = os.path.join(root, "d%d" % d, "f%03d.log" % k)
                open(p, "w").close()
                files.append(p)
    if name in ("busy", "rename", "copytrunc", "latency"):
        p = os.path.join(root, "app.log")
        open(p, "w").close()
        files.append(p)
    if name == "newdirs":
        os.makedirs(os.path.join(root, "existing"))
    s = Session(tool, root, args)
    try:
        if not s.start(files):
            r["error"] = "no probe line within 30 s"
            return r
        time.sleep(0.2)
        cpu0 = s.cpu()
        t0 = time.monotonic()
        base = s.reader.size
        if name == "busy":
            total, width = args.busy_lines, 64
            path = os.path.join(root, "app.log")
            # Made before the clock starts and written in 64 KiB pieces: the tool's pace is
            # measured, not this script's formatting.
            data = b"".join(line_bytes("busy", i, width) for i in range(total))
            cpu0 = s.cpu()
            t0 = time.monotonic()
            with open(path, "ab", buffering=0) as f:
                for off in range(0, len(data), 1 << 16):
                    f.write(data[off:off + (1 << 16)])
            want = total * width
            ok = s.wait_quiet(lambda: s.reader.size - base >= want, 10, 300)
            dt = time.monotonic() - t0
            seen = count_lines(s.reader.text(), "busy")
            r.update(lines_s=len(seen) / dt if ok else None, cpu_gb=(s.cpu() - cpu0) / (want / 1e9),
                     lost_dup=lost_dup(seen, total))
        elif name == "files":
            per, width = args.file_lines, 64
            total = per * 1000
            fds = [open(p, "ab", buffering=0) for p in files[1:]]
            n = 0
            for i in range(per):
                for k, f in enumerate(fds):
                    f.write(line_bytes("files", n, width))
                    n += 1
            for f in fds:
                f.close()
            want = total * width
            ok = s.wait_quiet(lambda: s.reader.size - base >= want, 10, 300)
            dt = time.monotonic() - t0
            seen = count_lines(s.reader.text(), "files")
            r.update(lines_s=len(seen) / dt if ok else None, cpu_gb=(s.cpu() - cpu0) / (want / 1e9),
                     lost_dup=lost_dup(seen, total))
        elif name in ("rename", "copytrunc"):
            total, every = 20000, 2000
            path = os.path.join(root, "app.log")
            f = open(path, "ab", buffering=0)
            rot = 0
            i = 0
            while i < total:
                f.write(line_bytes("rot", i, 40))
                i += 1
                if i % 100 == 0:
                    time.sleep(0.002)  # ~50k lines/s: a busy service, not a flood
                if i % every == 0 and i < total:
                    rot += 1
                    if name == "rename":
                        os.rename(path, "%s.%d" % (path, rot))
                        for _ in range(3):
                            f.write(line_bytes("rot", i, 40))
                            i += 1
                        f.close()
                        f = open(path, "ab", buffering=0)
                    else:
                        shutil.copyfile(path, "%s.%d" % (path, rot))
                        os.truncate(path, 0)
            f.close()
            s.wait_quiet(lambda: len(count_lines(s.reader.text(), "rot")) >= total, 5, 120)
            r["lost_dup"] = lost_dup(count_lines(s.reader.text(), "rot"), total)
        elif name == "newdirs":
            total = 0
            for d in range(50):
                dd = os.path.join(root, "new%02d" % d)
                os.makedirs(dd)
                with open(os.path.join(dd, "n.log"), "ab") as f:
                    for k in range(100):
                        f.write(line_bytes("new", total, 40))
                        total += 1
            s.wait_quiet(lambda: len(count_lines(s.reader.text(), "new")) >= total, 5, 60)
            r["lost_dup"] = lost_dup(count_lines(s.reader.text(), "new"), total)
        elif name == "latency":
            path = os.path.join(root, "app.log")
            with open(path, "ab", buffering=0) as f:
                for k in range(args.latency_samples):
                    f.write(b"lat %d %d\n" % (k, time.monotonic_ns()))
                    time.sleep(0.01)
            s.wait_quiet(lambda: len(s.reader.lat) >= args.latency_samples, 3, 30)
            lats = [v / 1e6 for v in s.reader.lat.values()]
            r.update(p50=percentile(lats, 50) if lats else None, p99=percentile(lats, 99) if lats else None,
                     lat_missing=args.latency_samples - len(lats))
        r["rss_mb"] = s.mem()[1]
        return r
    finally:
        s.stop()


def merge_runs(runs):
    """Medians of the numeric results over runs; lost/duplicated summed (any loss counts)."""
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        return {"error": errors[0]}
    out = {}
    for key in runs[0]:
        vals = [r.get(key) for r in runs]
        if key == "lost_dup":
            out[key] = (sum(v[0] for v in vals), sum(v[1] for v in vals))
        elif all(isinstance(v, (int, float)) for v in vals):
            out[key] = med(vals)
        else:
            out[key] = vals[0]
    return out


SCENARIOS = ["busy", "files", "rename", "copytrunc", "newdirs", "latency"]


def fmtv(v, kind):
    if v is None:
        return "n/a"
    if kind == "int":
        return "%d" % round(v)
    if kind == "ld":
        return "%d / %d" % v
    return "%.*f" % (kind, v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--results", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    ap.add_argument("--runs", type=int, default=3, help="runs of the throughput scenarios (medians)")
    args = ap.parse_args()
    args.busy_lines = 100000 if args.quick else 500000
    args.file_lines = 40 if args.quick else 200
    args.latency_samples = 50 if args.quick else 200
    tools = ["lookout", "tail-F"]
    skipped = []
    if shutil.which("rsyslogd") and glob.glob("/usr/lib/*/rsyslog/imfile.so"):
        tools.append("rsyslog-imfile")
    else:
        skipped.append("rsyslog-imfile: rsyslogd or its imfile module is not installed (apt-get install rsyslog)")
    args.syslog_ng, args.syslog_ng_env = find_syslog_ng()
    if args.syslog_ng:
        tools.append("syslog-ng")
    else:
        skipped.append(args.syslog_ng_env)
    load0 = loadavg()
    t_start = time.monotonic()
    R = {t: {} for t in tools}
    for name in SCENARIOS:
        for t in tools:
            runs = []
            for k in range(args.runs if name in ("busy", "files") else 1):
                log("%s: %s (run %d)" % (name, t, k + 1))
                try:
                    runs.append(scenario(t, name, args))
                except Exception as e:  # one broken peer must not lose the others' numbers
                    runs.append({"error": repr(e)})
                log("  %s" % runs[-1])
            R[t][name] = merge_runs(runs)
    rows = [
        ("one busy file: lines/s", "busy", "lines_s", "int"),
        ("one busy file: CPU s per GB", "busy", "cpu_gb", 1),
        ("one busy file: lost / duplicated", "busy", "lost_dup", "ld"),
        ("one busy file: peak RSS (MiB)", "busy", "rss_mb", 1),
        ("1000 files: lines/s", "files", "lines_s", "int"),
        ("1000 files: CPU s per GB", "files", "cpu_gb", 1),
        ("1000 files: lost / duplicated", "files", "lost_dup", "ld"),
        ("1000 files: peak RSS (MiB)", "files", "rss_mb", 1),
        ("rename rotation x9 (20000 lines): lost / duplicated", "rename", "lost_dup", "ld"),
        ("copytruncate x9 (20000 lines): lost / duplicated", "copytrunc", "lost_dup", "ld"),
        ("50 new dirs after start (5000 lines): lost / duplicated", "newdirs", "lost_dup", "ld"),
        ("latency write -> output p50 (ms)", "latency", "p50", 2),
        ("latency p99 (ms)", "latency", "p99", 2),
    ]
    lines = ["| metric | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    for label, sc, key, kind in rows:
        cells = []
        for t in tools:
            r = R[t].get(sc, {})
            cells.append("error" if "error" in r else fmtv(r.get(key), kind))
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    errors = ["- %s / %s: %s" % (t, sc, R[t][sc]["error"]) for t in tools for sc in SCENARIOS if "error" in R[t][sc]]
    head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    body = "\n".join([
        "## `lookout tail` vs `tail -F`, rsyslog imfile and syslog-ng",
        "",
        "Generated by `bench/tail_compare.py`.",
        "",
        "- Date: %s UTC" % datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
        "- Command: `python3 bench/tail_compare.py%s`" % (" --quick" if args.quick else ""),
        "- Sizes: busy file %d lines of 64 bytes; 1000 files x %d lines of 64 bytes; %d latency samples;"
        " throughput rows are medians of %d runs (lost/duplicated summed over them)" %
        (args.busy_lines, args.file_lines, args.latency_samples, args.runs),
        "- lookout: %s (repo HEAD %s)" % (args.lookout, head),
        "- Wall time: %d s; load average at start / end: %s / %s (2 cores shared with other work)" %
        (time.monotonic() - t_start, load0, loadavg()),
        "",
        "Tools (DIR a fresh directory under /dev/shm; every tool writes into the same kind of 1 MiB pipe, read by the bench):",
        "",
        "- **lookout** `lookout tail --no-filename DIR`",
        "- **tail-F** `tail -F -q -n +1 -- FILES` (FILES: what the tree held at the start, as a shell glob gives it)",
        "- **rsyslog-imfile** `rsyslogd -n -f CONF`: imfile in inotify mode on `DIR/*.log`, `DIR/*/*.log`, `DIR/*/*/*.log`"
        " (imfile has no `**`), `reopenOnTruncate=\"on\"`, output `%rawmsg%` through ompipe",
        "- **syslog-ng** `syslog-ng -F -f CONF` (%s): `wildcard-file(base-dir(DIR) filename-pattern(\"*.log\")"
        " recursive(yes) monitor-method(\"inotify\") max-files(100000) flags(no-parse))`, output `$MSG` through a"
        " `pipe()` destination, `flags(flow-control)` on the log path" % ("installed" if args.syslog_ng == ["syslog-ng"] else
                                   "syslog-ng-core 3.38 unpacked from its Debian package into " + SYSLOG_NG_DIR +
                                   ": it conflicts with rsyslog"),
        "",
    ] + lines + [
        "",
        "How to read it: lines/s counts distinct lines out over the time from the first write to the last line out"
        " (the busy file's 32 MB are made beforehand and written in 64 KiB pieces, so the tool's pace is measured);"
        " CPU s per GB is the tool's user+system time over the bytes written. *lost*: numbered lines never printed;"
        " *duplicated*: printed more than once (a tool whose output stays still for 10 s before every line is out has"
        " the missing ones counted as lost, and no lines/s for that run). Rotation scenarios write ~50k lines/s and"
        " rotate every 2000 lines. CPU is read from /proc in clock ticks (10 ms): below ~0.05 s per run it is coarse.",
        "",
        "### Skipped",
        "",
    ] + (["- " + x for x in skipped] or ["None."]) + ["", "### Errors", ""] + (errors or ["None."]))
    print(body)
    if not args.no_write:
        replace_section(args.results, MARKER, body)


if __name__ == "__main__":
    main()
