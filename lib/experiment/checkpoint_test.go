package experiment

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type testState struct {
	Step  int
	Curve []float64
}

type testConfig struct {
	Iters int            `json:"iters"`
	LR    float64        `json:"lr"`
	Sub   map[string]int `json:"sub"`
}

func TestCheckpointRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := CheckpointPath(dir)
	cfg := testConfig{Iters: 8, LR: 0.1, Sub: map[string]int{"a": 1}}
	if err := LoadCheckpoint(path, "x", cfg, &testState{}); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("missing checkpoint: got %v, want ErrNoCheckpoint", err)
	}
	want := testState{Step: 3, Curve: []float64{0.5, 0.25}}
	if err := SaveCheckpoint(path, "x", cfg, want); err != nil {
		t.Fatal(err)
	}
	var got testState
	if err := LoadCheckpoint(path, "x", cfg, &got); err != nil {
		t.Fatal(err)
	}
	if got.Step != 3 || len(got.Curve) != 2 || got.Curve[1] != 0.25 {
		t.Fatalf("round trip: got %+v, want %+v", got, want)
	}
	// Another experiment, other settings: errors that name what differs.
	if err := LoadCheckpoint(path, "y", cfg, &got); err == nil || !strings.Contains(err.Error(), "of experiment x, not y") {
		t.Errorf("other experiment: got %v", err)
	}
	other := testConfig{Iters: 4, LR: 0.1, Sub: map[string]int{"a": 2}}
	err := LoadCheckpoint(path, "x", other, &got)
	if err == nil || !strings.Contains(err.Error(), "iters: 8 != 4") || !strings.Contains(err.Error(), "sub.a: 1 != 2") || strings.Contains(err.Error(), "lr:") {
		t.Errorf("other settings: got %v, want the two differing settings named", err)
	}
	// A flipped byte and a truncated file are corrupt, never a silent load.
	b, _ := os.ReadFile(path)
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)-40] ^= 0xff
	for name, data := range map[string][]byte{"flipped": flipped, "truncated": b[:len(b)/2], "empty": nil} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := LoadCheckpoint(path, "x", cfg, &got); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s checkpoint: got %v, want a corrupt-checkpoint error", name, err)
		}
	}
	// Atomic writes leave no temporary files behind.
	if err := SaveCheckpoint(path, "x", cfg, want); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		t.Errorf("folder after saves holds %v, want only %s", entries, CheckpointName)
	}
}
