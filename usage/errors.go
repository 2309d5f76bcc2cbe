package usage

import "errors"

// ErrMalformed is what ParseLogLine and ParseEnvelope return, wrapped, for
// input that is not a registry log line or notification: Scan counts such
// lines in Stats.Malformed and goes on.
var ErrMalformed = errors.New("malformed")

// ErrLineTooLong is what Scan counts a line longer than MaxLineBytes as.
var ErrLineTooLong = errors.New("line too long")
