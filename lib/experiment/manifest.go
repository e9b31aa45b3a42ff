package experiment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Every run writes a small manifest.json to its output folder when it starts and again when it
// ends: which experiment, the command line and the flags, the commit, the hardware, the dates,
// the status (running, then finished, interrupted or failed) and where its results are. `kernel
// runs` lists the manifests under a folder and `kernel compare` sets two runs side by side; a
// notebook can read them with ReadManifest.

// ManifestName is the manifest's file name in a run's output folder.
const ManifestName = "manifest.json"

// The statuses a manifest records. A run killed outright (SIGKILL, a power cut) cannot record
// its end and stays StatusRunning; Manifest.State tells such a run from a live one.
const (
	StatusRunning     = "running"
	StatusFinished    = "finished"
	StatusInterrupted = "interrupted" // stopped by Ctrl-C / SIGTERM with a checkpoint: it can be resumed
	StatusFailed      = "failed"
)

// States Manifest.State adds to the recorded statuses, for a run recorded as running.
const (
	StateKilled  = "killed"   // its process is gone from this host: killed without a chance to record it
	StateUnknown = "running?" // it ran on another host, where this one cannot look
)

// Manifest describes one run of an experiment.
type Manifest struct {
	Experiment string `json:"experiment"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"` // why a failed run failed, or where an interrupted one left its checkpoint
	Quick      bool   `json:"quick"`
	// Command is the whole command line; Flags the flags it set (name -> value, without the
	// leading dash), enough to run the experiment again (`kernel run -resume DIR` does).
	Command []string          `json:"command"`
	Flags   map[string]string `json:"flags,omitempty"`
	// From is the results file a `kernel run -from` rerun reran.
	From     string `json:"from,omitempty"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"` // the tree had uncommitted changes
	Hardware string `json:"hardware"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	// Start is when the run first started; a resumed run keeps it and counts its Resumes.
	Start   time.Time `json:"start"`
	End     time.Time `json:"end,omitzero"`
	Resumes int       `json:"resumes,omitempty"`
	// Results is the results file, relative to the manifest's folder.
	Results string `json:"results"`
}

// NewManifest describes a run of experiment that starts now in this process, with status running.
func NewManifest(experiment string, quick bool, command []string) *Manifest {
	b := ReadBuild()
	host, _ := os.Hostname()
	return &Manifest{Experiment: experiment, Status: StatusRunning, Quick: quick, Command: command,
		Commit: b.Revision, Modified: b.Modified, Hardware: Hardware(), Host: host, PID: os.Getpid(),
		Start: time.Now().UTC().Truncate(time.Second), Results: "results.json"}
}

// ManifestPath is dir/manifest.json.
func ManifestPath(dir string) string { return filepath.Join(dir, ManifestName) }

// WriteManifest writes m to dir/manifest.json, atomically.
func WriteManifest(dir string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(ManifestPath(dir), append(b, '\n'), 0o644)
}

// ReadManifest reads the manifest of the run folder dir (or the manifest file dir names).
func ReadManifest(dir string) (*Manifest, error) {
	path := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		path = ManifestPath(dir)
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no run manifest at %s (every `kernel run` writes one to its output folder): %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a run manifest: %w", path, err)
	}
	if m.Experiment == "" || m.Status == "" {
		return nil, fmt.Errorf("%s: not a run manifest (no experiment or status)", path)
	}
	return &m, nil
}

// Begin writes m to dir as a run that starts now, with status running; a resumed run keeps the
// start date of the manifest already in dir and counts the resumption.
func (m *Manifest) Begin(dir string, resume bool) error {
	if resume {
		if old, err := ReadManifest(dir); err == nil && old.Experiment == m.Experiment {
			m.Start, m.Resumes = old.Start, old.Resumes+1
		}
	}
	m.Status, m.Error, m.End = StatusRunning, "", time.Time{}
	if err := WriteManifest(dir, m); err != nil {
		return fmt.Errorf("run manifest: %w", err)
	}
	return nil
}

// Finish records in dir how the run ended: finished (err nil), interrupted (err is an
// *Interrupted) or failed (with err's text).
func (m *Manifest) Finish(dir string, err error) error {
	m.End = time.Now().UTC().Truncate(time.Second)
	m.Error = ""
	var in *Interrupted
	switch {
	case err == nil:
		m.Status = StatusFinished
	case errors.As(err, &in):
		m.Status, m.Error = StatusInterrupted, in.Error()
	default:
		m.Status, m.Error = StatusFailed, err.Error()
	}
	if err := WriteManifest(dir, m); err != nil {
		return fmt.Errorf("run manifest: %w", err)
	}
	return nil
}

// State is the run's status as it stands now: the recorded one, except that a run recorded as
// running whose process is gone from this host is StateKilled, and one recorded as running on
// another host is StateUnknown.
func (m *Manifest) State() string {
	if m.Status != StatusRunning {
		return m.Status
	}
	if host, _ := os.Hostname(); m.Host != host || m.PID <= 0 {
		return StateUnknown
	}
	if !processAlive(m.PID) {
		return StateKilled
	}
	return StatusRunning
}

// Duration is how long the run took (until now, for a running one): End - Start, including the
// time between an interruption and its resumption.
func (m *Manifest) Duration() time.Duration {
	end := m.End
	if end.IsZero() || end.Before(m.Start) {
		if m.State() != StatusRunning {
			return 0
		}
		end = time.Now()
	}
	return end.Sub(m.Start)
}

// processAlive reports whether a process with this pid exists on this host.
func processAlive(pid int) bool {
	if runtime.GOOS == "windows" {
		return true // cannot probe; better "running" than a false "killed"
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	if err != nil && !errors.Is(err, syscall.EPERM) { // EPERM: alive, another user's
		return false
	}
	// A killed process whose parent has not reaped it yet (a zombie) still answers signal 0.
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}

// Track records a run of body in dir's manifest (Begin, then Finish with body's error). It
// returns body's error, joined with any error writing the final manifest.
func Track(dir string, m *Manifest, resume bool, body func() error) error {
	if err := m.Begin(dir, resume); err != nil {
		return err
	}
	err := body()
	if werr := m.Finish(dir, err); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
