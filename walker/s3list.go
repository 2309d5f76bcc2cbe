package walker

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/service/s3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	s3aws "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws"
	"github.com/opencontainers/go-digest"
)

// The S3 driver's Walk lists flat but drops what the listing says of each
// object besides its size and time: its ETag. For an object written in
// one PUT without a KMS key, which is how the registry writes link files,
// the ETag is the MD5 of the content. A link's content is a digest the
// walk can name beforehand (the one its directory is named by, or for a
// tag's current link one of the tag's history entries), so a matching
// ETag proves the content and the link need not be read: on a registry's
// bucket that halves the requests of a walk. An ETag that matches nothing
// (another content, a multipart upload, SSE-KMS) only means the link is
// read.
//
// s3Lister makes that listing with the driver's own S3 client, so that
// the registry config's credentials, endpoint, region and path style apply
// unchanged. The driver keeps the client in an exported field of an
// unexported type, reached by reflection; when that fails (another
// version of the driver), the walk lists with the driver's Walk and reads
// every link.
type s3Lister struct {
	client *s3.S3
	bucket string
	prefix string // the key of the v2 root and a slash, e.g. "registry/docker/registry/v2/"
}

// newS3Lister returns the lister of an s3aws driver, or false.
func newS3Lister(d storagedriver.StorageDriver) (*s3Lister, bool) {
	sd, ok := d.(*s3aws.Driver)
	if !ok || sd.Base.StorageDriver == nil {
		return nil, false
	}
	v := reflect.ValueOf(sd.Base.StorageDriver)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	client, bucket := v.Elem().FieldByName("S3"), v.Elem().FieldByName("Bucket")
	if !client.IsValid() || !client.CanInterface() || bucket.Kind() != reflect.String {
		return nil, false
	}
	c, ok := client.Interface().(*s3.S3)
	if !ok || c == nil {
		return nil, false
	}
	return &s3Lister{client: c, bucket: bucket.String(), prefix: sd.S3BucketKey(driverRoot) + "/"}, true
}

// keepConnections makes the client keep up to n idle connections to the
// store, n being the requests a walk has in flight. The SDK's default
// client is Go's, which keeps 2 a host: with 32 requests in flight, most
// requests closed their connection when done and the next one opened a new
// one (a TCP handshake, and on real S3 a TLS one, a request; thousands of
// sockets left in TIME_WAIT). Only the client of a driver this process
// opened is changed (OpenConfig): a driver shared with a running registry
// is not touched while it may be in use.
func (l *s3Lister) keepConnections(n int) {
	hc := l.client.Config.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	tr, ok := rt.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost >= n {
		return // a transport of the config's own making: left as it is
	}
	tr = tr.Clone()
	tr.MaxIdleConnsPerHost = n
	if tr.MaxIdleConns != 0 {
		tr.MaxIdleConns = max(tr.MaxIdleConns, n)
	}
	c := *hc
	c.Transport = tr
	l.client.Config.HTTPClient = &c
}

// s3Object is one object of a listing.
type s3Object struct {
	key     string // relative to the v2 root
	size    int64
	modTime time.Time
	etag    [16]byte // the MD5 the ETag names; zero when it names none
}

// list calls fn with every object below the v2 root whose key comes after
// startAfter ("" for all), in key order, until fn returns false. Before
// each page after the first it calls nextPage, which may stop the listing
// with an error.
func (l *s3Lister) list(ctx context.Context, startAfter string, fn func(s3Object) bool, nextPage func() error) error {
	in := &s3.ListObjectsV2Input{
		Bucket:  aws.String(l.bucket),
		Prefix:  aws.String(l.prefix),
		MaxKeys: aws.Int64(listPage),
	}
	if startAfter != "" {
		in.StartAfter = aws.String(l.prefix + startAfter)
	}
	for first := true; ; first = false {
		if !first {
			if err := nextPage(); err != nil {
				return err
			}
		}
		page, err := l.page(ctx, in)
		if err != nil {
			return fmt.Errorf("s3aws: %w", oneLine(err))
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(o.Key, l.prefix)
			if key == "" || strings.HasSuffix(key, "/") {
				continue // a directory marker, as the driver's Walk skips them
			}
			if !fn(s3Object{key: key, size: o.Size, modTime: o.LastModified, etag: parseETag(o.ETag)}) {
				return nil
			}
		}
		if !page.IsTruncated || page.NextContinuationToken == "" {
			return nil
		}
		in.ContinuationToken = aws.String(page.NextContinuationToken)
	}
}

// sdkUnmarshal names the SDK's REST XML decoder in a request's handlers
// (restxml.UnmarshalHandler, in a package the SDK calls private).
const sdkUnmarshal = "awssdk.restxml.Unmarshal"

// listObjectsPage is what a walk needs of a ListObjectsV2 answer.
type listObjectsPage struct {
	IsTruncated           bool
	NextContinuationToken string
	Contents              []struct {
		Key          string
		Size         int64
		LastModified time.Time
		ETag         string
	}
}

// page makes one ListObjectsV2 request: signed, sent and retried by the
// SDK as the driver's are, but decoded straight into listObjectsPage. The
// SDK's own decoding builds an XML tree of some 5 MB a page first, which
// cost a walk most of its memory and a fifth of its CPU.
func (l *s3Lister) page(ctx context.Context, in *s3.ListObjectsV2Input) (*listObjectsPage, error) {
	req, _ := l.client.ListObjectsV2Request(in)
	req.SetContext(ctx)
	var page listObjectsPage
	swapped := req.Handlers.Unmarshal.Swap(sdkUnmarshal, request.NamedHandler{
		Name: "regsql.ListObjectsV2Page",
		Fn: func(r *request.Request) {
			defer r.HTTPResponse.Body.Close()
			page = listObjectsPage{}
			if err := xml.NewDecoder(r.HTTPResponse.Body).Decode(&page); err != nil {
				r.Error = awserr.NewRequestFailure(awserr.New(request.ErrCodeSerialization, "decode ListObjectsV2 page", err), r.HTTPResponse.StatusCode, r.RequestID)
			}
		},
	})
	if !swapped {
		return nil, fmt.Errorf("decode ListObjectsV2: the SDK has no %s handler to replace", sdkUnmarshal)
	}
	if err := req.Send(); err != nil {
		return nil, err
	}
	return &page, nil
}

// parseETag returns the MD5 an ETag names: "<32 hex digits>", quoted.
func parseETag(etag string) [16]byte {
	var sum [16]byte
	h := strings.Trim(etag, `"`)
	if len(h) != 2*len(sum) {
		return [16]byte{}
	}
	if _, err := hex.Decode(sum[:], []byte(h)); err != nil {
		return [16]byte{}
	}
	return sum
}

// provenLink returns the content of the link file at index i when its
// ETag proves it: the MD5 of a digest the link may hold.
func (l *listing) provenLink(i int) (digest.Digest, bool) {
	if l.etags == nil || l.etags[i] == ([16]byte{}) {
		return "", false
	}
	for _, d := range l.linkCandidates(l.keys[i]) {
		if md5.Sum([]byte(d)) == l.etags[i] {
			return d, true
		}
	}
	return "", false
}

// linkCandidates returns what a link at p is expected to hold: the digest
// its directory names (<alg>/<hex>/link: revisions, layer links, tag
// history), or for a tag's current link the digests of the tag's history.
func (l *listing) linkCandidates(p string) []digest.Digest {
	dir, ok := strings.CutSuffix(p, "/link")
	if !ok {
		return nil
	}
	rest, hexPart := splitLast(dir)
	if d, ok := digestFromPath(lastComponent(rest), hexPart); ok {
		return []digest.Digest{d}
	}
	tagDir, ok := strings.CutSuffix(dir, "/current")
	if !ok {
		return nil
	}
	var ds []digest.Digest
	prefix := tagDir + "/index/"
	for i := l.search(prefix); i < len(l.keys) && strings.HasPrefix(l.keys[i], prefix); i++ {
		entry, ok := strings.CutSuffix(l.keys[i][len(prefix):], "/link")
		if !ok {
			continue
		}
		alg, h, _ := strings.Cut(entry, "/")
		if d, ok := digestFromPath(alg, h); ok {
			ds = append(ds, d)
		}
	}
	return ds
}

func splitLast(p string) (string, string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func lastComponent(p string) string {
	_, last := splitLast(p)
	return last
}
