//go:build linux

package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// template is a program with tests whose verdict the local pool gives; jobs are copies of
// templates with unique test names.
type template struct {
	name  string
	src   string
	tests []sandbox.Test
}

func assertTests(codes ...string) []sandbox.Test {
	var out []sandbox.Test
	for _, c := range codes {
		out = append(out, sandbox.Test{Code: c})
	}
	return out
}

func ioTests(pairs ...string) []sandbox.Test {
	var out []sandbox.Test
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, sandbox.Test{Stdin: pairs[i], Stdout: pairs[i+1]})
	}
	return out
}

// templates cover every outcome; the last one times out.
func templates() []template {
	inc := assertTests("assert f(1) == 2", "assert f(-1) == 0")
	sum := ioTests("1 2\n", "3\n", "5 6\n", "11\n")
	return []template{
		{"pass", "def f(x):\n    return x + 1\n", inc},
		{"fail", "def f(x):\n    return x + 2\n", inc},
		{"half", "def f(x):\n    return 2 if x == 1 else 5\n", inc},
		{"raise-in-test", "def f(x):\n    return 1 // 0\n", inc},
		{"raise-at-import", "raise ValueError('no')\ndef f(x):\n    return x + 1\n", inc},
		{"compile-error", "def f(x) return x\n", inc},
		{"exit-at-import", "import sys\nsys.exit(0)\n", inc},
		{"prints-and-passes", "print('hi')\ndef f(x):\n    print(x)\n    return x + 1\n", inc},
		{"sorted", "def g(xs):\n    return sorted(x for x in xs if x % 3 == 0)\n", assertTests("assert g([9, 1, 3, 0]) == [0, 3, 9]", "assert g([]) == []")},
		{"recursion", "def f(x):\n    return f(x)\n", inc},
		{"io-pass", "a, b = map(int, input().split())\nprint(a + b)\n", sum},
		{"io-fail", "a, b = map(int, input().split())\nprint(a * b)\n", sum},
		{"io-exit0", "import sys\na, b = map(int, input().split())\nprint(a + b)\nsys.exit(0)\n", sum},
		{"io-raise", "a, b = map(int, input().split())\nprint(a / 0)\n", sum},
		{"timeout", "def f(x):\n    while True:\n        pass\n", inc},
	}
}

// jobsFrom makes n jobs cycling through the templates (the last, a timeout, only every
// timeoutEvery jobs) with test names unique to each job. kinds[i] is job i's template.
func jobsFrom(tpls []template, n, timeoutEvery int) (jobs []sandbox.Job, kinds []int) {
	k := 0
	for i := range n {
		ti := k % (len(tpls) - 1)
		k++
		if timeoutEvery > 0 && i%timeoutEvery == timeoutEvery-1 {
			ti = len(tpls) - 1
			k--
		}
		tp := tpls[ti]
		tests := slices.Clone(tp.tests)
		for j := range tests {
			tests[j].Name = fmt.Sprintf("job%d/%s/%d", i, tp.name, j)
		}
		jobs = append(jobs, sandbox.Job{Program: sandbox.Program{Lang: sandbox.Python, Source: tp.src}, Tests: tests})
		kinds = append(kinds, ti)
	}
	return jobs, kinds
}

// localVerdicts runs each template once on the in-process pool.
func localVerdicts(t *testing.T, tpls []template, opts sandbox.Options) []sandbox.Result {
	var out []sandbox.Result
	for _, tp := range tpls {
		r, err := pool(t).Run(context.Background(), sandbox.Program{Lang: sandbox.Python, Source: tp.src}, tp.tests, opts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// verdict is what must agree between executors: outcome, counts, errors, outputs per test.
func verdict(r sandbox.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v passed=%d error=%q stdout=%q", r.Outcome, r.Passed, r.Error, r.Stdout)
	for _, tr := range r.Tests {
		fmt.Fprintf(&b, " [%v %q %q]", tr.Outcome, tr.Error, tr.Got)
	}
	return b.String()
}

// checkVerdicts checks exactly-once (checkExactlyOnce) and that every result agrees with the local
// pool's verdict on its template.
func checkVerdicts(t *testing.T, jobs []sandbox.Job, kinds []int, results []sandbox.Result, local []sandbox.Result, tpls []template) {
	t.Helper()
	checkExactlyOnce(t, jobs, results)
	bad := 0
	for i, r := range results {
		if got, want := verdict(r), verdict(local[kinds[i]]); got != want {
			if bad++; bad <= 5 {
				t.Errorf("job %d (%s):\n got %s\nwant %s", i, tpls[kinds[i]].name, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d verdicts differ from the local pool's", bad, len(results))
	}
}

// proc is a `kernel serve` process: the test binary re-executed with childEnv.
type proc struct {
	addr string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// spawn starts a server process on addr and waits until it is ready.
func spawn(t *testing.T, addr string, flags string) *proc {
	t.Helper()
	p := &proc{addr: addr, log: filepath.Join(t.TempDir(), "serve.log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(os.Args[0], "-test.run=^$")
	p.cmd.Env = append(os.Environ(), childEnv+"=--addr "+addr+" --log text "+flags)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	for {
		resp, err := c.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("server %s exited at start: %s", addr, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s not ready within 30s", addr)
		}
	}
}

// kill signals the process and waits for it to exit.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// jobsDone is the sum of execfeed_serve_jobs_total on the server, or -1 if it does not answer.
func jobsDone(addr string) int {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "execfeed_serve_jobs_total{") {
			f := strings.Fields(line)
			v, _ := strconv.Atoi(f[len(f)-1])
			n += v
		}
	}
	return n
}

// TestClusterExactlyOnce runs a few thousand jobs (a few hundred with -short) through the remote
// executor over three server processes on loopback. Mid-batch one server is killed (SIGKILL, never
// restarted) and another killed and restarted on the same port. Every job must get exactly one
// result, equal to the local pool's verdict on the same program.
func TestClusterExactlyOnce(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	tpls := templates()
	opts := sandbox.Options{Timeout: 2 * time.Second}
	local := localVerdicts(t, tpls, opts)
	jobs, kinds := jobsFrom(tpls, n, 400)

	var servers []*proc
	var urls []string
	for range 3 {
		p := spawn(t, freePort(t), "--workers 1 --queue 16")
		servers = append(servers, p)
		urls = append(urls, "http://"+p.addr)
	}
	r, err := sandbox.NewRemote(urls, sandbox.RemoteConfig{PerEndpoint: 2, ChunkSize: 8, Backoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	type outcome struct {
		res []sandbox.Result
		err error
	}
	ran := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := r.RunBatch(context.Background(), jobs, opts)
		ran <- outcome{res, err}
	}()
	waitJobs := func(p *proc, k int) {
		t.Helper()
		waitFor(t, 3*time.Minute, fmt.Sprintf("%d jobs on %s", k, p.addr), func() bool { return jobsDone(p.addr) >= k })
	}
	a, b := servers[0], servers[1]
	waitJobs(a, n/20)
	a.kill(syscall.SIGKILL)
	t.Logf("%v: killed server %s mid-batch", time.Since(start).Round(time.Millisecond), a.addr)
	waitJobs(b, n/12)
	b.kill(syscall.SIGKILL)
	t.Logf("%v: killed server %s mid-batch; restarting it", time.Since(start).Round(time.Millisecond), b.addr)
	b2 := spawn(t, b.addr, "--workers 1 --queue 16")
	var o outcome
	select {
	case o = <-ran:
	case <-time.After(5 * time.Minute):
		t.Fatal("batch did not finish within 5 minutes")
	}
	if o.err != nil {
		t.Fatalf("RunBatch: %v", o.err)
	}
	el := time.Since(start)
	checkVerdicts(t, jobs, kinds, o.res, local, tpls)
	st := r.Stats()
	t.Logf("%d jobs in %v (%.0f/s); client: %+v; restarted server ran %d jobs", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), st, jobsDone(b2.addr))
	if st.Jobs != int64(n) {
		t.Errorf("client counted %d results for %d jobs", st.Jobs, n)
	}
	if ran := jobsDone(b2.addr); ran <= 0 && !testing.Short() {
		t.Errorf("the restarted server ran no jobs")
	}
	if st.Failures == 0 || st.Retries == 0 {
		t.Errorf("no failure seen although servers were killed: %+v", st)
	}
	// A graceful stop: SIGTERM drains and exits 0.
	servers[2].kill(syscall.SIGTERM)
	if code := servers[2].cmd.ProcessState.ExitCode(); code != 0 {
		b, _ := os.ReadFile(servers[2].log)
		t.Errorf("server exit code %d after SIGTERM: %s", code, b)
	}
}

// TestSandboxFusionDialect runs every template through the remote executor speaking SandboxFusion's
// /run_code (with its harness) to an execfeed server, explicitly (sf+http://) and detected (a server
// answering 404 on /v1/batch): verdicts equal the local pool's.
func TestSandboxFusionDialect(t *testing.T) {
	tpls := templates()
	opts := sandbox.Options{Timeout: time.Second}
	local := localVerdicts(t, tpls, opts)
	srv := start(t, Config{Workers: 2}, pool(t))
	// A SandboxFusion look-alike: the same server without /v1/batch.
	onlyRunCode := http.NewServeMux()
	onlyRunCode.Handle("POST "+sandbox.RunCodePath, srv.Handler())
	sf := &http.Server{Handler: onlyRunCode}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sf.Serve(ln)
	defer sf.Close()
	for _, url := range []string{"sf+" + srv.url, "http://" + ln.Addr().String()} {
		r, err := sandbox.NewRemote([]string{url}, sandbox.RemoteConfig{ChunkSize: 4})
		if err != nil {
			t.Fatal(err)
		}
		jobs, kinds := jobsFrom(tpls, 2*len(tpls), 0)
		res, err := r.RunBatch(context.Background(), jobs, opts)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		checkVerdicts(t, jobs, kinds, res, local, tpls)
		st := r.Stats()
		if want := int64(0); strings.HasPrefix(url, "http://") {
			want = 1
			if st.Fallbacks != want {
				t.Errorf("%s: %d fallbacks to SandboxFusion, want %d", url, st.Fallbacks, want)
			}
		}
		t.Logf("%s: %+v", url, st)
	}
}

var address = regexp.MustCompile(`0x[0-9a-f]+`)

// traceText is a trace as JSON, with empty and nil the same (empty Locals maps are omitted on the
// wire) and object addresses blanked (they differ between worker processes).
func traceText(tr []sandbox.Step) string {
	if len(tr) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(tr)
	return address.ReplaceAllString(string(b), "0x")
}

// TestRemoteVerdicts: the batch API gives the local pool's verdicts, traces included.
func TestRemoteVerdicts(t *testing.T) {
	tpls := templates()
	opts := sandbox.Options{Timeout: time.Second, Trace: true}
	local := localVerdicts(t, tpls, opts)
	srv := start(t, Config{Workers: 2}, pool(t))
	r, err := sandbox.NewRemote([]string{srv.url}, sandbox.RemoteConfig{})
	if err != nil {
		t.Fatal(err)
	}
	jobs, kinds := jobsFrom(tpls, len(tpls), 0)
	jobs = append(jobs, sandbox.Job{Program: sandbox.Program{Lang: sandbox.RPN, Source: "a b +"}, Tests: []sandbox.Test{{Name: "rpn"}}})
	res, err := r.RunBatch(context.Background(), jobs, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, jobs[:len(kinds)], kinds, res[:len(kinds)], local, tpls)
	for i, k := range kinds {
		if traceText(res[i].Trace) != traceText(local[k].Trace) || res[i].StepsCorrect != local[k].StepsCorrect {
			t.Errorf("%s: trace differs from the local pool's:\n got %d %+v\nwant %d %+v", tpls[k].name, res[i].StepsCorrect, res[i].Trace, local[k].StepsCorrect, local[k].Trace)
		}
	}
	if last := res[len(res)-1]; last.Outcome != sandbox.PassedTest || last.Tests[0].Name != "rpn" {
		t.Errorf("RPN job (a+b on zeros, want 0): %+v", last)
	}
}
