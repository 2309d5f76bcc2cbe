// Package e2e holds the tests that hold regsql's index against the registry
// itself: content is pushed through a real distribution registry's API (or
// taken from the bundled sample, which a real registry produced), indexed by
// the real walker and index code, and every fact the index records is
// compared with what the registry's API answers. It has no non-test code.
package e2e
