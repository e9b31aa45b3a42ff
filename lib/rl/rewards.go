package rl

import (
	"fmt"
	"math"
	"time"

	"github.com/execfeed/execfeed/lib/reward"
)

// NamedReward is one term of a weighted reward: its name (for logs and errors), its weight, and
// the function.
type NamedReward struct {
	Name   string
	Weight float64
	Func   reward.Func
}

// Rewards is a weighted sum of named reward functions, as TRL's reward_funcs with
// reward_weights: r = Σ_i w_i f_i(sample). Each term is reported on its own (Rollout.Parts and
// the "reward/NAME" statistics).
type Rewards struct {
	Terms []NamedReward
	// Timeout bounds one call of one reward (default 5 s). A reward past it is an error naming the
	// reward and the sample; its goroutine cannot be stopped and is abandoned.
	Timeout time.Duration
}

// Single is a Rewards of one term of weight 1.
func Single(name string, f reward.Func) Rewards {
	return Rewards{Terms: []NamedReward{{Name: name, Weight: 1, Func: f}}}
}

func (rs Rewards) validate() error {
	if len(rs.Terms) == 0 {
		return fmt.Errorf("rl: no reward functions")
	}
	seen := map[string]bool{}
	for i, t := range rs.Terms {
		if t.Func == nil || t.Name == "" || seen[t.Name] || math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0) {
			return fmt.Errorf("rl: reward %d (%q): needs a function, a unique name and a finite weight (got %g)", i, t.Name, t.Weight)
		}
		seen[t.Name] = true
	}
	return nil
}

// score returns the weighted sum for s and each term's value. A reward that panics, returns a
// NaN or an infinity, or runs past the timeout is an error naming it.
func (rs Rewards) score(s reward.Sample) (float64, map[string]float64, error) {
	timeout := rs.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	parts := make(map[string]float64, len(rs.Terms))
	var total float64
	for _, t := range rs.Terms {
		v, err := call(t.Func, s, timeout)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = fmt.Errorf("returned %v", v)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("reward %q: %w", t.Name, err)
		}
		parts[t.Name] = v
		total += t.Weight * v
	}
	return total, parts, nil
}

// call runs f(s) with a deadline, turning a panic into an error.
func call(f reward.Func, s reward.Sample, timeout time.Duration) (float64, error) {
	type result struct {
		v   float64
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("panicked: %v", p)}
			}
		}()
		done <- result{v: f(s)}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-timer.C:
		return 0, fmt.Errorf("did not return within %v", timeout)
	}
}
