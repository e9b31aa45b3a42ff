//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Python tests share one pool of two workers, so that the hostile programs of the security
// suite and the ordinary verdict tests run through the same workers: the pool must keep serving
// correct verdicts after every attack. TestMain checks what is left behind after all tests.
var (
	sharedOnce sync.Once
	shared     *Pool
	sharedErr  error
)

func pool(t testing.TB) *Pool {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = NewPool(PoolConfig{Workers: 2}) })
	if sharedErr != nil {
		t.Fatalf("NewPool: %v", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := afterSuite(shared); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: after the suite:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// afterSuite checks that the pool left nothing behind: no process of its private uids, no child
// of this test process but the workers, no files under its root; and that Close removes all.
func afterSuite(p *Pool) error {
	var problems []string
	if p.Stats().Unclean != 0 {
		problems = append(problems, fmt.Sprintf("%d runs were not cleaned up by their worker", p.Stats().Unclean))
	}
	workers := map[int]bool{}
	for _, s := range p.slots {
		if s.w != nil {
			workers[s.w.cmd.Process.Pid] = true
		}
		if s.uid > 0 {
			if pids := processesOf(s.uid); len(pids) > 1 { // the child forked ahead for the next run
				problems = append(problems, fmt.Sprintf("processes of sandbox uid %d left: %v", s.uid, pids))
			}
		}
		entries, _ := os.ReadDir(s.dir)
		if len(entries) > 0 {
			problems = append(problems, fmt.Sprintf("files left in %s: %d", s.dir, len(entries)))
		}
	}
	if left := leftovers(p); len(left) > 0 {
		problems = append(problems, fmt.Sprintf("processes left under the workers: %v", left))
	}
	for _, c := range childrenOf(os.Getpid()) {
		if !workers[c] {
			problems = append(problems, fmt.Sprintf("stray child process %d", c))
		}
	}
	root := p.Root()
	if err := p.Close(); err != nil {
		problems = append(problems, err.Error())
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		problems = append(problems, "pool root not removed: "+root)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(childrenOf(os.Getpid())) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if c := childrenOf(os.Getpid()); len(c) > 0 {
		problems = append(problems, fmt.Sprintf("child processes after Close: %v", c))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// procField returns the value of a "Name:" line of /proc/pid/status.
func procField(pid, name string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func eachPid(fn func(pid string)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			fn(e.Name())
		}
	}
}

func childrenOf(ppid int) []int {
	var out []int
	eachPid(func(pid string) {
		if procField(pid, "PPid") == strconv.Itoa(ppid) {
			n, _ := strconv.Atoi(pid)
			out = append(out, n)
		}
	})
	return out
}

// leftovers lists the processes under the pool's workers other than their zygotes and the child
// each zygote forks ahead for the next run (between runs a worker has one child, its zygote, which
// has at most one child, idle and without children). A worker answers first and cleans up right
// after, so processes may outlive the answer by a few milliseconds: leftovers waits up to 2s.
func leftovers(p *Pool) []string {
	deadline := time.Now().Add(2 * time.Second)
	for {
		out := leftoversNow(p)
		if len(out) == 0 || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func leftoversNow(p *Pool) []string {
	var out []string
	for _, s := range p.slots {
		if s.w == nil {
			continue
		}
		kids := childrenOf(s.w.cmd.Process.Pid)
		if len(kids) > 1 {
			out = append(out, fmt.Sprintf("worker %d has %d children", s.idx, len(kids)))
		}
		for _, z := range kids {
			var walk func(pid int)
			walk = func(pid int) {
				for _, c := range childrenOf(pid) {
					out = append(out, fmt.Sprintf("%d %s", c, procField(strconv.Itoa(c), "Name")))
					walk(c)
				}
			}
			next := childrenOf(z)
			if len(next) > 1 {
				out = append(out, fmt.Sprintf("zygote %d has %d children", z, len(next)))
			}
			for i, c := range next {
				if i > 0 {
					out = append(out, fmt.Sprintf("%d %s", c, procField(strconv.Itoa(c), "Name")))
				}
				walk(c)
			}
		}
	}
	return out
}

func processesOf(uid int) []string {
	var out []string
	eachPid(func(pid string) {
		if f := strings.Fields(procField(pid, "Uid")); len(f) > 0 && f[0] == strconv.Itoa(uid) {
			out = append(out, pid+" "+procField(pid, "Name")+" "+procField(pid, "State"))
		}
	})
	return out
}

func runPy(t *testing.T, src string, tests []Test, opts Options) Result {
	t.Helper()
	r, err := pool(t).Run(context.Background(), Program{Lang: Python, Source: src}, tests, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}

func expect(t *testing.T, r Result, want Outcome, errContains string) {
	t.Helper()
	if r.Outcome != want {
		t.Fatalf("outcome %v, want %v (error %q, stdout %q)", r.Outcome, want, r.Error, r.Stdout)
	}
	if errContains != "" && !strings.Contains(r.Error, errContains) {
		t.Fatalf("error %q does not contain %q", r.Error, errContains)
	}
}

// stillServes checks that the pool gives right verdicts to a correct and a wrong program.
func stillServes(t *testing.T) {
	t.Helper()
	tests := []Test{{Code: "assert inc(1) == 2\nassert inc(-5) == -4"}}
	expect(t, runPy(t, "def inc(x):\n    return x + 1\n", tests, Options{Timeout: 2 * time.Second}), PassedTest, "")
	expect(t, runPy(t, "def inc(x):\n    return x + 2\n", tests, Options{Timeout: 2 * time.Second}), FailedTest, "AssertionError")
}
