// Package serve is execfeed's execution server (`kernel serve`): an HTTP API over the sandbox that
// speaks SandboxFusion's POST /run_code for Python and execfeed's own POST /v1/batch, which runs
// many (program, tests) jobs and returns sandbox.Result objects. It admits a bounded number of
// jobs (503 with Retry-After beyond), limits request sizes, optionally requires a bearer token,
// logs one structured line per request, exposes Prometheus metrics, and drains on shutdown:
// readiness fails, the listener closes, and requests in flight run to the end.
//
// docs/SERVE.md documents the API and the deployment.
package serve

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Workers is the number of jobs run at once (default 1); set it to the pool's worker count.
	Workers int
	// Queue is the number of jobs admitted beyond the running ones (default 64; negative: none).
	// A request whose jobs do not fit gets 503 with Retry-After.
	Queue int
	// MaxBatch is the largest number of jobs in one /v1/batch request (default and at most
	// Workers+Queue).
	MaxBatch int
	// MaxBodyBytes is the largest request body (default 16 MiB); larger gets 413.
	MaxBodyBytes int64
	// MaxTimeout is the largest per-job time limit a request may ask for (default 60s).
	MaxTimeout time.Duration
	// Token, if set, is the bearer token every request but /healthz, /readyz and /v1/ping needs.
	Token string
	// PodName is echoed as SandboxFusion's executor_pod_name (e.g. from $MY_POD_NAME).
	PodName string
	// Logger receives one line per request and the server's events (default slog.Default()).
	Logger *slog.Logger
}

// Server is the HTTP execution service over an Executor for Python (usually a *sandbox.Pool);
// RPN jobs run in-process.
type Server struct {
	cfg      Config
	python   sandbox.Executor
	rpn      sandbox.RPNExecutor
	log      *slog.Logger
	sem      chan struct{} // one token per running job
	mu       sync.Mutex
	admitted int // jobs admitted and not finished (running + queued)
	running  atomic.Int64
	draining atomic.Bool
	m        *metrics
	mux      *http.ServeMux
}

// New makes a Server that runs Python jobs on python.
func New(cfg Config, python sandbox.Executor) *Server {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Queue < 0 {
		cfg.Queue = 0
	} else if cfg.Queue == 0 {
		cfg.Queue = 64
	}
	if cfg.MaxBatch <= 0 || cfg.MaxBatch > cfg.Workers+cfg.Queue {
		cfg.MaxBatch = cfg.Workers + cfg.Queue
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, python: python, log: cfg.Logger, sem: make(chan struct{}, cfg.Workers), m: newMetrics()}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.ready)
	s.mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, "pong") })
	s.mux.HandleFunc("GET /v1/info", s.auth(s.info))
	s.mux.HandleFunc("GET /metrics", s.auth(s.metrics))
	s.mux.HandleFunc("POST "+sandbox.RunCodePath, s.auth(s.runCode))
	s.mux.HandleFunc("POST "+sandbox.BatchPath, s.auth(s.batch))
	return s
}

// Config returns the server's configuration with defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Handler returns the server's HTTP handler: routing, request logging and metrics.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		rec.Header().Set("X-Request-Id", id)
		s.mux.ServeHTTP(rec, r)
		el := time.Since(start)
		path := r.URL.Path
		switch path {
		case "/healthz", "/readyz", "/v1/ping", "/v1/info", "/metrics", sandbox.RunCodePath, sandbox.BatchPath:
		default:
			path = "other" // bounded label values
		}
		s.m.request(path, rec.status, el)
		lvl := slog.LevelInfo
		if path == "/healthz" || path == "/readyz" || path == "/metrics" {
			lvl = slog.LevelDebug
		}
		s.log.Log(r.Context(), lvl, "request", "id", id, "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "jobs", rec.jobs, "bytes_in", r.ContentLength, "ms", float64(el.Microseconds())/1000,
			"remote", r.RemoteAddr, "error", rec.errMsg)
	})
}

// recorder captures the status and a few facts for the request log.
type recorder struct {
	http.ResponseWriter
	status int
	jobs   int
	errMsg string
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func note(w http.ResponseWriter, jobs int, msg string) {
	if r, ok := w.(*recorder); ok {
		r.jobs, r.errMsg = jobs, msg
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeText(w http.ResponseWriter, code int, s string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(s))
}

// fail answers an error with execfeed's {"error": msg} body.
func fail(w http.ResponseWriter, code int, msg string) {
	note(w, 0, msg)
	writeJSON(w, code, sandbox.ErrorResponse{Error: msg})
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Token == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			s.m.reject("unauthorized")
			w.Header().Set("WWW-Authenticate", `Bearer realm="execfeed"`)
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeText(w, http.StatusServiceUnavailable, "draining\n")
		return
	}
	writeText(w, http.StatusOK, "ready\n")
}

// Info is the answer to GET /v1/info.
type Info struct {
	Server       string             `json:"server"`
	Languages    []sandbox.Language `json:"languages"`
	Workers      int                `json:"workers"`
	Queue        int                `json:"queue"`
	MaxBatch     int                `json:"max_batch"`
	MaxBodyBytes int64              `json:"max_body_bytes"`
	MaxTimeoutS  float64            `json:"max_timeout_s"`
	Isolation    *sandbox.Isolation `json:"isolation,omitempty"`
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	in := Info{Server: "execfeed", Languages: []sandbox.Language{sandbox.Python, sandbox.RPN, sandbox.RPNExt},
		Workers: s.cfg.Workers, Queue: s.cfg.Queue, MaxBatch: s.cfg.MaxBatch, MaxBodyBytes: s.cfg.MaxBodyBytes,
		MaxTimeoutS: s.cfg.MaxTimeout.Seconds()}
	if p, ok := s.python.(interface{ Isolation() sandbox.Isolation }); ok {
		iso := p.Isolation()
		in.Isolation = &iso
	}
	writeJSON(w, http.StatusOK, in)
}

// admit reserves room for n jobs, or reports that the queue is full.
func (s *Server) admit(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admitted+n > s.cfg.Workers+s.cfg.Queue {
		return false
	}
	s.admitted += n
	return true
}

func (s *Server) done(n int) {
	s.mu.Lock()
	s.admitted -= n
	s.mu.Unlock()
}

// busy answers 503 for a request that does not fit in the queue.
func (s *Server) busy(w http.ResponseWriter, n int) {
	s.m.reject("queue_full")
	w.Header().Set("Retry-After", "1")
	s.mu.Lock()
	adm := s.admitted
	s.mu.Unlock()
	fail(w, http.StatusServiceUnavailable, fmt.Sprintf("queue full: %d jobs admitted, capacity %d (workers %d + queue %d); cannot take %d more, retry later",
		adm, s.cfg.Workers+s.cfg.Queue, s.cfg.Workers, s.cfg.Queue, n))
}

// decode reads a JSON body of at most MaxBodyBytes into v; on failure it answers 413 or 400.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.m.reject("too_large")
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
			return false
		}
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, "malformed JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, "malformed JSON body: data after the object")
		return false
	}
	return true
}

// run runs one job once a worker is free; err is the executor's own failure or ctx's.
func (s *Server) run(ctx context.Context, j sandbox.Job, opts sandbox.Options) (sandbox.Result, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return sandbox.Result{}, ctx.Err()
	}
	s.running.Add(1)
	defer func() { s.running.Add(-1); <-s.sem }()
	start := time.Now()
	var res sandbox.Result
	var err error
	if j.Program.Lang == sandbox.Python {
		res, err = s.python.Run(ctx, j.Program, j.Tests, opts)
	} else {
		res, err = s.rpn.Run(ctx, j.Program, j.Tests, opts)
	}
	if err == nil {
		s.m.job(res.Outcome, time.Since(start))
	}
	return res, err
}

func supported(l sandbox.Language) bool {
	return l == sandbox.Python || l == sandbox.RPN || l == sandbox.RPNExt
}

// batch implements POST /v1/batch.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	var req sandbox.BatchRequest
	if !s.decode(w, r, &req) {
		return
	}
	n := len(req.Jobs)
	switch {
	case n == 0:
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, "no jobs")
		return
	case n > s.cfg.MaxBatch:
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, fmt.Sprintf("%d jobs in one request; this server takes at most %d (max_batch)", n, s.cfg.MaxBatch))
		return
	case req.Options.Timeout > s.cfg.MaxTimeout:
		s.m.reject("malformed")
		fail(w, http.StatusBadRequest, fmt.Sprintf("options.Timeout %v exceeds this server's limit %v", req.Options.Timeout, s.cfg.MaxTimeout))
		return
	}
	for i, j := range req.Jobs {
		if !supported(j.Program.Lang) {
			s.m.reject("malformed")
			fail(w, http.StatusBadRequest, fmt.Sprintf("job %d: language %q not supported (python, rpn, rpn-ext)", i, j.Program.Lang))
			return
		}
	}
	if !s.admit(n) {
		s.busy(w, n)
		return
	}
	defer s.done(n)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	out := make([]sandbox.Result, n)
	var next atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range min(n, s.cfg.Workers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				res, err := s.run(ctx, req.Jobs[i], req.Options)
				if err != nil {
					once.Do(func() { first = fmt.Errorf("job %d: %w", i, err); cancel() })
					return
				}
				out[i] = res
			}
		})
	}
	wg.Wait()
	if first != nil {
		if r.Context().Err() != nil {
			note(w, n, "client went away")
			return // nobody to answer
		}
		s.log.Error("executor failed", "error", first)
		fail(w, http.StatusInternalServerError, "executor failed: "+first.Error())
		return
	}
	note(w, n, "")
	writeJSON(w, http.StatusOK, sandbox.BatchResponse{Results: out})
}

// Serve serves on ln until ctx is done, then drains: /readyz fails at once, after drainDelay
// (time for load balancers to notice) the listener closes and requests in flight run to the end,
// for at most drainTimeout. It returns nil after a complete drain.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drainDelay, drainTimeout time.Duration) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "workers", s.cfg.Workers, "queue", s.cfg.Queue,
		"max_batch", s.cfg.MaxBatch, "auth", s.cfg.Token != "")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.mu.Lock()
	adm := s.admitted
	s.mu.Unlock()
	s.log.Info("draining", "jobs_admitted", adm, "delay", drainDelay.String(), "timeout", drainTimeout.String())
	time.Sleep(drainDelay)
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	if err != nil {
		s.log.Error("drain incomplete", "error", err)
		_ = hs.Close()
		return fmt.Errorf("serve: drain: %w", err)
	}
	s.log.Info("drained")
	return nil
}
