package pytask

import (
	"context"
	"testing"

	"github.com/execfeed/execfeed/lib/rl"
	"github.com/execfeed/execfeed/sandbox"
)

// traced runs program src against tests with a line trace.
func traced(t *testing.T, pool *sandbox.Pool, src string, tests []string) sandbox.Result {
	t.Helper()
	var ts []sandbox.Test
	for _, a := range tests {
		ts = append(ts, sandbox.Test{Code: a})
	}
	r, err := pool.Run(context.Background(), sandbox.Program{Lang: sandbox.Python, Source: src}, ts, sandbox.Options{Trace: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDivergenceAndStepsCorrect checks seed 003's and seed 001's rules on hand-built Python
// candidate / reference pairs run in the sandbox: the divergent line and its byte span, and
// rewrites that are not divergences.
func TestDivergenceAndStepsCorrect(t *testing.T) {
	pool := newPool(t)
	sumSq := "def f(xs):\n    total = 0\n    for x in xs:\n        total += x * x\n    return total\n"
	posList := "def f(xs):\n    return [x * x for x in xs if x > 0]\n"
	addAB := "def f(a, b):\n    s = a + b\n    r = s * 2\n    return r\n"
	listTests := []string{"assert f([1, 2, 3]) == 14", "assert f([-2, 4]) == 20"}
	for _, tc := range []struct {
		name, ref, cand string
		tests           []string
		line            int // 0: no divergence
		span            string
	}{
		{"comprehension for a loop is not a divergence", sumSq,
			"def f(xs):\n    return sum(x * x for x in xs)\n", listTests, 0, ""},
		{"a loop that builds the list a comprehension returns is not a divergence", posList,
			"def f(xs):\n    out = []\n    for x in xs:\n        if x > 0:\n            out.append(x * x)\n    return out\n",
			[]string{"assert f([1, -2, 3]) == [1, 9]", "assert f([4]) == [16]"}, 0, ""},
		{"a commuted sum is not a divergence", addAB,
			"def f(a, b):\n    s = b + a\n    r = 2 * s\n    return r\n", []string{"assert f(1, 2) == 6", "assert f(-4, 1) == -6"}, 0, ""},
		{"a wrong accumulation diverges where it first writes a new value", sumSq,
			"def f(xs):\n    total = 0\n    for x in xs:\n        total += x * 2\n    return total\n", listTests, 4, "        total += x * 2"},
		{"a wrong second step diverges at that step, not at the correct first one", addAB,
			"def f(a, b):\n    s = a + b\n    r = s * 3\n    return r\n", []string{"assert f(1, 2) == 6", "assert f(-4, 1) == -6"}, 3, "    r = s * 3"},
		{"an early return inside the loop is blamed at the return, not where a later call falls off the end", sumSq,
			"def f(xs):\n    total = 0\n    for x in xs:\n        total += x * x\n        return total\n",
			[]string{"assert f([1, 2, 3]) == 14", "assert f([]) == 0"}, 5, "        return total"},
		{"returning an intermediate value blames the return", addAB,
			"def f(a, b):\n    s = a + b\n    return s\n", []string{"assert f(1, 2) == 6", "assert f(-4, 1) == -6"}, 3, "    return s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := traced(t, pool, tc.ref, tc.tests)
			if ref.Outcome != sandbox.PassedTest {
				t.Fatalf("reference: %s %s", ref.Outcome, ref.Error)
			}
			res := traced(t, pool, tc.cand, tc.tests)
			p := rl.Prompt{Reference: tc.ref}
			start, end, ok, err := Language{}.Divergence(p, tc.cand, res, ref)
			if err != nil {
				t.Fatal(err)
			}
			steps := Language{}.StepsCorrect(p, res, ref)
			all := len(Events(res.Trace))
			if tc.line == 0 {
				if ok {
					t.Errorf("divergence at %q, want none (events %+v)", tc.cand[start:end], Events(res.Trace))
				}
				if steps != all {
					t.Errorf("steps correct %d, want all %d", steps, all)
				}
				return
			}
			if !ok || tc.cand[start:end] != tc.span {
				t.Fatalf("divergence ok %v span %q, want %q (events %+v)", ok, tc.cand[start:end], tc.span, Events(res.Trace))
			}
			if steps >= all {
				t.Errorf("steps correct %d of %d events: a divergent program must stop short", steps, all)
			}
		})
	}
	// Seed 001's preference between two failing programs: the one that goes wrong later wins.
	tests := []string{"assert f(1, 2) == 6", "assert f(-4, 1) == -6"}
	ref := traced(t, pool, addAB, tests)
	early := traced(t, pool, "def f(a, b):\n    s = a - b\n    r = s * 2\n    return r\n", tests)
	late := traced(t, pool, "def f(a, b):\n    s = a + b\n    r = s * 3\n    return r\n", tests)
	p := rl.Prompt{Reference: addAB}
	if e, l := (Language{}).StepsCorrect(p, early, ref), (Language{}).StepsCorrect(p, late, ref); e >= l {
		t.Errorf("steps correct: wrong first step %d, wrong second step %d; want the first smaller", e, l)
	}
}

// TestDivergenceSpanAfterPrefix maps a divergent line of a HumanEval-style program (prompt +
// completion) into the completion.
func TestDivergenceSpanAfterPrefix(t *testing.T) {
	pool := newPool(t)
	prefix := "def f(a, b):\n    \"\"\"Twice the sum.\"\"\"\n"
	ref := "    s = a + b\n    return 2 * s\n"
	cand := "    s = a - b\n    return 2 * s\n"
	tests := []string{"assert f(1, 2) == 6"}
	p := rl.Prompt{Prefix: prefix, Reference: ref}
	start, end, ok, err := Language{}.Divergence(p, cand, traced(t, pool, prefix+cand, tests), traced(t, pool, prefix+ref, tests))
	if err != nil || !ok || cand[start:end] != "    s = a - b" {
		t.Fatalf("span [%d,%d) ok %v err %v", start, end, ok, err)
	}
}
