package honor

import (
	"fmt"
	"regexp"
	"sync"

	"github.com/google/cel-go/cel"

	oc "github.com/opencarbon/opencarbon"
)

// Medal is a rule-based medal. Rule is a CEL expression over Stats that
// must yield a bool; the variables are:
//
//	mg          int                 cumulative reduction (mg)
//	credits     int                 credits counted (reversed ones excluded)
//	scenarios   map(string, int)    credits per scenario (eat, travel, use, wear, ...)
//	partners    list(string)        distinct partners that credited the person (reversed credits excluded)
//	streak      int                 consecutive local days with a credit, ending at the latest such day
//	best_streak int                 the longest such run seen so far (never decreases)
//	campaigns   list(string)        campaigns the person joined
//
// All but campaigns and best_streak are derived from the person's credits
// as the intake keeps them (intake.Activity); local days are those of the
// intake's usage rows, the methodology engine's time zone (Asia/Shanghai).
//
// A campaign-only medal (Campaign set) is awarded only to members of that
// campaign.
type Medal struct {
	ID       string `json:"id"`
	NameZH   string `json:"name_zh"`
	NameEN   string `json:"name_en"`
	Artwork  string `json:"artwork"` // path of the artwork under the UI's static files
	Rule     string `json:"rule,omitempty"`
	Campaign string `json:"campaign,omitempty"`
}

// DefaultMedals are the platform medals (see docs/honor.md).
var DefaultMedals = []Medal{
	{ID: "first-step", NameZH: "第一步", NameEN: "First Step", Artwork: "/static/medals/first-step.svg", Rule: `credits >= 1`},
	{ID: "one-kg", NameZH: "一公斤", NameEN: "One Kilogram", Artwork: "/static/medals/one-kg.svg", Rule: `mg >= 1000000`},
	{ID: "ten-kg", NameZH: "十公斤", NameEN: "Ten Kilograms", Artwork: "/static/medals/ten-kg.svg", Rule: `mg >= 10000000`},
	{ID: "week-streak", NameZH: "七日不断", NameEN: "Seven-Day Streak", Artwork: "/static/medals/week-streak.svg", Rule: `best_streak >= 7`},
	{ID: "green-commuter", NameZH: "绿色出行", NameEN: "Green Commuter", Artwork: "/static/medals/green-commuter.svg", Rule: `"travel" in scenarios && scenarios["travel"] >= 10`},
	{ID: "clean-plate", NameZH: "光盘达人", NameEN: "Clean Plate", Artwork: "/static/medals/clean-plate.svg", Rule: `"eat" in scenarios && scenarios["eat"] >= 10`},
	{ID: "all-rounder", NameZH: "多面手", NameEN: "All-Rounder", Artwork: "/static/medals/all-rounder.svg", Rule: `size(partners) >= 3`},
	{ID: "campaigner", NameZH: "活动达人", NameEN: "Campaigner", Artwork: "/static/medals/campaigner.svg", Rule: `size(campaigns) >= 1`},
}

var medalID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,47}$`)

// Stats are a person's aggregates, the input of medal rules.
type Stats struct {
	MG         int64            `json:"mg"`
	Credits    int64            `json:"credits"`
	Scenarios  map[string]int64 `json:"scenarios"`
	Partners   []string         `json:"partners"`
	Streak     int64            `json:"streak"`
	BestStreak int64            `json:"best_streak"`
	Campaigns  []string         `json:"campaigns"`
}

func (st Stats) activation() map[string]any {
	sc := st.Scenarios
	if sc == nil {
		sc = map[string]int64{}
	}
	return map[string]any{
		"mg": st.MG, "credits": st.Credits, "scenarios": sc, "partners": nonNil(st.Partners),
		"streak": st.Streak, "best_streak": st.BestStreak, "campaigns": nonNil(st.Campaigns),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// rules compiles medal rules once and caches the programs by rule text.
type rules struct {
	env   *cel.Env
	mu    sync.Mutex
	progs map[string]cel.Program
}

func newRules() (*rules, error) {
	env, err := cel.NewEnv(
		cel.Variable("mg", cel.IntType),
		cel.Variable("credits", cel.IntType),
		cel.Variable("scenarios", cel.MapType(cel.StringType, cel.IntType)),
		cel.Variable("partners", cel.ListType(cel.StringType)),
		cel.Variable("streak", cel.IntType),
		cel.Variable("best_streak", cel.IntType),
		cel.Variable("campaigns", cel.ListType(cel.StringType)),
	)
	if err != nil {
		return nil, fmt.Errorf("medal rules: %w", err)
	}
	return &rules{env: env, progs: map[string]cel.Program{}}, nil
}

// compile returns the program of rule. Errors: EInvalid (does not compile
// or does not yield a bool).
func (r *rules) compile(rule string) (cel.Program, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.progs[rule]; ok {
		return p, nil
	}
	if len(rule) == 0 || len(rule) > 2000 {
		return nil, oc.Errorf(oc.EInvalid, "a medal rule is 1 to 2000 bytes")
	}
	ast, iss := r.env.Compile(rule)
	if iss != nil && iss.Err() != nil {
		return nil, oc.Errorf(oc.EInvalid, "medal rule does not compile: %s", iss.Err())
	}
	if ast.OutputType() != cel.BoolType {
		return nil, oc.Errorf(oc.EInvalid, "medal rule must yield a bool, not %s", ast.OutputType())
	}
	p, err := r.env.Program(ast, cel.CostLimit(100_000))
	if err != nil {
		return nil, oc.Errorf(oc.EInvalid, "medal rule: %s", err)
	}
	if len(r.progs) > 10_000 {
		clear(r.progs)
	}
	r.progs[rule] = p
	return p, nil
}

// eval evaluates rule over st; an evaluation error (e.g. a missing map
// key) counts as false.
func (r *rules) eval(rule string, act map[string]any) (bool, error) {
	p, err := r.compile(rule)
	if err != nil {
		return false, err
	}
	out, _, err := p.Eval(act)
	if err != nil {
		return false, nil
	}
	b, ok := out.Value().(bool)
	return ok && b, nil
}

// checkMedal validates a medal definition.
func (r *rules) checkMedal(m Medal) error {
	if !medalID.MatchString(m.ID) {
		return oc.Errorf(oc.EInvalid, "medal id %q must match %s", m.ID, medalID)
	}
	if m.NameZH == "" || m.NameEN == "" || m.Artwork == "" {
		return oc.Errorf(oc.EInvalid, "medal %s needs names and artwork", m.ID)
	}
	_, err := r.compile(m.Rule)
	return err
}
