package audit_test

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/internal/cputime"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
)

const somePrev = "0f3e6a1c77d2b9e84f5a03c6d1e2b7a9c4f8e0d3b6a5c2e1f4d7a8b9c0e3f6a2"

// shippedCalcs returns calcs of every shipped methodology: each credited
// test vector, chained after somePrev, with some usage.
func shippedCalcs(tb testing.TB, eng *methodology.Engine) []*methodology.Calc {
	tb.Helper()
	ms, _, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*methodology.Calc
	seen := map[string]bool{}
	for _, m := range ms {
		for _, r := range m.RunVectors(nil) {
			if r.Got.Calc == nil {
				continue
			}
			c := r.Got.Calc
			c.PrevHash = somePrev
			c.UsedDayMG, c.UsedYearMG = 1234, 987654321
			out = append(out, c)
			seen[c.Methodology] = true
		}
	}
	if len(seen) != len(ms) {
		tb.Fatalf("credited vectors cover %d of %d methodologies", len(seen), len(ms))
	}
	return out
}

func benchCalc(tb testing.TB, eng *methodology.Engine) *methodology.Calc {
	tb.Helper()
	// As BenchmarkSubmit's events.
	id := "b3-2-517"
	r, err := eng.Evaluate(methodology.Event{ID: id, Partner: "tmall", Person: "bp1", Behavior: "tmall.low_carbon_product",
		OccurredAt: time.Date(2026, 11, 20, 12, 3, 4, 0, time.UTC),
		Params:     map[string]any{"order_id": id, "kwh_saved": 1.0}, Evidence: map[string]any{"order_id": id}},
		methodology.Usage{DayMG: 1073200, YearMG: 45073200})
	if err != nil || r.Calc == nil {
		tb.Fatalf("evaluate: %v %s", err, r.Detail)
	}
	r.Calc.PrevHash = somePrev
	return r.Calc
}

// roundTrip checks that c stored in format 2 and in format 1 reads back to
// the same canonical bytes, and returns the format 2 record.
func roundTrip(t *testing.T, eng *methodology.Engine, c *methodology.Calc) []byte {
	return roundTripV(t, eng, c, true)
}

// roundTripV is roundTrip; v1Same says format 1 must read back the same
// too (it does not for invalid UTF-8, which format 1 reads back as
// U+FFFD itself rather than the escape the hash covers).
func roundTripV(t *testing.T, eng *methodology.Engine, c *methodology.Calc, v1Same bool) []byte {
	t.Helper()
	want := c.Canonical()
	rec, err := audit.Compact(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := audit.Expand(rec, eng)
	if err != nil {
		t.Fatalf("expand format %d: %v", rec[0], err)
	}
	if got := back.Canonical(); !bytes.Equal(got, want) {
		t.Fatalf("format %d changed the record:\n got %s\nwant %s", rec[0], got, want)
	}
	v1, err := audit.CompactV1(c)
	if err != nil {
		t.Fatal(err)
	}
	back1, err := audit.Expand(v1, eng)
	if err != nil {
		t.Fatalf("expand format 1: %v", err)
	}
	if v1Same && c.EngineVersion != "opencarbon-methodology/1" && len(c.Factors) > 0 && !bytes.Equal(back1.Canonical(), want) {
		t.Fatalf("format 1 and 2 differ:\nv1 %s\nv2 %s", back1.Canonical(), want)
	}
	return rec
}

// TestRecordV2Shipped round-trips a record of every shipped methodology in
// format 2 and format 1, and keeps the bench's record small.
func TestRecordV2Shipped(t *testing.T) {
	eng := engine(t)
	for _, c := range shippedCalcs(t, eng) {
		rec := roundTrip(t, eng, c)
		if rec[0] != 2 {
			t.Fatalf("%s written in format %d", c.Methodology, rec[0])
		}
		v1, _ := audit.CompactV1(c)
		t.Logf("%-28s canonical %4d B, format 1 %3d B, format 2 %3d B", c.Methodology, len(c.Canonical()), len(v1), len(rec))
		if len(rec) > 140 {
			t.Errorf("%s: format 2 record is %d bytes", c.Methodology, len(rec))
		}
	}
	c := benchCalc(t, eng)
	rec := roundTrip(t, eng, c)
	v1, _ := audit.CompactV1(c)
	t.Logf("bench tmall.low_carbon_product: format 1 %d B, format 2 %d B", len(v1), len(rec))
	if len(rec) > 110 {
		t.Errorf("bench record is %d bytes in format 2", len(rec))
	}
}

// TestRecordV2Variants round-trips records with every kind of params
// value, odd strings and fields that are not the usual ones.
func TestRecordV2Variants(t *testing.T) {
	eng := engine(t)
	base := benchCalc(t, eng)
	type variant struct {
		name   string
		change func(c *methodology.Calc)
		format byte // 0: refused
	}
	vs := []variant{
		{"as is", func(c *methodology.Calc) {}, 2},
		{"nested params", func(c *methodology.Calc) {
			c.Params["n"] = map[string]any{"b": []any{1.0, -2.5, "x", nil, true, false, map[string]any{}, []any{}},
				"a": map[string]any{"": "", "z": math.Copysign(0, -1)}}
		}, 2},
		{"floats", func(c *methodology.Calc) {
			for i, f := range []float64{1e21, 1e-7, 0.1, 1.0 / 3, -1e300, 9007199254740993, 1 << 53, -(1 << 53), 123456.789,
				math.MaxFloat64, math.SmallestNonzeroFloat64, 5e-324, 0.000001, 1e20, 12.4, -0.5} {
				c.Params[fmt.Sprint("f", i)] = f
			}
			c.Inputs = append(c.Inputs, methodology.InputUse{Param: "x", Unit: "u", Value: math.Copysign(0, -1)},
				methodology.InputUse{Param: "y", Unit: "odd unit", Value: 1e-300})
		}, 2},
		{"odd strings", func(c *methodology.Calc) {
			for _, s := range []string{"<&>", "\u2028", "\xff\xfe", "中文", "\x00", strings.Repeat("long", 100)} {
				c.Params[s] = s
			}
			c.EventID, c.Partner, c.Behavior = "\xffid", "other partner", "other.behavior"
		}, 2},
		{"repeated strings", func(c *methodology.Calc) {
			for i := range 40 {
				c.Params[fmt.Sprint("k", i)] = fmt.Sprint("v", i%3)
			}
			c.EvidenceKeys = []string{"k1", "k2", "order_id", "unknown_key"}
		}, 2},
		{"nil and empty", func(c *methodology.Calc) {
			c.Params, c.EvidenceKeys, c.Terms, c.Inputs = nil, nil, nil, nil
		}, 2},
		{"empty", func(c *methodology.Calc) {
			c.Params, c.EvidenceKeys, c.Terms, c.Inputs = map[string]any{}, []string{}, []methodology.TermUse{}, []methodology.InputUse{}
		}, 2},
		{"no factors", func(c *methodology.Calc) { c.Factors = nil }, 2},
		{"empty factors", func(c *methodology.Calc) { c.Factors = []methodology.FactorUse{} }, 2},
		{"terms", func(c *methodology.Calc) {
			c.Terms = []methodology.TermUse{{Name: "baseline", Const: "0.001", Of: []string{"ef_grid", "kwh_saved", "new_param"}},
				{Name: "project", Of: nil}, {Name: "leakage", Const: "-12.50", Of: []string{}}, {Name: "x", Const: "1e21"}}
		}, 2},
		{"decimals", func(c *methodology.Calc) {
			c.Baseline, c.Project, c.Leakage, c.Gross, c.AfterDiscount, c.DiscountPct =
				"536599.99999999994", "-0", "0.0000001", "12345678901234567890", "1e-7", ".5"
		}, 2},
		{"caps and extremes", func(c *methodology.Calc) {
			c.CapApplied, c.CapMG, c.ResultMG, c.UsedDayMG, c.UsedYearMG = "daily", math.MaxInt64, math.MinInt64, -1, 0
		}, 2},
		{"no prev hash", func(c *methodology.Calc) { c.PrevHash = "" }, 2},
		{"prev hash not hex", func(c *methodology.Calc) { c.PrevHash = strings.ToUpper(somePrev) }, 2},
		{"methodology hash not hex", func(c *methodology.Calc) { c.MethodologyHash = "not a hash" }, 2},
		{"times", func(c *methodology.Calc) {
			c.OccurredAt = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7*3600))
		}, 2},
		{"first second of year 0", func(c *methodology.Calc) { c.OccurredAt = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }, 2},
		{"last of year 9999", func(c *methodology.Calc) {
			c.OccurredAt = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
		}, 2},
		// What format 2 does not hold goes to format 1, as before.
		{"json.Number", func(c *methodology.Calc) { c.Params["n"] = json.Number("1.50") }, 0},
		{"json.Number that reads back", func(c *methodology.Calc) { c.Params["n"] = json.Number("1.5") }, 1},
		{"year 10000", func(c *methodology.Calc) { c.OccurredAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, 0},
		{"int", func(c *methodology.Calc) { c.Params["n"] = []any{3} }, 1},
		{"NaN", func(c *methodology.Calc) { c.Params["n"] = math.NaN() }, 1},
	}
	for _, v := range vs {
		t.Run(v.name, func(t *testing.T) {
			c := *base
			c.Params = map[string]any{}
			for k, x := range base.Params {
				c.Params[k] = x
			}
			v.change(&c)
			if v.format == 0 {
				if rec, err := audit.Compact(&c); err == nil {
					t.Fatalf("stored in format %d a calc that does not read back", rec[0])
				}
				return
			}
			if v.format == 1 {
				rec, err := audit.Compact(&c)
				if err != nil || rec[0] != 1 {
					t.Fatalf("format %d, %v", rec[0], err)
				}
				back, err := audit.Expand(rec, eng)
				if err != nil || !bytes.Equal(back.Canonical(), c.Canonical()) {
					t.Fatalf("format 1 fallback changed the record: %v", err)
				}
				return
			}
			if rec := roundTripV(t, eng, &c, v.name != "odd strings"); rec[0] != v.format {
				t.Fatalf("format %d, want %d", rec[0], v.format)
			}
		})
	}
	t.Run("engine version 1", func(t *testing.T) {
		old := *base
		old.EngineVersion = "opencarbon-methodology/1"
		c, err := eng.Recompute(&old)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Factors) == 0 || c.Factors[0].ShortSource != "" || c.Terms != nil {
			t.Fatalf("not a version 1 record: %+v", c)
		}
		roundTrip(t, eng, c)
	})
}

// TestRecordV2Registry: a format 2 record is unreadable, not read
// differently, when the registry lacks its version or holds another one.
func TestRecordV2Registry(t *testing.T) {
	eng := engine(t)
	c := benchCalc(t, eng)
	rec, _ := audit.Compact(c)
	if _, err := audit.Expand(rec, nil); err == nil || !strings.Contains(err.Error(), "registry") {
		t.Fatalf("no registry: %v", err)
	}
	ms, f, _ := methodology.LoadFS(methodologies.FS)
	var others []*methodology.Methodology
	var changed *methodology.Methodology
	for _, m := range ms {
		if m.ID() != c.Methodology {
			others = append(others, m)
			continue
		}
		src, err := methodologies.FS.ReadFile(c.Methodology + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		src = bytes.Replace(src, []byte("Energy-efficient appliance"), []byte("Efficient appliance"), 1)
		if changed, err = methodology.Load("changed.yaml", src, f); err != nil {
			t.Fatal(err)
		}
	}
	without, err := methodology.NewEngine(others, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audit.Expand(rec, without); err == nil || !strings.Contains(err.Error(), "not in the registry") {
		t.Fatalf("missing version: %v", err)
	}
	other, err := methodology.NewEngine(append(others, changed), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	if changed.Hash() == c.MethodologyHash {
		t.Fatal("the changed document has the same hash")
	}
	if _, err := audit.Expand(rec, other); err == nil || !strings.Contains(err.Error(), "has hash") {
		t.Fatalf("other version: %v", err)
	}
}

// TestRecordV2Corrupt: every truncation and every single-bit change of a
// record either fails to read or reads to other canonical bytes.
func TestRecordV2Corrupt(t *testing.T) {
	eng := engine(t)
	c := benchCalc(t, eng)
	want := c.Canonical()
	rec, _ := audit.Compact(c)
	for n := 0; n < len(rec); n++ {
		if back, err := audit.Expand(rec[:n], eng); err == nil && bytes.Equal(back.Canonical(), want) {
			t.Fatalf("truncated to %d bytes reads back the same", n)
		}
	}
	for i := range rec {
		for bit := range 8 {
			bad := bytes.Clone(rec)
			bad[i] ^= 1 << bit
			if back, err := audit.Expand(bad, eng); err == nil && bytes.Equal(back.Canonical(), want) {
				t.Fatalf("bit %d of byte %d changed, reads back the same", bit, i)
			}
		}
	}
}

// FuzzExpandV2 feeds arbitrary bytes to the decoder: it must never panic,
// and whatever it reads must be stored again to the same canonical bytes.
func FuzzExpandV2(f *testing.F) {
	eng := engine(f)
	for _, c := range shippedCalcs(f, eng) {
		rec, _ := audit.Compact(c)
		f.Add(rec)
	}
	c := benchCalc(f, eng)
	c.Params["n"] = map[string]any{"a": []any{1.5, "s", nil, true, -3.0, 1e300}}
	rec, _ := audit.Compact(c)
	f.Add(rec)
	f.Add([]byte{2})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, rec []byte) {
		c, err := audit.Expand(rec, eng)
		if err != nil {
			return
		}
		if !fromRegistry(c, eng) {
			// A calc naming a methodology hash or factors other than its
			// version's is not one Evaluate makes; format 2 leaves both
			// to the registry, so it is not read back.
			return
		}
		want := c.Canonical()
		again, err := audit.Compact(c)
		if err != nil {
			t.Fatalf("read but cannot store again: %v", err)
		}
		back, err := audit.Expand(again, eng)
		if err != nil {
			t.Fatalf("stored again, unreadable: %v", err)
		}
		if got := back.Canonical(); !bytes.Equal(got, want) {
			t.Fatalf("round trip changed the record:\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzRecordV2RoundTrip builds calcs from fuzzed params and fields and
// checks they read back to the same canonical bytes.
func FuzzRecordV2RoundTrip(f *testing.F) {
	eng := engine(f)
	base := benchCalc(f, eng)
	f.Add("k", "v", 1.5, int64(7), true, "536600", "")
	f.Add("", "\xff<", -0.0, int64(-1), false, "-0", "x")
	f.Add("order_id", "order_id", 1e21, int64(1<<62), false, "0.000", somePrev)
	f.Fuzz(func(t *testing.T, key, sval string, fv float64, iv int64, bv bool, dec, prev string) {
		c := *base
		c.Params = map[string]any{key: sval, "f": fv, "n": map[string]any{sval: []any{fv, bv, nil, key}}, "b": bv, "i": float64(iv)}
		c.EventID, c.PrevHash, c.Gross, c.Leakage = sval, prev, dec, key
		c.UsedDayMG, c.CapMG = iv, -iv
		c.OccurredAt = time.Unix(iv%(1<<37), iv%1e9)
		c.Terms = []methodology.TermUse{{Name: key, Const: dec, Of: []string{sval, key}}}
		c.Inputs = []methodology.InputUse{{Param: key, Unit: sval, Value: fv}}
		c.EvidenceKeys = []string{key, sval}
		want := c.Canonical()
		rec, err := audit.Compact(&c)
		if want == nil {
			// No canonical form (a time outside years 0–9999, a NaN
			// input): refused, as nothing could verify it.
			if err == nil {
				t.Fatal("stored a calc that has no canonical form")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		back, err := audit.Expand(rec, eng)
		if err != nil {
			t.Fatalf("format %d: %v", rec[0], err)
		}
		if got := back.Canonical(); !bytes.Equal(got, want) {
			t.Fatalf("format %d changed the record:\n got %s\nwant %s", rec[0], got, want)
		}
	})
}

// fromRegistry reports whether c's methodology hash and factors are those
// of the version it names (or not hashes and factors at all).
func fromRegistry(c *methodology.Calc, eng *methodology.Engine) bool {
	m, ok := eng.Version(c.Methodology, c.MethodologyVersion)
	if len(c.MethodologyHash) == 64 && strings.Trim(c.MethodologyHash, "0123456789abcdef") == "" && (!ok || m.Hash() != c.MethodologyHash) {
		return false
	}
	if len(c.Factors) == 0 {
		return true
	}
	if !ok {
		return false
	}
	refs := m.FactorRefs()
	if len(refs) != len(c.Factors) {
		return false
	}
	for i, f := range refs {
		if g := c.Factors[i]; g != f && (g.ShortSource != "" || g != (methodology.FactorUse{Param: f.Param, Ref: f.Ref, Source: f.Source, Unit: f.Unit, Value: f.Value})) {
			return false
		}
	}
	return true
}

func BenchmarkRecord(b *testing.B) {
	eng := engine(b)
	c := benchCalc(b, eng)
	v1, _ := audit.CompactV1(c)
	v2, _ := audit.Compact(c)
	b.Run("encode/v1", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				audit.CompactV1(c)
			}
		})
		b.ReportMetric(float64(len(v1)), "bytes/record")
	})
	b.Run("encode/v2", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				audit.Compact(c)
			}
		})
		b.ReportMetric(float64(len(v2)), "bytes/record")
	})
	b.Run("decode/v1", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				audit.Expand(v1, eng)
			}
		})
	})
	b.Run("decode/v2", func(b *testing.B) {
		cputime.Report(b, func() {
			for b.Loop() {
				audit.Expand(v2, eng)
			}
		})
	})
}

// TestDict2 checks that every entry of the fixed dictionary is found.
func TestDict2(t *testing.T) {
	n, max := audit.Dict2Stats()
	if n < 60 || max > 3 {
		t.Fatalf("%d entries, longest chain %d", n, max)
	}
}

// FuzzBlock: any bytes decode as a block or fail with an error (never a
// panic or a huge allocation), and a block that decodes stores its
// records again as the same block.
func FuzzBlock(f *testing.F) {
	eng := engine(f)
	cs := shippedCalcs(f, eng)
	prev := somePrev
	for _, c := range cs {
		c.PrevHash = prev
		prev = c.Hash()
	}
	accts := make([]int64, len(cs))
	for i := range accts {
		accts[i] = int64(1000 + i*7)
	}
	for _, n := range []int{1, 2, len(cs)} {
		b, err := audit.NewBlock(0, 1, accts[:n], cs[:n])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{3, 1, 0, 0, 3, 5, 1, 2})
	f.Add([]byte{3, 1, 2, 1, 'x', 1, 0})
	f.Add(bombBlock(f, 1<<16))
	f.Fuzz(func(t *testing.T, b []byte) {
		accts, calcs, err := audit.BlockCalcs(b, eng)
		if err != nil {
			return
		}
		for _, c := range calcs {
			if !fromRegistry(c, eng) {
				return // not a calc Evaluate makes (see FuzzExpandV2)
			}
		}
		again, err := audit.NewBlock(0, 1, accts, calcs)
		if err != nil {
			t.Fatalf("read but cannot store again: %v", err)
		}
		a2, c2, err := audit.BlockCalcs(again, eng)
		if err != nil || len(c2) != len(calcs) {
			t.Fatalf("stored again, read %d of %d: %v", len(c2), len(calcs), err)
		}
		for i := range calcs {
			if a2[i] != accts[i] || !bytes.Equal(c2[i].Canonical(), calcs[i].Canonical()) {
				t.Fatalf("record %d changed when stored again", i)
			}
		}
	})
}

// bombBlock is a block that says it holds one record and deflates to size
// zero bytes: one empty record, then size-2 bytes too many.
func bombBlock(tb testing.TB, size int) []byte {
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(make([]byte, size))
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	b := append([]byte{3, 1, 0}, make([]byte, 32)...) // n 1, no prev_hash, a seal
	return append(append(b, 1), z.Bytes()...)
}

// TestBlockBomb: a small block that inflates to much more than it says it
// holds is refused after its first record, without inflating the rest.
func TestBlockBomb(t *testing.T) {
	eng := engine(t)
	b := bombBlock(t, 64<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := audit.BlockCalcs(b, eng)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("a block of 64 MiB of zeros decoded")
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Fatalf("decoding a %d-byte block allocated %d bytes", len(b), n)
	}
}
