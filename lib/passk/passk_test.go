package passk

import (
	"math"
	"math/big"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestUnbiasedHandComputed(t *testing.T) {
	// n=5, c=2: 1 - C(3,k)/C(5,k) = 1 - 3/5, 1 - 3/10, 1 - 1/10, 1 - 0, 1 - 0.
	want := []float64{0.4, 0.7, 0.9, 1, 1}
	for k := 1; k <= 5; k++ {
		if got := Unbiased(5, 2, k); !near(got, want[k-1]) {
			t.Errorf("Unbiased(5,2,%d) = %v, want %v", k, got, want[k-1])
		}
	}
	cases := []struct {
		n, c, k int
		want    float64
	}{
		{10, 0, 1, 0}, {10, 10, 1, 1}, {10, 1, 1, 0.1}, {10, 1, 10, 1}, {4, 1, 2, 0.5}, {200, 1, 100, 0.5},
	}
	for _, tc := range cases {
		if got := Unbiased(tc.n, tc.c, tc.k); !near(got, tc.want) {
			t.Errorf("Unbiased(%d,%d,%d) = %v, want %v", tc.n, tc.c, tc.k, got, tc.want)
		}
	}
	for _, bad := range [][3]int{{5, 2, 0}, {5, 2, 6}, {5, 6, 1}, {5, -1, 1}} {
		if got := Unbiased(bad[0], bad[1], bad[2]); !math.IsNaN(got) {
			t.Errorf("Unbiased%v = %v, want NaN", bad, got)
		}
	}
}

// The product form agrees with exact binomials, including where C(n,k) overflows float64.
func TestUnbiasedMatchesBinomials(t *testing.T) {
	for _, n := range []int{1, 7, 50, 200, 1500} {
		for _, c := range []int{0, 1, n / 3, n / 2, n - 1, n} {
			for _, k := range []int{1, 2, 10, 100, n} {
				if k > n || c < 0 {
					continue
				}
				num := new(big.Int).Binomial(int64(n-c), int64(k))
				if n-c < k {
					num.SetInt64(0)
				}
				den := new(big.Int).Binomial(int64(n), int64(k))
				ratio, _ := new(big.Rat).SetFrac(num, den).Float64()
				if got, want := Unbiased(n, c, k), 1-ratio; math.Abs(got-want) > 1e-9 {
					t.Errorf("Unbiased(%d,%d,%d) = %v, exact %v", n, c, k, got, want)
				}
			}
		}
	}
}

func TestSeedProduct(t *testing.T) {
	p := []float64{0.8, 0.6, 0.4, 0.2, 0.1}
	// Seed 004's worked example: pass@2 = 1 - 0.2*0.4 = 0.92.
	if got := SeedProduct(p, 2); !near(got, 0.92) {
		t.Errorf("SeedProduct(p, 2) = %v, want 0.92", got)
	}
	if got := SeedProduct(p, 1); !near(got, 0.8) {
		t.Errorf("SeedProduct(p, 1) = %v, want 0.8", got)
	}
	if !math.IsNaN(SeedProduct(p, 6)) || !math.IsNaN(SeedProduct(p, 0)) {
		t.Error("SeedProduct outside 1..len(p) should be NaN")
	}
	// With replacement: n=5, c=2, k=2 -> 1 - 0.6^2 = 0.64 < Unbiased 0.7.
	if got := WithReplacement(5, 2, 2); !near(got, 0.64) {
		t.Errorf("WithReplacement(5,2,2) = %v, want 0.64", got)
	}
	for k := 1; k <= 5; k++ {
		if WithReplacement(5, 2, k) > Unbiased(5, 2, k)+1e-15 {
			t.Errorf("k=%d: with replacement %v exceeds unbiased %v", k, WithReplacement(5, 2, k), Unbiased(5, 2, k))
		}
	}
	if !near(WithReplacement(5, 2, 1), Unbiased(5, 2, 1)) {
		t.Error("with k=1 the two estimators must agree")
	}
}

func TestMeanAndTable(t *testing.T) {
	counts := []Count{{5, 2}, {5, 0}, {5, 5}}
	got, err := Mean(counts, 1)
	if err != nil || !near(got, (0.4+0+1)/3) {
		t.Errorf("Mean k=1 = %v, %v", got, err)
	}
	if _, err := Mean(counts, 6); err == nil {
		t.Error("Mean with k > n should fail")
	}
	if _, err := Mean([]Count{{3, 4}}, 1); err == nil {
		t.Error("Mean with c > n should fail")
	}
	tab := Table(counts, []int{1, 2, 10})
	if len(tab) != 3 || !tab[0].OK || !near(tab[1].Unbiased, (0.7+0+1)/3) || tab[2].OK || !math.IsNaN(tab[2].Unbiased) {
		t.Errorf("Table = %+v", tab)
	}
	if !near(tab[1].Seed, (0.64+0+1)/3) {
		t.Errorf("Table seed k=2 = %v", tab[1].Seed)
	}
}
