// Package usage reads what a distribution registry says about the requests
// it serves, its logs and its webhook notifications, into typed Events:
// manifest pulls, blob pulls, pushes, mounts and deletes. It owns the
// knowledge of those formats; it imports no SQL and prints nothing (package
// index stores the events).
//
// # Logs
//
// The registry logs one line per request it answered with a 2xx or 3xx
// status, with the message "response completed", through logrus: the text
// formatter by default (logfmt: time="..." level=info msg="response
// completed" http.request.method=GET ...) or the JSON formatter
// (log.formatter: json, or logstash). ParseLogLine reads both. A prefix before
// the line (docker logs --timestamps, a Kubernetes node's CRI log, journald)
// is skipped. The fields that matter are http.request.method,
// http.request.uri, http.response.status, vars.name, vars.reference and
// vars.digest (the registry's routing of the URI), http.request.id,
// http.request.useragent, http.request.remoteaddr and auth.user.name. The
// access log (Apache combined format, on by default, to standard output) has
// no request id, so the same request could not be told from its app log
// line: it is skipped.
//
// # Notifications
//
// With notifications.endpoints configured, the registry POSTs JSON envelopes
// ({"events": [...]}, media type application/vnd.docker.distribution.events.v2+json)
// as it serves requests: action pull, push, mount or delete, a target
// (repository, digest, tag, media type, size, url) and the request (id,
// method, user agent, address). ParseEnvelope reads one.
//
// # What counts
//
// A pull is a successful GET or HEAD of a manifest (200, or 304 when the
// client's copy is current); a blob pull is a successful GET of a blob
// (200, 206 or a 307 redirect to the storage). A HEAD of a blob is not a
// pull: clients send them while pushing. Pushes are a manifest PUT (201), a
// finished blob upload (201) and a cross-repository mount; deletes are a
// DELETE of a manifest, tag or blob (202).
//
// Every event carries a Key: the registry's request id when the source has
// one, so that a log line and a notification of the same request, or the
// same file read twice, name the same event; otherwise a hash of the input.
//
// Scan reads a stream of any of these, one per line, gzip or not, in bounded
// memory; a line it cannot read is counted and skipped, never fatal.
package usage
