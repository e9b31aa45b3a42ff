package serve

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// Prometheus text exposition format, version 0.0.4, written by hand (no client library).

var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; last is +Inf
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(buckets)+1)
	}
	i := sort.SearchFloat64s(buckets, v) // first bucket with bound >= v
	h.counts[i]++
	h.sum += v
	h.n++
}

func (h *histogram) write(b *strings.Builder, name, labels string) {
	var cum uint64
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, le := range buckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(b, "%s_bucket{%s%sle=\"%s\"} %d\n", name, labels, sep, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, h.n)
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %g\n%s_count%s %d\n", name, labels, h.sum, name, labels, h.n)
}

type reqKey struct {
	path string
	code int
}

type metrics struct {
	mu       sync.Mutex
	requests map[reqKey]uint64
	latency  map[string]*histogram // by path
	outcomes map[sandbox.Outcome]uint64
	jobTime  histogram
	rejected map[string]uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[reqKey]uint64{}, latency: map[string]*histogram{},
		outcomes: map[sandbox.Outcome]uint64{}, rejected: map[string]uint64{}}
}

func (m *metrics) request(path string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[reqKey{path, code}]++
	h := m.latency[path]
	if h == nil {
		h = &histogram{}
		m.latency[path] = h
	}
	h.observe(d.Seconds())
}

func (m *metrics) job(o sandbox.Outcome, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outcomes[o]++
	m.jobTime.observe(d.Seconds())
}

func (m *metrics) reject(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rejected[reason]++
}

// metrics implements GET /metrics.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	m := s.m
	help := func(name, typ, text string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	m.mu.Lock()
	help("execfeed_serve_requests_total", "counter", "HTTP requests by path and status code.")
	keys := make([]reqKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].path != keys[j].path {
			return keys[i].path < keys[j].path
		}
		return keys[i].code < keys[j].code
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "execfeed_serve_requests_total{path=%q,code=\"%d\"} %d\n", k.path, k.code, m.requests[k])
	}
	help("execfeed_serve_request_duration_seconds", "histogram", "Time to answer a request, by path.")
	paths := make([]string, 0, len(m.latency))
	for p := range m.latency {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		m.latency[p].write(&b, "execfeed_serve_request_duration_seconds", fmt.Sprintf("path=%q", p))
	}
	help("execfeed_serve_jobs_total", "counter", "Jobs run, by outcome.")
	for _, o := range []sandbox.Outcome{sandbox.PassedTest, sandbox.FailedTest, sandbox.RuntimeError, sandbox.Timeout, sandbox.CompileError} {
		fmt.Fprintf(&b, "execfeed_serve_jobs_total{outcome=%q} %d\n", o.String(), m.outcomes[o])
	}
	help("execfeed_serve_job_duration_seconds", "histogram", "Time to run one job, from a free worker to its result.")
	m.jobTime.write(&b, "execfeed_serve_job_duration_seconds", "")
	help("execfeed_serve_rejected_total", "counter", "Requests refused, by reason.")
	for _, reason := range []string{"queue_full", "malformed", "too_large", "unauthorized"} {
		fmt.Fprintf(&b, "execfeed_serve_rejected_total{reason=%q} %d\n", reason, m.rejected[reason])
	}
	m.mu.Unlock()

	s.mu.Lock()
	admitted := s.admitted
	s.mu.Unlock()
	running := int(s.running.Load())
	help("execfeed_serve_queue_depth", "gauge", "Jobs admitted and waiting for a worker.")
	fmt.Fprintf(&b, "execfeed_serve_queue_depth %d\n", max(admitted-running, 0))
	help("execfeed_serve_jobs_running", "gauge", "Jobs running now.")
	fmt.Fprintf(&b, "execfeed_serve_jobs_running %d\n", running)
	help("execfeed_serve_capacity", "gauge", "Jobs the server admits at once (workers + queue).")
	fmt.Fprintf(&b, "execfeed_serve_capacity %d\n", s.cfg.Workers+s.cfg.Queue)
	help("execfeed_serve_draining", "gauge", "1 while the server drains for shutdown.")
	d := 0
	if s.draining.Load() {
		d = 1
	}
	fmt.Fprintf(&b, "execfeed_serve_draining %d\n", d)
	if p, ok := s.python.(interface{ Stats() sandbox.PoolStats }); ok {
		st := p.Stats()
		help("execfeed_serve_pool_runs_total", "counter", "Programs run by the Python pool.")
		fmt.Fprintf(&b, "execfeed_serve_pool_runs_total %d\n", st.Runs)
		help("execfeed_serve_pool_restarts_total", "counter", "Python workers replaced after dying or hanging.")
		fmt.Fprintf(&b, "execfeed_serve_pool_restarts_total %d\n", st.Restarts)
		help("execfeed_serve_pool_unclean_total", "counter", "Runs after which a worker could not remove every process or file.")
		fmt.Fprintf(&b, "execfeed_serve_pool_unclean_total %d\n", st.Unclean)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}
