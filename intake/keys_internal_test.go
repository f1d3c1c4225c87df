package intake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// uniqueKeysTokens is the duplicate-key check as it was first written, on
// encoding/json's token reader: the reference for uniqueKeys.
func uniqueKeysTokens(b []byte, depth int) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return checkKeysTokens(dec, depth)
}

func checkKeysTokens(dec *json.Decoder, depth int) error {
	if depth == 0 {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	var seen map[string]bool
	if d == '{' {
		seen = map[string]bool{}
	}
	for dec.More() {
		if seen != nil {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := tok.(string)
			if seen[k] {
				return fmt.Errorf("duplicate key %q", trunc(k))
			}
			seen[k] = true
		}
		if err := checkKeysTokens(dec, depth-1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// sameAnswer fails t unless uniqueKeys answers valid JSON b as the token
// reader does: both accept, or both refuse with the same message.
func sameAnswer(t *testing.T, b []byte, depth int) {
	t.Helper()
	got, want := uniqueKeys(b, depth), uniqueKeysTokens(b, depth)
	if (got == nil) != (want == nil) || (got != nil && got.Error() != want.Error()) {
		t.Fatalf("uniqueKeys(%q, %d) = %v; the token reader says %v", b, depth, got, want)
	}
}

func TestUniqueKeys(t *testing.T) {
	many := func(dupAt int) string {
		var sb strings.Builder
		sb.WriteString("{")
		for i := range 40 {
			if i > 0 {
				sb.WriteString(",")
			}
			k := i
			if i == dupAt {
				k = 3
			}
			fmt.Fprintf(&sb, `"k%d":%d`, k, i)
		}
		sb.WriteString("}")
		return sb.String()
	}
	for _, tc := range []struct {
		json  string
		depth int
	}{
		{`{}`, 64}, {`[]`, 64}, {`"x"`, 1}, {`12.5e3`, 1}, {`null`, 0},
		{`{"a":1,"b":2}`, 64},
		{`{"a":1,"a":2}`, 64},
		{`{"a":1,"a":2}`, 0},
		{` { "a" : { "b" : 1 , "b" : 2 } } `, 1},
		{` { "a" : { "b" : 1 , "b" : 2 } } `, 2},
		{`{"a":[{"b":1},{"b":2}],"c":[{"d":1,"d":true}]}`, 2},
		{`{"a":[{"b":1},{"b":2}],"c":[{"d":1,"d":true}]}`, 3},
		{`{"a\u0062":1,"ab":2}`, 1},
		{`{"\"":1,"\\":2,"\"":3}`, 1},
		{`{"a":"}\"]","b":{"x":"{[","x":1}}`, 2},
		{`{"a":"}\"]","b":{"x":"{[","x":1}}`, 1},
		{`{"é":1,"\u00e9":2}`, 1},
		{many(-1), 1}, {many(30), 1}, {many(10), 1},
		{`{"events":[{"a":1,"a":1}]}`, 1},
	} {
		sameAnswer(t, []byte(tc.json), tc.depth)
	}
	for _, bad := range []string{``, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `[1,`, `"abc`, `{"a":1}x`, `{1:2}`, `{"a" 1}`, `[`, `"\`} {
		if err := uniqueKeys([]byte(bad), 64); err == nil {
			t.Errorf("uniqueKeys(%q) accepted malformed JSON", bad)
		}
	}
}

// FuzzUniqueKeys: on valid JSON uniqueKeys answers as the token reader
// did; on anything else it returns, without panicking.
func FuzzUniqueKeys(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":2,"c":3}]},"a":4}`), uint8(3))
	f.Add([]byte(`{"x\u0041":1,"xA":"\"}"}`), uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, depth uint8) {
		d := int(depth % 70)
		if !json.Valid(b) {
			uniqueKeys(b, d)
			return
		}
		sameAnswer(t, b, d)
	})
}

// FuzzValidBehavior: validBehavior is the pattern it documents.
func FuzzValidBehavior(f *testing.F) {
	pattern := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	for _, s := range []string{"eleme.no_cutlery", "", "_x", "a", "A", "a-b_c.d", strings.Repeat("a", 64), strings.Repeat("a", 65), "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validBehavior(s), pattern.MatchString(s); got != want {
			t.Fatalf("validBehavior(%q) = %v, pattern says %v", s, got, want)
		}
	})
}

// FuzzReadTop: on a valid JSON object readTop finds "events" and
// "specversion" as decoding the object into a map does, and counts its
// members as the map does when no key repeats (with repeats, the batch
// path refuses the body by uniqueKeys first). On anything else it
// returns, without panicking.
func FuzzReadTop(f *testing.F) {
	f.Add([]byte(`{"events":[{"a":1}]}`))
	f.Add([]byte(` { "ev\u0065nts" : [ ] , "specversion" : "1.0" , "x" : {"events":1} } `))
	f.Add([]byte(`{"events":1,"events":[2]}`))
	f.Add([]byte(`{"event_id":"e1","person":"p","params":{"specversion":"x"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := readTop(b)
		var m map[string]json.RawMessage
		if !json.Valid(b) || json.Unmarshal(b, &m) != nil {
			return
		}
		_, spec := m["specversion"]
		evs, hasEvents := m["events"]
		if got.specVersion != spec || (got.events != nil) != hasEvents || (hasEvents && !bytes.Equal(got.events, evs)) {
			t.Fatalf("readTop(%q) = %+v; the map says specversion %v, events %q", b, got, spec, evs)
		}
		if uniqueKeys(b, 1) == nil && got.n != len(m) {
			t.Fatalf("readTop(%q) counts %d members; the map has %d", b, got.n, len(m))
		}
	})
}
