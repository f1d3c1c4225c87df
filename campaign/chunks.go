package campaign

import (
	"fmt"
	"strings"
	"sync"

	"github.com/opencarbon/opencarbon/store"
)

// The feed consumer writes a batch's rows with multi-row statements whose
// text depends only on the number of rows, taken from a few fixed sizes,
// so that the statements are prepared once and reused (store.Tx keeps
// repeated SQLite statements prepared; pgx caches them per connection)
// instead of parsed for every batch.
var chunkSizes = [...]int{256, 64, 16, 4, 1}

// fixedChunks calls fn for consecutive [lo, hi) ranges covering n rows,
// each of one of chunkSizes.
func fixedChunks(n int, fn func(lo, hi int) error) error {
	lo := 0
	for _, size := range chunkSizes {
		for n-lo >= size {
			if err := fn(lo, lo+size); err != nil {
				return err
			}
			lo += size
		}
	}
	return nil
}

var rowsSQL sync.Map // dialect, row template, rows → VALUES list

// valuesRows returns "(row), (row), ..." for rows rows, where each "?" in
// row is a parameter: "?" on SQLite (numbered ones are looked up
// linearly there), $N on PostgreSQL.
func valuesRows(d store.Dialect, row string, rows int) string {
	key := fmt.Sprint(d, "\x00", row, "\x00", rows)
	if s, ok := rowsSQL.Load(key); ok {
		return s.(string)
	}
	var b strings.Builder
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for _, c := range row {
			if c != '?' {
				b.WriteRune(c)
				continue
			}
			n++
			if d == store.SQLite {
				b.WriteByte('?')
			} else {
				fmt.Fprintf(&b, "$%d", n)
			}
		}
		b.WriteByte(')')
	}
	s := b.String()
	rowsSQL.Store(key, s)
	return s
}
