//go:build linux

package sandbox

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

//go:embed worker.py
var workerSource []byte

// PoolConfig configures a Python Pool. The zero value is usable.
type PoolConfig struct {
	// Workers is the number of worker processes, i.e. of programs run at once (default 1).
	Workers int
	// Python is the interpreter (default: python3 on PATH, resolved to the real executable so that
	// version-manager shims are not in the loop).
	Python string
	// Root is the directory under which run directories are made (default: a new directory in
	// os.TempDir(), removed by Close). It must not lie inside a hidden path.
	Root string
	// HidePaths is kept for compatibility and no longer used: with namespaces the programs see an
	// allowlist root (the interpreter's files and nothing else of the host), which hides more.
	HidePaths []string
	// DiskBytes is the size of each worker's private tmpfs for run directories (root only;
	// default 256 MiB).
	DiskBytes int64
	// BaseUID is the first of the uids that programs run as when the pool runs as root (one per
	// worker, claimed with lock files in os.TempDir()/execfeed-uids; default 61000).
	BaseUID int
	// NoNamespaces turns off the namespaces and the allowlist file system (for debugging).
	NoNamespaces bool
	// NoUserNamespace, for a pool not run as root, turns off the user namespace through which an
	// ordinary user gets the same isolation (it then has none but the system-call filter).
	NoUserNamespace bool
}

// DefaultHidePaths lists the user's home directory and the Go module (project sources)
// containing the current directory: what pools hid before the allowlist root (which hides them and
// everything else of the host). Kept for compatibility.
func DefaultHidePaths() []string {
	var out []string
	if h, err := os.UserHomeDir(); err == nil && h != "/" {
		out = append(out, h)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; d != "/" && d != "."; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				out = append(out, d)
				break
			}
		}
	}
	return out
}

// ResolvePython returns the absolute path of the real interpreter behind name (e.g. "python3",
// possibly a pyenv shim) and its version.
func ResolvePython(name string) (path, version string, err error) {
	if name == "" {
		name = "python3"
	}
	lp, err := exec.LookPath(name)
	if err != nil {
		return "", "", fmt.Errorf("sandbox: python interpreter %q: %w", name, err)
	}
	out, err := exec.Command(lp, "-c", "import sys; print(sys.executable); print(sys.version.split()[0])").Output()
	if err != nil {
		return "", "", fmt.Errorf("sandbox: running %s: %w", lp, err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		return "", "", fmt.Errorf("sandbox: unexpected output from %s: %q", lp, out)
	}
	return lines[0], lines[1], nil
}

// PoolStats counts what happened in a pool's life.
type PoolStats struct {
	Runs     int64 // programs run
	Restarts int64 // workers replaced after dying or hanging
	Unclean  int64 // runs after which a worker could not remove every process or file
}

// Pool is the Python executor: long-lived worker processes (see docs/SANDBOX.md). In each, a
// judge runs the tests and decides the verdicts, and a zygote forks one child per run that runs
// the candidate, answering the judge with builtin values only. Children run with rlimits, a
// system-call filter, and - as root, or as a user through a user namespace - in their own
// network, mount and pid namespaces on an allowlist root, as a private uid (root) or without
// capabilities (user). A worker that dies or hangs is replaced.
type Pool struct {
	cfg       PoolConfig
	python    string
	nsErr     error // why the namespaced worker could not start, if it could not
	ownRoot   bool
	slots     []*slot
	idle      chan *slot
	isolation Isolation
	closed    atomic.Bool
	nextID    atomic.Int64
	runs      atomic.Int64
	restarts  atomic.Int64
	unclean   atomic.Int64
}

var _ Executor = (*Pool)(nil)

type slot struct {
	idx  int
	uid  int // private uid, or -1
	dir  string
	lock *os.File
	w    *worker
}

type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	frames chan []byte // closed when the worker's stdout ends
	stderr *tailBuffer
	hello  helloFrame
}

type helloFrame struct {
	Python    string   `json:"python"`
	Root      bool     `json:"root"`
	UID       int      `json:"uid"`
	NetNS     bool     `json:"netns"`
	UserNS    bool     `json:"userns"`
	PidNS     bool     `json:"pidns"`
	Tmpfs     bool     `json:"tmpfs"`
	Seccomp   bool     `json:"seccomp"`
	Allowlist []string `json:"allowlist"`
	Errors    []string `json:"errors"`
}

// NewPool starts the worker processes.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.DiskBytes <= 0 {
		cfg.DiskBytes = 256 << 20
	}
	if cfg.BaseUID <= 0 {
		cfg.BaseUID = 61000
	}
	python, version, err := ResolvePython(cfg.Python)
	if err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, python: python, idle: make(chan *slot, cfg.Workers)}
	if p.cfg.Root == "" {
		if p.cfg.Root, err = os.MkdirTemp("", "execfeed-sandbox-"); err != nil {
			return nil, fmt.Errorf("sandbox: making pool root: %w", err)
		}
		p.ownRoot = true
	}
	if p.cfg.Root, err = filepath.Abs(p.cfg.Root); err != nil {
		return nil, fmt.Errorf("sandbox: pool root: %w", err)
	}
	if err := os.Chmod(p.cfg.Root, 0o711); err != nil {
		p.cleanupRoot()
		return nil, fmt.Errorf("sandbox: pool root: %w", err)
	}
	if err := os.WriteFile(filepath.Join(p.cfg.Root, "worker.py"), workerSource, 0o600); err != nil {
		p.cleanupRoot()
		return nil, fmt.Errorf("sandbox: writing worker: %w", err)
	}
	isRoot := os.Geteuid() == 0
	nextUID := cfg.BaseUID
	for i := 0; i < cfg.Workers; i++ {
		s := &slot{idx: i, uid: -1, dir: filepath.Join(p.cfg.Root, "w"+strconv.Itoa(i))}
		if isRoot {
			if s.uid, s.lock, nextUID, err = claimUID(nextUID, cfg.BaseUID+4096); err != nil {
				p.Close()
				return nil, err
			}
		}
		if err := os.Mkdir(s.dir, 0o711); err != nil {
			p.Close()
			return nil, fmt.Errorf("sandbox: worker directory: %w", err)
		}
		p.slots = append(p.slots, s)
		if err := p.start(s); err != nil {
			p.Close()
			return nil, err
		}
		p.idle <- s
	}
	h := p.slots[0].w.hello
	p.isolation = Isolation{Python: version, NetNS: h.NetNS, UserNS: h.UserNS, PidNS: h.PidNS, Seccomp: h.Seccomp,
		Allowlist: h.Allowlist, DiskQuota: h.Tmpfs}
	if len(h.Allowlist) > 0 {
		p.isolation.Hidden = []string{"/"} // everything but the allowlist
	}
	if h.Root {
		p.isolation.PrivateUID = h.UID
	}
	p.isolation.Notes = append(p.isolation.Notes, h.Errors...)
	if !h.NetNS {
		note := "NO NAMESPACES: programs see the host's files and processes (as the pool's user, or as a private uid when root) and can signal the pool's own processes when not root; only the verdicts outside their reach, the system-call filter (no sockets but AF_UNIX, no namespaces, no ptrace) and rlimits apply; see docs/SANDBOX.md"
		if cfg.NoNamespaces || (!isRoot && cfg.NoUserNamespace) {
			note = "namespaces turned off by PoolConfig: " + note
		} else if p.nsErr != nil {
			note = "namespaces refused by the kernel (" + p.nsErr.Error() + "): " + note
		}
		p.isolation.Notes = append(p.isolation.Notes, note)
		warnOnce.Do(func() { fmt.Fprintln(os.Stderr, "execfeed sandbox: WARNING:", note) })
	}
	return p, nil
}

var warnOnce sync.Once

// claimUID takes the first uid in [from, to) whose lock file is free; the lock lasts while f is open.
func claimUID(from, to int) (uid int, f *os.File, next int, err error) {
	dir := filepath.Join(os.TempDir(), "execfeed-uids")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, nil, 0, fmt.Errorf("sandbox: uid lock directory: %w", err)
	}
	for u := from; u < to; u++ {
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(u)+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return 0, nil, 0, fmt.Errorf("sandbox: uid lock: %w", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			return u, f, u + 1, nil
		}
		f.Close()
	}
	return 0, nil, 0, fmt.Errorf("sandbox: no free uid in [%d, %d)", from, to)
}

// nsMode is the namespace set-up a pool asks for: "root" (namespaces as real root, private uids),
// "user" (the same inside a new user namespace, for an ordinary user) or "" (none).
func (p *Pool) nsMode() string {
	switch {
	case p.cfg.NoNamespaces:
		return ""
	case os.Geteuid() == 0:
		return "root"
	case p.cfg.NoUserNamespace:
		return ""
	}
	return "user"
}

// start launches the worker process of slot s and waits for its hello. When the namespaced worker
// cannot start (user namespaces disabled, no permission to mount), it falls back to a worker
// without namespaces, and the pool's Isolation says so.
func (p *Pool) start(s *slot) error {
	mode := p.nsMode()
	if mode != "" && p.nsErr == nil {
		w, err := p.launch(s, mode)
		if err == nil {
			s.w = w
			return nil
		}
		p.nsErr = err
	}
	w, err := p.launch(s, "")
	if err != nil {
		return err
	}
	s.w = w
	return nil
}

func (p *Pool) launch(s *slot, mode string) (*worker, error) {
	filter, err := seccompFilter()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.python, "-I", filepath.Join(p.cfg.Root, "worker.py"))
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		"LANG=C.UTF-8",
		"EXECFEED_ROOT=" + s.dir,
		"EXECFEED_UID=" + strconv.Itoa(s.uid),
		"EXECFEED_NS=" + mode,
		"EXECFEED_DISK=" + strconv.FormatInt(p.cfg.DiskBytes, 10),
		"EXECFEED_SECCOMP=" + filter,
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if mode != "" {
		attr.Cloneflags = syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS
	}
	if mode == "user" {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	cmd.SysProcAttr = attr
	cmd.Dir = s.dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: worker stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: worker stdout: %w", err)
	}
	w := &worker{cmd: cmd, stdin: stdin, frames: make(chan []byte, 1), stderr: &tailBuffer{max: 4096}}
	cmd.Stderr = w.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sandbox: starting worker %s: %w", p.python, err)
	}
	go readFrames(bufio.NewReaderSize(stdout, 1<<16), w.frames)
	select {
	case f, ok := <-w.frames:
		if !ok {
			w.kill()
			return nil, fmt.Errorf("sandbox: worker exited at start: %s", w.stderr.String())
		}
		if err := json.Unmarshal(f, &w.hello); err != nil {
			w.kill()
			return nil, fmt.Errorf("sandbox: worker hello: %w", err)
		}
	case <-time.After(20 * time.Second):
		w.kill()
		return nil, fmt.Errorf("sandbox: worker did not start within 20s: %s", w.stderr.String())
	}
	return w, nil
}

// readFrames forwards length-prefixed frames from r to ch, closing ch at EOF or on a bad frame.
func readFrames(r *bufio.Reader, ch chan<- []byte) {
	defer close(ch)
	var head [4]byte
	for {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		if n > 256<<20 {
			return
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		ch <- buf
	}
}

// kill ends the worker process group (and, with a pid namespace, every program it ran).
func (w *worker) kill() {
	if w.cmd.Process != nil {
		_ = syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		_ = w.cmd.Process.Kill()
	}
	_ = w.stdin.Close()
	_ = w.cmd.Wait()
	for range w.frames { // let readFrames finish
	}
}

// replace kills the worker of s and starts a new one.
func (p *Pool) replace(s *slot) error {
	orphans := true // without a pid namespace, the dead worker's programs may live on
	if s.w != nil {
		orphans = !s.w.hello.PidNS
		s.w.kill()
		s.w = nil
	}
	p.restarts.Add(1)
	if s.uid > 0 && orphans {
		killUID(s.uid)
	}
	// Without a private tmpfs, run directories of the dead worker are on the host.
	if entries, err := os.ReadDir(s.dir); err == nil {
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(s.dir, e.Name()))
		}
	}
	if p.closed.Load() {
		return errors.New("sandbox: pool closed")
	}
	return p.start(s)
}

// killUID kills every process of uid (left by a worker that was killed without a pid namespace).
func killUID(uid int) {
	want := "\t" + strconv.Itoa(uid) + "\t"
	for range 5 {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile("/proc/" + e.Name() + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "Uid:") && strings.Contains(line+"\t", want) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					found = true
				}
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Isolation reports the protections the pool's workers applied.
func (p *Pool) Isolation() Isolation { return p.isolation }

// Stats reports the pool's counters.
func (p *Pool) Stats() PoolStats {
	return PoolStats{Runs: p.runs.Load(), Restarts: p.restarts.Load(), Unclean: p.unclean.Load()}
}

// Root is the directory under which run directories are made.
func (p *Pool) Root() string { return p.cfg.Root }

// Close stops the workers and removes the pool's root if the pool made it.
func (p *Pool) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	for range p.slots {
		// Wait for runs in progress to hand their slots back.
		s := <-p.idle
		orphans := true
		if s.w != nil {
			orphans = !s.w.hello.PidNS
			s.w.kill()
			s.w = nil
		}
		if s.uid > 0 && orphans {
			killUID(s.uid)
		}
		if s.lock != nil {
			s.lock.Close()
		}
	}
	var err error
	if p.ownRoot {
		err = p.cleanupRoot()
	} else {
		_ = os.Remove(filepath.Join(p.cfg.Root, "worker.py"))
		for _, s := range p.slots {
			_ = os.RemoveAll(s.dir)
		}
	}
	return err
}

func (p *Pool) cleanupRoot() error {
	if !p.ownRoot {
		return nil
	}
	if err := os.RemoveAll(p.cfg.Root); err != nil {
		return fmt.Errorf("sandbox: removing pool root: %w", err)
	}
	return nil
}

// request is the JSON frame sent to a worker.
type request struct {
	ID        int64         `json:"id"`
	Source    string        `json:"source"`
	Tests     []requestTest `json:"tests"`
	Timeout   float64       `json:"timeout"`
	CPU       float64       `json:"cpu"`
	Mem       int64         `json:"mem"`
	NProc     int           `json:"nproc"`
	FSize     int64         `json:"fsize"`
	OutCap    int           `json:"out_cap"`
	Trace     bool          `json:"trace"`
	TraceMax  int           `json:"trace_max"`
	LocalsMax int           `json:"locals_max"`
	ReprMax   int           `json:"repr_max"`
	Strict    bool          `json:"strict"`
}

type requestTest struct {
	Code   string `json:"code,omitempty"`
	Stdin  string `json:"stdin,omitempty"`
	Stdout string `json:"stdout,omitempty"`
	IO     bool   `json:"io,omitempty"`
}

type responseEvent struct {
	Outcome string  `json:"outcome"`
	Error   string  `json:"error"`
	Got     string  `json:"got"`
	Time    float64 `json:"time"`
}

type responseFinal struct {
	Outcome            string      `json:"outcome"`
	Error              string      `json:"error"`
	Stdout             string      `json:"stdout"`
	Stderr             string      `json:"stderr"`
	Truncated          bool        `json:"truncated"`
	Trace              []traceStep `json:"trace"`
	TraceSteps         int         `json:"trace_steps"`
	StepsBeforeFailure int         `json:"steps_before_failure"`
}

// traceStep decodes the worker's [line, {locals}] pairs.
type traceStep Step

func (t *traceStep) UnmarshalJSON(b []byte) error {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil || len(pair) != 2 {
		return fmt.Errorf("sandbox: bad trace step %s", b)
	}
	if err := json.Unmarshal(pair[0], &t.Pos); err != nil {
		return err
	}
	return json.Unmarshal(pair[1], &t.Locals)
}

type response struct {
	ID          int64                    `json:"id"`
	Tests       map[string]responseEvent `json:"tests"`
	Time        float64                  `json:"time"`
	TimedOut    bool                     `json:"timed_out"`
	Exit        string                   `json:"exit"`
	Clean       bool                     `json:"clean"`
	Final       *responseFinal           `json:"final"`
	Forgeable   bool                     `json:"forgeable"`
	Unclean     int64                    `json:"unclean_before"` // earlier runs the worker could not clean up
	Notes       []string                 `json:"notes"`
	WorkerError string                   `json:"worker_error"`
}

func (p *Pool) acquire(ctx context.Context) (*slot, error) {
	if p.closed.Load() {
		return nil, errors.New("sandbox: pool closed")
	}
	select {
	case s := <-p.idle:
		if p.closed.Load() {
			p.idle <- s
			return nil, errors.New("sandbox: pool closed")
		}
		if s.w == nil {
			if err := p.replace(s); err != nil {
				p.idle <- s
				return nil, fmt.Errorf("sandbox: restarting worker %d: %w", s.idx, err)
			}
		}
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run runs a Python program against its tests in one of the pool's workers.
func (p *Pool) Run(ctx context.Context, prog Program, tests []Test, opts Options) (Result, error) {
	if prog.Lang != Python {
		return Result{}, errUnsupported("python", prog.Lang)
	}
	opts = opts.withDefaults()
	req := request{
		ID: p.nextID.Add(1), Source: prog.Source,
		Timeout: opts.Timeout.Seconds(), CPU: opts.CPUTime.Seconds(), Mem: opts.MemoryBytes,
		NProc: opts.MaxProcs, FSize: opts.MaxFileBytes, OutCap: opts.MaxOutputBytes,
		Trace: opts.Trace, TraceMax: opts.MaxTraceSteps, LocalsMax: opts.MaxLocals, ReprMax: opts.MaxReprLen,
		Strict: opts.StrictVerdicts,
	}
	nio := 0
	for _, t := range tests {
		rt := requestTest{Code: t.Code}
		if t.Code == "" {
			rt = requestTest{Stdin: t.Stdin, Stdout: t.Stdout, IO: true}
			nio++
		}
		req.Tests = append(req.Tests, rt)
	}
	if nio != 0 && nio != len(tests) {
		return Result{}, errors.New("sandbox: a Python run cannot mix assertion tests and stdin/stdout tests")
	}
	frame, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: encoding request: %w", err)
	}
	s, err := p.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	defer func() { p.idle <- s }()
	p.runs.Add(1)
	resp, werr := p.exchange(ctx, s, frame, opts.Timeout+hangGrace)
	if werr != nil && ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	res := p.result(req, resp, werr, tests)
	return res, nil
}

// exchange sends one request to the worker of s and waits for its answer; a worker that dies,
// hangs past limit or answers garbage is replaced and the error says what happened.
func (p *Pool) exchange(ctx context.Context, s *slot, frame []byte, limit time.Duration) (*response, error) {
	w := s.w
	buf := make([]byte, 4+len(frame))
	binary.BigEndian.PutUint32(buf, uint32(len(frame)))
	copy(buf[4:], frame)
	fail := func(what string) error {
		tail := strings.TrimSpace(w.stderr.String())
		if rerr := p.replace(s); rerr != nil {
			return fmt.Errorf("sandbox: worker %d %s; restart failed: %v", s.idx, what, rerr)
		}
		if tail != "" {
			return fmt.Errorf("sandbox: worker %d %s (stderr: %s); replaced", s.idx, what, tail)
		}
		return fmt.Errorf("sandbox: worker %d %s; replaced", s.idx, what)
	}
	if _, err := w.stdin.Write(buf); err != nil {
		return nil, fail("died before the run")
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case f, ok := <-w.frames:
		if !ok {
			return nil, fail("died during the run")
		}
		var resp response
		if err := json.Unmarshal(f, &resp); err != nil {
			return nil, fail("sent a bad answer")
		}
		if resp.WorkerError != "" {
			return nil, fail("failed: " + resp.WorkerError)
		}
		return &resp, nil
	case <-timer.C:
		return nil, fail(fmt.Sprintf("did not answer within %v", limit))
	case <-ctx.Done():
		return nil, fail("was interrupted")
	}
}

// result turns a worker's answer into a Result.
func (p *Pool) result(req request, resp *response, werr error, tests []Test) Result {
	iso := p.isolation
	res := Result{Outcome: PassedTest, Tests: make([]TestResult, len(tests)), Isolation: &iso}
	if werr != nil {
		res.Outcome, res.Error = RuntimeError, werr.Error()
		if strings.Contains(werr.Error(), "did not answer") {
			res.Outcome = Timeout
		}
		for i, t := range tests {
			res.Tests[i] = TestResult{Name: t.Name, Outcome: res.Outcome, Error: res.Error}
		}
		return res
	}
	if !resp.Clean {
		p.unclean.Add(1)
	}
	p.unclean.Add(resp.Unclean)
	res.Time = time.Duration(resp.Time * float64(time.Second))
	res.Forgeable = resp.Forgeable
	if len(resp.Notes) > 0 {
		iso.Notes = append(append([]string(nil), iso.Notes...), resp.Notes...)
	}
	// What happened to tests that sent no verdict.
	missing, missingErr := RuntimeError, "no result: the process ended ("+resp.Exit+")"
	if resp.TimedOut || strings.Contains(resp.Exit, "SIGXCPU") {
		missing = Timeout
		missingErr = fmt.Sprintf("time limit (%.3gs wall, %.3gs CPU) exceeded", req.Timeout, req.CPU)
	}
	if f := resp.Final; f != nil {
		o, err := ParseOutcome(f.Outcome)
		if err != nil {
			o = RuntimeError
		}
		res.Outcome, res.Error = o, f.Error
		res.Stdout, res.Stderr, res.Truncated = f.Stdout, f.Stderr, f.Truncated
		if o == CompileError {
			missing, missingErr = CompileError, f.Error
		} else if missing != Timeout {
			missing, missingErr = RuntimeError, "no verdict for this test"
		}
		if req.Trace {
			res.Trace = make([]Step, len(f.Trace))
			for i, s := range f.Trace {
				res.Trace[i] = Step(s)
			}
			res.TraceSteps, res.StepsCorrect = f.TraceSteps, f.StepsBeforeFailure
		}
	} else {
		res.Outcome, res.Error = missing, missingErr
	}
	for i, t := range tests {
		ev, ok := resp.Tests[strconv.Itoa(i)]
		if !ok {
			res.Tests[i] = TestResult{Name: t.Name, Outcome: missing, Error: missingErr}
			continue
		}
		res.Tests[i] = harnessVerdict(t, ev.Outcome, ev.Got, ev.Error, ev.Time)
	}
	res.summarize()
	return res
}

// RunBatch runs the jobs on the pool's workers in parallel; results are in job order.
func (p *Pool) RunBatch(ctx context.Context, jobs []Job, opts Options) ([]Result, error) {
	out := make([]Result, len(jobs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := atomic.Int64{}
	for range min(len(p.slots), len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				r, err := p.Run(ctx, jobs[i].Program, jobs[i].Tests, opts)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("job %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				out[i] = r
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
