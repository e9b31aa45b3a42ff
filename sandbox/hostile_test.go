//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The security suite: each hostile program runs through the shared pool, must be contained and
// reported, and the pool must give right verdicts afterwards. TestMain then checks that no process
// or file was left behind.

func hostile(t *testing.T, src string, opts Options, want ...Outcome) Result {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second // generous: the machine may be loaded; attacks that loop set their own
	}
	start := time.Now()
	r := runPy(t, src, []Test{{Code: "assert True"}}, opts)
	ok := false
	for _, w := range want {
		ok = ok || r.Outcome == w
	}
	if !ok {
		t.Errorf("outcome %v (error %q), want one of %v", r.Outcome, r.Error, want)
	}
	if el := time.Since(start); el > opts.Timeout+3*time.Second {
		t.Errorf("run took %v, limit %v", el, opts.Timeout)
	}
	if left := leftovers(pool(t)); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	stillServes(t)
	return r
}

func TestHostileInfiniteLoop(t *testing.T) {
	hostile(t, "while True:\n    pass\n", Options{Timeout: 500 * time.Millisecond}, Timeout)
}

func TestHostileIgnoresSignals(t *testing.T) {
	src := "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP):\n    signal.signal(s, signal.SIG_IGN)\nx = 0\nwhile True:\n    x += 1\n"
	hostile(t, src, Options{Timeout: 500 * time.Millisecond}, Timeout)
}

func TestHostileCPULimit(t *testing.T) {
	// CPU-bound in two processes for longer than the CPU limit: RLIMIT_CPU or the wall clock ends it.
	src := "import os\nos.fork()\nwhile True:\n    pass\n"
	hostile(t, src, Options{Timeout: 1500 * time.Millisecond, CPUTime: time.Second}, Timeout)
}

func TestHostileForkBomb(t *testing.T) {
	src := "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
	r := hostile(t, src, Options{Timeout: 700 * time.Millisecond, MaxProcs: 16}, Timeout, RuntimeError)
	_ = r
}

func TestHostileMemoryBomb(t *testing.T) {
	hostile(t, "x = bytearray(8 << 30)\n", Options{}, RuntimeError)
	hostile(t, "xs = []\nwhile True:\n    xs.append(' ' * (1 << 24))\n", Options{MemoryBytes: 256 << 20}, RuntimeError)
}

func TestHostileDeepRecursion(t *testing.T) {
	hostile(t, "def f(n):\n    return f(n + 1) + 1\nf(0)\n", Options{}, RuntimeError)
	hostile(t, "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n", Options{MemoryBytes: 256 << 20}, RuntimeError, Timeout)
}

func TestHostileHugeFile(t *testing.T) {
	r := hostile(t, "with open('big', 'wb') as f:\n    while True:\n        f.write(b'x' * (1 << 20))\n", Options{MaxFileBytes: 4 << 20}, RuntimeError)
	if !strings.Contains(r.Error, "File too large") {
		t.Errorf("error %q, want EFBIG", r.Error)
	}
}

func TestHostileFilesOutside(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	canary := filepath.Join(dir, "canary")
	if err := os.WriteFile(canary, []byte("alive"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`import os, shutil
done = []
for f in (%q, '/etc/hostname'):
    try:
        os.remove(f); done.append('removed ' + f)
    except OSError:
        pass
    try:
        open(f, 'w').write('pwned'); done.append('wrote ' + f)
    except OSError:
        pass
try:
    shutil.rmtree(%q); done.append('rmtree')
except OSError:
    pass
try:
    open('/tmp/execfeed-left-behind', 'w').write('x')
except OSError:
    pass
print(done)
`, canary, dir)
	r := hostile(t, src, Options{}, PassedTest)
	if r.Stdout != "[]\n" {
		t.Errorf("the program changed files outside its directory: %s", r.Stdout)
	}
	if b, err := os.ReadFile(canary); err != nil || string(b) != "alive" {
		t.Errorf("canary: %q, %v", b, err)
	}
	if _, err := os.Stat("/tmp/execfeed-left-behind"); err == nil && os.Geteuid() == 0 {
		os.Remove("/tmp/execfeed-left-behind")
		t.Error("the program left a file in the host's /tmp")
	}
}

func TestHostileReadsSources(t *testing.T) {
	self, err := filepath.Abs("hostile_test.go")
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("import os\nfor f in (%q, %q, '/root/.bashrc', '/etc/shadow'):\n    try:\n        open(f).read(); print('read', f)\n    except OSError:\n        pass\n", self, filepath.Join(filepath.Dir(self), "..", "go.mod"))
	r := hostile(t, src, Options{}, PassedTest)
	if r.Stdout != "" {
		t.Errorf("the program read files it should not: %s", r.Stdout)
	}
}

func TestHostileNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	accepted := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted++
			mu.Unlock()
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	src := fmt.Sprintf("import socket\nfor addr in (('127.0.0.1', %d), ('1.1.1.1', 53)):\n    try:\n        socket.create_connection(addr, timeout=0.3); print('connected', addr)\n    except OSError:\n        pass\n", port)
	r := hostile(t, src, Options{}, PassedTest)
	if r.Stdout != "" {
		t.Errorf("the program reached the network: %s", r.Stdout)
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if accepted != 0 {
		t.Errorf("the host listener accepted %d connections from the sandbox", accepted)
	}
	if iso := pool(t).Isolation(); !iso.NetNS {
		t.Errorf("isolation report says no network namespace: %+v", iso)
	}
}

// Killing the parent, every process it can (kill -9 -1), or this test process must not work;
// a long program on the other worker, started before, keeps its right verdict.
func TestHostileKills(t *testing.T) {
	var workerPids []int
	for _, s := range pool(t).slots {
		workerPids = append(workerPids, s.w.cmd.Process.Pid)
	}
	var wg sync.WaitGroup
	var other Result
	wg.Go(func() {
		r, err := pool(t).Run(context.Background(), Program{Lang: Python, Source: "import time\ntime.sleep(0.8)\ndef f():\n    return 7\n"},
			[]Test{{Code: "assert f() == 7"}}, Options{Timeout: 3 * time.Second})
		if err != nil {
			t.Error(err)
		}
		other = r
	})
	time.Sleep(200 * time.Millisecond)
	src := fmt.Sprintf(`import os, signal, time
if os.fork() == 0:
    time.sleep(100)
killed = []
for pid in (os.getppid(), %d, 1, -1):
    try:
        os.kill(pid, signal.SIGKILL); killed.append(pid)
    except OSError:
        pass
try:
    os.killpg(os.getpgid(os.getppid()), signal.SIGKILL); killed.append('group')
except OSError:
    pass
print(killed)
`, os.Getpid())
	r := runPy(t, src, []Test{{Code: "assert True"}}, Options{Timeout: 2 * time.Second})
	wg.Wait()
	// kill -9 -1 reaches only the program's own processes (here its forked child); the worker is
	// the init of its pid namespace, which ignores signals sent from inside, so the kill of its
	// process group "succeeds" without effect. What counts: every worker is still the same process.
	expect(t, r, PassedTest, "")
	if !strings.Contains(r.Stdout, "-1") || strings.Contains(r.Stdout, strconv.Itoa(os.Getpid())) {
		t.Errorf("signals sent: %s", r.Stdout)
	}
	for i, s := range pool(t).slots {
		if s.w.cmd.Process.Pid != workerPids[i] {
			t.Errorf("worker %d was replaced", i)
		}
	}
	if other.Outcome != PassedTest {
		t.Errorf("concurrent run: %v (%s), want PassedTest", other.Outcome, other.Error)
	}
	if st := pool(t).Stats(); st.Restarts != 0 {
		t.Errorf("%d workers were killed", st.Restarts)
	}
	if left := leftovers(pool(t)); len(left) > 0 {
		t.Errorf("processes left after the run: %v", left)
	}
	stillServes(t)
}

func TestHostileClosesStdout(t *testing.T) {
	// Closing its own stdout and stderr harms nobody: the verdict travels another way.
	r := runPy(t, "import os, sys\nos.close(1)\nos.close(2)\nsys.stdout.close()\ndef f():\n    return 1\n", []Test{{Code: "assert f() == 1"}}, Options{})
	expect(t, r, PassedTest, "")
	// Closing every descriptor loses the verdict channel: a runtime error, never a pass.
	hostile(t, "import os\nos.closerange(0, 4096)\n", Options{}, RuntimeError)
}

func TestHostilePrintsGigabytes(t *testing.T) {
	r := hostile(t, "import sys\nwhile True:\n    sys.stdout.write('x' * (1 << 20))\n", Options{Timeout: 700 * time.Millisecond, MaxOutputBytes: 1000}, Timeout)
	if len(r.Stdout) > 1000 {
		t.Errorf("stdout of %d bytes past the 1000-byte cap", len(r.Stdout))
	}
	// Straight to file descriptor 1: bounded by the file-size limit.
	hostile(t, "import os\nwhile True:\n    os.write(1, b'x' * (1 << 20))\n", Options{Timeout: 2 * time.Second, MaxFileBytes: 8 << 20}, RuntimeError)
	hostile(t, "print('x' * (4 << 30))\n", Options{}, RuntimeError)
}

func TestHostileCtypesCrash(t *testing.T) {
	r := hostile(t, "import ctypes\nctypes.string_at(0)\n", Options{}, RuntimeError)
	if !strings.Contains(r.Error, "SIGSEGV") {
		t.Errorf("error %q, want the segfault reported", r.Error)
	}
}

func TestHostileLeavesChildren(t *testing.T) {
	src := `import os, subprocess, time
subprocess.Popen(['sleep', '1000'], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
time.sleep(0.1)
`
	hostile(t, src, Options{}, PassedTest) // hostile() checks that no process is left
}

func TestHostileEnvironment(t *testing.T) {
	// Sees no secrets in its environment and holds no capability: as root it runs as its private
	// uid and cannot regain root; as a user it is uid 0 of its user namespace with every
	// capability dropped.
	src := "import os\nprint(os.getuid(), sorted(os.environ))\nst = open('/proc/self/status').read()\nprint([l for l in st.splitlines() if l.startswith(('CapEff', 'CapPrm', 'NoNewPrivs', 'Seccomp:'))])\ntry:\n    os.setuid(0); os.setgid(0); open('/proc/sys/kernel/hostname', 'w').write('x'); print('root again')\nexcept OSError:\n    pass\n"
	r := hostile(t, src, Options{}, PassedTest)
	uids := map[string]bool{"0": os.Geteuid() != 0}
	for _, s := range pool(t).slots {
		uids[strconv.Itoa(s.uid)] = os.Geteuid() == 0
	}
	uid, env, _ := strings.Cut(r.Stdout, " ")
	if !uids[uid] || !strings.HasPrefix(env, "['HOME', 'LANG', 'PATH', 'TMPDIR']\n") {
		t.Errorf("stdout %q, want a sandbox uid %v and a clean environment", r.Stdout, uids)
	}
	for _, w := range []string{"CapEff:\\t0000000000000000", "CapPrm:\\t0000000000000000", "NoNewPrivs:\\t1", "Seccomp:\\t2"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout %q lacks %q", r.Stdout, w)
		}
	}
	if strings.Contains(r.Stdout, "root again") {
		t.Errorf("the program regained privileges: %q", r.Stdout)
	}
}

// The attacks of issue 13 on the verdict itself. A HumanEval-style problem whose right answer is
// add(a, b) = a + b; every program below is wrong and must not be reported PassedTest.
var forgeTests = []Test{{Name: "check", Code: "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(20, 22) == 42\n\ncheck(add)\n"}}

func forged(t *testing.T, name, src string, want ...Outcome) Result {
	t.Helper()
	var r Result
	t.Run(name, func(t *testing.T) {
		r = runPy(t, src, forgeTests, Options{Timeout: 2 * time.Second})
		ok := false
		for _, w := range want {
			ok = ok || r.Outcome == w
		}
		if r.Outcome == PassedTest || r.Passed != 0 || !ok {
			t.Errorf("outcome %v, %d passed (error %q), want one of %v", r.Outcome, r.Passed, r.Error, want)
		}
		if r.Forgeable {
			t.Errorf("verdict marked forgeable")
		}
	})
	return r
}

func TestHostileForgedVerdicts(t *testing.T) {
	// Fake verdict lines and frames (the old protocol, the new one) on every descriptor, then exit.
	forged(t, "forged lines", `import os, json, struct
lines = [{"test": 0, "outcome": "PassedTest", "error": "", "time": 0}, {"done": True, "outcome": "PassedTest"},
         {"loaded": True}, {"v": 3}, {"v": 42}, {"legacy_done": True}, {"stdout": "", "stderr": ""}]
for fd in range(0, 64):
    for obj in lines:
        data = json.dumps(obj).encode()
        for blob in (data + b"\n", struct.pack(">I", len(data)) + data):
            try:
                os.write(fd, blob)
            except OSError:
                pass
os._exit(0)
def add(a, b):
    return a - b
`, RuntimeError)
	// Speaking the protocol from inside, answering ahead of the judge's requests: without the
	// expected values (which never enter its process) it can only choose the values it returns.
	forged(t, "protocol hijack", `import os, json, struct
def add(a, b):
    return 0
def frame(o):
    d = json.dumps(o).encode()
    return struct.pack(">I", len(d)) + d
for fd in range(3, 8):
    try:
        os.write(fd, frame({"loaded": True}) + frame({"kinds": {"add": {"value": True}, "check": {"callable": True}}}) +
                 frame({"v": True}) + frame({"outcome": "PassedTest"}) + frame({"legacy_done": True}))
    except OSError:
        pass
`, FailedTest, RuntimeError)
	// Objects that claim equality with everything: refused by the serialiser.
	forged(t, "always-equal object", "class E:\n    def __eq__(self, o):\n        return True\n    __hash__ = None\ndef add(a, b):\n    return E()\n", RuntimeError)
	forged(t, "int subclass", "class I(int):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return I(0)\n", RuntimeError)
	forged(t, "str subclass inside a list", "class S(str):\n    def __eq__(self, o):\n        return True\ndef add(a, b):\n    return [S()]\n", RuntimeError)
	forged(t, "patched builtins", "import builtins\nbuiltins.AssertionError = type('X', (BaseException,), {})\nbuiltins.int.__eq__ = lambda a, b: True\ndef add(a, b):\n    return 0\n", RuntimeError, FailedTest)
	forged(t, "raise in the test's frame", "import sys\ndef add(a, b):\n    f = sys._getframe(1)\n    f.f_globals['check'] = lambda c: None\n    raise SystemExit(0)\n", RuntimeError)
	// Leaving before the tests, in all the ways a program can.
	forged(t, "os._exit before tests", "import os\nos._exit(0)\ndef add(a, b):\n    return a + b\n", RuntimeError)
	forged(t, "sys.exit before tests", "import sys\nsys.exit(0)\ndef add(a, b):\n    return a + b\n", RuntimeError)
	forged(t, "exit in the function", "import os\ndef add(a, b):\n    os._exit(0)\n", RuntimeError)
	forged(t, "kill itself", "import os, signal\ndef add(a, b):\n    os.kill(os.getpid(), signal.SIGKILL)\n", RuntimeError)
	// The right program still passes, and the verdict is not forgeable.
	r := runPy(t, "def add(a, b):\n    return a + b\n", forgeTests, Options{})
	expect(t, r, PassedTest, "")
	if r.Forgeable {
		t.Error("a HumanEval check was run inside the candidate's process")
	}
}

// The expected values never enter the candidate's process: after the same problem ran, a program
// that scans its own objects and memory for the test finds nothing.
func TestHostileReadsTests(t *testing.T) {
	secret := "assert candidate(7) == 918273645"
	tests := []Test{{Code: "def check(candidate):\n    " + secret + "\n\ncheck(f)\n"}}
	expect(t, runPy(t, "def f(x):\n    return 918273645\n", tests, Options{}), PassedTest, "")
	src := `import gc, re
pat = re.compile(r'candidate\(7\) == ([0-9]+)')
found = []
for o in list(gc.get_objects()):
    for v in (list(o.values()) if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()):
        if isinstance(v, str):
            found += pat.findall(v)
maps = open('/proc/self/maps').read().splitlines()
try:
    mem = open('/proc/self/mem', 'rb')
except OSError:
    maps = []
for line in maps:
    addr, perm = line.split()[:2]
    lo, hi = (int(x, 16) for x in addr.split('-'))
    if not perm.startswith('rw') or hi - lo > 64 << 20:
        continue
    try:
        mem.seek(lo)
        blob = mem.read(hi - lo)
    except (OSError, OverflowError, ValueError):
        continue
    found += re.findall(rb'candidate\(7\) == ([0-9]+)', blob)
def f(x):
    return int(found[0]) if found else -1
`
	r := runPy(t, src, tests, Options{Timeout: 10 * time.Second})
	if r.Outcome != FailedTest {
		t.Errorf("outcome %v (error %q), want FailedTest: the program found the expected value", r.Outcome, r.Error)
	}
}

// The allowlist root: nothing of the host but the interpreter's files; private /tmp and /dev/shm
// that reach neither the host nor the next run.
func TestHostileFileSystem(t *testing.T) {
	name := fmt.Sprintf("execfeed-probe-%d", time.Now().UnixNano())
	src := fmt.Sprintf(`import os
print(sorted(os.listdir('/')))
for d in ('/tmp', '/dev/shm', '/var/tmp', os.getcwd()):
    try:
        open(os.path.join(d, %q), 'w').write('x'); print('wrote', d)
    except OSError:
        pass
for f in ('/etc/passwd', '/etc/hostname', '/root/.bashrc', '/work', '/home', '/sys/kernel', '/proc/1/environ', '/proc/1/mem'):
    try:
        open(f, 'rb').read(1); print('read', f)
    except OSError:
        pass
print(sorted(os.listdir('/proc'))[:3] if os.path.isdir('/proc') else 'no proc')
`, name)
	r := hostile(t, src, Options{}, PassedTest)
	lines := strings.Split(r.Stdout, "\n")
	if iso := pool(t).Isolation(); len(iso.Allowlist) > 0 {
		if !strings.Contains(lines[0], "'usr'") || strings.Contains(lines[0], "'work'") || strings.Contains(lines[0], "'home'") || strings.Contains(lines[0], "'etc', 'home'") {
			t.Errorf("root directory of the program: %s", lines[0])
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "read ") {
				t.Errorf("the program could %s", l)
			}
		}
	} else {
		t.Errorf("no allowlist root: %+v", iso)
	}
	for _, d := range []string{"/tmp", "/dev/shm", "/var/tmp"} {
		if _, err := os.Stat(filepath.Join(d, name)); err == nil {
			os.Remove(filepath.Join(d, name))
			t.Errorf("the program wrote %s/%s on the host", d, name)
		}
	}
	// The next runs (on either worker) see none of it.
	for range 2 {
		r = runPy(t, fmt.Sprintf("import os\nprint([d for d in ('/tmp', '/dev/shm', '.') if %q in os.listdir(d)])\n", name), nil, Options{})
		if r.Stdout != "[]\n" {
			t.Errorf("a later run sees the files of an earlier one: %s", r.Stdout)
		}
	}
}

// The system-call filter and the namespaces: no new namespaces, no ptrace, no kernel interfaces
// of no use to a program, no sockets but AF_UNIX.
func TestHostileSyscalls(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	src := fmt.Sprintf(`import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
ok = []
def try_(name, f):
    try:
        r = f()
    except OSError:
        return
    if not isinstance(r, int) or r >= 0:
        ok.append(name)
for flag, name in ((0x10000000, 'unshare(user)'), (0x20000, 'unshare(mount)'), (0x40000000, 'unshare(net)'), (0x20000000, 'unshare(pid)')):
    try_(name, lambda: libc.unshare(flag))
try_('clone(newuser)', lambda: libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0))
try_('setns', lambda: libc.setns(os.open('/proc/self/ns/net', os.O_RDONLY), 0))
try_('mount', lambda: libc.mount(b'tmpfs', b'/tmp', b'tmpfs', 0, None))
try_('ptrace(attach parent)', lambda: libc.ptrace(16, os.getppid(), 0, 0))
try_('ptrace(traceme)', lambda: libc.ptrace(0, 0, 0, 0))
try_('bpf', lambda: libc.syscall(321, 0, 0, 0))
try_('keyctl', lambda: libc.syscall(250, 0, 0, 0, 0, 0))
try_('perf_event_open', lambda: libc.syscall(298, 0, 0, -1, -1, 0))
try_('io_uring_setup', lambda: libc.syscall(425, 1, 0))
try_('userfaultfd', lambda: libc.syscall(323, 0))
import resource
try_('prlimit(parent)', lambda: resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (3, 3)))
try_('setpriority(parent)', lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19))
try_('sched_setaffinity(parent)', lambda: os.sched_setaffinity(os.getppid(), {0}))
resource.setrlimit(resource.RLIMIT_NOFILE, (200, 256))  # its own limits it may lower
os.setpriority(os.PRIO_PROCESS, 0, 1)
for fam, typ, name in ((socket.AF_INET, socket.SOCK_STREAM, 'inet'), (socket.AF_INET6, socket.SOCK_STREAM, 'inet6'), (socket.AF_NETLINK, socket.SOCK_RAW, 'netlink'), (socket.AF_PACKET, socket.SOCK_RAW, 'packet')):
    try_('socket(' + name + ')', lambda: socket.socket(fam, typ).close())
try:
    socket.create_connection(('127.0.0.1', %d), timeout=0.3); ok.append('connect')
except OSError:
    pass
a, b = socket.socketpair()
a.sendall(b'x'); assert b.recv(1) == b'x'
if os.fork() == 0:
    os._exit(0)
os.wait()
import subprocess
assert subprocess.run(['true']).returncode == 0
print(ok)
`, port)
	r := hostile(t, src, Options{}, PassedTest)
	if r.Stdout != "[]\n" {
		t.Errorf("system calls that should fail succeeded: %s (stderr %s)", r.Stdout, r.Stderr)
	}
	if iso := pool(t).Isolation(); !iso.Seccomp || !iso.PidNS || !iso.NetNS {
		t.Errorf("isolation report: %+v", iso)
	}
}

// Whatever a run leaves in its writable file systems (deep directory trees, unreadable
// directories, fifos, symbolic links out of them) is gone before the next run; the links are not
// followed out of them.
func TestHostileLeavesFiles(t *testing.T) {
	src := `import os
for top in ('/tmp', '/dev/shm', os.getcwd()):
    os.chdir(top)
    os.symlink('/usr', 'usr-link')
    os.symlink('/proc/self/cwd', 'cwd-link')
    os.mkfifo('fifo')
    os.mkdir('locked'); open('locked/f', 'w').write('x'); os.chmod('locked', 0)
    for i in range(3000):
        try:
            os.mkdir('d'); os.chdir('d')
        except OSError:
            break
    try:
        open('bottom', 'w').write('x')
    except OSError:
        pass  # out of inodes
print('ok')
`
	r := hostile(t, src, Options{Timeout: 10 * time.Second}, PassedTest)
	if r.Stdout != "ok\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	for range 2 {
		r = runPy(t, "import os\nprint([(d, os.listdir(d)) for d in ('/tmp', '/dev/shm', '.') if set(os.listdir(d)) - {'.fd-out'}])\nprint(os.path.isdir('/usr/bin'))\n", nil, Options{})
		if r.Stdout != "[]\nTrue\n" {
			t.Errorf("a later run sees: %s", r.Stdout)
		}
	}
	if st := pool(t).Stats(); st.Restarts != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Every signal, sent to its parent (the zygote, init of the runs' pid namespace) and to every
// process it can name, leaves the pool's workers in place and the next runs right.
func TestHostileSignalsParent(t *testing.T) {
	before := pool(t).Stats().Restarts
	// Python's own SIGINT handler would make the zygote raise KeyboardInterrupt (and die, taking
	// the run with it); the zygote ignores SIGINT.
	// (As root the program's private uid may not signal it at all.)
	hostile(t, "import os, signal, time\ntry:\n    os.kill(os.getppid(), signal.SIGINT)\nexcept OSError:\n    pass\ntime.sleep(0.2)\n", Options{}, PassedTest)
	src := `import os, signal, time
for sig in range(1, 65):
    if sig in (signal.SIGKILL, signal.SIGSTOP):
        continue
    try:
        signal.signal(sig, signal.SIG_IGN)
    except (OSError, ValueError):
        pass
for sig in range(1, 65):
    for pid in (os.getppid(), 1, 2, 3, -1):
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, sig)
        except OSError:
            pass
time.sleep(0.2)  # a parent that died of them takes the run with it
print('sent')
`
	r := hostile(t, src, Options{}, PassedTest)
	if r.Stdout != "sent\n" {
		t.Errorf("stdout %q", r.Stdout)
	}
	for range 3 {
		stillServes(t)
	}
	if after := pool(t).Stats().Restarts; after != before {
		t.Errorf("%d workers were replaced", after-before)
	}
}
