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

// Main implements `kernel serve`: it parses flags, starts the Python pool and serves until
// SIGTERM or SIGINT, then drains.
func Main(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (\":8080\" for all interfaces, as in a container)")
	workers := fs.Int("workers", 2, "sandbox worker processes (jobs run at once)")
	queue := fs.Int("queue", 64, "jobs admitted beyond the running ones; more get 503")
	maxBatch := fs.Int("max-batch", 64, "most jobs in one /v1/batch request")
	maxBody := fs.Int64("max-body-mb", 16, "largest request body, MiB (413 beyond)")
	maxTimeout := fs.Duration("max-timeout", 60*time.Second, "largest per-job time limit a request may ask for")
	tokenFile := fs.String("token-file", "", "file holding the bearer token clients must send (default $"+TokenEnv+"; none: no auth)")
	python := fs.String("python", "", "Python interpreter (default python3 on PATH)")
	drainDelay := fs.Duration("drain-delay", 0, "on SIGTERM, time /readyz fails before the listener closes (e.g. 5s behind a Kubernetes Service)")
	drainTimeout := fs.Duration("drain-timeout", 60*time.Second, "on SIGTERM, longest wait for requests in flight")
	logFormat := fs.String("log", "json", "log format: json or text")
	verbose := fs.Bool("v", false, "log health checks and metrics scrapes too")
	requireIsolation := fs.Bool("require-isolation", false, "refuse to start unless the pool has its network namespace and private uids (root with CAP_SYS_ADMIN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	lvl := slog.LevelInfo
	if *verbose {
		lvl = slog.LevelDebug
	}
	var h slog.Handler
	switch *logFormat {
	case "json":
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	case "text":
		h = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})
	default:
		return fmt.Errorf("--log: want json or text, not %q", *logFormat)
	}
	log := slog.New(h)
	token := os.Getenv(TokenEnv)
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
		if token == "" {
			return errors.New("--token-file: empty token")
		}
	}
	pool, err := sandbox.NewPool(sandbox.PoolConfig{Workers: *workers, Python: *python})
	if err != nil {
		return err
	}
	defer pool.Close()
	iso := pool.Isolation()
	log.Info("sandbox pool", "workers", *workers, "python", iso.Python, "netns", iso.NetNS,
		"private_uid", iso.PrivateUID, "disk_quota", iso.DiskQuota, "notes", iso.Notes)
	if *requireIsolation && (!iso.NetNS || iso.PrivateUID == 0) {
		return fmt.Errorf("--require-isolation: the sandbox runs without its network namespace or private uid (%s); see docs/SERVE.md for the pod's privileges", strings.Join(iso.Notes, "; "))
	}
	if *queue == 0 {
		*queue = -1 // Config's zero value means the default
	}
	srv := New(Config{Workers: *workers, Queue: *queue, MaxBatch: *maxBatch, MaxBodyBytes: *maxBody << 20,
		MaxTimeout: *maxTimeout, Token: token, PodName: os.Getenv("MY_POD_NAME"), Logger: log}, pool)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return srv.Serve(ctx, ln, *drainDelay, *drainTimeout)
}
