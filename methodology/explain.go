package methodology

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Explain says in words how the result was obtained, in "en" or "zh"
// (anything else is English). The first line is the arithmetic, built
// from the record alone:
//
//	11.13 g = 15.9 gCO2e/order (Ele.me (Alibaba local services), 2022) × 1 order = 15.9 g, less a 30% uncertainty discount (4.77 g), floored to whole mg.
//
// or, when a project or leakage term counts,
//
//	1.3082 kg: baseline 0.272 kgCO2/person-km (…, 2024) × 12.4 person-km = 3.3728 kg; project 0.061 kgCO2/person-km (…, 2024) × 12.4 person-km = 756.4 g; 3.3728 kg − 756.4 g = 2.6164 kg, less a 50% uncertainty discount (1.3082 kg), floored to whole mg.
//
// that is the result, each factor's value and unit with its short source
// times the monitored quantities with their units (from Terms, Factors and
// Inputs), the baseline − project − leakage steps when a project or
// leakage term counts, the uncertainty discount in % and in mass, the cap
// when one bound the result, and the final floor. A term that is not a
// product (or a record of engine version 1, which has no Terms) is shown by
// its value. The second line names the methodology version, the factors'
// full sources and the inputs.
func (c *Calc) Explain(lang string) string {
	zh := lang == "zh"
	x := explainer{c: c, zh: zh, terms: map[string]*TermUse{}, factors: map[string]*FactorUse{}, inputs: map[string]*InputUse{}}
	for i := range c.Terms {
		x.terms[c.Terms[i].Name] = &c.Terms[i]
	}
	for i := range c.Factors {
		x.factors[c.Factors[i].Param] = &c.Factors[i]
	}
	for i := range c.Inputs {
		x.inputs[c.Inputs[i].Param] = &c.Inputs[i]
	}
	var b strings.Builder
	x.arithmetic(&b)
	b.WriteString("\n")
	x.details(&b)
	return b.String()
}

type explainer struct {
	c       *Calc
	zh      bool
	terms   map[string]*TermUse
	factors map[string]*FactorUse
	inputs  map[string]*InputUse
}

func (x *explainer) say(en, zh string) string {
	if x.zh {
		return zh
	}
	return en
}

// arithmetic writes the first line.
func (x *explainer) arithmetic(b *strings.Builder) {
	c := x.c
	result := fmtMG(c.ResultMG)
	base, proj, leak := parseMG(c.Baseline), parseMG(c.Project), parseMG(c.Leakage)
	gross, after := parseMG(c.Gross), parseMG(c.AfterDiscount)
	hasProject := x.terms["project"] != nil || proj != 0
	hasLeakage := x.terms["leakage"] != nil || leak != 0
	if !hasProject && !hasLeakage {
		b.WriteString(result + " = ")
		if t := x.terms["baseline"]; t != nil {
			b.WriteString(x.product(t))
			if fmtMass(base) != result {
				b.WriteString(" = " + fmtMass(base))
			}
		} else {
			b.WriteString(x.say("baseline ", "基线 ") + fmtMass(base))
		}
	} else {
		b.WriteString(result + x.say(": ", "："))
		x.step(b, "baseline", x.say("baseline", "基线"), base)
		net := fmtMass(base)
		if hasProject {
			x.step(b, "project", x.say("project", "项目"), proj)
			net += " − " + fmtMass(proj)
		}
		if hasLeakage {
			x.step(b, "leakage", x.say("leakage", "泄漏"), leak)
			net += " − " + fmtMass(leak)
		}
		b.WriteString(net + " = " + fmtMass(gross))
	}
	if pct, err := strconv.ParseFloat(c.DiscountPct, 64); err == nil && pct != 0 {
		fmt.Fprintf(b, x.say(", less a %s%% uncertainty discount (%s)", "，扣除 %s%% 不确定性折扣（%s）"), c.DiscountPct, fmtMass(gross-after))
	}
	switch {
	case c.CapApplied != "":
		kind := c.CapApplied
		if x.zh {
			kind = map[string]string{"daily": "每日", "yearly": "每年"}[kind]
		}
		fmt.Fprintf(b, x.say(" = %s, capped at %s by the %s cap", " = %s，受%s上限约束为 %s"), append([]any{fmtMass(after)}, x.capArgs(kind)...)...)
	case fmtMass(after) != result:
		b.WriteString(" = " + fmtMass(after))
	}
	b.WriteString(x.say(", floored to whole mg.", "，向下取整到毫克。"))
}

func (x *explainer) capArgs(kind string) []any {
	if x.zh {
		return []any{kind, fmtMG(x.c.CapMG)}
	}
	return []any{fmtMG(x.c.CapMG), kind}
}

// step writes one named term and a separator: "baseline 0.272
// kgCO2/person-km (…) × 12.4 person-km = 3.3728 kg; ", or "project 0 mg; "
// when it is not a product.
func (x *explainer) step(b *strings.Builder, name, label string, v float64) {
	b.WriteString(label + " ")
	if t := x.terms[name]; t != nil {
		b.WriteString(x.product(t) + " = ")
	}
	b.WriteString(fmtMass(v) + x.say("; ", "；"))
}

// product renders a term's operands joined by ×.
func (x *explainer) product(t *TermUse) string {
	parts := make([]string, 0, len(t.Of)+1)
	if t.Const != "" {
		parts = append(parts, t.Const)
	}
	for _, p := range t.Of {
		switch {
		case x.factors[p] != nil:
			f := x.factors[p]
			s := fmtQty(f.Value, f.Unit)
			if f.ShortSource != "" {
				s += x.say(" ("+f.ShortSource+")", "（"+f.ShortSource+"）")
			}
			parts = append(parts, s)
		case x.inputs[p] != nil:
			parts = append(parts, fmtQty(x.inputs[p].Value, x.inputs[p].Unit))
		default:
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " × ")
}

// details writes the second line: methodology, factors with full sources,
// inputs.
func (x *explainer) details(b *strings.Builder) {
	c := x.c
	fmt.Fprintf(b, x.say("Methodology %s@%s.", "方法学 %s@%s。"), c.Methodology, c.MethodologyVersion)
	if len(c.Factors) > 0 {
		b.WriteString(x.say(" Factors: ", " 因子："))
		for i, f := range c.Factors {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(b, "%s = %s (%s, %s)", f.Param, fmtQty(f.Value, f.Unit), f.Ref, f.Source)
		}
		b.WriteString(x.say(".", "。"))
	}
	if len(c.Params) > 0 {
		keys := make([]string, 0, len(c.Params))
		for k := range c.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(x.say(" Inputs: ", " 输入："))
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(b, "%s = %v", k, c.Params[k])
		}
		b.WriteString(x.say(".", "。"))
	}
}

func parseMG(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) {
		return 0
	}
	return f
}

// fmtQty renders a value with its unit: "15.9 gCO2e/order", "64.6%".
func fmtQty(v float64, unit string) string {
	switch unit {
	case "":
		return fmtFloat(v)
	case "%":
		return fmtFloat(v) + "%"
	}
	return fmtFloat(v) + " " + unit
}

// fmtMG renders whole mg for people: "850 mg", "11.13 g", "2.5 kg".
func fmtMG(mg int64) string { return fmtMass(float64(mg)) }

// fmtMass renders a mass in mg in kg from 1 kg up, in g from 1 g up and in
// mg below, to the mg (floating-point noise below a thousandth of a mg is
// rounded away): "3.3728 kg", "756.4 g", "0.5 mg".
func fmtMass(mg float64) string {
	abs := math.Abs(mg)
	switch {
	case abs >= 1e6:
		return trimNum(mg/1e6, 9) + " kg"
	case abs >= 1e3:
		return trimNum(mg/1e3, 6) + " g"
	default:
		return trimNum(mg, 3) + " mg"
	}
}

func trimNum(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}
