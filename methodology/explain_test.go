package methodology_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/methodology"
)

var explainAt = time.Date(2026, 8, 8, 9, 30, 0, 0, time.UTC)

// TestExplain pins the first line of the explanation, built from the calc
// record alone, for shipped methodologies in both languages.
func TestExplain(t *testing.T) {
	e := shippedEngine(t)
	clothing := methodology.Event{ID: "c1", Partner: "xianyu", Behavior: "xianyu.secondhand_clothing", OccurredAt: explainAt,
		Params: map[string]any{"order_id": "X1", "weight": 0.5}, Evidence: map[string]any{"order_id": "X1"}}
	gz := methodology.Event{ID: "g1", Partner: "tmall", Behavior: "travel.metro_trip", OccurredAt: explainAt,
		Params: map[string]any{"trip_id": "M2", "city": "GZ"}, Evidence: map[string]any{"ride_record": "R2"}}
	for _, tc := range []struct {
		name   string
		ev     methodology.Event
		used   methodology.Usage
		en, zh string
	}{
		{
			name: "NoCutleryDiscount",
			ev: methodology.Event{ID: "e1", Partner: "eleme", Behavior: "eleme.no_cutlery", OccurredAt: explainAt,
				Params: map[string]any{"order_id": "E1"}, Evidence: map[string]any{"cutlery_choice": "none"}},
			en: "11.13 g = 15.9 gCO2e/order (Ele.me (Alibaba local services), 2022) × 1 order = 15.9 g, less a 30% uncertainty discount (4.77 g), floored to whole mg.",
			zh: "11.13 g = 15.9 gCO2e/order（Ele.me (Alibaba local services), 2022） × 1 order = 15.9 g，扣除 30% 不确定性折扣（4.77 g），向下取整到毫克。",
		},
		{
			name: "NoCutleryDailyCap",
			ev: methodology.Event{ID: "e2", Partner: "eleme", Behavior: "eleme.no_cutlery", OccurredAt: explainAt,
				Params: map[string]any{"order_id": "E2"}, Evidence: map[string]any{"cutlery_choice": "none"}},
			used: methodology.Usage{DayMG: 33000},
			en:   "390 mg = 15.9 gCO2e/order (Ele.me (Alibaba local services), 2022) × 1 order = 15.9 g, less a 30% uncertainty discount (4.77 g) = 11.13 g, capped at 390 mg by the daily cap, floored to whole mg.",
			zh:   "390 mg = 15.9 gCO2e/order（Ele.me (Alibaba local services), 2022） × 1 order = 15.9 g，扣除 30% 不确定性折扣（4.77 g） = 11.13 g，受每日上限约束为 390 mg，向下取整到毫克。",
		},
		{
			name: "MetroDistanceProject",
			ev:   metroEvent,
			en:   "1.3082 kg: baseline 0.272 kgCO2/person-km (Beijing Municipal Administration for Market Regulation, 2024) × 12.4 person-km = 3.3728 kg; project 0.061 kgCO2/person-km (Beijing Municipal Administration for Market Regulation, 2024) × 12.4 person-km = 756.4 g; 3.3728 kg − 756.4 g = 2.6164 kg, less a 50% uncertainty discount (1.3082 kg), floored to whole mg.",
			zh:   "1.3082 kg：基线 0.272 kgCO2/person-km（Beijing Municipal Administration for Market Regulation, 2024） × 12.4 person-km = 3.3728 kg；项目 0.061 kgCO2/person-km（Beijing Municipal Administration for Market Regulation, 2024） × 12.4 person-km = 756.4 g；3.3728 kg − 756.4 g = 2.6164 kg，扣除 50% 不确定性折扣（1.3082 kg），向下取整到毫克。",
		},
		{
			// The other branch of the ternary: the Beijing factors are in
			// the record but were not used, so they are not in the sentence.
			name: "MetroGuangzhouBranch",
			ev:   gz,
			en:   "257.75 g = 0.5155 kgCO2e/trip (Guangdong carbon-inclusion programme, Guangdong carbon-inclusion) × 1 trip = 515.5 g, less a 50% uncertainty discount (257.75 g), floored to whole mg.",
			zh:   "257.75 g = 0.5155 kgCO2e/trip（Guangdong carbon-inclusion programme, Guangdong carbon-inclusion） × 1 trip = 515.5 g，扣除 50% 不确定性折扣（257.75 g），向下取整到毫克。",
		},
		{
			name: "SecondHandClothingDefaultCarton",
			ev:   clothing,
			en:   "702.45 g: baseline 3.6 kgCO2e/kg (WRAP (UK), WRAP-based estimates of emissions…) × 0.5 kg × 64.6% (WRAP (UK), WRAP study on the reuse of clothing) = 1.1628 kg; project 0.531 kgCO2e/kg (FEFCO and Cepi Container Board, 2021) × 0.3 kg = 159.3 g; 1.1628 kg − 159.3 g = 1.0035 kg, less a 30% uncertainty discount (301.05 g), floored to whole mg.",
			zh:   "702.45 g：基线 3.6 kgCO2e/kg（WRAP (UK), WRAP-based estimates of emissions…） × 0.5 kg × 64.6%（WRAP (UK), WRAP study on the reuse of clothing） = 1.1628 kg；项目 0.531 kgCO2e/kg（FEFCO and Cepi Container Board, 2021） × 0.3 kg = 159.3 g；1.1628 kg − 159.3 g = 1.0035 kg，扣除 30% 不确定性折扣（301.05 g），向下取整到毫克。",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := e.Evaluate(tc.ev, tc.used)
			if err != nil || r.Calc == nil {
				t.Fatalf("%+v %v", r, err)
			}
			// Only the stored record counts: explain a decoded copy.
			var c methodology.Calc
			if err := json.Unmarshal(r.Calc.Canonical(), &c); err != nil {
				t.Fatal(err)
			}
			for lang, want := range map[string]string{"en": tc.en, "zh": tc.zh} {
				got := c.Explain(lang)
				first, rest, _ := strings.Cut(got, "\n")
				if first != want {
					t.Errorf("%s:\n got %s\nwant %s", lang, first, want)
				}
				if !strings.Contains(rest, tc.ev.Behavior+"@1.0.0") {
					t.Errorf("%s: second line does not name the version: %s", lang, rest)
				}
			}
		})
	}
}

// TestExplainTermShapes covers terms that are not plain products of
// parameters: a literal coefficient is shown, a term that is not a product
// is explained by its value only.
func TestExplainTermShapes(t *testing.T) {
	for _, tc := range []struct {
		name, baseline, want string
	}{
		{"Coefficient", "2.0 * ef * orders", "40 g = 2 × 15.9 gCO2e/order (P, 2022) × 2 order = 63.6 g, less a 30% uncertainty discount (19.08 g) = 44.52 g, capped at 40 g by the daily cap, floored to whole mg."},
		{"NotAProduct", "ef * orders + ef * orders", "40 g = baseline 63.6 g, less a 30% uncertainty discount (19.08 g) = 44.52 g, capped at 40 g by the daily cap, floored to whole mg."},
		{"TernaryOtherBranch", "'orders > 1.0 ? ef * orders : ef_trip * trips'", "22.26 g = 15.9 gCO2e/order (P, 2022) × 2 order = 31.8 g, less a 30% uncertainty discount (9.54 g), floored to whole mg."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(base, "baseline: ef * orders", "baseline: "+tc.baseline, 1)
			m, err := methodology.Load("t.yaml", []byte(src), mustFactors(t))
			if err != nil {
				t.Fatal(err)
			}
			e, err := methodology.NewEngine([]*methodology.Methodology{m}, mustFactors(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.Evaluate(methodology.Event{ID: "x", Partner: "eleme", Behavior: "t.thing", OccurredAt: explainAt,
				Params: map[string]any{"orders": 2}, Evidence: map[string]any{"receipt": "r"}}, methodology.Usage{})
			if err != nil || r.Calc == nil {
				t.Fatalf("%+v %v", r, err)
			}
			if got, _, _ := strings.Cut(r.Calc.Explain("en"), "\n"); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestRecomputeVersion1 shows that a record written by engine version 1
// (no terms, inputs or short sources) still recomputes to the same bytes,
// and is explained by its values.
func TestRecomputeVersion1(t *testing.T) {
	e := shippedEngine(t)
	r, err := e.Evaluate(metroEvent, methodology.Usage{})
	if err != nil || r.Calc == nil {
		t.Fatalf("%+v %v", r, err)
	}
	var v1 map[string]any
	if err := json.Unmarshal(r.Calc.Canonical(), &v1); err != nil {
		t.Fatal(err)
	}
	delete(v1, "terms")
	delete(v1, "inputs")
	v1["engine_version"] = "opencarbon-methodology/1"
	for _, f := range v1["factors"].([]any) {
		delete(f.(map[string]any), "short_source")
	}
	b, _ := json.Marshal(v1)
	var old methodology.Calc
	if err := json.Unmarshal(b, &old); err != nil {
		t.Fatal(err)
	}
	if string(old.Canonical()) != string(b) {
		t.Fatalf("version 1 record does not round-trip:\n%s\n%s", old.Canonical(), b)
	}
	again, err := e.Recompute(&old)
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash() != old.Hash() {
		t.Fatalf("recomputed version 1 record differs:\n%s\n%s", again.Canonical(), old.Canonical())
	}
	want := "1.3082 kg: baseline 3.3728 kg; project 756.4 g; 3.3728 kg − 756.4 g = 2.6164 kg, less a 50% uncertainty discount (1.3082 kg), floored to whole mg."
	if got, _, _ := strings.Cut(old.Explain("en"), "\n"); got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
}
