package rpn

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestGenerateDeterministicUniqueValid(t *testing.T) {
	for _, d := range []Dialect{Basic, Ext} {
		cfg := DefaultGenConfig(d)
		s1, err := Generate(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s2, _ := Generate(cfg)
		if len(s1.Train) != 8000 || len(s1.Val) != 1000 || len(s1.Test) != 1000 {
			t.Fatalf("%v: split %d/%d/%d", d, len(s1.Train), len(s1.Val), len(s1.Test))
		}
		seen := map[string]bool{}
		for i, ex := range append(append(s1.Train, s1.Val...), s1.Test...) {
			if seen[ex.Description] {
				t.Fatalf("%v: duplicate description %q", d, ex.Description)
			}
			seen[ex.Description] = true
			if err := Check(ex.ProgramTokens(), d); err != nil {
				t.Fatalf("%v: example %d %q: %v", d, i, ex.Program, err)
			}
		}
		for i := range s1.Test {
			if s1.Test[i] != s2.Test[i] {
				t.Fatalf("%v: same seed gave different data at %d", d, i)
			}
		}
	}
}

func TestGeneratePhrasings(t *testing.T) {
	s, _ := Generate(DefaultGenConfig(Basic))
	want := []string{"add ", "the sum of", " plus ", "subtract ", " minus ", "the difference of",
		"multiply ", "the product of", " times ", "then increase it by", "then decrease it by"}
	all := ""
	for _, ex := range s.Train {
		all += ex.Description + "\n"
	}
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("no description uses the phrasing %q", w)
		}
	}
}

func TestJSONLRoundTripAndErrors(t *testing.T) {
	exs := []Example{{"add a and b", "a b +"}, {"square c", "c dup *"}}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, exs); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL(&buf, "x.jsonl", Ext)
	if err != nil || len(got) != 2 || got[1] != exs[1] {
		t.Fatalf("round trip: %v %v", got, err)
	}
	bad := []struct{ text, want string }{
		{`{"description": "x", "program": "a b +"}` + "\n" + `{"description": "y", "program": `, "bad.jsonl:2:"},
		{`{"description": "", "program": "a"}`, "bad.jsonl:1: missing description"},
		{`{"description": "x", "program": "a q +"}`, `bad.jsonl:1: program "a q +": rpn: unknown token`},
		{`{"description": "x", "program": "a b"}`, "leftover values"},
		{`{"description": "x", "prog": "a"}`, `unknown field "prog"`},
	}
	for _, b := range bad {
		_, err := ReadJSONL(strings.NewReader(b.text), "bad.jsonl", Basic)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("ReadJSONL(%q) error %v, want it to contain %q", b.text, err, b.want)
		}
	}
}

func TestSaveLoadSplit(t *testing.T) {
	cfg := DefaultGenConfig(Basic)
	cfg.Train, cfg.Val, cfg.Test = 20, 5, 5
	s, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := SaveSplit(dir, s); err != nil {
		t.Fatal(err)
	}
	l, err := LoadSplit(dir, Basic)
	if err != nil || len(l.Train) != 20 || l.Val[4] != s.Val[4] {
		t.Fatalf("load: %v %v", err, l.Val)
	}
	if _, err := LoadSplit(t.TempDir(), Basic); err == nil {
		t.Fatal("loading from an empty directory must fail")
	}
	// A file without examples is an error naming that file.
	for _, part := range []string{"train", "val", "test"} {
		if err := SaveSplit(dir, s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(SplitFile(dir, part), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSplit(dir, Basic)
		if err == nil || !strings.Contains(err.Error(), SplitFile(dir, part)+": no examples") {
			t.Errorf("empty %s.jsonl: %v, want an error naming it", part, err)
		}
	}
}
