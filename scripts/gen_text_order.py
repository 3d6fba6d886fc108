#!/usr/bin/env python3
"""Writes cmake/text-order.txt: the functions of the `lookout` binary that its common work runs,
hottest first, for the linker's --symbol-ordering-file (CMakeLists.txt, LOOKOUT_TEXT_ORDER).

Why: a process's RSS counts every page of its executable that it has mapped, and the kernel
maps file pages 64 KiB at a time around each fault (fault-around). The ~400 KiB of code that
`lookout watch` runs is spread over a 3.4 MiB .text among the front ends it does not run, so
it used to keep ~1.6 MiB of text resident. Placed together, it keeps ~0.6 MiB (bench/README.md,
"Where the memory goes").

How: each workload below runs the built binary under valgrind's callgrind (which sees every
function that executes, however short), and the symbols callgrind attributes to the binary
are merged, ordered by instructions executed. Run after large changes (missing or renamed
symbols only make the ordering less complete, never wrong):

    python3 scripts/gen_text_order.py [--lookout build/lookout]

Needs valgrind (apt-get install valgrind); runs as root for the fanotify workload (else it is
skipped with a message). Takes about a minute.
"""

import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "cmake", "text-order.txt")


def make_tree(root, dirs, files_per_dir):
    """A 10-ary tree of `dirs` directories with `files_per_dir` empty files each (the bench's)."""
    os.makedirs(root)
    queue, made, i = [root], 0, 0
    while made < dirs:
        parent = queue[i]
        i += 1
        for k in range(10):
            if made == dirs:
                break
            d = os.path.join(parent, "d%d" % k)
            os.mkdir(d)
            queue.append(d)
            made += 1
    for d in queue[1:]:
        for f in range(files_per_dir):
            open(os.path.join(d, "f%d.log" % f), "w").close()


def churn(root):
    """The changes a watcher sees every day: writes, appends, new directories with files,
    renames of files and directories, attribute changes, deletions."""
    for k in range(3):
        with open(os.path.join(root, "d1", "f1.log"), "a") as f:
            f.write("line %d\n" % k)
        d = os.path.join(root, "new%d" % k)
        os.makedirs(os.path.join(d, "sub"))
        for j in range(5):
            with open(os.path.join(d, "sub", "a%d.log" % j), "w") as f:
                f.write("x\n")
        os.rename(os.path.join(d, "sub", "a0.log"), os.path.join(d, "sub", "b0.log"))
        os.chmod(os.path.join(d, "sub", "a1.log"), 0o600)
        os.rename(d, d + "-moved")
        shutil.rmtree(d + "-moved")
        time.sleep(0.3)


def run_workload(lookout, outdir, name, argv, root, ready_on):
    """Runs `lookout argv` under callgrind until ready (READY, or --json's ready record), churns `root`, stops it with SIGTERM."""
    out = os.path.join(outdir, name + ".out")
    cmd = ["valgrind", "--tool=callgrind", "--demangle=no", "--callgrind-out-file=" + out, lookout] + argv
    log = open(os.path.join(outdir, name + ".log"), "w+b")
    p = subprocess.Popen(cmd, stdout=log if ready_on == "stdout" else subprocess.DEVNULL,
                         stderr=log if ready_on == "stderr" else subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        log.seek(0)
        if re.search(rb'READY|"event":"ready"', log.read()):
            break
        time.sleep(0.1)
    else:
        p.kill()
        p.wait()
        raise SystemExit("%s: lookout did not print READY under valgrind" % name)
    churn(root)
    time.sleep(1)
    os.killpg(p.pid, signal.SIGTERM)
    p.wait(timeout=120)
    return out


def executed_functions(path, binary):
    """Instructions executed per function of `binary`, from one callgrind output file
    (names are compressed: "fn=(id) name" the first time, "fn=(id)" after)."""
    lines = open(path, errors="replace").read().splitlines()
    obs, fns = {}, {}
    for line in lines:
        m = re.match(r"^c?(ob|fn)=\((\d+)\) (.+)", line)
        if m:
            (obs if m.group(1) == "ob" else fns)[m.group(2)] = m.group(3).strip()
    cost = collections.Counter()
    ob = fn = None
    after_calls = False
    for line in lines:
        m = re.match(r"^(c?)(ob|fn)=\((\d+)\)", line)
        if m:
            if not m.group(1):
                if m.group(2) == "ob":
                    ob = obs.get(m.group(3))
                else:
                    fn = fns.get(m.group(3))
            continue
        if line.startswith("calls="):
            after_calls = True  # the next cost line is the call's inclusive cost, not this function's
            continue
        if line[:1].isdigit() or line[:1] in "+-*":
            if after_calls:
                after_calls = False
                continue
            parts = line.split()
            if len(parts) >= 2 and fn and ob and os.path.realpath(ob) == binary:
                cost[fn] += int(parts[1])
    return cost


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"))
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    binary = os.path.realpath(args.lookout)
    work = tempfile.mkdtemp(prefix="text-order-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        small, large = os.path.join(work, "small"), os.path.join(work, "large")
        make_tree(small, 100, 10)
        make_tree(large, 10000, 10)
        fmt = ["--format", "%w%f %e"]
        workloads = [
            ("watch-small", ["watch", "-m", "-r", "-q", "--ready"] + fmt + [small], small, "stdout"),
            ("watch-json", ["watch", "-m", "-r", "-q", "--ready", "--json", small], small, "stdout"),
            ("watch-large-inotify", ["watch", "-m", "-r", "-q", "--ready", "--backend", "inotify"] + fmt + [large],
             large, "stdout"),
            ("tail", ["tail", "--ready", small], small, "stderr"),
        ]
        if os.geteuid() == 0:
            workloads.append(("watch-large-auto", ["watch", "-m", "-r", "-q", "--ready"] + fmt + [large],
                              large, "stdout"))
        else:
            print("not root: the fanotify workload (auto mode on a large tree) is skipped", file=sys.stderr)
        total = collections.Counter()
        for name, argv, root, ready_on in workloads:
            print("workload:", name, file=sys.stderr)
            out = run_workload(binary, work, name, argv, root, ready_on)
            for path in glob.glob(out + "*"):
                total.update(executed_functions(path, binary))
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            for fn, _ in sorted(total.items(), key=lambda kv: (-kv[1], kv[0])):
                f.write(fn + "\n")
        print("%s: %d functions" % (args.out, len(total)), file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
