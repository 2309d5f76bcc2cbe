// Package registrytest runs a real distribution v3 registry in the test's
// process and pushes realistic content into it through the OCI distribution
// API, so that tests of the walker, the index, saved reports, the deleter
// and GC look at storage the registry itself wrote, never at a hand-made
// imitation.
//
// Start serves handlers.NewApp over httptest on 127.0.0.1, with filesystem
// storage in t.TempDir() (or WithRoot), deletes enabled, upload purging off
// and quiet logs; it stops when the test ends. Root is the storage
// rootdirectory to point the walker at, ConfigPath a config.yml for
// --config, Driver a storage driver on the same root for MarkAndSweep.
//
// WithBackend(S3) stores in a bucket of its own on a versitygw server
// (internal/s3test) through the s3 driver instead; Root is then empty and
// ConfigPath and Driver are the way in. ForEachBackend runs a test once per
// backend, so that one suite checks both.
//
// Content is built deterministically: Image makes a config (created, os,
// architecture, variant, labels, history) and seeded gzip layers as a Docker
// schema2 or OCI manifest; Index and ManifestList wrap children with their
// platforms; Artifact makes an OCI artifact whose subject is another
// manifest. Equal inputs give equal digests on every run.
//
// A Client (embedded in Registry) pushes and reads over plain net/http:
// Push (blobs and children first, then the manifest by tag or by digest),
// PushBlob, PushManifest, StartUpload (left unfinished), HeadManifest,
// GetManifest, GetBlob, Catalog and Tags (paginated), DeleteManifest,
// DeleteTag, DeleteBlob, and Pull, which downloads everything a manifest
// references and verifies every digest. Failures are errors carrying an
// *HTTPError with the status and the registry's answer.
//
//	reg := registrytest.Start(t)
//	img := registrytest.Image(registrytest.ImageOptions{Seed: 1})
//	d, err := reg.Push("team/api", "v1", img)
//
// The registry logs through logrus's process-wide logger; Start sets its
// level to error, as the registry's own main would from the config.
// WithLog captures its request log (text or JSON formatter) instead, and
// WithNotifications points its webhook notifications at a URL, for tests of
// what regsql ingests from them.
package registrytest
