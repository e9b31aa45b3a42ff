package sandbox

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// EvalConfig configures Evaluate.
type EvalConfig struct {
	// Options bound every run.
	Options Options
	// Parallel is the number of runs in flight (default 1); set it to the pool's worker count.
	Parallel int
	// Progress, if set, is called after each sample with the number done, the total and the
	// number passed so far. Calls are serialized.
	Progress func(done, total, passed int)
}

// Evaluate runs every sample against its problem's tests. A sample whose task_id names no
// problem is an error naming the sample's file and line; nothing runs in that case.
func Evaluate(ctx context.Context, ex Executor, problems []Problem, samples []Sample, cfg EvalConfig) ([]SampleResult, error) {
	byID := make(map[string]*Problem, len(problems))
	for i := range problems {
		byID[problems[i].TaskID] = &problems[i]
	}
	for _, s := range samples {
		if _, ok := byID[s.TaskID]; !ok {
			return nil, fmt.Errorf("sandbox: %s: unknown task_id %q (not in the problems file)", s.Where, s.TaskID)
		}
	}
	out := make([]SampleResult, len(samples))
	var (
		next         atomic.Int64
		mu           sync.Mutex
		done, passed int
		firstErr     error
		wg           sync.WaitGroup
		ctx2, cancel = context.WithCancel(ctx)
		parallel     = max(1, cfg.Parallel)
	)
	defer cancel()
	for range min(parallel, len(samples)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(samples) || ctx2.Err() != nil {
					return
				}
				s := samples[i]
				p := byID[s.TaskID]
				r, err := ex.Run(ctx2, p.Program(s.Completion), p.Tests, cfg.Options)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("sandbox: %s: %w", s.Where, err)
					}
					cancel()
					mu.Unlock()
					return
				}
				out[i] = NewSampleResult(s, r)
				done++
				if r.Outcome == PassedTest {
					passed++
				}
				if cfg.Progress != nil {
					cfg.Progress(done, len(samples), passed)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// TaskCount is the number of samples and of passing samples of one task, the input of pass@k.
type TaskCount struct {
	TaskID        string
	Total, Passed int
}

// Counts tallies results per task, in the order tasks first appear.
func Counts(results []SampleResult) []TaskCount {
	idx := map[string]int{}
	var out []TaskCount
	for _, r := range results {
		i, ok := idx[r.TaskID]
		if !ok {
			i = len(out)
			idx[r.TaskID] = i
			out = append(out, TaskCount{TaskID: r.TaskID})
		}
		out[i].Total++
		if r.Passed {
			out[i].Passed++
		}
	}
	return out
}
