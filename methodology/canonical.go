package methodology

import (
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/opencarbon/opencarbon/internal/jsonenc"
)

// appendCanonical appends the canonical JSON of c to b, byte for byte what
// encoding/json.Marshal gives for the record with its time in UTC. ok is
// false when c holds something this encoder does not reproduce exactly (a
// params value of another type than those decoded JSON yields, a float that
// is not finite, a time outside years 0–9999): Canonical then falls back to
// encoding/json.
func (c *Calc) appendCanonical(b []byte) (_ []byte, ok bool) {
	b = append(b, `{"after_discount_mg":`...)
	b = jsonenc.AppendString(b, c.AfterDiscount)
	b = append(b, `,"baseline_mg":`...)
	b = jsonenc.AppendString(b, c.Baseline)
	b = append(b, `,"behavior":`...)
	b = jsonenc.AppendString(b, c.Behavior)
	b = append(b, `,"cap_applied":`...)
	b = jsonenc.AppendString(b, c.CapApplied)
	b = append(b, `,"cap_mg":`...)
	b = strconv.AppendInt(b, c.CapMG, 10)
	b = append(b, `,"discount_pct":`...)
	b = jsonenc.AppendString(b, c.DiscountPct)
	b = append(b, `,"engine_version":`...)
	b = jsonenc.AppendString(b, c.EngineVersion)
	b = append(b, `,"event_id":`...)
	b = jsonenc.AppendString(b, c.EventID)
	b = append(b, `,"evidence_keys":`...)
	b = appendStrings(b, c.EvidenceKeys)
	b = append(b, `,"factors":`...)
	if b, ok = appendFactors(b, c.Factors); !ok {
		return b, false
	}
	b = append(b, `,"gross_mg":`...)
	b = jsonenc.AppendString(b, c.Gross)
	if len(c.Inputs) > 0 {
		b = append(b, `,"inputs":[`...)
		for i := range c.Inputs {
			in := &c.Inputs[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"param":`...)
			b = jsonenc.AppendString(b, in.Param)
			b = append(b, `,"unit":`...)
			b = jsonenc.AppendString(b, in.Unit)
			b = append(b, `,"value":`...)
			if b, ok = jsonenc.AppendFloat(b, in.Value); !ok {
				return b, false
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"leakage_mg":`...)
	b = jsonenc.AppendString(b, c.Leakage)
	b = append(b, `,"methodology":`...)
	b = jsonenc.AppendString(b, c.Methodology)
	b = append(b, `,"methodology_hash":`...)
	b = jsonenc.AppendString(b, c.MethodologyHash)
	b = append(b, `,"methodology_version":`...)
	b = jsonenc.AppendString(b, c.MethodologyVersion)
	b = append(b, `,"occurred_at":"`...)
	t := c.OccurredAt.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return b, false
	}
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","params":`...)
	if b, ok = jsonenc.AppendObject(b, c.Params); !ok {
		return b, false
	}
	b = append(b, `,"partner":`...)
	b = jsonenc.AppendString(b, c.Partner)
	b = append(b, `,"prev_hash":`...)
	b = jsonenc.AppendString(b, c.PrevHash)
	b = append(b, `,"project_mg":`...)
	b = jsonenc.AppendString(b, c.Project)
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
				b = jsonenc.AppendString(b, tu.Const)
				b = append(b, ',')
			}
			b = append(b, `"name":`...)
			b = jsonenc.AppendString(b, tu.Name)
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
		b = jsonenc.AppendString(b, f.Param)
		b = append(b, `,"ref":`...)
		b = jsonenc.AppendString(b, f.Ref)
		if f.ShortSource != "" {
			b = append(b, `,"short_source":`...)
			b = jsonenc.AppendString(b, f.ShortSource)
		}
		b = append(b, `,"source":`...)
		b = jsonenc.AppendString(b, f.Source)
		b = append(b, `,"unit":`...)
		b = jsonenc.AppendString(b, f.Unit)
		b = append(b, `,"value":`...)
		if b, ok = jsonenc.AppendFloat(b, f.Value); !ok {
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
		b = jsonenc.AppendString(b, s)
	}
	return append(b, ']')
}
