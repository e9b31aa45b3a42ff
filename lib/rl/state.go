package rl

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"math/rand/v2"
)

// A long run saves its state part way and continues from it later (lib/experiment's
// checkpoints). Most of a method's state is in its policy's store - the weights, the critic or
// value head, the optimizer's moments, the random number generator sampling draws from - which a
// checkpoint saves whole (trainer.Marshal). What a method keeps in Go between Iterate calls (an
// iteration counter, a Go-side random stream) it saves through Stateful, and the prompt sampler
// through MarshalBinary. Restored, the next Iterate does exactly what it would have done had the
// run never stopped.

// Stateful is a Method that keeps state of its own across Iterate calls, outside its policy's
// store. MarshalState encodes it; UnmarshalState, called on a method built with the same
// configuration before its first Iterate, restores it. A method whose whole state is in the store
// (GRPO, PPO, DPO) need not implement it.
type Stateful interface {
	MarshalState() ([]byte, error)
	UnmarshalState(data []byte) error
}

// encodeState gob-encodes a method's or sampler's state.
func encodeState(what string, v any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(v); err != nil {
		return nil, fmt.Errorf("rl: %s state: %w", what, err)
	}
	return b.Bytes(), nil
}

// decodeState reads what encodeState wrote.
func decodeState(what string, data []byte, v any) error {
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		return fmt.Errorf("rl: %s state: %w", what, err)
	}
	return nil
}

// reinforceState is what Reinforce keeps across iterations: the iteration count (the critic's
// warm-up, the CE steps' cadence) and the random stream of the CE steps' examples.
type reinforceState struct {
	Iter int
	RNG  []byte // rand.PCG.MarshalBinary
}

// MarshalState encodes the iteration count and the random stream (Stateful).
func (m *Reinforce) MarshalState() ([]byte, error) {
	rng, err := m.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return encodeState(m.Name(), reinforceState{Iter: m.iter, RNG: rng})
}

// UnmarshalState restores what MarshalState encoded (Stateful).
func (m *Reinforce) UnmarshalState(data []byte) error {
	var s reinforceState
	if err := decodeState(m.Name(), data, &s); err != nil {
		return err
	}
	if err := m.src.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("rl: %s state: %w", m.Name(), err)
	}
	m.iter = s.Iter
	return nil
}

// promptsState is a Prompts sampler part way through a pass.
type promptsState struct {
	N, Per, Group int
	RNG           []byte // rand.PCG.MarshalBinary
	Order         []int
	Pos           int
}

// MarshalBinary encodes the sampler's place: its random stream and the pass it is in.
func (p *Prompts) MarshalBinary() ([]byte, error) {
	rng, err := p.src.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return encodeState("prompt sampler", promptsState{N: p.N, Per: p.Per, Group: p.Group, RNG: rng, Order: p.order, Pos: p.pos})
}

// UnmarshalBinary restores a sampler's place from MarshalBinary's bytes; the sampler must have
// the same sizes (prompts, prompts per batch, group).
func (p *Prompts) UnmarshalBinary(data []byte) error {
	var s promptsState
	if err := decodeState("prompt sampler", data, &s); err != nil {
		return err
	}
	if s.N != p.N || s.Per != p.Per || s.Group != p.Group {
		return fmt.Errorf("rl: prompt sampler state of %d prompts, %d per batch, group %d restored into one of %d, %d, %d",
			s.N, s.Per, s.Group, p.N, p.Per, p.Group)
	}
	if s.Pos < 0 || s.Pos > len(s.Order) || (s.Order != nil && len(s.Order) != s.N) {
		return fmt.Errorf("rl: prompt sampler state at %d of a pass of %d prompts (want %d)", s.Pos, len(s.Order), s.N)
	}
	src := new(rand.PCG)
	if err := src.UnmarshalBinary(s.RNG); err != nil {
		return fmt.Errorf("rl: prompt sampler state: %w", err)
	}
	*p.src = *src
	p.order, p.pos = s.Order, s.Pos
	return nil
}
