package rpn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Example is one task example: a natural-language description and its reference program.
type Example struct {
	Description string `json:"description"`
	Program     string `json:"program"`
}

// DescriptionTokens splits the description into words (the comma is a word of its own).
func (e Example) DescriptionTokens() []string { return strings.Fields(e.Description) }

// ProgramTokens splits the reference program into tokens.
func (e Example) ProgramTokens() []string { return Tokenize(e.Program) }

// Split holds the three parts of a data set.
type Split struct {
	Train, Val, Test []Example
}

// GenConfig configures the synthetic NL -> RPN generator. The zero value is not useful; start
// from DefaultGenConfig.
type GenConfig struct {
	Dialect          Dialect
	Seed             uint64
	Train, Val, Test int       // split sizes; the examples are unique descriptions
	StepWeights      []float64 // relative weight of programs with 1, 2, 3, ... steps
	SubExprProb      float64   // probability that a later step's operand is itself a binary expression
	ExtProb          float64   // rpn-ext only: probability that a step uses "/", "square" or "... from it"
}

// DefaultGenConfig is seed 000's data set: 10,000 unique examples split 8,000/1,000/1,000.
func DefaultGenConfig(d Dialect) GenConfig {
	return GenConfig{Dialect: d, Seed: 1, Train: 8000, Val: 1000, Test: 1000,
		StepWeights: []float64{0.2, 0.4, 0.4}, SubExprProb: 0.3, ExtProb: 0.35}
}

// Generate makes a data set of unique examples, deterministic from cfg.Seed.
//
// A description is a chain of steps joined by ", then": the first step combines two operands,
// every later step combines the running value ("it") with a new operand, which may itself be a
// binary expression ("the sum of c and 2"). Each operator has several phrasings:
//
//	add a and b , then multiply by c                   ->  a b + c *
//	the product of 3 and b , then decrease it by a     ->  3 b * a -
//	subtract 4 from c , then times the sum of a and 2  ->  c 4 - a 2 + *
//
// In rpn-ext there is also division ("divide a by b", "then divided by 3"), squaring
// ("square a", "then square it" -> "dup *") and operations whose running value is the right
// operand ("then subtract it from 7" -> "7 swap -"). The reference program is the left-to-right
// postfix form of the description; for commutative operators other orders are correct too.
func Generate(cfg GenConfig) (Split, error) {
	n := cfg.Train + cfg.Val + cfg.Test
	if n <= 0 || cfg.Train < 0 || cfg.Val < 0 || cfg.Test < 0 {
		return Split{}, fmt.Errorf("rpn: bad split sizes %d/%d/%d", cfg.Train, cfg.Val, cfg.Test)
	}
	if len(cfg.StepWeights) == 0 {
		return Split{}, fmt.Errorf("rpn: GenConfig.StepWeights is empty")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	g := &generator{cfg: cfg, rng: rng}
	seen := make(map[string]bool, n)
	all := make([]Example, 0, n)
	for tries := 0; len(all) < n; tries++ {
		if tries > 200*n {
			return Split{}, fmt.Errorf("rpn: could only make %d unique examples of %d", len(all), n)
		}
		ex := g.example()
		if seen[ex.Description] {
			continue
		}
		seen[ex.Description] = true
		all = append(all, ex)
	}
	return Split{Train: all[:cfg.Train], Val: all[cfg.Train : cfg.Train+cfg.Val], Test: all[cfg.Train+cfg.Val:]}, nil
}

type generator struct {
	cfg GenConfig
	rng *rand.Rand
}

func (g *generator) pick(options ...string) string { return options[g.rng.IntN(len(options))] }

func (g *generator) leaf() string {
	if g.rng.IntN(2) == 0 {
		return g.pick("a", "b", "c")
	}
	return string(rune('0' + g.rng.IntN(10)))
}

func (g *generator) numSteps() int {
	total := 0.0
	for _, w := range g.cfg.StepWeights {
		total += w
	}
	x := g.rng.Float64() * total
	for i, w := range g.cfg.StepWeights {
		if x < w {
			return i + 1
		}
		x -= w
	}
	return len(g.cfg.StepWeights)
}

func (g *generator) op() string {
	if g.cfg.Dialect == Ext && g.rng.Float64() < g.cfg.ExtProb/2 {
		return "/"
	}
	return g.pick("+", "-", "*")
}

// binary describes "x op y" with two leaves, in one of the phrasings of a first step.
func (g *generator) binary(op, x, y string, nounOnly bool) (words, prog string) {
	prog = x + " " + y + " " + op
	noun := map[string]string{"+": "sum", "-": "difference", "*": "product", "/": "quotient"}[op]
	if nounOnly {
		return "the " + noun + " of " + x + " and " + y, prog
	}
	switch op {
	case "+":
		return g.pick("add "+x+" and "+y, "the sum of "+x+" and "+y, x+" plus "+y), prog
	case "-":
		return g.pick("subtract "+y+" from "+x, x+" minus "+y, "the difference of "+x+" and "+y), prog
	case "*":
		return g.pick("multiply "+x+" by "+y, "the product of "+x+" and "+y, x+" times "+y), prog
	}
	return g.pick("divide "+x+" by "+y, x+" divided by "+y, "the quotient of "+x+" and "+y), prog
}

// operand is a leaf or, with probability SubExprProb, a noun phrase for a binary expression.
func (g *generator) operand() (words, prog string) {
	if g.rng.Float64() < g.cfg.SubExprProb {
		return g.binary(g.op(), g.leaf(), g.leaf(), true)
	}
	x := g.leaf()
	return x, x
}

func (g *generator) example() Example {
	var words, prog []string
	if g.cfg.Dialect == Ext && g.rng.Float64() < g.cfg.ExtProb/4 {
		x := g.leaf()
		words, prog = append(words, "square "+x), append(prog, x+" dup *")
	} else {
		w, p := g.binary(g.op(), g.leaf(), g.leaf(), false)
		words, prog = append(words, w), append(prog, p)
	}
	for range g.numSteps() - 1 {
		var w, p string
		ext := g.cfg.Dialect == Ext && g.rng.Float64() < g.cfg.ExtProb
		switch {
		case ext && g.rng.IntN(3) == 0:
			w, p = "then square it", "dup *"
		case ext:
			zw, zp := g.operand()
			if g.rng.IntN(2) == 0 {
				w, p = "then subtract it from "+zw, zp+" swap -"
			} else {
				w, p = "then divide "+zw+" by it", zp+" swap /"
			}
		default:
			zw, zp := g.operand()
			op := g.op()
			p = zp + " " + op
			switch op {
			case "+":
				w = g.pick("then add ", "then plus ", "then increase it by ") + zw
			case "-":
				w = g.pick("then subtract ", "then minus ", "then decrease it by ") + zw
			case "*":
				w = g.pick("then multiply by ", "then times ", "then multiply it by ") + zw
			case "/":
				w = g.pick("then divide by ", "then divided by ") + zw
			}
		}
		words, prog = append(words, w), append(prog, p)
	}
	return Example{Description: strings.Join(words, " , "), Program: strings.Join(prog, " ")}
}

// WriteJSONL writes examples one JSON object per line.
func WriteJSONL(w io.Writer, examples []Example) error {
	enc := json.NewEncoder(w)
	for _, ex := range examples {
		if err := enc.Encode(ex); err != nil {
			return err
		}
	}
	return nil
}

// ReadJSONL reads examples written by WriteJSONL (or by hand). Every line must be a JSON object
// with a non-empty description and a program that is well formed in dialect d; the error names
// the line.
func ReadJSONL(r io.Reader, name string, d Dialect) ([]Example, error) {
	var out []Example
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var ex Example
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ex); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if strings.TrimSpace(ex.Description) == "" {
			return nil, fmt.Errorf("%s:%d: missing description", name, line)
		}
		if err := Check(ex.ProgramTokens(), d); err != nil {
			return nil, fmt.Errorf("%s:%d: program %q: %w", name, line, ex.Program, err)
		}
		out = append(out, ex)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// SaveSplit writes train.jsonl, val.jsonl and test.jsonl into dir.
func SaveSplit(dir string, s Split) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, part := range map[string][]Example{"train": s.Train, "val": s.Val, "test": s.Test} {
		f, err := os.Create(SplitFile(dir, name))
		if err != nil {
			return err
		}
		err = WriteJSONL(f, part)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("rpn: writing %s: %w", f.Name(), err)
		}
	}
	return nil
}

// SplitFile is the path LoadSplit reads part ("train", "val" or "test") of a split from.
func SplitFile(dir, part string) string { return filepath.Join(dir, part+".jsonl") }

// LoadSplit reads train.jsonl, val.jsonl and test.jsonl from dir. A file without examples is an
// error naming it.
func LoadSplit(dir string, d Dialect) (Split, error) {
	var s Split
	for _, part := range []struct {
		name string
		dst  *[]Example
	}{{"train", &s.Train}, {"val", &s.Val}, {"test", &s.Test}} {
		path := SplitFile(dir, part.name)
		f, err := os.Open(path)
		if err != nil {
			return Split{}, fmt.Errorf("rpn: %w", err)
		}
		*part.dst, err = ReadJSONL(f, path, d)
		f.Close()
		if err != nil {
			return Split{}, err
		}
		if len(*part.dst) == 0 {
			return Split{}, fmt.Errorf("rpn: %s: no examples", path)
		}
	}
	return s, nil
}
