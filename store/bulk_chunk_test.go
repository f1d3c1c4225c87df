package store

import (
	"strings"
	"testing"
)

func TestChunks(t *testing.T) {
	for _, tc := range []struct{ n, write, take, size int }{
		{1, 1, 1, 1}, {2, 1, 2, 2}, {3, 1, 3, 4}, {4, 4, 4, 4}, {5, 4, 5, 8}, {17, 16, 17, 32},
		{64, 64, 64, 64}, {65, 64, 65, 128}, {255, 64, 255, 256}, {256, 256, 256, 256}, {1000, 256, 256, 256},
	} {
		if got := WriteChunk(tc.n); got != tc.write {
			t.Errorf("WriteChunk(%d) = %d, want %d", tc.n, got, tc.write)
		}
		if take, size := ReadChunk(tc.n); take != tc.take || size != tc.size {
			t.Errorf("ReadChunk(%d) = %d, %d, want %d, %d", tc.n, take, size, tc.take, tc.size)
		}
	}
	// Every row is written exactly once, in runs of the fixed sizes only.
	for n := 1; n < 700; n++ {
		sizes := map[int]bool{}
		left := n
		for left > 0 {
			c := WriteChunk(left)
			sizes[c] = true
			left -= c
		}
		for c := range sizes {
			if c != 1 && c != 4 && c != 16 && c != 64 && c != 256 {
				t.Fatalf("n=%d: run of %d rows", n, c)
			}
		}
	}
}

// TestWriteRows: the parameter tuples of each dialect, appended after what
// the builder holds.
func TestWriteRows(t *testing.T) {
	for _, tc := range []struct {
		d          Dialect
		rows, cols int
		want       string
	}{
		{SQLite, 1, 1, "(?)"},
		{SQLite, 2, 3, "(?, ?, ?), (?, ?, ?)"},
		{Postgres, 2, 2, "($1, $2), ($3, $4)"},
		{Postgres, 1, 3, "($1, $2, $3)"},
		{SQLite, 0, 3, ""},
	} {
		var sb strings.Builder
		sb.WriteString("VALUES ")
		WriteRows(&sb, tc.d, tc.rows, tc.cols)
		if got := sb.String(); got != "VALUES "+tc.want {
			t.Fatalf("WriteRows(%s, %d, %d) = %q; want %q", tc.d, tc.rows, tc.cols, got, "VALUES "+tc.want)
		}
	}
}
