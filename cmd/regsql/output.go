package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"github.com/urfave/cli/v2"
)

// The output formats every command that prints rows accepts.
var formats = []string{"table", "csv", "tsv", "json", "jsonl", "markdown"}

func outputFlag(dest *string) cli.Flag {
	return &cli.StringFlag{
		Name:        "output",
		Aliases:     []string{"o"},
		Usage:       "output `FORMAT`: " + strings.Join(formats, ", ") + " (default: table on a terminal, tsv otherwise)",
		Destination: dest,
	}
}

// rows is the result set a command renders.
type rows interface {
	Columns() []string
	Next() bool
	Values() []any
	Err() error
}

// render writes all of rs to w in the named format and returns the number of
// rows written.
func render(w io.Writer, format string, rs rows) (int, error) {
	if format == "" {
		format = "tsv"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "table"
		}
	}
	var rw rowWriter
	bw := bufio.NewWriter(w)
	switch format {
	case "table":
		rw = &tableWriter{w: bw}
	case "markdown":
		rw = &tableWriter{w: bw, markdown: true}
	case "csv":
		rw = &csvWriter{w: csv.NewWriter(bw)}
	case "tsv":
		rw = &tsvWriter{w: bw}
	case "json":
		rw = &jsonWriter{w: bw}
	case "jsonl":
		rw = &jsonWriter{w: bw, lines: true}
	default:
		return 0, usageError{fmt.Sprintf("unknown output format %q (use one of %s)", format, strings.Join(formats, ", "))}
	}
	cols := rs.Columns()
	if err := rw.header(cols); err != nil {
		return 0, err
	}
	n := 0
	for rs.Next() {
		if err := rw.row(cols, rs.Values()); err != nil {
			return n, err
		}
		n++
	}
	if err := rs.Err(); err != nil {
		return n, err
	}
	if err := rw.close(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

type rowWriter interface {
	header(cols []string) error
	row(cols []string, vals []any) error
	close() error
}

// text formats a value for the text formats; NULL is the given string.
func text(v any, null string) string {
	switch v := v.(type) {
	case nil:
		return null
	case string:
		return v
	case []byte:
		return string(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		if v {
			return "1"
		}
		return "0"
	default:
		return fmt.Sprint(v)
	}
}

// tableWriter collects the rows and draws a table (or a Markdown table).
type tableWriter struct {
	w        io.Writer
	markdown bool
	cols     []string
	cells    [][]string
}

func (t *tableWriter) header(cols []string) error { t.cols = cols; return nil }

func (t *tableWriter) row(_ []string, vals []any) error {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = text(v, "NULL")
		if t.markdown {
			r[i] = strings.ReplaceAll(r[i], "|", `\|`)
		}
	}
	t.cells = append(t.cells, r)
	return nil
}

func (t *tableWriter) close() error {
	right := tw.CellAlignment{PerColumn: make([]tw.Align, len(t.cols))}
	for i := range t.cols {
		right.PerColumn[i] = tw.AlignLeft
		if numericColumn(t.cells, i) {
			right.PerColumn[i] = tw.AlignRight
		}
	}
	opts := []tablewriter.Option{
		tablewriter.WithRowAlignmentConfig(right),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
	}
	if t.markdown {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	}
	tbl := tablewriter.NewTable(t.w, opts...)
	hdr := make([]any, len(t.cols))
	for i, c := range t.cols {
		hdr[i] = c
	}
	tbl.Header(hdr...)
	if err := tbl.Bulk(t.cells); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	if err := tbl.Render(); err != nil {
		return fmt.Errorf("render table: %w", err)
	}
	if !t.markdown {
		_, err := fmt.Fprintf(t.w, "(%s)\n", plural(len(t.cells), "row"))
		return err
	}
	return nil
}

// numericColumn reports whether every non-NULL cell of column i is a number,
// so that the table can right-align it.
func numericColumn(cells [][]string, i int) bool {
	seen := false
	for _, r := range cells {
		if r[i] == "NULL" {
			continue
		}
		if _, err := strconv.ParseFloat(r[i], 64); err != nil {
			return false
		}
		seen = true
	}
	return seen
}

type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) header(cols []string) error { return c.w.Write(cols) }

func (c *csvWriter) row(_ []string, vals []any) error {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = text(v, "")
	}
	return c.w.Write(r)
}

func (c *csvWriter) close() error { c.w.Flush(); return c.w.Error() }

// tsvWriter writes one row per line, tab-separated, with backslash escapes
// for tabs, newlines and backslashes so that a row never spans lines.
type tsvWriter struct{ w io.Writer }

var tsvEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

func (t *tsvWriter) header(cols []string) error { return t.line(cols) }

func (t *tsvWriter) row(_ []string, vals []any) error {
	r := make([]string, len(vals))
	for i, v := range vals {
		r[i] = text(v, "")
	}
	return t.line(r)
}

func (t *tsvWriter) line(cells []string) error {
	for i, c := range cells {
		cells[i] = tsvEscaper.Replace(c)
	}
	_, err := io.WriteString(t.w, strings.Join(cells, "\t")+"\n")
	return err
}

func (t *tsvWriter) close() error { return nil }

// jsonWriter writes an array of objects, or with lines one object a line.
// Objects keep the column order of the query.
type jsonWriter struct {
	w     io.Writer
	lines bool
	n     int
}

func (j *jsonWriter) header([]string) error {
	if j.lines {
		return nil
	}
	_, err := io.WriteString(j.w, "[")
	return err
}

func (j *jsonWriter) row(cols []string, vals []any) error {
	var b strings.Builder
	if !j.lines {
		if j.n > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n  ")
	}
	b.WriteString("{")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteString(":")
		v := vals[i]
		if bs, ok := v.([]byte); ok {
			v = string(bs)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode column %q: %w", c, err)
		}
		b.Write(enc)
	}
	b.WriteString("}")
	if j.lines {
		b.WriteString("\n")
	}
	j.n++
	_, err := io.WriteString(j.w, b.String())
	return err
}

func (j *jsonWriter) close() error {
	if j.lines {
		return nil
	}
	end := "]\n"
	if j.n > 0 {
		end = "\n]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}
