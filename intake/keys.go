package intake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// uniqueKeys refuses an object, down to depth levels of b, that names a
// member twice: encoding/json would silently keep the last one, so
// {"mg":1,"mg":9} could mean different things to the partner and to us.
// Deeper values are skipped unchecked. Every object and array is a level.
//
// b must be valid JSON (the callers decoded it first): uniqueKeys only
// walks it, one pass over the bytes without allocating for keys free of
// escapes; encoding/json's token reader, used before, made every token an
// allocation and was 43 % of Decode. Malformed input is refused, never
// read out of bounds.
func uniqueKeys(b []byte, depth int) error {
	k := keyScan{b: b}
	if err := k.value(depth); err != nil {
		return err
	}
	if k.ws(); k.i != len(b) {
		return errMalformed
	}
	return nil
}

var errMalformed = errors.New("malformed JSON")

type keyScan struct {
	b    []byte
	i    int
	keys [][]byte // the keys of the objects being checked, as a stack
}

func (k *keyScan) ws() {
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case ' ', '\t', '\n', '\r':
			k.i++
		default:
			return
		}
	}
}

// value reads one value at k.i, checking objects down to depth levels.
func (k *keyScan) value(depth int) error {
	k.ws()
	if k.i >= len(k.b) {
		return errMalformed
	}
	switch c := k.b[k.i]; {
	case c == '"':
		_, err := k.str(false)
		return err
	case c != '{' && c != '[':
		// A number or a literal ends at the next delimiter.
		for k.i < len(k.b) && !isDelim(k.b[k.i]) {
			k.i++
		}
		return nil
	case depth == 0:
		return k.skip()
	case c == '[':
		k.i++
		return k.members(']', depth, false)
	default:
		k.i++
		return k.members('}', depth, true)
	}
}

// topMembers is what Decode needs to know of a body's top-level object
// before it decodes the body as one event or a batch.
type topMembers struct {
	n           int    // how many members, a repeated key each time
	events      []byte // the value of "events", nil if absent
	specVersion bool   // a member "specversion" is present
}

// readTop reads the members of the object b, which must be valid JSON
// (json.Valid), without decoding their values: for one event, decoding
// the whole object into a map first took as long as decoding the event.
// Keys are compared as encoding/json would decode them (escapes
// resolved); a later member of the same key wins, as in a map.
func readTop(b []byte) topMembers {
	var t topMembers
	k := keyScan{b: b}
	k.ws()
	if k.i >= len(b) || b[k.i] != '{' {
		return t
	}
	k.i++
	for {
		k.ws()
		if k.i >= len(b) || b[k.i] != '"' {
			return t // '}', or not valid JSON after all
		}
		key, err := k.str(true)
		if err != nil {
			return t
		}
		if k.ws(); k.i >= len(b) || b[k.i] != ':' {
			return t
		}
		k.i++
		k.ws()
		start := k.i
		if k.value(0) != nil {
			return t
		}
		t.n++
		switch string(key) {
		case "events":
			t.events = b[start:k.i]
		case "specversion":
			t.specVersion = true
		}
		if k.ws(); k.i < len(b) && b[k.i] == ',' {
			k.i++
		}
	}
}

// members reads the members of an object (keyed) or the elements of an
// array after its opening delimiter, up to and including end.
func (k *keyScan) members(end byte, depth int, keyed bool) error {
	base := len(k.keys)
	defer func() { k.keys = k.keys[:base] }()
	var many map[string]bool // an object's keys past the first 16
	for first := true; ; first = false {
		k.ws()
		if k.i >= len(k.b) {
			return errMalformed
		}
		if k.b[k.i] == end && first {
			k.i++
			return nil
		}
		if keyed {
			if k.b[k.i] != '"' {
				return errMalformed
			}
			key, err := k.str(true)
			if err != nil {
				return err
			}
			dup := false
			if n := len(k.keys) - base; n < 16 {
				dup = slices.ContainsFunc(k.keys[base:], func(seen []byte) bool { return bytes.Equal(seen, key) })
				k.keys = append(k.keys, key)
			} else {
				if many == nil {
					many = make(map[string]bool, 2*n)
					for _, seen := range k.keys[base:] {
						many[string(seen)] = true
					}
				}
				dup = many[string(key)]
				many[string(key)] = true
			}
			if dup {
				return fmt.Errorf("duplicate key %q", trunc(string(key)))
			}
			if k.ws(); k.i >= len(k.b) || k.b[k.i] != ':' {
				return errMalformed
			}
			k.i++
		}
		if err := k.value(depth - 1); err != nil {
			return err
		}
		k.ws()
		if k.i >= len(k.b) {
			return errMalformed
		}
		switch k.b[k.i] {
		case ',':
			k.i++
		case end:
			k.i++
			return nil
		default:
			return errMalformed
		}
	}
}

// str reads the string at k.i and, with decode, returns its value: the
// bytes between the quotes, or for a string with escapes (or invalid
// UTF-8) its text as encoding/json decodes it.
func (k *keyScan) str(decode bool) ([]byte, error) {
	start := k.i + 1
	escaped := false
	for j := start; j < len(k.b); j++ {
		switch k.b[j] {
		case '\\':
			escaped = true
			j++ // the escaped byte is never the closing quote
		case '"':
			k.i = j + 1
			if !decode {
				return nil, nil
			}
			if seg := k.b[start:j]; !escaped && utf8.Valid(seg) {
				return seg, nil
			}
			var s string
			if err := json.Unmarshal(k.b[start-1:j+1], &s); err != nil {
				return nil, errMalformed
			}
			return []byte(s), nil
		}
	}
	return nil, errMalformed
}

// skip steps over the object or array at k.i without looking inside.
func (k *keyScan) skip() error {
	nest := 0
	for k.i < len(k.b) {
		switch k.b[k.i] {
		case '"':
			if _, err := k.str(false); err != nil {
				return err
			}
			continue
		case '{', '[':
			nest++
		case '}', ']':
			nest--
			if nest == 0 {
				k.i++
				return nil
			}
		}
		k.i++
	}
	return errMalformed
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
