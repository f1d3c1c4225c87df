package methodology_test

import (
	"strings"
	"testing"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
)

const testFactors = `factors:
  - {id: t.per_order, version: "1", value: 15.9, unit: gCO2e/order, region: CN, year: 2022, method: test,
     source: {publisher: P, document: D}, status: approved, uncertainty_pct: 50}
  - {id: t.per_km, version: "1", value: 0.272, unit: kgCO2/person-km, region: CN-BJ, year: 2024, method: test,
     source: {publisher: P, document: D}, status: approved}
  - {id: t.per_trip, version: "1", value: 0.5, unit: kgCO2e/trip, region: CN, year: 2024, method: test,
     source: {publisher: P, document: D}, status: approved}
`

// base is a valid document; each case replaces one line.
const base = `id: t.thing
scenario: eat
version: 1.0.0
title: {en: T, zh: T}
summary: {en: S, zh: S}
references: [{title: R}]
reporters: [eleme]
boundary: {gases: [CO2]}
applicability: "true"
parameters:
  - {name: ef, kind: fixed, factor: t.per_order@1, unit: gCO2e/order}
  - {name: ef_km, kind: fixed, factor: t.per_km@1, unit: kgCO2/person-km}
  - {name: ef_trip, kind: fixed, factor: t.per_trip@1, unit: kgCO2e/trip}
  - {name: orders, kind: monitored, type: integer, unit: order, min: 1, max: 3, default: 1}
  - {name: distance, kind: monitored, type: number, unit: person-km, min: 0, max: 50, default: 0}
  - {name: trips, kind: monitored, type: integer, unit: trip, min: 1, max: 1, default: 1}
  - {name: city, kind: monitored, type: string, enum: [BJ, GZ], default: BJ}
baseline: ef * orders
project: "0.0"
conservativeness: {uncertainty_discount_pct: 30, daily_cap_mg: 40000, yearly_cap_mg: 1000000}
evidence: [receipt]
rounding: floor
vectors:
  - {name: one, event: {partner: eleme, evidence: {receipt: r}}, expect_mg: 11130}
`

func mustFactors(t testing.TB) *methodology.Factors {
	t.Helper()
	fs, err := methodology.ParseFactors("factors.yaml", []byte(testFactors))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestLoadOK(t *testing.T) {
	m, err := methodology.Load("t.yaml", []byte(base), mustFactors(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.RunVectors(nil) {
		if !r.Pass {
			t.Fatalf("%s: %s", r.Name, r.Reason)
		}
	}
	// JSON is accepted too and hashes the same.
	m2, err := methodology.Load("t.json", m.Canonical(), mustFactors(t))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Hash() != m.Hash() {
		t.Fatalf("hash of canonical JSON %s != %s", m2.Hash(), m.Hash())
	}
}

// TestLoadErrors covers every class of load error with its position.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, old, new string
		line           int
		msg            string
	}{
		// Schema.
		{"ErrUnknownField", "rounding: floor", "rounding: floor\ncolour: red", 23, "field colour not found"},
		{"ErrYAMLSyntax", "title: {en: T, zh: T}", "title: {en: T, zh: T", 0, "did not find expected"},
		{"ErrBadID", "id: t.thing", "id: Thing", 1, "lowercase dotted"},
		{"ErrScenario", "scenario: eat", "scenario: fly", 2, "scenario"},
		{"ErrSemver", "version: 1.0.0", "version: v1", 3, "semver"},
		{"ErrRounding", "rounding: floor", "rounding: nearest", 22, "floor"},
		{"ErrNoCap", "daily_cap_mg: 40000, yearly_cap_mg: 1000000", "daily_cap_mg: 0, yearly_cap_mg: 0", 20, "cap is required"},
		{"ErrDiscount", "uncertainty_discount_pct: 30", "uncertainty_discount_pct: 100", 20, "discount"},
		{"ErrReservedName", "{name: orders,", "{name: params,", 14, "reserved"},
		{"ErrMonitoredNoRange", "min: 0, max: 50, default: 0}", "default: 0}", 15, "min and max"},
		{"ErrExcludesNoAct", "evidence: [receipt]", "exclusivity: {excludes: [t.other]}\nevidence: [receipt]", 21, "act"},
		{"ErrVectorExpect", "expect_mg: 11130}", "expect_refusal: nope}", 24, "unknown refusal code"},
		// Factors and units.
		{"ErrUnknownFactor", "factor: t.per_order@1,", "factor: t.per_order@9,", 11, "unknown factor"},
		{"ErrUnitKgVsG", "factor: t.per_order@1, unit: gCO2e/order", "factor: t.per_order@1, unit: kgCO2e/order", 11, "unit mismatch"},
		{"ErrUnknownUnit", "unit: order, min: 1", "unit: odrer, min: 1", 14, "unknown unit"},
		{"ErrPerKmTimesTrips", "baseline: ef * orders", "baseline: ef_km * trips", 18, "result is in mgCO2e*trip/person-km"},
		{"ErrPerTripTimesKm", "baseline: ef * orders", "baseline: ef_trip * distance", 18, "want a CO2e mass"},
		{"ErrAddDifferentUnits", "baseline: ef * orders", "baseline: ef * orders + distance", 18, "cannot add"},
		{"ErrAddPlainNumber", "baseline: ef * orders", "baseline: ef * orders + 5.0", 18, "cannot add"},
		{"ErrTernaryUnits", "baseline: ef * orders", `baseline: 'city == "GZ" ? ef_trip * trips : ef_km'`, 18, "cannot choose between"},
		{"ErrUndeclaredParamArithmetic", "baseline: ef * orders", "baseline: ef * double(params.n)", 18, "no declared unit"},
		{"ErrDimensionless", "project: \"0.0\"", "project: \"1.5\"", 19, "want a CO2e mass"},
		{"ErrCompareUnits", `applicability: "true"`, `applicability: "distance > ef_km"`, 9, "cannot compare"},
		// CEL.
		{"ErrCELSyntax", "baseline: ef * orders", "baseline: ef * (orders", 18, "Syntax error"},
		{"ErrCELUndeclared", "baseline: ef * orders", "baseline: ef * oders", 18, "undeclared reference"},
		{"ErrCELTypeMismatch", "baseline: ef * orders", "baseline: ef * city", 18, "no matching overload"},
		{"ErrCELIntResult", "project: \"0.0\"", "project: \"0\"", 19, "want double"},
		{"ErrLoop", `applicability: "true"`, `applicability: "[1, 2].all(x, x > 0)"`, 9, "loops"},
		{"ErrApplicabilityNotBool", `applicability: "true"`, `applicability: "orders"`, 9, "want bool"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(base, c.old, c.new, 1)
			if src == base {
				t.Fatalf("case does not change the document")
			}
			_, err := methodology.Load("t.yaml", []byte(src), mustFactors(t))
			if opencarbon.ErrorCode(err) != opencarbon.EInvalid {
				t.Fatalf("err = %v, want EInvalid", err)
			}
			ps := methodology.ProblemsOf(err)
			if len(ps) == 0 {
				t.Fatalf("no problems in %v", err)
			}
			found := false
			for _, p := range ps {
				if strings.Contains(p.Msg, c.msg) && (c.line == 0 || p.Line == c.line) {
					found = true
				}
			}
			if !found {
				t.Fatalf("want line %d %q, got:\n%v", c.line, c.msg, err)
			}
		})
	}
}

func TestParseUnit(t *testing.T) {
	cases := []struct {
		in    string
		scale float64
		ok    bool
	}{
		{"gCO2e/order", 1e3, true}, {"kgCO2e/kg", 1e3, true}, {"%", 0.01, true},
		{"kgCO2/person-km", 1e6, true}, {"kWh", 1, true}, {"g/order/km", 0, false}, {"", 0, false}, {"furlong", 0, false},
	}
	for _, c := range cases {
		u, err := methodology.ParseUnit(c.in)
		if (err == nil) != c.ok || (c.ok && u.Scale != c.scale) {
			t.Errorf("ParseUnit(%q) = %v, %v", c.in, u, err)
		}
	}
}
