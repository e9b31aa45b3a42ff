// Command kernel is execfeed's host: it runs experiments, evaluates samples, runs scripts and
// installs the Jupyter kernel. Each subcommand lives in its own file and registers itself in init.
//
//	go run ./kernel run rpn-def      # seed 000: CE baseline vs Differentiable Execution Feedback
//	go run ./kernel run -resume DIR  # continue an interrupted or killed run from its checkpoint
//	go run ./kernel runs             # the runs under out/: status, date, commit, headline numbers
//	go run ./kernel compare A B      # two runs' headline numbers side by side
//	go run ./kernel help             # every subcommand
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]command{}

// register adds a subcommand; called from the init function of the file that implements it.
func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("kernel: subcommand registered twice: " + c.name)
	}
	commands[c.name] = c
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kernel <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nrun 'kernel <command> -h' for the flags of a command")
}

func main() {
	if len(os.Args) < 2 || slices.Contains([]string{"help", "-h", "-help", "--help"}, os.Args[1]) {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "kernel: unknown command %q\n\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	os.Exit(exitCode(c.name, c.run(os.Args[2:]), os.Stderr))
}

// exitCode is the exit status of a command that returned err, which it prints: 0 for success and
// for -h (help was asked for and given), 1 for any error.
func exitCode(name string, err error, w io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(w, "kernel %s: %v\n", name, err)
	return 1
}
