package methodology

import (
	"sort"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
)

// Lifecycle statuses of a methodology version.
const (
	StatusDraft     = "draft"
	StatusInReview  = "in_review"
	StatusApproved  = "approved"
	StatusSuspended = "suspended"
	StatusRetired   = "retired"
)

// Engine is an immutable snapshot of approved (and formerly approved)
// methodology versions. It is safe for concurrent use.
type Engine struct {
	loc      *time.Location
	factors  *Factors
	byID     map[string][]*Methodology // sorted by EffectiveFrom, then version
	byRef    map[string]*Methodology   // "id@version", every status, for Recompute
	excluded map[string][]string
	// held maps a version to the first of its factors that is suspended
	// in the library: such a version is not credited until the factor is
	// approved again.
	held map[*Methodology]string
}

// DefaultLocation is the time zone of cap windows when none is given.
var DefaultLocation = mustLoc("Asia/Shanghai")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		return time.FixedZone("CST", 8*3600)
	}
	return l
}

// NewEngine builds an engine from methodology versions. Versions whose
// Status is approved ("" counts as approved), suspended or retired are
// kept for Recompute; only approved ones are credited. factors is the
// library the versions were loaded with; loc is the cap-window time zone
// (nil: Asia/Shanghai).
func NewEngine(docs []*Methodology, factors *Factors, loc *time.Location) (*Engine, error) {
	if loc == nil {
		loc = DefaultLocation
	}
	e := &Engine{loc: loc, factors: factors, byID: map[string][]*Methodology{},
		byRef: map[string]*Methodology{}, excluded: map[string][]string{}, held: map[*Methodology]string{}}
	sets := map[string]map[string]bool{}
	link := func(a, b string) {
		if sets[a] == nil {
			sets[a] = map[string]bool{}
		}
		sets[a][b] = true
	}
	for _, m := range docs {
		switch m.Status {
		case "", StatusApproved, StatusSuspended, StatusRetired:
		default:
			return nil, opencarbon.Errorf(opencarbon.EInvalid, "%s@%s is %s, not approved", m.ID(), m.Version(), m.Status)
		}
		ref := m.ID() + "@" + m.Version()
		if _, dup := e.byRef[ref]; dup {
			return nil, opencarbon.Errorf(opencarbon.EConflict, "%s given twice", ref)
		}
		for _, f := range m.factors {
			lf, ok := factors.Get(f.Ref)
			if !ok || lf.Value != f.Value || lf.Unit != f.Unit {
				return nil, opencarbon.Errorf(opencarbon.EInvalid, "%s uses factor %s which the library lacks or differs", ref, f.Ref)
			}
			if lf.Status == FactorSuspended && e.held[m] == "" {
				e.held[m] = f.Ref
			}
		}
		e.byRef[ref] = m
		if m.Status != StatusRetired {
			e.byID[m.ID()] = append(e.byID[m.ID()], m)
		}
		if m.Status == "" || m.Status == StatusApproved {
			for _, x := range m.Doc.Exclusivity.Excludes {
				link(m.ID(), x)
				link(x, m.ID())
			}
		}
	}
	for id, vs := range e.byID {
		sort.SliceStable(vs, func(i, j int) bool {
			if !vs[i].EffectiveFrom.Equal(vs[j].EffectiveFrom) {
				return vs[i].EffectiveFrom.Before(vs[j].EffectiveFrom)
			}
			return semverLess(vs[i].Version(), vs[j].Version())
		})
		e.byID[id] = vs
	}
	for id, set := range sets {
		list := make([]string, 0, len(set))
		for x := range set {
			list = append(list, x)
		}
		sort.Strings(list)
		e.excluded[id] = list
	}
	return e, nil
}

// Location returns the time zone of cap windows.
func (e *Engine) Location() *time.Location { return e.loc }

// Factors returns the factor library the engine was built with.
func (e *Engine) Factors() *Factors { return e.factors }

// Behaviors returns the ids of every behavior with a version that is not
// retired, sorted.
func (e *Engine) Behaviors() []string {
	out := make([]string, 0, len(e.byID))
	for id := range e.byID {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the approved version of behavior effective at at: the one
// with the latest EffectiveFrom <= at. It reports false when there is none,
// when that version is suspended or when one of its factors is suspended.
func (e *Engine) Lookup(behavior string, at time.Time) (*Methodology, bool) {
	m := e.inEffect(behavior, at)
	if m == nil || m.Status == StatusSuspended || e.held[m] != "" {
		return nil, false
	}
	return m, true
}

func (e *Engine) inEffect(behavior string, at time.Time) *Methodology {
	vs := e.byID[behavior]
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].EffectiveFrom.After(at) {
			return vs[i]
		}
	}
	return nil
}

// Version returns the version "id@version" whatever its status, for
// recomputation and display.
func (e *Engine) Version(id, version string) (*Methodology, bool) {
	m, ok := e.byRef[id+"@"+version]
	return m, ok
}

// Evaluate computes the reduction credited for ev given what the person was
// already credited in the cap windows. Refusals are results, not errors;
// the only error is an *opencarbon.Error EUnknownBehavior when no version of
// ev.Behavior is known at all. Evaluate is pure and deterministic.
func (e *Engine) Evaluate(ev Event, used Usage) (Result, error) {
	return e.Prepare(ev).Apply(used)
}

// Prepared is an event evaluated up to its caps (Engine.Prepare):
// everything but the one step that depends on the person's usage so far.
// It lets the intake evaluate events on the requests' goroutines and
// leave only Apply to its single writer.
type Prepared struct {
	e   *Engine
	p   prepared
	err error
}

// Prepare evaluates ev up to its caps. Prepare(ev).Apply(used) is
// Evaluate(ev, used); a Prepared can be applied any number of times.
func (e *Engine) Prepare(ev Event) *Prepared {
	m, ok := e.Lookup(ev.Behavior, ev.OccurredAt)
	if !ok {
		if len(e.byID[ev.Behavior]) == 0 {
			return &Prepared{e: e, err: opencarbon.Errorf(opencarbon.EUnknownBehavior, "unknown behavior %q", ev.Behavior)}
		}
		res := refuse(opencarbon.ENotApplicable, "no approved version of %s is in effect at %s", ev.Behavior, ev.OccurredAt.UTC().Format(time.RFC3339))
		if m := e.inEffect(ev.Behavior, ev.OccurredAt); m != nil && e.held[m] != "" {
			res = refuse(opencarbon.ENotApplicable, "%s@%s is on hold: its factor %s is suspended", m.ID(), m.Version(), e.held[m])
		}
		return &Prepared{e: e, p: prepared{res: res}}
	}
	return &Prepared{e: e, p: m.prepare(ev, e.loc)}
}

// Engine returns the engine that prepared p.
func (p *Prepared) Engine() *Engine { return p.e }

// Apply finishes p with the person's usage so far (the caps).
func (p *Prepared) Apply(used Usage) (Result, error) {
	if p.err != nil {
		return Result{}, p.err
	}
	return p.p.apply(used), nil
}

// Recompute re-evaluates a stored calc from its own inputs with the exact
// methodology version it names (approved, suspended or retired) and returns
// the new record with the same PrevHash: for an untampered record the
// bytes are identical. A record of engine version 1 is rebuilt in that
// version's layout. Errors: ENotFound (version unknown), EConflict (the
// version's hash differs from the record's), EInvalid (the inputs are now
// refused).
func (e *Engine) Recompute(c *Calc) (*Calc, error) {
	m, ok := e.Version(c.Methodology, c.MethodologyVersion)
	if !ok {
		return nil, opencarbon.Errorf(opencarbon.ENotFound, "methodology %s@%s is not in the registry", c.Methodology, c.MethodologyVersion)
	}
	if m.Hash() != c.MethodologyHash {
		return nil, opencarbon.Errorf(opencarbon.EConflict, "methodology %s@%s has hash %s, the record names %s", c.Methodology, c.MethodologyVersion, m.Hash(), c.MethodologyHash)
	}
	ev := Event{ID: c.EventID, Partner: c.Partner, Behavior: c.Behavior, OccurredAt: c.OccurredAt, Params: c.Params}
	if len(c.EvidenceKeys) > 0 {
		ev.Evidence = make(map[string]any, len(c.EvidenceKeys))
		for _, k := range c.EvidenceKeys {
			ev.Evidence[k] = true
		}
	}
	r := m.evaluate(ev, Usage{DayMG: c.UsedDayMG, YearMG: c.UsedYearMG}, e.loc)
	if r.Refusal != "" {
		return nil, opencarbon.Errorf(opencarbon.EInvalid, "recomputation refused the inputs: %s: %s", r.Refusal, r.Detail)
	}
	r.Calc.PrevHash = c.PrevHash
	if c.EngineVersion == engineVersion1 {
		r.Calc.asVersion1()
	}
	return r.Calc, nil
}

// asVersion1 drops what version 2 added to the record; the arithmetic of
// the two versions is the same.
func (c *Calc) asVersion1() {
	c.EngineVersion = engineVersion1
	c.Terms, c.Inputs = nil, nil
	fs := make([]FactorUse, len(c.Factors))
	for i, f := range c.Factors {
		f.ShortSource = ""
		fs[i] = f
	}
	if c.Factors == nil {
		fs = nil
	}
	c.Factors = fs
}

// ExcludedWith returns the behaviors that may not be credited for the same
// act as behavior: those it excludes and those that exclude it (symmetric),
// over approved versions, sorted.
func (e *Engine) ExcludedWith(behavior string) []string {
	return append([]string(nil), e.excluded[behavior]...)
}

// semverLess orders MAJOR.MINOR.PATCH versions numerically.
func semverLess(a, b string) bool {
	pa, pb := semverParts(a), semverParts(b)
	for i := range pa {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return a < b
}

func semverParts(v string) [3]int {
	var out [3]int
	i := 0
	for _, r := range v {
		if r == '.' {
			i++
			if i == 3 {
				break
			}
			continue
		}
		if r < '0' || r > '9' {
			break
		}
		out[i] = out[i]*10 + int(r-'0')
	}
	return out
}
