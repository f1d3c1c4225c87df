package ledger

import (
	"strconv"
	"testing"

	oc "github.com/opencarbon/opencarbon"
)

// FuzzParseCursor: any string either parses to non-negative (at, id) that
// format back to the same cursor, or is refused with EInvalid; never a panic.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "1.2", "1764000000000000.42", "-1.2", "1.", ".1", "a.b", "1.2.3", "9223372036854775808.1", " 1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		at, id, err := parseCursor(s)
		if err != nil {
			if oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("%q: error %v is not invalid", s, err)
			}
			return
		}
		if at < 0 || id < 0 {
			t.Fatalf("%q parsed to negative %d.%d", s, at, id)
		}
		again, id2, err := parseCursor(strconv.FormatInt(at, 10) + "." + strconv.FormatInt(id, 10))
		if err != nil || again != at || id2 != id {
			t.Fatalf("%q: canonical form does not parse back: %d.%d %v", s, again, id2, err)
		}
	})
}
