// Package bench is the harness behind `make bench`: it generates (or reuses)
// registry storage trees with internal/gen, runs regsql index, the
// registry's own garbage collector (a MarkAndSweep dry run) and a floor
// reference on each, every one in its own process so that its wall time and
// peak resident memory can be measured, and prints the medians side by side.
//
// The programs are run/ (the driver), gcdry/ (distribution's MarkAndSweep
// dry run on the filesystem driver, or on the driver a registry config
// names) and floor/ (a plain parallel read of every link file and manifest,
// the least any indexer must do).
//
// S3 does the same on S3: it uploads a tree once into a bucket of a local
// versitygw (internal/s3test), kept between runs, and counts the requests
// regsql index and MarkAndSweep each make through a proxy.
// docs/performance.md and docs/object-storage.md describe the figures.
package bench
