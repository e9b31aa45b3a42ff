// Package rpn implements the Reverse Polish Notation language of seed 000 and its extension rpn-ext.
//
// A program is a whitespace-separated sequence of tokens evaluated on a stack. The basic dialect
// has variables a, b, c, constants 0-9 and the operators + - *. The extended dialect adds integer
// division "/" (division by zero is a runtime error) and the stack words "dup" and "swap", so that
// every outcome class of seed 004 can occur: a malformed program (stack underflow, leftover values,
// unknown token) is a compile error, a division by zero a runtime error.
//
// Run interprets a program and returns its value and its trace (the stack after every token).
// Parse builds an expression tree; Equivalent decides exactly whether two division-free programs
// compute the same polynomial in a, b, c.
package rpn

import (
	"errors"
	"fmt"
	"strings"
)

// Dialect selects the token set of a program.
type Dialect int

const (
	// Basic is seed 000's language: a b c, 0-9, + - *.
	Basic Dialect = iota
	// Ext adds "/" (truncating integer division), "dup" and "swap".
	Ext
)

// String returns the task name of the dialect: "rpn" or "rpn-ext".
func (d Dialect) String() string {
	if d == Ext {
		return "rpn-ext"
	}
	return "rpn"
}

// MarshalText writes the dialect by name ("rpn", "rpn-ext"), so configurations in results files
// read as they are typed on the command line.
func (d Dialect) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a dialect's name.
func (d *Dialect) UnmarshalText(b []byte) error {
	v, err := ParseDialect(string(b))
	*d = v
	return err
}

// ParseDialect maps "rpn" and "rpn-ext" to a Dialect.
func ParseDialect(name string) (Dialect, error) {
	switch name {
	case "rpn", "basic":
		return Basic, nil
	case "rpn-ext", "ext":
		return Ext, nil
	}
	return Basic, fmt.Errorf("rpn: unknown dialect %q (want rpn or rpn-ext)", name)
}

// Tokens lists the program tokens of the dialect, in a fixed order.
func (d Dialect) Tokens() []string {
	toks := []string{"a", "b", "c", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+", "-", "*"}
	if d == Ext {
		toks = append(toks, "/", "dup", "swap")
	}
	return toks
}

// Valid reports whether tok belongs to the dialect.
func (d Dialect) Valid(tok string) bool {
	switch tok {
	case "a", "b", "c", "+", "-", "*":
		return true
	case "/", "dup", "swap":
		return d == Ext
	}
	return len(tok) == 1 && tok[0] >= '0' && tok[0] <= '9'
}

// Tokenize splits a program into its tokens.
func Tokenize(program string) []string { return strings.Fields(program) }

// Env holds the values of the input variables a, b and c.
type Env struct{ A, B, C int64 }

// ErrorKind classifies what went wrong with a program.
type ErrorKind int

const (
	// Underflow: an operator found fewer values on the stack than it needs.
	Underflow ErrorKind = iota
	// Leftover: the program ended with more than one value on the stack.
	Leftover
	// Empty: the program has no tokens, or ended with an empty stack.
	Empty
	// UnknownToken: a token not in the dialect.
	UnknownToken
	// DivisionByZero: "/" with a zero divisor (a runtime error).
	DivisionByZero
)

var kindNames = [...]string{"stack underflow", "leftover values", "empty program", "unknown token", "division by zero"}

func (k ErrorKind) String() string { return kindNames[k] }

// Error is a compile (malformed program) or runtime error, with the position of the token that
// caused it (-1 for the end of the program).
type Error struct {
	Kind  ErrorKind
	Pos   int
	Token string
	Depth int // stack depth at the error
}

func (e *Error) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("rpn: %s at end of program (stack depth %d)", e.Kind, e.Depth)
	}
	return fmt.Sprintf("rpn: %s at token %d %q (stack depth %d)", e.Kind, e.Pos, e.Token, e.Depth)
}

// IsRuntime reports whether the error happens only when the program runs (division by zero),
// as opposed to a malformed program that can be rejected before running.
func (e *Error) IsRuntime() bool { return e.Kind == DivisionByZero }

// AsError returns err as an *Error, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Check reports the first compile error of a program without running it: unknown tokens,
// stack underflow, leftover values or an empty program. Runtime errors are not compile errors.
func Check(tokens []string, d Dialect) error {
	depth := 0
	for i, t := range tokens {
		if !d.Valid(t) {
			return &Error{Kind: UnknownToken, Pos: i, Token: t, Depth: depth}
		}
		need, push := arity(t)
		if depth < need {
			return &Error{Kind: Underflow, Pos: i, Token: t, Depth: depth}
		}
		depth += push - need
	}
	switch {
	case depth == 0:
		return &Error{Kind: Empty, Pos: -1}
	case depth > 1:
		return &Error{Kind: Leftover, Pos: -1, Depth: depth}
	}
	return nil
}

// arity returns how many values a token pops and pushes.
func arity(t string) (pop, push int) {
	switch t {
	case "+", "-", "*", "/":
		return 2, 1
	case "dup":
		return 1, 2
	case "swap":
		return 2, 2
	}
	return 0, 1
}

// Run interprets a program on env. It returns the program's value and its trace: trace[i] is a
// copy of the stack after token i (bottom first). A malformed program fails with a compile *Error
// before anything runs; division by zero fails with a runtime *Error and the trace so far.
func Run(tokens []string, d Dialect, env Env) (value int64, trace [][]int64, err error) {
	if err := Check(tokens, d); err != nil {
		return 0, nil, err
	}
	trace = make([][]int64, 0, len(tokens))
	stack := make([]int64, 0, 8)
	for i, t := range tokens {
		stack, err = step(stack, t, env)
		if err != nil {
			e := err.(*Error)
			e.Pos, e.Token = i, t
			return 0, trace, e
		}
		trace = append(trace, append([]int64(nil), stack...))
	}
	return stack[0], trace, nil
}

// Eval is Run without the trace: the fast path used in batched execution.
func Eval(tokens []string, d Dialect, env Env) (int64, error) {
	if err := Check(tokens, d); err != nil {
		return 0, err
	}
	var buf [16]int64
	stack := buf[:0]
	var err error
	for i, t := range tokens {
		if stack, err = step(stack, t, env); err != nil {
			e := err.(*Error)
			e.Pos, e.Token = i, t
			return 0, e
		}
	}
	return stack[0], nil
}

// step applies one (already validated) token to the stack.
func step(s []int64, t string, env Env) ([]int64, error) {
	n := len(s)
	switch t {
	case "a":
		return append(s, env.A), nil
	case "b":
		return append(s, env.B), nil
	case "c":
		return append(s, env.C), nil
	case "+":
		return append(s[:n-2], s[n-2]+s[n-1]), nil
	case "-":
		return append(s[:n-2], s[n-2]-s[n-1]), nil
	case "*":
		return append(s[:n-2], s[n-2]*s[n-1]), nil
	case "/":
		if s[n-1] == 0 {
			return s, &Error{Kind: DivisionByZero, Depth: n}
		}
		return append(s[:n-2], s[n-2]/s[n-1]), nil
	case "dup":
		return append(s, s[n-1]), nil
	case "swap":
		s[n-2], s[n-1] = s[n-1], s[n-2]
		return s, nil
	}
	return append(s, int64(t[0]-'0')), nil
}
