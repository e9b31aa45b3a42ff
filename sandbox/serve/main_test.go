//go:build linux

package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// childEnv makes the test binary act as `kernel serve` with the flags in its value (split on
// spaces): the cluster tests start real server processes this way, to kill and restart them.
const childEnv = "EXECFEED_SERVE_CHILD"

var (
	poolOnce sync.Once
	shared   *sandbox.Pool
	poolErr  error
)

// pool is a two-worker Python pool shared by the in-process tests.
func pool(t testing.TB) *sandbox.Pool {
	t.Helper()
	poolOnce.Do(func() { shared, poolErr = sandbox.NewPool(sandbox.PoolConfig{Workers: 2}) })
	if poolErr != nil {
		t.Skipf("no Python pool: %v", poolErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childEnv); ok {
		if err := Main(strings.Fields(args)); err != nil {
			fmt.Fprintln(os.Stderr, "serve child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if shared != nil {
		shared.Close()
	}
	os.Exit(code)
}

// quiet is a logger for tests (EXECFEED_SERVE_LOG=1 shows the lines).
func quiet() *slog.Logger {
	if os.Getenv("EXECFEED_SERVE_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// started is a Server serving on a loopback port until the test ends.
type started struct {
	*Server
	url    string
	stop   context.CancelFunc
	served chan error
}

func start(t *testing.T, cfg Config, ex sandbox.Executor) *started {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, ex)
	ctx, cancel := context.WithCancel(context.Background())
	st := &started{Server: s, url: "http://" + ln.Addr().String(), stop: cancel, served: make(chan error, 1)}
	go func() { st.served <- s.Serve(ctx, ln, 0, 10*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-st.served:
		case <-time.After(15 * time.Second):
			t.Error("server did not stop")
		}
	})
	return st
}

// post sends body to url+path with an optional bearer token; it returns status, header and body.
func post(t *testing.T, url, path, token, body string) (int, http.Header, string) {
	t.Helper()
	return do(t, http.MethodPost, url+path, token, body)
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	code, _, body := do(t, http.MethodGet, url, token, "")
	return code, body
}

func do(t *testing.T, method, url, token, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// gate is a fake Python executor: each run waits for the gate to open (or delay), then passes
// every test, echoing the test names so that a result can be traced to its job.
type gate struct {
	open  chan struct{}
	delay time.Duration
	mu    sync.Mutex
	runs  int
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Run(ctx context.Context, p sandbox.Program, tests []sandbox.Test, opts sandbox.Options) (sandbox.Result, error) {
	g.mu.Lock()
	g.runs++
	g.mu.Unlock()
	if g.delay > 0 {
		select {
		case <-time.After(g.delay):
		case <-ctx.Done():
			return sandbox.Result{}, ctx.Err()
		}
	} else {
		select {
		case <-g.open:
		case <-ctx.Done():
			return sandbox.Result{}, ctx.Err()
		}
	}
	res := sandbox.Result{Outcome: sandbox.PassedTest, Passed: len(tests), Stdout: p.Source}
	for _, t := range tests {
		res.Tests = append(res.Tests, sandbox.TestResult{Name: t.Name, Outcome: sandbox.PassedTest})
	}
	return res, nil
}

func (g *gate) RunBatch(ctx context.Context, jobs []sandbox.Job, opts sandbox.Options) ([]sandbox.Result, error) {
	var out []sandbox.Result
	for _, j := range jobs {
		r, err := g.Run(ctx, j.Program, j.Tests, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (g *gate) Close() error { return nil }

func (g *gate) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs
}

// waitFor polls cond every 5ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
