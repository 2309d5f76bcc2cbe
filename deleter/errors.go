package deleter

import (
	"errors"
	"fmt"
)

// ErrExecuted is returned by Execute when the plan has already been
// executed (or dry-run): a plan runs once, so that a retry goes through a
// fresh plan against a fresh index, or through resume.
var ErrExecuted = errors.New("plan already executed")

// ErrEmptyPlan is returned by Execute, unless ExecOptions.AllowEmpty, when
// the plan deletes nothing: every candidate was refused or the list was
// empty, which is more often a mistake upstream than an intent.
var ErrEmptyPlan = errors.New("the plan deletes nothing")

// ErrEmptiesRepos is returned by Execute, unless ExecOptions.AllowEmpty, when
// the plan deletes every tag of a repository.
var ErrEmptiesRepos = errors.New("the plan deletes every tag of a repository")

// ErrIncomplete is returned by Execute when an action failed or was not
// attempted (interrupted, or its parent index failed). The journal says
// which; resume finishes the run.
var ErrIncomplete = errors.New("the run did not finish")

// ErrNotConfirmed is returned by the storage executor's Prepare when the user
// has not confirmed that the registry is stopped or read-only.
var ErrNotConfirmed = errors.New("the registry must be stopped or read-only to delete on its storage")

// ErrRegistryLive is returned by the storage executor's Prepare when an
// upload was active within the grace period: a sign the registry is running.
var ErrRegistryLive = errors.New("the registry looks live")

// ErrBadJournal is returned by ReadJournal for a journal that holds no
// delete run, or one whose plan lines cannot be read.
var ErrBadJournal = errors.New("not a delete journal")

// ErrBadProtect is returned by Plan for a protect pattern that is not a
// valid regular expression.
var ErrBadProtect = errors.New("bad protect pattern")

// RefusedError is an executor's refusal of one action: doing it now would
// not be what the plan meant (the tag moved since the plan was made), or the
// registry cannot do it without taking more than planned. Execute records it
// as refused, not failed; it is never retried.
type RefusedError struct {
	Reason Reason
	Msg    string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("refused (%s): %s", e.Reason, e.Msg) }

func refused(r Reason, format string, args ...any) error {
	return &RefusedError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}
