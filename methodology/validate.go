package methodology

import (
	"fmt"
	"strings"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
)

// reserved names cannot be parameters: they are the event variables every
// expression sees, or CEL reserved words.
var reserved = map[string]bool{
	"params": true, "evidence": true, "partner": true, "occurred_at": true, "local_hour": true,
	"in": true, "as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true, "loop": true,
	"package": true, "namespace": true, "return": true, "var": true, "void": true,
	"while": true, "true": true, "false": true, "null": true, "math": true,
}

var refusalCodes = map[string]bool{
	opencarbon.ENotApplicable: true, opencarbon.EParamOutOfRange: true, opencarbon.EMissingEvidence: true,
	opencarbon.ECapReached: true, opencarbon.EReporterNotAllowed: true,
}

// validateDoc checks everything that does not need CEL or factors.
func validateDoc(ix *posIndex, d *Document) Problems {
	var ps Problems
	add := func(path, format string, args ...any) { ps = append(ps, ix.problem(path, format, args...)) }
	if !idPattern.MatchString(d.ID) {
		add("id", "id %q must be lowercase dotted words like eleme.no_cutlery", d.ID)
	}
	switch d.Scenario {
	case ScenarioEat, ScenarioWear, ScenarioUse, ScenarioTravel:
	default:
		add("scenario", "scenario %q must be one of eat, wear, use, travel", d.Scenario)
	}
	if !semverPattern.MatchString(d.Version) {
		add("version", "version %q is not semver (MAJOR.MINOR.PATCH)", d.Version)
	}
	if d.Supersedes != "" && !semverPattern.MatchString(d.Supersedes) {
		add("supersedes", "supersedes %q is not a semver version", d.Supersedes)
	}
	if d.Title.EN == "" || d.Title.ZH == "" {
		add("title", "title needs both en and zh")
	}
	if d.Summary.EN == "" || d.Summary.ZH == "" {
		add("summary", "summary needs both en and zh (say where the factors come from and why the result is conservative)")
	}
	if len(d.References) == 0 {
		add("references", "at least one reference is required")
	}
	for i, r := range d.References {
		if r.Title == "" {
			add(fmt.Sprintf("references.%d.title", i), "reference title is required")
		}
	}
	if len(d.Reporters) == 0 {
		add("reporters", "at least one reporter (partner id) is required")
	}
	for i, r := range d.Reporters {
		if !namePattern.MatchString(r) {
			add(fmt.Sprintf("reporters.%d", i), "reporter %q is not a partner id", r)
		}
	}
	if len(d.Boundary.Gases) == 0 {
		add("boundary.gases", "boundary.gases is required (e.g. [CO2, CH4, N2O])")
	}
	if strings.TrimSpace(d.Baseline) == "" {
		add("baseline", "baseline expression is required")
	}
	c := d.Conservativeness
	if c.UncertaintyDiscountPct < 0 || c.UncertaintyDiscountPct >= 100 {
		add("conservativeness.uncertainty_discount_pct", "uncertainty discount must be in [0, 100)")
	}
	if c.DailyCapMG < 0 || c.YearlyCapMG < 0 || c.LowerBoundMG < 0 {
		add("conservativeness", "caps and lower bound must be >= 0")
	}
	if c.DailyCapMG > 0 && c.YearlyCapMG > 0 && c.DailyCapMG > c.YearlyCapMG {
		add("conservativeness.daily_cap_mg", "daily cap exceeds the yearly cap")
	}
	if c.DailyCapMG == 0 && c.YearlyCapMG == 0 {
		add("conservativeness", "a per-person daily or yearly cap is required")
	}
	ex := d.Exclusivity
	if ex.Act != "" {
		src, key, ok := strings.Cut(ex.Act, ".")
		if !ok || (src != "params" && src != "evidence") || !namePattern.MatchString(key) {
			add("exclusivity.act", "act %q must be params.NAME or evidence.NAME", ex.Act)
		}
	}
	if len(ex.Excludes) > 0 && ex.Act == "" {
		add("exclusivity.act", "exclusivity.excludes needs an act field that identifies the real-world act")
	}
	for i, b := range ex.Excludes {
		if !idPattern.MatchString(b) || b == d.ID {
			add(fmt.Sprintf("exclusivity.excludes.%d", i), "excluded behavior %q must be another methodology id", b)
		}
	}
	for i, e := range d.Evidence {
		if !namePattern.MatchString(e) {
			add(fmt.Sprintf("evidence.%d", i), "evidence key %q must be a lowercase name", e)
		}
	}
	if d.Rounding != "floor" {
		add("rounding", "rounding %q: only \"floor\" is allowed (round down, once)", d.Rounding)
	}
	seen := map[string]bool{}
	for i, p := range d.Parameters {
		path := fmt.Sprintf("parameters.%d", i)
		if !namePattern.MatchString(p.Name) || reserved[p.Name] {
			add(path+".name", "parameter name %q must be a lowercase name and not a reserved word", p.Name)
		}
		if seen[p.Name] {
			add(path+".name", "parameter %q declared twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Kind {
		case "fixed":
			if p.Factor == "" {
				add(path+".factor", "a fixed parameter needs a factor reference id@version")
			}
			if p.Unit == "" {
				add(path+".unit", "a fixed parameter needs a unit")
			}
			if p.Type != "" || p.Min != nil || p.Max != nil || p.Enum != nil || p.Default != nil {
				add(path, "type, min, max, enum and default apply to monitored parameters only")
			}
		case "monitored":
			if p.Factor != "" || p.Value != nil {
				add(path, "a monitored parameter takes its value from the event, not a factor")
			}
			switch p.Type {
			case "number", "integer":
				if p.Unit == "" {
					add(path+".unit", "a numeric monitored parameter needs a unit (use \"1\" for a pure number)")
				}
				if p.Min == nil || p.Max == nil {
					add(path, "a numeric monitored parameter needs min and max")
				} else if *p.Min > *p.Max {
					add(path+".min", "min exceeds max")
				}
			case "string", "bool":
				if p.Unit != "" || p.Min != nil || p.Max != nil {
					add(path, "a %s parameter has no unit, min or max", p.Type)
				}
			default:
				add(path+".type", "type %q must be number, integer, string or bool", p.Type)
			}
		default:
			add(path+".kind", "kind %q must be fixed or monitored", p.Kind)
		}
	}
	if len(d.Vectors) == 0 {
		add("vectors", "at least one test vector is required")
	}
	for i, v := range d.Vectors {
		path := fmt.Sprintf("vectors.%d", i)
		if v.Name == "" {
			add(path+".name", "test vector needs a name")
		}
		if (v.ExpectMG > 0) == (v.ExpectRefusal != "") {
			add(path, "a test vector needs exactly one of expect_mg (> 0) or expect_refusal")
		}
		if v.ExpectRefusal != "" && !refusalCodes[v.ExpectRefusal] {
			add(path+".expect_refusal", "unknown refusal code %q", v.ExpectRefusal)
		}
		if v.Event.OccurredAt != "" {
			if _, err := time.Parse(time.RFC3339, v.Event.OccurredAt); err != nil {
				add(path+".event.occurred_at", "occurred_at must be RFC 3339: %v", err)
			}
		}
	}
	return ps
}
