package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScriptExample(t *testing.T) {
	var out, errb bytes.Buffer
	err := runScriptFile(filepath.Join("testdata", "script_example.go"), []string{"40"}, strings.NewReader(""), &out, &errb, time.Minute)
	if err != nil {
		t.Fatalf("%v\nstderr: %s", err, errb.String())
	}
	if !strings.HasPrefix(out.String(), "examples 40, ") || !strings.Contains(out.String(), "mean scripted reward") {
		t.Errorf("unexpected output %q", out.String())
	}
	t.Log(strings.TrimSpace(out.String()))
}

func TestScriptErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var out bytes.Buffer
	err := runScriptFile(write("bad.go", "package main\n\nfunc main() {\n\tundefinedThing()\n}\n"), nil, nil, &out, &out, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "bad.go:4") {
		t.Errorf("compile error %v does not name bad.go:4", err)
	}
	err = runScriptFile(write("panic.go", "package main\n\nfunc main() {\n\tpanic(\"boom\")\n}\n"), nil, nil, &out, &out, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic not reported: %v", err)
	}
	err = runScriptFile(write("imp.go", "package main\n\nimport \"github.com/execfeed/execfeed/lib/trainer\"\n\nfunc main() { _ = trainer.X }\n"), nil, nil, &out, &out, time.Minute)
	if err == nil {
		t.Errorf("import of a package without symbols succeeded")
	}
	start := time.Now()
	err = runScriptFile(write("loop.go", "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n"), nil, nil, &out, &out, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "stopped after") || time.Since(start) > 10*time.Second {
		t.Errorf("endless script: %v after %v", err, time.Since(start))
	}
}

// TestLibrarySymbolsComplete checks that every exported, non-generic top-level name of the
// packages a script can import has a yaegi symbol, so the hand-pasted tables do not fall behind.
func TestLibrarySymbolsComplete(t *testing.T) {
	ex := librarySymbols()
	for dir, key := range map[string]string{
		"../lib/rpn":    "github.com/execfeed/execfeed/lib/rpn/rpn",
		"../lib/pytask": "github.com/execfeed/execfeed/lib/pytask/pytask",
		"../lib/passk":  "github.com/execfeed/execfeed/lib/passk/passk",
		"../lib/reward": "github.com/execfeed/execfeed/lib/reward/reward",
		"./display":     "github.com/execfeed/execfeed/kernel/display/display",
	} {
		syms := ex[key]
		if syms == nil {
			t.Errorf("no symbols for %s", key)
			continue
		}
		fset := token.NewFileSet()
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range af.Decls {
				var names []*ast.Ident
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Type.TypeParams == nil {
						names = append(names, d.Name)
					}
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.TypeSpec:
							if s.TypeParams == nil {
								names = append(names, s.Name)
							}
						case *ast.ValueSpec:
							names = append(names, s.Names...)
						}
					}
				}
				for _, n := range names {
					if n.IsExported() {
						if _, ok := syms[n.Name]; !ok {
							t.Errorf("%s: %s has no yaegi symbol in kernel/script.go librarySymbols", key, n.Name)
						}
					}
				}
			}
		}
	}
}
