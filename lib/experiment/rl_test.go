package experiment

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/sandbox"
	"github.com/execfeed/execfeed/sandbox/serve"
)

// TestRunRLQuick runs every RL experiment in its quick configuration and checks that each method
// reports test numbers, that the files are written, and that RL methods really ran iterations.
func TestRunRLQuick(t *testing.T) {
	for _, name := range RLExperiments {
		cfg, err := QuickRLConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		cfg.OutDir = t.TempDir()
		res, err := RunRL(cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Summary) != len(cfg.Methods) {
			t.Errorf("%s: %d summaries for methods %v", name, len(res.Summary), cfg.Methods)
		}
		for _, r := range res.Runs {
			if r.Test == nil || r.Test.Greedy.N == 0 || len(r.Test.PassAtK) == 0 {
				t.Errorf("%s/%s: no test evaluation: %+v", name, r.Method, r.Test)
			}
			if r.Method != "sft" && (len(r.Curve) == 0 || r.SamplesPerSecond <= 0 || r.Phases["sample"] <= 0) {
				t.Errorf("%s/%s: no training recorded (curve %d points, %.0f samples/s, phases %v)",
					name, r.Method, len(r.Curve), r.SamplesPerSecond, r.Phases)
			}
		}
		for _, f := range []string{"results.json", "curves.svg"} {
			if _, err := os.Stat(filepath.Join(cfg.OutDir, f)); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
}

func TestRunRLRejectsBadConfig(t *testing.T) {
	if _, err := DefaultRLConfig("rpn-nope"); err == nil {
		t.Errorf("unknown experiment accepted")
	}
	cfg, _ := QuickRLConfig("rpn-egca")
	cfg.Methods = []string{"grpo", "sgd-magic"}
	if _, err := RunRL(cfg); err == nil || !strings.Contains(err.Error(), "sgd-magic") {
		t.Errorf("unknown method: err = %v, want one naming it", err)
	}
	cfg, _ = QuickRLConfig("rpn-egca")
	cfg.SFTSize, cfg.PromptSize = 8000, 2000
	if _, err := RunRL(cfg); err == nil {
		t.Errorf("more examples than the data set holds accepted")
	}
	for _, bad := range []func(*RLConfig){
		func(c *RLConfig) { c.GRPOLoss = "grpo-plus" },
		func(c *RLConfig) { c.GRPOScale = "sometimes" },
		func(c *RLConfig) { c.EpsHigh = -1 },
		func(c *RLConfig) { c.Workers = -2 },
	} {
		cfg, _ = QuickRLConfig("py-grpo")
		bad(&cfg)
		if _, err := RunRL(cfg); err == nil {
			t.Errorf("bad GRPO variant or workers accepted: %+v", cfg)
		}
	}
}

// TestRunRLRemoteExecution runs the quick Python experiment with its programs executed by an
// execution server on loopback (kernel serve's handler) instead of local workers, and checks
// that the server ran them.
func TestRunRLRemoteExecution(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the quick py-grpo experiment")
	}
	pool, err := sandbox.NewPool(sandbox.PoolConfig{Workers: 2})
	if err != nil {
		t.Skipf("no Python sandbox: %v", err)
	}
	defer pool.Close()
	srv := httptest.NewServer(serve.New(serve.Config{Workers: 2}, pool).Handler())
	defer srv.Close()
	cfg, _ := QuickRLConfig("py-grpo")
	cfg.Methods, cfg.Iters = []string{"sft", "grpo"}, 2
	cfg.OutDir, cfg.Exec = t.TempDir(), srv.URL
	res, err := RunRL(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Runs) != 2 || pool.Stats().Runs < int64(cfg.PromptSize) {
		t.Errorf("%d runs; the server's pool ran %d programs, want at least the %d references", len(res.Runs), pool.Stats().Runs, cfg.PromptSize)
	}
}
