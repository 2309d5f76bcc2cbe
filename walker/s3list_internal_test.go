package walker

import (
	"encoding/hex"
	"testing"
)

func TestParseETag(t *testing.T) {
	tests := []struct {
		name string
		etag string
		want string // hex, "" for none
	}{
		{name: "quoted md5", etag: `"d41d8cd98f00b204e9800998ecf8427e"`, want: "d41d8cd98f00b204e9800998ecf8427e"},
		{name: "bare md5", etag: "d41d8cd98f00b204e9800998ecf8427e", want: "d41d8cd98f00b204e9800998ecf8427e"},
		{name: "multipart", etag: `"d41d8cd98f00b204e9800998ecf8427e-3"`},
		{name: "not hex", etag: `"z41d8cd98f00b204e9800998ecf8427e"`},
		{name: "empty", etag: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseETag(tt.etag)
			var want [16]byte
			b, _ := hex.DecodeString(tt.want)
			copy(want[:], b)
			if got != want {
				t.Errorf("parseETag(%q) = %x, want %x", tt.etag, got, want)
			}
		})
	}
}

func FuzzParseETag(f *testing.F) {
	f.Add(`"d41d8cd98f00b204e9800998ecf8427e"`)
	f.Add(`"abc-2"`)
	f.Fuzz(func(t *testing.T, etag string) {
		parseETag(etag) // must not panic
	})
}
