package intake

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"sync"
)

// Hash returns the body hash that tells a repeat of the same event from a
// different event reusing its id: SHA-256 (first 16 bytes, base64url) of
// the canonical JSON of the decoded event, so formatting, key order and the
// envelope (plain or CloudEvents) do not matter.
//
// The canonical JSON is what encoding/json.Marshal makes of the Event, as
// stored hashes were computed that way; appendEventJSON builds the same
// bytes without reflection (it was 6 % of the intake's CPU) and hands
// anything it does not know to encoding/json.
func (ev *Event) Hash() string {
	if ev.hash != "" {
		return ev.hash
	}
	buf := hashBufs.Get().(*[]byte)
	b, ok := appendEventJSON((*buf)[:0], ev)
	if !ok {
		b, _ = json.Marshal(ev)
	}
	sum := sha256.Sum256(b)
	if ok {
		*buf = b
	}
	hashBufs.Put(buf)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// memoHash computes Hash once: Submit calls it before handing ev to a
// shard writer (so the writer only reads it).
func (ev *Event) memoHash() string {
	if ev.hash == "" {
		ev.hash = ev.Hash()
	}
	return ev.hash
}

var hashBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// appendEventJSON appends json.Marshal(ev) to b. ok is false when ev holds
// a value it does not encode itself (a type other than those JSON decodes
// to and Go integers, a NaN or infinite number, a time encoding/json
// refuses): the caller then uses encoding/json, whose answer is the
// definition.
func appendEventJSON(b []byte, ev *Event) (_ []byte, ok bool) {
	b = append(b, `{"event_id":`...)
	b = appendJSONString(b, ev.ID)
	b = append(b, `,"person":`...)
	b = appendJSONString(b, ev.Person)
	b = append(b, `,"behavior":`...)
	b = appendJSONString(b, ev.Behavior)
	b = append(b, `,"occurred_at":"`...)
	// time.Time's MarshalJSON is AppendText between quotes; both refuse
	// the same times.
	b, err := ev.OccurredAt.AppendText(b)
	if err != nil {
		return b, false
	}
	b = append(b, '"')
	if len(ev.Params) > 0 { // omitempty
		b = append(b, `,"params":`...)
		if b, ok = appendJSONObject(b, ev.Params); !ok {
			return b, false
		}
	}
	if len(ev.Evidence) > 0 {
		b = append(b, `,"evidence":`...)
		if b, ok = appendJSONObject(b, ev.Evidence); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendJSONValue appends v as encoding/json encodes it, for the types
// encoding/json decodes to (nil, bool, float64, string, []any,
// map[string]any) and Go integers.
func appendJSONValue(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendJSONString(b, x), true
	case float64:
		return appendJSONFloat(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case map[string]any:
		return appendJSONObject(b, x)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSONValue(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendJSONObject appends m with its keys in byte order, as
// encoding/json sorts them.
func appendJSONObject(b []byte, m map[string]any) ([]byte, bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = appendJSONValue(b, m[k]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendJSONFloat formats f as encoding/json's float64 encoder does:
// shortest representation, exponent form below 1e-6 and from 1e21 with a
// two-digit negative exponent trimmed (1e-07 → 1e-7).
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// appendJSONString appends s quoted. Printable ASCII other than " \ < > &
// is copied; a string with anything else (escapes, HTML-escaped
// characters, non-ASCII text that encoding/json checks for invalid UTF-8
// and U+2028/U+2029) is encoded by encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
