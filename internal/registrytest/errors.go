package registrytest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// HTTPError is returned by every Client method when the registry answers
// with a status the method did not expect. Tests that expect a failure (a
// 404 after a delete) find it with errors.As or StatusCode.
type HTTPError struct {
	Method     string
	Path       string
	StatusCode int
	Body       string // the response body, trimmed; the registry's JSON error
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.StatusCode, http.StatusText(e.StatusCode), e.Body)
}

// StatusCode returns the HTTP status of an HTTPError in err's chain, or 0.
func StatusCode(err error) int {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// ErrDigestMismatch is returned by Pull, GetManifest and GetBlob when content does not
// hash to the digest it was asked for or announced with.
var ErrDigestMismatch = errors.New("digest mismatch")

func newHTTPError(resp *http.Response, body []byte) *HTTPError {
	return &HTTPError{
		Method:     resp.Request.Method,
		Path:       resp.Request.URL.RequestURI(),
		StatusCode: resp.StatusCode,
		Body:       strings.TrimSpace(string(body)),
	}
}
