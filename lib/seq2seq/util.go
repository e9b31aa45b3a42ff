package seq2seq

import (
	"math"
	"sort"
)

func sqrtf(n int) float64 { return math.Sqrt(float64(n)) }

func sortStrings(s []string) { sort.Strings(s) }
