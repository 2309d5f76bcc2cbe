package index

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Query runs one SQL statement on the index and returns its rows.
//
// Each :name in the SQL is bound from params: a value that reads as an
// integer binds as an integer, a decimal number as a real, anything else as
// text. :now is the current unix time unless params sets "now". A :name
// that params does not set is a *ParamNotSetError; params the SQL does not
// use are ignored. More than one statement is ErrMultipleStatements.
func (db *DB) Query(ctx context.Context, query string, params map[string]string) (*Rows, error) {
	lx := lexSQL(query)
	switch len(lx.statements) {
	case 0:
		return nil, ErrEmptyQuery
	case 1:
	default:
		return nil, fmt.Errorf("%w: run one at a time (the second starts %q)", ErrMultipleStatements, snippet(lx.statements[1]))
	}
	args := make([]any, 0, len(lx.params))
	for _, name := range lx.params {
		if c := name[0]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			// database/sql binds only names that start with a letter.
			return nil, fmt.Errorf("parameter :%s: a parameter name must start with a letter", name)
		}
		v, ok := params[name]
		switch {
		case ok:
			args = append(args, sql.Named(name, paramValue(v)))
		case name == "now":
			args = append(args, sql.Named(name, time.Now().Unix()))
		default:
			return nil, &ParamNotSetError{Name: name}
		}
	}
	rows, err := db.db.QueryContext(ctx, lx.statements[0], args...)
	if err != nil {
		return nil, fmt.Errorf("run query: %w", err)
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, fmt.Errorf("run query: %w", err)
	}
	return &Rows{rows: rows, cols: cols}, nil
}

// snippet shortens a statement for an error message.
func snippet(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return s
}

// decimal is a number written in decimal: what -p days=1.5 means. It
// leaves out what strconv.ParseFloat also takes (Inf, NaN, hex) because
// those are more likely text.
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// paramValue types a parameter's text. An integer binds as int64 only in
// its canonical form: "007" stays text, since SQLite would compare 7, not
// "007", with a text column such as a tag name.
func paramValue(s string) any {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && strconv.FormatInt(n, 10) == s {
		return n
	}
	if decimal.MatchString(s) && strings.ContainsAny(s, ".eE") {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return s
}

// Rows is the result of Query.
type Rows struct {
	rows *sql.Rows
	cols []string
	vals []any
	err  error
}

// Columns returns the column names in the query's order.
func (r *Rows) Columns() []string { return r.cols }

// Next advances to the next row; false at the end or on an error (see Err).
func (r *Rows) Next() bool {
	if r.err != nil || !r.rows.Next() {
		return false
	}
	raw := make([]any, len(r.cols))
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := r.rows.Scan(ptrs...); err != nil {
		r.err = fmt.Errorf("read query result: %w", err)
		return false
	}
	for i, v := range raw {
		raw[i] = plainValue(v)
	}
	r.vals = raw
	return true
}

// Values returns the current row: int64, float64, string or nil. The slice
// is the row's own; a caller may keep it.
func (r *Rows) Values() []any { return r.vals }

// Err returns the error that ended the rows, if any.
func (r *Rows) Err() error {
	if r.err != nil {
		return r.err
	}
	if err := r.rows.Err(); err != nil {
		return fmt.Errorf("run query: %w", err)
	}
	return nil
}

// Close releases the rows.
func (r *Rows) Close() error {
	return r.rows.Close()
}

// plainValue turns what the driver returns into the few types a renderer
// has to know: text (and blobs) as string, integers as int64, reals as
// float64, NULL as nil.
func plainValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case time.Time:
		// The driver parses text in columns declared DATE or TIMESTAMP
		// (goose's tstamp); show it as the text it was.
		return v.UTC().Format(time.RFC3339)
	case int:
		return int64(v)
	case int32:
		return int64(v)
	case float32:
		return float64(v)
	default:
		return v
	}
}
