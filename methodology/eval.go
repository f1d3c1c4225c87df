package methodology

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
	opencarbon "github.com/opencarbon/opencarbon"
)

// Event is one reported behavior as the methodology sees it.
type Event struct {
	ID         string         `json:"event_id"`
	Partner    string         `json:"partner"`
	Person     string         `json:"person"`
	Behavior   string         `json:"behavior"`
	OccurredAt time.Time      `json:"occurred_at"`
	Params     map[string]any `json:"params,omitempty"`
	Evidence   map[string]any `json:"evidence,omitempty"`
}

// Usage is what the person was already credited for this behavior in the
// cap windows (day and year of OccurredAt in the engine's time zone,
// Asia/Shanghai by default).
type Usage struct {
	DayMG  int64 `json:"day_mg" yaml:"day_mg"`
	YearMG int64 `json:"year_mg" yaml:"year_mg"`
}

// Result is the outcome of evaluating one event.
type Result struct {
	// MG is the credited reduction in mg CO2e, > 0 when credited.
	MG int64
	// Refusal is "" when credited, else one of opencarbon.ENotApplicable,
	// EParamOutOfRange, EMissingEvidence, ECapReached, EReporterNotAllowed.
	Refusal string
	// Detail is a human reason for a refusal.
	Detail string
	// Calc is the calculation record; always set when Refusal == "".
	Calc *Calc
}

// floorTolerance absorbs binary floating-point representation error before
// the single floor (15.9 g × 1000 may come out as 15899.999… mg).
const floorTolerance = 1e-6

func refuse(code, format string, args ...any) Result {
	return Result{Refusal: code, Detail: fmt.Sprintf(format, args...)}
}

// activation resolves CEL variables from a slot slice without maps.
type activation struct {
	m    *Methodology
	vals []any
	decl []float64 // numeric monitored values in their declared units, by slot
	read uint64    // bit i set when slot i < 64 was resolved
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	i, ok := a.m.varIndex[name]
	if !ok {
		return nil, false
	}
	if i < 64 {
		a.read |= 1 << i
	}
	return a.vals[i], true
}

// Parent implements interpreter.Activation; there is none.
func (a *activation) Parent() interpreter.Activation { return nil }

var activations = sync.Pool{New: func() any { return &activation{} }}

var emptyMap = map[string]any{}

// evaluate applies the methodology to ev. It is pure: the result depends
// only on ev, used, loc and the methodology.
func (m *Methodology) evaluate(ev Event, used Usage, loc *time.Location) Result {
	return m.prepare(ev, loc).apply(used)
}

// prepared is an evaluation up to the caps: the net reduction and its
// record (a refusal in res if the event is refused before the caps).
type prepared struct {
	m   *Methodology
	res Result // MG before the caps; Calc without usage, cap and result
}

// prepare is evaluate without the caps, the one step that depends on the
// person's usage so far.
func (m *Methodology) prepare(ev Event, loc *time.Location) prepared {
	return prepared{m: m, res: m.prepareResult(ev, loc)}
}

func (m *Methodology) prepareResult(ev Event, loc *time.Location) Result {
	d := &m.Doc
	allowed := false
	for _, r := range d.Reporters {
		if r == ev.Partner {
			allowed = true
			break
		}
	}
	if !allowed {
		return refuse(opencarbon.EReporterNotAllowed, "partner %q may not report %s (reporters: %v)", ev.Partner, d.ID, d.Reporters)
	}
	for _, k := range d.Evidence {
		v, ok := ev.Evidence[k]
		if !ok || v == nil || v == "" {
			return refuse(opencarbon.EMissingEvidence, "evidence.%s is required", k)
		}
	}
	a := activations.Get().(*activation)
	defer func() { a.m = nil; activations.Put(a) }()
	a.m = m
	if cap(a.vals) < m.nvars {
		a.vals = make([]any, m.nvars)
		a.decl = make([]float64, m.nvars)
	}
	a.vals = a.vals[:m.nvars]
	a.decl = a.decl[:m.nvars]
	params, evidence := ev.Params, ev.Evidence
	if params == nil {
		params = emptyMap
	}
	if evidence == nil {
		evidence = emptyMap
	}
	a.vals[slotParams] = params
	a.vals[slotEvidence] = evidence
	a.vals[slotPartner] = ev.Partner
	a.vals[slotOccurredAt] = ev.OccurredAt
	a.vals[slotLocalHour] = int64(ev.OccurredAt.In(loc).Hour())
	for i := range m.params {
		p := &m.params[i]
		if p.Kind == "fixed" {
			a.vals[p.slot] = p.value
			continue
		}
		raw, ok := params[p.Name]
		if !ok || raw == nil {
			if p.Default == nil {
				return refuse(opencarbon.EParamOutOfRange, "params.%s is required", p.Name)
			}
			raw = p.Default
		}
		v, msg := coerce(p, raw)
		if msg != "" {
			return refuse(opencarbon.EParamOutOfRange, "%s", msg)
		}
		a.vals[p.slot] = v
		if f, ok := toFloat(raw); ok {
			a.decl[p.slot] = f
		}
	}
	out, _, err := m.applicability.Eval(a)
	if err != nil {
		return refuse(opencarbon.ENotApplicable, "applicability could not be evaluated: %v", err)
	}
	if out != types.True {
		return refuse(opencarbon.ENotApplicable, "the event does not meet the applicability conditions of %s@%s", d.ID, d.Version)
	}
	var vals [3]float64
	var reads [3]uint64
	for i, p := range [3]cel.Program{m.baseline, m.project, m.leakage} {
		if p == nil {
			continue
		}
		a.read = 0
		out, _, err := p.Eval(a)
		reads[i] = a.read
		if err != nil {
			return refuse(opencarbon.ENotApplicable, "%s could not be evaluated: %v", [3]string{"baseline", "project", "leakage"}[i], err)
		}
		f, ok := out.(types.Double)
		if !ok || math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return refuse(opencarbon.ENotApplicable, "%s is not a finite number", [3]string{"baseline", "project", "leakage"}[i])
		}
		vals[i] = float64(f)
	}
	// Explicit float64 conversions keep each step individually rounded (no
	// fused multiply-add), so every platform gets the same bits.
	gross := float64(float64(vals[0]-vals[1]) - vals[2])
	after := float64(gross * m.discount)
	c := d.Conservativeness
	mg := int64(0)
	if after > 0 && after < 9e18 {
		mg = int64(math.Floor(after + floorTolerance))
	}
	if mg < 1 || mg < c.LowerBoundMG {
		return refuse(opencarbon.ENotApplicable, "net reduction %s mg after the %v%% discount is below the lower bound of %d mg", fmtFloat(after), c.UncertaintyDiscountPct, max(c.LowerBoundMG, 1))
	}
	terms, inputs := m.explainTerms(reads, vals, a)
	calc := &Calc{
		AfterDiscount:      fmtFloat(after),
		Baseline:           fmtFloat(vals[0]),
		Behavior:           d.ID,
		DiscountPct:        fmtFloat(c.UncertaintyDiscountPct),
		EngineVersion:      EngineVersion,
		EventID:            ev.ID,
		EvidenceKeys:       evidenceKeys(ev.Evidence),
		Factors:            m.factors,
		Gross:              fmtFloat(gross),
		Inputs:             inputs,
		Leakage:            fmtFloat(vals[2]),
		Methodology:        d.ID,
		MethodologyHash:    m.hash,
		MethodologyVersion: d.Version,
		OccurredAt:         ev.OccurredAt.UTC(),
		Params:             normalizeParams(ev.Params),
		Partner:            ev.Partner,
		Project:            fmtFloat(vals[1]),
		Terms:              terms,
	}
	return Result{MG: mg, Calc: calc}
}

// apply finishes p with the person's usage so far: the daily and yearly
// caps. p is not changed (it can be applied again, with other usage).
func (p prepared) apply(used Usage) Result {
	if p.res.Refusal != "" || p.m == nil {
		return p.res
	}
	d := &p.m.Doc
	c := d.Conservativeness
	room, capKind := int64(math.MaxInt64), ""
	if c.DailyCapMG > 0 {
		room, capKind = c.DailyCapMG-used.DayMG, "daily"
	}
	if c.YearlyCapMG > 0 && c.YearlyCapMG-used.YearMG < room {
		room, capKind = c.YearlyCapMG-used.YearMG, "yearly"
	}
	if room <= 0 {
		return refuse(opencarbon.ECapReached, "the %s cap of %s for %s is reached", capKind, fmtMG(capOf(c, capKind)), d.ID)
	}
	calc := *p.res.Calc
	calc.UsedDayMG, calc.UsedYearMG = used.DayMG, used.YearMG
	mg := p.res.MG
	if mg > room {
		mg = room
		calc.CapApplied = capKind
		calc.CapMG = room
	}
	calc.ResultMG = mg
	return Result{MG: mg, Calc: &calc}
}

func capOf(c Conservativeness, kind string) int64 {
	if kind == "daily" {
		return c.DailyCapMG
	}
	return c.YearlyCapMG
}

func evidenceKeys(ev map[string]any) []string {
	if len(ev) == 0 {
		return nil
	}
	keys := make([]string, 0, len(ev))
	for k, v := range ev {
		if v != nil && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// fmtFloat renders a float as the shortest decimal that round-trips: the
// same bits always give the same string.
func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ActKey returns the value of the exclusivity act field for ev, if the
// methodology declares one and the event carries it.
func (m *Methodology) ActKey(ev Event) (string, bool) {
	act := m.Doc.Exclusivity.Act
	if act == "" {
		return "", false
	}
	src := ev.Params
	key := act[len("params."):]
	if act[0] == 'e' {
		src, key = ev.Evidence, act[len("evidence."):]
	}
	v, ok := src[key]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		if x == "" {
			return "", false
		}
		return x, true
	case bool:
		return "", false
	}
	if f, ok := toFloat(v); ok {
		return fmtFloat(f), true
	}
	return fmt.Sprint(v), true
}

// normalizeParams returns params with every json.Number (and other integer
// kinds) replaced by float64, so that the canonical bytes of a calc are the
// same whether the event was decoded with UseNumber or not, and equal to
// what a verifier gets by decoding the stored record. It copies only when
// something must change.
func normalizeParams(p map[string]any) map[string]any {
	if !needsNormalizing(p) {
		return p
	}
	out := make(map[string]any, len(p))
	for k, v := range p {
		out[k] = normalizeValue(v)
	}
	return out
}

func needsNormalizing(v any) bool {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return false
	case map[string]any:
		for _, e := range x {
			if needsNormalizing(e) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if needsNormalizing(e) {
				return true
			}
		}
		return false
	}
	return true
}

func normalizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeValue(e)
		}
		return out
	}
	if f, ok := toFloat(v); ok {
		return f
	}
	return v
}
