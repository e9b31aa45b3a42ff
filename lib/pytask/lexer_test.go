package pytask

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestTokenizeLayout(t *testing.T) {
	src := "def f(xs):\n    total = 0  # running sum\n\n    for x in xs:\n        if x % 2 == 0:\n            total += x * x\n    return total\n"
	toks, err := Tokenize(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"def", "f", "(", "xs", ")", ":", Newline, Indent, "total", "=", "0", Newline, "for", "x", "in", "xs", ":",
		Newline, Indent, "if", "x", "%", "2", "==", "0", ":", Newline, Indent, "total", "+=", "x", "*", "x", Newline, Dedent, Dedent,
		"return", "total", Newline, Dedent}
	if !slices.Equal(toks, want) {
		t.Fatalf("Tokenize:\n got %q\nwant %q", toks, want)
	}
	back := Detokenize(toks)
	wantSrc := "def f(xs):\n    total = 0\n    for x in xs:\n        if x % 2 == 0:\n            total += x * x\n    return total\n"
	if back != wantSrc {
		t.Errorf("Detokenize:\n%s\nwant\n%s", back, wantSrc)
	}
}

func TestTokenizeLexemes(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{`x = r"a\"b" + b'c' + """d` + "\n" + `e"""`, []string{"x", "=", `r"a\"b"`, "+", "b'c'", "+", "\"\"\"d\ne\"\"\"", Newline}},
		{"y = (1 +\n  2.5e-3j) // 0x1F ** .5", []string{"y", "=", "(", "1", "+", "2.5e-3j", ")", "//", "0x1F", "**", ".5", Newline}},
		{"a[1:2] = b.c(d, *e, **g) -> h := 3", []string{"a", "[", "1", ":", "2", "]", "=", "b", ".", "c", "(", "d", ",", "*", "e", ",", "**", "g", ")", "->", "h", ":=", "3", Newline}},
		{"z = 1 + \\\n    2", []string{"z", "=", "1", "+", "2", Newline}},
	} {
		got, err := Tokenize(tc.src)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, %v; want %q", tc.src, got, err, tc.want)
		}
	}
	for _, bad := range []string{"x = 'abc", "f(x", "x = )", "if x:\n        y\n    z\n", "x = $"} {
		if _, err := Tokenize(bad); err == nil {
			t.Errorf("Tokenize(%q) should fail", bad)
		}
	}
}

// TestRoundTripPythonLibrary checks on real Python files (the interpreter's standard library) that
// Detokenize(Tokenize(src)) parses to the same syntax tree as src, with Python's own ast module.
func TestRoundTripPythonLibrary(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	out, err := exec.Command(py, "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])").Output()
	if err != nil {
		t.Fatal(err)
	}
	lib := strings.TrimSpace(string(out))
	files, _ := filepath.Glob(filepath.Join(lib, "*.py"))
	if len(files) < 50 {
		t.Fatalf("only %d files in %s", len(files), lib)
	}
	if testing.Short() {
		files = files[:50]
	}
	dir := t.TempDir()
	var pairs []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		toks, err := Tokenize(string(src))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		again, err := Tokenize(Detokenize(toks))
		if err != nil || !slices.Equal(again, toks) {
			t.Errorf("%s: tokens change on a second round trip (%v)", f, err)
			continue
		}
		rt := filepath.Join(dir, filepath.Base(f)+".rt")
		if err := os.WriteFile(rt, []byte(Detokenize(toks)), 0o644); err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, f, rt)
	}
	check := `
import ast, sys
args = sys.argv[1:]
bad = 0
for a, b in zip(args[::2], args[1::2]):
    try:
        x = ast.dump(ast.parse(open(a, 'rb').read()))
    except SyntaxError:
        continue  # not valid in this Python version
    try:
        y = ast.dump(ast.parse(open(b, 'rb').read()))
    except SyntaxError as e:
        print(a, 'round trip does not parse:', e); bad += 1; continue
    if x != y:
        print(a, 'round trip changes the syntax tree'); bad += 1
print('checked', len(args)//2)
sys.exit(1 if bad else 0)
`
	res, err := exec.Command(py, append([]string{"-c", check}, pairs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	t.Logf("%s", strings.TrimSpace(string(res)))
}
