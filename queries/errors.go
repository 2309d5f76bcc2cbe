package queries

import "errors"

// ErrHeader is wrapped by every *ParseError: a saved query's header is
// malformed or disagrees with its SQL. Parse and Load return it.
var ErrHeader = errors.New("bad query header")

// ErrParam is wrapped by Query.Bind's errors: a -p name the query does not
// declare, a value that does not parse as the parameter's type, or a
// required parameter left unset. It is the user's mistake, not a failure.
var ErrParam = errors.New("bad parameter")

// ErrCandidate is wrapped by ReadCandidates' and DetectFormat's errors: the
// candidate list is malformed or a row is invalid.
var ErrCandidate = errors.New("bad candidate list")
