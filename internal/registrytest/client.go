package registrytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Client speaks the OCI distribution API to a registry over plain net/http:
// the few calls tests need to push content, read it back and delete it. It
// works against any registry URL, not only one started here. Every method
// returns an error naming the action; a refusal by the registry carries an
// *HTTPError with the status and the registry's error body.
type Client struct {
	// URL is the registry's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// HTTP sends the requests; http.DefaultClient when nil.
	HTTP *http.Client
	// PageSize is the n of each catalog and tags list request; 0 lets the
	// registry choose. Catalog and Tags follow the Link headers either way.
	PageSize int
	// UserAgent, when set, is sent as every request's User-Agent.
	UserAgent string
}

// NewClient returns a Client for the registry at baseURL.
func NewClient(baseURL string) *Client {
	return &Client{URL: strings.TrimSuffix(baseURL, "/")}
}

// acceptManifests names every manifest type: without them in Accept the
// registry refuses OCI manifests and rewrites a Docker manifest list into
// its linux/amd64 child.
var acceptManifests = strings.Join([]string{
	MediaTypeDockerManifest,
	MediaTypeDockerManifestList,
	v1.MediaTypeImageManifest,
	v1.MediaTypeImageIndex,
}, ", ")

// PushBlob uploads data into repo monolithically (POST, then PUT with the
// digest) and returns its digest. The repository gets a layer link to it.
func (c *Client) PushBlob(repo string, data []byte) (digest.Digest, error) {
	d := digest.FromBytes(data)
	resp, _, err := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if err != nil {
		return "", fmt.Errorf("start upload of %s to %q: %w", d, repo, err)
	}
	loc, err := c.uploadLocation(resp)
	if err != nil {
		return "", fmt.Errorf("push blob %s to %q: %w", d, repo, err)
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if _, _, err := c.do(http.MethodPut, loc.String(), h, data, http.StatusCreated); err != nil {
		return "", fmt.Errorf("push blob %s to %q: %w", d, repo, err)
	}
	return d, nil
}

// StartUpload starts a blob upload in repo and leaves it unfinished, as a
// client that died mid-push does: the registry keeps _uploads/<uuid> with
// its startedat. When partial is not empty it is sent as a first chunk, so
// the upload also has data and a saved hash state. It returns the uuid.
func (c *Client) StartUpload(repo string, partial []byte) (string, error) {
	resp, _, err := c.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if err != nil {
		return "", fmt.Errorf("start upload to %q: %w", repo, err)
	}
	uuid := resp.Header.Get("Docker-Upload-UUID")
	if uuid == "" {
		return "", fmt.Errorf("start upload to %q: no Docker-Upload-UUID in the response", repo)
	}
	if len(partial) == 0 {
		return uuid, nil
	}
	loc, err := c.uploadLocation(resp)
	if err != nil {
		return "", fmt.Errorf("start upload to %q: %w", repo, err)
	}
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if _, _, err := c.do(http.MethodPatch, loc.String(), h, partial, http.StatusAccepted); err != nil {
		return "", fmt.Errorf("send a chunk to upload %s in %q: %w", uuid, repo, err)
	}
	return uuid, nil
}

// PushManifest puts body as a manifest of mediaType into repo under ref, a
// tag or a digest, and returns the digest the registry announces.
func (c *Client) PushManifest(repo, ref, mediaType string, body []byte) (digest.Digest, error) {
	h := http.Header{"Content-Type": {mediaType}}
	resp, _, err := c.do(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, h, body, http.StatusCreated)
	if err != nil {
		return "", fmt.Errorf("push manifest %s:%s: %w", repo, ref, err)
	}
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		return "", fmt.Errorf("push manifest %s:%s: bad Docker-Content-Digest: %w", repo, ref, err)
	}
	if want := digest.FromBytes(body); d != want {
		return "", fmt.Errorf("push manifest %s:%s: registry says %s, body is %s: %w", repo, ref, d, want, ErrDigestMismatch)
	}
	return d, nil
}

// Push pushes m into repo the way a client does: first the blobs of an
// image (config, then layers) or the children of an index (by digest,
// recursively), then the manifest itself under ref. An empty ref pushes by
// digest only, leaving the manifest untagged. It returns m's digest.
//
// Push serves images, indexes, manifest lists and artifacts alike; it is
// what the issue called PushImage and PushIndex.
func (c *Client) Push(repo, ref string, m *Manifest) (digest.Digest, error) {
	if m.Config != nil {
		if _, err := c.PushBlob(repo, m.Config); err != nil {
			return "", err
		}
	}
	for _, l := range m.Layers {
		if _, err := c.PushBlob(repo, l); err != nil {
			return "", err
		}
	}
	for _, child := range m.Children {
		if _, err := c.Push(repo, "", child); err != nil {
			return "", err
		}
	}
	if ref == "" {
		ref = m.Digest().String()
	}
	return c.PushManifest(repo, ref, m.MediaType, m.Body)
}

// HeadManifest returns the digest the registry gives for repo:ref
// (Docker-Content-Digest of a HEAD request).
func (c *Client) HeadManifest(repo, ref string) (digest.Digest, error) {
	h := http.Header{"Accept": {acceptManifests}}
	resp, _, err := c.do(http.MethodHead, "/v2/"+repo+"/manifests/"+ref, h, nil, http.StatusOK)
	if err != nil {
		return "", fmt.Errorf("head manifest %s:%s: %w", repo, ref, err)
	}
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil {
		return "", fmt.Errorf("head manifest %s:%s: bad Docker-Content-Digest: %w", repo, ref, err)
	}
	return d, nil
}

// GetManifest fetches repo:ref and returns its media type and body, after
// checking that the body hashes to the digest the registry announced (and
// to ref, when ref is a digest).
func (c *Client) GetManifest(repo, ref string) (string, []byte, error) {
	h := http.Header{"Accept": {acceptManifests}}
	resp, body, err := c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, h, nil, http.StatusOK)
	if err != nil {
		return "", nil, fmt.Errorf("get manifest %s:%s: %w", repo, ref, err)
	}
	got := digest.FromBytes(body)
	if announced := resp.Header.Get("Docker-Content-Digest"); announced != got.String() {
		return "", nil, fmt.Errorf("get manifest %s:%s: announced %q, body is %s: %w", repo, ref, announced, got, ErrDigestMismatch)
	}
	if want, err := digest.Parse(ref); err == nil && want != got {
		return "", nil, fmt.Errorf("get manifest %s:%s: body is %s: %w", repo, ref, got, ErrDigestMismatch)
	}
	return resp.Header.Get("Content-Type"), body, nil
}

// GetBlob downloads blob d from repo and checks that it hashes to d.
func (c *Client) GetBlob(repo string, d digest.Digest) ([]byte, error) {
	_, body, err := c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, nil, http.StatusOK)
	if err != nil {
		return nil, fmt.Errorf("get blob %s from %q: %w", d, repo, err)
	}
	if got := digest.FromBytes(body); got != d {
		return nil, fmt.Errorf("get blob %s from %q: content is %s: %w", d, repo, got, ErrDigestMismatch)
	}
	return body, nil
}

// DeleteManifest deletes manifest d from repo. The registry removes the
// revision and every tag whose current target is d.
func (c *Client) DeleteManifest(repo string, d digest.Digest) error {
	if _, _, err := c.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+d.String(), nil, nil, http.StatusAccepted); err != nil {
		return fmt.Errorf("delete manifest %s@%s: %w", repo, d, err)
	}
	return nil
}

// DeleteTag deletes tag from repo; the manifest stays as an untagged
// revision.
func (c *Client) DeleteTag(repo, tag string) error {
	if _, _, err := c.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+tag, nil, nil, http.StatusAccepted); err != nil {
		return fmt.Errorf("delete tag %s:%s: %w", repo, tag, err)
	}
	return nil
}

// DeleteBlob deletes repo's layer link to d; the blob itself stays.
func (c *Client) DeleteBlob(repo string, d digest.Digest) error {
	if _, _, err := c.do(http.MethodDelete, "/v2/"+repo+"/blobs/"+d.String(), nil, nil, http.StatusAccepted); err != nil {
		return fmt.Errorf("delete blob %s from %q: %w", d, repo, err)
	}
	return nil
}

// Catalog returns every repository the registry lists, following the
// catalog's pagination.
func (c *Client) Catalog() ([]string, error) {
	var page struct {
		Repositories []string `json:"repositories"`
	}
	var all []string
	err := c.pages("/v2/_catalog", func(body []byte) error {
		page.Repositories = nil
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		all = append(all, page.Repositories...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list catalog: %w", err)
	}
	return all, nil
}

// Tags returns repo's tags, following the tags list's pagination. A
// repository without a tags directory is a 404 NAME_UNKNOWN from the
// registry; Tags returns that error.
func (c *Client) Tags(repo string) ([]string, error) {
	var page struct {
		Tags []string `json:"tags"`
	}
	var all []string
	err := c.pages("/v2/"+repo+"/tags/list", func(body []byte) error {
		page.Tags = nil
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		all = append(all, page.Tags...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %q: %w", repo, err)
	}
	return all, nil
}

// Pull fetches repo:ref and everything it references the way a client
// pulling it does (an index's children, an image's config and layers,
// recursively) and verifies that each download hashes to its digest and has
// the size its descriptor says. A subject is not followed: pulling an
// artifact does not pull what it signs. It returns the manifest's digest.
func (c *Client) Pull(repo, ref string) (digest.Digest, error) {
	_, body, err := c.GetManifest(repo, ref)
	if err != nil {
		return "", err
	}
	if err := c.pullReferences(repo, body); err != nil {
		return "", fmt.Errorf("pull %s:%s: %w", repo, ref, err)
	}
	return digest.FromBytes(body), nil
}

func (c *Client) pullReferences(repo string, body []byte) error {
	var m struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("parse manifest %s: %w", digest.FromBytes(body), err)
	}
	for _, child := range m.Manifests {
		_, cb, err := c.GetManifest(repo, child.Digest.String())
		if err != nil {
			return err
		}
		if int64(len(cb)) != child.Size {
			return fmt.Errorf("manifest %s is %d bytes, its descriptor says %d", child.Digest, len(cb), child.Size)
		}
		if err := c.pullReferences(repo, cb); err != nil {
			return err
		}
	}
	blobs := m.Layers
	if m.Config != nil {
		blobs = append([]v1.Descriptor{*m.Config}, blobs...)
	}
	for _, b := range blobs {
		data, err := c.GetBlob(repo, b.Digest)
		if err != nil {
			return err
		}
		if int64(len(data)) != b.Size {
			return fmt.Errorf("blob %s is %d bytes, its descriptor says %d", b.Digest, len(data), b.Size)
		}
	}
	return nil
}

// pages GETs path and each page its Link header names, handing every body
// to page.
func (c *Client) pages(path string, page func(body []byte) error) error {
	next := path
	if c.PageSize > 0 {
		next += "?n=" + strconv.Itoa(c.PageSize)
	}
	for next != "" {
		resp, body, err := c.do(http.MethodGet, next, nil, nil, http.StatusOK)
		if err != nil {
			return err
		}
		if err := page(body); err != nil {
			return fmt.Errorf("parse %s: %w", next, err)
		}
		next = nextLink(resp.Header.Get("Link"))
	}
	return nil
}

// nextLink returns the URL of a Link header `<url>; rel="next"`, or "".
func nextLink(h string) string {
	start, end := strings.Index(h, "<"), strings.Index(h, ">")
	if start < 0 || end < start || !strings.Contains(h[end:], `rel="next"`) {
		return ""
	}
	return h[start+1 : end]
}

// uploadLocation resolves an upload's Location header against the base URL.
func (c *Client) uploadLocation(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("no Location in the upload response")
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("parse upload location %q: %w", loc, err)
	}
	return u, nil
}

// do sends one request to target, a path below the base URL or an absolute
// URL, and reads the whole response. A status not in want is an *HTTPError.
func (c *Client) do(method, target string, header http.Header, body []byte, want ...int) (*http.Response, []byte, error) {
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		target = c.URL + target
	}
	req, err := http.NewRequest(method, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read response to %s %s: %w", method, req.URL.RequestURI(), err)
	}
	if !slices.Contains(want, resp.StatusCode) {
		return nil, nil, newHTTPError(resp, data)
	}
	return resp, data, nil
}
