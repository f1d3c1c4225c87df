// Package jsonenc appends JSON byte for byte as encoding/json.Marshal
// writes it, without reflection, for the values encoding/json decodes into
// an any (nil, bool, float64, string, []any, map[string]any) and Go
// integers. The intake's event hash and the methodology's canonical calc
// record are defined as json.Marshal's bytes; these appenders make them
// several times faster, and every function reports (ok false) what it does
// not encode itself, so that the caller can fall back to encoding/json,
// whose answer stays the definition.
package jsonenc

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds the nesting AppendValue and AppendObject handle; deeper
// values (encoding/json's decoder allows 10,000 levels) are not ok.
const MaxDepth = 1000

// AppendValue appends v as json.Marshal encodes it. ok is false for other
// types, NaN or infinite numbers and values nested deeper than MaxDepth.
func AppendValue(b []byte, v any) (_ []byte, ok bool) { return appendValue(b, v, 0) }

// AppendObject appends m with its keys sorted by their bytes, as
// json.Marshal does (a nil map is null).
func AppendObject(b []byte, m map[string]any) (_ []byte, ok bool) { return appendObject(b, m, 0) }

func appendObject(b []byte, m map[string]any, depth int) (_ []byte, ok bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	if depth > MaxDepth {
		return b, false
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	if len(keys) > 1 {
		slices.SortFunc(keys, strings.Compare)
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		if b, ok = appendValue(b, m[k], depth+1); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

func appendValue(b []byte, v any, depth int) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return AppendString(b, x), true
	case float64:
		return AppendFloat(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10), true
	case int64:
		return strconv.AppendInt(b, x, 10), true
	case int32:
		return strconv.AppendInt(b, int64(x), 10), true
	case map[string]any:
		return appendObject(b, x, depth)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		if depth > MaxDepth {
			return b, false
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendValue(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// AppendFloat formats f exactly as encoding/json formats a float64: like
// ES6, 'f' unless the magnitude is below 1e-6 or at least 1e21, then 'e'
// with the exponent's leading zero dropped. NaN and ±Inf are not ok.
func AppendFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// safe marks the ASCII bytes encoding/json copies unescaped inside a
// string when it escapes HTML (as Marshal does): printable ASCII and DEL
// except ", \, <, > and &.
var safe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString quotes s exactly as json.Marshal does: HTML characters and
// control bytes as \u00XX (with \b \f \n \r \t short), U+2028 and U+2029
// escaped, each invalid UTF-8 byte as \ufffd.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
