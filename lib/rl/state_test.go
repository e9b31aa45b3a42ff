package rl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPromptsStateResumes: a sampler restored from the bytes of another part way through a pass
// (and at a pass's end) gives the batches the original gives next; a sampler of other sizes
// refuses them.
func TestPromptsStateResumes(t *testing.T) {
	for _, before := range []int{0, 2, 3, 7} { // 10 prompts, 3 per batch: a pass is 3 batches
		a, _ := NewPrompts(10, 3, 2, 5)
		for range before {
			a.Next()
		}
		data, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewPrompts(10, 3, 2, 99) // another seed: everything must come from the bytes
		if err := b.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		for i := range 8 {
			if x, y := a.Next(), b.Next(); !slices.Equal(x, y) {
				t.Fatalf("after %d batches, batch %d: restored %v, original %v", before, i, y, x)
			}
		}
	}
	a, _ := NewPrompts(10, 3, 2, 5)
	data, _ := a.MarshalBinary()
	other, _ := NewPrompts(10, 3, 1, 5)
	if err := other.UnmarshalBinary(data); err == nil || !strings.Contains(err.Error(), "group 2") {
		t.Errorf("state of group 2 restored into a sampler of group 1: %v", err)
	}
	if err := other.UnmarshalBinary([]byte("not gob")); err == nil {
		t.Errorf("garbage restored")
	}
}

// TestReinforceStateResumes: Reinforce's iteration count and its random stream (the CE steps'
// examples) come back from MarshalState.
func TestReinforceStateResumes(t *testing.T) {
	a := &Reinforce{}
	b := &Reinforce{}
	for i, m := range []*Reinforce{a, b} {
		m.src = rand.NewPCG(uint64(i+1), 41)
		m.rng = rand.New(m.src)
	}
	a.iter = 7
	a.rng.Perm(20)
	data, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	if b.iter != 7 {
		t.Errorf("iteration %d, want 7", b.iter)
	}
	if x, y := a.rng.Perm(20), b.rng.Perm(20); !slices.Equal(x, y) {
		t.Errorf("restored random stream %v, original %v", y, x)
	}
}
