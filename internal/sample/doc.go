// Package sample holds the recipe of regsql's bundled sample registry,
// testdata/sample-registry: the pushes, moves and deletes that give it one
// example of each situation users meet in a real registry's storage. The
// tree is produced by a real distribution registry through its HTTP API
// (see internal/registrytest), never written by hand, so the walker and the
// index are tested against what a registry really leaves on disk.
//
// The content comes from fixed seeds and fixed created times, so every run
// produces the same digests; only the abandoned upload's uuid and startedat
// and the file modification times differ. Rebuild it with go generate here,
// or make sample at the top.
//
//go:generate go run ./gen -out ../../testdata/sample-registry
package sample
