package reward

import (
	"reflect"
	"strings"

	"github.com/execfeed/execfeed/sandbox"
	"github.com/traefik/yaegi/interp"
	"github.com/traefik/yaegi/stdlib"
)

// stdlibKeys are the yaegi symbol tables (import path/package name) a script may use; the
// list must agree with AllowedImports.
var stdlibKeys = []string{
	"errors/errors", "fmt/fmt", "maps/maps", "math/math", "math/bits/bits", "slices/slices",
	"sort/sort", "strconv/strconv", "strings/strings", "unicode/unicode", "unicode/utf8/utf8",
}

// fmtAllowed is the part of fmt a script may use: formatting, and printing to Limits.Stdout.
var fmtAllowed = []string{"Errorf", "Sprint", "Sprintf", "Sprintln", "Print", "Printf", "Println", "Stringer"}

// symbols returns the symbols a reward script's interpreter may use, bound to guard g.
func symbols(g *guard) interp.Exports {
	ex := interp.Exports{}
	for _, k := range stdlibKeys {
		m := map[string]reflect.Value{}
		for name, v := range stdlib.Symbols[k] {
			m[name] = v
		}
		switch k {
		case "fmt/fmt":
			keep := map[string]reflect.Value{}
			for _, n := range fmtAllowed {
				if v, ok := m[n]; ok {
					keep[n] = v
				}
			}
			for n, v := range m {
				if strings.HasPrefix(n, "_") { // interface wrappers, e.g. _fmt_Stringer
					keep[n] = v
				}
			}
			m = keep
		case "strings/strings":
			// Builder.Grow and Repeat can ask for any amount of memory in one call.
			delete(m, "Builder")
			m["Repeat"] = reflect.ValueOf(g.repeat)
		}
		ex[k] = m
	}
	for k, v := range Symbols() {
		ex[k] = v
	}
	ex[guardPkg+"/guard"] = map[string]reflect.Value{
		"Tick":  reflect.ValueOf(g.Tick),
		"Enter": reflect.ValueOf(g.Enter),
		"Exit":  reflect.ValueOf(g.Exit),
		"Len":   reflect.ValueOf(g.Len),
	}
	return ex
}

// Symbols returns the yaegi symbols a reward script sees of this package (Sample, Func and the
// built-in rewards; not the scripting machinery) and of sandbox (Outcome and its constants, and
// TestResult and Step: a sample's per-test verdicts and trace).
// Hosts that interpret user code, such as `kernel script`, load them with interp.Use.
func Symbols() interp.Exports {
	ex := interp.Exports{}
	ex["github.com/execfeed/execfeed/lib/reward/reward"] = map[string]reflect.Value{
		"Sample":             reflect.ValueOf((*Sample)(nil)),
		"Func":               reflect.ValueOf((*Func)(nil)),
		"ForOutcome":         reflect.ValueOf(ForOutcome),
		"Outcome":            reflect.ValueOf(Outcome),
		"Syntax":             reflect.ValueOf(Syntax),
		"PassRate":           reflect.ValueOf(PassRate),
		"AST":                reflect.ValueOf(AST),
		"DFG":                reflect.ValueOf(DFG),
		"PassedTestReward":   reflect.ValueOf(PassedTestReward),
		"FailedTestReward":   reflect.ValueOf(FailedTestReward),
		"RuntimeErrorReward": reflect.ValueOf(RuntimeErrorReward),
		"CompileErrorReward": reflect.ValueOf(CompileErrorReward),
	}
	ex["github.com/execfeed/execfeed/sandbox/sandbox"] = map[string]reflect.Value{
		"Outcome":           reflect.ValueOf((*sandbox.Outcome)(nil)),
		"CompileError":      reflect.ValueOf(sandbox.CompileError),
		"RuntimeError":      reflect.ValueOf(sandbox.RuntimeError),
		"FailedTest":        reflect.ValueOf(sandbox.FailedTest),
		"PassedTest":        reflect.ValueOf(sandbox.PassedTest),
		"Timeout":           reflect.ValueOf(sandbox.Timeout),
		"NumOutcomeClasses": reflect.ValueOf(sandbox.NumOutcomeClasses),
		"ParseOutcome":      reflect.ValueOf(sandbox.ParseOutcome),
		"TestResult":        reflect.ValueOf((*sandbox.TestResult)(nil)),
		"Step":              reflect.ValueOf((*sandbox.Step)(nil)),
	}
	return ex
}
