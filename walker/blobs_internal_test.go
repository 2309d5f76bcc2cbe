package walker

import (
	"encoding/hex"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestBlobSetLookup looks up blobs whose keys share their first 8 bytes,
// where the search over prefixes must go on to whole keys, beside blobs
// that differ early, blobs absent, and a digest of another algorithm.
func TestBlobSetLookup(t *testing.T) {
	key := func(s string) [32]byte {
		var k [32]byte
		copy(k[:], s)
		return k
	}
	dig := func(k [32]byte) digest.Digest {
		return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(k[:]))
	}
	present := map[[32]byte]int64{
		key("samepfx-a"): 1, key("samepfx-b"): 2, key("samepfx-c"): 3,
		key("\x00first"): 4, key("\xfflast"): 5, key("middle"): 6,
	}
	var list []blobEntry
	for k, n := range present {
		list = append(list, blobEntry{key: k, size: n})
	}
	long := digest.Digest("sha512:" + hex.EncodeToString(make([]byte, 64)))
	s := newBlobSet(list, map[digest.Digest]int64{long: 7})

	for k, n := range present {
		if got, ok := s.lookup(dig(k)); !ok || got != n {
			t.Errorf("lookup(%q) = %d, %t, want %d, true", k[:9], got, ok, n)
		}
	}
	for _, k := range []string{"samepfx-0", "samepfx-z", "samepfx", "\x00", "\xff\xff", "mid"} {
		if got, ok := s.lookup(dig(key(k))); ok {
			t.Errorf("lookup(%q) = %d, true, want absent", k, got)
		}
	}
	if got, ok := s.lookup(long); !ok || got != 7 {
		t.Errorf("lookup(sha512) = %d, %t, want 7, true", got, ok)
	}
	if _, ok := s.lookup("sha256:nothex"); ok {
		t.Error("lookup of an invalid digest found a blob")
	}
}

// TestSHA256Key checks that a digest's key is its bytes exactly when its
// text is canonical: "sha256:" and 64 lowercase hex digits.
func TestSHA256Key(t *testing.T) {
	hexOf := "0123456789abcdef00112233445566778899aabbccddeeff0f1e2d3c4b5a6978"
	tests := []struct {
		text string
		ok   bool
	}{
		{"sha256:" + hexOf, true},
		{"sha256:" + hexOf[:63] + "A", false}, // uppercase
		{"sha256:" + hexOf[:63] + "g", false},
		{"sha256:" + hexOf[:63] + "/", false}, // just below '0'
		{"sha256:" + hexOf[:63] + ":", false}, // just above '9'
		{"sha256:" + hexOf[:63] + "`", false}, // just below 'a'
		{"sha256:" + hexOf[:63], false},
		{"sha256:" + hexOf + "0", false},
		{"sha512:" + hexOf, false},
		{"SHA256:" + hexOf, false},
	}
	for _, tt := range tests {
		key, ok := SHA256Key(digest.Digest(tt.text))
		if ok != tt.ok {
			t.Errorf("SHA256Key(%q) ok = %v, want %v", tt.text, ok, tt.ok)
			continue
		}
		if want, _ := hex.DecodeString(hexOf); ok && string(key[:]) != string(want) {
			t.Errorf("SHA256Key(%q) = %x, want %s", tt.text, key, hexOf)
		}
	}
	for s, want := range map[string]bool{"0123456789abcdef": true, "": true, "A": false, "g": false, "/": false, ":": false, "`": false, "\xff": false} {
		if got := isLowerHex(s); got != want {
			t.Errorf("isLowerHex(%q) = %v, want %v", s, got, want)
		}
	}
}
