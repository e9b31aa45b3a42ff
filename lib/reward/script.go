package reward

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing/fstest"
	"time"

	"github.com/traefik/yaegi/interp"
)

// A scripted reward is a Go source file, loaded at run time and interpreted by yaegi, that
// defines
//
//	func Reward(s reward.Sample) float64
//
// in any package. It may import only the packages listed by AllowedImports: a few standard
// packages plus this package and sandbox (for sandbox.Outcome and its constants):
//
//	package main
//
//	import (
//		"github.com/execfeed/execfeed/lib/reward"
//		"github.com/execfeed/execfeed/sandbox"
//	)
//
//	func Reward(s reward.Sample) float64 {
//		if s.Outcome == sandbox.PassedTest {
//			return 1
//		}
//		return reward.PassRate(s) - 1
//	}
//
// Guarding. Before yaegi sees the source, Load checks it and rewrites it:
//
//   - imports outside the whitelist (os, os/exec, unsafe, syscall, net, reflect, ...) are refused;
//   - goroutines, channels, select and goto are refused (they could block or loop unseen);
//   - every loop body and function body starts with a call into a guard, which stops the call
//     (by panicking) once its time budget is spent, once the call has allocated more than
//     Limits.MaxAllocBytes, or once calls nest deeper than Limits.MaxDepth;
//   - every make(T, n) checks n times the element size against Limits.MaxAllocBytes first;
//   - strings.Repeat is replaced by a version that checks the size of its result.
//
// The rewrite keeps line numbers, so errors name the script's file and line.
//
// Honest limits. yaegi is not a security boundary: these are guards against mistakes and plain
// hostile code, not against an attacker who knows yaegi's internals. A single expression that
// allocates without a loop or make (appending to itself inside one statement is still inside a
// loop) can overshoot MaxAllocBytes by the size of that one allocation before the next guard
// call sees it; the allocation counter is process-wide, so other goroutines allocating during a
// call count against the script; a std function of the whitelist runs to completion once called.
// A call that still has not returned Limits.Grace after its deadline is abandoned: its goroutine
// is left to finish on its own, the interpreter is dropped and the next call loads a fresh one.

// AllowedImports lists the import paths a reward script may use.
var AllowedImports = []string{
	"errors", "fmt", "maps", "math", "math/bits", "slices", "sort", "strconv", "strings",
	"unicode", "unicode/utf8",
	"github.com/execfeed/execfeed/lib/reward", "github.com/execfeed/execfeed/sandbox",
}

// Limits bound one call of a script. The zero value of a field means its default.
type Limits struct {
	// Timeout is the time budget of one call (default 1s).
	Timeout time.Duration
	// LoadTimeout bounds loading the script, including its package-level initialisers (default 10s).
	LoadTimeout time.Duration
	// Grace is how long after Timeout a call that ignores the stop (stuck outside the guards) is
	// waited for before its interpreter is abandoned (default 1s).
	Grace time.Duration
	// MaxAllocBytes bounds the bytes allocated during one call (default 256 MiB).
	MaxAllocBytes int64
	// MaxDepth bounds the depth of nested calls of script functions (default 10,000).
	MaxDepth int
	// Stdout receives what the script prints with fmt.Print* (default os.Stdout).
	Stdout io.Writer
}

func (l Limits) withDefaults() Limits {
	if l.Timeout <= 0 {
		l.Timeout = time.Second
	}
	if l.LoadTimeout <= 0 {
		l.LoadTimeout = 10 * time.Second
	}
	if l.Grace <= 0 {
		l.Grace = time.Second
	}
	if l.MaxAllocBytes <= 0 {
		l.MaxAllocBytes = 256 << 20
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = 10000
	}
	if l.Stdout == nil {
		l.Stdout = os.Stdout
	}
	return l
}

// ScriptError is an error of a reward script: refused at load, failed to compile, panicked,
// ran out of time or memory. Its message names the script and, where known, the line.
type ScriptError struct {
	Script string // the script's name (its file name, or the name given to Load)
	Line   int    // 1-based line, 0 when unknown
	Kind   string // "refused", "compile", "panic", "timeout", "memory", "depth", "result"
	Msg    string
}

func (e *ScriptError) Error() string {
	where := e.Script
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	return fmt.Sprintf("reward script %s: %s: %s", where, e.Kind, e.Msg)
}

// Script is a loaded reward script. Its methods are safe for concurrent use; calls are
// serialised (one interpreter per Script; load several Scripts to score in parallel). Close
// releases the interpreter; an unreachable Script is also cleaned up by the garbage collector.
type Script struct {
	name   string
	src    string // the rewritten source
	limits Limits

	mu    sync.Mutex
	w     *worker // nil after an abandoned call, until the next call reloads
	hold  *holder
	hard  *time.Timer // the deadline after which a call is abandoned
	loads int
}

// holder owns the current worker so that a cleanup can stop it without keeping the Script alive.
type holder struct {
	mu sync.Mutex
	w  *worker
}

func (h *holder) set(w *worker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil && h.w != w {
		h.w.close()
	}
	h.w = w
}

// worker is one interpreter with the goroutine that runs its calls. The goroutine lives as long
// as the interpreter, so its grown stack is reused across calls.
type worker struct {
	in     *interp.Interpreter
	fn     func(Sample) float64
	g      *guard
	stderr *lockedBuffer
	req    chan Sample
	resp   chan callResult
	once   sync.Once
}

type callResult struct {
	v   float64
	err error
}

func (w *worker) close() { w.once.Do(func() { close(w.req) }) }

func (w *worker) loop(s *scriptInfo) {
	for x := range w.req {
		w.resp <- w.run(s, x)
	}
}

func (w *worker) run(s *scriptInfo, x Sample) (r callResult) {
	defer func() {
		if p := recover(); p != nil {
			r.err = s.panicError(p, w.stderr.String())
		}
	}()
	r.v = w.fn(x)
	return r
}

// scriptInfo is what a worker needs to know about its script (not the Script, which it must not
// keep alive).
type scriptInfo struct{ name string }

// LoadFile loads a reward script from a file; errors name the file.
func LoadFile(path string, limits Limits) (*Script, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reward: %w", err)
	}
	return Load(filepath.Base(path), string(b), limits)
}

// Load loads a reward script from source; name is used in errors (e.g. "bonus.go" or
// "notebook cell 3"). The script must define func Reward(reward.Sample) float64.
func Load(name, src string, limits Limits) (*Script, error) {
	if name == "" {
		name = "script.go"
	}
	rewritten, err := instrument(name, src)
	if err != nil {
		return nil, err
	}
	s := &Script{name: name, src: rewritten, limits: limits.withDefaults(), hold: &holder{}}
	s.hard = time.NewTimer(time.Hour)
	s.hard.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(); err != nil {
		return nil, err
	}
	runtime.AddCleanup(s, func(h *holder) { h.set(nil) }, s.hold)
	return s, nil
}

// Name returns the script's name as used in errors.
func (s *Script) Name() string { return s.name }

// Loads reports how many interpreters the script has used: 1, plus one per abandoned call.
func (s *Script) Loads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// Close releases the script's interpreter. Calls after Close load a fresh one.
func (s *Script) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = nil
	s.hold.set(nil)
}

// fileName is the name the source has inside yaegi's file system (positions print with it).
func (s *Script) fileName() string {
	n := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ':' {
			return '_'
		}
		return r
	}, s.name)
	if !strings.HasSuffix(n, ".go") {
		n += ".go"
	}
	return n
}

// load builds a fresh interpreter, evaluates the script in it and starts its worker. s.mu is held.
func (s *Script) load() error {
	s.loads++
	w := &worker{g: &guard{limits: s.limits}, stderr: &lockedBuffer{}, req: make(chan Sample), resp: make(chan callResult, 1)}
	file := s.fileName()
	w.in = interp.New(interp.Options{
		GoPath:               "/nonexistent-execfeed-gopath",
		SourcecodeFilesystem: fstest.MapFS{file: &fstest.MapFile{Data: []byte(s.src)}},
		Stdout:               s.limits.Stdout,
		Stderr:               w.stderr,
		Stdin:                strings.NewReader(""),
	})
	if err := w.in.Use(symbols(w.g)); err != nil {
		return fmt.Errorf("reward: yaegi symbols: %w", err)
	}
	info := &scriptInfo{name: s.name}
	done := make(chan error, 1)
	timer := w.g.start(s.limits.LoadTimeout)
	defer timer.Stop()
	go func() {
		var err error
		defer func() {
			if p := recover(); p != nil {
				err = info.panicError(p, w.stderr.String())
				if w.stderr.String() == "" { // yaegi itself panicked while compiling
					err = &ScriptError{Script: s.name, Kind: "compile",
						Msg: fmt.Sprintf("yaegi could not compile the script (is every package imported and every name declared?): %v", p)}
				}
			}
			done <- err
		}()
		if _, err = w.in.EvalPath(file); err != nil {
			err = info.compileError(err)
			return
		}
		v, e := w.in.Eval(pkgName(s.src) + ".Reward")
		if e != nil {
			err = &ScriptError{Script: s.name, Kind: "compile", Msg: "the script must define func Reward(reward.Sample) float64"}
			return
		}
		fn, ok := v.Interface().(func(Sample) float64)
		if !ok {
			err = &ScriptError{Script: s.name, Kind: "compile", Msg: fmt.Sprintf("Reward has type %s, want func(reward.Sample) float64", v.Type())}
			return
		}
		w.fn = fn
	}()
	s.hard.Reset(s.limits.LoadTimeout + s.limits.Grace)
	defer s.hard.Stop()
	select {
	case err := <-done:
		w.g.stop.Store(true)
		if err != nil {
			return err
		}
	case <-s.hard.C:
		w.g.stop.Store(true)
		return &ScriptError{Script: s.name, Kind: "timeout", Msg: fmt.Sprintf("loading took more than %v", s.limits.LoadTimeout)}
	}
	go w.loop(info)
	s.w = w
	s.hold.set(w)
	return nil
}

// Call runs the script's Reward on x within the limits. An error is a *ScriptError; the Script
// stays usable after any error.
func (s *Script) Call(x Sample) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		if err := s.load(); err != nil {
			return 0, err
		}
	}
	w := s.w
	w.stderr.Reset()
	timer := w.g.start(s.limits.Timeout)
	defer timer.Stop()
	w.req <- x
	s.hard.Reset(s.limits.Timeout + s.limits.Grace)
	defer s.hard.Stop()
	select {
	case r := <-w.resp:
		return r.v, r.err
	case <-s.hard.C:
		// Stuck outside the guards: drop this interpreter, the next call loads a fresh one. The
		// worker's goroutine ends when the call finally returns (its req channel is closed).
		w.g.stop.Store(true)
		s.w = nil
		s.hold.set(nil)
		return 0, &ScriptError{Script: s.name, Kind: "timeout",
			Msg: fmt.Sprintf("call did not return within %v (abandoned; the interpreter is reloaded)", s.limits.Timeout)}
	}
}

// Func adapts the script to a Func for trainers. A script error panics with the *ScriptError:
// a broken reward should stop training loudly rather than feed it made-up numbers. Use Call to
// handle errors yourself.
func (s *Script) Func() Func {
	return func(x Sample) float64 {
		v, err := s.Call(x)
		if err != nil {
			panic(err)
		}
		return v
	}
}

var (
	posRE   = regexp.MustCompile(`(?m)^[^:\n]*\.go:(\d+):(\d+): `)
	panicRE = regexp.MustCompile(`(?m)^[^:\n]*\.go:(\d+):\d+: panic: ([^\n(]*)\(`)
)

// panicError turns a panic out of the interpreted code into a *ScriptError. yaegi prints
// "file:line:col: panic: ..." to its stderr for every frame the panic crosses, innermost first.
func (s *scriptInfo) panicError(p any, stderr string) error {
	e := &ScriptError{Script: s.name, Kind: "panic", Msg: fmt.Sprint(p)}
	if err, ok := p.(error); ok {
		e.Msg = err.Error()
	}
	// yaegi names the function the panic crossed and that function's line, not the statement.
	if m := panicRE.FindStringSubmatch(stderr); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "in " + m[2] + " (line of the function): " + e.Msg
	}
	var stop *guardStop
	if err, ok := p.(error); ok && errors.As(err, &stop) {
		e.Kind, e.Msg = stop.kind, stop.msg
		if stop.line > 0 {
			e.Line = stop.line
		}
	}
	return e
}

// compileError turns a yaegi parse/compile error into a *ScriptError with its line.
func (s *scriptInfo) compileError(err error) error {
	msg := err.Error()
	e := &ScriptError{Script: s.name, Kind: "compile", Msg: msg}
	if m := posRE.FindStringSubmatchIndex(msg); m != nil {
		e.Line, _ = strconv.Atoi(msg[m[2]:m[3]])
		e.Msg = strings.TrimSpace(msg[m[1]:])
	}
	var p interp.Panic
	if errors.As(err, &p) {
		return s.panicError(p.Value, string(p.Stack))
	}
	return e
}

func pkgName(src string) string {
	f, err := parser.ParseFile(token.NewFileSet(), "", src, parser.PackageClauseOnly)
	if err != nil {
		return "main"
	}
	return f.Name.Name
}

// guardPkg is the import path of the guard the rewrite calls; guardName its local name.
const (
	guardPkg  = "execfeed.invalid/guard"
	guardName = "xfguard__"
)

// instrument checks a script's source and rewrites it with guard calls, keeping line numbers.
func instrument(name, src string) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		e := &ScriptError{Script: name, Kind: "compile", Msg: err.Error()}
		var list scanner.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			e.Line, e.Msg = list[0].Pos.Line, list[0].Msg
		}
		return "", e
	}
	refuse := func(n ast.Node, format string, args ...any) error {
		return &ScriptError{Script: name, Line: fset.Position(n.Pos()).Line, Kind: "refused", Msg: fmt.Sprintf(format, args...)}
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if !slices.Contains(AllowedImports, p) {
			return "", refuse(imp, "import %q is not allowed (allowed: %s)", p, strings.Join(AllowedImports, ", "))
		}
		if imp.Name != nil && imp.Name.Name == "." {
			return "", refuse(imp, "dot import of %q is not allowed", p)
		}
	}
	type edit struct {
		off  int
		text string
	}
	var edits []edit
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	line := func(n ast.Node) int { return fset.Position(n.Pos()).Line }
	tick := func(n ast.Node) string { return fmt.Sprintf("%s.Tick(%d);", guardName, line(n)) }
	enter := func(n ast.Node) string {
		return fmt.Sprintf("%s.Enter(%d); defer %s.Exit();", guardName, line(n), guardName)
	}
	var werr error
	ast.Inspect(f, func(n ast.Node) bool {
		if werr != nil {
			return false
		}
		switch n := n.(type) {
		case *ast.GoStmt:
			werr = refuse(n, "go statements are not allowed")
		case *ast.SelectStmt:
			werr = refuse(n, "select is not allowed")
		case *ast.SendStmt:
			werr = refuse(n, "channels are not allowed")
		case *ast.ChanType:
			werr = refuse(n, "channels are not allowed")
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				werr = refuse(n, "channels are not allowed")
			}
		case *ast.BranchStmt:
			if n.Tok == token.GOTO {
				werr = refuse(n, "goto is not allowed")
			}
		case *ast.Ident:
			if strings.HasPrefix(n.Name, "xfguard") {
				werr = refuse(n, "identifier %s is reserved", n.Name)
			}
		case *ast.FuncDecl:
			if n.Body != nil {
				edits = append(edits, edit{off(n.Body.Lbrace) + 1, enter(n)})
			}
		case *ast.FuncLit:
			edits = append(edits, edit{off(n.Body.Lbrace) + 1, enter(n)})
		case *ast.ForStmt:
			edits = append(edits, edit{off(n.Body.Lbrace) + 1, tick(n)})
		case *ast.RangeStmt:
			edits = append(edits, edit{off(n.Body.Lbrace) + 1, tick(n)})
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "make" && len(n.Args) >= 2 {
				typ := src[off(n.Args[0].Pos()):off(n.Args[0].End())]
				for _, a := range n.Args[1:] {
					edits = append(edits, edit{off(a.Pos()), fmt.Sprintf("%s.Len(%d, int(", guardName, line(n))},
						edit{off(a.End()), "), (" + typ + ")(nil))"})
				}
			}
		}
		return true
	})
	if werr != nil {
		return "", werr
	}
	edits = append(edits, edit{off(f.Name.End()), "; import " + guardName + " " + strconv.Quote(guardPkg)},
		edit{len(src), "\nvar _ = " + guardName + ".Exit\n"})
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].off < edits[j].off })
	var b strings.Builder
	last := 0
	for _, e := range edits {
		b.WriteString(src[last:e.off])
		b.WriteString(e.text)
		last = e.off
	}
	b.WriteString(src[last:])
	return b.String(), nil
}

// guardStop is the panic value of a guard that stops a call.
type guardStop struct {
	kind, msg string
	line      int
}

func (g *guardStop) Error() string { return g.kind + ": " + g.msg }

// guard holds the per-interpreter state behind the calls the rewrite inserts.
type guard struct {
	limits    Limits
	stop      atomic.Bool
	why       atomic.Value // string: why stop was set
	depth     int
	allocBase uint64
	budget    atomic.Int64
	timer     *time.Timer
	sample    []metrics.Sample
}

const allocMetric = "/gc/heap/allocs:bytes"

// start arms the guard for a call of the given budget and returns the timer that stops it.
func (g *guard) start(budget time.Duration) *time.Timer {
	g.stop.Store(false)
	g.why.Store("")
	g.depth = 0
	if g.sample == nil {
		g.sample = []metrics.Sample{{Name: allocMetric}}
	}
	g.allocBase = g.allocated()
	g.budget.Store(int64(budget))
	if g.timer == nil {
		g.timer = time.AfterFunc(budget, g.expire)
	} else {
		g.timer.Reset(budget)
	}
	return g.timer
}

func (g *guard) expire() {
	g.why.Store(fmt.Sprintf("ran past its time budget of %v", time.Duration(g.budget.Load())))
	g.stop.Store(true)
}

func (g *guard) allocated() uint64 {
	metrics.Read(g.sample)
	if g.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return g.sample[0].Value.Uint64()
}

// Tick is called at the top of every loop body; line is the loop's line.
func (g *guard) Tick(line int) { g.check(line, true) }

func (g *guard) check(line int, mem bool) {
	if g.stop.Load() {
		why, _ := g.why.Load().(string)
		if why == "" {
			why = "stopped"
		}
		panic(&guardStop{"timeout", why, line})
	}
	if !mem {
		return
	}
	if a := g.allocated() - g.allocBase; int64(a) > g.limits.MaxAllocBytes {
		g.why.Store("stopped after running out of memory")
		g.stop.Store(true)
		panic(&guardStop{"memory", fmt.Sprintf("allocated %d MiB in one call, more than the limit of %d MiB", a>>20, g.limits.MaxAllocBytes>>20), line})
	}
}

// Enter is called at the top of every function body, Exit deferred; line is the function's line.
// The entry call of Reward skips the memory check (start has just measured).
func (g *guard) Enter(line int) {
	g.check(line, g.depth > 0)
	g.depth++
	if g.depth > g.limits.MaxDepth {
		g.depth = 0
		panic(&guardStop{"depth", fmt.Sprintf("calls nested deeper than %d (runaway recursion?)", g.limits.MaxDepth), line})
	}
}

// Exit undoes Enter.
func (g *guard) Exit() { g.depth-- }

// Len checks the size of make(T, n) before it happens; zero is a nil value of T.
func (g *guard) Len(line, n int, zero any) int {
	if n < 0 {
		return n // make panics with its own message
	}
	size := int64(8)
	if t := reflect.TypeOf(zero); t != nil {
		switch t.Kind() {
		case reflect.Slice:
			size = int64(t.Elem().Size())
		case reflect.Map:
			size = int64(t.Key().Size() + t.Elem().Size())
		}
	}
	if size < 1 {
		size = 1
	}
	if int64(n) > g.limits.MaxAllocBytes/size {
		panic(&guardStop{"memory", fmt.Sprintf("make of %d elements of %d bytes is more than the limit of %d MiB", n, size, g.limits.MaxAllocBytes>>20), line})
	}
	return n
}

// repeat is strings.Repeat with a size check.
func (g *guard) repeat(s string, count int) string {
	if count > 0 && int64(len(s)) > g.limits.MaxAllocBytes/int64(count) {
		panic(&guardStop{"memory", fmt.Sprintf("strings.Repeat of %d x %d bytes is more than the limit of %d MiB", count, len(s), g.limits.MaxAllocBytes>>20), 0})
	}
	return strings.Repeat(s, count)
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<16 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}
