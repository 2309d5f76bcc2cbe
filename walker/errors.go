package walker

import "errors"

// ErrNoStorage is returned by OpenRoot when a directory holds no registry
// storage (no docker/registry/v2 layout).
var ErrNoStorage = errors.New("no registry storage")

// ErrBadLink is returned by ParseLink for content that is not exactly
// "<alg>:<hex>" with a supported algorithm.
var ErrBadLink = errors.New("bad link")

// ErrUnknownDriver is returned by OpenConfig when the registry config names a
// storage driver this build does not include.
var ErrUnknownDriver = errors.New("unknown storage driver")

// ErrUnreadableStorage is returned by Walk when neither repositories/ nor
// blobs/ can be read: there is nothing useful to index.
var ErrUnreadableStorage = errors.New("registry storage is unreadable")

// errIsDir is what a linkReader returns for a directory where a file
// belongs; the walker then lists the directory to report it.
var errIsDir = errors.New("is a directory")

// ErrStorageRefused is returned by DriverStorage (and so by Walk and
// Remove) when the object store refuses the credentials or has no such
// bucket: every request would fail alike, so a walk stops at once.
var ErrStorageRefused = errors.New("storage refused the request")

// ErrStorageUnavailable is returned by DriverStorage (and so by Walk and
// Remove) when a request still fails with a transient error (throttling, a
// server error, a dropped connection) after its retries. A walk stops: an
// index missing what could not be read is no index of the storage.
var ErrStorageUnavailable = errors.New("storage unavailable")

// ErrCannotRescan is returned by NewRescan when it cannot tell what changed
// since the earlier walk; only a full Walk gives the right answer then.
var ErrCannotRescan = errors.New("cannot tell what changed")

// errNotBlobRecord is what a Rescan's listing of blobs/ fails with if it
// ever sends a record about something else: a bug.
var errNotBlobRecord = errors.New("rescan blobs: a listing of blobs/ sent a record of another kind")
