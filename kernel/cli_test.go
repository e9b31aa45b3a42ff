package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/execfeed/execfeed/lib/experiment"
	"github.com/execfeed/execfeed/sandbox/serve"
)

// errWouldTrain stops an experiment whose flags passed every check, before it trains.
var errWouldTrain = errors.New("would train")

// stopBeforeTraining makes every experiment return errWouldTrain instead of training.
func stopBeforeTraining(t *testing.T) {
	old := beforeTraining
	beforeTraining = func() error { return errWouldTrain }
	t.Cleanup(func() { beforeTraining = old })
}

// TestCLIRejectsBadInput: every bad command line exits non-zero with a message naming the flag
// (or the word) at fault, before any training starts.
func TestCLIRejectsBadInput(t *testing.T) {
	stopBeforeTraining(t)
	t.Chdir(t.TempDir()) // nothing a case writes lands in the repository
	cases := []struct {
		cmd  string
		args string
		want string // in the error
	}{
		// Leftover words.
		{"run", "rpn-def --quick --routines baseline def --out DIR", `"def"`},
		{"run", "rpn-def baseline --quick", `"baseline"`},
		{"run", "rpn-egca --quick extra", `"extra"`},
		{"run", "--out x", "-from"},
		{"run", "nope", `"nope"`},
		// Zero, negative, not a number.
		{"run", "rpn-def --epochs -5", "-epochs"},
		{"run", "rpn-def --train-size 0", "-train-size"},
		{"run", "rpn-def --eval-size -1", "-eval-size"},
		{"run", "rpn-def --proxy-epochs -3", "-proxy-epochs"},
		{"run", "rpn-def --grad-check -7", "-grad-check"},
		{"run", "rpn-def --tune -1", "-tune"},
		{"run", "rpn-def --tune 2 --tune-epochs -4", "-tune-epochs"},
		{"run", "rpn-def --lr 0", "-lr"},
		{"run", "rpn-def --lr nan", "-lr"},
		{"run", "rpn-def --seed x", "-seed"},
		{"run", "rpn-def --data-seed -1", "-data-seed"},
		{"run", "rpn-egca --iters -3", "-iters"},
		{"run", "rpn-egca --samples -1", "-samples"},
		{"run", "rpn-egca --eval-size -1", "-eval-size"},
		{"run", "py-grpo --workers -2", "-workers"},
		{"run", "py-grpo --workers 0", "-workers"},
		{"run", "rpn-egca --eps-high -0.1", "-eps-high"},
		// Duplicates and unknown entries.
		{"run", "rpn-egca --seeds 1,1", "-seeds"},
		{"run", "rpn-egca --seeds 1,01", "-seeds"},
		{"run", "rpn-egca --methods sft,sft", "-methods"},
		{"run", "rpn-def --routines baseline,baseline", "-routines"},
		{"run", "rpn-egca --methods grpo,", "-methods"},
		{"run", "rpn-egca --iters 3 --iters 4", "-iters"},
		{"run", "rpn-egca --quick --quick", "-quick"},
		{"run", "rpn-egca --loss grpo++", "-loss"},
		{"run", "rpn-def --dialect rpn-plus", "-dialect"},
		// Contradictions.
		{"run", "rpn-def --lambda 0 --routines def", "-lambda"},
		{"run", "rpn-def --routines baseline --lambda 0.1", "-lambda"},
		{"run", "rpn-def --routines baseline --grad-check 5", "-grad-check"},
		{"run", "rpn-def --tune-epochs 2", "-tune-epochs"},
		{"run", "rpn-def --data DIR --data-seed 3", "-data"},
		{"run", "rpn-coderl --methods egca", "-methods"},
		{"run", "rpn-egca --workers 2", "-workers"},
		{"run", "py-grpo --workers 2 --exec http://127.0.0.1:1", "-workers"},
		{"run", "py-eta --subset 5", "-subset"},
		{"run", "py-eta --format mbpp", "-format"},
		{"run", "py-eta --format apps --problems p.jsonl", "-format"},
		{"run", "py-eta --model /no/such/checkpoint", "-model"},
		{"run", "py-eta --model lstm", "-model"},
		{"run", "py-grpo --problems p.jsonl", "-problems"},
		{"run", "py-eta --problems no-such-problems.jsonl", "-problems"},
		{"run", "py-eta --subset 0 --problems p.jsonl", "-subset"},
		{"run", "py-eta --sft-epochs -1", "-sft-epochs"},
		{"run", "py-eta --sft-lr 0", "-sft-lr"},
		{"run", "rpn-eta --model gpt", "-model"},
		{"run", "py-grpo --sft-cache /tmp/x", "-sft-cache"},
		{"run", "rpn-egca --methods sft --scale batch", "-scale"},
		// The output folder and the backend are checked before training.
		{"run", "rpn-egca --quick --out /proc/no/such/dir", "-out"},
		{"run", "rpn-egca --quick --backend xla:/abs/pjrt.so", "-tags xla"},
		{"run", "rpn-def --quick --backend tpu", "-backend"},
		{"run", "--from no-such-results.json", "-from"},
		// Other commands.
		{"eval", "--problems p.jsonl --samples s.jsonl --workers -2", "-workers"},
		{"eval", "--problems p.jsonl --samples s.jsonl --workers 0", "-workers"},
		{"eval", "--problems p.jsonl --samples s.jsonl --timeout 0s", "-timeout"},
		{"eval", "--problems p.jsonl --samples s.jsonl --memory-mb 0", "-memory-mb"},
		{"eval", "--problems p.jsonl --samples s.jsonl --k 1,1", "-k"},
		{"eval", "--problems p.jsonl --samples s.jsonl --k 0", "-k"},
		{"eval", "--problems p.jsonl --samples s.jsonl --workers 2 --exec http://127.0.0.1:1", "-workers"},
		{"eval", "--problems p.jsonl --samples s.jsonl extra", `"extra"`},
		{"eval", "--problems p.jsonl", "-samples"},
		{"notebooks", "-parallel -3", "-parallel"},
		{"notebooks", "-parallel 0", "-parallel"},
		{"notebooks", "-cell-timeout 0s", "-cell-timeout"},
		{"notebooks", "nope.ipynb", "nope.ipynb"},
		{"script", "-timeout -1s x.go", "-timeout"},
		{"script", "-timeout 1s -timeout 2s x.go", "-timeout"},
		{"install", "--check extra", `"extra"`},
		{"install", "--backend xla:/abs/pjrt.so --check", "-tags xla"},
	}
	for _, tc := range cases {
		args := strings.Fields(tc.args)
		err := commands[tc.cmd].run(args)
		if err == nil || errors.Is(err, errWouldTrain) || !strings.Contains(err.Error(), tc.want) && !names(err, strings.TrimPrefix(tc.want, "-")) {
			t.Errorf("kernel %s %s: err = %v, want an error naming %s", tc.cmd, tc.args, err, tc.want)
		}
		if code := exitCode(tc.cmd, err, &bytes.Buffer{}); err != nil && !errors.Is(err, errWouldTrain) && code == 0 {
			t.Errorf("kernel %s %s: exit status 0", tc.cmd, tc.args)
		}
	}
}

// names reports whether err names flag (as -flag, or as flag's own errors do for booleans:
// "boolean flag quick").
func names(err error, flag string) bool {
	return err != nil && (strings.Contains(err.Error(), "-"+flag) || strings.Contains(err.Error(), "flag "+flag+":"))
}

// TestCLIEveryFlagChecked gives every integer flag of every experiment 0 (where 0 is not a
// meaning of its own), a negative value, and every flag twice: each is an error naming the flag.
func TestCLIEveryFlagChecked(t *testing.T) {
	stopBeforeTraining(t)
	t.Chdir(t.TempDir())
	for _, e := range experimentCmds {
		c := newCLI("run " + e.name)
		e.flags(c)
		c.fs.VisitAll(func(f *flag.Flag) {
			var bad []string
			switch v := f.Value.(type) {
			case *intValue:
				bad = append(bad, "-1")
				if v.min > 0 {
					bad = append(bad, "0")
				}
			case *floatValue:
				bad = append(bad, "-1")
			}
			for _, b := range bad {
				err := runExperiment([]string{e.name, "-" + f.Name, b})
				if err == nil || errors.Is(err, errWouldTrain) || !names(err, f.Name) {
					t.Errorf("run %s -%s %s: %v", e.name, f.Name, b, err)
				}
			}
			twice := f.DefValue
			switch v := f.Value.(type) {
			case *intValue:
				twice = strconv.Itoa(max(v.min, 1))
			case *floatValue:
				twice = "0.5"
			case *boolValue, *stringValue, *listValue:
				if twice == "" || twice == "false" {
					twice = "1" // true, and a well-formed string or list
				}
			}
			args := []string{e.name, "-" + f.Name + "=" + twice, "-" + f.Name + "=" + twice}
			if err := runExperiment(args); err == nil || !names(err, f.Name) || !strings.Contains(err.Error(), "twice") {
				t.Errorf("run %v: %v, want an error saying -%s is given twice", args, err, f.Name)
			}
		})
		// The presets themselves pass the checks (and stop before training here).
		if err := runExperiment([]string{e.name, "-quick"}); !errors.Is(err, errWouldTrain) {
			t.Errorf("run %s -quick: %v, want it to reach training", e.name, err)
		}
	}
}

// TestCLIHelp: -h exits 0 and lists every experiment's flags.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"rpn-egca", "-h"}, {"rpn-def", "--help"}} {
		err := runExperiment(args)
		if !errors.Is(err, flag.ErrHelp) || exitCode("run", err, &bytes.Buffer{}) != 0 {
			t.Errorf("run %v: %v, want help (exit status 0)", args, err)
		}
	}
	var b bytes.Buffer
	runUsage(&b)
	for _, want := range []string{"rpn-def:", "py-grpo:", "-routines", "-tune-epochs", "-methods", "-eps-high", "-workers", "-from"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("kernel run -h does not mention %s", want)
		}
	}
	for _, name := range []string{"eval", "notebooks", "script", "install", "runs", "compare"} {
		if err := commands[name].run([]string{"-h"}); exitCode(name, err, &bytes.Buffer{}) != 0 {
			t.Errorf("kernel %s -h: %v, want exit status 0", name, err)
		}
	}
}

// TestRunFromResultsReproduces runs a quick experiment through the CLI, reruns it from its
// results file, and checks the rerun's numbers equal the recorded ones, and that a tampered
// number is reported.
func TestRunFromResultsReproduces(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a quick experiment twice")
	}
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	if err := runExperiment([]string{"rpn-egca", "-quick", "-iters", "2", "-methods", "sft,egca", "-out", first}); err != nil {
		t.Fatal(err)
	}
	if m, err := experiment.ReadManifest(first); err != nil || m.Status != experiment.StatusFinished || m.Experiment != "rpn-egca" ||
		m.Flags["iters"] != "2" || m.Flags["methods"] != "sft,egca" || !m.Quick {
		t.Errorf("the run's manifest: %+v, %v", m, err)
	}
	path := experiment.ResultsPath(first)
	rec, err := experiment.LoadRLResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Quick || !rec.Complete || rec.Build.Go == "" || len(rec.Command) == 0 || rec.Config.Iters != 2 ||
		rec.Methods["egca"]["kl_beta"] == nil || rec.Model["attention"] != true {
		t.Fatalf("results do not record their provenance and settings: quick %v complete %v build %+v command %v iters %d methods %v model %v",
			rec.Quick, rec.Complete, rec.Build, rec.Command, rec.Config.Iters, rec.Methods, rec.Model)
	}
	second := filepath.Join(dir, "second")
	if err := runExperiment([]string{"-from", path, "-out", second}); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if m, err := experiment.ReadManifest(second); err != nil || m.Status != experiment.StatusFinished || m.From != path {
		t.Errorf("the rerun's manifest: %+v, %v", m, err)
	}
	again, err := experiment.LoadRLResults(experiment.ResultsPath(second))
	if err != nil {
		t.Fatal(err)
	}
	if d := experiment.DiffResults(rec, again); len(d) > 0 || len(again.Runs) != 2 {
		t.Fatalf("the rerun differs: %v", d)
	}
	rec.Runs[1].Test.Greedy.Exact += 0.01
	if d := experiment.DiffResults(rec, again); len(d) != 1 || !strings.Contains(d[0], "runs[1].test.greedy.exact") {
		t.Fatalf("a changed number is not reported: %v", d)
	}
	if err := runExperiment([]string{"-from", path, "-out", first}); err == nil || !names(err, "out") {
		t.Errorf("a rerun over the recorded results: %v, want an error naming -out", err)
	}
	if m, err := experiment.ReadManifest(first); err != nil || m.Status != experiment.StatusFinished || m.From != "" {
		t.Errorf("a refused rerun touched the recorded run's manifest: %+v, %v", m, err)
	}
	if _, err := os.Stat(filepath.Join(second, "curves.svg")); err != nil {
		t.Error(err)
	}
}

// checkpointAndServeCmds are the commands outside `kernel run` whose every flag
// TestCLIOtherCommandsEveryFlag checks: each declares its flags on a cli (declare), and base are
// the arguments that make a command line complete (dropped for the flag under test).
var checkpointAndServeCmds = []struct {
	name    string
	declare func(c *cli)
	base    []string
}{
	{"score", func(c *cli) { newScoreFlags(c) }, []string{"-model", "M", "-text", "x"}},
	{"generate", func(c *cli) { newGenerateFlags(c) }, []string{"-model", "M"}},
	{"serve", func(c *cli) { serve.Declare(serveFlags{c}) }, nil},
	{"runs", func(c *cli) { runsFlags(c) }, nil},
}

// TestCLIOtherCommands: kernel score, generate and serve refuse bad command lines with an error
// naming the flag before loading a checkpoint or starting the pool.
func TestCLIOtherCommands(t *testing.T) {
	stopBeforeTraining(t)
	t.Chdir(t.TempDir())
	cases := []struct{ cmd, args, want string }{
		{"score", "-text x", "-model"},
		{"score", "-model M", "-text"},
		{"score", "-model M -text x -ids 1", "-text and -ids"},
		{"score", "-model M -text x -file f", "-text and -file"},
		{"score", "-model M -ids 1,x", "-ids"},
		{"score", "-model M -ids 3,-1", "-ids"},
		{"score", "-model M -ids 1,", "-ids"},
		{"score", "-model M -text x extra", `"extra"`},
		{"score", "-model M -text x -backend tpu", "-backend"},
		{"score", "-model M -text x -backend xla:/abs/pjrt.so", "-tags xla"},
		{"generate", "-n 3", "-model"},
		{"generate", "-model M -n 0", "-n"},
		{"generate", "-model M -samples -2", "-samples"},
		{"generate", "-model M -temperature -1", "-temperature"},
		{"generate", "-model M -temperature nan", "-temperature"},
		{"generate", "-model M -top-k 0", "-top-k"},
		{"generate", "-model M -top-p 0", "-top-p"},
		{"generate", "-model M -top-p 1.5", "-top-p"},
		{"generate", "-model M -temperature 0 -top-k 5", "-top-k"},
		{"generate", "-model M -temperature 0 -top-p 0.9", "-top-p"},
		{"generate", "-model M -temperature 0 -seed 3", "-seed"},
		{"generate", `-model M -stop \q`, "-stop"},
		{"generate", "-model M -n 3 -n 4", "-n"},
		{"generate", "-model M sample", `"sample"`},
		{"generate", "-model M -backend tpu", "-backend"},
		{"serve", "-workers 0", "-workers"},
		{"serve", "-queue -1", "-queue"},
		{"serve", "-max-batch 0", "-max-batch"},
		{"serve", "-max-body-mb 0", "-max-body-mb"},
		{"serve", "-max-timeout 0s", "-max-timeout"},
		{"serve", "-drain-delay -1s", "-drain-delay"},
		{"serve", "-drain-timeout 0s", "-drain-timeout"},
		{"serve", "-log xml", "-log"},
		{"serve", "-v -v", "-v"},
		{"serve", "-addr :8080 extra", `"extra"`},
	}
	for _, tc := range cases {
		err := commands[tc.cmd].run(strings.Fields(tc.args))
		if err == nil || errors.Is(err, errWouldTrain) || !strings.Contains(err.Error(), tc.want) && !names(err, strings.TrimPrefix(tc.want, "-")) {
			t.Errorf("kernel %s %s: err = %v, want an error naming %s", tc.cmd, tc.args, err, tc.want)
		} else if exitCode(tc.cmd, err, &bytes.Buffer{}) == 0 {
			t.Errorf("kernel %s %s: exit status 0", tc.cmd, tc.args)
		}
	}
	// Good command lines pass the checks (and stop before any work here).
	for _, ok := range []struct{ cmd, args string }{
		{"score", "-model M -ids 5,5,1"},
		{"generate", "-model M -temperature 0 -n 1"},
		{"generate", `-model M -top-k 3 -top-p 1 -seed 0 -stop \ndef -json`},
		{"serve", "-queue 0 -drain-delay 0s -log text"},
	} {
		if err := commands[ok.cmd].run(strings.Fields(ok.args)); !errors.Is(err, errWouldTrain) {
			t.Errorf("kernel %s %s: %v, want it to pass the checks", ok.cmd, ok.args, err)
		}
	}
}

// TestCLIOtherCommandsEveryFlag gives every flag of kernel score, generate and serve a value out
// of its range (0 where 0 means nothing, a negative number or duration) and gives it twice: each
// is an error naming the flag; -h exits 0 and lists every flag.
func TestCLIOtherCommandsEveryFlag(t *testing.T) {
	stopBeforeTraining(t)
	t.Chdir(t.TempDir())
	for _, cmd := range checkpointAndServeCmds {
		c := newCLI(cmd.name)
		cmd.declare(c)
		run := func(name string, extra ...string) error {
			var args []string
			for i := 0; i < len(cmd.base); i += 2 {
				if cmd.base[i] != "-"+name {
					args = append(args, cmd.base[i:i+2]...)
				}
			}
			return commands[cmd.name].run(append(args, extra...))
		}
		n := 0
		c.fs.VisitAll(func(f *flag.Flag) {
			n++
			var bad []string
			twice := "1"
			switch v := f.Value.(type) {
			case *intValue:
				bad = append(bad, strconv.Itoa(v.min-1))
				twice = strconv.Itoa(max(v.min, 1))
			case *int64Value:
				bad = append(bad, "x")
			case *floatValue:
				bad = append(bad, "-1", "nan")
				if v.positive {
					bad = append(bad, "0")
				}
				twice = "0.5"
			case *durationValue:
				bad = append(bad, "-1s")
				if v.positive {
					bad = append(bad, "0s")
				}
				twice = "1s"
			case *stringValue:
				bad = append(bad, "")
				if v.allowed != nil {
					bad = append(bad, "nope")
					twice = v.allowed[0]
				}
			case *boolValue:
				bad = append(bad, "maybe")
				twice = "true"
			default:
				t.Errorf("%s -%s: a flag of type %T the checks do not cover", cmd.name, f.Name, f.Value)
			}
			for _, b := range bad {
				err := run(f.Name, "-"+f.Name+"="+b)
				if err == nil || errors.Is(err, errWouldTrain) || !names(err, f.Name) {
					t.Errorf("%s -%s=%q: %v, want an error naming -%s", cmd.name, f.Name, b, err, f.Name)
				}
			}
			err := run(f.Name, "-"+f.Name+"="+twice, "-"+f.Name+"="+twice)
			if err == nil || !names(err, f.Name) || !strings.Contains(err.Error(), "twice") {
				t.Errorf("%s -%s twice: %v, want an error saying -%s is given twice", cmd.name, f.Name, err, f.Name)
			}
		})
		if n == 0 {
			t.Errorf("%s declares no flags", cmd.name)
		}
		if err := run("", "leftover"); err == nil || !strings.Contains(err.Error(), `"leftover"`) {
			t.Errorf("%s with a leftover word: %v", cmd.name, err)
		}
		help, err := captureStdout(t, func() error { return commands[cmd.name].run([]string{"-h"}) })
		if exitCode(cmd.name, err, &bytes.Buffer{}) != 0 {
			t.Errorf("%s -h: %v, want exit status 0", cmd.name, err)
		}
		c.fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(help, "  -"+f.Name+" ") && !strings.Contains(help, "  -"+f.Name+"\n") {
				t.Errorf("%s -h does not list -%s:\n%s", cmd.name, f.Name, help)
			}
		})
	}
}

// captureStdout runs f and returns what it wrote to os.Stdout.
func captureStdout(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		var b bytes.Buffer
		b.ReadFrom(r)
		done <- b.String()
	}()
	ferr := f()
	os.Stdout = old
	w.Close()
	return <-done, ferr
}
