package jsonenc_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/opencarbon/opencarbon/internal/jsonenc"
)

// marshal is the definition: what encoding/json writes.
func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return b
}

func nested(n int) any {
	var v any = "leaf"
	for i := range n {
		if i%2 == 0 {
			v = []any{v}
		} else {
			v = map[string]any{"k": v}
		}
	}
	return v
}

func TestAppendValue(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		ok   bool
	}{
		{"null", nil, true},
		{"bools", []any{true, false}, true},
		{"ints", []any{0, int64(-1 << 62), int32(7)}, true},
		{"floats", []any{0.0, -0.0, 1.5, 1e20, 1e21, 1e-6, 1e-7, -2.5e-9, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64}, true},
		{"strings", []any{"", "plain", "é 中文", "<a&b>", "\"\\/", "\x00\x1f\x7f", "\u2028\u2029", "\xff\xfeok"}, true},
		{"object keys sorted by bytes", map[string]any{"b": 1.0, "a": nil, "B": "x", "é": true, "a\x00": 2.0}, true},
		{"nil map", map[string]any(nil), true},
		{"nil slice", []any(nil), true},
		{"empty", map[string]any{"m": map[string]any{}, "s": []any{}}, true},
		{"deep but allowed", nested(jsonenc.MaxDepth), true},
		{"too deep", nested(jsonenc.MaxDepth + 2), false},
		{"NaN", map[string]any{"x": math.NaN()}, false},
		{"Inf", []any{math.Inf(-1)}, false},
		{"other type", []any{uint8(1)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := jsonenc.AppendValue([]byte("prefix"), tc.v)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if want := append([]byte("prefix"), marshal(t, tc.v)...); !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// TestAppendStringEveryByte compares string escaping on every single byte
// and rune boundary case.
func TestAppendStringEveryByte(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), string([]byte{byte(c)}), "a" + string([]byte{byte(c)}) + "b"} {
			if got, want := jsonenc.AppendString(nil, s), marshal(t, s); !bytes.Equal(got, want) {
				t.Fatalf("%q: got %s want %s", s, got, want)
			}
		}
	}
}

// FuzzAppendValue: for any JSON document, re-encoding what encoding/json
// decodes gives json.Marshal's bytes.
func FuzzAppendValue(f *testing.F) {
	for _, s := range []string{`null`, `{"b":[1,2.5,"x"],"a":{"\u2028":true}}`, `[1e21,1e-7,-0,"\ud800"]`, `"<&>"`, `{"":{"":[]}}`, strings.Repeat("[", 50) + strings.Repeat("]", 50)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var v any
		if json.Unmarshal(doc, &v) != nil {
			return
		}
		got, ok := jsonenc.AppendValue(nil, v)
		if !ok {
			if bytes.Count(doc, []byte("["))+bytes.Count(doc, []byte("{")) > jsonenc.MaxDepth {
				return // possibly nested deeper than MaxDepth
			}
			t.Fatalf("not ok for decoded %s", doc)
		}
		if want := marshal(t, v); !bytes.Equal(got, want) {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
}

func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, 1, -1.5, 1e21, 1e-7, 123.456, math.MaxFloat64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		got, ok := jsonenc.AppendFloat(nil, x)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			if ok {
				t.Fatalf("%v: ok", x)
			}
			return
		}
		if want := marshal(t, x); !ok || !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s (%v) want %s", x, got, ok, want)
		}
	})
}
