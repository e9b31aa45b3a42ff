package experiment

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestManifestTrack: Track writes a running manifest before the body runs and the outcome after:
// finished, interrupted (an *Interrupted, possibly wrapped) or failed with the error's text; a
// resumed run keeps the first start date and counts the resumption.
func TestManifestTrack(t *testing.T) {
	dir := t.TempDir()
	m := NewManifest("rpn-egca", true, []string{"kernel", "run", "rpn-egca", "-quick"})
	m.Flags = map[string]string{"quick": "true"}
	if m.Commit != ReadBuild().Revision || m.Hardware == "" || m.PID != os.Getpid() || m.Results != "results.json" {
		t.Errorf("new manifest lacks provenance: %+v", m)
	}
	err := Track(dir, m, false, func() error {
		seen, err := ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		if seen.Status != StatusRunning || seen.State() != StatusRunning || !seen.End.IsZero() {
			t.Errorf("during the run: status %q state %q end %v, want running", seen.Status, seen.State(), seen.End)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusFinished || got.Error != "" || got.End.IsZero() || got.Flags["quick"] != "true" || !got.Quick {
		t.Errorf("after a finished run: %+v", got)
	}
	first := got.Start

	interrupted := &Interrupted{Experiment: "rpn-egca", Checkpoint: CheckpointPath(dir)}
	err = Track(dir, NewManifest("rpn-egca", true, nil), true, func() error { return wrap(interrupted) })
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Track returned %v, want the body's error", err)
	}
	got, _ = ReadManifest(dir)
	if got.Status != StatusInterrupted || !strings.Contains(got.Error, "checkpoint saved") || got.Resumes != 1 || !got.Start.Equal(first) {
		t.Errorf("after an interrupted resumed run: status %q error %q resumes %d start %v (first %v)", got.Status, got.Error, got.Resumes, got.Start, first)
	}

	err = Track(dir, NewManifest("rpn-egca", true, nil), false, func() error { return errors.New("out of memory") })
	got, _ = ReadManifest(dir)
	if err == nil || got.Status != StatusFailed || got.Error != "out of memory" || got.Resumes != 0 {
		t.Errorf("after a failed run: err %v, manifest %+v", err, got)
	}
	if _, err := os.Stat(filepath.Join(dir, ManifestName)); err != nil {
		t.Error(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func wrap(err error) error { return errors.Join(errors.New("rl"), err) }

// TestManifestState: a run recorded as running whose process is gone is "killed"; one from
// another host is "running?"; a finished one is what it recorded.
func TestManifestState(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true(1):", err)
	}
	host, _ := os.Hostname()
	m := &Manifest{Experiment: "rpn-def", Status: StatusRunning, Host: host, PID: cmd.Process.Pid, Start: time.Now().Add(-time.Minute)}
	if s := m.State(); s != StateKilled {
		t.Errorf("a dead process's run: state %q, want %q", s, StateKilled)
	}
	if d := m.Duration(); d != 0 {
		t.Errorf("a killed run's duration %v, want 0 (unknown)", d)
	}
	// Killed but not yet reaped by its parent (a zombie): killed too.
	zombie := exec.Command("sleep", "60")
	if err := zombie.Start(); err == nil {
		zombie.Process.Kill()
		time.Sleep(200 * time.Millisecond) // the kernel makes it a zombie; nobody waits for it yet
		m.PID = zombie.Process.Pid
		if s := m.State(); s != StateKilled {
			t.Errorf("a killed, unreaped process's run: state %q, want %q", s, StateKilled)
		}
		zombie.Wait()
	}
	m.PID = os.Getpid()
	if s := m.State(); s != StatusRunning {
		t.Errorf("this process's run: state %q, want running", s)
	}
	if d := m.Duration(); d < time.Minute {
		t.Errorf("a running run's duration %v, want at least a minute", d)
	}
	m.Host = host + "-elsewhere"
	if s := m.State(); s != StateUnknown {
		t.Errorf("another host's run: state %q, want %q", s, StateUnknown)
	}
	m.Status, m.End = StatusFinished, m.Start.Add(90*time.Second)
	if s, d := m.State(), m.Duration(); s != StatusFinished || d != 90*time.Second {
		t.Errorf("a finished run: state %q duration %v", s, d)
	}
}

// TestReadManifestErrors: a missing manifest and a file that is not one are errors that say so.
func TestReadManifestErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "no run manifest") {
		t.Errorf("missing manifest: %v", err)
	}
	os.WriteFile(ManifestPath(dir), []byte(`{"routines": []}`), 0o644)
	if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "not a run manifest") {
		t.Errorf("not a manifest: %v", err)
	}
	os.WriteFile(ManifestPath(dir), []byte(`{`), 0o644)
	if _, err := ReadManifest(ManifestPath(dir)); err == nil || !strings.Contains(err.Error(), "not a run manifest") {
		t.Errorf("truncated manifest: %v", err)
	}
}
