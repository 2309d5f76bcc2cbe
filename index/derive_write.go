package index

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// writeDerived makes table t hold exactly its rows. In a full build (fresh)
// the table is empty and every row is inserted in key order. Otherwise the
// rows the table holds (those t.where selects) are read in key order
// beside t.rows, and only the differences are written: an incremental
// build changes few of them, and every page it writes goes through the
// journal.
func writeDerived(ctx context.Context, tx *sql.Tx, t derivedTable, fresh bool) error {
	if fresh {
		b := newBatch(tx, t.name, t.columns, "")
		defer b.close()
		buf := make([]any, len(t.columns))
		for i := range t.rows {
			t.row(i, buf)
			if err := b.add(ctx, buf...); err != nil {
				return err
			}
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		if err := b.close(); err != nil {
			return fmt.Errorf("close insert into %s: %w", t.name, err)
		}
		return nil
	}

	keys := t.columns[:t.keyColumns]
	var gone, put [][]any
	// Most rows are the same: each side's row is made in a buffer of its
	// own, and copied only to be written.
	i := 0
	cur := make([]any, len(t.columns))
	made := false // cur holds row i
	peek := func() []any {
		if !made && i < t.rows {
			t.row(i, cur)
			made = true
		}
		if !made {
			return nil
		}
		return cur
	}
	advance := func() { made, i = false, i+1 }
	old := make([]any, len(t.columns))
	ptrs := make([]any, len(old))
	for j := range old {
		ptrs[j] = &old[j]
	}
	selected := ""
	if t.where != "" {
		selected = ` WHERE ` + t.where
	}
	err := queryEach(ctx, tx, "read "+t.name,
		`SELECT `+strings.Join(t.columns, ", ")+` FROM `+t.name+selected+` ORDER BY `+strings.Join(keys, ", "),
		func(rows *sql.Rows) error {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			for r := peek(); r != nil && compareKeys(r, old, t.keyColumns) < 0; r = peek() {
				put = append(put, slices.Clone(r))
				advance()
			}
			if r := peek(); r != nil && compareKeys(r, old, t.keyColumns) == 0 {
				if !equalRows(r, old) {
					put = append(put, slices.Clone(r))
				}
				advance()
				return nil
			}
			gone = append(gone, slices.Clone(old[:t.keyColumns]))
			return nil
		})
	if err != nil {
		return err
	}
	for r := peek(); r != nil; r = peek() {
		put = append(put, slices.Clone(r))
		advance()
	}

	var where []string
	for _, k := range keys {
		where = append(where, k+" = ?")
	}
	if err := execEach(ctx, tx, "delete from "+t.name,
		`DELETE FROM `+t.name+` WHERE `+strings.Join(where, " AND "), gone); err != nil {
		return err
	}
	return execEach(ctx, tx, "write "+t.name,
		`INSERT OR REPLACE INTO `+t.name+` (`+strings.Join(t.columns, ", ")+`) VALUES (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(t.columns)), ", ")+`)`, put)
}

// execEach runs the statement q once for each row of args.
func execEach(ctx context.Context, tx *sql.Tx, what, q string, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer st.Close()
	for _, a := range args {
		if _, err := st.ExecContext(ctx, a...); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// compareKeys orders two rows by their first n values as SQLite orders
// them: integers by value, text by its bytes.
func compareKeys(a, b []any, n int) int {
	for i := range n {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case int64:
		if y, ok := b.(int64); ok {
			return cmp.Compare(x, y)
		}
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y)
		}
	}
	// Key columns hold integers or text; anything else orders by its
	// printed form, which never happens for rows derive writes.
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// equalRows says whether two rows hold the same values.
func equalRows(a, b []any) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
