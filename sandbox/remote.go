package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the remote executor: Python programs run on execution servers over HTTP, either
// execfeed's own (`kernel serve`, package sandbox/serve: POST /v1/batch returns Result objects) or
// any SandboxFusion server (POST /run_code, with a test harness sent along; see remote_sf.go).
// docs/SERVE.md describes both APIs.

// BatchPath is the path of execfeed's batch endpoint.
const BatchPath = "/v1/batch"

// BatchRequest is the body of POST /v1/batch: jobs and the options that bound each of them, in
// the JSON encoding of the Go types (field names as in Go; durations in nanoseconds).
type BatchRequest struct {
	Jobs    []Job   `json:"jobs"`
	Options Options `json:"options"`
}

// BatchResponse is the answer to POST /v1/batch: one Result per job, in job order.
type BatchResponse struct {
	Results []Result `json:"results"`
}

// ErrorResponse is the body of every non-200 answer of an execfeed server.
type ErrorResponse struct {
	Error string `json:"error"`
}

// TokenEnv is the environment variable OpenExecutor reads the bearer token of remote servers from.
const TokenEnv = "EXECFEED_EXEC_TOKEN"

// RemoteConfig configures a Remote executor. The zero value is usable.
type RemoteConfig struct {
	// Token, if set, is sent as "Authorization: Bearer <Token>" to every endpoint.
	Token string
	// PerEndpoint bounds the requests in flight to one endpoint (default 2; set it to the server's
	// worker count: more only queues on the server).
	PerEndpoint int
	// ChunkSize is the number of jobs per batch request to an execfeed server (default 8).
	// SandboxFusion servers get one job per request.
	ChunkSize int
	// MaxAttempts bounds the tries of one request over all endpoints (default 10). Connection
	// errors, timeouts and 500/502/503/504/429 answers are retried with backoff, elsewhere when
	// another endpoint is free; any other answer is an error of the executor.
	MaxAttempts int
	// RequestTimeout is the deadline of one request (default 30s plus Options.Timeout+5s per job).
	RequestTimeout time.Duration
	// Backoff is the first pause after a failure of an endpoint (default 50ms); it doubles on each
	// consecutive failure up to MaxBackoff (default 2s). A 503's Retry-After is honoured up to
	// MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Client is the HTTP client (default: one with keep-alive connections sized to PerEndpoint).
	Client *http.Client
}

// RemoteStats counts what a Remote executor did.
type RemoteStats struct {
	Requests  int64 // HTTP requests sent
	Retries   int64 // requests repeated after a failure (on the same or another endpoint)
	Busy      int64 // 503/429 answers (server queue full)
	Failures  int64 // connection errors, timeouts, 5xx answers
	Jobs      int64 // jobs with a result
	Fallbacks int64 // endpoints found to be SandboxFusion servers (404 on /v1/batch)
}

// Remote is an Executor that runs Python programs on remote execution servers: client-side load
// balancing over its endpoints (least requests in flight), bounded concurrency per endpoint,
// per-request deadlines, retries with backoff. Each job's result is taken from exactly one
// complete answer: a request that fails (server died, connection reset, timeout) is repeated
// elsewhere and its partial answer, if any, discarded; so no result is lost or reported twice,
// though a program may run more than once. RPN programs run in-process (RPNExecutor).
type Remote struct {
	cfg    RemoteConfig
	client *http.Client
	eps    []*endpoint
	rpn    RPNExecutor
	closed atomic.Bool

	mu   sync.Mutex
	wake chan struct{} // closed and replaced when a slot frees or an endpoint comes back
	next int           // round-robin start

	requests, retries, busy, failures, jobs, fallbacks atomic.Int64
}

var _ Executor = (*Remote)(nil)

type endpoint struct {
	base      string      // URL without trailing slash
	sf        atomic.Bool // speaks SandboxFusion's /run_code only
	forced    bool        // dialect given by the URL scheme, no detection
	inflight  int
	fails     int
	downUntil time.Time
}

// NewRemote makes a Remote executor over the given endpoints. An endpoint is a base URL
// ("http://10.0.0.5:8080"); the scheme "sandboxfusion+http" (or "sf+http", likewise https) marks a
// SandboxFusion server. Other endpoints are assumed to be execfeed servers and switch to the
// SandboxFusion API if /v1/batch answers 404. Nothing is contacted until the first run.
func NewRemote(urls []string, cfg RemoteConfig) (*Remote, error) {
	if cfg.PerEndpoint <= 0 {
		cfg.PerEndpoint = 2
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 8
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	r := &Remote{cfg: cfg, client: cfg.Client, wake: make(chan struct{})}
	for _, u := range urls {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		ep := &endpoint{}
		for _, p := range []string{"sandboxfusion+", "sf+"} {
			if rest, ok := strings.CutPrefix(u, p); ok {
				u, ep.forced = rest, true
				ep.sf.Store(true)
			}
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("sandbox: remote endpoint %q: want an http:// or https:// URL", u)
		}
		ep.base = strings.TrimRight(u, "/")
		r.eps = append(r.eps, ep)
	}
	if len(r.eps) == 0 {
		return nil, errors.New("sandbox: remote executor needs at least one endpoint URL")
	}
	if r.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.PerEndpoint
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 15 * time.Second}).DialContext
		r.client = &http.Client{Transport: tr}
	}
	return r, nil
}

// OpenExecutor is the executor a `--exec` flag asks for: with exec empty, a local Python Pool
// configured by local; otherwise a Remote over the comma-separated URLs in exec, with the bearer
// token from $EXECFEED_EXEC_TOKEN. Parallel is the number of runs worth keeping in flight
// (the pool's workers, or endpoints x RemoteConfig.PerEndpoint).
func OpenExecutor(exec string, local PoolConfig, remote RemoteConfig) (ex Executor, parallel int, err error) {
	if strings.TrimSpace(exec) == "" {
		p, err := NewPool(local)
		if err != nil {
			return nil, 0, err
		}
		return p, max(local.Workers, 1), nil
	}
	if remote.Token == "" {
		remote.Token = os.Getenv(TokenEnv)
	}
	r, err := NewRemote(strings.Split(exec, ","), remote)
	if err != nil {
		return nil, 0, err
	}
	return r, r.Parallel(), nil
}

// Parallel is the number of requests the executor keeps in flight when fully busy.
func (r *Remote) Parallel() int { return len(r.eps) * r.cfg.PerEndpoint }

// Stats reports the executor's counters.
func (r *Remote) Stats() RemoteStats {
	return RemoteStats{Requests: r.requests.Load(), Retries: r.retries.Load(), Busy: r.busy.Load(),
		Failures: r.failures.Load(), Jobs: r.jobs.Load(), Fallbacks: r.fallbacks.Load()}
}

// Close marks the executor closed; runs in progress finish.
func (r *Remote) Close() error {
	r.closed.Store(true)
	r.client.CloseIdleConnections()
	return nil
}

// Run runs one program against its tests on one of the endpoints.
func (r *Remote) Run(ctx context.Context, p Program, tests []Test, opts Options) (Result, error) {
	out, err := r.RunBatch(ctx, []Job{{Program: p, Tests: tests}}, opts)
	if err != nil {
		return Result{}, err
	}
	return out[0], nil
}

// RunBatch runs the jobs on the endpoints in chunks, in parallel; results are in job order.
func (r *Remote) RunBatch(ctx context.Context, jobs []Job, opts Options) ([]Result, error) {
	if r.closed.Load() {
		return nil, errors.New("sandbox: remote executor closed")
	}
	out := make([]Result, len(jobs))
	var py []int
	for i, j := range jobs {
		switch j.Program.Lang {
		case Python:
			py = append(py, i)
		case RPN, RPNExt:
			res, err := r.rpn.Run(ctx, j.Program, j.Tests, opts)
			if err != nil {
				return nil, fmt.Errorf("job %d: %w", i, err)
			}
			out[i] = res
		default:
			return nil, fmt.Errorf("job %d: %w", i, errUnsupported("remote", j.Program.Lang))
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for start := 0; start < len(py); start += r.cfg.ChunkSize {
		idx := py[start:min(start+r.cfg.ChunkSize, len(py))]
		wg.Go(func() {
			if err := r.runChunk(ctx, jobs, idx, opts, out); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// attemptError is how one request failed: worth repeating (elsewhere) or not.
type attemptError struct {
	retry      bool
	busy       bool          // 503/429: the endpoint is healthy but full
	retryAfter time.Duration // from the answer, if any
	again      bool          // repeat at once, not a failure (the endpoint changed dialect)
	err        error
}

func (e *attemptError) Error() string { return e.err.Error() }

// runChunk runs the jobs idx (indices into jobs) to completion, writing each result into out
// exactly once.
func (r *Remote) runChunk(ctx context.Context, jobs []Job, idx []int, opts Options, out []Result) error {
	todo := idx
	var last error
	avoid := map[*endpoint]bool{}
	for attempt := 0; len(todo) > 0; {
		ep, err := r.acquire(ctx, avoid)
		if err != nil {
			if last != nil {
				return fmt.Errorf("%w (last failure: %v)", err, last)
			}
			return err
		}
		var aerr *attemptError
		if ep.sf.Load() {
			todo, aerr = r.runSF(ctx, ep, jobs, todo, opts, out)
		} else {
			aerr = r.runBatch(ctx, ep, jobs, todo, opts, out)
			if aerr == nil {
				todo = nil
			}
		}
		r.release(ep, aerr)
		if aerr == nil || aerr.again {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !aerr.retry {
			return fmt.Errorf("sandbox: remote %s: %w", ep.base, aerr.err)
		}
		last = fmt.Errorf("%s: %w", ep.base, aerr.err)
		if avoid[ep] = true; len(avoid) == len(r.eps) {
			clear(avoid)
		}
		attempt++
		if attempt >= r.cfg.MaxAttempts {
			return fmt.Errorf("sandbox: remote execution failed after %d attempts: %w", attempt, last)
		}
		r.retries.Add(1)
	}
	return nil
}

// acquire waits for an endpoint that is up and has a free slot, preferring the fewest requests
// in flight, and takes a slot on it. An endpoint that failed last time takes one request (a
// probe) until one succeeds. Endpoints in avoid (those this request failed on) are taken only
// when every other endpoint is backing off.
func (r *Remote) acquire(ctx context.Context, avoid map[*endpoint]bool) (*endpoint, error) {
	for {
		if r.closed.Load() {
			return nil, errors.New("sandbox: remote executor closed")
		}
		r.mu.Lock()
		now := time.Now()
		var best, fallback *endpoint
		var soonest time.Time
		othersDown := true
		n := len(r.eps)
		for k := range n {
			ep := r.eps[(r.next+k)%n]
			if now.Before(ep.downUntil) {
				if soonest.IsZero() || ep.downUntil.Before(soonest) {
					soonest = ep.downUntil
				}
				continue
			}
			if !avoid[ep] {
				othersDown = false
			}
			limit := r.cfg.PerEndpoint
			if ep.fails > 0 {
				limit = 1
			}
			if ep.inflight >= limit {
				continue
			}
			if avoid[ep] {
				if fallback == nil || ep.inflight < fallback.inflight {
					fallback = ep
				}
			} else if best == nil || ep.inflight < best.inflight {
				best = ep
			}
		}
		if best == nil && othersDown {
			best = fallback
		}
		if best != nil {
			best.inflight++
			r.next = (r.next + 1) % n
			r.mu.Unlock()
			return best, nil
		}
		wake := r.wake
		r.mu.Unlock()
		var timer <-chan time.Time
		var t *time.Timer
		if !soonest.IsZero() {
			t = time.NewTimer(time.Until(soonest))
			timer = t.C
		}
		select {
		case <-wake:
		case <-timer:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// release frees the slot taken on ep and records how the attempt went.
func (r *Remote) release(ep *endpoint, aerr *attemptError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ep.inflight--
	switch {
	case aerr == nil || aerr.again:
		ep.fails = 0
	case aerr.retry:
		ep.fails++
		d := r.cfg.Backoff << min(ep.fails-1, 16)
		if aerr.busy && aerr.retryAfter > 0 {
			d = aerr.retryAfter
		}
		d = min(d, r.cfg.MaxBackoff)
		d += time.Duration(rand.Int64N(int64(d)/4 + 1)) // jitter
		ep.downUntil = time.Now().Add(d)
	}
	close(r.wake)
	r.wake = make(chan struct{})
}

// deadline is the time one request of n jobs may take.
func (r *Remote) deadline(n int, opts Options) time.Duration {
	if r.cfg.RequestTimeout > 0 {
		return r.cfg.RequestTimeout
	}
	o := opts.withDefaults()
	return 30*time.Second + time.Duration(n)*(o.Timeout+hangGrace)
}

// post sends body to ep's path and returns the answer's body when the status is 200.
func (r *Remote) post(ctx context.Context, ep *endpoint, path string, body []byte, timeout time.Duration) ([]byte, int, *attemptError) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, 0, &attemptError{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	if r.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	}
	r.requests.Add(1)
	resp, err := r.client.Do(req)
	if err != nil {
		r.failures.Add(1)
		return nil, 0, &attemptError{retry: true, err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		r.failures.Add(1)
		return nil, resp.StatusCode, &attemptError{retry: true, err: fmt.Errorf("reading answer: %w", err)}
	}
	if resp.StatusCode == http.StatusOK {
		return data, resp.StatusCode, nil
	}
	msg := strings.TrimSpace(string(data))
	var er ErrorResponse
	if json.Unmarshal(data, &er) == nil && er.Error != "" {
		msg = er.Error
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	aerr := &attemptError{err: fmt.Errorf("%s %s: %s", path, resp.Status, msg)}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		r.busy.Add(1)
		aerr.retry, aerr.busy = true, true
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			aerr.retryAfter = time.Duration(s) * time.Second
		}
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout:
		r.failures.Add(1)
		aerr.retry = true
	}
	return nil, resp.StatusCode, aerr
}

// runBatch runs the jobs idx on an execfeed server in one request.
func (r *Remote) runBatch(ctx context.Context, ep *endpoint, jobs []Job, idx []int, opts Options, out []Result) *attemptError {
	req := BatchRequest{Jobs: make([]Job, len(idx)), Options: opts}
	for k, i := range idx {
		req.Jobs[k] = jobs[i]
	}
	body, err := json.Marshal(req)
	if err != nil {
		return &attemptError{err: fmt.Errorf("encoding request: %w", err)}
	}
	data, status, aerr := r.post(ctx, ep, BatchPath, body, r.deadline(len(idx), opts))
	if aerr != nil {
		if status == http.StatusNotFound && !ep.forced {
			// Not an execfeed server: speak SandboxFusion's API to it from now on.
			if !ep.sf.Swap(true) {
				r.fallbacks.Add(1)
			}
			return &attemptError{again: true, err: errors.New("no /v1/batch; switching to SandboxFusion's /run_code")}
		}
		return aerr
	}
	var resp BatchResponse
	if err := json.Unmarshal(data, &resp); err != nil {
		r.failures.Add(1)
		return &attemptError{retry: true, err: fmt.Errorf("bad answer: %w", err)}
	}
	if len(resp.Results) != len(idx) {
		r.failures.Add(1)
		return &attemptError{retry: true, err: fmt.Errorf("answer has %d results for %d jobs", len(resp.Results), len(idx))}
	}
	for k, i := range idx {
		out[i] = resp.Results[k]
	}
	r.jobs.Add(int64(len(idx)))
	return nil
}
