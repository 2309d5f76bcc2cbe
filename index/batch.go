package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// maxBatchRows is how many rows one INSERT statement carries. One statement
// per row costs a round trip through the driver and the VM per row; a few
// hundred rows per statement amortise that, while staying far below
// SQLite's limit of 32766 bound parameters even for the widest table.
const maxBatchRows = 250

// batch buffers rows for one table and writes them with a prepared
// multi-row INSERT, maxBatchRows at a time.
type batch struct {
	tx      *sql.Tx
	table   string
	columns []string
	suffix  string // e.g. an ON CONFLICT clause
	rows    int    // rows per full statement
	full    *sql.Stmt
	args    []any
	n       int // rows buffered in args
}

func newBatch(tx *sql.Tx, table string, columns []string, suffix string) *batch {
	rows := maxBatchRows
	if limit := 32766 / len(columns); rows > limit {
		rows = limit
	}
	return &batch{
		tx:      tx,
		table:   table,
		columns: columns,
		suffix:  suffix,
		rows:    rows,
		args:    make([]any, 0, rows*len(columns)),
	}
}

// statement returns the INSERT text for n rows.
func (b *batch) statement(n int) string {
	var sb strings.Builder
	sb.WriteString("INSERT INTO ")
	sb.WriteString(b.table)
	sb.WriteString(" (")
	sb.WriteString(strings.Join(b.columns, ", "))
	sb.WriteString(") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(b.columns)), ", ") + ")"
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(row)
	}
	if b.suffix != "" {
		sb.WriteString(" ")
		sb.WriteString(b.suffix)
	}
	return sb.String()
}

// add buffers one row; its values are in the order of the columns.
func (b *batch) add(ctx context.Context, values ...any) error {
	if len(values) != len(b.columns) {
		return fmt.Errorf("insert into %s: %d values for %d columns", b.table, len(values), len(b.columns))
	}
	b.args = append(b.args, values...)
	b.n++
	if b.n < b.rows {
		return nil
	}
	if b.full == nil {
		st, err := b.tx.PrepareContext(ctx, b.statement(b.rows))
		if err != nil {
			return fmt.Errorf("prepare insert into %s: %w", b.table, err)
		}
		b.full = st
	}
	if _, err := b.full.ExecContext(ctx, b.args...); err != nil {
		return fmt.Errorf("insert into %s: %w", b.table, err)
	}
	b.reset()
	return nil
}

func (b *batch) reset() {
	clear(b.args) // let the garbage collector have large manifest bodies
	b.args = b.args[:0]
	b.n = 0
}

// flush writes the rows still buffered, with a statement sized to them.
func (b *batch) flush(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	if _, err := b.tx.ExecContext(ctx, b.statement(b.n), b.args...); err != nil {
		return fmt.Errorf("insert into %s: %w", b.table, err)
	}
	b.reset()
	return nil
}

// close releases the prepared statement.
func (b *batch) close() error {
	if b.full == nil {
		return nil
	}
	err := b.full.Close()
	b.full = nil
	return err
}
