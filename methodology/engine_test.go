package methodology_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func shippedEngine(t testing.TB) *methodology.Engine {
	t.Helper()
	ms, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, err := methodology.NewEngine(ms, factors, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var metroEvent = methodology.Event{
	ID: "ev-42", Partner: "tmall", Person: "p1", Behavior: "travel.metro_trip",
	OccurredAt: time.Date(2026, 8, 8, 9, 30, 0, 0, time.FixedZone("CST", 8*3600)),
	Params:     map[string]any{"trip_id": "M1", "city": "BJ", "distance": 12.4},
	Evidence:   map[string]any{"ride_record": "R1"},
}

// TestCalcGolden pins the canonical bytes of a calc record: any change in
// the engine's arithmetic or record format shows up here and must come
// with a new EngineVersion.
func TestCalcGolden(t *testing.T) {
	e := shippedEngine(t)
	r, err := e.Evaluate(metroEvent, methodology.Usage{DayMG: 100000, YearMG: 5000000})
	if err != nil || r.Refusal != "" {
		t.Fatalf("%+v %v", r, err)
	}
	r.Calc.PrevHash = "0000000000000000000000000000000000000000000000000000000000000000"
	got := r.Calc.Canonical()
	golden := filepath.Join("testdata", "calc_metro.golden.json")
	if *update {
		os.WriteFile(golden, append(got, '\n'), 0o644)
		os.WriteFile(filepath.Join("testdata", "calc_metro.hash"), []byte(r.Calc.Hash()+"\n"), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
		t.Fatalf("canonical calc changed:\n got %s\nwant %s", got, want)
	}
	hash, _ := os.ReadFile(filepath.Join("testdata", "calc_metro.hash"))
	if r.Calc.Hash() != strings.TrimSpace(string(hash)) {
		t.Fatalf("hash %s, golden %s", r.Calc.Hash(), hash)
	}
	// Same input, same bytes, on a freshly built engine too.
	r2, _ := shippedEngine(t).Evaluate(metroEvent, methodology.Usage{DayMG: 100000, YearMG: 5000000})
	r2.Calc.PrevHash = r.Calc.PrevHash
	if !bytes.Equal(r2.Calc.Canonical(), got) {
		t.Fatal("evaluation is not deterministic")
	}
	// Keys are sorted: re-encoding through a map gives the same bytes.
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(m)
	if !bytes.Equal(again, got) {
		t.Fatalf("canonical form is not sorted-key JSON:\n%s\n%s", again, got)
	}
}

func TestRecompute(t *testing.T) {
	e := shippedEngine(t)
	r, err := e.Evaluate(metroEvent, methodology.Usage{DayMG: 1900000})
	if err != nil || r.MG != 100000 || r.Calc.CapApplied != "daily" {
		t.Fatalf("%+v %v", r, err)
	}
	r.Calc.PrevHash = "abc"
	// Round-trip through storage (JSON) as a verifier would.
	var stored methodology.Calc
	if err := json.Unmarshal(r.Calc.Canonical(), &stored); err != nil {
		t.Fatal(err)
	}
	again, err := e.Recompute(&stored)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Canonical(), r.Calc.Canonical()) {
		t.Fatalf("recomputed bytes differ:\n%s\n%s", again.Canonical(), r.Calc.Canonical())
	}
	t.Run("ErrTampered", func(t *testing.T) {
		bad := stored
		bad.MethodologyHash = strings.Repeat("0", 64)
		_, err := e.Recompute(&bad)
		wantCode(t, err, opencarbon.EConflict)
		bad = stored
		bad.Params = map[string]any{"trip_id": "M1", "city": "BJ", "distance": 99.0}
		got, err := e.Recompute(&bad)
		if err != nil || got.Hash() == r.Calc.Hash() {
			t.Fatalf("tampered params recomputed to the same hash: %v", err)
		}
	})
}

func TestEvaluateRefusals(t *testing.T) {
	e := shippedEngine(t)
	ev := metroEvent
	_, err := e.Evaluate(methodology.Event{Behavior: "nope.nothing", OccurredAt: time.Now()}, methodology.Usage{})
	wantCode(t, err, opencarbon.EUnknownBehavior)
	ev.Partner = "eleme"
	if r, _ := e.Evaluate(ev, methodology.Usage{}); r.Refusal != opencarbon.EReporterNotAllowed || r.Calc != nil {
		t.Fatalf("%+v", r)
	}
	if r, _ := e.Evaluate(metroEvent, methodology.Usage{DayMG: 2000000}); r.Refusal != opencarbon.ECapReached {
		t.Fatalf("%+v", r)
	}
}

func TestExclusivityAndLookup(t *testing.T) {
	ms, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := methodology.NewEngine(ms, factors, nil)
	if got := e.ExcludedWith("cainiao.e_waybill"); len(got) != 1 || got[0] != "tmall.e_waybill" {
		t.Fatalf("ExcludedWith = %v", got)
	}
	m, ok := e.Lookup("tmall.e_waybill", time.Now())
	if !ok {
		t.Fatal("lookup")
	}
	if k, ok := m.ActKey(methodology.Event{Params: map[string]any{"waybill_id": "YT1"}}); !ok || k != "YT1" {
		t.Fatalf("ActKey = %q %v", k, ok)
	}
	if _, ok := m.ActKey(methodology.Event{}); ok {
		t.Fatal("ActKey without the field")
	}
	// A later version takes over from its effective time; before it, v1 applies.
	src, _ := methodologies.FS.ReadFile("eleme.no_cutlery.yaml")
	v2, err := methodology.Load("v2", []byte(strings.Replace(string(src), "version: 1.0.0", "version: 1.1.0", 1)), factors)
	if err != nil {
		t.Fatal(err)
	}
	switchAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v2.EffectiveFrom = switchAt
	e2, err := methodology.NewEngine(append(ms, v2), factors, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := e2.Lookup("eleme.no_cutlery", switchAt.Add(-time.Second)); m.Version() != "1.0.0" {
		t.Fatalf("before switch: %s", m.Version())
	}
	if m, _ := e2.Lookup("eleme.no_cutlery", switchAt); m.Version() != "1.1.0" {
		t.Fatalf("at switch: %s", m.Version())
	}
}

func BenchmarkEvaluate(b *testing.B) {
	e := shippedEngine(b)
	ev := metroEvent
	used := methodology.Usage{DayMG: 100000}
	b.ReportAllocs()
	for b.Loop() {
		r, err := e.Evaluate(ev, used)
		if err != nil || r.MG == 0 {
			b.Fatal(r, err)
		}
	}
}

func BenchmarkEvaluateNoCutlery(b *testing.B) {
	e := shippedEngine(b)
	ev := methodology.Event{ID: "e", Partner: "eleme", Behavior: "eleme.no_cutlery", OccurredAt: time.Now(),
		Params: map[string]any{"order_id": "o"}, Evidence: map[string]any{"cutlery_choice": "none"}}
	b.ReportAllocs()
	for b.Loop() {
		if r, _ := e.Evaluate(ev, methodology.Usage{}); r.MG == 0 {
			b.Fatal(r)
		}
	}
}

func BenchmarkCalcHash(b *testing.B) {
	e := shippedEngine(b)
	r, _ := e.Evaluate(metroEvent, methodology.Usage{})
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Calc.Hash()
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(base))
	for _, name := range []string{"eleme.no_cutlery.yaml", "travel.metro_trip.yaml", "xianyu.secondhand_clothing.yaml"} {
		b, _ := methodologies.FS.ReadFile(name)
		f.Add(b)
	}
	f.Add([]byte(`{"id": "a.b", "parameters": [{"name": "x"}]}`))
	f.Add([]byte("baseline: 1 +\n"))
	_, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		m, err := methodology.Load("fuzz.yaml", src, factors)
		if err != nil {
			if opencarbon.ErrorCode(err) != opencarbon.EInvalid || len(methodology.ProblemsOf(err)) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		// A loaded document reloads from its canonical form to the same hash
		// and its vectors can run without panicking.
		m2, err := methodology.Load("canon.json", m.Canonical(), factors)
		if err != nil || m2.Hash() != m.Hash() {
			t.Fatalf("canonical reload: %v", err)
		}
		m.RunVectors(nil)
	})
}

func BenchmarkLoad(b *testing.B) {
	_, factors, _ := methodology.LoadFS(methodologies.FS)
	src, _ := methodologies.FS.ReadFile("travel.metro_trip.yaml")
	for b.Loop() {
		if _, err := methodology.Load("m.yaml", src, factors); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCalcParamsNormalized: an event decoded with json.Number gives the
// same calc bytes as one decoded with float64, and as the stored record.
func TestCalcParamsNormalized(t *testing.T) {
	e := shippedEngine(t)
	ev := metroEvent
	ev.Params = map[string]any{"trip_id": "M1", "city": "BJ", "distance": json.Number("12.40"), "extra": map[string]any{"n": json.Number("7")}}
	r1, _ := e.Evaluate(ev, methodology.Usage{})
	ev.Params = map[string]any{"trip_id": "M1", "city": "BJ", "distance": 12.4, "extra": map[string]any{"n": 7.0}}
	r2, _ := e.Evaluate(ev, methodology.Usage{})
	if !bytes.Equal(r1.Calc.Canonical(), r2.Calc.Canonical()) {
		t.Fatalf("json.Number params change the calc:\n%s\n%s", r1.Calc.Canonical(), r2.Calc.Canonical())
	}
	var stored methodology.Calc
	json.Unmarshal(r1.Calc.Canonical(), &stored)
	again, err := e.Recompute(&stored)
	if err != nil || !bytes.Equal(again.Canonical(), r1.Calc.Canonical()) {
		t.Fatalf("recompute: %v", err)
	}
}

// TestPrepareApply: Prepare(ev).Apply(used) is Evaluate(ev, used) byte for
// byte, for results under, at and over the caps and for refusals, and
// applying one Prepared with several usages changes none of them (the
// intake prepares on the request's goroutine and may apply twice when a
// batch is written again event by event).
func TestPrepareApply(t *testing.T) {
	e := shippedEngine(t)
	wrongPartner := metroEvent
	wrongPartner.Partner = "eleme"
	unknown := methodology.Event{Behavior: "nope.nothing", OccurredAt: metroEvent.OccurredAt}
	cases := []struct {
		name string
		ev   methodology.Event
		used methodology.Usage
	}{
		{"Credited", metroEvent, methodology.Usage{DayMG: 100000, YearMG: 5000000}},
		{"DailyCapApplied", metroEvent, methodology.Usage{DayMG: 1900000}},
		{"CapReached", metroEvent, methodology.Usage{DayMG: 2000000}},
		{"YearlyCapApplied", metroEvent, methodology.Usage{YearMG: 1 << 40}},
		{"RefusedBeforeCaps", wrongPartner, methodology.Usage{}},
		{"UnknownBehavior", unknown, methodology.Usage{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := e.Prepare(tc.ev)
			if p.Engine() != e {
				t.Fatal("Prepared names another engine")
			}
			for _, used := range []methodology.Usage{tc.used, {}, tc.used} {
				want, werr := e.Evaluate(tc.ev, used)
				got, gerr := p.Apply(used)
				if (werr == nil) != (gerr == nil) || got.MG != want.MG || got.Refusal != want.Refusal || got.Detail != want.Detail || (got.Calc == nil) != (want.Calc == nil) {
					t.Fatalf("Apply(%+v) = %+v, %v; Evaluate = %+v, %v", used, got, gerr, want, werr)
				}
				if got.Calc != nil && !bytes.Equal(got.Calc.Canonical(), want.Calc.Canonical()) {
					t.Fatalf("Apply(%+v) record:\n%s\nEvaluate:\n%s", used, got.Calc.Canonical(), want.Calc.Canonical())
				}
			}
		})
	}
}
