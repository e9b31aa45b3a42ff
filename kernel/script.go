package main

import (
	"context"
	"errors"
	"fmt"
	"go/constant"
	"go/token"
	"io"
	"os"
	"reflect"
	"time"

	"github.com/execfeed/execfeed/kernel/display"
	"github.com/execfeed/execfeed/lib/passk"
	"github.com/execfeed/execfeed/lib/pytask"
	"github.com/execfeed/execfeed/lib/reward"
	"github.com/execfeed/execfeed/lib/rpn"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

func init() {
	register(command{name: "script", summary: "run a Go experiment script (interpreted by yaegi) with the execfeed library", run: runScript})
}

func runScript(args []string) error {
	c := newCLI("script")
	c.leftover = true
	timeout := c.duration("timeout", 0, false, "stop the script after this long (default: no limit)")
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, `usage: kernel script [-timeout D] FILE.go [ARGS...]

Runs FILE.go, a package main, in the yaegi interpreter: no build step. The standard library and
execfeed's library API are importable: lib/rpn, lib/pytask, lib/reward, lib/passk, kernel/display
and the outcome classes, test results and trace steps of sandbox. os.Args inside the script are FILE.go followed by ARGS.
This is a convenience for trusted experiment scripts, not a sandbox (reward scripts are guarded
separately; see lib/reward).

`)
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	fs := c.fs
	if fs.NArg() < 1 {
		return errors.New("missing FILE.go (kernel script -h)")
	}
	return runScriptFile(fs.Arg(0), fs.Args()[1:], os.Stdin, os.Stdout, os.Stderr, *timeout)
}

// runScriptFile interprets the Go file at path with the library symbols loaded.
func runScriptFile(path string, args []string, stdin io.Reader, stdout, stderr io.Writer, timeout time.Duration) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	i := interp.New(interp.Options{
		GoPath: "/nonexistent-execfeed-gopath", // only the symbols below can be imported
		Args:   append([]string{path}, args...),
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
	})
	if err := i.Use(stdlib.Symbols); err != nil {
		return err
	}
	if err := i.Use(librarySymbols()); err != nil {
		return err
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	_, err := i.EvalPathWithContext(ctx, path)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: stopped after %v", path, timeout)
	}
	var p interp.Panic
	if errors.As(err, &p) {
		return fmt.Errorf("%s: panic: %v", path, p.Value)
	}
	return err
}

// librarySymbols are the yaegi symbols of the library API a script may import. Generated with
// `yaegi extract -name main github.com/execfeed/execfeed/<pkg>` (v0.16.1) and pasted here;
// TestLibrarySymbolsComplete fails when a package gains an exported name that is missing.
func librarySymbols() interp.Exports {
	ex := reward.Symbols()
	ex["github.com/execfeed/execfeed/kernel/display/display"] = map[string]reflect.Value{
		// function, constant and variable definitions
		"Display":           reflect.ValueOf(display.Display),
		"DisplayRecords":    reflect.ValueOf(display.DisplayRecords),
		"DisplaySideBySide": reflect.ValueOf(display.DisplaySideBySide),
		"DisplayTable":      reflect.ValueOf(display.DisplayTable),
		"DisplayTrace":      reflect.ValueOf(display.DisplayTrace),
		"DisplayTree":       reflect.ValueOf(display.DisplayTree),
		"Error":             reflect.ValueOf(display.Error),
		"ExprTree":          reflect.ValueOf(display.ExprTree),
		"FirstDifference":   reflect.ValueOf(display.FirstDifference),
		"Format":            reflect.ValueOf(display.Format),
		"InNotebook":        reflect.ValueOf(display.InNotebook),
		"NewCurve":          reflect.ValueOf(display.NewCurve),
		"ProgramTree":       reflect.ValueOf(display.ProgramTree),
		"Records":           reflect.ValueOf(display.Records),
		"SideBySide":        reflect.ValueOf(display.SideBySide),
		"Table":             reflect.ValueOf(display.Table),
		"Trace":             reflect.ValueOf(display.Trace),
		"TraceTable":        reflect.ValueOf(display.TraceTable),

		// type definitions
		"Curve": reflect.ValueOf((*display.Curve)(nil)),
	}
	ex["github.com/execfeed/execfeed/lib/passk/passk"] = map[string]reflect.Value{
		// function, constant and variable definitions
		"Mean":            reflect.ValueOf(passk.Mean),
		"SeedProduct":     reflect.ValueOf(passk.SeedProduct),
		"Table":           reflect.ValueOf(passk.Table),
		"Unbiased":        reflect.ValueOf(passk.Unbiased),
		"WithReplacement": reflect.ValueOf(passk.WithReplacement),

		// type definitions
		"Count":  reflect.ValueOf((*passk.Count)(nil)),
		"Result": reflect.ValueOf((*passk.Result)(nil)),
	}
	ex["github.com/execfeed/execfeed/lib/reward/reward"] = map[string]reflect.Value{
		// function, constant and variable definitions
		"AST":                reflect.ValueOf(reward.AST),
		"AllowedImports":     reflect.ValueOf(&reward.AllowedImports).Elem(),
		"Builtin":            reflect.ValueOf(reward.Builtin),
		"CompileErrorReward": reflect.ValueOf(constant.MakeFromLiteral("-1", token.FLOAT, 0)),
		"DFG":                reflect.ValueOf(reward.DFG),
		"FailedTestReward":   reflect.ValueOf(constant.MakeFromLiteral("-0.3000000000000000000108420217248550443400745280086994171142578125", token.FLOAT, 0)),
		"ForOutcome":         reflect.ValueOf(reward.ForOutcome),
		"Load":               reflect.ValueOf(reward.Load),
		"LoadFile":           reflect.ValueOf(reward.LoadFile),
		"Outcome":            reflect.ValueOf(reward.Outcome),
		"PassRate":           reflect.ValueOf(reward.PassRate),
		"PassedTestReward":   reflect.ValueOf(constant.MakeFromLiteral("1", token.FLOAT, 0)),
		"RuntimeErrorReward": reflect.ValueOf(constant.MakeFromLiteral("-0.600000000000000000021684043449710088680149056017398834228515625", token.FLOAT, 0)),
		"Sum":                reflect.ValueOf(reward.Sum),
		"Syntax":             reflect.ValueOf(reward.Syntax),
		"Symbols":            reflect.ValueOf(reward.Symbols),

		// type definitions
		"Func":        reflect.ValueOf((*reward.Func)(nil)),
		"Limits":      reflect.ValueOf((*reward.Limits)(nil)),
		"Sample":      reflect.ValueOf((*reward.Sample)(nil)),
		"Script":      reflect.ValueOf((*reward.Script)(nil)),
		"ScriptError": reflect.ValueOf((*reward.ScriptError)(nil)),
	}
	ex["github.com/execfeed/execfeed/lib/rpn/rpn"] = map[string]reflect.Value{
		// function, constant and variable definitions
		"AsError":           reflect.ValueOf(rpn.AsError),
		"Basic":             reflect.ValueOf(rpn.Basic),
		"Check":             reflect.ValueOf(rpn.Check),
		"DefaultGenConfig":  reflect.ValueOf(rpn.DefaultGenConfig),
		"DivisionByZero":    reflect.ValueOf(rpn.DivisionByZero),
		"Empty":             reflect.ValueOf(rpn.Empty),
		"EquivalenceTrials": reflect.ValueOf(constant.MakeFromLiteral("64", token.INT, 0)),
		"Equivalent":        reflect.ValueOf(rpn.Equivalent),
		"Eval":              reflect.ValueOf(rpn.Eval),
		"Ext":               reflect.ValueOf(rpn.Ext),
		"Generate":          reflect.ValueOf(rpn.Generate),
		"Leftover":          reflect.ValueOf(rpn.Leftover),
		"LoadSplit":         reflect.ValueOf(rpn.LoadSplit),
		"Parse":             reflect.ValueOf(rpn.Parse),
		"ParseDialect":      reflect.ValueOf(rpn.ParseDialect),
		"ReadJSONL":         reflect.ValueOf(rpn.ReadJSONL),
		"Run":               reflect.ValueOf(rpn.Run),
		"SaveSplit":         reflect.ValueOf(rpn.SaveSplit),
		"SplitFile":         reflect.ValueOf(rpn.SplitFile),
		"Tokenize":          reflect.ValueOf(rpn.Tokenize),
		"Underflow":         reflect.ValueOf(rpn.Underflow),
		"UnknownToken":      reflect.ValueOf(rpn.UnknownToken),
		"WriteJSONL":        reflect.ValueOf(rpn.WriteJSONL),

		// type definitions
		"Dialect":   reflect.ValueOf((*rpn.Dialect)(nil)),
		"Env":       reflect.ValueOf((*rpn.Env)(nil)),
		"Error":     reflect.ValueOf((*rpn.Error)(nil)),
		"ErrorKind": reflect.ValueOf((*rpn.ErrorKind)(nil)),
		"Example":   reflect.ValueOf((*rpn.Example)(nil)),
		"Expr":      reflect.ValueOf((*rpn.Expr)(nil)),
		"GenConfig": reflect.ValueOf((*rpn.GenConfig)(nil)),
		"Monomial":  reflect.ValueOf((*rpn.Monomial)(nil)),
		"Poly":      reflect.ValueOf((*rpn.Poly)(nil)),
		"Split":     reflect.ValueOf((*rpn.Split)(nil)),
	}
	ex["github.com/execfeed/execfeed/lib/pytask/pytask"] = map[string]reflect.Value{
		"Dedent":           reflect.ValueOf(pytask.Dedent),
		"DefaultGenConfig": reflect.ValueOf(pytask.DefaultGenConfig),
		"Detokenize":       reflect.ValueOf(pytask.Detokenize),
		"Events":           reflect.ValueOf(pytask.Events),
		"Generate":         reflect.ValueOf(pytask.Generate),
		"Indent":           reflect.ValueOf(pytask.Indent),
		"LoadTask":         reflect.ValueOf(pytask.LoadTask),
		"NewTask":          reflect.ValueOf(pytask.NewTask),
		"Newline":          reflect.ValueOf(pytask.Newline),
		"ReturnKey":        reflect.ValueOf(pytask.ReturnKey),
		"SaveMBPP":         reflect.ValueOf(pytask.SaveMBPP),
		"TaskFromProblems": reflect.ValueOf(pytask.TaskFromProblems),
		"Tokenize":         reflect.ValueOf(pytask.Tokenize),
		"WriteMBPP":        reflect.ValueOf(pytask.WriteMBPP),

		// type definitions
		"Event":     reflect.ValueOf((*pytask.Event)(nil)),
		"Example":   reflect.ValueOf((*pytask.Example)(nil)),
		"GenConfig": reflect.ValueOf((*pytask.GenConfig)(nil)),
		"Language":  reflect.ValueOf((*pytask.Language)(nil)),
		"Split":     reflect.ValueOf((*pytask.Split)(nil)),
	}
	return ex
}
