// Package journal is the append-only JSONL log of destructive work: every
// action the deleter or the garbage collector takes is written as "planned"
// before it happens and as "done" or "failed" after, each line synced to
// disk. Reading a journal back tells which actions are done, so an
// interrupted run resumes without repeating work, and a person can audit
// exactly what was deleted.
package journal
