package experiment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Long runs survive: every experiment saves its whole state to a checkpoint file in its output
// folder at a fixed interval and when it is interrupted, and continues from it when asked to
// resume. This file holds what the experiments share: atomic writes, the checkpoint file's
// envelope (which experiment, which configuration, a checksum), the interruption error and the
// interval clock. What a checkpoint holds is each experiment's own (rpndef.go, rl.go).

// CheckpointName is the checkpoint file's name in a run's output folder.
const CheckpointName = "checkpoint.gob"

// DefaultCheckpointEvery is how often a run saves a checkpoint when its configuration does not
// say (it also saves one at the end of every routine or method run, and when interrupted).
const DefaultCheckpointEvery = 2 * time.Minute

// LongRun is what every experiment's configuration holds for long runs (embedded, not recorded
// in results or checkpoints: none of it changes the numbers).
type LongRun struct {
	// Resume continues the unfinished run whose checkpoint is in the output folder, when it was
	// written with the same configuration; without it a checkpoint there is an error.
	Resume bool
	// Context, if set, stops the run when it is cancelled (Ctrl-C in the CLI): the run saves a
	// checkpoint and returns an *Interrupted error.
	Context context.Context
	// CheckpointEvery is the interval between checkpoints (0: DefaultCheckpointEvery).
	CheckpointEvery time.Duration
}

// CheckpointPath is the checkpoint file of a run writing to dir.
func CheckpointPath(dir string) string { return filepath.Join(dir, CheckpointName) }

// WriteFileAtomic writes data to path so that a reader (or a run killed part way) sees either
// the old file or the new one, never a mix: it writes a temporary file in the same folder,
// syncs it to disk and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename itself durable
		d.Sync()
		d.Close()
	}
	return nil
}

// ErrInterrupted is what an experiment stopped through its Context returns (as an *Interrupted).
var ErrInterrupted = errors.New("interrupted")

// Interrupted says that a run was stopped part way, and where its checkpoint is.
type Interrupted struct {
	Experiment string
	Checkpoint string // the checkpoint written on the way out ("" if none could be)
}

func (e *Interrupted) Error() string {
	if e.Checkpoint == "" {
		return e.Experiment + ": interrupted before anything could be saved"
	}
	return fmt.Sprintf("%s: interrupted; checkpoint saved to %s", e.Experiment, e.Checkpoint)
}

// Unwrap makes errors.Is(err, ErrInterrupted) true.
func (e *Interrupted) Unwrap() error { return ErrInterrupted }

// stopped reports whether ctx (nil: never) asks the run to stop.
func stopped(ctx context.Context) bool { return ctx != nil && ctx.Err() != nil }

// checkpointClock says when the interval between two checkpoints has passed.
type checkpointClock struct {
	every time.Duration
	last  time.Time
}

func newCheckpointClock(every time.Duration) *checkpointClock {
	if every == 0 {
		every = DefaultCheckpointEvery
	}
	return &checkpointClock{every: every, last: time.Now()}
}

// due reports whether a checkpoint is due, and if so restarts the interval.
func (c *checkpointClock) due() bool {
	if time.Since(c.last) < c.every {
		return false
	}
	c.last = time.Now()
	return true
}

// interruption is the error of a run of experiment stopped through its context, once it has
// tried to save its checkpoint at path (saveErr: how that went), which it reports on log.
func interruption(experiment, path string, log io.Writer, saveErr error) error {
	if saveErr != nil {
		return fmt.Errorf("%s: interrupted, and the checkpoint could not be saved: %w", experiment, saveErr)
	}
	logf(log, "%s: interrupted; checkpoint saved to %s\n", experiment, path)
	return &Interrupted{Experiment: experiment, Checkpoint: path}
}

// dropCheckpoint deletes the checkpoint of a finished run of experiment in dir.
func dropCheckpoint(dir, experiment string) error {
	if err := os.Remove(CheckpointPath(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: the run is complete, but its checkpoint remains: %w", experiment, err)
	}
	return nil
}

// readCheckpoint reads the checkpoint of experiment in dir into state when resume is set, and
// reports whether there was one (a resumed run without one starts afresh, saying so on log).
// Without resume a checkpoint in dir is an error saying what to do: add -resume, or delete it.
func readCheckpoint(dir, experiment string, config, state any, resume bool, log io.Writer) (bool, error) {
	path := CheckpointPath(dir)
	if !resume {
		if _, err := os.Stat(path); err == nil {
			return false, fmt.Errorf("%s: %s holds the checkpoint of an unfinished run: add -resume to continue it, or delete the file to start afresh",
				experiment, path)
		}
		return false, nil
	}
	err := LoadCheckpoint(path, experiment, config, state)
	if errors.Is(err, ErrNoCheckpoint) {
		logf(log, "%s: nothing to resume in %s, starting afresh\n", experiment, dir)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s -resume: %w", experiment, err)
	}
	return true, nil
}

// checkpointMagic starts every checkpoint file (its format's version is in it).
const checkpointMagic = "execfeed checkpoint v1"

// checkpointFile is the envelope of a checkpoint: which experiment and configuration wrote it,
// the experiment's state (gob), and a checksum over both.
type checkpointFile struct {
	Magic      string
	Experiment string
	Config     []byte // the configuration as JSON (the fields that decide the numbers)
	State      []byte
	Sum        [sha256.Size]byte
}

func (c *checkpointFile) sum() [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(c.Magic + "\x00" + c.Experiment + "\x00"))
	h.Write(c.Config)
	h.Write([]byte{0})
	h.Write(c.State)
	var s [sha256.Size]byte
	copy(s[:], h.Sum(nil))
	return s
}

// SaveCheckpoint writes state (any gob-encodable value) to path atomically, labelled with the
// experiment and its configuration (JSON-encodable; LoadCheckpoint refuses a checkpoint of
// another configuration).
func SaveCheckpoint(path, experiment string, config, state any) error {
	cj, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("checkpoint: configuration: %w", err)
	}
	var sb bytes.Buffer
	if err := gob.NewEncoder(&sb).Encode(state); err != nil {
		return fmt.Errorf("checkpoint: encoding state: %w", err)
	}
	c := checkpointFile{Magic: checkpointMagic, Experiment: experiment, Config: cj, State: sb.Bytes()}
	c.Sum = c.sum()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(c); err != nil {
		return fmt.Errorf("checkpoint: encoding: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return WriteFileAtomic(path, b.Bytes(), 0o644)
}

// ErrNoCheckpoint is what LoadCheckpoint returns (wrapped) when there is no checkpoint file.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LoadCheckpoint reads the checkpoint at path into state. It is an error naming the file when
// the file is missing (errors.Is ErrNoCheckpoint), corrupt or truncated, written by another
// experiment, or written with another configuration (the error lists the settings that differ, ConfigDiff).
func LoadCheckpoint(path, experiment string, config, state any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s does not exist", ErrNoCheckpoint, path)
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	var c checkpointFile
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil || c.Magic != checkpointMagic {
		return fmt.Errorf("checkpoint %s is corrupt or not a checkpoint (delete it to start afresh)", path)
	}
	if c.Sum != c.sum() {
		return fmt.Errorf("checkpoint %s is corrupt: its checksum does not match its contents (delete it to start afresh)", path)
	}
	if c.Experiment != experiment {
		return fmt.Errorf("checkpoint %s is of experiment %s, not %s", path, c.Experiment, experiment)
	}
	now, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("checkpoint: configuration: %w", err)
	}
	if diff := ConfigDiff(c.Config, now); len(diff) > 0 {
		return fmt.Errorf("checkpoint %s was written with other settings; resume with the same flags, or use another -out:\n  %s",
			path, strings.Join(diff, "\n  "))
	}
	if err := gob.NewDecoder(bytes.NewReader(c.State)).Decode(state); err != nil {
		return fmt.Errorf("checkpoint %s: decoding its state: %w", path, err)
	}
	return nil
}

// ConfigDiff lists the settings that differ between two configurations given as JSON objects,
// "name: old != new" each, nested ones by dotted name, ignoring those that do not decide the
// numbers (output folder, workers: see timingKeys); nil when they agree.
func ConfigDiff(old, now []byte) []string {
	var a, b any
	if json.Unmarshal(old, &a) != nil || json.Unmarshal(now, &b) != nil {
		if bytes.Equal(old, now) {
			return nil
		}
		return []string{fmt.Sprintf("configuration: %s != %s", old, now)}
	}
	return diffJSON("", a, b)
}
