package ledger

import (
	"strconv"
	"testing"

	oc "github.com/opencarbon/opencarbon"
)

// FuzzParseCursor: any string either parses to a non-negative id that
// formats back to a cursor giving the same id, or is refused with
// EInvalid; never a panic. Cursors of the older "<micros>.<id>" form
// still parse to their id.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"", "42", "1.2", "1764000000000000.42", "-1.2", "-4", "1.", ".1", "a.b", "a.2", "1.2.3", "9223372036854775808", " 1.2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseCursor(s)
		if err != nil {
			if oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("%q: error %v is not invalid", s, err)
			}
			return
		}
		if id < 0 {
			t.Fatalf("%q parsed to negative %d", s, id)
		}
		again, err := parseCursor(strconv.FormatInt(id, 10))
		if err != nil || again != id {
			t.Fatalf("%q: canonical form does not parse back: %d %v", s, again, err)
		}
	})
}

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		id   int64
		fail bool
	}{
		{in: "42", id: 42},
		{in: "1764000000000000.42", id: 42},
		{in: "a.2", fail: true},
		{in: "1.2.3", fail: true},
		{in: "-4", fail: true},
		{in: "", fail: true},
	} {
		id, err := parseCursor(tc.in)
		if tc.fail != (err != nil) || (!tc.fail && id != tc.id) {
			t.Errorf("parseCursor(%q) = %d, %v", tc.in, id, err)
		}
	}
}
