package pytask

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The three problem kinds. Each part (a filter, a map, a reduction, a condition, an expression)
// carries its phrasings, its Python code in its equivalent spellings and its meaning in Go, with
// Python's semantics (floor division, modulo with the divisor's sign).

// pyMod and pyDiv are Python's % and // on integers.
func pyMod(a, b int) int {
	m := a % b
	if m != 0 && (m < 0) != (b < 0) {
		m += b
	}
	return m
}

func pyDiv(a, b int) int { return (a - pyMod(a, b)) / b }

// ---- lists ----

type numFilter struct {
	kind string // "", even, odd, pos, neg, gt, lt
	k    int
}

func (f numFilter) keep(x int) bool {
	switch f.kind {
	case "even":
		return pyMod(x, 2) == 0
	case "odd":
		return pyMod(x, 2) == 1
	case "pos":
		return x > 0
	case "neg":
		return x < 0
	case "gt":
		return x > f.k
	case "lt":
		return x < f.k
	}
	return true
}

func (f numFilter) phrase(rng *rand.Rand) string {
	k := fmt.Sprint(f.k)
	switch f.kind {
	case "even":
		return pick(rng, "the even numbers in xs", "the numbers in xs that are even")
	case "odd":
		return pick(rng, "the odd numbers in xs", "the numbers in xs that are odd")
	case "pos":
		return pick(rng, "the positive numbers in xs", "the numbers in xs above zero")
	case "neg":
		return pick(rng, "the negative numbers in xs", "the numbers in xs below zero")
	case "gt":
		return pick(rng, "the numbers in xs greater than "+k, "the numbers in xs that exceed "+k)
	case "lt":
		return pick(rng, "the numbers in xs less than "+k, "the numbers in xs smaller than "+k)
	}
	return pick(rng, "the numbers in xs", "all numbers in xs")
}

func (f numFilter) code(rng *rand.Rand) string {
	k := fmt.Sprint(f.k)
	switch f.kind {
	case "even":
		return "x % 2 == 0"
	case "odd":
		return "x % 2 == 1"
	case "pos":
		return pick(rng, "x > 0", "0 < x")
	case "neg":
		return pick(rng, "x < 0", "0 > x")
	case "gt":
		return pick(rng, "x > "+k, k+" < x")
	case "lt":
		return pick(rng, "x < "+k, k+" > x")
	}
	return ""
}

type numMap struct {
	kind string // "", square, double, neg, plus
	k    int
}

func (m numMap) apply(x int) int {
	switch m.kind {
	case "square":
		return x * x
	case "double":
		return 2 * x
	case "neg":
		return -x
	case "plus":
		return x + m.k
	}
	return x
}

func (m numMap) code(rng *rand.Rand) string {
	k := fmt.Sprint(m.k)
	switch m.kind {
	case "square":
		return pick(rng, "x * x", "x ** 2")
	case "double":
		return pick(rng, "x * 2", "2 * x", "x + x")
	case "neg":
		return pick(rng, "-x", "0 - x")
	case "plus":
		return pick(rng, "x + "+k, k+" + x")
	}
	return "x"
}

type listProblem struct {
	filter numFilter
	mapf   numMap
	reduce string // sum, product, count, list, first
}

func newListProblem(rng *rand.Rand) problem {
	p := &listProblem{
		filter: numFilter{kind: pick(rng, "", "even", "odd", "pos", "neg", "gt", "lt"), k: 1 + rng.IntN(5)},
		mapf:   numMap{kind: pick(rng, "", "square", "double", "neg", "plus"), k: 1 + rng.IntN(5)},
		reduce: pick(rng, "sum", "sum", "product", "count", "list", "list", "first"),
	}
	if p.reduce == "count" {
		p.mapf = numMap{}
		if p.filter.kind == "" {
			p.filter.kind = "even"
		}
	}
	if p.filter.kind != "gt" && p.filter.kind != "lt" {
		p.filter.k = 0
	}
	if p.mapf.kind != "plus" {
		p.mapf.k = 0
	}
	return p
}

func (p *listProblem) describe(rng *rand.Rand) string {
	prefix, suffix := "", ""
	k := fmt.Sprint(p.mapf.k)
	switch p.mapf.kind {
	case "square":
		if rng.IntN(2) == 0 {
			prefix = "the squares of "
		} else {
			suffix = " , each squared"
		}
	case "double":
		if rng.IntN(2) == 0 {
			prefix = "the doubles of "
		} else {
			suffix = " , each doubled"
		}
	case "neg":
		if rng.IntN(2) == 0 {
			prefix = "the negatives of "
		} else {
			suffix = " , each negated"
		}
	case "plus":
		suffix = pick(rng, " , each increased by "+k, " , each plus "+k)
	}
	what := prefix + p.filter.phrase(rng) + suffix
	verb := pick(rng, "return ", "compute ", "give ")
	switch p.reduce {
	case "sum":
		return verb + pick(rng, "the sum of ", "the total of ") + what
	case "product":
		return verb + "the product of " + what
	case "count":
		return pick(rng, "return how many of ", "count ") + p.filter.phrase(rng)
	case "list":
		return verb + pick(rng, "a list of ", "the list of ") + what
	}
	return verb + "the first of " + what
}

func (p *listProblem) code(rng *rand.Rand) string {
	cond, val := p.filter.code(rng), p.mapf.code(rng)
	if p.reduce == "count" {
		val = "1"
	}
	guard := func(body []string) []string { // wraps the loop body in the filter's if
		if cond == "" {
			return body
		}
		out := []string{"if " + cond + ":"}
		for _, l := range body {
			out = append(out, "    "+l)
		}
		return out
	}
	ifPart := ""
	if cond != "" {
		ifPart = " if " + cond
	}
	comp := val + " for x in xs" + ifPart
	styles := []func() []string{}
	acc := pick(rng, "total", "result")
	loop := func(init string, body []string, ret string) []string {
		lines := []string{init, "for x in xs:"}
		for _, l := range guard(body) {
			lines = append(lines, "    "+l)
		}
		return append(lines, ret)
	}
	switch p.reduce {
	case "sum":
		styles = append(styles,
			func() []string {
				return loop(acc+" = 0", []string{pick(rng, acc+" += "+val, acc+" = "+acc+" + "+val)}, "return "+acc)
			},
			func() []string { return []string{"return sum(" + pick(rng, comp, "["+comp+"]") + ")"} })
	case "product":
		factor := val
		if strings.Contains(val, " + ") || strings.Contains(val, " - ") {
			factor = "(" + val + ")"
		}
		styles = append(styles, func() []string {
			return loop(acc+" = 1", []string{pick(rng, acc+" *= "+val, acc+" = "+acc+" * "+factor)}, "return "+acc)
		})
	case "count":
		styles = append(styles,
			func() []string { return loop("count = 0", []string{"count += 1"}, "return count") },
			func() []string {
				return []string{pick(rng, "return sum("+comp+")", "return len([x for x in xs"+ifPart+"])")}
			})
	case "list":
		styles = append(styles,
			func() []string { return loop(acc+" = []", []string{acc + ".append(" + val + ")"}, "return "+acc) },
			func() []string { return []string{"return [" + comp + "]"} })
	case "first":
		styles = append(styles,
			func() []string {
				lines := []string{"for x in xs:"}
				for _, l := range guard([]string{"return " + val}) {
					lines = append(lines, "    "+l)
				}
				return lines
			},
			func() []string { return []string{"return [" + comp + "][0]"} })
	}
	return function("xs", pickStyle(rng, styles)())
}

func (p *listProblem) input(rng *rand.Rand) []any {
	xs := make([]int, rng.IntN(7))
	for i := range xs {
		xs[i] = rng.IntN(19) - 9
	}
	return []any{xs}
}

func (p *listProblem) eval(args []any) (any, bool) {
	xs := args[0].([]int)
	var kept []int
	for _, x := range xs {
		if p.filter.keep(x) {
			kept = append(kept, p.mapf.apply(x))
		}
	}
	switch p.reduce {
	case "sum":
		s := 0
		for _, v := range kept {
			s += v
		}
		return s, true
	case "product":
		s := 1
		for _, v := range kept {
			s *= v
		}
		return s, true
	case "count":
		return len(kept), true
	case "list":
		if kept == nil {
			kept = []int{}
		}
		return kept, true
	}
	if len(kept) == 0 {
		return nil, false // "the first" of nothing is not defined (the comprehension raises)
	}
	return kept[0], true
}

// pickStyle picks a reference style: the first (the loop, with locals, whose traces carry
// meaning) two times in three, another otherwise.
func pickStyle[T any](rng *rand.Rand, styles []T) T {
	if len(styles) == 1 || rng.IntN(3) < 2 {
		return styles[0]
	}
	return styles[1+rng.IntN(len(styles)-1)]
}

// function writes "def f(args):" with the body indented.
func function(args string, body []string) string {
	var b strings.Builder
	b.WriteString("def f(" + args + "):\n")
	for _, l := range body {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// ---- strings ----

type stringProblem struct {
	filter string // "", vowels, consonants, letters
	upper  bool
	reduce string // join, reverse, count
}

func newStringProblem(rng *rand.Rand) problem {
	p := &stringProblem{filter: pick(rng, "", "vowels", "consonants", "letters"), upper: rng.IntN(2) == 0,
		reduce: pick(rng, "join", "join", "reverse", "count")}
	if p.reduce == "count" {
		p.upper = false
		if p.filter == "" {
			p.filter = "vowels"
		}
	}
	if p.reduce == "join" && p.filter == "" && !p.upper {
		p.upper = true
	}
	return p
}

func (p *stringProblem) keep(c byte) bool {
	vowel := strings.IndexByte("aeiou", c) >= 0
	switch p.filter {
	case "vowels":
		return vowel
	case "consonants":
		return c != ' ' && !vowel
	case "letters":
		return c != ' '
	}
	return true
}

func (p *stringProblem) describe(rng *rand.Rand) string {
	what := map[string][]string{
		"":           {"the characters of s", "s"},
		"vowels":     {"the vowels of s", "the vowels in s"},
		"consonants": {"the consonants of s", "the consonants in s"},
		"letters":    {"the letters of s", "s without its spaces"},
	}[p.filter]
	if p.reduce == "count" {
		return pick(rng, "return how many of ", "count ") + pick(rng, what...)
	}
	d := pick(rng, "return ", "give ") + pick(rng, what...)
	if p.upper {
		d += pick(rng, " , in upper case", " , upper-cased")
	}
	if p.reduce == "reverse" {
		d += pick(rng, " , in reverse order", " , reversed")
	}
	return d
}

func (p *stringProblem) code(rng *rand.Rand) string {
	cond := map[string]string{"": "", "vowels": "c in 'aeiou'",
		"consonants": pick(rng, "c != ' ' and c not in 'aeiou'", "c not in 'aeiou ' "),
		"letters":    pick(rng, "c != ' '", "c.isalpha()")}[p.filter]
	cond = strings.TrimSpace(cond)
	val := "c"
	if p.upper {
		val = "c.upper()"
	}
	ifPart := ""
	if cond != "" {
		ifPart = " if " + cond
	}
	body := func(stmt string) []string {
		if cond == "" {
			return []string{"for c in s:", "    " + stmt}
		}
		return []string{"for c in s:", "    if " + cond + ":", "        " + stmt}
	}
	var styles [][]string
	switch p.reduce {
	case "join":
		styles = append(styles, append(append([]string{"out = ''"}, body("out += "+val)...), "return out"),
			[]string{"return ''.join(" + pick(rng, val+" for c in s"+ifPart, "["+val+" for c in s"+ifPart+"]") + ")"})
	case "reverse":
		styles = append(styles, append(append([]string{"out = ''"}, body("out = "+val+" + out")...), "return out"),
			[]string{"return ''.join([" + val + " for c in s" + ifPart + "])[::-1]"})
	case "count":
		styles = append(styles, append(append([]string{"n = 0"}, body("n += 1")...), "return n"),
			[]string{pick(rng, "return sum(1 for c in s"+ifPart+")", "return len([c for c in s"+ifPart+"])")})
	}
	return function("s", pickStyle(rng, styles))
}

func (p *stringProblem) input(rng *rand.Rand) []any {
	const letters = "abcdeiou  stxyz"
	b := make([]byte, rng.IntN(9))
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return []any{string(b)}
}

func (p *stringProblem) eval(args []any) (any, bool) {
	s := args[0].(string)
	var out []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; p.keep(c) {
			if p.upper && c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
		}
	}
	switch p.reduce {
	case "count":
		return len(out), true
	case "reverse":
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return string(out), true
}

// ---- arithmetic ----

type expr struct {
	kind string // add, sub, rsub, mul, div, mod, twice, a, b, sq
}

func (e expr) eval(a, b int) (int, bool) {
	switch e.kind {
	case "add":
		return a + b, true
	case "sub":
		return a - b, true
	case "rsub":
		return b - a, true
	case "mul":
		return a * b, true
	case "div":
		if b == 0 {
			return 0, false
		}
		return pyDiv(a, b), true
	case "mod":
		if b == 0 {
			return 0, false
		}
		return pyMod(a, b), true
	case "twice":
		return 2 * a, true
	case "b":
		return b, true
	case "sq":
		return a * a, true
	}
	return a, true
}

func (e expr) phrase(rng *rand.Rand) string {
	return pick(rng, map[string][]string{
		"add": {"the sum of a and b", "a plus b"}, "sub": {"a minus b"}, "rsub": {"b minus a"},
		"mul": {"the product of a and b", "a times b"}, "div": {"a divided by b rounded down"},
		"mod": {"a modulo b", "the remainder of a divided by b"}, "twice": {"twice a", "a times 2"},
		"a": {"a"}, "b": {"b"}, "sq": {"the square of a"},
	}[e.kind]...)
}

func (e expr) code(rng *rand.Rand) string {
	return pick(rng, map[string][]string{
		"add": {"a + b", "b + a"}, "sub": {"a - b"}, "rsub": {"b - a"}, "mul": {"a * b", "b * a"}, "div": {"a // b"},
		"mod": {"a % b"}, "twice": {"2 * a", "a * 2", "a + a"}, "a": {"a"}, "b": {"b"}, "sq": {"a * a", "a ** 2"},
	}[e.kind]...)
}

type arithProblem struct {
	cond   string // gt, lt, eq, even, bpos; or range kinds: rsum, rsq, rcount
	e1, e2 expr
}

var exprKinds = []string{"add", "sub", "rsub", "mul", "div", "mod", "twice", "a", "b", "sq"}

func newArithProblem(rng *rand.Rand) problem {
	p := &arithProblem{cond: pick(rng, "gt", "lt", "eq", "even", "bpos", "rsum", "rsq", "rcount")}
	p.e1 = expr{pick(rng, exprKinds...)}
	for p.e2 = p.e1; p.e2 == p.e1; {
		p.e2 = expr{pick(rng, exprKinds...)}
	}
	if strings.HasPrefix(p.cond, "r") {
		p.e1, p.e2 = expr{}, expr{}
	}
	return p
}

func (p *arithProblem) condOK(a, b int) bool {
	switch p.cond {
	case "gt":
		return a > b
	case "lt":
		return a < b
	case "eq":
		return a == b
	case "even":
		return pyMod(a, 2) == 0
	}
	return b > 0
}

func (p *arithProblem) describe(rng *rand.Rand) string {
	switch p.cond {
	case "rsum":
		return "return the sum of the numbers from a to b"
	case "rsq":
		return "return the sum of the squares of the numbers from a to b"
	case "rcount":
		return pick(rng, "count the even numbers from a to b", "return how many even numbers lie between a and b")
	}
	c := pick(rng, map[string][]string{
		"gt": {"a is greater than b", "a exceeds b"}, "lt": {"a is less than b", "a is smaller than b"},
		"eq": {"a equals b", "a is equal to b"}, "even": {"a is even"}, "bpos": {"b is positive", "b is above zero"},
	}[p.cond]...)
	return "if " + c + " return " + p.e1.phrase(rng) + " , " + pick(rng, "otherwise", "else") + " return " + p.e2.phrase(rng)
}

func (p *arithProblem) code(rng *rand.Rand) string {
	switch p.cond {
	case "rsum", "rsq", "rcount":
		term, ifPart := "i", ""
		if p.cond == "rsq" {
			term = pick(rng, "i * i", "i ** 2")
		}
		if p.cond == "rcount" {
			term, ifPart = "1", " if i % 2 == 0"
		}
		loopBody := []string{"total += " + term}
		if ifPart != "" {
			loopBody = []string{"if i % 2 == 0:", "    total += 1"}
		}
		loop := []string{"total = 0", "for i in range(a, b + 1):"}
		for _, l := range loopBody {
			loop = append(loop, "    "+l)
		}
		loop = append(loop, "return total")
		return function("a, b", pickStyle(rng, [][]string{loop, {"return sum(" + term + " for i in range(a, b + 1)" + ifPart + ")"}}))
	}
	c := map[string]string{"gt": pick(rng, "a > b", "b < a"), "lt": pick(rng, "a < b", "b > a"), "eq": pick(rng, "a == b", "b == a"),
		"even": "a % 2 == 0", "bpos": pick(rng, "b > 0", "0 < b")}[p.cond]
	e1, e2 := p.e1.code(rng), p.e2.code(rng)
	return function("a, b", pickStyle(rng, [][]string{
		{"if " + c + ":", "    r = " + e1, "else:", "    r = " + e2, "return r"},
		{"if " + c + ":", "    return " + e1, "return " + e2},
		{"return " + e1 + " if " + c + " else " + e2}}))
}

func (p *arithProblem) input(rng *rand.Rand) []any {
	a, b := rng.IntN(19)-9, rng.IntN(19)-9
	if p.cond == "eq" && rng.IntN(2) == 0 {
		b = a
	}
	return []any{a, b}
}

func (p *arithProblem) eval(args []any) (any, bool) {
	a, b := args[0].(int), args[1].(int)
	switch p.cond {
	case "rsum", "rsq", "rcount":
		total := 0
		for i := a; i <= b; i++ {
			switch p.cond {
			case "rsum":
				total += i
			case "rsq":
				total += i * i
			default:
				if pyMod(i, 2) == 0 {
					total++
				}
			}
		}
		return total, true
	}
	if p.condOK(a, b) {
		return p.e1.eval(a, b)
	}
	return p.e2.eval(a, b)
}
