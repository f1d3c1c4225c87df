package methodology

import (
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

// TermUse says how one of baseline, project and leakage was obtained when
// its expression is a product of parameters (and numeric literals), for
// example "ef_cutlery * orders" or one branch of
// "city == 'GZ' ? ef_trip_gz * trips : ef_car_bj * distance". It is what
// lets Explain write "15.9 gCO2e/order × 1 order" from the record alone.
// A term that is not such a product (a sum, a minimum, a constant) has no
// TermUse and is explained by its value only.
type TermUse struct {
	// Const is the product of the literals in the term when it is not 1
	// (the shortest round-trip decimal), else "".
	Const string `json:"const,omitempty"`
	// Name is "baseline", "project" or "leakage".
	Name string `json:"name"`
	// Of lists the parameters multiplied, in expression order: fixed ones
	// are in Calc.Factors, monitored ones in Calc.Inputs.
	Of []string `json:"of"`
}

// InputUse is a numeric monitored parameter that took part in a term, with
// its declared unit and the value used in that unit (the default when the
// event left it out).
type InputUse struct {
	Param string  `json:"param"`
	Unit  string  `json:"unit"`
	Value float64 `json:"value"`
}

var termNames = [3]string{"baseline", "project", "leakage"}

// productAlt is one way a term can be a product: the parameter slots
// multiplied and the product of the literals.
type productAlt struct {
	slots []int
	names []string
	mask  uint64
	coef  float64
}

// maxAlts bounds the alternatives kept per term (ternaries multiply them).
const maxAlts = 16

// productShapes returns the alternatives of e when every branch of e is a
// product of parameter identifiers and numeric literals, ordered with the
// most operands first; ok is false otherwise.
func productShapes(e celast.Expr, varIndex map[string]int) (alts []productAlt, ok bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		switch v := e.AsLiteral().(type) {
		case types.Double:
			return []productAlt{{coef: float64(v)}}, true
		case types.Int:
			return []productAlt{{coef: float64(v)}}, true
		}
		return nil, false
	case celast.IdentKind:
		n := e.AsIdent()
		i, known := varIndex[n]
		if !known || i < nEventSlots || i >= 64 {
			return nil, false
		}
		return []productAlt{{slots: []int{i}, names: []string{n}, mask: 1 << i, coef: 1}}, true
	case celast.CallKind:
		call := e.AsCall()
		args := call.Args()
		switch call.FunctionName() {
		case "_*_":
			l, okl := productShapes(args[0], varIndex)
			r, okr := productShapes(args[1], varIndex)
			if !okl || !okr || len(l)*len(r) > maxAlts {
				return nil, false
			}
			for _, a := range l {
				for _, b := range r {
					alts = append(alts, productAlt{
						slots: append(append([]int(nil), a.slots...), b.slots...),
						names: append(append([]string(nil), a.names...), b.names...),
						mask:  a.mask | b.mask,
						coef:  a.coef * b.coef,
					})
				}
			}
		case "_?_:_":
			l, okl := productShapes(args[1], varIndex)
			r, okr := productShapes(args[2], varIndex)
			if !okl || !okr || len(l)+len(r) > maxAlts {
				return nil, false
			}
			alts = append(l, r...)
		case "double":
			if len(args) != 1 {
				return nil, false
			}
			return productShapes(args[0], varIndex)
		default:
			return nil, false
		}
		sort.SliceStable(alts, func(i, j int) bool { return len(alts[i].slots) > len(alts[j].slots) })
		return alts, true
	}
	return nil, false
}

// pickAlt returns the alternative of term i that was evaluated: every one of
// its parameters was read (read is the activation's read mask) and its
// product equals the term's value. Reading narrows ternaries to the branch
// taken; the value check makes sure the explanation never contradicts the
// number. nil when none fits.
func (m *Methodology) pickAlt(i int, read uint64, value float64, vals []any) *productAlt {
	for k := range m.shapes[i] {
		alt := &m.shapes[i][k]
		if alt.mask&^read != 0 {
			continue
		}
		p := alt.coef
		for _, s := range alt.slots {
			f, ok := vals[s].(float64)
			if !ok {
				p = math.NaN()
				break
			}
			p = float64(p * f)
		}
		if math.Abs(p-value) <= 1e-9*math.Max(1, math.Abs(value)) {
			return alt
		}
	}
	return nil
}

// explainTerms records the terms that were products and the monitored
// inputs they used, in parameter order. decl holds the monitored values in
// their declared units by slot.
func (m *Methodology) explainTerms(reads [3]uint64, vals [3]float64, a *activation) ([]TermUse, []InputUse) {
	var terms []TermUse
	var used uint64
	for i := range termNames {
		if m.shapes[i] == nil {
			continue
		}
		alt := m.pickAlt(i, reads[i], vals[i], a.vals)
		if alt == nil || len(alt.slots) == 0 {
			continue
		}
		t := TermUse{Name: termNames[i], Of: alt.names}
		if alt.coef != 1 {
			t.Const = fmtFloat(alt.coef)
		}
		terms = append(terms, t)
		used |= alt.mask
	}
	if used == 0 {
		return terms, nil
	}
	var inputs []InputUse
	for k := range m.params {
		p := &m.params[k]
		if p.Kind == "fixed" || p.slot >= 64 || used&(1<<p.slot) == 0 {
			continue
		}
		inputs = append(inputs, InputUse{Param: p.Name, Unit: p.Unit, Value: a.decl[p.slot]})
	}
	return terms, inputs
}

// shortSource is the few words Explain shows after a factor's value: the
// publisher and the year, or the start of the document title when the
// year is not known.
func shortSource(f *Factor) string {
	s := strings.TrimSpace(f.Source.Publisher)
	if f.Year > 0 {
		return s + ", " + itoa(f.Year)
	}
	doc := strings.TrimSpace(f.Source.Document)
	for _, sep := range []string{" (", ", ", "; ", ": "} {
		if i := strings.Index(doc, sep); i > 0 {
			doc = doc[:i]
		}
	}
	const maxRunes = 40
	if utf8.RuneCountInString(doc) > maxRunes {
		cut := []rune(doc)[:maxRunes]
		if sp := strings.LastIndex(string(cut), " "); sp > 0 {
			doc = string(cut)[:sp] + "…"
		} else {
			doc = string(cut) + "…"
		}
	}
	if doc == "" {
		return s
	}
	return s + ", " + doc
}

func itoa(n int) string { return fmtFloat(float64(n)) }
