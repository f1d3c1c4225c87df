package methodology

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/internal/cputime"
	"github.com/opencarbon/opencarbon/methodologies"
)

// shippedCalcs returns the calc of every credited vector of every shipped
// methodology.
func shippedCalcs(tb testing.TB) []*Calc {
	tb.Helper()
	ms, _, err := LoadFS(methodologies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*Calc
	for _, m := range ms {
		for _, r := range m.RunVectors(nil) {
			if r.Got.Calc != nil {
				out = append(out, r.Got.Calc)
			}
		}
	}
	if len(out) < 11 {
		tb.Fatalf("only %d credited vectors", len(out))
	}
	return out
}

// oddStrings exercise every escaping rule of encoding/json.
var oddStrings = []string{
	"", "plain", `quote " and \ backslash`, "<script>&amp;</script>", "\x00\x01\x1f\x7f",
	"\b\f\n\r\t", "line\u2028sep\u2029para", "bad utf8 \xff\xfe end", "\xc3", "trunc \xe2\x80",
	"中文 🌱 emoji", "\ufffd literal", "\xed\xa0\x80 surrogate", "'single'",
}

// oddFloats exercise the 'f'/'e' switch of encoding/json.
var oddFloats = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, 1e20, 1e21, 1e-6, 1e-7, 9.999999999999999e20,
	123456789012345678901234, 1.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64,
	-2.5e-7, 0.000001, 0.0000012, 12.4, 536599.9999999999, 1e100, -1e-100,
}

func variants(base *Calc) []*Calc {
	var out []*Calc
	add := func(f func(c *Calc)) {
		c := *base
		c.Params = map[string]any{}
		for k, v := range base.Params {
			c.Params[k] = v
		}
		f(&c)
		out = append(out, &c)
	}
	add(func(c *Calc) {})
	for _, s := range oddStrings {
		add(func(c *Calc) {
			c.EventID, c.Partner, c.PrevHash, c.Baseline = s, s, s, s
			c.Params[s] = s
			c.EvidenceKeys = []string{s, "x"}
			c.Terms = []TermUse{{Const: s, Name: s, Of: []string{s}}, {Name: "b"}}
			c.Inputs = []InputUse{{Param: s, Unit: s, Value: 1}}
			c.Factors = []FactorUse{{Param: s, Ref: s, ShortSource: s, Source: s, Unit: s, Value: 2}}
		})
	}
	for _, f := range oddFloats {
		add(func(c *Calc) {
			c.Params["f"] = f
			c.Params["nested"] = map[string]any{"a": []any{f, -f, nil, true, false, "s", map[string]any{}, []any{}}}
			c.Inputs = []InputUse{{Param: "p", Unit: "u", Value: f}}
			c.Factors = []FactorUse{{Param: "p", Value: f}}
		})
	}
	add(func(c *Calc) {
		c.Params, c.EvidenceKeys, c.Factors, c.Terms, c.Inputs = nil, nil, nil, nil, nil
	})
	add(func(c *Calc) {
		c.Params, c.EvidenceKeys, c.Factors, c.Terms, c.Inputs = map[string]any{}, []string{}, []FactorUse{}, []TermUse{}, []InputUse{}
	})
	add(func(c *Calc) {
		c.Params["nilmap"] = map[string]any(nil)
		c.Params["nilslice"] = []any(nil)
		c.Params["deep"] = map[string]any{"b": map[string]any{"z": 1.0, "a": []any{[]any{"x"}}}}
	})
	add(func(c *Calc) {
		c.CapMG, c.ResultMG, c.UsedDayMG, c.UsedYearMG = math.MinInt64, math.MaxInt64, -1, 0
	})
	for _, at := range []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 5*3600+1800)),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, DefaultLocation),
		{},
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // json.Marshal fails: fallback
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(),
	} {
		add(func(c *Calc) { c.OccurredAt = at })
	}
	// Types the appender leaves to encoding/json.
	for _, v := range []any{json.Number("1.50"), 3, int64(4), []string{"a"}, map[string]string{"a": "b"},
		math.NaN(), math.Inf(1), struct{ A int }{1}} {
		add(func(c *Calc) { c.Params["x"] = map[string]any{"y": []any{v}} })
	}
	add(func(c *Calc) { c.Factors = []FactorUse{{Value: math.Inf(-1)}} })
	add(func(c *Calc) { c.Inputs = []InputUse{{Value: math.NaN()}} })
	return out
}

func TestCanonicalMatchesJSON(t *testing.T) {
	n := 0
	for _, base := range shippedCalcs(t) {
		for _, c := range variants(base) {
			want, got := c.canonicalJSON(), c.Canonical()
			if !bytes.Equal(got, want) {
				t.Fatalf("canonical differs from encoding/json:\n got %s\nwant %s", got, want)
			}
			n++
		}
	}
	// The definition itself: the canonical bytes are json.Marshal's.
	c := shippedCalcs(t)[0]
	cc := *c
	cc.OccurredAt = cc.OccurredAt.In(DefaultLocation)
	want, _ := json.Marshal(c)
	if got := cc.Canonical(); !bytes.Equal(got, want) {
		t.Fatalf("canonical %s\nwant %s", got, want)
	}
	t.Logf("%d calcs compared", n)
}

func FuzzCanonical(f *testing.F) {
	f.Add("e1", "k", "v", 1.5, int64(3), true, "\u2028<")
	f.Add("", "", "\xff", 1e21, int64(-1), false, "")
	f.Add("x", "a", "b", -0.0, int64(1e18), true, "&")
	base := &Calc{Methodology: "m", Factors: []FactorUse{{Param: "p"}}, Params: map[string]any{}}
	f.Fuzz(func(t *testing.T, id, key, sval string, fv float64, iv int64, bv bool, other string) {
		c := *base
		c.EventID, c.PrevHash, c.Gross = id, other, sval
		c.Params = map[string]any{key: sval, other: fv, "n": map[string]any{sval: []any{fv, bv, nil, key}}, "b": bv}
		c.CapMG, c.ResultMG = iv, -iv
		c.OccurredAt = time.Unix(iv%(1<<40), iv%1e9)
		c.Inputs = []InputUse{{Param: key, Unit: other, Value: fv}}
		c.Terms = []TermUse{{Const: sval, Name: key, Of: []string{other}}}
		c.EvidenceKeys = []string{key, sval}
		if got, want := c.Canonical(), c.canonicalJSON(); !bytes.Equal(got, want) {
			t.Fatalf("canonical differs:\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	calcs := shippedCalcs(b)
	var c *Calc
	for _, x := range calcs {
		if x.Methodology == "tmall.low_carbon_product" {
			c = x
		}
	}
	c.PrevHash = strings.Repeat("0f", 32)
	b.Run("appender", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				c.Canonical()
			}
		})
	})
	b.Run("append_reused", func(b *testing.B) {
		// As audit.Next, which only hashes the bytes.
		buf := make([]byte, 0, 2048)
		cputime.Report(b, func() {
			for b.Loop() {
				buf = c.AppendCanonical(buf[:0])
			}
		})
	})
	b.Run("encoding_json", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				c.canonicalJSON()
			}
		})
	})
}
