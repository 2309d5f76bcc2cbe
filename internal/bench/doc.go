// Package bench is the harness behind `make bench`: it generates (or reuses)
// registry storage trees with internal/gen, runs regsql index, the
// registry's own garbage collector (a MarkAndSweep dry run) and a floor
// reference on each, every one in its own process so that its wall time and
// peak resident memory can be measured, and prints the medians side by side.
//
// The programs are run/ (the driver), gcdry/ (distribution's MarkAndSweep
// dry run on the filesystem driver) and floor/ (a plain parallel read of
// every link file and manifest, the least any indexer must do).
// docs/performance.md describes the figures.
package bench
