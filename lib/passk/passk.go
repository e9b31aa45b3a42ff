// Package passk computes pass@k, the probability that at least one of k sampled programs passes
// all tests (Chen et al., 2021), from n samples per problem of which c passed.
//
// Unbiased is the estimator of the reference HumanEval harness: 1 - C(n-c, k) / C(n, k), the
// chance that k samples drawn without replacement from the n include a passing one, computed as
// the numerically stable product 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no large binomials).
//
// SeedProduct is seed 004's formula, pass@k = 1 - prod_{i=1}^{k} (1 - p_i), where p_i is the
// probability that the i-th generated program passes. It needs per-sample probabilities rather
// than counts: with 0/1 verdicts of the first k samples it is "did one of the first k pass", an
// order-dependent, high-variance reading; with every p_i set to the pass rate c/n (WithReplacement)
// it is 1 - (1 - c/n)^k, which treats the k draws as independent (with replacement) and therefore
// is at most Unbiased (equal when k = 1 or c is 0 or n). For n=5, c=2, k=2: Unbiased 0.7,
// WithReplacement 0.64. Report Unbiased; the others exist to compare with seed 004's text.
package passk

import (
	"fmt"
	"math"
)

// Unbiased returns 1 - C(n-c, k)/C(n, k) for n samples of which c passed. It is 1 when fewer
// than k samples failed (n-c < k). It returns NaN for impossible arguments (k < 1, k > n, c < 0 or
// c > n), where pass@k cannot be estimated from n samples.
func Unbiased(n, c, k int) float64 {
	if k < 1 || k > n || c < 0 || c > n {
		return math.NaN()
	}
	if n-c < k {
		return 1
	}
	prod := 1.0
	for i := n - c + 1; i <= n; i++ {
		prod *= 1 - float64(k)/float64(i)
	}
	return 1 - prod
}

// SeedProduct returns seed 004's 1 - prod_{i=1}^{k} (1 - p[i-1]): the probability that one of the
// first k programs passes when the i-th passes independently with probability p[i-1]. It returns
// NaN when k < 1 or len(p) < k.
func SeedProduct(p []float64, k int) float64 {
	if k < 1 || len(p) < k {
		return math.NaN()
	}
	prod := 1.0
	for _, pi := range p[:k] {
		prod *= 1 - pi
	}
	return 1 - prod
}

// WithReplacement is SeedProduct with every p_i equal to the pass rate c/n: 1 - (1 - c/n)^k.
// Unlike Unbiased it is defined for k > n. It returns NaN for n < 1, c outside [0, n] or k < 1.
func WithReplacement(n, c, k int) float64 {
	if n < 1 || c < 0 || c > n || k < 1 {
		return math.NaN()
	}
	return 1 - math.Pow(1-float64(c)/float64(n), float64(k))
}

// Count is the number of samples of one problem and how many of them passed.
type Count struct{ N, C int }

// Mean averages Unbiased(n, c, k) over problems. Like the reference harness it refuses a k that
// some problem has fewer than k samples for (an error naming the first such problem's index).
func Mean(counts []Count, k int) (float64, error) {
	if len(counts) == 0 {
		return 0, fmt.Errorf("passk: no problems")
	}
	sum := 0.0
	for i, c := range counts {
		if c.C < 0 || c.C > c.N {
			return 0, fmt.Errorf("passk: problem %d: %d passed out of %d", i, c.C, c.N)
		}
		if c.N < k {
			return 0, fmt.Errorf("passk: pass@%d needs at least %d samples per problem; problem %d has %d", k, k, i, c.N)
		}
		sum += Unbiased(c.N, c.C, k)
	}
	return sum / float64(len(counts)), nil
}

// Result is pass@k for one k averaged over problems, with seed 004's with-replacement figure.
type Result struct {
	K int
	// Unbiased is the mean of Unbiased over problems; NaN when OK is false.
	Unbiased float64
	// Seed is the mean of WithReplacement (seed 004's product with p_i = c/n).
	Seed float64
	// OK is false when some problem has fewer than K samples (Unbiased is then undefined).
	OK bool
}

// Table computes a Result for every k in ks.
func Table(counts []Count, ks []int) []Result {
	out := make([]Result, 0, len(ks))
	for _, k := range ks {
		r := Result{K: k, Unbiased: math.NaN()}
		if v, err := Mean(counts, k); err == nil {
			r.Unbiased, r.OK = v, true
		}
		seed := 0.0
		for _, c := range counts {
			seed += WithReplacement(c.N, c.C, k)
		}
		if len(counts) > 0 {
			r.Seed = seed / float64(len(counts))
		} else {
			r.Seed = math.NaN()
		}
		out = append(out, r)
	}
	return out
}
