package experiment

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestBuiltBeforeHead: a binary file older than the source tree's head commit is flagged (its
// recorded revision may not be the code that ran), a fresh one is not.
func TestBuiltBeforeHead(t *testing.T) {
	dir, _ := os.Getwd()
	if exec.Command("git", "-C", dir, "rev-parse", "HEAD").Run() != nil {
		t.Skip("not in a git tree")
	}
	exe := filepath.Join(t.TempDir(), "kernel")
	if err := os.WriteFile(exe, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if builtBeforeHead(exe, dir) {
		t.Error("a binary built now is flagged as older than the head commit")
	}
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(exe, old, old); err != nil {
		t.Fatal(err)
	}
	if !builtBeforeHead(exe, dir) {
		t.Error("a binary from 2001 is not flagged as older than the head commit")
	}
	if builtBeforeHead(filepath.Join(t.TempDir(), "missing"), dir) {
		t.Error("a missing executable is flagged")
	}
}
