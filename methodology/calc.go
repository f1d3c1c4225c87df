package methodology

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// FactorUse records one factor a calculation used.
type FactorUse struct {
	Param  string  `json:"param"`
	Ref    string  `json:"ref"`
	Source string  `json:"source"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
}

// Calc is the calculation record of one credited event: everything needed
// to recompute the result and to explain it. Intermediates are decimal
// strings in mg CO2e (the shortest form that round-trips the float), the
// result is int64 mg. Fields are declared in JSON key order, so Canonical
// emits sorted keys.
type Calc struct {
	AfterDiscount      string         `json:"after_discount_mg"`
	Baseline           string         `json:"baseline_mg"`
	Behavior           string         `json:"behavior"`
	CapApplied         string         `json:"cap_applied"` // "", "daily" or "yearly"
	CapMG              int64          `json:"cap_mg"`      // the remaining room that bounded the result
	DiscountPct        string         `json:"discount_pct"`
	EngineVersion      string         `json:"engine_version"`
	EventID            string         `json:"event_id"`
	EvidenceKeys       []string       `json:"evidence_keys"` // keys present, never their values
	Factors            []FactorUse    `json:"factors"`
	Gross              string         `json:"gross_mg"` // baseline − project − leakage
	Leakage            string         `json:"leakage_mg"`
	Methodology        string         `json:"methodology"`
	MethodologyHash    string         `json:"methodology_hash"`
	MethodologyVersion string         `json:"methodology_version"`
	OccurredAt         time.Time      `json:"occurred_at"`
	Params             map[string]any `json:"params"`
	Partner            string         `json:"partner"`
	PrevHash           string         `json:"prev_hash"` // set by the ledger when chaining
	Project            string         `json:"project_mg"`
	ResultMG           int64          `json:"result_mg"`
	UsedDayMG          int64          `json:"used_day_mg"`
	UsedYearMG         int64          `json:"used_year_mg"`
}

// Canonical returns the deterministic JSON bytes of the record (sorted
// keys, no whitespace, times in UTC): the same calc always gives the same
// bytes. It is what Hash covers and what should be stored.
func (c *Calc) Canonical() []byte {
	cc := *c
	cc.OccurredAt = c.OccurredAt.UTC()
	b, err := json.Marshal(&cc)
	if err != nil {
		// Params came from decoded JSON; only an unencodable value
		// (a channel, NaN) gets here. Fall back to sorted-key re-encoding
		// of what can be encoded so the bytes stay deterministic.
		cc.Params = map[string]any{"unencodable": fmt.Sprint(len(c.Params))}
		b, _ = json.Marshal(&cc)
	}
	return b
}

// Hash returns the hex SHA-256 of Canonical().
func (c *Calc) Hash() string { return sha256Hex(c.Canonical()) }

// Explain says in words how the result was obtained, in "en" or "zh".
func (c *Calc) Explain(lang string) string {
	var b strings.Builder
	zh := lang == "zh"
	g := func(s string) string {
		f, _ := strconv.ParseFloat(s, 64)
		return fmtGrams(f)
	}
	if zh {
		fmt.Fprintf(&b, "减排 %s CO2e：基线 %s − 项目 %s − 泄漏 %s = %s", fmtMG(c.ResultMG), g(c.Baseline), g(c.Project), g(c.Leakage), g(c.Gross))
		if c.DiscountPct != "0" {
			fmt.Fprintf(&b, "，扣除 %s%% 不确定性折扣后为 %s", c.DiscountPct, g(c.AfterDiscount))
		}
		if c.CapApplied != "" {
			fmt.Fprintf(&b, "，受%s上限约束为 %s", map[string]string{"daily": "每日", "yearly": "每年"}[c.CapApplied], fmtMG(c.CapMG))
		}
		b.WriteString("，向下取整到毫克。")
	} else {
		fmt.Fprintf(&b, "%s CO2e avoided = baseline %s − project %s − leakage %s = %s", fmtMG(c.ResultMG), g(c.Baseline), g(c.Project), g(c.Leakage), g(c.Gross))
		if c.DiscountPct != "0" {
			fmt.Fprintf(&b, ", less a %s%% uncertainty discount = %s", c.DiscountPct, g(c.AfterDiscount))
		}
		if c.CapApplied != "" {
			fmt.Fprintf(&b, ", capped at %s (%s cap)", fmtMG(c.CapMG), c.CapApplied)
		}
		b.WriteString(", floored to whole mg.")
	}
	if len(c.Factors) > 0 {
		if zh {
			b.WriteString(" 因子：")
		} else {
			b.WriteString(" Factors: ")
		}
		for i, f := range c.Factors {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s = %s %s (%s, %s)", f.Param, fmtFloat(f.Value), f.Unit, f.Ref, f.Source)
		}
		b.WriteString(".")
	}
	if len(c.Params) > 0 {
		keys := make([]string, 0, len(c.Params))
		for k := range c.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if zh {
			b.WriteString(" 输入：")
		} else {
			b.WriteString(" Inputs: ")
		}
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s = %v", k, c.Params[k])
		}
		b.WriteString(".")
	}
	if zh {
		fmt.Fprintf(&b, " 方法学 %s@%s。", c.Methodology, c.MethodologyVersion)
	} else {
		fmt.Fprintf(&b, " Methodology %s@%s.", c.Methodology, c.MethodologyVersion)
	}
	return b.String()
}

// fmtMG renders mg for people: "850 mg", "11.13 g", "2.5 kg".
func fmtMG(mg int64) string { return fmtGrams(float64(mg)) }

func fmtGrams(mg float64) string {
	abs := mg
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs >= 1e6:
		return trimNum(mg/1e6, 3) + " kg"
	case abs >= 1e3:
		return trimNum(mg/1e3, 3) + " g"
	default:
		return trimNum(mg, 3) + " mg"
	}
}

func trimNum(f float64, prec int) string {
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
