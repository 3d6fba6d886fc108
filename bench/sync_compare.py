#!/usr/bin/env python3
"""Side-by-side benchmark of `lookout sync` against lsyncd and an inotifywait+rsync loop.

Standard library only.  Needs root (the rsync daemons run as uid/gid root), rsync, lsyncd and
inotify-tools (Debian: `apt-get install rsync lsyncd inotify-tools`).  Typical use (from the
repository root):

    python3 bench/sync_compare.py --lookout build/lookout                  # 3 runs (~8 min)
    python3 bench/sync_compare.py --lookout build/lookout --quick          # 1 run  (~3 min)
    python3 bench/sync_compare.py --lookout build/lookout --write-results  # also RESULTS.md

Every tool mirrors one source tree on tmpfs to THREE rsync daemons (`rsync --daemon
--no-detach`, started by this script on 127.0.0.1, free ports, module `m`, auth user `bench`,
password file mode 600).  The tools:

- lookout:  `lookout sync --ready --json --delay 500ms --state DIR --rsync WRAP
             --password-file PW --rsync-arg=-z SRC rsync://bench@127.0.0.1:P1/m/ ...P2... ...P3...`
             (-z because the other two compress: the loop's -az, lsyncd's compress = true)
- lsyncd:   one `sync{default.rsync, delay=0.5, rsync={binary=WRAP, password_file=PW,
             archive=true, compress=true}}` per target, `settings{nodaemon=true}`
- loop:     per target `inotifywait -mrq -e close_write,delete,create,attrib,move SRC |
             while read -r _; do WRAP -az --delete --password-file=PW SRC/ rsync://...; done`

WRAP is a generated shell script that appends one line to a counter file and execs the real
rsync, so "rsync runs" counts every rsync any tool started.  Bytes come from the daemons' own
logs: rsyncd writes `sent X bytes  received Y bytes` at the end of every session; Y (what the
tool's rsync sent to the daemon: file data, file lists, checksums, protocol) is summed over the
three daemons.  CPU is utime+stime+cutime+cstime over the tool's process tree (/proc), so
rsync children the tool has reaped are included.

Per run and tool, in one session of the tool (runs interleaved, tool order rotating per run):
fresh tree, targets made equal with `cp -a` before the tool starts; start (spawn until the
three targets equal the source and no rsync ran for 1.5 s), a probe file, then

1. burst: 500 new files in 20 new dirs, 200 files rewritten (new content, new size), 100 deleted,
   5 directories renamed; time from the end of the burst until all three targets equal the
   source (walked: relative path, type, size, content hash, symlink target; every 50 ms);
2. restart: kill -9 of the tool's process group, 10 files changed, the tool started again (lookout
   with the same --state DIR); bytes sent until quiet, against the size of the tree; then the
   same after a clean stop (SIGTERM) for lookout and lsyncd;
3. outage: daemon 3 gets SIGTERM, changes, time until targets 1 and 2 are equal; daemon 3 is
   restarted on the same port after --outage-hold seconds; time until target 3 is equal.

Only processes started by this script are signalled: each tool and each daemon runs in its own
session and is stopped through that process group, on every exit path (finally, ^C, SIGTERM).
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MARKER = "sync"                  # <!-- sync:begin --> ... <!-- sync:end --> in RESULTS.md
TITLE = "## sync: lookout sync vs lsyncd vs inotifywait+rsync"
ALL_TOOLS = ["lookout", "lsyncd", "loop"]
LABEL = {"lookout": "lookout sync", "lsyncd": "lsyncd", "loop": "inotifywait+rsync loop"}
USER, PASSWORD, MODULE = "bench", "syncbench-pw", "m"
FILE_SIZE = 4096
POLL = 0.05                      # equality poll interval (s)
QUIET = 1.5                      # "quiet": no new rsync run and none running for this long
LSYNCD_DELAY = 0.5               # seconds (lsyncd's delay is in seconds; 0.5 works in 2.2.3)
LOOKOUT_DELAY = "500ms"

sys.path.insert(0, HERE)
import compare as C  # noqa: E402  (importing runs nothing)

(cpu_seconds, proc_tree, med, machine, write_raw, term_as_interrupt, fmt, replace_section,
 loadavg, log, pick_tools) = (C.cpu_seconds, C.proc_tree, C.med, C.machine, C.write_raw,
                              C.term_as_interrupt, C.fmt, C.replace_section, C.loadavg, C.log,
                              C.pick_tools)

LIVE = []            # Popen objects (each a session leader) still running: stopped on every exit


# --------------------------------------------------------------------------- processes

def spawn(cmd, out_path, err_path=None, **kw):
    """Starts cmd in its own session (so its whole tree can be signalled as one group)."""
    with open(out_path, "ab") as out:
        err = open(err_path, "ab") if err_path else subprocess.STDOUT
        try:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                 start_new_session=True, **kw)
        finally:
            if err_path:
                err.close()
    LIVE.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=5.0):
    """Signals p's process group (p is its leader: only p and what it started), then KILL."""
    if p.poll() is None or _group_alive(p.pid):
        try:
            os.killpg(p.pid, sig)
        except OSError:
            pass
        t = time.monotonic() + grace
        while time.monotonic() < t and (p.poll() is None or _group_alive(p.pid)):
            time.sleep(0.02)
        if p.poll() is None or _group_alive(p.pid):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        pass
    if p in LIVE:
        LIVE.remove(p)


def _group_alive(pgid):
    """True while any process of group pgid exists (orphans of a killed leader included)."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    rest = f.read().rsplit(")", 1)[1].split()
                if int(rest[2]) == pgid and rest[0] != "Z":
                    return True
            except (OSError, IndexError, ValueError):
                pass
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- rsync daemons

class Daemon(object):
    """One `rsync --daemon --no-detach` on 127.0.0.1:port with module m -> path."""

    def __init__(self, idx, base, rsync_bin):
        self.idx = idx
        self.rsync_bin = rsync_bin
        self.dir = os.path.join(base, "daemon%d" % idx)
        self.path = os.path.join(base, "target%d" % idx)
        os.makedirs(self.dir)
        os.makedirs(self.path)
        self.log_path = os.path.join(self.dir, "rsyncd.log")
        self.conf = os.path.join(self.dir, "rsyncd.conf")
        secrets = os.path.join(self.dir, "secrets")
        fd = os.open(secrets, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, ("%s:%s\n" % (USER, PASSWORD)).encode())
        os.close(fd)
        self.port = free_port()
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "use chroot = false",
                "reverse lookup = no",
                "log file = %s" % self.log_path,
                "transfer logging = yes",
                # %o operation (recv/del.), %l file length, %b bytes actually transferred
                "log format = %o %l %b %n",
                "[%s]" % MODULE,
                "path = %s" % self.path,
                "read only = false",
                "auth users = %s" % USER,
                "secrets file = %s" % secrets,
                "uid = root",
                "gid = root",
                # with use chroot = false rsyncd munges symlinks by default ("/rsyncd-munged/")
                "munge symlinks = false",
                ""]))
        self.proc = None

    def url(self):
        return "rsync://%s@127.0.0.1:%d/%s/" % (USER, self.port, MODULE)

    def start(self, timeout=10.0):
        self.proc = spawn([self.rsync_bin, "--daemon", "--no-detach", "--config=" + self.conf,
                           "--address=127.0.0.1", "--port=%d" % self.port],
                          os.path.join(self.dir, "daemon.out"))
        t = time.monotonic() + timeout
        while time.monotonic() < t:
            if port_open(self.port):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("rsync daemon %d did not listen on port %d (rc %s): %s" % (
            self.idx, self.port, self.proc.poll(), tail(os.path.join(self.dir, "daemon.out"))))

    def stop(self):
        if self.proc:
            stop(self.proc)
            self.proc = None

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


SESSION_RE = re.compile(r"\] sent ([\d,.]+) bytes\s+received ([\d,.]+) bytes")
RECV_RE = re.compile(r"\] recv ([\d,.]+) ([\d,.]+) ")


def _num(s):
    return int(re.sub(r"[^\d]", "", s) or 0)


def parse_daemon_log(text):
    """(bytes the clients sent, sessions, files received, file data bytes (%b))."""
    sent_by_client = sessions = files = data = 0
    for line in text.splitlines():
        m = SESSION_RE.search(line)
        if m:
            r = _num(m.group(2))
            if r:           # the listener itself logs "sent 0 bytes received 0" when it exits
                sessions += 1
                sent_by_client += r
            continue
        m = RECV_RE.search(line)
        if m:
            files += 1
            data += _num(m.group(2))
    return sent_by_client, sessions, files, data


def tail(path, n=400):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - n))
            return " | ".join(f.read().decode("utf-8", "replace").strip().splitlines()[-5:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- trees

def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def build_source(src, ndirs, nfiles, rng):
    """ndirs dirs in groups of 10 (gGG/dDD), nfiles files of 4 KiB each, a symlink in every
    tenth dir.  Returns the list of relative dir paths."""
    dirs = []
    for i in range(ndirs):
        rel = "g%02d/d%02d" % (i // 10, i % 10)
        os.makedirs(os.path.join(src, rel))
        for j in range(nfiles):
            write_file(os.path.join(src, rel, "f%03d" % j), rng.randbytes(FILE_SIZE))
        if i % 10 == 0:
            os.symlink("f000", os.path.join(src, rel, "link"))
        dirs.append(rel)
    return dirs


def copy_tree(src, dst):
    """dst's content := src's (cp -a: same bytes, modes, mtimes), dst itself kept."""
    for name in os.listdir(dst):
        p = os.path.join(dst, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p)
        else:
            os.unlink(p)
    subprocess.run(["cp", "-a", src + "/.", dst + "/"], check=True)


class Plan(object):
    """Which files each scenario touches: fixed per run, the same for every tool."""

    def __init__(self, dirs, nfiles, seed):
        rng = random.Random(seed)
        order = list(dirs)
        rng.shuffle(order)
        self.renamed = order[:5]                         # dirs renamed in the burst
        rest = order[5:]
        files = ["%s/f%03d" % (d, j) for d in rest for j in range(1, nfiles)]  # f000: link target
        rng.shuffle(files)
        self.modified = files[:200]
        self.deleted = files[200:300]
        self.restart_mod = files[300:310]
        self.restart2_mod = files[340:350]
        self.outage_mod = files[310:330]
        self.outage_del = files[330:340]


def do_burst(src, plan, rng):
    for d in range(20):
        nd = os.path.join(src, "new%02d" % d)
        os.mkdir(nd)
        for j in range(25):
            write_file(os.path.join(nd, "n%03d" % j), rng.randbytes(FILE_SIZE))
        if d % 4 == 0:
            os.symlink("n000", os.path.join(nd, "link"))
    for rel in plan.modified:            # new content and a new size: rsync's quick check
        write_file(os.path.join(src, rel), rng.randbytes(FILE_SIZE + 512))   # compares size+mtime(s)
    for rel in plan.deleted:
        os.unlink(os.path.join(src, rel))
    for rel in plan.renamed:             # gAA/dBB -> gAA/dBB.renamed
        os.rename(os.path.join(src, rel), os.path.join(src, rel + ".renamed"))


def do_outage_changes(src, plan, rng):
    nd = os.path.join(src, "outage")
    os.mkdir(nd)
    for j in range(30):
        write_file(os.path.join(nd, "o%03d" % j), rng.randbytes(FILE_SIZE))
    for rel in plan.outage_mod:
        write_file(os.path.join(src, rel), rng.randbytes(FILE_SIZE + 1536))
    for rel in plan.outage_del:
        os.unlink(os.path.join(src, rel))


def tree_bytes(root):
    total = 0
    for dp, dn, fn in os.walk(root):
        for n in fn:
            st = os.lstat(os.path.join(dp, n))
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


# --------------------------------------------------------------------------- equality

class Comparer(object):
    """Is a target equal to the source?  Relative path, type, size, content hash (BLAKE2b),
    symlink target.  Hashes are cached by (path, dev, ino, size, mtime_ns, ctime_ns): rsync
    writes a temp file and renames it, so a changed file is a new inode."""

    def __init__(self):
        self.cache = {}

    def _hash(self, path, st):
        key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        h = self.cache.get(key)
        if h is None:
            with open(path, "rb") as f:
                h = hashlib.blake2b(f.read(), digest_size=16).digest()
            self.cache[key] = h
        return h

    def snapshot(self, root):
        """{reldir: sorted names} and {relpath: (type, size, hash or link target)}."""
        dirs, entries = {}, {}
        stack = [""]
        while stack:
            rel = stack.pop()
            names = sorted(os.listdir(os.path.join(root, rel)))
            dirs[rel] = names
            for n in names:
                r = rel + "/" + n if rel else n
                e = self._entry(os.path.join(root, r))
                entries[r] = e
                if e[0] == "d":
                    stack.append(r)
        return dirs, entries

    def _entry(self, path):
        st = os.lstat(path)
        if stat.S_ISDIR(st.st_mode):
            return ("d", 0, None)
        if stat.S_ISLNK(st.st_mode):
            return ("l", 0, os.readlink(path))
        if stat.S_ISREG(st.st_mode):
            return ("f", st.st_size, self._hash(path, st))
        return ("o", st.st_mode, None)

    def equal(self, snap, root):
        """True when root holds exactly snap.  Cheap first: every directory's name list (a
        partial target differs there, and a running rsync's temp files show up there too)."""
        dirs, entries = snap
        try:
            for rel, names in dirs.items():
                if sorted(os.listdir(os.path.join(root, rel))) != names:
                    return False
            for rel, e in entries.items():
                if self._entry(os.path.join(root, rel)) != e:
                    return False
        except OSError:         # a directory or file vanished under us (rsync still working)
            return False
        return True


def wait_equal(cmp, snap, roots, t0, deadline):
    """Polls every POLL s until every root equals snap in one pass; returns seconds from t0
    (the end of the pass that found it) and the first time each root was seen equal, or None
    for the total at the deadline."""
    first = [None] * len(roots)
    while True:
        all_eq = True
        for i, r in enumerate(roots):
            if cmp.equal(snap, r):
                if first[i] is None:
                    first[i] = time.monotonic() - t0
            else:
                all_eq = False
                break           # later roots are looked at in the next pass
        now = time.monotonic()
        if all_eq:
            return now - t0, first
        if now - t0 > deadline:
            return None, first
        time.sleep(POLL)


# --------------------------------------------------------------------------- the tools

class Env(object):
    """Everything the tools share: source, daemons, wrapper, counter, password file."""

    def __init__(self, base, rsync_bin, lookout):
        self.base = base
        self.rsync_bin = rsync_bin
        self.lookout = lookout
        self.src = os.path.join(base, "src")
        self.logs = os.path.join(base, "logs")
        os.makedirs(self.logs)
        self.pwfile = os.path.join(base, "rsync.pw")
        fd = os.open(self.pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (PASSWORD + "\n").encode())
        os.close(fd)
        self.counter = os.path.join(base, "rsync-runs")
        open(self.counter, "w").close()
        self.wrapper = os.path.join(base, "rsync-count")
        with open(self.wrapper, "w") as f:     # builtins only: no fork before the exec
            f.write("#!/bin/bash\necho \"$EPOCHREALTIME $$ $*\" >> '%s'\nexec '%s' \"$@\"\n"
                    % (self.counter, rsync_bin))
        os.chmod(self.wrapper, 0o755)
        self.daemons = [Daemon(i + 1, base, rsync_bin) for i in range(3)]

    def targets(self):
        return [d.path for d in self.daemons]

    def runs(self):
        """rsync runs so far; `rsync --version` probes (lookout checks the version at start)
        are not transfers and are left out."""
        with open(self.counter, "rb") as f:
            return sum(1 for line in f if not line.rstrip().endswith(b" --version"))

    def mark(self):
        return {"runs": self.runs(), "logs": [d.log_size() for d in self.daemons]}

    def since(self, mark):
        sent = sessions = files = data = 0
        for d, off in zip(self.daemons, mark["logs"]):
            s, n, fl, b = parse_daemon_log(d.log_since(off))
            sent, sessions, files, data = sent + s, sessions + n, files + fl, data + b
        return {"runs": self.runs() - mark["runs"], "bytes": sent, "sessions": sessions,
                "files": files, "data": data}


class Tool(object):
    """One tool's process(es): start, ready, CPU, rsync children, kill."""

    def __init__(self, name, env, state_dir):
        self.name = name
        self.env = env
        self.state_dir = state_dir
        self.procs = []
        self.spawns = 0

    def start(self):
        env, self.spawns = self.env, self.spawns + 1
        tag = os.path.join(env.logs, "%s-%d-%d" % (self.name, os.getpid(), time.monotonic_ns()))
        self.out, self.err = tag + ".out", tag + ".err"
        self.t_spawn = time.monotonic()
        if self.name == "lookout":
            cmd = [env.lookout, "sync", "--ready", "--json", "--delay", LOOKOUT_DELAY,
                   "--state", self.state_dir, "--rsync", env.wrapper,
                   "--password-file", env.pwfile, "--rsync-arg=-z"] + EXTRA_LOOKOUT_ARGS + [env.src] + \
                  [d.url() for d in env.daemons]
            self.procs = [spawn(cmd, self.out, self.err)]
        elif self.name == "lsyncd":
            conf = tag + ".lua"
            with open(conf, "w") as f:
                f.write(lsyncd_config(env))
            self.procs = [spawn(["lsyncd", conf], self.out, self.err)]
        else:
            self.procs = []
            for d in env.daemons:
                cmd = ("inotifywait -mrq -e close_write,delete,create,attrib,move %s | "
                       "while read -r _; do %s -az --delete --password-file=%s %s/ %s; done" % (
                           q(env.src), q(env.wrapper), q(env.pwfile), q(env.src), q(d.url())))
                self.procs.append(spawn(["bash", "-c", cmd], self.out, self.err))
        self.cmd_shown = (" ".join(self.procs[0].args) if self.name != "loop"
                          else self.procs[0].args[2])

    def wait_started(self, timeout=60.0):
        """lookout: READY on stderr; lsyncd: three 'Startup of ... finished.'; the loop has
        no such signal (-q): inotifywait's watches on a small tree take milliseconds, and the
        probe that follows proves the chain works."""
        t = time.monotonic() + timeout
        while time.monotonic() < t:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("%s exited (rc %s) while starting: %s" % (
                    self.name, [p.poll() for p in self.procs], tail(self.err)))
            if self.name == "lookout":
                if b"READY" in read(self.err):
                    return time.monotonic() - self.t_spawn
            elif self.name == "lsyncd":
                if len(re.findall(rb"Startup of .* finished", read(self.out))) >= 3:
                    return time.monotonic() - self.t_spawn
            else:
                time.sleep(0.2)
                return time.monotonic() - self.t_spawn
            time.sleep(0.01)
        raise RuntimeError("%s not started within %.0f s: %s" % (self.name, timeout,
                                                                  tail(self.err)))

    def alive(self):
        return all(p.poll() is None for p in self.procs)

    def pids(self):
        return [p.pid for p in self.procs if p.poll() is None]

    def cpu(self):
        return cpu_seconds(self.pids())

    def rsync_running(self):
        for pid in proc_tree(self.pids()):
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().startswith("rsync"):
                        return True
            except OSError:
                pass
        return False

    def wait_quiet(self, cap):
        """Waits until no rsync ran or started for QUIET s; (quiet?, seconds waited)."""
        t0 = time.monotonic()
        last_runs, last_change = self.env.runs(), t0
        while True:
            now = time.monotonic()
            n = self.env.runs()
            if n != last_runs or self.rsync_running():
                last_runs, last_change = n, now
            elif now - last_change >= QUIET:
                return True, now - t0
            if now - t0 > cap:
                return False, now - t0
            time.sleep(0.05)

    def json_bytes(self, offset):
        """lookout --json: sum of "bytes" and count of transfer events after offset."""
        total = n = failed = 0
        for line in read(self.out)[offset:].decode("utf-8", "replace").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == "transfer":
                n += 1
                total += int(ev.get("bytes") or 0)
                failed += ev.get("result") == "failed"
        return {"json_bytes": total, "json_transfers": n, "json_failed": failed}

    def out_size(self):
        return len(read(self.out))

    def kill9(self):
        for p in self.procs:
            stop(p, signal.SIGKILL, grace=2.0)

    def stop(self):
        for p in self.procs:
            stop(p)


EXTRA_LOOKOUT_ARGS = []


def lsyncd_config(env):
    """lsyncd 2.2.3 (Debian 12): default.rsync passes the target to rsync as it is, so an
    rsync:// URL works; rsync.password_file becomes --password-file=, rsync.binary replaces
    /usr/bin/rsync.  archive+compress = the loop's -az.  delay is in seconds."""
    L = ["settings {", "  nodaemon = true,", "  insist = true,", "}"]
    for d in env.daemons:
        L += ["sync {",
              "  default.rsync,",
              "  source = %s," % lua(env.src),
              "  target = %s," % lua(d.url()),
              "  delay = %s," % LSYNCD_DELAY,
              "  rsync = {",
              "    binary = %s," % lua(env.wrapper),
              "    password_file = %s," % lua(env.pwfile),
              "    archive = true,",
              "    compress = true,",
              "    _extra = { },",
              "  },",
              "}"]
    return "\n".join(L) + "\n"


def lua(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def q(s):
    return "'" + s.replace("'", "'\\''") + "'"


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


# --------------------------------------------------------------------------- one session

def session(name, env, run, args):
    """One tool, one run: start, burst, restart, outage.  Returns {scenario: result}."""
    R = {}
    rng = random.Random(1000 + run)              # same content for every tool in a run
    if os.path.exists(env.src):
        shutil.rmtree(env.src)
    os.makedirs(env.src)
    dirs = build_source(env.src, args.dirs, args.files, rng)
    plan = Plan(dirs, args.files, seed=run)
    for d in env.daemons:
        if d.proc is None or d.proc.poll() is not None:
            d.start()
        copy_tree(env.src, d.path)
    cmp = Comparer()
    state = os.path.join(env.base, "state-%s-%d" % (name, run))
    if os.path.exists(state):
        shutil.rmtree(state)
    os.makedirs(state)
    tool = Tool(name, env, state)
    try:
        # --- start: spawn until equal and quiet (targets already equal)
        m = env.mark()
        tool.start()
        ready = tool.wait_started()
        snap = cmp.snapshot(env.src)
        eq, _ = wait_equal(cmp, snap, env.targets(), tool.t_spawn, args.deadline)
        quiet, _ = tool.wait_quiet(15)
        R["start"] = dict(env.since(m), ready_s=ready, equal_s=eq, cpu_s=tool.cpu(), quiet=quiet)
        log("%-7s run %d start   %s" % (name, run + 1, short(R["start"])))
        # --- probe: one file, so every watch is proven live before the burst
        write_file(os.path.join(env.src, "probe"), b"probe\n")
        t0 = time.monotonic()
        eq, _ = wait_equal(cmp, cmp.snapshot(env.src), env.targets(), t0, args.deadline)
        if eq is None:
            raise RuntimeError("%s: probe file not mirrored within %.0f s" % (name, args.deadline))
        tool.wait_quiet(15)

        # --- 1. burst
        m, c0, o0 = env.mark(), tool.cpu(), tool.out_size()
        dc0 = cpu_seconds([d.proc.pid for d in env.daemons])
        tb = time.monotonic()
        do_burst(env.src, plan, rng)
        t_end, r_wall = time.monotonic(), {"burst_end_wall": time.time()}
        snap = cmp.snapshot(env.src)
        eq, first = wait_equal(cmp, snap, env.targets(), t_end, args.deadline)
        quiet, waited = tool.wait_quiet(args.quiet_cap)
        r = dict(env.since(m), burst_s=t_end - tb, equal_s=eq, first_s=first, **r_wall,
                 cpu_s=tool.cpu() - c0, quiet=quiet,
                 daemon_cpu_s=cpu_seconds([d.proc.pid for d in env.daemons]) - dc0)
        if name == "lookout":
            r.update(tool.json_bytes(o0))
        if eq is None:
            r["note"] = "targets not equal %.0f s after the burst" % args.deadline
        if not quiet:
            r["note"] = (r.get("note", "") + "; " if r.get("note") else "") + \
                "still starting rsyncs %.0f s after the burst (counted until then)" % waited
        R["burst"] = r
        log("%-7s run %d burst   %s" % (name, run + 1, short(r)))

        # --- 2. restart: kill -9, change 10 files, start again (same --state for lookout);
        # then the same after a clean stop (SIGTERM), for the tools that sync at start
        for scen, kill, mod in (("restart", tool.kill9, plan.restart_mod),
                                ("restart_term", tool.stop, plan.restart2_mod)):
            if scen == "restart_term" and name == "loop":
                continue
            kill()
            for rel in mod:
                write_file(os.path.join(env.src, rel), rng.randbytes(FILE_SIZE + 1024))
            total = tree_bytes(env.src)
            m = env.mark()
            tool.start()
            try:
                tool.wait_started(args.deadline)
            except RuntimeError as e:
                raise RuntimeError("%s: %s" % (scen, e))
            snap = cmp.snapshot(env.src)
            eq, _ = wait_equal(cmp, snap, env.targets(), tool.t_spawn, args.restart_deadline)
            quiet, waited = tool.wait_quiet(args.quiet_cap)
            r = dict(env.since(m), equal_s=eq, cpu_s=tool.cpu(), quiet=quiet, tree_bytes=total)
            r["bytes_pct"] = 100.0 * r["bytes"] / (3 * total)
            r["overhead"] = r["bytes"] - r["data"]
            if name == "lookout":
                r.update(tool.json_bytes(0))
                r["stderr"] = read(tool.err).decode("utf-8", "replace")[-600:].replace(
                    env.base, "$TMP")
            if eq is None:
                r["note"] = "targets not equal %.0f s after the restart" % args.restart_deadline
            R[scen] = r
            log("%-7s run %d %-7s %s" % (name, run + 1, scen[:7] if scen == "restart" else "restart(TERM)", short(r)))

        # --- 3. outage of daemon 3
        d3 = env.daemons[2]
        m, c0 = env.mark(), tool.cpu()
        d3.stop()
        do_outage_changes(env.src, plan, rng)
        t_end = time.monotonic()
        snap = cmp.snapshot(env.src)
        eq12, _ = wait_equal(cmp, snap, env.targets()[:2], t_end, args.deadline)
        hold = t_end + args.outage_hold - time.monotonic()
        if hold > 0:
            time.sleep(hold)
        down_s = time.monotonic() - t_end
        runs_down = env.runs() - m["runs"]
        d3.start()
        t_up = time.monotonic()
        eq3, _ = wait_equal(cmp, snap, env.targets()[2:], t_up, args.outage_deadline)
        eq_all = cmp.equal(snap, env.targets()[0]) and cmp.equal(snap, env.targets()[1])
        quiet, waited = tool.wait_quiet(args.quiet_cap)
        r = dict(env.since(m), equal12_s=eq12, down_s=down_s, equal3_s=eq3,
                 runs_down=runs_down, cpu_s=tool.cpu() - c0, quiet=quiet)
        if eq3 is None:
            r["note"] = "target 3 not equal %.0f s after its daemon came back" % args.outage_deadline
        if not eq_all:
            r["note"] = (r.get("note", "") + "; " if r.get("note") else "") + \
                "targets 1-2 no longer equal when target 3 was"
        R["outage"] = r
        log("%-7s run %d outage  %s" % (name, run + 1, short(r)))
    except RuntimeError as e:
        for k in ("start", "burst", "restart", "restart_term", "outage"):
            if k not in R:
                R[k] = {"error": str(e)[:400]}
                break
        log("%-7s run %d ERROR %s" % (name, run + 1, e))
    finally:
        tool.stop()
        for d in env.daemons:             # every daemon up again for the next session
            if d.proc is None or d.proc.poll() is not None:
                d.start()
    return R


def short(r):
    keys = ("error", "ready_s", "equal_s", "equal12_s", "equal3_s", "runs", "runs_down",
            "bytes", "files", "cpu_s", "daemon_cpu_s", "bytes_pct", "json_bytes", "json_failed",
            "quiet", "note")
    out = []
    for k in keys:
        if k in r:
            v = r[k]
            out.append("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v))
    return " ".join(out)


# --------------------------------------------------------------------------- report

def vals(R, tool, scen, key):
    return [(r.get(scen) or {}).get(key) if not (r.get(scen) or {}).get("error") else None
            for r in R[tool]]


def cell(R, tool, scen, key, kind, timeouts=True, lower=None):
    """Median <sub>(min–max)</sub>; "timeout" where the equality deadline passed, ⚠n for
    runs that failed; ≥ for counts of a scenario in which the tool did not go quiet."""
    runs = vals(R, tool, scen, key)
    good = [v for v in runs if v is not None]
    errs = sum(1 for r in R[tool] if (r.get(scen) or {}).get("error") or scen not in r)
    tos = sum(1 for r, v in zip(R[tool], runs)
              if v is None and scen in r and not r[scen].get("error"))
    if not good:
        s = "timeout" if tos and timeouts else "—"
    else:
        s = fmt(med(good), kind)
        if len(good) > 1 and min(good) != max(good):
            s += " <sub>(%s–%s)</sub>" % (fmt(min(good), kind), fmt(max(good), kind))
        if tos and timeouts:
            s += " (%d× timeout)" % tos
        if lower is None:
            lower = not timeouts and kind != "s"
        if lower and any(q is False for q in vals(R, tool, scen, "quiet")):
            s = "≥" + s
    if errs:
        s += " ⚠%d" % errs
    return s


def ratio(R, tool, scen, key):
    """Median over runs of tool/lookout, both from the same run."""
    if "lookout" not in R or tool == "lookout":
        return "1.00" if tool == "lookout" else "—"
    rs = [a / b for a, b in zip(vals(R, tool, scen, key), vals(R, "lookout", scen, key))
          if a is not None and b]
    return fmt(med(rs), "ratio") if rs else "—"


def kib(R):
    """bytes -> KiB in every result, for the tables."""
    for tool in R:
        for r in R[tool]:
            for sc in r.values():
                for k in ("bytes", "data", "overhead", "json_bytes", "tree_bytes"):
                    if isinstance(sc.get(k), int):
                        sc[k + "_k"] = sc[k] / 1024.0


def build_section(R, meta, tools):
    kib(R)
    L = [TITLE, "", "Generated by `bench/sync_compare.py`.", ""]
    for k, v in meta:
        L.append("- %s: %s" % (k, v))
    L += ["",
          "Each tool mirrors a tmpfs tree to **three** rsync daemons on 127.0.0.1 (one tool "
          "at a time, in one session per run: start, burst, restart, outage; runs interleaved, "
          "tool order rotating).  Cells: median over runs <sub>(min–max)</sub>; *×lookout* = "
          "tool/lookout within a run, median of those.  **rsync runs**: lines the rsync wrapper "
          "appended (every rsync a tool started, failed ones too).  **KiB sent**: the sum over "
          "the three daemons of `received N bytes` from rsyncd's end-of-session log line (what "
          "the tools' rsyncs sent: file data, file lists, checksums, protocol).  **files**: "
          "`recv` lines of rsyncd's transfer log.  **CPU s**: utime+stime+cutime+cstime over "
          "the tool's process tree (its reaped rsync children included), over the scenario "
          "until quiet (no rsync started or running for %.1f s).  Equality: every %d ms the "
          "bench walks the targets (relative path, type, size, BLAKE2b of the content, symlink "
          "target); the time is the end of the first pass that found all of them equal."
          % (QUIET, POLL * 1000), ""]
    hdr = ("| tool | s to all equal | ×lookout | rsync runs | ×lookout | KiB sent | ×lookout "
           "| files | CPU s | ×lookout |")

    def rows(scen, eq_key):
        out = [hdr, "|" + "---|" * 10]
        for t in tools:
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                LABEL[t], cell(R, t, scen, eq_key, "s"), ratio(R, t, scen, eq_key),
                cell(R, t, scen, "runs", "int", False), ratio(R, t, scen, "runs"),
                cell(R, t, scen, "bytes_k", "int", False), ratio(R, t, scen, "bytes_k"),
                cell(R, t, scen, "files", "int", False),
                cell(R, t, scen, "cpu_s", "cpu", False), ratio(R, t, scen, "cpu_s")))
        return out + [""]

    L += ["### 1. Burst", "",
          "500 new files (4 KiB) in 20 new directories, 200 files rewritten (new content, 4.5 "
          "KiB), 100 deleted, 5 directories renamed, as fast as Python does it (*burst* below).  "
          "Time from the end of the burst until all three targets equal the source (deadline "
          "%s s); runs, bytes and CPU from the start of the burst until quiet (at most %s s)."
          % (P["deadline"], P["quiet_cap"]), ""]
    L += rows("burst", "equal_s")
    L += ["| tool | burst took (s) | rsyncd CPU s (3 daemons) | sessions | file data KiB (%b) |",
          "|---|---|---|---|---|"]
    for t in tools:
        L.append("| %s | %s | %s | %s | %s |" % (
            LABEL[t], cell(R, t, "burst", "burst_s", "s", False, lower=False),
            cell(R, t, "burst", "daemon_cpu_s", "cpu", False),
            cell(R, t, "burst", "sessions", "int", False),
            cell(R, t, "burst", "data_k", "int", False)))
    if "lookout" in tools:
        L += ["", "lookout's own account (`--json` transfer events): KiB %s, transfers %s, "
              "failed %s." % (cell(R, "lookout", "burst", "json_bytes_k", "int", False),
                              cell(R, "lookout", "burst", "json_transfers", "int", False),
                              cell(R, "lookout", "burst", "json_failed", "int", False))]
    L += ["", "### 2. Restart", "",
          "After the burst is synced the tool's process group gets SIGKILL (*kill -9*), 10 files "
          "are rewritten, and the tool is started again: lookout with the same `--state DIR`, "
          "lsyncd with its startup rsync of the whole tree to each target; the loop has no "
          "start-up sync.  Then the same once more after a clean stop (*SIGTERM*, 10 other "
          "files; not for the loop).  Time from the spawn until all targets are equal (deadline "
          "%s s); runs, bytes and CPU from the spawn until quiet.  *%% of tree* = KiB sent / "
          "(3 × the tree's file bytes); the goal for lookout is < 1 %%.  *file data*: what of it "
          "was file content (rsyncd's %%b); *other*: the rest (file lists, checksums, protocol)."
          % P["restart_deadline"], ""]
    L += ["| tool | stopped by | s to all equal | rsync runs | KiB sent | ×lookout | % of tree "
          "| files | file data KiB | other KiB | CPU s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for scen, how in (("restart", "kill -9"), ("restart_term", "SIGTERM")):
        for t in tools:
            if scen == "restart_term" and t == "loop":
                continue
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                LABEL[t], how, cell(R, t, scen, "equal_s", "s"),
                cell(R, t, scen, "runs", "int", False),
                cell(R, t, scen, "bytes_k", "int", False), ratio(R, t, scen, "bytes_k"),
                cell(R, t, scen, "bytes_pct", "ratio", False),
                cell(R, t, scen, "files", "int", False),
                cell(R, t, scen, "data_k", "int", False),
                cell(R, t, scen, "overhead_k", "int", False),
                cell(R, t, scen, "cpu_s", "cpu", False)))
    L += ["", "Tree size (file bytes): %s KiB." % cell(R, tools[0], "restart", "tree_bytes_k",
                                                        "int", False)]
    if "lookout" in tools:
        said = []
        for scen in ("restart", "restart_term"):
            for r in R["lookout"]:
                lines = [l for l in (r.get(scen) or {}).get("stderr", "").splitlines()
                         if l.strip() and l.strip() != "READY"]
                said.append("%s: %s" % ("kill -9" if scen == "restart" else "SIGTERM",
                                        " / ".join("`%s`" % l.strip() for l in lines) or "nothing"))
        L += ["", "lookout on stderr after the restart, per run: " + "; ".join(said) + "."]
    L += ["", "### 3. One target down", "",
          "Daemon 3 gets SIGTERM; then 30 new files in a new directory, 20 rewritten, 10 "
          "deleted.  *1+2 equal*: from the end of the changes until targets 1 and 2 equal the "
          "source.  Daemon 3 is restarted on the same port %s s after the changes; *3 equal*: "
          "from its restart until target 3 is equal (deadline %s s).  Runs, bytes, CPU: the "
          "whole scenario; *runs while down*: rsync runs before the restart (retries included)."
          % (P["outage_hold"], P["outage_deadline"]), ""]
    L += ["| tool | s until 1+2 equal | s until 3 equal (after restart) | ×lookout | rsync runs "
          "| runs while down | KiB sent | CPU s |", "|---|---|---|---|---|---|---|---|"]
    for t in tools:
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABEL[t], cell(R, t, "outage", "equal12_s", "s"), cell(R, t, "outage", "equal3_s", "s"),
            ratio(R, t, "outage", "equal3_s"), cell(R, t, "outage", "runs", "int", False),
            cell(R, t, "outage", "runs_down", "int", False),
            cell(R, t, "outage", "bytes_k", "int", False),
            cell(R, t, "outage", "cpu_s", "cpu", False)))
    L += ["", "### Start (targets already equal)", "",
          "Spawn until all targets equal the source and no rsync ran for %.1f s (lookout: "
          "`READY` first; lsyncd: its three startup rsyncs)." % QUIET, ""]
    L += ["| tool | ready (s) | rsync runs | KiB sent | CPU s |", "|---|---|---|---|---|"]
    for t in tools:
        L.append("| %s | %s | %s | %s | %s |" % (
            LABEL[t], cell(R, t, "start", "ready_s", "s"), cell(R, t, "start", "runs", "int", False),
            cell(R, t, "start", "bytes_k", "int", False), cell(R, t, "start", "cpu_s", "cpu", False)))
    L += ["", "### How each tool ran", ""]
    for t in tools:
        L.append("- %s: `%s`%s" % (LABEL[t], CMDS.get(t, "?"),
                                   " (one per target, N = 1, 2, 3)" if t == "loop" else ""))
    L.append("- lsyncd's configuration (one `sync` per target, shown for target 1): "
             "`sync { default.rsync, source = SRC, target = \"rsync://bench@127.0.0.1:P1/m/\", "
             "delay = %s, rsync = { binary = WRAP, password_file = PW, archive = true, "
             "compress = true } }` in `settings { nodaemon = true, insist = true }`; delay in "
             "seconds (%s s = lookout's %s)." % (LSYNCD_DELAY, LSYNCD_DELAY, LOOKOUT_DELAY))
    notes = []
    for t in tools:
        for i, r in enumerate(R[t]):
            for sc in ("start", "burst", "restart", "restart_term", "outage"):
                x = r.get(sc) or {}
                if x.get("error"):
                    notes.append("%s run %d %s: error: %s" % (LABEL[t], i + 1, sc, x["error"]))
                elif x.get("note"):
                    notes.append("%s run %d %s: %s" % (LABEL[t], i + 1, sc, x["note"]))
    L += ["", "### Errors and notes", ""] + (["- " + n for n in notes] if notes else ["None."])
    return "\n".join(L) + "\n"


CMDS = {}
P = {}


def version(cmd):
    try:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode("utf-8", "replace")
        return out.strip().splitlines()[0].strip() if out.strip() else "?"
    except Exception as e:
        return "? (%s)" % e


def has_sync(lookout):
    try:
        r = subprocess.run([lookout, "sync", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
    except OSError:
        return False
    return r.returncode == 0 and b"unknown command" not in r.stdout


# --------------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run")
    ap.add_argument("--runs", type=int, help="runs per tool (default 3, --quick 1)")
    ap.add_argument("--only", help="comma list of tools (%s)" % ",".join(ALL_TOOLS))
    ap.add_argument("--dirs", type=int, default=200, help="directories in the tree (default 200)")
    ap.add_argument("--files", type=int, default=10, help="4 KiB files per directory (default 10)")
    ap.add_argument("--deadline", type=float, default=60.0,
                    help="seconds until targets must be equal after the burst (default 60)")
    ap.add_argument("--restart-deadline", type=float, default=10.0,
                    help="seconds after a restart (default 10)")
    ap.add_argument("--outage-hold", type=float, default=5.0,
                    help="seconds daemon 3 stays down after the changes (default 5)")
    ap.add_argument("--outage-deadline", type=float, default=20.0,
                    help="seconds after daemon 3 is back until target 3 must be equal (default 20)")
    ap.add_argument("--quiet-cap", type=float, default=15.0,
                    help="at most this long waiting for no more rsync runs (default 15)")
    ap.add_argument("--lookout", default=os.path.join(REPO, "build", "lookout"))
    ap.add_argument("--lookout-arg", action="append", default=[],
                    help="extra argument for lookout sync (repeatable)")
    ap.add_argument("--write-results", action="store_true",
                    help="write the section into --out (default bench/RESULTS.md)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--raw", help="also write all per-run numbers as JSON to this file")
    ap.add_argument("--keep-logs", metavar="DIR",
                    help="copy every tool's output, the rsync run log and the rsyncd logs to DIR")
    args = ap.parse_args()
    if args.dirs < 10 or (args.dirs - 5) * (args.files - 1) < 350:
        ap.error("--dirs >= 10 and (dirs - 5) * (files - 1) >= 350: the scenarios touch 350 "
                 "existing files")
    if os.geteuid() != 0:
        ap.error("run as root: the rsync daemons run as uid/gid root")
    runs = args.runs or (1 if args.quick else 3)
    tools = pick_tools(ap, ALL_TOOLS, args.only)
    for exe, pkg in (("rsync", "rsync"), ("lsyncd", "lsyncd"), ("inotifywait", "inotify-tools")):
        if not shutil.which(exe):
            ap.error("%s not found (apt-get install %s)" % (exe, pkg))
    skipped = []
    if "lookout" in tools and not (os.path.exists(args.lookout) and has_sync(args.lookout)):
        skipped.append("lookout (%s has no `sync` subcommand yet)" % args.lookout)
        tools.remove("lookout")
        log("skipping lookout: %s has no sync subcommand" % args.lookout)
    if not tools:
        ap.error("no tool left to run")
    EXTRA_LOOKOUT_ARGS.extend(args.lookout_arg)
    P.update(deadline="%.0f" % args.deadline, restart_deadline="%.0f" % args.restart_deadline,
             outage_hold="%.0f" % args.outage_hold, outage_deadline="%.0f" % args.outage_deadline,
             quiet_cap="%.0f" % args.quiet_cap)
    term_as_interrupt()
    rsync_bin = shutil.which("rsync")
    base = tempfile.mkdtemp(prefix="lookout-syncbench-", dir="/dev/shm")
    t_start, load_start, loads = time.monotonic(), loadavg(), []
    R = {t: [] for t in tools}
    try:
        lookout = os.path.join(base, "lookout")
        if "lookout" in tools:
            shutil.copy2(os.path.abspath(args.lookout), lookout)   # a rebuild cannot mix binaries
        env = Env(base, rsync_bin, lookout)
        for d in env.daemons:
            d.start()
        for run in range(runs):
            order = tools[run % len(tools):] + tools[:run % len(tools)]
            loads.append(loadavg())
            log("=== run %d/%d (order %s, load %s)" % (run + 1, runs, ",".join(order), loads[-1]))
            for t in order:
                R[t].append(session(t, env, run, args))
        for t in tools:
            CMDS[t] = shown_command(t, env)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        raise
    finally:
        for p in list(LIVE):          # only processes this script started (their own groups)
            stop(p, signal.SIGKILL, grace=2.0)
        if args.keep_logs:
            keep_logs(base, args.keep_logs)
        shutil.rmtree(base, ignore_errors=True)
    cpu, osname = machine()
    head = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h"],
                          stdout=subprocess.PIPE).stdout.decode().strip()
    vers = ["rsync: %s" % version(["rsync", "--version"]),
            "lsyncd %s" % version(["lsyncd", "--version"]).replace("Version: ", ""),
            version(["inotifywait", "--help"])]
    if "lookout" in tools:
        st = os.stat(args.lookout)
        with open(args.lookout, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:12]
        vers.insert(0, "%s (%s, built %s, sha256 %s…; bench at %s)" % (
            version([args.lookout, "--version"]), args.lookout,
            datetime.datetime.utcfromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M UTC"),
            digest, head))
    meta = [("Date", datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")),
            ("Machine", "%s, %d CPUs, kernel %s, %s" % (cpu, os.cpu_count(), os.uname().release,
                                                       osname)),
            ("Command", "`python3 bench/sync_compare.py%s`" % "".join(
                " " + a for a in clean_argv(sys.argv[1:]))),
            ("Tools", "; ".join(vers)),
            ("Tree", "%d dirs × %d files of 4 KiB (+ %d symlinks) on tmpfs (/dev/shm); targets "
             "on tmpfs too" % (args.dirs, args.files, (args.dirs + 9) // 10)),
            ("Runs", "%d" % runs),
            ("Wall time", "%.0f s" % (time.monotonic() - t_start)),
            ("Load average at start / per run / end", "%s / %s / %s (2 cores, shared)"
             % (load_start, " · ".join(loads), loadavg()))]
    if skipped:
        meta.append(("Not run", "; ".join(skipped)))
    section = build_section(R, meta, tools)
    if args.write_results:
        replace_section(args.out, MARKER, section)
        log("wrote %s" % args.out)
    write_raw(args.raw, dict(meta), R)
    print(section)


def keep_logs(base, dest):
    os.makedirs(dest, exist_ok=True)
    for rel in ["logs", "rsync-runs"] + ["daemon%d" % i for i in (1, 2, 3)]:
        src = os.path.join(base, rel)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(dest, rel), dirs_exist_ok=True)
        elif os.path.exists(src):
            shutil.copy2(src, dest)
    log("logs kept in %s" % dest)


def shown_command(t, env):
    """The command line as run, with the temp paths shortened."""
    if t == "lookout":
        return ("lookout sync --ready --json --delay %s --state STATE --rsync WRAP "
                "--password-file PW --rsync-arg=-z%s SRC %s" % (
                    LOOKOUT_DELAY, "".join(" " + a for a in EXTRA_LOOKOUT_ARGS),
                    " ".join("rsync://bench@127.0.0.1:P%d/m/" % (i + 1) for i in range(3))))
    if t == "lsyncd":
        return "lsyncd CONFIG.lua"
    return ("bash -c 'inotifywait -mrq -e close_write,delete,create,attrib,move SRC | while read "
            "-r _; do WRAP -az --delete --password-file=PW SRC/ rsync://bench@127.0.0.1:PN/m/; "
            "done'")


def clean_argv(argv):
    """The command line minus --out/--raw/--lookout/--keep-logs and their values."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--out", "--raw", "--lookout", "--keep-logs"):
            skip = True
        elif a.split("=")[0] not in ("--out", "--raw", "--lookout", "--keep-logs"):
            out.append(a)
    return out


if __name__ == "__main__":
    main()
