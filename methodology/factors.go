package methodology

import (
	"fmt"
	"sort"
	"strings"

	opencarbon "github.com/opencarbon/opencarbon"
)

// Factor statuses.
const (
	FactorDraft     = "draft"
	FactorApproved  = "approved"
	FactorSuspended = "suspended"
	FactorRetired   = "retired"
)

// Source is where a factor's value is published.
type Source struct {
	Publisher string `json:"publisher" yaml:"publisher"`
	Document  string `json:"document" yaml:"document"`
	Table     string `json:"table,omitempty" yaml:"table"`
	URL       string `json:"url,omitempty" yaml:"url"`
}

// Factor is one emission factor (or activity constant) of the library,
// referenced by methodologies as "id@version". A factor version never
// changes once approved; a new figure is a new version.
type Factor struct {
	ID      string  `json:"id" yaml:"id"`
	Version string  `json:"version" yaml:"version"`
	Value   float64 `json:"value" yaml:"value"`
	Unit    string  `json:"unit" yaml:"unit"`
	Region  string  `json:"region" yaml:"region"`
	Year    int     `json:"year" yaml:"year"`
	Source  Source  `json:"source" yaml:"source"`
	// Method says how the figure was obtained; a platform's own estimate
	// says so here.
	Method string `json:"method" yaml:"method"`
	// UncertaintyPct is the stated or estimated relative uncertainty (±%).
	UncertaintyPct float64 `json:"uncertainty_pct" yaml:"uncertainty_pct"`
	Status         string  `json:"status" yaml:"status"`
}

// Ref returns "id@version".
func (f *Factor) Ref() string { return f.ID + "@" + f.Version }

// validate checks a factor's fields and returns problems by field path.
func (f *Factor) validate() []fieldProblem {
	var ps []fieldProblem
	add := func(field, format string, args ...any) {
		ps = append(ps, fieldProblem{field, fmt.Sprintf(format, args...)})
	}
	if !idPattern.MatchString(f.ID) {
		add("id", "factor id %q must be lowercase dotted words like eleme.cutlery_set", f.ID)
	}
	if f.Version == "" || strings.ContainsAny(f.Version, "@ ") {
		add("version", "factor version %q must be non-empty, without '@' or spaces", f.Version)
	}
	if _, err := ParseUnit(f.Unit); err != nil {
		add("unit", "%v", err)
	}
	if f.Value <= 0 {
		add("value", "factor value must be > 0")
	}
	if f.Source.Publisher == "" || f.Source.Document == "" {
		add("source", "factor source needs publisher and document")
	}
	if f.Method == "" {
		add("method", "factor method is required (say when a figure is a platform estimate)")
	}
	switch f.Status {
	case FactorDraft, FactorApproved, FactorSuspended, FactorRetired:
	default:
		add("status", "factor status %q must be draft, approved, suspended or retired", f.Status)
	}
	if f.UncertaintyPct < 0 {
		add("uncertainty_pct", "uncertainty must be >= 0")
	}
	return ps
}

type fieldProblem struct{ field, msg string }

// Factors is an immutable factor library indexed by "id@version".
type Factors struct {
	byRef map[string]*Factor
	list  []Factor
}

// NewFactors builds a library from factors, refusing invalid or duplicate
// ones with an *opencarbon.Error (EInvalid).
func NewFactors(list []Factor) (*Factors, error) {
	fs := &Factors{byRef: make(map[string]*Factor, len(list))}
	fs.list = append([]Factor(nil), list...)
	sort.Slice(fs.list, func(i, j int) bool { return fs.list[i].Ref() < fs.list[j].Ref() })
	for i := range fs.list {
		f := &fs.list[i]
		if ps := f.validate(); len(ps) > 0 {
			return nil, opencarbon.Errorf(opencarbon.EInvalid, "factor %s: %s: %s", f.Ref(), ps[0].field, ps[0].msg)
		}
		if _, dup := fs.byRef[f.Ref()]; dup {
			return nil, opencarbon.Errorf(opencarbon.EInvalid, "factor %s defined twice", f.Ref())
		}
		fs.byRef[f.Ref()] = f
	}
	return fs, nil
}

// Get returns the factor named by ref ("id@version").
func (fs *Factors) Get(ref string) (*Factor, bool) {
	if fs == nil {
		return nil, false
	}
	f, ok := fs.byRef[ref]
	return f, ok
}

// All returns every factor, sorted by ref.
func (fs *Factors) All() []Factor {
	if fs == nil {
		return nil
	}
	return append([]Factor(nil), fs.list...)
}

// ParseFactors parses a factor file: YAML (or JSON) with a top-level
// "factors" list. Problems carry the file name and line.
func ParseFactors(name string, src []byte) (*Factors, error) {
	var file struct {
		Factors []Factor `yaml:"factors"`
	}
	root, err := decodeStrict(name, src, &file)
	if err != nil {
		return nil, err
	}
	var probs Problems
	seen := map[string]bool{}
	for i := range file.Factors {
		f := &file.Factors[i]
		for _, p := range f.validate() {
			probs = append(probs, root.problem(fmt.Sprintf("factors.%d.%s", i, p.field), "%s", p.msg))
		}
		if seen[f.Ref()] {
			probs = append(probs, root.problem(fmt.Sprintf("factors.%d.id", i), "factor %s defined twice", f.Ref()))
		}
		seen[f.Ref()] = true
	}
	if len(probs) > 0 {
		return nil, probs.err()
	}
	return NewFactors(file.Factors)
}
