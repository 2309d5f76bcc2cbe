// Package registrygc runs distribution's own garbage collector
// (storage.MarkAndSweep) as a dry run and returns what it says it would
// delete, so that tests can hold regsql's reports and its garbage collector
// against the real thing. MarkAndSweep prints its findings to os.Stdout and
// returns none of them: DryRun captures the process's standard output while
// it runs, so it is for tests and tools, never for the regsql binary.
package registrygc
