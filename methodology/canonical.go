package methodology

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"
)

// appendCanonical appends the canonical JSON of c to b, byte for byte what
// encoding/json.Marshal gives for the record with its time in UTC. ok is
// false when c holds something this encoder does not reproduce exactly (a
// params value of another type than those decoded JSON yields, a float that
// is not finite, a time outside years 0–9999): Canonical then falls back to
// encoding/json.
func (c *Calc) appendCanonical(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"after_discount_mg":`...)
	b = appendJSONString(b, c.AfterDiscount)
	b = append(b, `,"baseline_mg":`...)
	b = appendJSONString(b, c.Baseline)
	b = append(b, `,"behavior":`...)
	b = appendJSONString(b, c.Behavior)
	b = append(b, `,"cap_applied":`...)
	b = appendJSONString(b, c.CapApplied)
	b = append(b, `,"cap_mg":`...)
	b = strconv.AppendInt(b, c.CapMG, 10)
	b = append(b, `,"discount_pct":`...)
	b = appendJSONString(b, c.DiscountPct)
	b = append(b, `,"engine_version":`...)
	b = appendJSONString(b, c.EngineVersion)
	b = append(b, `,"event_id":`...)
	b = appendJSONString(b, c.EventID)
	b = append(b, `,"evidence_keys":`...)
	b = appendStrings(b, c.EvidenceKeys)
	b = append(b, `,"factors":`...)
	if b, ok = appendFactors(b, c.Factors); !ok {
		return b, false
	}
	b = append(b, `,"gross_mg":`...)
	b = appendJSONString(b, c.Gross)
	if len(c.Inputs) > 0 {
		b = append(b, `,"inputs":[`...)
		for i := range c.Inputs {
			in := &c.Inputs[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"param":`...)
			b = appendJSONString(b, in.Param)
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, in.Unit)
			b = append(b, `,"value":`...)
			if b, ok = appendJSONFloat(b, in.Value); !ok {
				return b, false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"leakage_mg":`...)
	b = appendJSONString(b, c.Leakage)
	b = append(b, `,"methodology":`...)
	b = appendJSONString(b, c.Methodology)
	b = append(b, `,"methodology_hash":`...)
	b = appendJSONString(b, c.MethodologyHash)
	b = append(b, `,"methodology_version":`...)
	b = appendJSONString(b, c.MethodologyVersion)
	b = append(b, `,"occurred_at":"`...)
	t := c.OccurredAt.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","params":`...)
	if b, ok = appendJSONObject(b, c.Params, 0); !ok {
		return b, false
	}
	b = append(b, `,"partner":`...)
	b = appendJSONString(b, c.Partner)
	b = append(b, `,"prev_hash":`...)
	b = appendJSONString(b, c.PrevHash)
	b = append(b, `,"project_mg":`...)
	b = appendJSONString(b, c.Project)
	b = append(b, `,"result_mg":`...)
	b = strconv.AppendInt(b, c.ResultMG, 10)
	if len(c.Terms) > 0 {
		b = append(b, `,"terms":[`...)
		for i := range c.Terms {
			tu := &c.Terms[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if tu.Const != "" {
				b = append(b, `"const":`...)
				b = appendJSONString(b, tu.Const)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = appendJSONString(b, tu.Name)
			b = append(b, `,"of":`...)
			b = appendStrings(b, tu.Of)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"used_day_mg":`...)
	b = strconv.AppendInt(b, c.UsedDayMG, 10)
	b = append(b, `,"used_year_mg":`...)
	b = strconv.AppendInt(b, c.UsedYearMG, 10)
	b = append(b, '}')
	return b, true
}

// appendFactors appends the factor list. Every calc of a methodology
// version carries the same list (the version's own slice), and its long
// source texts are most of the record, so the encoded list is memoized:
// a memo is used only when the list is field-for-field identical to the
// one it was made from (equal strings that share their bytes compare in
// constant time).
func appendFactors(b []byte, fs []FactorUse) (_ []byte, ok bool) {
	if fs == nil {
		return append(b, "null"...), true
	}
	if len(fs) == 0 {
		return append(b, "[]"...), true
	}
	slot := &factorMemos[(uintptr(unsafe.Pointer(&fs[0]))>>6)%uintptr(len(factorMemos))]
	if m := slot.Load(); m != nil && sameFactors(m.src, fs) {
		return append(b, m.json...), true
	}
	start := len(b)
	b = append(b, '[')
	for i := range fs {
		f := &fs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"param":`...)
		b = appendJSONString(b, f.Param)
		b = append(b, `,"ref":`...)
		b = appendJSONString(b, f.Ref)
		if f.ShortSource != "" {
			b = append(b, `,"short_source":`...)
			b = appendJSONString(b, f.ShortSource)
		}
		b = append(b, `,"source":`...)
		b = appendJSONString(b, f.Source)
		b = append(b, `,"unit":`...)
		b = appendJSONString(b, f.Unit)
		b = append(b, `,"value":`...)
		if b, ok = appendJSONFloat(b, f.Value); !ok {
			return b, false
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	slot.Store(&factorMemo{src: slices.Clone(fs), json: slices.Clone(b[start:])})
	return b, true
}

// factorMemos is a small direct-mapped memo of encoded factor lists,
// indexed by the address of the list.
var factorMemos [32]atomic.Pointer[factorMemo]

type factorMemo struct {
	src  []FactorUse // a copy: the caller's slice may change afterwards
	json []byte
}

func sameFactors(a, b []FactorUse) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Param != y.Param || x.Ref != y.Ref || x.ShortSource != y.ShortSource || x.Source != y.Source ||
			x.Unit != y.Unit || math.Float64bits(x.Value) != math.Float64bits(y.Value) {
			return false
		}
	}
	return true
}

// appendStrings appends a []string as encoding/json does (nil is null).
func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// maxCanonicalDepth bounds the nesting of params the appender handles;
// deeper values (never decoded from a request) go to encoding/json.
const maxCanonicalDepth = 1000

// appendJSONObject appends a map with its keys sorted as encoding/json
// sorts them (by the raw key bytes, before escaping).
func appendJSONObject(b []byte, m map[string]any, depth int) (_ []byte, ok bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	if depth > maxCanonicalDepth {
		return b, false
	}
	var small [8]string
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
		b = appendJSONString(b, k)
		b = append(b, ':')
		if b, ok = appendJSONValue(b, m[k], depth+1); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

// appendJSONValue appends a value of the types encoding/json decodes into
// an any; ok is false for any other type.
func appendJSONValue(b []byte, v any, depth int) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, x), true
	case float64:
		return appendJSONFloat(b, x)
	case bool:
		return strconv.AppendBool(b, x), true
	case map[string]any:
		return appendJSONObject(b, x, depth)
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		if depth > maxCanonicalDepth {
			return b, false
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			if b, ok = appendJSONValue(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendJSONFloat formats f exactly as encoding/json formats a float64:
// like ES6, 'f' unless the magnitude is below 1e-6 or at least 1e21, then
// 'e' with the exponent's leading zero dropped. NaN and ±Inf are not ok.
func appendJSONFloat(b []byte, f float64) (_ []byte, ok bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

// jsonSafe marks the ASCII bytes encoding/json copies unescaped inside a
// string when it escapes HTML (as Marshal does): printable ASCII and DEL
// except ", \, <, > and &.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s exactly as encoding/json.Marshal does: HTML
// characters and control bytes as \u00XX (with \b \f \n \r \t short),
// U+2028 and U+2029 escaped, each invalid UTF-8 byte as \ufffd.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
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
