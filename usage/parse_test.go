package usage_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regsql/regsql/usage"
)

// Lines as the registry (distribution v3.1.2) logs them, captured from one
// running in-process: the text formatter, then the JSON one.
const (
	textGet    = `time="2026-11-23T17:32:40.604428683Z" level=info msg="response completed" go.version=go1.26.8 http.request.host="127.0.0.1:45475" http.request.id=01a20977-911c-738e-889a-6cd7057b8f44 http.request.method=GET http.request.remoteaddr="127.0.0.1:42648" http.request.uri=/v2/team/app/manifests/v1 http.request.useragent=scratch/1.0 http.response.contenttype=application/vnd.docker.distribution.manifest.v2+json http.response.duration="194.159µs" http.response.status=200 http.response.written=424 vars.name=team/app vars.reference=v1`
	textHead   = `time="2026-11-23T17:32:40.604054166Z" level=info msg="response completed" go.version=go1.26.8 http.request.host="127.0.0.1:45475" http.request.id=01a20977-911b-7a1f-841c-841b6c99c61e http.request.method=HEAD http.request.remoteaddr="127.0.0.1:42648" http.request.uri=/v2/team/app/manifests/v1 http.request.useragent=scratch/1.0 http.response.contenttype=application/vnd.docker.distribution.manifest.v2+json http.response.duration="395.92µs" http.response.status=200 http.response.written=0 vars.name=team/app vars.reference=v1`
	textPut    = `time="2026-11-23T17:32:40.603375299Z" level=info msg="response completed" go.version=go1.26.8 http.request.contenttype=application/vnd.docker.distribution.manifest.v2+json http.request.host="127.0.0.1:45475" http.request.id=01a20977-910b-79c5-a7e7-a71ae25124c9 http.request.method=PUT http.request.remoteaddr="127.0.0.1:42648" http.request.uri=/v2/team/app/manifests/v1 http.request.useragent=scratch/1.0 http.response.duration=15.7332ms http.response.status=201 http.response.written=0 vars.name=team/app vars.reference=v1`
	textUpload = `time="2026-11-23T17:32:40.545771547Z" level=info msg="response completed" go.version=go1.26.8 http.request.contenttype=application/octet-stream http.request.host="127.0.0.1:45475" http.request.id=01a20977-90d3-7c9b-926a-8067a513652b http.request.method=PUT http.request.remoteaddr="127.0.0.1:42648" http.request.uri="/v2/team/app/blobs/uploads/01a20977-90c4-7cca-bc08-a6760b3cb170?_state=rDHU&digest=sha256%3A493e62b283b60efce80643c25dff70a3f2e50ddbea13e8316fffb9e7067acf23" http.request.useragent=scratch/1.0 http.response.duration=13.949497ms http.response.status=201 http.response.written=0 vars.name=team/app vars.uuid=01a20977-90c4-7cca-bc08-a6760b3cb170`
	textPost   = `time="2026-11-23T17:32:40.531447987Z" level=info msg="response completed" go.version=go1.26.8 http.request.host="127.0.0.1:45475" http.request.id=01a20977-90c3-7168-a73a-a8d05011e533 http.request.method=POST http.request.remoteaddr="127.0.0.1:42648" http.request.uri=/v2/team/app/blobs/uploads/ http.request.useragent=scratch/1.0 http.response.duration=16.380187ms http.response.status=202 http.response.written=0 vars.name=team/app`
	textBlob   = `time="2026-11-23T17:32:40.605515412Z" level=info msg="response completed" go.version=go1.26.8 http.request.host="127.0.0.1:45475" http.request.id=01a20977-911c-79eb-88ff-0ee645d40973 http.request.method=GET http.request.remoteaddr="127.0.0.1:42648" http.request.uri="/v2/team/app/blobs/sha256:493e62b283b60efce80643c25dff70a3f2e50ddbea13e8316fffb9e7067acf23" http.request.useragent=scratch/1.0 http.response.contenttype=application/octet-stream http.response.duration="864.127µs" http.response.status=200 http.response.written=340 vars.digest="sha256:493e62b283b60efce80643c25dff70a3f2e50ddbea13e8316fffb9e7067acf23" vars.name=team/app`
	textOther  = `time="2026-11-23T17:32:40.514351773Z" level=info msg="redis not configured" go.version=go1.26.8`
	jsonGet    = `{"go.version":"go1.26.8","http.request.host":"127.0.0.1:45687","http.request.id":"01a20977-9140-7c21-a0ec-1d2b0e3c7d5e","http.request.method":"GET","http.request.remoteaddr":"127.0.0.1:53938","http.request.uri":"/v2/team/app/manifests/sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39","http.request.useragent":"scratch/1.0","http.response.contenttype":"application/vnd.docker.distribution.manifest.v2+json","http.response.duration":"250.1µs","http.response.status":200,"http.response.written":424,"level":"info","msg":"response completed","time":"2026-11-23T17:32:40.701234567Z","vars.name":"team/app","vars.reference":"sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39"}`
)

const blobDigest = "sha256:493e62b283b60efce80643c25dff70a3f2e50ddbea13e8316fffb9e7067acf23"

func TestParseLogLine(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339Nano, s); return tm }
	tests := []struct {
		name    string
		line    string
		want    usage.Event
		wantOK  bool
		wantErr bool
	}{
		{name: "GET by tag", line: textGet, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-911c-738e-889a-6cd7057b8f44", Time: at("2026-11-23T17:32:40.604428683Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "GET", Status: 200, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "HEAD by tag", line: textHead, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-911b-7a1f-841c-841b6c99c61e", Time: at("2026-11-23T17:32:40.604054166Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "HEAD", Status: 200, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "JSON GET by digest", line: jsonGet, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-9140-7c21-a0ec-1d2b0e3c7d5e", Time: at("2026-11-23T17:32:40.701234567Z"),
			Repo: "team/app", Reference: "sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39",
			Digest: "sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39", Method: "GET", Status: 200,
			UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:53938"}},
		{name: "manifest PUT", line: textPut, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPush, Key: "01a20977-910b-79c5-a7e7-a71ae25124c9", Time: at("2026-11-23T17:32:40.603375299Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "PUT", Status: 201, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "upload finished", line: textUpload, wantOK: true, want: usage.Event{
			Kind: usage.BlobPush, Key: "01a20977-90d3-7c9b-926a-8067a513652b", Time: at("2026-11-23T17:32:40.545771547Z"),
			Repo: "team/app", Reference: blobDigest, Digest: blobDigest, Method: "PUT", Status: 201, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "blob GET", line: textBlob, wantOK: true, want: usage.Event{
			Kind: usage.BlobPull, Key: "01a20977-911c-79eb-88ff-0ee645d40973", Time: at("2026-11-23T17:32:40.605515412Z"),
			Repo: "team/app", Reference: blobDigest, Digest: blobDigest, Method: "GET", Status: 200, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "docker logs --timestamps prefix", line: "2026-11-23T17:32:40.604500000Z " + textGet, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-911c-738e-889a-6cd7057b8f44", Time: at("2026-11-23T17:32:40.604428683Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "GET", Status: 200, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "CRI log prefix", line: "2026-11-23T17:32:40.604500000Z stderr F " + jsonGet, wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-9140-7c21-a0ec-1d2b0e3c7d5e", Time: at("2026-11-23T17:32:40.701234567Z"),
			Repo: "team/app", Reference: "sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39",
			Digest: "sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39", Method: "GET", Status: 200,
			UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:53938"}},
		{name: "not modified is a pull", line: strings.Replace(textGet, "status=200", "status=304", 1), wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Key: "01a20977-911c-738e-889a-6cd7057b8f44", Time: at("2026-11-23T17:32:40.604428683Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "GET", Status: 304, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "blob redirect is a pull", line: strings.Replace(textBlob, "status=200", "status=307", 1), wantOK: true, want: usage.Event{
			Kind: usage.BlobPull, Key: "01a20977-911c-79eb-88ff-0ee645d40973", Time: at("2026-11-23T17:32:40.605515412Z"),
			Repo: "team/app", Reference: blobDigest, Digest: blobDigest, Method: "GET", Status: 307, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "no request id: a hash of the line", line: strings.Replace(textGet, "http.request.id=01a20977-911c-738e-889a-6cd7057b8f44 ", "", 1), wantOK: true, want: usage.Event{
			Kind: usage.ManifestPull, Time: at("2026-11-23T17:32:40.604428683Z"),
			Repo: "team/app", Reference: "v1", Tag: "v1", Method: "GET", Status: 200, UserAgent: "scratch/1.0", RemoteAddr: "127.0.0.1:42648"}},
		{name: "upload started", line: textPost},
		{name: "blob HEAD", line: strings.Replace(textBlob, "method=GET", "method=HEAD", 1)},
		{name: "another message", line: textOther},
		{name: "an error response", line: strings.Replace(textGet, `level=info msg="response completed"`, `level=error msg="response completed with error"`, 1)},
		{name: "tags list", line: strings.Replace(textGet, "/v2/team/app/manifests/v1", "/v2/team/app/tags/list", 1)},
		{name: "garbage", line: "panic: runtime error", wantErr: true},
		{name: "unterminated quote", line: `time="2026-11-23T17:32:40Z msg="response completed`, wantErr: true},
		{name: "bad time", line: strings.Replace(textGet, "2026-11-23T17:32:40.604428683Z", "yesterday", 1), wantErr: true},
		{name: "truncated JSON", line: jsonGet[:100], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := usage.ParseLogLine([]byte(tt.line))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseLogLine() error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, usage.ErrMalformed) {
				t.Errorf("ParseLogLine() error = %v, want it to wrap ErrMalformed", err)
			}
			if ok != tt.wantOK {
				t.Fatalf("ParseLogLine() ok = %v, want %v (event %+v)", ok, tt.wantOK, got)
			}
			if !ok {
				return
			}
			if tt.want.Key == "" {
				if !strings.HasPrefix(got.Key, "sha256:") {
					t.Errorf("ParseLogLine() key = %q, want a hash", got.Key)
				}
				tt.want.Key = got.Key
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("ParseLogLine() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// envelope is one the registry sent, indented as it indents them.
const envelope = `{
   "events": [
      {
         "id": "01a20977-9112-7004-8474-3550f11000ee",
         "timestamp": "2026-11-23T17:32:40.604054166Z",
         "action": "pull",
         "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": "sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39",
            "size": 424,
            "length": 424,
            "repository": "team/app",
            "url": "http://127.0.0.1:45475/v2/team/app/manifests/sha256:8f0f0a0b3bbd20bb1e8b4d7b0ffb4e7b3e0e6f5b1f64d07e1c4cbbbfe0bb7f39",
            "tag": "v1"
         },
         "request": {
            "id": "01a20977-911b-7a1f-841c-841b6c99c61e",
            "addr": "127.0.0.1:42648",
            "host": "127.0.0.1:45475",
            "method": "HEAD",
            "useragent": "scratch/1.0"
         },
         "actor": {},
         "source": {
            "addr": "vm:5000"
         }
      }
   ]
}`

func TestParseEnvelope(t *testing.T) {
	blob := strings.NewReplacer(`"application/vnd.docker.distribution.manifest.v2+json"`, `"application/octet-stream"`,
		"/manifests/", "/blobs/", `"tag": "v1"`, `"tag": ""`)
	tests := []struct {
		name        string
		body        string
		want        []usage.Kind
		wantSkipped int
		wantErr     bool
	}{
		{name: "a HEAD by tag is a pull", body: envelope, want: []usage.Kind{usage.ManifestPull}},
		{name: "a blob GET", body: strings.Replace(blob.Replace(envelope), `"HEAD"`, `"GET"`, 1), want: []usage.Kind{usage.BlobPull}},
		{name: "a blob HEAD is skipped", body: blob.Replace(envelope), wantSkipped: 1},
		{name: "a push", body: strings.Replace(envelope, `"pull"`, `"push"`, 1), want: []usage.Kind{usage.ManifestPush}},
		{name: "a tag delete", body: strings.Replace(envelope, `"pull"`, `"delete"`, 1), want: []usage.Kind{usage.TagDelete}},
		{name: "an event alone", body: envelope[strings.Index(envelope, `{
         "id"`):strings.LastIndex(envelope, "]")], want: []usage.Kind{usage.ManifestPull}},
		{name: "an unknown action", body: strings.Replace(envelope, `"pull"`, `"teleport"`, 1), wantSkipped: 1},
		{name: "no timestamp", body: strings.Replace(envelope, `"timestamp"`, `"when"`, 1), wantErr: true},
		{name: "not JSON", body: "events", wantErr: true},
		{name: "truncated", body: envelope[:200], wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, skipped, err := usage.ParseEnvelope([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseEnvelope() error = %v, want error %v", err, tt.wantErr)
			}
			var kinds []usage.Kind
			for _, ev := range events {
				kinds = append(kinds, ev.Kind)
				if ev.Key != "01a20977-911b-7a1f-841c-841b6c99c61e" || ev.Repo != "team/app" || ev.Digest == "" {
					t.Errorf("ParseEnvelope() event = %+v, want the request id as key, team/app and a digest", ev)
				}
			}
			if fmt.Sprint(kinds) != fmt.Sprint(tt.want) || skipped != tt.wantSkipped {
				t.Errorf("ParseEnvelope() = %v, skipped %d, want %v, skipped %d", kinds, skipped, tt.want, tt.wantSkipped)
			}
		})
	}
	events, _, _ := usage.ParseEnvelope([]byte(envelope))
	if got := events[0]; got.Reference != "v1" || got.Tag != "v1" || got.Method != "HEAD" {
		t.Errorf("ParseEnvelope() pull = %+v, want reference and tag v1, method HEAD", got)
	}
}

func TestScan(t *testing.T) {
	input := strings.Join([]string{
		textOther, textPost, textUpload, textGet, "", "garbage that is no log line", textHead,
		jsonGet, envelope, textBlob, strings.Repeat("x", usage.MaxLineBytes+10), textPut,
	}, "\n")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(input))
	zw.Close()
	tests := []struct {
		name  string
		input []byte
	}{
		{name: "plain", input: []byte(input)},
		{name: "gzip", input: gz.Bytes()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kinds []usage.Kind
			st, err := usage.Scan(context.Background(), bytes.NewReader(tt.input), usage.ScanOptions{}, func(ev usage.Event) error {
				kinds = append(kinds, ev.Kind)
				return nil
			})
			if err != nil {
				t.Fatalf("Scan() error = %v", err)
			}
			want := []usage.Kind{usage.BlobPush, usage.ManifestPull, usage.ManifestPull, usage.ManifestPull, usage.ManifestPull, usage.BlobPull, usage.ManifestPush}
			if fmt.Sprint(kinds) != fmt.Sprint(want) {
				t.Errorf("Scan() events = %v, want %v", kinds, want)
			}
			if st.Malformed != 2 || st.Skipped != 2 || st.Events != int64(len(want)) {
				t.Errorf("Scan() stats = %+v, want 2 malformed, 2 skipped, %d events", st, len(want))
			}
			if st.First.IsZero() || st.Last.Before(st.First) {
				t.Errorf("Scan() span = %v to %v", st.First, st.Last)
			}
		})
	}
}

// TestScanStopsOnError: an error storing an event stops the scan.
func TestScanStopsOnError(t *testing.T) {
	stop := errors.New("disk full")
	_, err := usage.Scan(context.Background(), strings.NewReader(textGet+"\n"+textHead), usage.ScanOptions{}, func(usage.Event) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("Scan() error = %v, want %v", err, stop)
	}
}

func TestRemoteMode(t *testing.T) {
	tests := []struct {
		name string
		mode usage.RemoteMode
		addr string
		want string
	}{
		{name: "keep drops the port", mode: usage.RemoteKeep, addr: "10.1.2.3:51234", want: "10.1.2.3"},
		{name: "keep an IPv6 address", mode: usage.RemoteKeep, addr: "[::1]:5000", want: "::1"},
		{name: "keep a forwarded address", mode: usage.RemoteKeep, addr: "10.1.2.3", want: "10.1.2.3"},
		{name: "drop", mode: usage.RemoteDrop, addr: "10.1.2.3:51234", want: ""},
		{name: "hash ignores the port", mode: usage.RemoteHash, addr: "10.1.2.3:1", want: usage.RemoteHash.Apply("10.1.2.3:2")},
		{name: "empty", mode: usage.RemoteHash, addr: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.mode.Apply(tt.addr); got != tt.want {
				t.Errorf("Apply(%q) = %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
	if h := usage.RemoteHash.Apply("10.1.2.3:1"); strings.Contains(h, "10.1") || h == usage.RemoteHash.Apply("10.1.2.4:1") {
		t.Errorf("Apply() hash = %q: holds the address, or equals another's", h)
	}
}

func FuzzParseLogLine(f *testing.F) {
	for _, s := range []string{textGet, textHead, textPut, textUpload, textPost, textBlob, textOther, jsonGet,
		`time="x" msg="response completed"`, `{"msg":"response completed","time":"2026-01-01T00:00:00Z","http.response.status":"x"}`, "", "{", "time="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, ok, err := usage.ParseLogLine(line)
		if err != nil && !errors.Is(err, usage.ErrMalformed) {
			t.Fatalf("ParseLogLine(%q) error = %v, want it to wrap ErrMalformed", line, err)
		}
		if ok && (err != nil || ev.Key == "" || ev.Repo == "" || ev.Reference == "" || ev.Time.IsZero() || ev.Kind == "") {
			t.Fatalf("ParseLogLine(%q) = %+v, %v: an event lacks a key, repository, reference, time or kind", line, ev, err)
		}
		if ev.Kind.IsPull() && ev.Digest == "" && ev.Kind == usage.BlobPull {
			t.Fatalf("ParseLogLine(%q) = %+v: a blob pull without a digest", line, ev)
		}
	})
}

func FuzzParseEnvelope(f *testing.F) {
	for _, s := range []string{envelope, `{"events":[]}`, `{"events":[{}]}`, `{"action":"pull"}`, `[]`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		events, _, err := usage.ParseEnvelope(body)
		if err != nil && !errors.Is(err, usage.ErrMalformed) {
			t.Fatalf("ParseEnvelope(%q) error = %v, want it to wrap ErrMalformed", body, err)
		}
		for _, ev := range events {
			if ev.Key == "" || ev.Repo == "" || ev.Kind == "" || ev.Time.IsZero() {
				t.Fatalf("ParseEnvelope(%q) event %+v lacks a key, repository, kind or time", body, ev)
			}
		}
	})
}

func BenchmarkParseLogLine(b *testing.B) {
	for _, bb := range []struct{ name, line string }{{"text", textGet}, {"json", jsonGet}, {"text-other", textOther}} {
		b.Run(bb.name, func(b *testing.B) {
			line := []byte(bb.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := usage.ParseLogLine(line); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
