package progress

import (
	"strings"
	"testing"
	"time"
)

func TestBarPlainLinesAndETA(t *testing.T) {
	var out strings.Builder
	old := PlainEvery
	PlainEvery = time.Hour
	defer func() { PlainEvery = old }()
	b := New(&out, "reinforce seed 1", 10, "iter")
	b.start = time.Now().Add(-4 * time.Second) // 4 steps took 4 s: 6 left take 6 s
	b.Update(4, "loss 0.50")
	if out.Len() != 0 {
		t.Fatalf("a plain bar wrote before its interval: %q", out.String())
	}
	text := b.Text()
	for _, want := range []string{"reinforce seed 1: 4/10 iter (40%)", "1.0s/iter", "loss 0.50", "4s elapsed", "ETA 6s"} {
		if !strings.Contains(text, want) {
			t.Errorf("bar text %q lacks %q", text, want)
		}
	}
	PlainEvery = 0
	b.Update(5, "loss 0.40")
	b.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "5/10") {
		t.Fatalf("plain lines %q, want two (the update past the interval, the end)", lines)
	}
	// A resumed routine counts its rate from where it started.
	r := New(nil, "x", 10, "epoch").From(6)
	r.start = time.Now().Add(-2 * time.Second)
	r.Update(8, "")
	if text := r.Text(); !strings.Contains(text, "1.0s/epoch") || !strings.Contains(text, "ETA 2s") {
		t.Errorf("resumed bar: %q, want 1.0s/epoch and ETA 2s", text)
	}
	var nilBar *Bar
	nilBar.Update(1, "") // a nil bar is silent
	nilBar.Done()
}

func TestLiveReplacesLines(t *testing.T) {
	var got []string
	Live = func(id, text string, done bool) { got = append(got, id+"|"+text) }
	defer func() { Live = nil }()
	var out strings.Builder
	b := New(&out, "sft", 3, "epoch")
	b.Update(1, "")
	b.Done()
	if out.Len() != 0 || len(got) != 2 || !strings.HasPrefix(got[0], b.id+"|sft: 1/3 epoch") {
		t.Errorf("live bar: wrote %q, showed %q", out.String(), got)
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{45 * time.Second: "45s", 187 * time.Second: "3m07s", 3720 * time.Second: "1h02m"} {
		if got := Duration(d); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPrintfKeepsLinesAndBarApart(t *testing.T) {
	var out strings.Builder
	b := New(&out, "sft", 4, "epoch")
	b.Printf("plain %d\n", 1) // not a terminal: only the line
	if out.String() != "plain 1\n" {
		t.Fatalf("plain Printf wrote %q", out.String())
	}
	out.Reset()
	b.terminal = true
	b.Update(2, "loss 0.5")
	b.Printf("epoch %d done\n", 2)
	got := out.String()
	// The bar, then its line blanked, the log line, and the bar drawn again below it.
	i, j, k := strings.Index(got, "\rsft: 2/4"), strings.Index(got, "\r\033[Kepoch 2 done\n"), strings.LastIndex(got, "\rsft: 2/4")
	if i < 0 || j <= i || k <= j {
		t.Fatalf("terminal Printf wrote %q", got)
	}
	b.Done()
	out.Reset()
	b.Printf("after\n")
	if out.String() != "\r\033[Kafter\n" {
		t.Errorf("Printf after Done redrew the bar: %q", out.String())
	}
	var nilBar *Bar
	nilBar.Printf("silent\n")
}
