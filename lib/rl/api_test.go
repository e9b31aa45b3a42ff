package rl

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// returnsError runs f, which must return an error mentioning want, within a second and without
// panicking: the API's answer to bad input is an error, never a hang or a crash.
func returnsError(t *testing.T, name, want string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- panicked{p}
			}
		}()
		done <- f()
	}()
	select {
	case err := <-done:
		if p, ok := err.(panicked); ok {
			t.Errorf("%s panicked: %v", name, p.v)
		} else if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one saying %q", name, err, want)
		}
	case <-time.After(time.Second):
		t.Errorf("%s did not return within a second", name)
	}
}

type panicked struct{ v any }

func (p panicked) Error() string { return "panic" }

// wordLang is a stand-in language whose tokens are space-separated words; a program passes when
// it is the reference, and diverges at its first word that is not the reference's word there.
type wordLang struct{}

func (wordLang) Name() sandbox.Language                                  { return "words" }
func (wordLang) Tokenize(src string) ([]string, error)                   { return strings.Fields(src), nil }
func (wordLang) Detokenize(w []string) string                            { return strings.Join(w, " ") }
func (wordLang) NeedsTrace() bool                                        { return false }
func (wordLang) RunOptions(_ Prompt, o sandbox.Options) sandbox.Options  { return o }
func (wordLang) StepsCorrect(Prompt, sandbox.Result, sandbox.Result) int { return 0 }
func (wordLang) Divergence(p Prompt, c string, _, _ sandbox.Result) (int, int, bool, error) {
	ref, pos := strings.Fields(p.Reference), 0
	for i, w := range strings.Fields(c) {
		if i >= len(ref) || w != ref[i] {
			return pos, pos + len(w), true, nil
		}
		pos += len(w) + 1
	}
	return len(c), len(c), true, nil
}

// wordExec passes a program that equals the reference; anything else fails a test.
type wordExec struct{ ref string }

func (e wordExec) Run(ctx context.Context, p sandbox.Program, tests []sandbox.Test, o sandbox.Options) (sandbox.Result, error) {
	if p.Source == e.ref {
		return sandbox.Result{Outcome: sandbox.PassedTest, Passed: 1}, nil
	}
	return sandbox.Result{Outcome: sandbox.FailedTest}, nil
}

func (e wordExec) RunBatch(ctx context.Context, jobs []sandbox.Job, o sandbox.Options) ([]sandbox.Result, error) {
	out := make([]sandbox.Result, len(jobs))
	for i, j := range jobs {
		out[i], _ = e.Run(ctx, j.Program, j.Tests, o)
	}
	return out, nil
}

func (wordExec) Close() error { return nil }

// wordPolicy2 encodes programs word by word (id = index in words, then the end token) for
// RolloutOf; it generates nothing.
type wordPolicy2 struct {
	Policy
	words []string
	batch int
}

func (p wordPolicy2) BatchSize() int { return p.batch }
func (p wordPolicy2) MaxTokens() int { return 8 }
func (p wordPolicy2) Encode(src string) ([]int32, error) {
	var ids []int32
	for _, w := range strings.Fields(src) {
		ids = append(ids, int32(slices.Index(p.words, w)))
	}
	return append(ids, int32(len(p.words))), nil // the end token
}
func (p wordPolicy2) Decode(ids []int32) string {
	var ws []string
	for _, id := range ids {
		if int(id) < len(p.words) {
			ws = append(ws, p.words[id])
		}
	}
	return strings.Join(ws, " ")
}

// wordTask is one prompt whose reference is "a b + c *", one test.
func wordTask(t *testing.T) *Task {
	const ref = "a b + c *"
	return &Task{Name: "words", Lang: wordLang{}, Exec: wordExec{ref}, Prompts: []Prompt{{ID: "p0", Text: "add a and b , then multiply by c",
		Reference: ref, Tests: []sandbox.Test{{}}}}}
}

// TestBadInputIsAnError calls the API the way a notebook might get it wrong.
func TestBadInputIsAnError(t *testing.T) {
	r5 := []float64{1, 0, 0, 1, 1}
	returnsError(t, "GroupAdvantages(g=0)", "group size 0", func() error { _, err := GroupAdvantages(r5, 0); return err })
	returnsError(t, "GroupAdvantages(g=-1)", "group size -1", func() error { _, err := GroupAdvantages(r5, -1); return err })
	returnsError(t, "GroupAdvantages(5 rewards, g=2)", "group size 2 for 5 rewards", func() error {
		_, err := GroupAdvantages(r5, 2)
		return err
	})
	returnsError(t, "ScaledAdvantages(g=0)", "group size 0", func() error { _, _, err := ScaledAdvantages(r5, 0, "none"); return err })
	returnsError(t, "ScaledAdvantages(scale)", `"sometimes"`, func() error {
		_, _, err := ScaledAdvantages(r5[:4], 2, "sometimes")
		return err
	})
	returnsError(t, "GAE(3 rewards, 2 values)", "3 rewards and 2 values", func() error {
		_, _, err := GAE([]float64{0, 0, 1}, []float64{0.5, 0.5}, 1, 0.95)
		return err
	})

	task := wordTask(t)
	cands := []string{"a b + c *", "a b + c -", "a b - c *"}
	ro, err := RolloutOf(nil, task, []int{0, 0, 0}, cands)
	if err != nil {
		t.Fatal(err)
	}
	returnsError(t, "Pairs before Execute", "not executed", func() error { _, err := Pairs(ro, 3, TracePreference); return err })
	returnsError(t, "Execute(nil)", "nil reward", func() error { return ro.Execute(nil) })
	if err := ro.Execute(Passed); err != nil {
		t.Fatal(err)
	}
	returnsError(t, "Pairs(g=0)", "group size 0", func() error { _, err := Pairs(ro, 0, TracePreference); return err })
	returnsError(t, "Pairs(3 rows, g=2)", "group size 2 for 3 rows", func() error { _, err := Pairs(ro, 2, TracePreference); return err })
	returnsError(t, "Pairs(nil rule)", "nil rule", func() error { _, err := Pairs(ro, 3, nil); return err })
	// Without a policy the rollout has programs but no token rows.
	returnsError(t, "Mask without tokens", "no token rows", func() error { _, err := ro.Mask(); return err })
	returnsError(t, "Select without tokens", "no token rows", func() error { _, _, _, err := ro.Select([]int{0, 1}); return err })
	returnsError(t, "Inputs without tokens", "no token rows", func() error { _, err := ro.Inputs(); return err })
	returnsError(t, "EGCAMask without a policy", "policy", func() error {
		_, err := EGCAMask(ro, []float64{1, -1, -1}, make([]float32, 3), make([]float32, 3))
		return err
	})
	if _, _, ok := ro.TokenSpan(0, 0, 1); ok {
		t.Errorf("TokenSpan mapped a span on a rollout without tokens")
	}

	// Hand-built rollouts as a notebook writes them, with a field missing or wrong.
	returnsError(t, "Execute on an empty rollout", "task", func() error { return (&Rollout{}).Execute(Passed) })
	returnsError(t, "Execute with a row out of range", "outside", func() error {
		return (&Rollout{Task: task, N: 1, Rows: []int{7}, Programs: []string{"a"}}).Execute(Passed)
	})
	returnsError(t, "Execute with fewer programs than rows", "programs", func() error {
		return (&Rollout{Task: task, N: 2, Rows: []int{0, 0}, Programs: []string{"a"}}).Execute(Passed)
	})
	returnsError(t, "Mask with short lengths", "lengths", func() error {
		_, err := (&Rollout{N: 2, Rows: []int{0, 0}, T: 2, Tokens: make([]int32, 4), Lengths: []int{1}}).Mask()
		return err
	})
	returnsError(t, "Mask with a length past T", "length 3", func() error {
		_, err := (&Rollout{N: 1, Rows: []int{0}, T: 2, Tokens: make([]int32, 2), Lengths: []int{3}}).Mask()
		return err
	})
	returnsError(t, "RolloutOf(row out of range)", "outside", func() error { _, err := RolloutOf(nil, task, []int{1}, []string{"a"}); return err })
	returnsError(t, "RolloutOf(2 rows, 1 program)", "2 rows for 1 programs", func() error {
		_, err := RolloutOf(nil, task, []int{0, 0}, []string{"a"})
		return err
	})
	returnsError(t, "RolloutOf(nil task)", "task", func() error { _, err := RolloutOf(nil, nil, []int{0}, []string{"a"}); return err })
	returnsError(t, "Sample(nil task)", "task", func() error { _, err := Sample(nil, nil, []int{0}, 1); return err })
}

// TestRolloutOfWithPolicy builds the rollout the EGCA notebook shows: given programs encoded by a
// policy (one id per word, then the end token), executed, then EGCA's mask on GRPO's advantages.
func TestRolloutOfWithPolicy(t *testing.T) {
	task := wordTask(t)
	pol := wordPolicy2{words: []string{"a", "b", "c", "+", "-", "*"}, batch: 4}
	cands := []string{"a b + c *", "a b + c -", "a b - c *"}
	ro, err := RolloutOf(pol, task, []int{0, 0, 0}, cands)
	if err != nil {
		t.Fatal(err)
	}
	if ro.N != 3 || len(ro.Rows) != 4 || ro.T != pol.MaxTokens() || ro.Lengths[1] != 6 || ro.Programs[3] != cands[0] {
		t.Fatalf("rollout N %d, rows %v, T %d, lengths %v, programs %q", ro.N, ro.Rows, ro.T, ro.Lengths, ro.Programs)
	}
	if err := ro.Execute(Passed); err != nil {
		t.Fatal(err)
	}
	if ro.Rewards[0] != 1 || ro.Rewards[1] != 0 || ro.Rewards[2] != 0 {
		t.Fatalf("rewards %v, want 1 0 0", ro.Rewards)
	}
	seqAdv, err := GroupAdvantages(ro.Rewards, 3)
	if err != nil {
		t.Fatal(err)
	}
	mask, err := ro.Mask()
	if err != nil {
		t.Fatal(err)
	}
	adv, err := TokenAdvantages(ro, seqAdv)
	if err != nil {
		t.Fatal(err)
	}
	if adv[0] == 0 || adv[ro.Lengths[0]] != 0 || adv[3*ro.T] != 0 {
		t.Fatalf("token advantages %v: want row 0's advantage on its %d positions only", adv[:ro.T+1], ro.Lengths[0])
	}
	returnsError(t, "TokenAdvantages(short)", "advantages", func() error { _, err := TokenAdvantages(ro, seqAdv[:1]); return err })
	returnsError(t, "EGCAMask(short advantages)", "advantages", func() error {
		_, err := EGCAMask(ro, seqAdv[:2], adv, mask)
		return err
	})
	n, err := EGCAMask(ro, seqAdv, adv, mask)
	if err != nil || n != 2 {
		t.Fatalf("EGCAMask localised %d rows (%v), want 2", n, err)
	}
	// "a b + c -" diverges at "-" (token 4): the advantage is there alone, the end token is masked.
	if p := ro.Samples[1].DivergencePos; p != 4 || adv[ro.T+4] >= 0 || adv[ro.T+3] != 0 || mask[ro.T+3] != 1 || mask[ro.T+5] != 0 {
		t.Errorf("divergence %d, advantages %v, mask %v", p, adv[ro.T:ro.T+6], mask[ro.T:ro.T+6])
	}
}
