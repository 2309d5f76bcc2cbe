package registrytest

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

// Steps pushes and deletes through a registry's API, failing the test at
// the first error, so that a scenario reads as what happened to the
// registry.
type Steps struct {
	t   testing.TB
	reg *Registry
}

// Steps returns the registry's API as test steps that fail t on error.
func (r *Registry) Steps(t testing.TB) Steps { return Steps{t: t, reg: r} }

// T is the test the steps fail.
func (s Steps) T() testing.TB { return s.t }

// Registry is the registry the steps act on.
func (s Steps) Registry() *Registry { return s.reg }

// Push pushes m (children, config and layers first) as repo:ref.
func (s Steps) Push(repo, ref string, m *Manifest) digest.Digest {
	s.t.Helper()
	d, err := s.reg.Push(repo, ref, m)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// PushBlob uploads data to repo, which links it into repo's _layers.
func (s Steps) PushBlob(repo string, data []byte) digest.Digest {
	s.t.Helper()
	d, err := s.reg.PushBlob(repo, data)
	if err != nil {
		s.t.Fatal(err)
	}
	return d
}

// DeleteManifest deletes a manifest by digest, with every tag on it.
func (s Steps) DeleteManifest(repo string, d digest.Digest) {
	s.t.Helper()
	if err := s.reg.DeleteManifest(repo, d); err != nil {
		s.t.Fatal(err)
	}
}

// DeleteTag deletes one tag; its manifest stays as an untagged revision.
func (s Steps) DeleteTag(repo, tag string) {
	s.t.Helper()
	if err := s.reg.DeleteTag(repo, tag); err != nil {
		s.t.Fatal(err)
	}
}

// StartUpload starts an upload that is never finished and returns its uuid.
func (s Steps) StartUpload(repo string, partial []byte) string {
	s.t.Helper()
	uuid, err := s.reg.StartUpload(repo, partial)
	if err != nil {
		s.t.Fatal(err)
	}
	return uuid
}

// DeleteBlob deletes repo's layer link to d through the API.
func (s Steps) DeleteBlob(repo string, d digest.Digest) {
	s.t.Helper()
	if err := s.reg.DeleteBlob(repo, d); err != nil {
		s.t.Fatal(err)
	}
}

// MountBlob links blob d of repository from into repo without uploading it.
func (s Steps) MountBlob(repo, from string, d digest.Digest) {
	s.t.Helper()
	if err := s.reg.MountBlob(repo, from, d); err != nil {
		s.t.Fatal(err)
	}
}

// OpenUpload starts an upload to repo that later steps append to and
// finish.
func (s Steps) OpenUpload(repo string) *Upload {
	s.t.Helper()
	u, err := s.reg.OpenUpload(repo)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}
