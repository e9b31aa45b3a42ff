package main

import (
	"fmt"
	"io"
	"time"

	"github.com/execfeed/execfeed/sandbox/serve"
)

func init() {
	register(command{name: "serve", summary: "serve the Python sandbox over HTTP (SandboxFusion's /run_code, execfeed's /v1/batch)", run: runServe})
}

// runServe implements `kernel serve`: serve.Main's flags (serve.Declare), checked by this
// command's flag set before the pool starts, then serve's Options.Run.
func runServe(args []string) error {
	c := newCLI("serve")
	o := serve.Declare(serveFlags{c})
	if err := parseOrHelp(c, args, func(w io.Writer) {
		fmt.Fprintf(w, "usage: kernel serve [flags]\n\nServes the Python sandbox over HTTP until SIGTERM or SIGINT, then drains (docs/SERVE.md).\n\n")
		c.printDefaults(w)
	}); err != nil {
		return err
	}
	if err := beforeTraining(); err != nil {
		return err
	}
	return o.Run()
}

// serveFlags is serve.Flags on the command's checked flag set.
type serveFlags struct{ c *cli }

func (f serveFlags) Int(name string, def, min int, usage string) *int {
	return f.c.int(name, def, min, usage)
}

func (f serveFlags) Duration(name string, def time.Duration, positive bool, usage string) *time.Duration {
	return f.c.duration(name, def, positive, usage)
}

func (f serveFlags) String(name, def string, allowed []string, usage string) *string {
	return f.c.string(name, def, allowed, usage)
}

func (f serveFlags) Bool(name, usage string) *bool { return f.c.bool(name, usage) }

func (f serveFlags) Parse(args []string) error { return f.c.parse(args) }
