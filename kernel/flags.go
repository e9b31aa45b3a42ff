package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cli is a command's flag set with the checks every command needs: a value out of range, a flag
// given twice, a list with a repeated or unknown entry, or a word left after the flags is an error
// naming the flag, found before anything runs. "Unset" stays distinct from any value: a flag's
// preset applies only when the flag is not given (set reports which were).
type cli struct {
	fs       *flag.FlagSet
	leftover bool // words after the flags are allowed (kernel script's ARGS, notebook paths)
	checks   []func() error
}

func newCLI(name string) *cli {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return &cli{fs: fs}
}

// parse parses args; -h is flag.ErrHelp (the usage is printed), a leftover word an error.
func (c *cli) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		return err
	}
	if !c.leftover && c.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every option is a -flag (flags go after the command's name; see -h)", c.fs.Arg(0))
	}
	for _, check := range c.checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// set reports whether the flag was given.
func (c *cli) set(name string) bool {
	found := false
	c.fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// once is the part of every value that refuses a second occurrence of its flag.
type once struct{ seen bool }

func (o *once) again() error {
	if o.seen {
		return errors.New("given twice")
	}
	o.seen = true
	return nil
}

type intValue struct {
	once
	p   *int
	min int
}

func (v *intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

func (v *intValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not an integer")
	}
	if n < v.min {
		return fmt.Errorf("must be at least %d", v.min)
	}
	*v.p = n
	return nil
}

// int is an integer flag of at least min.
func (c *cli) int(name string, def, min int, usage string) *int {
	p := new(int)
	*p = def
	c.fs.Var(&intValue{p: p, min: min}, name, usage)
	return p
}

type int64Value struct {
	once
	p *int64
}

func (v *int64Value) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v *int64Value) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not an integer")
	}
	*v.p = n
	return nil
}

func (c *cli) int64(name string, def int64, usage string) *int64 {
	p := new(int64)
	*p = def
	c.fs.Var(&int64Value{p: p}, name, usage)
	return p
}

type uint64Value struct {
	once
	p *uint64
}

func (v *uint64Value) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatUint(*v.p, 10)
}

func (v *uint64Value) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return errors.New("not a non-negative integer")
	}
	*v.p = n
	return nil
}

func (c *cli) uint64(name string, def uint64, usage string) *uint64 {
	p := new(uint64)
	*p = def
	c.fs.Var(&uint64Value{p: p}, name, usage)
	return p
}

type floatValue struct {
	once
	p        *float64
	positive bool // > 0, else >= 0
}

func (v *floatValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v *floatValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	x, err := strconv.ParseFloat(s, 64)
	switch {
	case err != nil || x != x:
		return errors.New("not a number")
	case v.positive && x <= 0:
		return errors.New("must be positive")
	case x < 0:
		return errors.New("must not be negative")
	}
	*v.p = x
	return nil
}

// float is a number flag, positive (> 0) or only non-negative.
func (c *cli) float(name string, def float64, positive bool, usage string) *float64 {
	p := new(float64)
	*p = def
	c.fs.Var(&floatValue{p: p, positive: positive}, name, usage)
	return p
}

type durationValue struct {
	once
	p        *time.Duration
	positive bool
}

func (v *durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

func (v *durationValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return errors.New("not a duration (e.g. 3s, 2m)")
	case v.positive && d <= 0:
		return errors.New("must be positive")
	case d < 0:
		return errors.New("must not be negative")
	}
	*v.p = d
	return nil
}

func (c *cli) duration(name string, def time.Duration, positive bool, usage string) *time.Duration {
	p := new(time.Duration)
	*p = def
	c.fs.Var(&durationValue{p: p, positive: positive}, name, usage)
	return p
}

type stringValue struct {
	once
	p       *string
	allowed []string // nil: any non-empty value
}

func (v *stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v *stringValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	if s == "" {
		return errors.New("empty")
	}
	if v.allowed != nil && !slices.Contains(v.allowed, s) {
		return fmt.Errorf("want one of %s", strings.Join(v.allowed, ", "))
	}
	*v.p = s
	return nil
}

// string is a non-empty string flag, one of allowed when allowed is not nil.
func (c *cli) string(name, def string, allowed []string, usage string) *string {
	p := new(string)
	*p = def
	c.fs.Var(&stringValue{p: p, allowed: allowed}, name, usage)
	return p
}

type boolValue struct {
	once
	p *bool
}

func (v *boolValue) String() string {
	if v.p == nil {
		return "false"
	}
	return strconv.FormatBool(*v.p)
}

func (v *boolValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not true or false")
	}
	*v.p = b
	return nil
}

func (v *boolValue) IsBoolFlag() bool { return true }

func (c *cli) bool(name string, usage string) *bool {
	p := new(bool)
	c.fs.Var(&boolValue{p: p}, name, usage)
	return p
}

type listValue struct {
	once
	p       *[]string
	allowed []string // nil: any non-empty entries
}

func (v *listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v *listValue) Set(s string) error {
	if err := v.again(); err != nil {
		return err
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
			return errors.New("empty entry")
		case v.allowed != nil && !slices.Contains(v.allowed, f):
			return fmt.Errorf("unknown entry %q (want %s)", f, strings.Join(v.allowed, ", "))
		case slices.Contains(out, f):
			return fmt.Errorf("%q listed twice", f)
		}
		out = append(out, f)
	}
	*v.p = out
	return nil
}

// list is a comma-separated list flag without empty or repeated entries, each one of allowed
// when allowed is not nil.
func (c *cli) list(name string, def, allowed []string, usage string) *[]string {
	p := new([]string)
	*p = def
	c.fs.Var(&listValue{p: p, allowed: allowed}, name, usage)
	return p
}

// ints parses a list flag's entries as integers (distinct, as the list is).
func ints(name string, l []string) ([]int64, error) {
	out := make([]int64, len(l))
	for i, s := range l {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-%s: %q is not an integer", name, s)
		}
		if slices.Contains(out[:i], n) {
			return nil, fmt.Errorf("-%s: %d listed twice", name, n)
		}
		out[i] = n
	}
	return out, nil
}

// intSetting is a preset's field and the value of the flag that overrides it.
type intSetting struct {
	v    int
	into *int
}

// override sets each preset field whose flag (the key) was given; the others keep the preset.
func (c *cli) override(settings map[string]intSetting) {
	for name, s := range settings {
		if c.set(name) {
			*s.into = s.v
		}
	}
}

// conflict is an error unless at most one of the flags is given.
func (c *cli) conflict(names ...string) {
	c.checks = append(c.checks, func() error {
		var given []string
		for _, n := range names {
			if c.set(n) {
				given = append(given, "-"+n)
			}
		}
		if len(given) > 1 {
			return fmt.Errorf("%s cannot be combined", strings.Join(given, " and "))
		}
		return nil
	})
}

// require is an error when flag is given and ok() is false; why says what it needs.
func (c *cli) require(name string, ok func() bool, why string) {
	c.checks = append(c.checks, func() error {
		if c.set(name) && !ok() {
			return fmt.Errorf("-%s %s", name, why)
		}
		return nil
	})
}

// printDefaults writes the flags to w, each with its kind of value and its preset.
func (c *cli) printDefaults(w io.Writer) {
	c.fs.VisitAll(func(f *flag.Flag) {
		kind := ""
		switch f.Value.(type) {
		case *intValue, *int64Value:
			kind = " int"
		case *uint64Value:
			kind = " uint"
		case *floatValue:
			kind = " float"
		case *durationValue:
			kind = " duration"
		case *stringValue:
			kind = " string"
		case *listValue:
			kind = " list"
		}
		def := ""
		switch f.DefValue {
		case "", "0", "false", "0s":
		default:
			def = fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "  -%s%s\n    \t%s%s\n", f.Name, kind, f.Usage, def)
	})
}
