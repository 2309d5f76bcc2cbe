// Package gen writes synthetic but valid distribution registry storage
// trees, deterministic from a seed, for tests and benchmarks.
package gen
