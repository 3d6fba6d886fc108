#!/usr/bin/env python3
"""Polling benchmark: lookout's poll scan against `find -printf` and fswatch's poll_monitor.

Standard library only; shares bench/compare.py's helpers (tree layout, /proc CPU and RSS,
tmpfs handling).  See bench/README.md, "Polling", for what is measured and how.  From the
repository root:

    python3 bench/poll_compare.py            # scans: 100k and 500k trees; idle: 2k, 100k and
                                             # 500k trees; 3 runs, 60 s idle windows
    python3 bench/poll_compare.py --quick    # scan 100k, idle 2k and 100k, 1 run, 20 s windows

It writes its section of bench/RESULTS.md (between `<!-- poll:begin -->` and
`<!-- poll:end -->`), leaving the rest of the file alone.  Only processes started by this
script are ever signalled (by pid).
"""

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare as C  # noqa: E402  (the sibling script; importing it runs nothing)

REPO = C.REPO
SIZES = {"2k": (200, 2000), "100k": C.SIZES["10k"], "500k": C.SIZES["50k"]}   # (dirs, files),
                                                                            # 10-ary layout
QUIET_MIN = 15.0          # the "change made after 15 s of quiet"
LATENCY_TARGET = 3.0      # ... "is still reported within 3 s"
PROBE_TIMEOUT = 30.0
INPLACE_TARGET = 1.0      # issue 16: an in-place write seen within 1 s on a 2,000-file tree
INPLACE_TIMEOUT = 40.0    # > 30 s, the longest interval between lookout's full passes
INPLACE_BYTES = 4096      # the in-place probe file's size (the other files are empty)
WARMUP_S = 5.0            # after ready, before the idle window (see idle_run)
CPU_NOISE = 0.05          # idle CPU "no more than": lookout/fixed-30-s ratio <= 1 + this
LIVE = []                 # Popen objects to stop on any exit path

SCAN_TOOLS = ["find", "lookout_pass", "lookout_pass_1t", "lookout_crawl", "fswatch_first",
              "fswatch_steady"]
SCAN_LABELS = {
    "find": "find -printf",
    "lookout_pass": "lookout full pass",
    "lookout_pass_1t": "lookout full pass, 1 thread",
    "lookout_crawl": "lookout start-up crawl (READY)",
    "fswatch_first": "fswatch first scan",
    "fswatch_steady": "fswatch later scan",
}
# Ratio columns: (numerator, denominator); median over runs of the per-run ratio.
SCAN_RATIOS = [("lookout_pass", "find"), ("lookout_pass", "fswatch_first"),
               ("lookout_crawl", "find"), ("lookout_crawl", "fswatch_first")]
SHORT = {"find": "find", "lookout_pass": "pass", "lookout_crawl": "crawl",
         "fswatch_first": "fswatch 1st", "lookout": "lookout", "fswatch": "fswatch",
         "lookout_fixed30": "fixed 30 s"}
IDLE_TOOLS = ["lookout", "lookout_fixed30", "fswatch"]
IDLE_LABELS = {
    "lookout": "lookout --poll (defaults: full passes from the 1 % budget)",
    "lookout_fixed30": "lookout --poll --poll-full-every 30 (fixed 30 s, before)",
    "fswatch": "fswatch -m poll_monitor -r",
}
IDLE_RATIOS = [("lookout", "fswatch"), ("lookout_fixed30", "fswatch"),
               ("lookout", "lookout_fixed30")]
log = C.log


def stop(p):
    """Terminates a process this script started, then reaps it."""
    if p in LIVE:
        LIVE.remove(p)
    if p.poll() is None:
        try:
            p.terminate()
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        except OSError:
            pass


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, **kw)
    LIVE.append(p)
    return p


class Lines(object):
    """Reads a pipe line by line in a thread, stamping each line with time.monotonic()."""

    def __init__(self, stream):
        self.lines = []
        self.cv = threading.Condition()
        self.thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self.thread.start()

    def _run(self, stream):
        try:
            for raw in iter(stream.readline, b""):
                with self.cv:
                    self.lines.append((time.monotonic(), raw.decode("utf-8", "replace").rstrip("\n")))
                    self.cv.notify_all()
        except (OSError, ValueError):
            pass

    def wait_for(self, pred, start, timeout):
        """First (time, line) from index `start` on with pred(line); (None, None) on timeout."""
        deadline = time.monotonic() + timeout
        i = start
        with self.cv:
            while True:
                while i < len(self.lines):
                    t, line = self.lines[i]
                    i += 1
                    if pred(line):
                        return t, i
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, i
                self.cv.wait(min(left, 0.5))


# --------------------------------------------------------------------------- full scans

def run_measured(cmd, stdout, env=None):
    """Runs cmd to its end: (exit code, wall s, CPU s, peak RSS MiB).

    CPU comes from wait4's rusage.  Peak RSS is VmHWM from /proc, read every 2 ms until
    the process exits: wait4's ru_maxrss cannot be used, because Linux carries the forking
    process's high-water mark (this python) across exec."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.DEVNULL, env=env)
    hwm = 0.0
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            break
        hwm = max(hwm, C.mem_mb([p.pid])[1])
        time.sleep(0.002)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_utime + ru.ru_stime, hwm


def scan_find(root, nfiles):
    """find ROOT -printf '%p %s %T@\\n' > /dev/null."""
    with open(os.devnull, "wb") as null:
        rc, wall, cpu, hwm = run_measured(["find", root, "-printf", "%p %s %T@\n"], null)
    if rc != 0:
        return {"error": "find exited %d" % rc}
    return {"wall_s": wall, "files_per_s": nfiles / wall, "cpu_s": cpu, "hwm_mb": hwm}


def scan_lookout_crawl(lookout, root, nfiles, workdir):
    """lookout watch --poll until READY: its start-up crawl stats every entry."""
    err = open(os.path.join(workdir, "lookout-crawl.stderr"), "wb")
    t0 = time.monotonic()
    p = spawn([lookout, "watch", "--poll", "-m", "-r", "-q", "--ready", root],
              stdout=subprocess.PIPE, stderr=err)
    try:
        r, _, _ = select.select([p.stdout], [], [], 60 + nfiles * 0.0005)
        line = p.stdout.readline() if r else b""
        wall = time.monotonic() - t0
        if line.strip() != b"READY":
            return {"error": "no READY (got %r, rc=%s)" % (line[:80], p.poll())}
        cpu = C.cpu_seconds([p.pid])
        _, hwm = C.mem_mb([p.pid])
        return {"wall_s": wall, "files_per_s": nfiles / wall, "cpu_s": cpu, "hwm_mb": hwm}
    finally:
        stop(p)
        err.close()


def scan_lookout_pass(microbench, lookout, root, nfiles, workdir, min_time):
    """One steady-state polling pass (scan + diff of a quiet tree) timed by
    bench/microbench.cc; peak RSS from the real `lookout watch --poll --poll-full` process
    after it has made full passes (the microbench holds extra models for its own runs).

    Returns {"lookout_pass": ..., "lookout_pass_1t": ..., "pruned": ...}."""
    out_path = os.path.join(workdir, "microbench.json")
    env = dict(os.environ, LOOKOUT_BENCH_TREE=root)
    with open(out_path, "wb") as out:
        rc, _, _, _ = run_measured([microbench,
                                    "--benchmark_filter=BM_PollPass(Full/[01]|Pruned/0)/",
                                    "--benchmark_format=json",
                                    "--benchmark_min_time=%g" % min_time], out, env)
    keys = {"BM_PollPassFull/0/": "lookout_pass", "BM_PollPassFull/1/": "lookout_pass_1t",
            "BM_PollPassPruned/0/": "pruned"}
    if rc != 0:
        return {k: {"error": "microbench exited %d" % rc} for k in keys.values()}
    with open(out_path) as f:
        data = json.load(f)
    res = {}
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    for b in data.get("benchmarks", []):
        for prefix, key in keys.items():
            if b["name"].startswith(prefix):
                if b.get("error_occurred"):
                    res[key] = {"error": b.get("error_message", "benchmark error")}
                    continue
                k = scale[b.get("time_unit", "ns")]
                wall = b["real_time"] * k
                res[key] = {"wall_s": wall, "files_per_s": nfiles / wall,
                            "cpu_s": b["cpu_time"] * k, "iterations": b.get("iterations")}
    for key in keys.values():
        res.setdefault(key, {"error": "missing from the microbench output"})
    full = res["lookout_pass"]
    if "error" not in full:
        p = spawn([lookout, "watch", "--poll", "--poll-full", "--poll-min", "0.5",
                   "--poll-max", "0.5", "-m", "-r", "-q", "--ready", root],
                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            r, _, _ = select.select([p.stdout], [], [], 60 + nfiles * 0.0005)
            if r and p.stdout.readline().strip() == b"READY":
                time.sleep(1.0 + 3 * full["wall_s"])   # at least two full passes
                full["hwm_mb"] = C.mem_mb([p.pid])[1]
        finally:
            stop(p)
    return res


def scan_fswatch(root, nfiles, workdir):
    """fswatch -v -m poll_monitor -r ROOT.

    poll_monitor scans the whole tree, sleeps its latency (1 s, its minimum), scans again,
    prints what changed, and logs "Done scanning." (with -v, on stderr) after each scan.
    first scan = spawn to the first "Done scanning."; later scan = time between the first and
    second "Done scanning." minus the 1 s sleep.  A probe file created after the first scan
    must be reported by the second (a check that the scans really cover the tree)."""
    t0 = time.monotonic()
    p = spawn(["fswatch", "-v", "-m", "poll_monitor", "-r", root],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    probe = os.path.join(root, "poll-probe-%d" % int(t0 * 1000))
    try:
        out, err = Lines(p.stdout), Lines(p.stderr)
        done = lambda line: line.endswith("Done scanning.")
        t1, i = err.wait_for(done, 0, 60 + nfiles * 0.001)
        if t1 is None:
            return {"error": "no first 'Done scanning.' (rc=%s)" % p.poll()}, None
        cpu1 = C.cpu_seconds([p.pid])
        _, hwm1 = C.mem_mb([p.pid])
        with open(probe, "w"):
            pass
        t2, _ = err.wait_for(done, i, 60 + nfiles * 0.001)
        tp, _ = out.wait_for(lambda line: line == probe, 0, 5)
        if t2 is None:
            return {"error": "no second 'Done scanning.'"}, None
        cpu2 = C.cpu_seconds([p.pid])
        _, hwm2 = C.mem_mb([p.pid])
        first = {"wall_s": t1 - t0, "files_per_s": nfiles / (t1 - t0), "cpu_s": cpu1,
                 "hwm_mb": hwm1}
        steady_wall = max(1e-6, t2 - t1 - 1.0)
        steady = {"wall_s": steady_wall, "files_per_s": nfiles / steady_wall,
                  "cpu_s": cpu2 - cpu1, "hwm_mb": hwm2}
        if tp is None:
            first["error"] = steady["error"] = "probe created after the first scan not reported"
        return first, steady
    finally:
        stop(p)
        try:
            os.unlink(probe)
        except OSError:
            pass


# --------------------------------------------------------------------------- idle cost

def inplace_file(last_dir, ndirs):
    """The in-place probe: a file of the deepest, last-built directory (build_tree puts file j
    in directory 1 + j % ndirs), given INPLACE_BYTES of content so a same-size rewrite is a
    real write (a 0-byte write() to an empty file changes no timestamp)."""
    path = os.path.join(last_dir, "f%d" % (ndirs - 1))
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, b"\0" * INPLACE_BYTES)
    finally:
        os.close(fd)
    return path


def rewrite_in_place(path, seq):
    """Writes over `path` without O_TRUNC: same size, new content, new mtime and ctime; the
    directory's mtime does not change, so only a pass that stats the file can see it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        data = bytes([1 + seq % 255]) * INPLACE_BYTES
        n = os.write(fd, data)
    finally:
        os.close(fd)
    return n


def idle_run(tool, lookout, root, probe_file, seconds, workdir, seq=0):
    """CPU per minute on a quiet tree, then how long a new file and an in-place write take to
    be reported.

    lookout: `lookout watch --poll -m -r -q --format '%w%f %e' --ready ROOT` with its defaults
    (pruned passes 0.25 s after a change, doubling to 2 s while quiet; a full pass after 100x
    the last one's cost, clamped to [0.25 s, 30 s]); lookout_fixed30: the same with
    `--poll-full-every 30` (the fixed interval of before).  fswatch: `fswatch -v -m
    poll_monitor -r ROOT` (default latency 1 s; -v only to learn when its first scan is over).
    After ready the bench waits WARMUP_S (lookout's budget makes its first full pass 0.25 s
    after READY, to learn what one costs; that start-up pass is not idle cost), then the idle
    window, >= 15 s, touching nothing.  At its end a new file is created in the root
    directory; once it is reported, `probe_file` (deep in the tree) is rewritten in place."""
    res = {}
    err = open(os.path.join(workdir, "%s-idle.stderr" % tool), "wb")
    t_spawn = time.monotonic()
    if tool.startswith("lookout"):
        extra = ["--poll-full-every", "30"] if tool == "lookout_fixed30" else []
        p = spawn([lookout, "watch", "--poll"] + extra + ["-m", "-r", "-q", "--ready",
                  "--format", "%w%f %e", root], stdout=subprocess.PIPE, stderr=err)
        out = Lines(p.stdout)
        t_ready, start = out.wait_for(lambda line: line == "READY", 0, 120)
        name_of = lambda line: line.rsplit(" ", 1)[0]
    else:
        p = spawn(["fswatch", "-v", "-m", "poll_monitor", "-r", root],
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, errlines = Lines(p.stdout), Lines(p.stderr)
        t_ready, _ = errlines.wait_for(lambda line: line.endswith("Done scanning."), 0, 120)
        start = 0
        name_of = lambda line: line
    probe = os.path.join(root, "idle-probe-%s-%d" % (tool, int(t_spawn * 1000)))
    try:
        if t_ready is None:
            res["error"] = "not ready within 120 s (rc=%s)" % p.poll()
            return res
        res["ready_s"] = t_ready - t_spawn
        time.sleep(WARMUP_S)
        c0, w0 = C.cpu_seconds([p.pid]), time.monotonic()
        time.sleep(max(seconds, QUIET_MIN))
        c1, w1 = C.cpu_seconds([p.pid]), time.monotonic()
        res["window_s"] = w1 - w0
        res["cpu_per_min"] = (c1 - c0) / (w1 - w0) * 60.0
        res["rss_mb"], res["hwm_mb"] = C.mem_mb([p.pid])
        with open(probe, "w"):
            pass
        t_w = time.monotonic()
        t_seen, nxt = out.wait_for(lambda line: name_of(line) == probe, start, PROBE_TIMEOUT)
        if t_seen is None:
            res["error"] = "probe not reported within %.0f s" % PROBE_TIMEOUT
            nxt = start
        else:
            res["latency_s"] = t_seen - t_w
        # In-place write: same size, new mtime; a miss is recorded, not an error (the other
        # numbers of the run stand).
        size0 = os.stat(probe_file).st_size
        rewrite_in_place(probe_file, seq)
        t_w = time.monotonic()
        if os.stat(probe_file).st_size != size0:
            res["error"] = "in-place probe changed size"
        t_seen, i = out.wait_for(lambda line: name_of(line) == probe_file, nxt, INPLACE_TIMEOUT)
        if t_seen is None:
            res["inplace_s"] = None
            res["inplace_missed"] = True
        else:
            res["inplace_s"] = t_seen - t_w
            if tool.startswith("lookout"):   # the event it named
                res["inplace_line"] = out.lines[i - 1][1][len(probe_file):].strip()
        if p.poll() is not None:
            res["error"] = "%s exited rc=%s" % (tool, p.returncode)
        return res
    finally:
        stop(p)
        err.close()
        try:
            os.unlink(probe)
        except OSError:
            pass


# --------------------------------------------------------------------------- report

def ratio_runs(a_runs, b_runs, key):
    return C.ratio_median(a_runs, b_runs, key)


def grid(L, cols, labels, get, rows, ratios):
    """rows: [(label, key, kind)]; ratios: [(a, b)] -> a/b columns (median of per-run)."""
    head = ["metric"] + [labels[c] for c in cols] + ["%s / %s" % (SHORT[a], SHORT[b])
                                                      for a, b in ratios]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for label, key, kind in rows:
        row = [label] + [C.cell(get(c), key, kind) for c in cols]
        for a, b in ratios:
            r, _ = ratio_runs(get(a), get(b), key)
            row.append(C.fmt(r, "ratio"))
        L.append("| " + " | ".join(row) + " |")
    L.append("")


def verdict(ok):
    return "**yes**" if ok else "**no**"


def previous_scan(path):
    """The full-scan part of the poll section already in `path`, kept when this run skips
    the scan test: {"meta": [header lines], "targets": [target rows], "blocks": [lines]}.
    None when there is none."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    b, z = text.find("<!-- poll:begin -->"), text.find("<!-- poll:end -->")
    if b < 0 or z < b:
        return None
    lines = text[b:z].splitlines()
    meta = [l for l in lines if l.startswith(("- Date:", "- Command:", "- Load average"))]
    targets = [l for l in lines if l.startswith("| full poll scan")]
    blocks, inside = [], False
    for l in lines:
        if l.startswith("### "):
            inside = l.startswith("### Full scan")
        if inside:
            blocks.append(l)
    if not blocks:
        return None
    return {"meta": meta, "targets": targets, "blocks": blocks}


def inplace_cell(runs):
    """Median (min–max) of the in-place latencies reported, and how many were not."""
    good = [r["inplace_s"] for r in runs if r and "error" not in r and r.get("inplace_s") is not None]
    missed = sum(1 for r in runs if r and "error" not in r and r.get("inplace_missed"))
    s = C.fmt(C.med(good), "s")
    if len(good) > 1:
        s += " <sub>(%s–%s)</sub>" % (C.fmt(min(good), "s"), C.fmt(max(good), "s"))
    if missed:
        s += " (%d of %d not reported within %.0f s)" % (missed, len(runs), INPLACE_TIMEOUT)
    errs = sum(1 for r in runs if r and "error" in r)
    if errs:
        s += " ⚠%d" % errs
    return s


def write_section(path, R, meta, sizes, idle_sizes):
    kept = previous_scan(path) if not R["scan"] else None
    L = []
    L.append("## Polling: lookout --poll vs find -printf and fswatch poll_monitor")
    L.append("")
    L.append("Generated by `bench/poll_compare.py` (method: `bench/README.md`, *Polling*); "
             "`bench/compare.py` keeps this section when it rewrites the file.")
    L.append("")
    L.append("- Date: %s; machine: %s, %d CPUs, kernel %s" % (
        meta["date"], meta["cpu"], meta["nproc"], meta["kernel"]))
    L.append("- Command: `%s`; runs: %d; idle window %.0f s (after %.0f s of warm-up)" % (
        meta["command"], meta["runs"], meta["idle_s"], WARMUP_S))
    all_sizes = [s for s in SIZES if s in set(sizes) | set(idle_sizes)]
    L.append("- Trees: %s, 10-ary, empty files (but the in-place probe file, %d bytes), on a "
             "tmpfs mounted by the script, warm (built, then read once by `find` before "
             "timing)" % (", ".join("%d dirs / %d files" % SIZES[s] for s in all_sizes),
                          INPLACE_BYTES))
    L.append("- Load average (1/5/15 min) at start: %s; at end: %s.  The machine is shared "
             "with other builds; wall times of multi-threaded scans suffer most from that, "
             "CPU seconds least." % (meta["load_start"], meta["load_end"]))
    L.append("- Versions: %s" % "; ".join("%s" % v for v in meta["versions"]))
    if kept:
        L.append("- Full scan tables and their targets: **not run this time** (`--skip scan`), "
                 "kept as the previous run wrote them: %s" % " ".join(
                     l[2:].split(".  The machine")[0].rstrip() for l in kept["meta"]))
    L.append("")
    L.append("Cells: median over runs, min–max in small print; ratio columns are the median "
             "of the ratios computed within each run (below 1: lookout took less; for files/s "
             "above 1: lookout was faster).  *pass* = lookout's steady-state full polling pass, "
             "*crawl* = its start-up crawl until READY, *fswatch 1st* = poll_monitor's first "
             "scan; *lookout* = `lookout --poll` with its defaults, *fixed 30 s* = the same "
             "with `--poll-full-every 30` (the full-pass interval before issue 16).")
    L.append("")

    # targets
    gi = lambda s, t: R["idle"].get(s, {}).get(t, [])
    L.append("### Targets (issues 3 and 16)")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    if kept:
        L.extend(kept["targets"])
    for s in sizes:
        g = lambda t, s=s: R["scan"][s].get(t, [])
        if not R["scan"].get(s):
            continue
        r, _ = ratio_runs(g("lookout_pass"), g("find"), "wall_s")
        L.append("| full poll scan >= 2x faster than `find -printf`, %d files (wall) | "
                 "lookout/find = %s (%s x faster) | %s |" % (
                     SIZES[s][1], C.fmt(r, "ratio"), "%.2f" % (1 / r) if r else "—",
                     verdict(r is not None and r <= 0.5)))
    if "100k" in R["idle"]:
        r, _ = ratio_runs(gi("100k", "lookout"), gi("100k", "fswatch"), "cpu_per_min")
        L.append("| idle CPU <= 1/10 of `fswatch -m poll_monitor`'s, quiet 100k tree | "
                 "lookout/fswatch = %s | %s |" % (C.fmt(r, "ratio"),
                                                  verdict(r is not None and r <= 0.1)))
        runs = gi("100k", "lookout")
        lat = [x.get("latency_s") for x in runs if x and x.get("latency_s") is not None]
        missed = sum(1 for x in runs if x and x.get("latency_s") is None)
        worst = max(lat) if lat else None
        L.append("| a change after >= 15 s of quiet reported within 3 s (new file, 100k tree) | "
                 "worst of %d runs: %s s%s | %s |" % (
                     len(runs), C.fmt(worst, "s"), " (%d not reported)" % missed if missed else "",
                     verdict(worst is not None and worst <= LATENCY_TARGET and not missed)))
    if "2k" in R["idle"]:
        runs = gi("2k", "lookout")
        lat = [x["inplace_s"] for x in runs if x and x.get("inplace_s") is not None]
        missed = len(runs) - len(lat)
        worst = max(lat) if lat else None
        L.append("| in-place write seen within 1 s on a 2,000-file tree (defaults) | "
                 "worst of %d runs: %s s%s | %s |" % (
                     len(runs), C.fmt(worst, "s"), " (%d not reported)" % missed if missed else "",
                     verdict(worst is not None and worst <= INPLACE_TARGET and not missed)))
    if "500k" in R["idle"]:
        a, b = gi("500k", "lookout"), gi("500k", "lookout_fixed30")
        r, _ = ratio_runs(a, b, "cpu_per_min")
        L.append("| 500k-file tree idle CPU no more than with a fixed 30 s full pass "
                 "(defaults vs `--poll-full-every 30`; met at a ratio <= %.2f, the noise of "
                 "10 ms CPU ticks and of where the 30 s passes fall in the window) | "
                 "%s vs %s CPU s/min, lookout/fixed = %s | %s |" % (
                     1 + CPU_NOISE, C.cell(a, "cpu_per_min", "cpu"),
                     C.cell(b, "cpu_per_min", "cpu"), C.fmt(r, "ratio"),
                     verdict(r is not None and r <= 1 + CPU_NOISE)))
    L.append("")

    if kept:
        L.extend(kept["blocks"])
        while L and not L[-1].strip():
            L.pop()
        L.append("")
    for s in sizes:
        if not R["scan"].get(s):
            continue
        nd, nf = SIZES[s]
        g = lambda t, s=s: R["scan"][s].get(t, [])
        L.append("### Full scan: %d dirs / %d files" % (nd, nf))
        L.append("")
        grid(L, SCAN_TOOLS, SCAN_LABELS, g, [
            ("wall (s)", "wall_s", "s"),
            ("files/s", "files_per_s", "int"),
            ("CPU (s)", "cpu_s", "cpu"),
            ("peak RSS (MiB)", "hwm_mb", "mb"),
        ], SCAN_RATIOS)
        busy = sum(1 for a, b in zip(g("lookout_pass"), g("lookout_pass_1t"))
                   if a and b and "error" not in a and "error" not in b
                   and a["wall_s"] > 0.8 * b["wall_s"])
        if busy:
            L.append("In %d of %d runs lookout's default pass (2 threads here) was no more "
                     "than 20 %% faster than its 1-thread pass: the second core was busy "
                     "with other work then (see the load averages), and the wall time of "
                     "those runs is that of one thread." % (busy, len(g("lookout_pass"))))
            L.append("")
        pr = g("pruned")
        L.append("lookout's pruned pass on the same quiet tree (stats directories only; what "
                 "runs between full passes): wall %s s, CPU %s s." % (
                     C.cell(pr, "wall_s", "s"), C.cell(pr, "cpu_s", "cpu")))
        L.append("")

    for s in idle_sizes:
        if s not in R["idle"]:
            continue
        nd, nf = SIZES[s]
        g = lambda t, s=s: gi(s, t)
        L.append("### Idle cost and detection latency: quiet %d-file tree (%d dirs)" % (nf, nd))
        L.append("")
        grid(L, IDLE_TOOLS, IDLE_LABELS, g, [
            ("CPU per minute (s)", "cpu_per_min", "cpu"),
            ("ready after spawn (s)", "ready_s", "s"),
            ("RSS at end of window (MiB)", "rss_mb", "mb"),
            ("new file reported after (s)", "latency_s", "s"),
        ], IDLE_RATIOS)
        # the in-place row: misses are counted, not errors
        row = ["in-place write reported after (s)"] + [inplace_cell(g(t)) for t in IDLE_TOOLS]
        for a, b in IDLE_RATIOS:
            r, _ = ratio_runs(g(a), g(b), "inplace_s")
            row.append(C.fmt(r, "ratio"))
        L.insert(len(L) - 1, "| " + " | ".join(row) + " |")
        said = sorted(set(x.get("inplace_line") for t in IDLE_TOOLS if t.startswith("lookout")
                          for x in g(t) if x and x.get("inplace_line")))
        if said:
            L.append("lookout reported the in-place write as: %s." % ", ".join(
                "`%s`" % w for w in said))
            L.append("")

    errs = C.collect_errors(R)
    L.append("Errors: " + ("none." if not errs else ""))
    for e in errs:
        L.append("- " + e.replace("\n", " "))
    C.replace_section(path, "poll", "\n".join(L))


# --------------------------------------------------------------------------- main

def find_binary(arg, candidates):
    if arg:
        return os.path.abspath(arg)
    for c in candidates:
        p = os.path.join(REPO, c)
        if os.access(p, os.X_OK):
            return p
    return os.path.join(REPO, candidates[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="scan the 100k tree, idle on the 2k "
                    "and 100k trees, 1 run, 20 s idle window")
    ap.add_argument("--sizes", help="comma list of tree sizes for the scan test (%s; default "
                    "100k,500k, --quick 100k)" % ",".join(SIZES))
    ap.add_argument("--idle-sizes", help="comma list of tree sizes for the idle test "
                    "(default 2k,100k,500k, --quick 2k,100k)")
    ap.add_argument("--runs", type=int, help="runs per measurement (default 3, --quick 1)")
    ap.add_argument("--idle-seconds", type=float,
                    help="idle window per tool and run, >= 15 (default 60, --quick 20)")
    ap.add_argument("--skip", default="", help="comma list of tests to skip: scan,idle")
    ap.add_argument("--lookout", help="lookout binary (default build-bench/lookout, then "
                    "build/lookout)")
    ap.add_argument("--microbench", help="lookout_microbench binary (default "
                    "build-bench/bench/lookout_microbench, then build/bench/...)")
    ap.add_argument("--min-time", type=float, default=1.0,
                    help="Google Benchmark --benchmark_min_time per case (s)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"), help="report to update")
    ap.add_argument("--raw", help="also write every per-run number as JSON to this file")
    args = ap.parse_args()

    sizes = ([s.strip() for s in args.sizes.split(",") if s.strip()] if args.sizes
             else ["100k"] if args.quick else ["100k", "500k"])
    idle_sizes = ([s.strip() for s in args.idle_sizes.split(",") if s.strip()]
                  if args.idle_sizes else ["2k", "100k"] if args.quick else ["2k", "100k", "500k"])
    for s in sizes + idle_sizes:
        if s not in SIZES:
            ap.error("unknown size %s (known: %s)" % (s, ", ".join(SIZES)))
    runs = args.runs or (1 if args.quick else 3)
    idle_s = args.idle_seconds or (20.0 if args.quick else 60.0)
    if idle_s < QUIET_MIN:
        ap.error("--idle-seconds must be >= %.0f (the quiet time before the probe)" % QUIET_MIN)
    skip = set(x for x in args.skip.split(",") if x)
    lookout = find_binary(args.lookout, ["build-bench/lookout", "build/lookout"])
    microbench = find_binary(args.microbench, ["build-bench/bench/lookout_microbench",
                                               "build/bench/lookout_microbench"])
    missing = [b for b in (lookout, microbench) if not os.access(b, os.X_OK)]
    missing += [t for t in ("find", "fswatch") if not shutil.which(t)]
    if missing:
        ap.error("not found: %s (build with -DLOOKOUT_BENCH=ON; apt-get install fswatch)" %
                 ", ".join(missing))

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)

    is_root = os.geteuid() == 0
    base = tempfile.mkdtemp(prefix="lookout-pollbench-", dir="/tmp" if is_root else "/dev/shm")
    mounted = False
    if "scan" in skip:
        sizes = []
    if "idle" in skip:
        idle_sizes = []
    R = {"scan": {s: {} for s in sizes}, "idle": {}}
    try:
        if is_root:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g,nr_inodes=2000000",
                            "none", base], check=True)
            mounted = True
        workdir = os.path.join(base, "work")
        os.makedirs(workdir)
        trees, probes = {}, {}
        need = set(sizes) | set(idle_sizes)
        for s in [x for x in SIZES if x in need]:
            nd, nf = SIZES[s]
            t = time.monotonic()
            root = os.path.join(base, "tree-%s" % s)
            last = C.build_tree(root, nd, nf)
            trees[s] = root
            probes[s] = inplace_file(last, nd)
            scan_find(root, nf)     # warm: every inode and dentry read once before timing
            log("built tree %s (%d dirs, %d files) in %.1f s" % (s, nd, nf,
                                                                time.monotonic() - t))
        for run in range(runs):
            log("=== run %d/%d (load %s)" % (run + 1, runs, C.loadavg()))
            if "scan" not in skip:
                for s in sizes:
                    root, nf = trees[s], SIZES[s][1]
                    steps = ["find", "lookout_crawl", "lookout_pass", "fswatch"]
                    steps = steps[run % len(steps):] + steps[:run % len(steps)]
                    for step in steps:
                        if step == "find":
                            got = {"find": scan_find(root, nf)}
                        elif step == "lookout_crawl":
                            got = {"lookout_crawl": scan_lookout_crawl(lookout, root, nf, workdir)}
                        elif step == "lookout_pass":
                            got = scan_lookout_pass(microbench, lookout, root, nf, workdir,
                                                    args.min_time)
                        else:
                            first, steady = scan_fswatch(root, nf, workdir)
                            got = {"fswatch_first": first}
                            if steady is not None:
                                got["fswatch_steady"] = steady
                        for k, v in got.items():
                            R["scan"][s].setdefault(k, []).append(v)
                            log("scan %-4s %-16s %s" % (s, k, C.short(v)))
            for s in idle_sizes:
                k = run % len(IDLE_TOOLS)
                for tool in IDLE_TOOLS[k:] + IDLE_TOOLS[:k]:
                    r = idle_run(tool, lookout, trees[s], probes[s], idle_s, workdir,
                                 seq=run * len(IDLE_TOOLS) + IDLE_TOOLS.index(tool))
                    R["idle"].setdefault(s, {}).setdefault(tool, []).append(r)
                    log("idle %-4s %-15s %s" % (s, tool, C.short(r)))
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        raise
    finally:
        for p in list(LIVE):
            stop(p)
        if mounted:
            if subprocess.run(["umount", base]).returncode != 0:
                subprocess.run(["umount", "-l", base])
        shutil.rmtree(base, ignore_errors=True)

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    fsw = subprocess.run(["fswatch", "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode().splitlines()
    find_v = subprocess.run(["find", "--version"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL).stdout.decode().splitlines()
    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu, "nproc": os.cpu_count(), "kernel": platform.release(), "runs": runs,
        "idle_s": idle_s, "load_start": C.LOAD_START, "load_end": C.loadavg(),
        "command": "python3 bench/poll_compare.py" + "".join(" " + a for a in sys.argv[1:]),
        "versions": [C.tool_version("lookout", lookout),
                     fsw[0] if fsw else "fswatch ?", find_v[0] if find_v else "find ?"],
    }
    write_section(args.out, R, meta, sizes, idle_sizes)
    log("updated %s" % args.out)
    C.write_raw(args.raw, meta, R)


if __name__ == "__main__":
    main()
