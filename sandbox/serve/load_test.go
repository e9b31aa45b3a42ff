//go:build linux

package serve

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// loadRun runs jobs through ex with c goroutines calling Run, and returns samples/s and the
// p50/p99 latency of Run.
func loadRun(t *testing.T, ex sandbox.Executor, jobs []sandbox.Job, c int, opts sandbox.Options) (rate float64, p50, p99 time.Duration) {
	t.Helper()
	lat := make([]time.Duration, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				t0 := time.Now()
				if _, err := ex.Run(context.Background(), jobs[i].Program, jobs[i].Tests, opts); err != nil {
					failed.Store(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	slices.Sort(lat)
	return float64(len(jobs)) / el.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
}

// TestLoadReport measures throughput and latency of the local pool and of the remote executor
// against one `kernel serve` process (2 workers) on loopback, at 1, 2 and 4 requests in flight,
// plus batched requests and the SandboxFusion dialect. Bounded: 400 jobs per configuration,
// loopback only. It runs only with EXECFEED_SERVE_LOAD=1:
//
//	EXECFEED_SERVE_LOAD=1 go test ./sandbox/serve -run TestLoadReport -v
func TestLoadReport(t *testing.T) {
	if os.Getenv("EXECFEED_SERVE_LOAD") == "" {
		t.Skip("set EXECFEED_SERVE_LOAD=1 to measure remote execution throughput")
	}
	tpls := templates()
	jobs, _ := jobsFrom(tpls, 400, 0) // every template but the timeout
	opts := sandbox.Options{Timeout: 3 * time.Second}
	t.Logf("%d jobs of %d kinds (pass, fail, raise, compile error, stdin/stdout), %d CPUs, GOMAXPROCS %d", len(jobs), len(tpls)-1, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	row := func(name string, c int, rate float64, p50, p99 time.Duration) {
		t.Logf("| %s | %d | %.1f | %.1f | %.1f |", name, c, rate, float64(p50.Microseconds())/1000, float64(p99.Microseconds())/1000)
	}
	t.Logf("| executor | in flight | samples/s | p50 ms | p99 ms |")
	local := pool(t)
	loadRun(t, local, jobs[:20], 2, opts) // warm-up
	for _, c := range []int{1, 2, 4} {
		rate, p50, p99 := loadRun(t, local, jobs, c, opts)
		row("local Pool, 2 workers", c, rate, p50, p99)
	}
	srv := spawn(t, freePort(t), "--workers 2 --queue 64")
	url := "http://" + srv.addr
	for _, c := range []int{1, 2, 4} {
		r, err := sandbox.NewRemote([]string{url}, sandbox.RemoteConfig{PerEndpoint: c, ChunkSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		loadRun(t, r, jobs[:20], c, opts)
		rate, p50, p99 := loadRun(t, r, jobs, c, opts)
		row("remote /v1/batch, 1 job per request, server 2 workers", c, rate, p50, p99)
		r.Close()
	}
	for _, chunk := range []int{8, 32} {
		r, err := sandbox.NewRemote([]string{url}, sandbox.RemoteConfig{PerEndpoint: 2, ChunkSize: chunk})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := r.RunBatch(context.Background(), jobs, opts); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		t.Logf("| remote RunBatch, %d jobs per request, server 2 workers | 2 requests | %.1f | - | - |", chunk, float64(len(jobs))/el.Seconds())
		r.Close()
	}
	r, err := sandbox.NewRemote([]string{"sf+" + url}, sandbox.RemoteConfig{PerEndpoint: 2})
	if err != nil {
		t.Fatal(err)
	}
	loadRun(t, r, jobs[:20], 2, opts)
	rate, p50, p99 := loadRun(t, r, jobs, 2, opts)
	row("remote SandboxFusion /run_code + harness, server 2 workers", 2, rate, p50, p99)
	fmt.Fprintln(os.Stderr)
}
