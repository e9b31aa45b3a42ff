#!/usr/bin/env bash
# The first cell of every notebook runs this in GoNB's module folder (`!*bash ${GONB_DIR}/setup.sh`):
# it makes the notebook's Go programs use this repository's own module (never a published copy)
# and pins the versions of what they import. The module proxy serves only exactly named versions,
# so GoNB's bare `go get` of an import must not pick them. github.com/janpfeifer/must (must.M1,
# must.M) stops a cell on an error.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Quiet on success (go's "go: added ..." lines on stderr look like a failure to a newcomer); on a
# failure, everything go printed.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { go mod edit -require=github.com/execfeed/execfeed@v0.0.0-00010101000000-000000000000 -replace=github.com/execfeed/execfeed="$root" &&
	go get github.com/janpfeifer/gonb@v0.11.5 github.com/gomlx/gomlx@v0.28.16 github.com/janpfeifer/must@v0.2.0; } >"$log" 2>&1; then
	cat "$log" >&2
	exit 1
fi
