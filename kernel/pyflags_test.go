package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestPyModelFlagsAccepted: the transformer's flags pass their checks with a checkpoint directory
// and a problems file, and reach the point where training would start.
func TestPyModelFlagsAccepted(t *testing.T) {
	stopBeforeTraining(t)
	dir, _, _ := tinyLMDir(t)
	problems, err := filepath.Abs(filepath.Join("..", "sandbox", "testdata", "bench_humaneval.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"py-eta", "-quick", "-model", dir, "-problems", problems, "-subset", "10", "-sft-epochs", "1", "-sft-lr", "5e-5"},
		{"py-egca", "-quick", "-model", "gpt", "-sft-cache", t.TempDir(), "-resume"},
		{"py-coderl", "-quick", "-model", "gru"},
		{"py-grpo", "-quick", "-model", "gpt"},
	} {
		if err := runExperiment(args); !errors.Is(err, errWouldTrain) {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := os.Stat(problems); err != nil {
		t.Fatal(err)
	}
}
