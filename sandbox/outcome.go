// Package sandbox runs candidate programs against tests and says what happened: the outcome class
// every execution-feedback method learns from, the outputs, the time and, on request, a trace.
package sandbox

import "fmt"

// Outcome is the class of a program's run against its tests (seed 004, section 4.5).
type Outcome int

const (
	// CompileError: the program is malformed (syntax error, RPN stack underflow/leftover, unknown token).
	CompileError Outcome = iota
	// RuntimeError: the program raised an error while running (exception, division by zero).
	RuntimeError
	// FailedTest: the program ran but some test's output was wrong.
	FailedTest
	// PassedTest: every test passed.
	PassedTest
	// Timeout: the program ran past its time limit (counted as a runtime error by seed 004's reward).
	Timeout
)

// NumOutcomeClasses is the number of classes a critic predicts (seed 004): CompileError,
// RuntimeError, FailedTest, PassedTest. Timeout is folded into RuntimeError there; see Class.
const NumOutcomeClasses = 4

var outcomeNames = [...]string{"CompileError", "RuntimeError", "FailedTest", "PassedTest", "Timeout"}

// String returns the class name, e.g. "PassedTest".
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
	return outcomeNames[o]
}

// Class maps an outcome to one of the NumOutcomeClasses critic classes (Timeout -> RuntimeError).
func (o Outcome) Class() int {
	if o == Timeout {
		return int(RuntimeError)
	}
	return int(o)
}

// ParseOutcome is the inverse of Outcome.String.
func ParseOutcome(s string) (Outcome, error) {
	for i, n := range outcomeNames {
		if n == s {
			return Outcome(i), nil
		}
	}
	return 0, fmt.Errorf("sandbox: unknown outcome %q", s)
}

// MarshalText implements encoding.TextMarshaler so outcomes appear by name in JSON.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Outcome) UnmarshalText(b []byte) error {
	v, err := ParseOutcome(string(b))
	*o = v
	return err
}
