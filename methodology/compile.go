package methodology

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/ext"
)

// Methodology is one loaded, compiled and checked version of a methodology
// document. It is immutable after Load; EffectiveFrom and Status are set by
// the registry before the Methodology is handed to NewEngine.
type Methodology struct {
	// Doc is the parsed document. Treat it as read-only.
	Doc Document
	// EffectiveFrom is when the approved version starts to apply (zero:
	// always). Set by the registry.
	EffectiveFrom time.Time
	// Status is the lifecycle status ("" is treated as approved, for
	// documents loaded from files).
	Status string

	hash      string
	canonical []byte

	params   []boundParam // fixed first, then monitored, in document order
	varIndex map[string]int
	nvars    int
	factors  []FactorUse
	discount float64 // (100 - pct) / 100
	// shapes are the product forms of baseline, project and leakage (nil
	// when a term is absent or not a product), for Calc.Terms.
	shapes [3][]productAlt

	applicability, baseline, project, leakage cel.Program
}

type boundParam struct {
	Parameter
	slot  int
	scale float64 // value in declared unit × scale = value in base units
	value any     // fixed: the base-unit value
}

// Fixed event variables, in activation slot order.
const (
	slotParams = iota
	slotEvidence
	slotPartner
	slotOccurredAt
	slotLocalHour
	nEventSlots
)

// ID returns the methodology id (the behavior it credits).
func (m *Methodology) ID() string { return m.Doc.ID }

// Version returns the semver version.
func (m *Methodology) Version() string { return m.Doc.Version }

// Scenario returns eat, wear, use or travel.
func (m *Methodology) Scenario() string { return m.Doc.Scenario }

// Hash returns the hex SHA-256 of the canonical form.
func (m *Methodology) Hash() string { return m.hash }

// Canonical returns the canonical JSON form (sorted keys) that Hash covers.
func (m *Methodology) Canonical() []byte { return append([]byte(nil), m.canonical...) }

// Reporters returns the partner ids allowed to report this behavior.
func (m *Methodology) Reporters() []string { return append([]string(nil), m.Doc.Reporters...) }

// Excludes returns the behaviors that may not also be credited for the
// same real-world act.
func (m *Methodology) Excludes() []string {
	return append([]string(nil), m.Doc.Exclusivity.Excludes...)
}

// Title returns the title in lang ("zh" or "en").
func (m *Methodology) Title(lang string) string { return m.Doc.Title.Get(lang) }

// FactorRefs returns the factors used, by parameter.
func (m *Methodology) FactorRefs() []FactorUse { return append([]FactorUse(nil), m.factors...) }

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// maxExprLen bounds an expression's source. With loops refused by the
// unit checker, evaluation cost is bounded by expression size.
const maxExprLen = 2000

// baseEnv declares the event variables every expression sees.
var baseEnv = mustEnv(cel.NewEnv(
	cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("evidence", cel.MapType(cel.StringType, cel.DynType)),
	cel.Variable("partner", cel.StringType),
	cel.Variable("occurred_at", cel.TimestampType),
	cel.Variable("local_hour", cel.IntType),
	ext.Math(),
))

func mustEnv(e *cel.Env, err error) *cel.Env {
	if err != nil {
		panic(err)
	}
	return e
}

// compile resolves factors, checks units, and compiles every expression.
func compile(ix *posIndex, d *Document, factors *Factors) (*Methodology, Problems) {
	var ps Problems
	add := func(path, format string, args ...any) { ps = append(ps, ix.problem(path, format, args...)) }
	m := &Methodology{Doc: *d, varIndex: map[string]int{
		"params": slotParams, "evidence": slotEvidence, "partner": slotPartner,
		"occurred_at": slotOccurredAt, "local_hour": slotLocalHour,
	}}
	m.discount = (100 - d.Conservativeness.UncertaintyDiscountPct) / 100
	units := map[string]dims{}
	var decls []cel.EnvOption
	slot := nEventSlots
	order := make([]int, 0, len(d.Parameters))
	for i, p := range d.Parameters {
		if p.Kind == "fixed" {
			order = append(order, i)
		}
	}
	for i, p := range d.Parameters {
		if p.Kind != "fixed" {
			order = append(order, i)
		}
	}
	for _, i := range order {
		p := d.Parameters[i]
		path := fmt.Sprintf("parameters.%d", i)
		bp := boundParam{Parameter: p, slot: slot, scale: 1}
		typ := cel.DoubleType
		if p.Type == "string" {
			typ = cel.StringType
		} else if p.Type == "bool" {
			typ = cel.BoolType
		}
		if p.Unit != "" {
			u, err := ParseUnit(p.Unit)
			if err != nil {
				add(path+".unit", "%v", err)
			} else {
				bp.scale = u.Scale
				units[p.Name] = u.Dims
			}
		}
		if p.Kind == "fixed" {
			f, ok := factors.Get(p.Factor)
			switch {
			case !ok:
				add(path+".factor", "unknown factor %q (factors are referenced as id@version)", p.Factor)
			case f.Unit != p.Unit:
				add(path+".unit", "unit mismatch: parameter %s declares %q but factor %s is in %q", p.Name, p.Unit, p.Factor, f.Unit)
			case p.Value != nil && *p.Value != f.Value:
				add(path+".value", "value %v differs from factor %s value %v", *p.Value, p.Factor, f.Value)
			default:
				bp.value = f.Value * bp.scale
				m.factors = append(m.factors, FactorUse{Param: p.Name, Ref: f.Ref(), Value: f.Value, Unit: f.Unit, Source: sourceLine(f), ShortSource: shortSource(f)})
			}
		}
		if p.Kind == "monitored" && p.Default != nil {
			if _, msg := coerce(&bp, p.Default); msg != "" {
				add(path+".default", "default: %s", msg)
			}
		}
		m.varIndex[p.Name] = slot
		decls = append(decls, cel.Variable(p.Name, typ))
		m.params = append(m.params, bp)
		slot++
	}
	m.nvars = slot
	if len(ps) > 0 {
		return nil, ps
	}
	env, err := baseEnv.Extend(decls...)
	if err != nil {
		add("parameters", "cannot declare parameters: %v", err)
		return nil, ps
	}
	uc := &unitChecker{units: units}
	var lastExpr celast.Expr // the checked expression prog compiled last
	prog := func(path, src string, want *cel.Type, mass bool) cel.Program {
		lastExpr = nil
		if strings.TrimSpace(src) == "" {
			return nil
		}
		if len(src) > maxExprLen {
			add(path, "expression is longer than %d characters", maxExprLen)
			return nil
		}
		ast, iss := env.Compile(src)
		if iss != nil && iss.Err() != nil {
			for _, e := range iss.Errors() {
				ps = append(ps, ix.exprProblem(path, e.Location.Line(), e.Location.Column(), e.Message))
			}
			return nil
		}
		if !ast.OutputType().IsExactType(want) {
			hint := ""
			if want == cel.DoubleType && ast.OutputType().IsExactType(cel.IntType) {
				hint = " (write numbers as 0.0, 1.0)"
			}
			add(path, "expression has type %s, want %s%s", ast.OutputType(), want, hint)
			return nil
		}
		{
			native := ast.NativeRep()
			uc.info = native.SourceInfo()
			uc.errs = nil
			u := uc.infer(native.Expr())
			if mass && len(uc.errs) == 0 && !(u.num && (u.zero || u.d.equal(co2eMass))) {
				what := "not a number with a unit"
				if u.num {
					what = "in " + u.d.String()
				}
				uc.errs = append(uc.errs, unitErr{native.Expr().ID(), "result is " + what + ", want a CO2e mass (e.g. gCO2e/order × order)"})
			}
			for _, e := range uc.errs {
				loc := uc.info.GetStartLocation(e.id)
				ps = append(ps, ix.exprProblem(path, loc.Line(), loc.Column(), "unit error: "+e.msg))
			}
			if len(uc.errs) > 0 {
				return nil
			}
		}
		p, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			add(path, "cannot plan expression: %v", err)
			return nil
		}
		lastExpr = ast.NativeRep().Expr()
		return p
	}
	app := d.Applicability
	if strings.TrimSpace(app) == "" {
		app = "true"
	}
	m.applicability = prog("applicability", app, cel.BoolType, false)
	for i, t := range [3]struct {
		dst *cel.Program
		src string
	}{{&m.baseline, d.Baseline}, {&m.project, d.Project}, {&m.leakage, d.Leakage}} {
		*t.dst = prog(termNames[i], t.src, cel.DoubleType, true)
		if lastExpr != nil && m.nvars <= 64 {
			if alts, ok := productShapes(lastExpr, m.varIndex); ok {
				m.shapes[i] = alts
			}
		}
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return m, nil
}

func sourceLine(f *Factor) string {
	s := f.Source.Publisher + ", " + f.Source.Document
	if f.Year > 0 {
		s += fmt.Sprintf(" (%d)", f.Year)
	}
	return s
}

// coerce converts an event value to the parameter's CEL value in base
// units, or returns a refusal detail.
func coerce(p *boundParam, raw any) (any, string) {
	switch p.Type {
	case "string":
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Sprintf("params.%s must be a string", p.Name)
		}
		if len(p.Enum) > 0 {
			for _, e := range p.Enum {
				if e == s {
					return s, ""
				}
			}
			return nil, fmt.Sprintf("params.%s = %q is not one of %s", p.Name, s, strings.Join(p.Enum, ", "))
		}
		return s, ""
	case "bool":
		b, ok := raw.(bool)
		if !ok {
			return nil, fmt.Sprintf("params.%s must be true or false", p.Name)
		}
		return b, ""
	}
	f, ok := toFloat(raw)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Sprintf("params.%s must be a number", p.Name)
	}
	if p.Type == "integer" && f != math.Trunc(f) {
		return nil, fmt.Sprintf("params.%s must be a whole number", p.Name)
	}
	if (p.Min != nil && f < *p.Min) || (p.Max != nil && f > *p.Max) {
		return nil, fmt.Sprintf("params.%s = %v %s is outside [%v, %v]", p.Name, f, p.Unit, *p.Min, *p.Max)
	}
	return float64(f * p.scale), ""
}
