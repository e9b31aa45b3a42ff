package main

import "github.com/execfeed/execfeed/sandbox/serve"

func init() {
	register(command{name: "serve", summary: "serve the Python sandbox over HTTP (SandboxFusion's /run_code, execfeed's /v1/batch)", run: serve.Main})
}
