package serve

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/execfeed/execfeed/sandbox"
)

// TokenEnv is the environment variable the server reads its bearer token from (when --token-file
// is not given).
const TokenEnv = "EXECFEED_SERVE_TOKEN"

// Flags is a flag set the server declares its flags on and parses. kernel serve gives its own,
// which checks every value as it is parsed: a number below its minimum, a duration that must be
// positive, a value not among the allowed ones, a flag given twice or a word left after the flags
// is an error naming the flag, before the pool starts. StdFlags is the standard library's.
type Flags interface {
	// Int declares an integer flag of at least min.
	Int(name string, def, min int, usage string) *int
	// Duration declares a duration flag, positive or only non-negative.
	Duration(name string, def time.Duration, positive bool, usage string) *time.Duration
	// String declares a non-empty string flag, one of allowed when allowed is not nil.
	String(name, def string, allowed []string, usage string) *string
	Bool(name, usage string) *bool
	Parse(args []string) error
}

// StdFlags is Flags on the standard library's flag package: it checks only what Run checks
// itself (the log format, leftover words). For tests and the deployment check; kernel serve
// checks every flag.
func StdFlags(name string) Flags { return stdFlags{flag.NewFlagSet(name, flag.ContinueOnError)} }

type stdFlags struct{ fs *flag.FlagSet }

func (f stdFlags) Int(name string, def, _ int, usage string) *int { return f.fs.Int(name, def, usage) }
func (f stdFlags) Duration(name string, def time.Duration, _ bool, usage string) *time.Duration {
	return f.fs.Duration(name, def, usage)
}
func (f stdFlags) String(name, def string, _ []string, usage string) *string {
	return f.fs.String(name, def, usage)
}
func (f stdFlags) Bool(name, usage string) *bool { return f.fs.Bool(name, false, usage) }
func (f stdFlags) Parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", f.fs.Args())
	}
	return nil
}

// Options are the server's settings, declared as flags by Declare and read once they are parsed.
type Options struct {
	addr, tokenFile, python, logFormat   *string
	workers, queue, maxBatch, maxBodyMB  *int
	maxTimeout, drainDelay, drainTimeout *time.Duration
	verbose, requireIsolation            *bool
}

// Declare declares the server's flags on f.
func Declare(f Flags) *Options {
	return &Options{
		addr:             f.String("addr", "127.0.0.1:8080", nil, "listen address (\":8080\" for all interfaces, as in a container)"),
		workers:          f.Int("workers", 2, 1, "sandbox worker processes (jobs run at once)"),
		queue:            f.Int("queue", 64, 0, "jobs admitted beyond the running ones; more get 503 (0: none)"),
		maxBatch:         f.Int("max-batch", 64, 1, "most jobs in one /v1/batch request"),
		maxBodyMB:        f.Int("max-body-mb", 16, 1, "largest request body, MiB (413 beyond)"),
		maxTimeout:       f.Duration("max-timeout", 60*time.Second, true, "largest per-job time limit a request may ask for"),
		tokenFile:        f.String("token-file", "", nil, "file holding the bearer token clients must send (default $"+TokenEnv+"; none: no auth)"),
		python:           f.String("python", "", nil, "Python interpreter (default python3 on PATH)"),
		drainDelay:       f.Duration("drain-delay", 0, false, "on SIGTERM, time /readyz fails before the listener closes (e.g. 5s behind a Kubernetes Service)"),
		drainTimeout:     f.Duration("drain-timeout", 60*time.Second, true, "on SIGTERM, longest wait for requests in flight"),
		logFormat:        f.String("log", "json", []string{"json", "text"}, "log format: json or text"),
		verbose:          f.Bool("v", "log health checks and metrics scrapes too"),
		requireIsolation: f.Bool("require-isolation", "refuse to start unless the pool has its network namespace and private uids (root with CAP_SYS_ADMIN)"),
	}
}

// Main implements `kernel serve` on the standard library's flags (StdFlags): it parses args,
// starts the Python pool and serves until SIGTERM or SIGINT, then drains.
func Main(args []string) error {
	f := StdFlags("serve")
	o := Declare(f)
	if err := f.Parse(args); err != nil {
		return err
	}
	return o.Run()
}

// Run starts the Python pool with the parsed options and serves until SIGTERM or SIGINT, then
// drains.
func (o *Options) Run() error {
	lvl := slog.LevelInfo
	if *o.verbose {
		lvl = slog.LevelDebug
	}
	var h slog.Handler
	switch *o.logFormat {
	case "json":
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	case "text":
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	default:
		return fmt.Errorf("-log: want json or text, not %q", *o.logFormat)
	}
	log := slog.New(h)
	token := os.Getenv(TokenEnv)
	if *o.tokenFile != "" {
		b, err := os.ReadFile(*o.tokenFile)
		if err != nil {
			return fmt.Errorf("-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return errors.New("-token-file: empty token")
		}
	}
	pool, err := sandbox.NewPool(sandbox.PoolConfig{Workers: *o.workers, Python: *o.python})
	if err != nil {
		return err
	}
	defer pool.Close()
	iso := pool.Isolation()
	log.Info("sandbox pool", "workers", *o.workers, "python", iso.Python, "netns", iso.NetNS,
		"private_uid", iso.PrivateUID, "disk_quota", iso.DiskQuota, "notes", iso.Notes)
	if *o.requireIsolation && (!iso.NetNS || iso.PrivateUID == 0) {
		return fmt.Errorf("-require-isolation: the sandbox runs without its network namespace or private uid (%s); see docs/SERVE.md for the pod's privileges", strings.Join(iso.Notes, "; "))
	}
	queue := *o.queue
	if queue == 0 {
		queue = -1 // Config's zero value means the default
	}
	srv := New(Config{Workers: *o.workers, Queue: queue, MaxBatch: *o.maxBatch, MaxBodyBytes: int64(*o.maxBodyMB) << 20,
		MaxTimeout: *o.maxTimeout, Token: token, PodName: os.Getenv("MY_POD_NAME"), Logger: log}, pool)
	ln, err := net.Listen("tcp", *o.addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, ln, *o.drainDelay, *o.drainTimeout)
}
