# execfeed sandbox worker (fork server). Embedded in the Go package sandbox and started by Pool.
#
# Protocol on stdin/stdout: frames of a 4-byte big-endian length followed by UTF-8 JSON.
# The worker first sends a hello frame, then answers every request frame with one response frame.
# Each request runs in a forked child: own session, rlimits, private working directory, and (when
# the worker runs as root) its own unprivileged uid. The worker itself never runs candidate code.
import builtins
import ctypes
import io
import json
import os
import reprlib
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time

# Modules that candidate programs commonly import, loaded once here so that forked children find
# them in sys.modules (faster, and they need no file-system access to the interpreter's stdlib).
import bisect, collections, copy, dataclasses, datetime, decimal, fractions, functools  # noqa: E401,F401
import hashlib, heapq, itertools, math, operator, random, re, statistics, string, typing  # noqa: E401,F401
import array, cmath, enum, numbers, queue, textwrap, unicodedata  # noqa: E401,F401

ROOT = os.environ.get("EXECFEED_ROOT", "")
RUN_UID = int(os.environ.get("EXECFEED_UID", "-1"))
HIDE = [p for p in os.environ.get("EXECFEED_HIDE", "").split(os.pathsep) if p]
IS_ROOT = os.geteuid() == 0
NETNS = os.environ.get("EXECFEED_NETNS", "") == "1"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_in = sys.stdin.buffer
_out = sys.stdout.buffer
_stderr = sys.stderr


def _mount(src, target, fstype, flags, data):
    r = _libc.mount(
        src.encode() if src else None, target.encode(), fstype.encode() if fstype else None, flags,
        data.encode() if data else None)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (src, target, os.strerror(e)))


def _under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


PRIVATE_TMP = ["/tmp", "/var/tmp", "/run/lock", "/dev/shm"]


def cover(h, writable, keep):
    """Mounts an empty tmpfs over directory h in this worker's private mount namespace, then binds
    each path of keep that lies inside h back at its place (read-only unless it is ROOT)."""
    root = os.path.realpath(ROOT)
    inner = sorted(k for k in keep if _under(k, h) and k != h)
    inner = [k for k in inner if not any(o != k and _under(k, o) for o in inner)]
    fds = [(k, os.open(k, os.O_PATH | os.O_DIRECTORY)) for k in inner]
    try:
        if writable:
            _mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
        else:
            _mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
        for k, fd in fds:
            t = os.path.join(h, os.path.relpath(k, h))
            os.makedirs(t, mode=0o755, exist_ok=True)
            _mount("/proc/self/fd/%d" % fd, t, None, MS_BIND | MS_REC, None)
            if k != root:
                _mount(None, t, None, MS_REMOUNT | MS_BIND | MS_RDONLY, None)
        if not writable:
            _mount(None, h, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    finally:
        for _, fd in fds:
            os.close(fd)


def hide_paths():
    """Covers each HIDE path with an empty read-only tmpfs, re-exposing (read-only) only what the
    interpreter needs, and gives /tmp and the other world-writable directories private empty
    tmpfs (the run directories stay reachable). Returns the paths hidden."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    root = os.path.realpath(ROOT)
    keep = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable))}
    keep |= {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    hidden = []
    for h in HIDE:
        h = os.path.realpath(h)
        if not os.path.isdir(h) or _under(h, root) or _under(root, h):
            continue  # the Go side refuses a root inside a hidden path
        cover(h, False, keep)
        hidden.append(h)
    for h in PRIVATE_TMP:
        if os.path.isdir(h) and not os.path.islink(h) and not _under(h, root):
            cover(h, True, {root})
            hidden.append(h)
    return hidden


def send(obj):
    data = json.dumps(obj).encode()
    _out.write(struct.pack(">I", len(data)) + data)
    _out.flush()


def recv():
    head = _in.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    data = _in.read(n)
    if len(data) < n:
        return None
    return json.loads(data)


# ---------------------------------------------------------------------------------------------
# The child: everything below runs after fork, with limits applied and privileges dropped.


class CappedRaw(io.RawIOBase):
    """A writable raw stream that keeps the first cap bytes and counts the rest."""

    def __init__(self, cap):
        self.cap, self.buf, self.dropped = cap, bytearray(), 0

    def writable(self):
        return True

    def write(self, b):
        n = len(b)
        room = self.cap - len(self.buf)
        if room > 0:
            self.buf += bytes(b[:room])
        self.dropped += max(0, n - max(room, 0))
        return n

    def text(self):
        return self.buf.decode("utf-8", "replace")


def capped_text(cap):
    raw = CappedRaw(cap)
    return raw, io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors="replace", write_through=True)


class Tracer:
    """Line-level trace of code compiled from the candidate program (filename "<candidate>")."""

    def __init__(self, max_steps, max_locals, repr_max):
        self.steps, self.count, self.max_steps, self.max_locals = [], 0, max_steps, max_locals
        self.r = reprlib.Repr()
        self.r.maxstring = self.r.maxother = self.r.maxlong = repr_max
        self.r.maxlist = self.r.maxtuple = self.r.maxdict = self.r.maxset = 8
        self.repr_max = repr_max

    def snap(self, frame):
        out = {}
        for i, (k, v) in enumerate(frame.f_locals.items()):
            if i >= self.max_locals:
                break
            if k.startswith("__") or isinstance(v, type(os)) or callable(v) and not isinstance(v, (list, dict, set, tuple)):
                continue
            try:
                out[k] = self.r.repr(v)[: self.repr_max]
            except BaseException:  # noqa: BLE001 - hostile __repr__
                out[k] = "<unrepresentable>"
        return out

    def local(self, frame, event, arg):
        if event == "line":
            self.count += 1
            if len(self.steps) < self.max_steps:
                self.steps.append([frame.f_lineno, self.snap(frame)])
        return self.local

    def glob(self, frame, event, arg):
        if frame.f_code.co_filename == "<candidate>":
            return self.local(frame, event, arg)
        return None


def err_text(e):
    name = type(e).__name__
    msg = str(e)
    s = name + (": " + msg if msg else "")
    return s[:2000]


def run_child(req, resfd):
    """Runs the candidate and its tests; streams one JSON line per event to resfd."""

    def emit(obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            n = os.write(resfd, data)
            data = data[n:]

    cap = int(req.get("out_cap", 65536))
    out_raw, out_txt = capped_text(cap)
    err_raw, err_txt = capped_text(cap)
    sys.stdout, sys.stderr = out_txt, err_txt
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    tracer = None
    if req.get("trace"):
        tracer = Tracer(int(req.get("trace_max", 10000)), int(req.get("locals_max", 16)), int(req.get("repr_max", 80)))
    failed_at = [None]

    def fail_mark():
        if failed_at[0] is None and tracer is not None:
            failed_at[0] = tracer.count

    def finish(outcome, error=""):
        sys.settrace(None)
        try:
            out_txt.flush()
            err_txt.flush()
        except BaseException:  # noqa: BLE001
            pass
        res = {"done": True, "outcome": outcome, "error": error, "stdout": out_raw.text(), "stderr": err_raw.text(),
               "truncated": bool(out_raw.dropped or err_raw.dropped)}
        if tracer is not None:
            res["trace"] = tracer.steps
            res["trace_steps"] = tracer.count
            res["steps_before_failure"] = tracer.count if failed_at[0] is None else failed_at[0]
        emit(res)

    try:
        code = compile(req["source"], "<candidate>", "exec")
    except BaseException as e:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        finish("CompileError", err_text(e))
        return
    tests = req.get("tests") or []
    io_mode = bool(tests) and all(t.get("io") for t in tests)
    if not io_mode:
        g = {"__name__": "__main__" if not tests else "__candidate__", "__builtins__": builtins}
        if tracer:
            sys.settrace(tracer.glob)
        try:
            exec(code, g)
        except BaseException as e:  # noqa: BLE001
            fail_mark()
            msg = err_text(e)
            for i in range(len(tests)):
                emit({"test": i, "outcome": "RuntimeError", "error": msg, "time": 0})
            finish("RuntimeError", msg)
            return
        sys.settrace(None)
    worst = "PassedTest"
    rank = {"PassedTest": 0, "FailedTest": 1, "RuntimeError": 2}
    first_err = ""
    for i, t in enumerate(tests):
        t0 = time.perf_counter()
        got, outcome, error = "", "PassedTest", ""
        try:
            if t.get("io"):
                raw, txt = capped_text(cap)
                sys.stdin = io.TextIOWrapper(io.BytesIO(t.get("stdin", "").encode()), encoding="utf-8")
                sys.stdout = txt
                gi = {"__name__": "__main__", "__builtins__": builtins}
                if tracer:
                    sys.settrace(tracer.glob)
                try:
                    exec(code, gi)
                finally:
                    sys.settrace(None)
                    try:
                        txt.flush()
                    except BaseException:  # noqa: BLE001
                        pass
                    sys.stdout = out_txt
                got = raw.text()
                if normalize(got) != normalize(t.get("stdout", "")):
                    outcome, error = "FailedTest", "wrong output"
            else:
                tcode = compile(t.get("code", ""), "<test>", "exec")
                if tracer:
                    sys.settrace(tracer.glob)
                try:
                    exec(tcode, g)
                finally:
                    sys.settrace(None)
        except SystemExit as e:
            # exit() after printing is how many stdin/stdout programs end; code 0/None is not an error.
            if t.get("io") and e.code in (None, 0):
                got = raw.text()
                if normalize(got) != normalize(t.get("stdout", "")):
                    outcome, error = "FailedTest", "wrong output"
            else:
                outcome, error = "RuntimeError", err_text(e) or "SystemExit"
        except AssertionError as e:
            outcome, error = "FailedTest", err_text(e)
        except BaseException as e:  # noqa: BLE001
            outcome, error = "RuntimeError", err_text(e)
        if outcome != "PassedTest":
            fail_mark()
            if not first_err:
                first_err = error
        if rank[outcome] > rank[worst]:
            worst = outcome
        emit({"test": i, "outcome": outcome, "error": error, "got": got[:cap], "time": time.perf_counter() - t0})
    finish(worst, first_err)


def normalize(s):
    """Output comparison for stdin/stdout tests: trailing whitespace per line and trailing blank lines ignored."""
    lines = [ln.rstrip() for ln in s.replace("\r\n", "\n").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def child_main(req, workdir, resfd):
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    outfd = os.open(os.path.join(workdir, ".fd-out"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(outfd, 1)
    os.dup2(outfd, 2)
    os.closerange(3, resfd)
    os.closerange(resfd + 1, 65536)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the file-size limit fail with EFBIG
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    cpu = max(1, int(req.get("cpu", 3) + 0.999))
    lim = [
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_AS", int(req.get("mem", 1 << 30)), int(req.get("mem", 1 << 30))),
        ("RLIMIT_FSIZE", int(req.get("fsize", 16 << 20)), int(req.get("fsize", 16 << 20))),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NOFILE", 256, 256),
        ("RLIMIT_STACK", 64 << 20, 64 << 20),
    ]
    # RLIMIT_NPROC counts every process of the real uid: exact with a private uid (root), and without
    # root it usually forbids forking altogether (the user already runs more processes than that).
    nproc = int(req.get("nproc", 16))
    lim.append(("RLIMIT_NPROC", nproc, nproc))
    for name, soft, hard in lim:
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (ValueError, OSError):
            pass
    os.chdir(workdir)
    if IS_ROOT and RUN_UID > 0:
        os.setgroups([])
        os.setresgid(RUN_UID, RUN_UID, RUN_UID)
        os.setresuid(RUN_UID, RUN_UID, RUN_UID)
    os.umask(0o077)
    os.environ.clear()
    os.environ.update({"HOME": workdir, "TMPDIR": workdir, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    tempfile.tempdir = workdir
    run_child(req, resfd)


# ---------------------------------------------------------------------------------------------
# The worker side.


def proc_children():
    me = str(os.getpid())
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("ascii", "replace")
            ppid = st[st.rfind(")") + 2:].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == me:
            kids.append(int(d))
    return kids


def kill_uid(uid):
    """Kills every process of uid: a helper that becomes uid and calls kill(-1, SIGKILL)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            for _ in range(3):
                try:
                    os.kill(-1, signal.SIGKILL)
                except ProcessLookupError:
                    break
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def reap_all(first):
    """Kills and reaps every descendant. The worker is a child subreaper, so orphans come back to it:
    once it has no children left, no descendant is left either."""
    for attempt in range(400):
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                break
        if IS_ROOT and RUN_UID > 0:
            kill_uid(RUN_UID)
        else:
            try:
                os.killpg(first, signal.SIGKILL)
            except OSError:
                pass
        for k in proc_children():
            try:
                os.kill(k, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002 if attempt < 50 else 0.02)
    return False


def describe_status(st):
    if os.WIFSIGNALED(st):
        sig = os.WTERMSIG(st)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "killed by signal " + name
    if os.WIFEXITED(st):
        return "exit status %d" % os.WEXITSTATUS(st)
    return "status %d" % st


def handle(req):
    workdir = tempfile.mkdtemp(prefix="run-", dir=ROOT)
    if IS_ROOT and RUN_UID > 0:
        os.chown(workdir, RUN_UID, RUN_UID)
    os.chmod(workdir, 0o700)
    r, w = os.pipe()
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            child_main(req, workdir, w)
        except BaseException:  # noqa: BLE001
            pass
        finally:
            os._exit(0)
    os.close(w)
    timeout = float(req.get("timeout", 3))
    deadline = t0 + timeout
    data = bytearray()
    limit = 64 << 20
    pfd = os.pidfd_open(pid)
    status = None
    timed_out = False
    eof = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        fds = [pfd] + ([] if eof else [r])
        ready, _, _ = select.select(fds, [], [], left)
        if r in ready:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                eof = True
            elif len(data) < limit:
                data += chunk
        if pfd in ready:
            _, status = os.waitpid(pid, 0)
            break
    elapsed = time.monotonic() - t0
    if status is None:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    # Drain what the child wrote before it ended.
    os.set_blocking(r, False)
    try:
        while len(data) < limit:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            data += chunk
    except BlockingIOError:
        pass
    clean = reap_all(pid)
    os.close(r)
    os.close(pfd)
    shutil.rmtree(workdir, ignore_errors=True)
    leftover = os.path.exists(workdir)
    events = []
    for line in bytes(data).split(b"\n"):
        if line.strip():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
    resp = {"id": req.get("id"), "tests": {}, "time": elapsed, "timed_out": timed_out,
            "exit": "" if status is None else describe_status(status), "clean": clean and not leftover}
    for ev in events:
        if "test" in ev and isinstance(ev.get("test"), int):
            resp["tests"][str(ev["test"])] = ev
        elif ev.get("done"):
            resp["final"] = ev
    return resp


def main():
    global ROOT
    info = {"hello": True, "python": sys.version.split()[0], "pid": os.getpid(), "root": IS_ROOT,
            "uid": RUN_UID if IS_ROOT else os.geteuid(), "netns": NETNS, "errors": []}
    try:
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            info["errors"].append("prctl(PR_SET_CHILD_SUBREAPER) failed")
    except AttributeError:
        info["errors"].append("no prctl")
    if IS_ROOT and os.environ.get("EXECFEED_DISK"):
        # A private size-limited tmpfs for the run directories: a disk quota, gone with the worker.
        try:
            _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            _mount("tmpfs", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "size=%s,mode=0711" % os.environ["EXECFEED_DISK"])
            info["tmpfs"] = True
        except OSError as e:
            info["errors"].append("tmpfs for run directories: %s" % e)
    if IS_ROOT and os.getpid() == 1:
        # Own pid namespace: a fresh /proc shows only the sandbox's processes.
        try:
            _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | 8, None)
            info["pidns"] = True
        except OSError as e:
            info["errors"].append("mounting /proc: %s" % e)
    hidden = []
    if IS_ROOT and NETNS:
        try:
            hidden = hide_paths()
        except OSError as e:
            info["errors"].append("hiding paths: %s" % e)
    info["hidden"] = hidden
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send(info)
    while True:
        req = recv()
        if req is None:
            return
        try:
            resp = handle(req)
        except Exception as e:  # noqa: BLE001 - worker bug or resource exhaustion: report, keep serving
            resp = {"id": req.get("id"), "worker_error": err_text(e)}
        send(resp)


if __name__ == "__main__":
    main()
