# execfeed's test harness for SandboxFusion-style servers (POST /run_code). The remote executor
# (remote.go) appends one line calling _execfeed_run(PAYLOAD, MARK) and sends the whole file as the
# code to run. It mirrors worker.py's verdict rules: the candidate is compiled first (failure =
# CompileError), assertion tests run in the candidate's globals, stdin/stdout tests run the
# candidate as __main__ once per test. Verdicts go to the real stdout as lines starting with MARK;
# the candidate's own output is captured and capped. Not a security boundary: see docs/SERVE.md.
import builtins as _builtins
import io as _io
import json as _json
import sys as _sys
import time as _time


class _Capped(_io.TextIOBase):
    def __init__(self, cap):
        self.cap, self.parts, self.n, self.dropped = cap, [], 0, False

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = self.cap - self.n
        if len(s) > room:
            self.dropped = True
            s = s[:max(room, 0)]
        if s:
            self.parts.append(s)
            self.n += len(s)
        return len(s)

    def text(self):
        return "".join(self.parts)


def _execfeed_err(e):
    name = type(e).__name__
    msg = str(e)
    return (name + (": " + msg if msg else ""))[:2000]


def _execfeed_norm(s):
    lines = [ln.rstrip() for ln in s.replace("\r\n", "\n").split("\n")]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines)


def _execfeed_run(payload, mark):
    real = _sys.stdout
    req = _json.loads(payload)
    cap = int(req.get("cap", 65536))
    tests = req.get("tests") or []

    def emit(obj):
        real.write("\n" + mark + _json.dumps(obj) + "\n")
        real.flush()

    out, err = _Capped(cap), _Capped(cap)
    _sys.stdout, _sys.stderr = out, err
    _sys.stdin = _io.StringIO("")

    def finish(outcome, error=""):
        _sys.stdout, _sys.stderr = real, _sys.__stderr__
        emit({"final": outcome, "error": error, "stdout": out.text(), "stderr": err.text(),
              "truncated": out.dropped or err.dropped})

    try:
        code = compile(req["source"], "<candidate>", "exec")
    except BaseException as e:  # noqa: BLE001
        finish("CompileError", _execfeed_err(e))
        return
    io_mode = bool(tests) and all(t.get("io") for t in tests)
    g = {"__name__": "__main__" if not tests else "__candidate__", "__builtins__": _builtins}
    if not io_mode:
        try:
            exec(code, g)
        except BaseException as e:  # noqa: BLE001
            msg = _execfeed_err(e)
            for i in range(len(tests)):
                emit({"t": i, "o": "RuntimeError", "e": msg, "s": 0})
            finish("RuntimeError", msg)
            return
    rank = {"PassedTest": 0, "FailedTest": 1, "RuntimeError": 2}
    worst, first_err = "PassedTest", ""
    for i, t in enumerate(tests):
        t0 = _time.perf_counter()
        got, outcome, error = "", "PassedTest", ""
        raw = None
        try:
            if t.get("io"):
                raw = _Capped(cap)
                _sys.stdin = _io.StringIO(t.get("stdin", ""))
                _sys.stdout = raw
                try:
                    exec(code, {"__name__": "__main__", "__builtins__": _builtins})
                finally:
                    _sys.stdout = out
                got = raw.text()
                if _execfeed_norm(got) != _execfeed_norm(t.get("stdout", "")):
                    outcome, error = "FailedTest", "wrong output"
            else:
                exec(compile(t.get("code", ""), "<test>", "exec"), g)
        except SystemExit as e:
            if t.get("io") and e.code in (None, 0):
                got = raw.text()
                if _execfeed_norm(got) != _execfeed_norm(t.get("stdout", "")):
                    outcome, error = "FailedTest", "wrong output"
            else:
                outcome, error = "RuntimeError", _execfeed_err(e) or "SystemExit"
        except AssertionError as e:
            outcome, error = "FailedTest", _execfeed_err(e)
        except BaseException as e:  # noqa: BLE001
            outcome, error = "RuntimeError", _execfeed_err(e)
        _sys.stdout = out
        if outcome != "PassedTest" and not first_err:
            first_err = error
        if rank[outcome] > rank[worst]:
            worst = outcome
        emit({"t": i, "o": outcome, "e": error, "g": got[:cap], "s": _time.perf_counter() - t0})
    finish(worst, first_err)
