package registrytest

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/opencontainers/go-digest"
)

// Upload is a blob upload kept open across requests, as a client that
// pushes a big layer in chunks keeps it: each chunk appends to the
// upload's data under _uploads/<uuid>, and Finish moves it into blobs/.
type Upload struct {
	c    *Client
	repo string
	uuid string
	loc  *url.URL // where the next request goes, with the registry's state token
	data []byte   // everything sent so far, for the digest Finish names
}

// OpenUpload starts a blob upload in repo.
func (c *Client) OpenUpload(repo string) (*Upload, error) {
	resp, _, err := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if err != nil {
		return nil, fmt.Errorf("start upload to %q: %w", repo, err)
	}
	loc, err := c.uploadLocation(resp)
	if err != nil {
		return nil, fmt.Errorf("start upload to %q: %w", repo, err)
	}
	return &Upload{c: c, repo: repo, uuid: resp.Header.Get("Docker-Upload-UUID"), loc: loc}, nil
}

// UUID is the upload's directory name under _uploads.
func (u *Upload) UUID() string { return u.uuid }

// Append sends one more chunk.
func (u *Upload) Append(chunk []byte) error {
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, _, err := u.c.do(http.MethodPatch, u.loc.String(), h, chunk, http.StatusAccepted)
	if err != nil {
		return fmt.Errorf("send a chunk to upload %s in %q: %w", u.uuid, u.repo, err)
	}
	if u.loc, err = u.c.uploadLocation(resp); err != nil {
		return fmt.Errorf("send a chunk to upload %s in %q: %w", u.uuid, u.repo, err)
	}
	u.data = append(u.data, chunk...)
	return nil
}

// Finish sends the last chunk (which may be empty) and completes the
// upload: the blob is stored and linked into the repository's _layers.
func (u *Upload) Finish(last []byte) (digest.Digest, error) {
	d := digest.FromBytes(append(append([]byte(nil), u.data...), last...))
	loc := *u.loc
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if _, _, err := u.c.do(http.MethodPut, loc.String(), h, last, http.StatusCreated); err != nil {
		return "", fmt.Errorf("finish upload %s of %s to %q: %w", u.uuid, d, u.repo, err)
	}
	return d, nil
}

// MountBlob links blob d, which repository from links, into repo without
// uploading it: a cross-repository mount (POST ?mount=&from=).
func (c *Client) MountBlob(repo, from string, d digest.Digest) error {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	if _, _, err := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil, nil, http.StatusCreated); err != nil {
		return fmt.Errorf("mount blob %s from %q into %q: %w", d, from, repo, err)
	}
	return nil
}
