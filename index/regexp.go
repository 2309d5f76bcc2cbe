package index

import (
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"sync"

	"modernc.org/sqlite"
)

// maxPatterns bounds the compiled patterns kept: a query uses a handful,
// but a process that runs many generated queries must not grow forever.
const maxPatterns = 256

// patternCache keeps compiled patterns, since SQLite calls the function once
// per row with the same pattern. Connections call it concurrently.
type patternCache struct {
	mu sync.Mutex
	m  map[string]*regexp.Regexp
}

func (c *patternCache) compile(pattern string) (*regexp.Regexp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if re, ok := c.m[pattern]; ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad regexp pattern %q: %w", pattern, err)
	}
	if len(c.m) >= maxPatterns {
		clear(c.m)
	}
	c.m[pattern] = re
	return re, nil
}

// match is regexp(pattern, text): 1 when the Go regular expression matches
// anywhere in text, 0 when not, NULL when either is NULL (so that
// "x REGEXP 'p'" is false for a NULL x, as x LIKE 'p' is).
func (c *patternCache) match(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	pattern, ok := valueText(args[0])
	if !ok {
		return nil, nil
	}
	text, ok := valueText(args[1])
	if !ok {
		return nil, nil
	}
	re, err := c.compile(pattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString(text) {
		return int64(1), nil
	}
	return int64(0), nil
}

// valueText returns an SQL value as the text SQLite would compare; false for
// NULL.
func valueText(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case []byte:
		return string(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	default:
		return fmt.Sprint(v), true
	}
}
