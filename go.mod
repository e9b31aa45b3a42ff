module github.com/execfeed/execfeed

go 1.27

toolchain go1.27.4

require (
	github.com/c-bata/goptuna v0.9.0 // indirect
	github.com/gomlx/compute v0.1.14 // indirect
	github.com/gomlx/gomlx v0.28.16 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/traefik/yaegi v0.16.1 // indirect
	golang.org/x/exp v0.0.0-20260908205506-85c1c2202aba // indirect
)
