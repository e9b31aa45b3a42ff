# execfeed sandbox worker. Embedded in the Go package sandbox and started by Pool, one per slot.
#
# Three kinds of process:
#   * the judge (this process, started by Go; pid 1 of the worker's pid namespace) talks to Go,
#     runs the TESTS, compares values and decides every verdict. Candidate code never runs here.
#   * the zygote (forked by the judge at start-up, before any test is known, so its memory holds
#     no test; pid 1 of a nested pid namespace) forks one child per run, and afterwards kills
#     everything left in its namespace (kill(-1)), reaps it and wipes the run's directories.
#   * the child runs the CANDIDATE: it loads the program, then answers the judge's requests (call
#     this function with these arguments; run as __main__ on this stdin) with values serialised
#     by a strict serialiser that accepts builtin types only. It never sees an expected value and
#     never reports a verdict, so there is nothing to forge: writing to its channel can only change
#     the values it returns.
#
# Protocol with Go on stdin/stdout: frames of a 4-byte big-endian length and UTF-8 JSON. The judge
# sends a hello frame, then answers every request frame with one response frame.
import ast
import builtins
import collections
import ctypes
import gc
import io
import json
import os
import reprlib
import resource
import select
import signal
import socket
import struct
import sys
import time

# Modules that candidate programs commonly import, loaded once so that forked children find them
# in sys.modules.
import bisect, collections, copy, dataclasses, datetime, decimal, fractions, functools  # noqa: E401,F401
import hashlib, heapq, itertools, math, operator, random, re, statistics, string, typing  # noqa: E401,F401
import array, cmath, enum, numbers, queue, textwrap, unicodedata  # noqa: E401,F401
import tempfile  # the child points it at its directory (importing it there would cost milliseconds)

ROOT = os.environ.get("EXECFEED_ROOT", "")  # host directory over which the new root is built
RUN_UID = int(os.environ.get("EXECFEED_UID", "-1"))
NS = os.environ.get("EXECFEED_NS", "")  # "root", "user" or "" (no namespaces)
DISK = os.environ.get("EXECFEED_DISK", str(256 << 20))
SECCOMP = bytes.fromhex(os.environ.get("EXECFEED_SECCOMP", ""))
IS_ROOT = os.geteuid() == 0 and NS != "user"

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MNT_DETACH = 2
CLONE_NEWPID = 0x20000000
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 4, 38, 22, 2
PR_SET_CHILD_SUBREAPER = 36

_libc = ctypes.CDLL(None, use_errno=True)
_in = sys.stdin.buffer
_out = sys.stdout.buffer

# The child's working directory, inside the allowlist root (or, without namespaces, on the host),
# and what is emptied after every run.
if NS:
    RUN_DIR = "/sandbox/run"
    WIPE = [RUN_DIR, "/tmp", "/dev/shm"]
else:
    RUN_DIR = os.path.join(ROOT, "run")
    WIPE = [RUN_DIR]
MAX_MSG = 64 << 20


def err_text(e):
    name = type(e).__name__
    msg = str(e)
    return (name + (": " + msg if msg else ""))[:2000]


# ---------------------------------------------------------------------------------------------
# Framing, shared by every process. A frame is a 4-byte big-endian length and UTF-8 JSON.


def frame(obj):
    data = json.dumps(obj, allow_nan=True).encode()
    return struct.pack(">I", len(data)) + data


def write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_frame(f):
    """The next frame from a buffered binary file, or None at end-of-file."""
    head = f.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_MSG:
        raise ValueError("frame of %d bytes" % n)
    data = f.read(n)
    if len(data) < n:
        return None
    return json.loads(data)


# ---------------------------------------------------------------------------------------------
# The strict serialiser: exact builtin types only (no subclasses, so no user-defined __eq__), with
# containers tagged so that tuples, sets, dicts with any keys and bytes survive the trip.

MAX_DEPTH = 100


class Refused(Exception):
    pass


class GlobalRef:
    """A program global the judge passes back by name (e.g. the program's own function)."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


def enc(v, depth=0):
    if depth > MAX_DEPTH:
        raise Refused("value nested deeper than %d" % MAX_DEPTH)
    t = type(v)
    if v is None or t is bool or t is str:
        return v
    if t is int:
        if v.bit_length() > 14000:  # about Python's 4,300-digit limit on int <-> str
            raise Refused("integer of %d bits" % v.bit_length())
        return v
    if t is float:
        return {"F": repr(v)}
    if t is list:
        return [enc(x, depth + 1) for x in v]
    if t is tuple:
        return {"T": [enc(x, depth + 1) for x in v]}
    if t is dict:
        return {"D": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
    if t is set:
        return {"S": [enc(x, depth + 1) for x in v]}
    if t is frozenset:
        return {"Z": [enc(x, depth + 1) for x in v]}
    if t is bytes:
        return {"B": v.hex()}
    if t is complex:
        return {"C": [repr(v.real), repr(v.imag)]}
    if t is range:
        return {"R": [v.start, v.stop, v.step]}
    raise Refused("value of type %s (only builtin types are compared)" % t.__name__)


def dec(v, depth=0, refs=False):
    """Inverse of enc; raises ValueError on anything enc cannot have produced. refs allows
    references to program globals (only the child resolves them)."""
    if depth > MAX_DEPTH + 1:
        raise ValueError("too deep")
    t = type(v)
    if v is None or t is bool or t is str or t is int:
        return v
    if t is list:
        return [dec(x, depth + 1, refs) for x in v]
    if t is not dict or len(v) != 1:
        raise ValueError("bad value")
    (tag, x), = v.items()
    if tag == "F" and type(x) is str:
        return float(x)
    if tag == "T" and type(x) is list:
        return tuple(dec(y, depth + 1, refs) for y in x)
    if tag == "D" and type(x) is list:
        out = {}
        for kv in x:
            if type(kv) is not list or len(kv) != 2:
                raise ValueError("bad dict item")
            out[dec(kv[0], depth + 1, refs)] = dec(kv[1], depth + 1, refs)
        return out
    if tag == "S" and type(x) is list:
        return {dec(y, depth + 1, refs) for y in x}
    if tag == "Z" and type(x) is list:
        return frozenset(dec(y, depth + 1, refs) for y in x)
    if tag == "B" and type(x) is str:
        return bytes.fromhex(x)
    if tag == "C" and type(x) is list and len(x) == 2:
        return complex(float(x[0]), float(x[1]))
    if tag == "R" and type(x) is list and len(x) == 3 and all(type(y) is int for y in x):
        return range(*x)
    if tag == "G" and type(x) is str and refs:  # a reference to one of the program's globals (judge -> child)
        return GlobalRef(x)
    raise ValueError("bad tag")


# ---------------------------------------------------------------------------------------------
# The child: everything below runs after fork in the zygote, with limits applied and privileges
# dropped. It is as untrusted as the candidate: whatever it writes is only ever parsed as values.


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
        elif event == "return" and frame.f_code.co_name != "<module>" and len(self.steps) < self.max_steps and (
            frame.f_back is None or frame.f_back.f_code.co_filename != "<candidate>"
        ):
            # A function called by the tests returns: record the value as a pseudo-local "<return>"
            # (EGCA and ETA compare return values; not counted as an executed line).
            try:
                value = self.r.repr(arg)[: self.repr_max]
            except BaseException:  # noqa: BLE001 - hostile __repr__
                value = "<unrepresentable>"
            self.steps.append([frame.f_lineno, {"<return>": value}])
        return self.local

    def glob(self, frame, event, arg):
        if frame.f_code.co_filename == "<candidate>":
            return self.local(frame, event, arg)
        return None


def normalize(s):
    """Output comparison for stdin/stdout tests: trailing whitespace per line and trailing blank lines ignored."""
    lines = [ln.rstrip() for ln in s.replace("\r\n", "\n").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def child_serve(fd):
    """Loads the program sent by the judge, answers the calls it announced in advance (the
    "batch": the calls of a straight-line check, with their literal arguments), then its requests
    until told to finish. Every answer carries what the program printed since the last one."""
    inp = open(fd, "rb", buffering=1 << 16, closefd=False)
    prog = read_frame(inp)
    if prog is None:
        return
    apply_limits(prog)
    cap = int(prog.get("out_cap", 65536))
    out_raw, out_txt = capped_text(cap)
    err_raw, err_txt = capped_text(cap)
    sent = [0, 0]

    def send(obj):
        try:
            out_txt.flush()
            err_txt.flush()
        except BaseException:  # noqa: BLE001
            pass
        if len(out_raw.buf) > sent[0]:
            obj["o"] = out_raw.buf[sent[0]:].decode("latin-1")
            sent[0] = len(out_raw.buf)
        if len(err_raw.buf) > sent[1]:
            obj["e"] = err_raw.buf[sent[1]:].decode("latin-1")
            sent[1] = len(err_raw.buf)
        if out_raw.dropped or err_raw.dropped:
            obj["trunc"] = True
        obj["count"] = tracer.count if tracer else 0
        write_all(fd, frame(obj))

    sys.stdout, sys.stderr = out_txt, err_txt
    sys.stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8")
    tracer = None
    if prog.get("trace"):
        tracer = Tracer(int(prog.get("trace_max", 10000)), int(prog.get("locals_max", 16)), int(prog.get("repr_max", 80)))
    try:
        code = compile(prog["source"], "<candidate>", "exec")
    except BaseException as e:  # noqa: BLE001 - SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        send({"compile_error": err_text(e)})
        return
    g = {"__name__": prog.get("name", "__main__"), "__builtins__": builtins}

    def call(name, args, kw):
        try:
            fn = g[name]
            args = [deref(dec(a, refs=True), g) for a in args]
            kw = {k: deref(dec(a, refs=True), g) for k, a in kw.items()}
            if tracer:
                sys.settrace(tracer.glob)
            try:
                v = fn(*args, **kw)
            finally:
                sys.settrace(None)
            try:
                return {"v": enc(v)}
            except Refused as e:
                return {"refused": str(e)}
        except BaseException as e:  # noqa: BLE001
            sys.settrace(None)
            return {"exc": type(e).__name__, "msg": str(e)[:2000], "assert": isinstance(e, AssertionError)}

    def run_io(stdin):
        raw, txt = capped_text(cap)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
        sys.stdout = txt
        gi = {"__name__": "__main__", "__builtins__": builtins}
        ans = {}
        if tracer:
            sys.settrace(tracer.glob)
        try:
            exec(code, gi)
        except SystemExit as e:
            if e.code not in (None, 0):
                ans = {"exc": "SystemExit", "msg": str(e.code)}
        except BaseException as e:  # noqa: BLE001
            ans = {"exc": type(e).__name__, "msg": str(e)[:2000]}
        finally:
            sys.settrace(None)
            try:
                txt.flush()
            except BaseException:  # noqa: BLE001
                pass
            sys.stdout = out_txt
        ans["got"] = raw.text()
        return ans

    if prog.get("mode") == "io":
        send({"loaded": True})
        for stdin in prog.get("io_batch") or []:
            send(run_io(stdin))
    else:
        if tracer:
            sys.settrace(tracer.glob)
        try:
            exec(code, g)
            loaded = {"loaded": True, "kinds": kinds(g, prog.get("names") or [])}
        except BaseException as e:  # noqa: BLE001
            loaded = {"raised": err_text(e)}
        sys.settrace(None)
        send(loaded)
        if "raised" in loaded:
            return
        for name, args, kw in prog.get("batch") or []:
            send(call(name, args, kw))
    while True:
        req = read_frame(inp)
        if req is None:
            return
        if "call" in req:
            send(call(req["call"], req["args"], req["kw"]))
        elif "io" in req:
            send(run_io(req["io"]))
        elif "legacy" in req:
            legacy_tests(req["legacy"], code, g, send, tracer, cap)
        elif "finish" in req:
            fin = {}
            if tracer is not None:
                fin["trace"] = tracer.steps
                fin["trace_steps"] = tracer.count
            send(fin)
            return


def kinds(g, names):
    """What the program's globals of these names are, for the judge's namespace."""
    out = {}
    for n in names:
        if type(n) is not str or n not in g:
            continue
        v = g[n]
        if isinstance(v, type(os)):
            out[n] = {"module": getattr(v, "__name__", n)}
        elif callable(v):
            out[n] = {"callable": True}
        else:
            try:
                out[n] = {"value": enc(v)}
            except Refused as e:
                out[n] = {"other": str(e)}
    return out


def deref(v, g):
    return g[v.name] if type(v) is GlobalRef else v


def legacy_tests(tests, code, g, send, tracer, cap):
    """Runs assertion tests inside this process (tests that pass objects the serialiser cannot
    carry). The candidate could forge these verdicts; the judge marks the result as forgeable."""
    for i, src in enumerate(tests):
        t0 = time.perf_counter()
        outcome, error = "PassedTest", ""
        try:
            tcode = compile(src, "<test>", "exec")
            if tracer:
                sys.settrace(tracer.glob)
            try:
                exec(tcode, g)
            finally:
                sys.settrace(None)
        except AssertionError as e:
            outcome, error = "FailedTest", err_text(e)
        except BaseException as e:  # noqa: BLE001
            outcome, error = "RuntimeError", err_text(e) or "SystemExit"
        send({"test": i, "outcome": outcome, "error": error, "time": time.perf_counter() - t0})
    send({"legacy_done": True})


def drop_caps():
    """Clears every capability (user-namespace mode, where the child keeps uid 0 of the namespace)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    h = Header(0x20080522, 0)
    d = (Data * 2)()
    if _libc.capset(ctypes.byref(h), d) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def child_main(chan):
    """Sets up a child forked ahead of its run; it then waits for its program."""
    os.setsid()
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    outfd = os.open(os.path.join(RUN_DIR, ".fd-out"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(outfd, 1)
    os.dup2(outfd, 2)
    os.dup2(chan, 3)
    os.closerange(4, 65536)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the file-size limit fail with EFBIG
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.chdir(RUN_DIR)
    if IS_ROOT and RUN_UID > 0:
        os.setgroups([])
        os.setresgid(RUN_UID, RUN_UID, RUN_UID)
        os.setresuid(RUN_UID, RUN_UID, RUN_UID)
    elif NS == "user":
        drop_caps()
    os.umask(0o077)
    child_serve(3)


def apply_limits(cfg):
    """The run's rlimits, set by the child on itself once it knows them (lowering a limit needs
    no privilege) and before any of the program runs."""
    cpu = max(1, int(cfg.get("cpu", 3) + 0.999))
    mem = int(cfg.get("mem", 1 << 30))
    fsize = int(cfg.get("fsize", 16 << 20))
    nproc = int(cfg.get("nproc", 16))
    if not IS_ROOT and NS == "user":
        nproc += 2  # the judge and the zygote run as the same uid of the namespace
    for lim, soft, hard in ((resource.RLIMIT_CPU, cpu, cpu + 1), (resource.RLIMIT_AS, mem, mem),
                            (resource.RLIMIT_FSIZE, fsize, fsize), (resource.RLIMIT_CORE, 0, 0),
                            (resource.RLIMIT_NOFILE, 256, 256), (resource.RLIMIT_STACK, 64 << 20, 64 << 20),
                            (resource.RLIMIT_NPROC, nproc, nproc)):
        try:
            resource.setrlimit(lim, (soft, hard))
        except (ValueError, OSError):
            pass


# ---------------------------------------------------------------------------------------------
# The zygote.


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


def wipe(path, top=True):
    """Removes everything inside path (and path itself unless top). Iterative and by directory
    descriptors, so that no depth of directories defeats it (the tmpfs inode limits bound the
    depth, and the zygote's descriptor limit is raised to match). Returns True when done."""
    try:
        first = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return False
    ok, failed = True, set()
    stack = [(first, None, None)]  # directory descriptor, its parent's, its name there
    while stack:
        fd, parent, name = stack[-1]
        sub = None
        try:
            with os.scandir(fd) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            if e.inode() in failed:
                                continue
                            sub = (os.open(e.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd), fd, e.name)
                            break
                        os.unlink(e.name, dir_fd=fd)
                    except OSError:
                        ok = False
                        failed.add(e.inode())
        except OSError:
            ok = False
        if sub is not None:
            stack.append(sub)
            continue
        stack.pop()
        st = os.fstat(fd)
        os.close(fd)
        if parent is not None:
            try:
                os.rmdir(name, dir_fd=parent)
            except OSError:
                ok = False
                failed.add(st.st_ino)
    if not top:
        try:
            os.rmdir(path)
        except OSError:
            return False
    return ok


def proc_children():
    me = str(os.getpid())
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                st = f.read().decode("ascii", "replace")
            if st[st.rfind(")") + 2:].split()[1] == me:
                kids.append(int(d))
        except (OSError, IndexError):
            continue
    return kids


def kill_uid(uid):
    """Kills every process of uid: a helper that becomes uid and calls kill(-1, SIGKILL)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def kill_all(first):
    """Kills and reaps every process of the run. With namespaces the zygote is the init of a pid
    namespace that holds nothing but the run, so kill(-1) is exact; without, the zygote is a
    child subreaper and kills the run's uid (root), its process group and its children.
    Returns True when none is left."""
    for attempt in range(400):
        if NS_INIT:
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            if IS_ROOT and RUN_UID > 0:
                kill_uid(RUN_UID)
            try:
                os.killpg(first, signal.SIGKILL)
            except OSError:
                pass
            for k in proc_children():
                try:
                    os.kill(k, signal.SIGKILL)
                except OSError:
                    pass
        while True:
            try:
                pid, st = os.waitpid(-1, os.WNOHANG if attempt else 0)
            except ChildProcessError:
                return True
            if pid == 0:
                break
            if pid == first:
                REAPED[0] = st
        time.sleep(0.001 if attempt < 50 else 0.02)
    return False


REAPED = [None]


def install_seccomp():
    if not SECCOMP:
        return False

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(SECCOMP, len(SECCOMP))
    prog = SockFprog(len(SECCOMP) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    return True


NS_INIT = False


def zygote_main(ctl):
    """Forks the runs. ctl is a SOCK_SEQPACKET socket to the judge."""
    global NS_INIT
    info = {"errors": []}
    os.setsid()  # its own process group: killpg of the parent's group from a child reaches only it
    # As init of the runs' pid namespace it receives from them only the signals it handles: none.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if NS:
        NS_INIT = os.getpid() == 1
        if not NS_INIT:
            raise OSError(0, "the zygote is not the init of its pid namespace")
        # A fresh /proc (this namespace's processes only), mounted before the host's root is
        # detached: inside a user namespace the kernel lets proc be mounted only while a full proc
        # is visible.
        _mount("proc", ROOT + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        info["pidns"] = True
        pivot()
    elif _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        info["errors"].append("prctl(PR_SET_CHILD_SUBREAPER) failed")
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    try:
        info["seccomp"] = install_seccomp()
    except OSError as e:
        info["errors"].append("seccomp: %s" % e)
    # What every child would otherwise set up itself, done once: its environment, and a garbage
    # collector that leaves the inherited objects alone (gc.freeze: the child's collections do
    # not scan them, nor copy their pages; a full collection would cost milliseconds).
    os.environ.clear()
    os.environ.update({"HOME": RUN_DIR, "TMPDIR": RUN_DIR, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    tempfile.tempdir = RUN_DIR
    ctl.send(json.dumps(info).encode())
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 1 << 16)), hard))
    except (ValueError, OSError):
        pass
    gc.collect()
    gc.freeze()
    seq = 0
    while True:
        # The next run's child, forked and set up ahead of time: the judge gets its end of the
        # channel at once, and the child waits for its program there.
        seq += 1
        try:
            os.mkdir(RUN_DIR, 0o700)
        except FileExistsError:
            pass
        if IS_ROOT and RUN_UID > 0:
            os.chown(RUN_DIR, RUN_UID, RUN_UID)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            try:
                ctl.close()
                mine.close()
                child_main(theirs.fileno())
            except BaseException:  # noqa: BLE001
                pass
            finally:
                os._exit(0)
        theirs.close()
        socket.send_fds(ctl, [json.dumps({"ready": seq}).encode()], [mine.fileno()])
        mine.close()
        pfd = os.pidfd_open(pid)
        status = None
        while True:
            ready, _, _ = select.select([ctl, pfd], [], [])
            if pfd in ready:
                _, st = os.waitpid(pid, 0)
                status = describe_status(st)
                break
            m = ctl.recv(1 << 16)
            if not m:
                os._exit(0)
            if m == b"end %d" % seq:
                break  # the judge is done or out of time (an older "end" crossed a report)
        os.close(pfd)
        REAPED[0] = None
        clean = kill_all(pid)
        if status is None and REAPED[0] is not None:
            status = describe_status(REAPED[0])
        for d in WIPE:
            clean = wipe(d, d != RUN_DIR) and clean
        ctl.send(json.dumps({"exited": status or "", "clean": clean}).encode())
        if not clean and NS:
            # The judge replaces the run's file systems with fresh ones before the next child.
            while True:
                m = ctl.recv(1 << 16)
                if not m:
                    os._exit(0)
                if m == b"remounted":
                    break


# ---------------------------------------------------------------------------------------------
# Set-up of the judge's namespaces: an allowlist root.


def _mount(src, target, fstype, flags, data):
    r = _libc.mount(
        src.encode() if src else None, target.encode(), fstype.encode() if fstype else None, flags,
        data.encode() if data else None)
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (src, target, os.strerror(e)))


def locked_flags(path):
    """Mount flags of path that a remount inside a user namespace must keep."""
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME), (4096, MS_RELATIME)):
        if f & st:
            out |= ms
    return out


def bind_ro(src, target):
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(src, target, None, MS_BIND | MS_REC, None)
    _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | locked_flags(src), None)


def build_root():
    """Builds the child's file system over ROOT and pivots into it: a read-only /usr (plus the
    interpreter's own directories when they lie elsewhere), /dev with null, zero, full, random and
    urandom, private /tmp and /dev/shm, a size-limited tmpfs for the run directory and, mounted by
    the zygote, a fresh /proc. Nothing else of the host is there."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    new = ROOT
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0755")
    keep = ["/usr"]
    for p in [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)] + list(sys.path):
        if p and os.path.isdir(p):
            p = os.path.realpath(p)
            if not any(p == k or p.startswith(k + "/") for k in keep):
                keep = [k for k in keep if not k.startswith(p + "/")] + [p]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        src = "/" + name
        if os.path.islink(src):
            os.symlink(os.readlink(src), new + src)
        elif os.path.isdir(src) and src not in keep:
            keep.append(src)
    for k in keep:
        bind_ro(k, new + k)
    os.makedirs(new + "/dev", exist_ok=True)
    for d in ("null", "zero", "full", "random", "urandom"):
        if os.path.exists("/dev/" + d):
            open(new + "/dev/" + d, "a").close()
            _mount("/dev/" + d, new + "/dev/" + d, None, MS_BIND, None)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, new + "/dev/" + name)
    for d, opts in scratch_mounts():
        os.makedirs(new + d, exist_ok=True)
        _mount("tmpfs", new + d, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    os.makedirs(new + "/proc", exist_ok=True)
    os.makedirs(new + "/etc", exist_ok=True)
    os.makedirs(new + "/.old", exist_ok=True)
    return keep


def scratch_mounts():
    """The writable file systems of the runs. The inode limits bound how deep a directory tree a
    program can leave (see wipe)."""
    return (("/tmp", "size=64m,nr_inodes=4096,mode=1777"), ("/dev/shm", "size=16m,nr_inodes=1024,mode=1777"),
            ("/sandbox", "size=%s,nr_inodes=16384,mode=0755" % DISK))


def remount_scratch():
    """Replaces the runs' file systems with empty ones (after a run the zygote could not clean:
    nothing of it may reach the next run)."""
    for d, opts in scratch_mounts():
        if _libc.umount2(d.encode(), MNT_DETACH) != 0:
            raise OSError(ctypes.get_errno(), "umount " + d)
        _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, opts)


def pivot():
    """Makes ROOT the root of the mount namespace (the judge's too) and drops the host's."""
    os.chdir(ROOT)
    nr = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
    if nr is None or _libc.syscall(nr, b".", b".old") != 0:
        e = ctypes.get_errno()
        raise OSError(e, "pivot_root: " + os.strerror(e))
    os.chdir("/")
    if _libc.umount2(b"/.old", MNT_DETACH) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "umount old root: " + os.strerror(e))
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)


# ---------------------------------------------------------------------------------------------
# The judge.


class JudgeTimeout(BaseException):
    """The run's wall-clock deadline passed (not an Exception: tests cannot catch it)."""


class ChildGone(BaseException):
    """The candidate's process ended or broke the protocol."""


class NotCarried(BaseException):
    """A test passed the program an object the serialiser cannot carry (not an Exception: the
    test's own `except Exception` must not swallow it)."""


def _alarm(signum, frame):
    raise JudgeTimeout()


class Run:
    """One run of a candidate, seen from the judge."""

    def __init__(self, judge, req):
        self.j, self.req = judge, req
        self.deadline = time.monotonic() + float(req.get("timeout", 3))
        self.count = 0
        self.buf = bytearray()
        self.spec = collections.deque()  # calls announced to the child, not yet consumed
        self.out, self.err, self.trunc = bytearray(), bytearray(), False
        msg, fds, _, _ = socket.recv_fds(judge.ctl, 1 << 16, 1)
        if not msg or len(fds) != 1:
            raise RuntimeError("zygote died")
        self.seq = json.loads(msg)["ready"]
        self.sock = socket.socket(fileno=fds[0])
        self.fd = fds[0]

    def send(self, obj):
        try:
            write_all(self.fd, frame(obj))
        except OSError:
            raise ChildGone()

    def _read(self, n):
        buf = self.buf
        while len(buf) < n:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise JudgeTimeout()
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, max(n - len(buf), 1 << 16))
            except OSError:
                chunk = b""
            if not chunk:
                raise ChildGone()
            buf += chunk
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def recv(self):
        """The child's next frame; ChildGone if it ended or broke the protocol, JudgeTimeout past
        the deadline. (When the child's main process ends, the zygote kills the rest, so the
        channel reaches end-of-file.)"""
        (n,) = struct.unpack(">I", self._read(4))
        if n > MAX_MSG:
            raise ChildGone()
        try:
            msg = json.loads(self._read(n))
        except ValueError:
            raise ChildGone()
        if type(msg) is not dict:
            raise ChildGone()
        if type(msg.get("count")) is int:
            self.count = msg["count"]
        for k, b in (("o", self.out), ("e", self.err)):
            if type(msg.get(k)) is str and len(b) < MAX_MSG:
                b += msg[k].encode("latin-1", "replace")
        self.trunc = self.trunc or msg.get("trunc") is True
        return msg

    def drain(self):
        """Consumes the answers to announced calls that the tests did not make."""
        while self.spec:
            self.spec.popleft()
            self.recv()

    def end(self):
        """Stops the child (if still running) and waits for the zygote's report (one per run;
        an "end" that crosses the report is ignored by the zygote)."""
        self.sock.close()
        ready, _, _ = select.select([self.j.ctl], [], [], 0)
        if not ready:
            self.j.ctl.send(b"end %d" % self.seq)
        m = self.j.ctl.recv(1 << 16)
        if not m:
            raise RuntimeError("zygote died")
        st = json.loads(m)
        if st.get("clean") is not True and NS:
            remount_scratch()
            self.j.ctl.send(b"remounted")
        return st

    def call(self, name, args, kw):
        try:
            msg = {"call": name, "args": [self.carry(a) for a in args], "kw": {k: self.carry(v) for k, v in kw.items()}}
        except (NotCarried, ValueError, RecursionError) as e:
            raise NotCarried(str(e))
        if self.spec and self.spec[0] == (name, msg["args"], msg["kw"]):
            self.spec.popleft()
        else:
            self.drain()
            self.send(msg)
        ans = self.recv()
        if "v" in ans:
            try:
                return dec(ans["v"])
            except (ValueError, TypeError, RecursionError):
                raise ChildGone()
        if "refused" in ans:
            raise TypeError("the program returned a %s" % str(ans["refused"])[:200])
        if "exc" in ans:
            raise remote_exception(str(ans.get("exc")), str(ans.get("msg", "")), ans.get("assert") is True)
        raise ChildGone()

    def carry(self, v):
        if isinstance(v, Remote):
            return {"G": v._name}
        try:
            return enc(v)
        except Refused as e:
            raise NotCarried(str(e))


_exc_cache = {}


def remote_exception(name, msg, is_assert):
    """An exception like the one the candidate raised: a builtin Exception class by that name, or
    a new Exception subclass with the name (nothing the candidate defined runs in the judge)."""
    if is_assert:
        return AssertionError(msg) if msg else AssertionError()
    cls = getattr(builtins, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = _exc_cache.get(name)
        if cls is None:
            cls = _exc_cache[name] = type(name if name.isidentifier() else "Error", (Exception,), {})
    try:
        return cls(msg) if msg else cls()
    except BaseException:  # noqa: BLE001 - e.g. UnicodeDecodeError needs 5 arguments
        c = _exc_cache.get(name + "!")
        if c is None:
            c = _exc_cache[name + "!"] = type(name if name.isidentifier() else "Error", (Exception,), {})
        return c(msg)


class Remote:
    """A global of the program, standing in the tests' namespace: calling it runs it in the child."""

    __slots__ = ("_run", "_name")

    def __init__(self, run, name):
        self._run, self._name = run, name

    def __call__(self, *args, **kw):
        return self._run.call(self._name, args, kw)

    def __repr__(self):
        return "<program function %s>" % self._name


class Unusable:
    __slots__ = ("_name", "_why")

    def __init__(self, name, why):
        self._name, self._why = name, why

    def __getattr__(self, a):
        raise TypeError("the tests cannot use the program's %s: %s" % (self._name, self._why))

    def __call__(self, *a, **k):
        raise TypeError("the tests cannot use the program's %s: %s" % (self._name, self._why))


MODULE_ALIASES = {"np": "numpy", "pd": "pandas"}


def static_calls(src):
    """The program calls a test makes, in order, when it is straight-line: literal assignments,
    imports, `def check(candidate)` made of asserts, `check(entry_point)`, and module-level asserts
    (MBPP); every call of the program with literal arguments, outside short-circuit positions.
    Returns [name, [args], {kw}] with arguments serialised, or None when not that simple."""
    tree = ast.parse(src)
    defs, own, out = {}, set(), []
    for st in tree.body:
        if isinstance(st, ast.FunctionDef):
            defs[st.name] = st
            own.add(st.name)
        elif isinstance(st, (ast.Assign, ast.AnnAssign)):
            ast.literal_eval(st.value)
            for tgt in (st.targets if isinstance(st, ast.Assign) else [st.target]):
                own.update(n.id for n in ast.walk(tgt) if isinstance(n, ast.Name))
        elif isinstance(st, (ast.Import, ast.ImportFrom)):
            own.update((a.asname or a.name).split(".")[0] for a in st.names)
    for st in tree.body:
        if isinstance(st, (ast.FunctionDef, ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom, ast.Pass)):
            continue
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue
        if isinstance(st, ast.Assert):
            calls = assert_calls(st, lambda n: n not in own and not hasattr(builtins, n), {}, own)
        elif (isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and isinstance(st.value.func, ast.Name)
              and st.value.func.id in defs and len(st.value.args) == 1 and not st.value.keywords
              and isinstance(st.value.args[0], ast.Name) and st.value.args[0].id not in own):
            calls = check_calls(defs[st.value.func.id], st.value.args[0].id, own)
        else:
            return None
        if calls is None:
            return None
        out += calls
    return out


def check_calls(fn, entry, own):
    a = fn.args
    if len(a.args) != 1 or a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs:
        return None
    param = a.args[0].arg
    out = []
    for st in fn.body:
        if isinstance(st, ast.Pass) or isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):
            continue
        if not isinstance(st, ast.Assert):
            return None
        calls = assert_calls(st, lambda n: n == param, {param: entry}, own | {param})
        if calls is None:
            return None
        out += calls
    return out


def assert_calls(st, is_program, rename, own):
    """Calls of program functions in an assert, in evaluation order; None if not predictable
    (including when it names anything of the program's but the functions it calls)."""
    out = []

    def visit(node, lazy):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and is_program(node.func.id):
            if lazy or any(isinstance(x, ast.Starred) for x in node.args) or any(k.arg is None for k in node.keywords):
                return False
            args = [enc(ast.literal_eval(x)) for x in node.args]
            kw = {k.arg: enc(ast.literal_eval(k.value)) for k in node.keywords}
            out.append((rename.get(node.func.id, node.func.id), args, kw))
            return True
        if isinstance(node, ast.Name) and (is_program(node.id) or node.id not in own and not hasattr(builtins, node.id)):
            return False  # a program name used other than by a plain call
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.NamedExpr)):
            lazy = True
        if isinstance(node, ast.BoolOp):
            return visit(node.values[0], lazy) and all(visit(v, True) for v in node.values[1:])
        if isinstance(node, ast.IfExp):
            return visit(node.test, lazy) and visit(node.body, True) and visit(node.orelse, True)
        if isinstance(node, ast.Compare) and len(node.ops) > 1:
            return visit(node.left, lazy) and visit(node.comparators[0], lazy) and all(visit(c, True) for c in node.comparators[1:])
        return all(visit(c, lazy) for c in ast.iter_child_nodes(node))

    if not visit(st.test, False) or (st.msg is not None and not visit(st.msg, True)):
        return None
    return out


def judge_env(run, names, kinds):
    """The tests' namespace: the program's functions as Remote stand-ins, its builtin values as
    copies, the modules it imported as the judge's own copies."""
    if type(kinds) is not dict:
        raise ChildGone()
    env = {}
    for n, k in kinds.items():
        if n not in names or type(k) is not dict:
            continue
        if k.get("callable") is True:
            env[n] = Remote(run, n)
        elif "module" in k:
            # Only the module that the name usually means: the program cannot swap in another.
            m = str(k["module"])
            try:
                if m != MODULE_ALIASES.get(n, n):
                    raise ImportError(m)
                env[n] = __import__(m)
            except BaseException:  # noqa: BLE001
                env[n] = Unusable(n, "module %s" % m[:100])
        elif "value" in k:
            try:
                env[n] = dec(k["value"])
            except (ValueError, TypeError, RecursionError):
                raise ChildGone()
        else:
            env[n] = Unusable(n, str(k.get("other"))[:200])
    return env


def global_names(code, out):
    out.update(code.co_names)
    for c in code.co_consts:
        if hasattr(c, "co_names"):
            global_names(c, out)
    return out


class Judge:
    def __init__(self, ctl):
        self.ctl = ctl
        self.codes = {}  # compiled tests, by source
        self.plans = {}  # their announced calls (static_calls), by source
        self.pending = None  # a run whose verdict is out but whose processes may live on
        self.unclean = 0

    def batch(self, tests):
        """The calls the tests will make, in order, as far as they can be known in advance."""
        out = []
        for t in tests:
            src = t.get("code", "")
            plan = self.plans.get(src, False)
            if plan is False:
                if len(self.plans) > 4096:
                    self.plans.clear()
                try:
                    plan = self.plans[src] = static_calls(src)
                except (SyntaxError, ValueError, RecursionError, MemoryError, Refused):
                    plan = self.plans[src] = None
            if plan is None:
                break
            out += plan
        return out

    def compiled(self, src):
        c = self.codes.get(src)
        if c is None:
            if len(self.codes) > 4096:
                self.codes.clear()
            c = self.codes[src] = compile(src, "<test>", "exec")
        return c

    def finish_pending(self):
        """Ends the previous run; its cleanliness is reported with the next answer."""
        if self.pending is not None:
            run, self.pending = self.pending, None
            if run.end().get("clean") is not True:
                self.unclean += 1

    def handle(self, req):
        self.finish_pending()
        t0 = time.monotonic()
        tests = req.get("tests") or []
        io_mode = bool(tests) and all(t.get("io") for t in tests)
        resp = self.attempt(req, tests, io_mode, legacy=False)
        if resp.get("not_carried") is not None:
            self.finish_pending()
            why = resp["not_carried"]
            if req.get("strict"):
                resp = {"tests": {}, "timed_out": False, "exit": resp["exit"], "clean": resp["clean"],
                        "final": {"outcome": "RuntimeError", "error": "strict verdicts: " + why}}
            else:
                resp = self.attempt(req, tests, io_mode, legacy=True)
                resp["forgeable"] = True
                resp.setdefault("notes", []).append("tests ran inside the candidate's process: " + why)
        resp["id"] = req.get("id")
        resp["time"] = time.monotonic() - t0
        if self.unclean:
            resp["unclean_before"], self.unclean = self.unclean, 0
        return resp

    def attempt(self, req, tests, io_mode, legacy):
        run = Run(self, req)
        res = {"tests": {}, "timed_out": False}
        final = {"outcome": "PassedTest", "error": ""}
        failed_at = None
        rank = {"PassedTest": 0, "FailedTest": 1, "RuntimeError": 2, "Timeout": 3}
        first_err, worst, fail_count = [""], ["PassedTest"], [None]

        def record(i, ev):
            res["tests"][str(i)] = ev
            o = ev["outcome"]
            if o != "PassedTest":
                if fail_count[0] is None:
                    fail_count[0] = run.count
                first_err[0] = first_err[0] or ev["error"]
            if rank[o] > rank[worst[0]]:
                worst[0] = o
        try:
            prog = {"source": req["source"], "trace": req.get("trace"), "trace_max": req.get("trace_max"),
                    "cpu": req.get("cpu"), "mem": req.get("mem"), "fsize": req.get("fsize"), "nproc": req.get("nproc"),
                    "locals_max": req.get("locals_max"), "repr_max": req.get("repr_max"),
                    "out_cap": req.get("out_cap"), "mode": "io" if io_mode else "calls",
                    "name": "__main__" if not tests else "__candidate__"}
            names = []
            if io_mode:
                prog["io_batch"] = [t.get("stdin", "") for t in tests]
            elif not legacy:
                found = set()
                for t in tests:
                    global_names(self.compiled(t.get("code", "")), found)
                names = prog["names"] = sorted(n for n in found if not hasattr(builtins, n))
                if not req.get("trace"):
                    # Calls announced in advance (arguments only: the expected values stay here)
                    # are answered without waiting for the judge's turn.
                    batch = self.batch(tests)
                    if batch:
                        prog["batch"] = batch
                        run.spec.extend((n, a, k) for n, a, k in batch)
            run.send(prog)
            first = run.recv()
            if "compile_error" in first:
                final = {"outcome": "CompileError", "error": str(first["compile_error"])}
                raise StopIteration
            if "raised" in first:
                msg = str(first["raised"])[:2000]
                failed_at = run.count
                for i in range(len(tests)):
                    res["tests"][str(i)] = {"outcome": "RuntimeError", "error": msg, "time": 0}
                final = {"outcome": "RuntimeError", "error": msg}
                raise StopIteration
            if "loaded" not in first:
                raise ChildGone()
            if legacy:
                run.send({"legacy": [t.get("code", "") for t in tests]})
                while True:
                    ev = run.recv()
                    if ev.get("legacy_done"):
                        break
                    i, o = ev.get("test"), ev.get("outcome")
                    if type(i) is not int or not 0 <= i < len(tests) or o not in rank or o == "Timeout":
                        raise ChildGone()
                    record(i, {"outcome": o, "error": str(ev.get("error", ""))[:2000], "time": float(ev.get("time", 0) or 0)})
            else:
                env = {}
                if names:
                    env = judge_env(run, names, first.get("kinds"))
                for i, t in enumerate(tests):
                    o, err, got, dt = self.one_test(run, t, env, io_mode)
                    ev = {"outcome": o, "error": err, "time": dt}
                    if io_mode:
                        ev["got"] = got
                    record(i, ev)
            final = {"outcome": worst[0], "error": first_err[0]}
            if req.get("trace"):
                # The trace; advisory like the outputs (the child could make them up), never part
                # of a verdict.
                run.drain()
                run.send({"finish": True})
                fin = run.recv()
            if req.get("trace") and type(fin.get("trace")) is list:
                final["trace"] = [s for s in fin["trace"] if type(s) is list and len(s) == 2 and type(s[0]) is int and type(s[1]) is dict]
                final["trace_steps"] = fin.get("trace_steps") if type(fin.get("trace_steps")) is int else len(final["trace"])
        except StopIteration:
            pass
        except NotCarried as e:
            st = run.end()
            return {"not_carried": str(e), "exit": st.get("exited", ""), "clean": st.get("clean") is True}
        except JudgeTimeout:
            res["timed_out"] = True
            final = {"outcome": "Timeout", "error": ""}
        except ChildGone:
            final = None
        if failed_at is None:
            failed_at = fail_count[0]
        if final is not None:
            final["stdout"] = run.out.decode("utf-8", "replace")
            final["stderr"] = run.err.decode("utf-8", "replace")
            final["truncated"] = run.trunc
        if final is not None:
            # The verdict does not depend on how the process ends: stop and clean up after the
            # answer has gone to Go (Judge.finish_pending), overlapping with Go's next request.
            self.pending = run
            exit_desc, res["clean"] = "", True
        else:
            st = run.end()
            exit_desc = str(st.get("exited", ""))
            res["clean"] = st.get("clean") is True
        res["exit"] = exit_desc
        if final is None:
            # The process ended (or broke the protocol) before answering everything.
            if "SIGXCPU" in exit_desc:
                res["timed_out"] = True
                final = {"outcome": "Timeout", "error": ""}
            else:
                final = {"outcome": "RuntimeError", "error": "no result: the process ended (%s)" % (exit_desc or "protocol error")}
                for i in range(len(tests)):
                    res["tests"].setdefault(str(i), {"outcome": "RuntimeError", "error": final["error"], "time": 0})
                if failed_at is None:
                    failed_at = run.count
        if final["outcome"] == "Timeout":
            final["error"] = "time limit (%.3gs wall, %.3gs CPU) exceeded" % (float(req.get("timeout", 3)), float(req.get("cpu", 3)))
            for i in range(len(tests)):
                res["tests"].setdefault(str(i), {"outcome": "Timeout", "error": final["error"], "time": 0})
            if failed_at is None:
                failed_at = run.count
        if req.get("trace"):
            final.setdefault("trace", [])
            final.setdefault("trace_steps", run.count)
            final["steps_before_failure"] = run.count if failed_at is None else failed_at
        res["final"] = final
        return res

    def one_test(self, run, t, env, io_mode):
        t0 = time.perf_counter()
        got, outcome, error = "", "PassedTest", ""
        left = run.deadline - time.monotonic()
        if left <= 0:
            raise JudgeTimeout()
        signal.setitimer(signal.ITIMER_REAL, left)
        try:
            if io_mode:
                ans = run.recv()  # announced with the program
                got = ans.get("got") if type(ans.get("got")) is str else ""
                if "exc" in ans:
                    outcome, error = "RuntimeError", err_text(remote_exception(str(ans["exc"]), str(ans.get("msg", "")), False))
                    if ans["exc"] == "SystemExit":
                        error = "SystemExit: " + str(ans.get("msg", ""))
                elif normalize(got) != normalize(t.get("stdout", "")):
                    outcome, error = "FailedTest", "wrong output"
            else:
                g = {"__name__": "__main__", "__builtins__": builtins}
                g.update(env)
                exec(self.compiled(t.get("code", "")), g)
        except (JudgeTimeout, ChildGone, NotCarried):
            raise
        except AssertionError as e:
            outcome, error = "FailedTest", err_text(e)
        except BaseException as e:  # noqa: BLE001 - the tests raised, or the candidate did
            outcome, error = "RuntimeError", err_text(e) or "SystemExit"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        return outcome, error, got, time.perf_counter() - t0


def send_go(obj):
    _out.write(frame(obj))
    _out.flush()


def recv_go():
    head = _in.read(4)
    if len(head) < 4:
        return None
    (n,) = struct.unpack(">I", head)
    data = _in.read(n)
    if len(data) < n:
        return None
    return json.loads(data)


def main():
    info = {"hello": True, "python": sys.version.split()[0], "pid": os.getpid(), "root": IS_ROOT,
            "uid": RUN_UID if IS_ROOT else os.geteuid(), "netns": bool(NS), "userns": NS == "user", "errors": []}
    if NS:
        # Namespaces were asked for: any failure here is fatal, and Go falls back loudly.
        info["allowlist"] = build_root()
        info["tmpfs"] = True
        if _libc.unshare(CLONE_NEWPID) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWPID)")
    else:
        os.makedirs(RUN_DIR, exist_ok=True)
    # The zygote: forked now, before any test exists in this process's memory, and made init of a
    # nested pid namespace so that the candidate can signal nothing but its own processes.
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            a.close()
            os.dup2(os.open("/dev/null", os.O_RDWR), 0)
            os.dup2(0, 1)
            zygote_main(b)
        except BaseException as e:  # noqa: BLE001
            try:
                b.send(json.dumps({"errors": ["zygote: %s" % err_text(e)]}).encode())
            except OSError:
                pass
        finally:
            os._exit(1)
    b.close()
    zinfo = json.loads(a.recv(1 << 16) or b"{}")
    info["errors"] += zinfo.get("errors", [])
    if NS:
        if not zinfo.get("pidns"):
            raise OSError(0, "zygote: %s" % "; ".join(zinfo.get("errors", [])))
        os.chdir("/")
    info["pidns"] = bool(zinfo.get("pidns"))
    info["seccomp"] = bool(zinfo.get("seccomp"))
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _alarm)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    judge = Judge(a)
    send_go(info)
    while True:
        req = recv_go()
        if req is None:
            return
        try:
            resp = judge.handle(req)
        except Exception as e:  # noqa: BLE001 - worker bug or resource exhaustion: report, keep serving
            resp = {"id": req.get("id"), "worker_error": err_text(e)}
        send_go(resp)
        judge.finish_pending()


if __name__ == "__main__":
    main()
