package intake_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/intake"
)

// legacyHash is how Hash was computed before it had its own encoder: body
// hashes stored since then must keep matching.
func legacyHash(ev *intake.Event) string {
	b, _ := json.Marshal(ev)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// checkEventJSON fails t unless the hand-written encoding of ev is
// json.Marshal's, or it declined (fallback) where encoding/json is used,
// and Hash is the legacy hash either way.
func checkEventJSON(t *testing.T, ev intake.Event, fallback bool) {
	t.Helper()
	want, _ := json.Marshal(&ev)
	got, ok := intake.EventJSON(&ev)
	switch {
	case ok && fallback:
		t.Errorf("encoded %s itself; want the encoding/json fallback", got)
	case ok && !bytes.Equal(got, want):
		t.Errorf("encoding differs:\n got %s\nwant %s", got, want)
	case !ok && !fallback:
		t.Errorf("fell back to encoding/json for %s", want)
	}
	if h, l := ev.Hash(), legacyHash(&ev); h != l {
		t.Errorf("Hash = %s, legacy %s", h, l)
	}
}

func TestEventJSON(t *testing.T) {
	at := time.Date(2026, 11, 25, 2, 0, 0, 123456000, time.UTC)
	base := func(params, evidence map[string]any) intake.Event {
		return intake.Event{ID: "e1", Person: "alice", Behavior: "eleme.no_cutlery", OccurredAt: at, Params: params, Evidence: evidence}
	}
	for _, tc := range []struct {
		name     string
		ev       intake.Event
		fallback bool
	}{
		{"NoParams", base(nil, nil), false},
		{"EmptyParams", base(map[string]any{}, map[string]any{}), false},
		{"Decoded", base(map[string]any{"order_id": "E1", "kwh_saved": 1.0, "n": 2.5, "ok": true, "none": nil}, map[string]any{"cutlery_choice": "none"}), false},
		{"SortedKeys", base(map[string]any{"b": 1.0, "a": 2.0, "B": 3.0, "aa": 4.0, "": 5.0}, nil), false},
		{"Nested", base(map[string]any{"items": []any{1.0, "x", nil, []any{}, map[string]any{"z": false, "y": []any{true}}}, "m": map[string]any{}, "nilmap": map[string]any(nil), "nilslice": []any(nil)}, nil), false},
		{"Floats", base(map[string]any{"a": 1e21, "b": 1e20, "c": 1e-6, "d": 1e-7, "e": -0.0, "f": 0.1, "g": 123456789.125, "h": -1.5e-300, "i": math.MaxFloat64, "j": 5e-324, "k": 1e-10}, nil), false},
		{"GoIntegers", base(map[string]any{"int": 42, "int64": int64(-7), "int32": int32(1 << 30)}, nil), false},
		{"HTMLAndEscapes", base(map[string]any{"<key>": "a&b<c>d", "q": "say \"hi\"\\", "ctl": "tab\tnl\ncr\rbs\bff\f\x00\x1f", "del": "\x7f"}, nil), false},
		{"Unicode", base(map[string]any{"zh": "无需餐具", "sep": "a\u2028b\u2029c", "emoji": "🌱", "bad": "a\xffb"}, map[string]any{"名": "值"}), false},
		{"OddIDs", intake.Event{ID: "id with \"quotes\" & <tags>", Person: "p\u00e9", Behavior: "b", OccurredAt: at.In(time.FixedZone("x", 8*3600))}, false},
		{"ZeroTime", intake.Event{ID: "e", Person: "p", Behavior: "b"}, false},
		{"NaN", base(map[string]any{"x": math.NaN()}, nil), true},
		{"Inf", base(nil, map[string]any{"x": math.Inf(-1)}), true},
		{"OtherType", base(map[string]any{"x": uint8(3)}, nil), true},
		{"JSONNumber", base(map[string]any{"x": json.Number("12")}, nil), true},
		{"YearOutOfRange", intake.Event{ID: "e", Person: "p", Behavior: "b", OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) { checkEventJSON(t, tc.ev, tc.fallback) })
	}
}

// FuzzEventJSON: for every event Decode accepts, and for arbitrary
// strings and numbers in an event, the hand-written encoding is
// json.Marshal's and Hash is the legacy hash.
func FuzzEventJSON(f *testing.F) {
	f.Add([]byte(okEvent), "E1<&>", 1.5, int64(3))
	f.Add([]byte(`{"events":[{"event_id":"x\u2028","person":"p","behavior":"b.c","occurred_at":"2026-11-25T10:00:00.5+08:00","params":{"a":[1e-7,{"b":null}],"é":"\u0000"}}]}`), "\xff", 1e21, int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, s string, x float64, n int64) {
		evs, _ := intake.Decode(body, "")
		for _, ev := range evs {
			if ev.Err == nil {
				checkEventJSON(t, ev, false)
			}
		}
		ev := intake.Event{ID: s, Person: s, Behavior: "b", OccurredAt: time.Unix(n%(1<<35), n%1e9).UTC(),
			Params: map[string]any{s: x, "s": s, "n": n, "l": []any{x, s}}, Evidence: map[string]any{"k": map[string]any{s: s}}}
		checkEventJSON(t, ev, math.IsNaN(x) || math.IsInf(x, 0))
	})
}

// BenchmarkEventHash compares Hash with the encoding/json hash it
// replaces, on a typical decoded event.
//
//	go test ./intake -run XXX -bench EventHash
func BenchmarkEventHash(b *testing.B) {
	evs, err := intake.Decode([]byte(`{"event_id":"ord-20261125-000123","person":"u-8f3a2c","behavior":"tmall.low_carbon_product","occurred_at":"2026-11-25T10:00:00+08:00","params":{"order_id":"ord-20261125-000123","kwh_saved":1.25},"evidence":{"order_id":"ord-20261125-000123","label":"energy-A"}}`), "")
	if err != nil || evs[0].Err != nil {
		b.Fatal(err, evs[0].Err)
	}
	ev := evs[0]
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev.Hash()
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			legacyHash(&ev)
		}
	})
}
