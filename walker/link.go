package walker

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// maxQuoted is how much of bad content a message quotes.
const maxQuoted = 80

// ParseLink parses the content of a link file as strictly as the registry
// does (digest.Parse of the whole content): exactly "<alg>:<hex>" with
// sha256, sha384 or sha512 and lowercase hex of the algorithm's length. A
// trailing newline or space is an error, because the registry fails on it.
func ParseLink(b []byte) (digest.Digest, error) {
	if t := bytes.TrimSpace(b); len(t) != len(b) && len(t) > 0 {
		if _, err := ParseLink(t); err == nil {
			return "", fmt.Errorf("%w: %s has whitespace around the digest", ErrBadLink, quote(b))
		}
	}
	alg, hex, ok := cutColon(b)
	if !ok {
		return "", fmt.Errorf("%w: %s is not <algorithm>:<hex>", ErrBadLink, quote(b))
	}
	want := hexLen(string(alg))
	if want == 0 {
		return "", fmt.Errorf("%w: %s has unsupported algorithm %q", ErrBadLink, quote(b), alg)
	}
	if len(hex) != want || !isLowerHex(hex) {
		return "", fmt.Errorf("%w: %s is not %d lowercase hex digits after %q", ErrBadLink, quote(b), want, string(alg)+":")
	}
	return digest.Digest(b), nil
}

func cutColon(b []byte) (alg, hex []byte, ok bool) {
	for i, c := range b {
		if c == ':' {
			return b[:i], b[i+1:], i > 0
		}
	}
	return nil, nil, false
}

// hexLen is the length of the hex part of a digest of algorithm alg, or 0
// for an algorithm the registry does not support.
func hexLen(alg string) int {
	switch digest.Algorithm(alg) {
	case digest.SHA256:
		return 64
	case digest.SHA384:
		return 96
	case digest.SHA512:
		return 128
	}
	return 0
}

func isLowerHex[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if hexValue[s[i]] > 15 {
			return false
		}
	}
	return true
}

// hexValue maps a lowercase hex digit to its value and anything else to
// 0xff. A table lookup: the comparisons it replaces mispredicted on every
// switch between digits and letters, which hashes make random (0.6 s of a
// large build's CPU).
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

// digestFromPath makes a digest from a directory pair like sha256/<hex>, as
// the registry's paths name them. ok is false when they do not form a valid
// digest.
func digestFromPath(alg, hex string) (digest.Digest, bool) {
	n := hexLen(alg)
	if n == 0 || len(hex) != n || !isLowerHex(hex) {
		return "", false
	}
	return digest.Digest(alg + ":" + hex), true
}

// quote quotes possibly binary content for a message, truncated.
func quote(b []byte) string {
	if len(b) > maxQuoted {
		return fmt.Sprintf("%q...", b[:maxQuoted])
	}
	return fmt.Sprintf("%q", b)
}

// validDigest reports whether d is a digest the registry can store a blob
// under: a supported algorithm and lowercase hex of its length. Unlike
// d.Algorithm(), it never panics on a malformed digest.
func validDigest(d digest.Digest) bool {
	alg, hex, ok := strings.Cut(string(d), ":")
	return ok && hexLen(alg) == len(hex) && len(hex) > 0 && isLowerHex(hex)
}

// blobDataPath is where the content of blob d lives, relative to the v2
// root; "" when d is not a valid digest.
func blobDataPath(d digest.Digest) string {
	if !validDigest(d) {
		return ""
	}
	alg, hex, _ := strings.Cut(string(d), ":")
	return "blobs/" + alg + "/" + hex[:2] + "/" + hex + "/data"
}
