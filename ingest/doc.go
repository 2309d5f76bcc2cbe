// Package ingest feeds what a registry says about its requests into the
// index: Stream reads a log file or a saved stream of notifications
// (package usage parses them) and stores the events in batches (package
// index writes them); Receiver is an http.Handler that takes the registry's
// webhook notifications as they come and answers only once they are stored,
// so that the registry retries what was not.
//
// Neither prints: Stream reports progress through a function, and Receiver
// keeps counts that its caller reads.
package ingest
