// Package methodology turns a reported low-carbon behavior into milligrams
// of CO2e avoided, using reviewed, versioned, public methodology documents
// and sourced emission factors, and keeps their review lifecycle.
//
// A methodology is data (YAML or JSON, see docs/methodology.md): its CEL
// expressions are compiled, type-checked and unit-checked once when the
// document is loaded, and an Engine evaluates approved versions purely and
// deterministically, producing a Calc record anyone can recompute.
//
// This package must never credit anything itself, hold balances, talk
// HTTP, or evaluate a methodology that is not approved: it computes and
// explains; intake and ledger decide and record. It must never use a float
// in a stored result (results are int64 mg, floored once) and never change
// an approved version (a change is a new version).
package methodology

// Scenarios a methodology belongs to.
const (
	ScenarioEat    = "eat"
	ScenarioWear   = "wear"
	ScenarioUse    = "use"
	ScenarioTravel = "travel"
)

// EngineVersion names the evaluation semantics and record layout of every
// Calc. It changes whenever the arithmetic (discount, caps, rounding) or
// the record's fields change. Version 2 added Terms, Inputs and
// FactorUse.ShortSource (for Explain) with the same arithmetic as version
// 1; Recompute rebuilds a version 1 record in its own layout.
const EngineVersion = "opencarbon-methodology/2"

// engineVersion1 is the first record layout (no Terms, Inputs or
// FactorUse.ShortSource).
const engineVersion1 = "opencarbon-methodology/1"

// Text is a bilingual string.
type Text struct {
	EN string `json:"en" yaml:"en"`
	ZH string `json:"zh" yaml:"zh"`
}

// Get returns the text in lang ("zh" or "en"), falling back to English.
func (t Text) Get(lang string) string {
	if lang == "zh" && t.ZH != "" {
		return t.ZH
	}
	return t.EN
}

// Reference is a standard, study or published figure a methodology relies on.
type Reference struct {
	Title     string `json:"title" yaml:"title"`
	Publisher string `json:"publisher,omitempty" yaml:"publisher"`
	Year      int    `json:"year,omitempty" yaml:"year"`
	URL       string `json:"url,omitempty" yaml:"url"`
}

// Boundary says what the methodology counts and which gases.
type Boundary struct {
	Includes []string `json:"includes,omitempty" yaml:"includes"`
	Excludes []string `json:"excludes,omitempty" yaml:"excludes"`
	Gases    []string `json:"gases" yaml:"gases"`
}

// Parameter is a fixed value taken from the factor library or a monitored
// value taken from the event's params.
type Parameter struct {
	Name string `json:"name" yaml:"name"`
	// Kind is "fixed" or "monitored".
	Kind string `json:"kind" yaml:"kind"`
	// Unit is the parameter's unit ("gCO2e/order", "person-km", "kg", "%");
	// for a fixed parameter it must equal the factor's unit exactly.
	Unit string `json:"unit,omitempty" yaml:"unit"`
	// Factor is "id@version" of the factor a fixed parameter takes its value from.
	Factor string `json:"factor,omitempty" yaml:"factor"`
	// Value, when given on a fixed parameter, must equal the factor's value
	// (a readable copy, checked at load).
	Value *float64 `json:"value,omitempty" yaml:"value"`
	// Type of a monitored parameter: number, integer, string or bool.
	Type string `json:"type,omitempty" yaml:"type"`
	// Min and Max bound a numeric monitored parameter (inclusive).
	Min *float64 `json:"min,omitempty" yaml:"min"`
	Max *float64 `json:"max,omitempty" yaml:"max"`
	// Enum restricts a string monitored parameter.
	Enum []string `json:"enum,omitempty" yaml:"enum"`
	// Default is used when the event omits a monitored parameter; without
	// it the parameter is required.
	Default any `json:"default,omitempty" yaml:"default"`
	// Description explains the parameter.
	Description string `json:"description,omitempty" yaml:"description"`
}

// Conservativeness holds the bounds that keep a credit on the safe side.
type Conservativeness struct {
	// UncertaintyDiscountPct is taken off the net reduction (0–100).
	UncertaintyDiscountPct float64 `json:"uncertainty_discount_pct" yaml:"uncertainty_discount_pct"`
	// DailyCapMG and YearlyCapMG cap what one person can be credited for
	// this behavior per local day and year (0 = no cap).
	DailyCapMG  int64 `json:"daily_cap_mg" yaml:"daily_cap_mg"`
	YearlyCapMG int64 `json:"yearly_cap_mg" yaml:"yearly_cap_mg"`
	// LowerBoundMG: a net reduction after the discount below this is not
	// credited (refusal not_applicable): tiny claims are mostly noise.
	LowerBoundMG int64 `json:"lower_bound_mg" yaml:"lower_bound_mg"`
}

// Exclusivity declares behaviors that may not also be credited for the
// same real-world act, and the event field that identifies the act.
type Exclusivity struct {
	// Act is "params.NAME" or "evidence.NAME".
	Act      string   `json:"act,omitempty" yaml:"act"`
	Excludes []string `json:"excludes,omitempty" yaml:"excludes"`
}

// VectorEvent is the event of a test vector; behavior is the document's id.
type VectorEvent struct {
	Partner    string         `json:"partner" yaml:"partner"`
	OccurredAt string         `json:"occurred_at,omitempty" yaml:"occurred_at"`
	Params     map[string]any `json:"params,omitempty" yaml:"params"`
	Evidence   map[string]any `json:"evidence,omitempty" yaml:"evidence"`
}

// Vector is a test vector: an event, the person's usage so far, and the
// expected mg or refusal code.
type Vector struct {
	Name          string      `json:"name" yaml:"name"`
	Event         VectorEvent `json:"event" yaml:"event"`
	Used          Usage       `json:"used" yaml:"used"`
	ExpectMG      int64       `json:"expect_mg,omitempty" yaml:"expect_mg"`
	ExpectRefusal string      `json:"expect_refusal,omitempty" yaml:"expect_refusal"`
}

// Document is a methodology document as written by its author. Its
// canonical JSON (sorted keys) is hashed to identify the version.
type Document struct {
	ID               string           `json:"id" yaml:"id"`
	Scenario         string           `json:"scenario" yaml:"scenario"`
	Version          string           `json:"version" yaml:"version"`
	Supersedes       string           `json:"supersedes,omitempty" yaml:"supersedes"`
	Title            Text             `json:"title" yaml:"title"`
	Summary          Text             `json:"summary" yaml:"summary"`
	References       []Reference      `json:"references" yaml:"references"`
	Reporters        []string         `json:"reporters" yaml:"reporters"`
	Boundary         Boundary         `json:"boundary" yaml:"boundary"`
	Applicability    string           `json:"applicability" yaml:"applicability"`
	Parameters       []Parameter      `json:"parameters" yaml:"parameters"`
	Baseline         string           `json:"baseline" yaml:"baseline"`
	Project          string           `json:"project,omitempty" yaml:"project"`
	Leakage          string           `json:"leakage,omitempty" yaml:"leakage"`
	Conservativeness Conservativeness `json:"conservativeness" yaml:"conservativeness"`
	Exclusivity      Exclusivity      `json:"exclusivity" yaml:"exclusivity"`
	Evidence         []string         `json:"evidence,omitempty" yaml:"evidence"`
	Rounding         string           `json:"rounding" yaml:"rounding"`
	Vectors          []Vector         `json:"vectors" yaml:"vectors"`
}
