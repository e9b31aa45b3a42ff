package pytask

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The program tokeniser: Python source as the lexemes a model writes. Layout becomes tokens of
// its own, as in Python's own tokenizer: Newline ends a logical line, Indent and Dedent open and
// close a block. Comments, blank lines and line continuations (a backslash, or a newline inside
// brackets) are dropped; a string literal, triple-quoted or prefixed (r, b, f, u), is one token.
// Detokenize writes every logical line on one line, indented four spaces per level, so
// Detokenize(Tokenize(p)) is p laid out afresh: it parses to the same syntax tree and runs
// identically.

// Layout tokens.
const (
	Newline = "<nl>"
	Indent  = "<indent>"
	Dedent  = "<dedent>"
)

// operators lists Python's operators and delimiters, longest first within each first byte so
// that the first match is the longest.
var operators = []string{
	"**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=", ":=",
	"<<", "<=", "==", ">=", ">>", "@=", "^=", "|=",
	"!", "%", "&", "(", ")", "*", "+", ",", "-", ".", "/", ":", ";", "<", "=", ">", "@", "[", "]", "^", "{", "|", "}", "~",
}

// Tokenize splits Python source into lexemes with Newline, Indent and Dedent tokens. An
// unterminated string, an unknown character, unbalanced brackets or inconsistent dedents are
// errors with the line number.
func Tokenize(src string) ([]string, error) {
	var out []string
	indents := []int{0}
	depth := 0      // bracket nesting: newlines inside brackets do not end the line
	atStart := true // at the start of a logical line (indentation not yet measured)
	lineHasTok := false
	line := 1
	i := 0
	for i < len(src) {
		if atStart && depth == 0 {
			// Measure the indentation of the next line with content.
			col, j := 0, i
			for j < len(src) && (src[j] == ' ' || src[j] == '\t' || src[j] == '\f') {
				if src[j] == '\t' {
					col = (col/8 + 1) * 8
				} else if src[j] == ' ' {
					col++
				}
				j++
			}
			if j >= len(src) {
				i = j
				break
			}
			if src[j] == '\n' || src[j] == '#' || src[j] == '\r' || (src[j] == '\\' && j+1 < len(src) && src[j+1] == '\n') {
				// Blank or comment-only line: no tokens, no indentation change.
				for j < len(src) && src[j] != '\n' {
					j++
				}
				if j < len(src) {
					j++
					line++
				}
				i = j
				continue
			}
			if col > indents[len(indents)-1] {
				indents = append(indents, col)
				out = append(out, Indent)
			}
			for col < indents[len(indents)-1] {
				indents = indents[:len(indents)-1]
				out = append(out, Dedent)
			}
			if col != indents[len(indents)-1] {
				return nil, fmt.Errorf("pytask: line %d: dedent does not match any outer indentation level", line)
			}
			i, atStart = j, false
			continue
		}
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
			if depth == 0 {
				if lineHasTok {
					out = append(out, Newline)
				}
				atStart, lineHasTok = true, false
			}
			continue
		case c == ' ' || c == '\t' || c == '\f' || c == '\r':
			i++
			continue
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		case c == '\\' && i+1 < len(src) && (src[i+1] == '\n' || src[i+1] == '\r'):
			i += 2
			if src[i-1] == '\r' && i < len(src) && src[i] == '\n' {
				i++
			}
			line++
			continue
		}
		if n := stringLen(src[i:]); n != 0 {
			if n < 0 {
				return nil, fmt.Errorf("pytask: line %d: unterminated string literal", line)
			}
			lit := src[i : i+n]
			line += strings.Count(lit, "\n")
			out = append(out, lit)
			i += n
			lineHasTok = true
			continue
		}
		r, size := utf8.DecodeRuneInString(src[i:])
		switch {
		case r == '_' || unicode.IsLetter(r):
			j := i + size
			for j < len(src) {
				r2, s2 := utf8.DecodeRuneInString(src[j:])
				if r2 != '_' && !unicode.IsLetter(r2) && !unicode.IsDigit(r2) {
					break
				}
				j += s2
			}
			out = append(out, src[i:j])
			i = j
		case isDigit(c) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			n := numberLen(src[i:])
			out = append(out, src[i:i+n])
			i += n
		default:
			op := ""
			for _, o := range operators {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, fmt.Errorf("pytask: line %d: unexpected character %q", line, r)
			}
			switch op {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				if depth == 0 {
					return nil, fmt.Errorf("pytask: line %d: unmatched %q", line, op)
				}
				depth--
			}
			out = append(out, op)
			i += len(op)
		}
		lineHasTok = true
	}
	if depth > 0 {
		return nil, fmt.Errorf("pytask: unclosed bracket at the end of the source")
	}
	if lineHasTok {
		out = append(out, Newline)
	}
	for len(indents) > 1 {
		indents = indents[:len(indents)-1]
		out = append(out, Dedent)
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// numberLen is the length of the numeric literal at the start of s (decimal, hexadecimal,
// octal, binary, with underscores, fraction, exponent and imaginary suffix).
func numberLen(s string) int {
	i := 0
	if len(s) > 1 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1])) {
		i = 2
		for i < len(s) && (isHex(s[i]) || s[i] == '_') {
			i++
		}
		return i
	}
	digits := func() {
		for i < len(s) && (isDigit(s[i]) || s[i] == '_') {
			i++
		}
	}
	digits()
	if i < len(s) && s[i] == '.' {
		i++
		digits()
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < len(s) && isDigit(s[j]) {
			i = j
			digits()
		}
	}
	if i < len(s) && (s[i] == 'j' || s[i] == 'J') {
		i++
	}
	return i
}

func isHex(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'f') }

// stringLen is the length of the string literal (with its prefix) at the start of s, 0 when s
// does not start with one, -1 when it is not terminated.
func stringLen(s string) int {
	p := 0
	for p < len(s) && p < 2 && strings.ContainsRune("rRbBuUfF", rune(s[p])) {
		p++
	}
	if p >= len(s) || (s[p] != '\'' && s[p] != '"') {
		return 0
	}
	q := s[p : p+1]
	if strings.HasPrefix(s[p:], q+q+q) {
		q = q + q + q
	}
	i := p + len(q)
	for i < len(s) {
		switch {
		case s[i] == '\\':
			i += 2 // a backslash escapes the next character, in raw strings too (where it stays in the value)
		case strings.HasPrefix(s[i:], q):
			return i + len(q)
		case s[i] == '\n' && len(q) == 1:
			return -1
		default:
			i++
		}
	}
	return -1
}

// Detokenize lays tokens out as source: one logical line per line, four spaces of indentation
// per level, single spaces between tokens except where Python needs none (before ) ] } , : . and
// before the ( or [ of a call or a subscript, after ( [ { . and around unary signs is optional).
func Detokenize(toks []string) string {
	var b strings.Builder
	level, start := 0, true
	prev, unary := "", false // unary: prev is a sign with no operand before it ("-x")
	var brackets []string    // open brackets: a colon directly inside [] is a slice's ("xs[1:-1]")
	for _, t := range toks {
		switch t {
		case Newline:
			b.WriteByte('\n')
			start, prev = true, ""
			continue
		case Indent:
			level++
			continue
		case Dedent:
			level = max(level-1, 0)
			continue
		}
		isSign := t == "-" || t == "+" || t == "~"
		wasUnary := unary
		unary = isSign && (start || !operand(prev))
		if start {
			b.WriteString(strings.Repeat("    ", level))
			start = false
		} else if !wasUnary && spaceBetween(prev, t) && !(prev == ":" && len(brackets) > 0 && brackets[len(brackets)-1] == "[") {
			b.WriteByte(' ')
		}
		b.WriteString(t)
		prev = t
		switch t {
		case "(", "[", "{":
			brackets = append(brackets, t)
		case ")", "]", "}":
			if len(brackets) > 0 {
				brackets = brackets[:len(brackets)-1]
			}
		}
	}
	return b.String()
}

// spaceBetween says whether Detokenize writes a space between tokens a and b.
func spaceBetween(a, b string) bool {
	switch b {
	case ")", "]", "}", ",", ":", ";":
		return false
	case ".":
		return a != "" && isDigit(a[len(a)-1]) // "1 .real": "1." would start a float
	case "(", "[":
		if a == ")" || a == "]" || a == "}" || isName(a) && !keywords[a] || isString(a) {
			return false // a call or a subscript
		}
	}
	switch a {
	case "(", "[", "{", ".":
		return false
	}
	return true
}

// operand reports whether a token can end an operand, so that a sign after it is binary.
func operand(t string) bool {
	switch t {
	case ")", "]", "}":
		return true
	}
	return isString(t) || t != "" && (isDigit(t[0]) || t[0] == '.' && len(t) > 1) || isName(t) && !keywords[t] && t != "not"
}

func isName(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r == '_' || unicode.IsLetter(r) && stringLen(s) == 0
}

func isString(s string) bool { return stringLen(s) > 0 }

// keywords are Python's keywords that may precede an opening bracket without being called.
var keywords = map[string]bool{
	"and": true, "as": true, "assert": true, "async": true, "await": true, "del": true, "elif": true, "else": true,
	"except": true, "for": true, "from": true, "if": true, "import": true, "in": true, "is": true, "lambda": true,
	"not": true, "or": true, "raise": true, "return": true, "while": true, "with": true, "yield": true,
}
