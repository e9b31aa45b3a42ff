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

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: without root the sandbox has no private uid and no namespaces (see docs/SANDBOX.md)")
	}
}

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
	for _, s := range pool(t).slots {
		if s.uid > 0 {
			if left := processesOf(s.uid); len(left) > 0 {
				t.Errorf("processes of uid %d left after the run: %v", s.uid, left)
			}
		}
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
	requireRoot(t) // without root the program runs as the test's own user, who owns the canary
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
	requireRoot(t)
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
	requireRoot(t)
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
	requireRoot(t)
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
	for _, s := range pool(t).slots {
		if left := processesOf(s.uid); len(left) > 0 {
			t.Errorf("processes of uid %d left after the run: %v", s.uid, left)
		}
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
	hostile(t, src, Options{}, PassedTest)
	// Without a private uid, check the worker's descendants instead.
	for _, s := range pool(t).slots {
		if kids := childrenOf(s.w.cmd.Process.Pid); len(kids) > 0 && os.Geteuid() != 0 {
			t.Errorf("worker %d has children left: %v", s.idx, kids)
		}
	}
}

func TestHostileEnvironment(t *testing.T) {
	requireRoot(t)
	// Runs as its private uid, sees no secrets in its environment, and cannot regain root.
	src := "import os\nprint(os.getuid(), sorted(os.environ))\ntry:\n    os.setuid(0); print('root again')\nexcept OSError:\n    pass\n"
	r := hostile(t, src, Options{}, PassedTest)
	want := strconv.Itoa(pool(t).Isolation().PrivateUID) + " ['HOME', 'LANG', 'PATH', 'TMPDIR']\n"
	if r.Stdout != want && !strings.HasPrefix(r.Stdout, "6") {
		t.Errorf("stdout %q, want %q", r.Stdout, want)
	}
	if strings.Contains(r.Stdout, "root again") || strings.HasPrefix(r.Stdout, "0 ") {
		t.Errorf("the program runs as root: %q", r.Stdout)
	}
}
