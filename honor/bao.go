package honor

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
)

// A BaoLevel is one stage of Carbon Bao (碳宝), the mascot that grows with
// a person's cumulative reduction. MinMG is the cumulative reduction in mg
// at which the level starts.
type BaoLevel struct {
	MinMG  int64  `json:"min_mg"`
	NameZH string `json:"name_zh"`
	NameEN string `json:"name_en"`
}

// DefaultBaoLevels is the default level table (see docs/honor.md).
var DefaultBaoLevels = []BaoLevel{
	{0, "蛋", "Egg"},
	{100_000, "破壳", "Hatchling"},         // 100 g
	{1_000_000, "幼苗", "Sprout"},          // 1 kg
	{10_000_000, "小树", "Sapling"},        // 10 kg
	{100_000_000, "大树", "Tree"},          // 100 kg
	{1_000_000_000, "森林", "Forest"},      // 1 t
	{10_000_000_000, "碳宝之王", "Bao King"}, // 10 t
}

// Bao is a person's Carbon Bao: the level reached by cumulative reduction
// and the progress towards the next one.
type Bao struct {
	Level  int    `json:"level"` // 0-based index in the level table
	NameZH string `json:"name_zh"`
	NameEN string `json:"name_en"`
	MG     int64  `json:"mg"` // cumulative reduction
	// NextMG is where the next level starts (0 at the top level);
	// ProgressPermille is how far MG is from this level's start to the
	// next, 0 to 1000 (1000 at the top level).
	NextMG           int64 `json:"next_mg,omitempty"`
	ProgressPermille int64 `json:"progress_permille"`
}

// BaoLevels is a validated level table.
type BaoLevels []BaoLevel

// NewBaoLevels validates levels: at least one, the first at 0 mg, strictly
// increasing thresholds, names of 1 to 32 characters. Errors: EInvalid.
func NewBaoLevels(levels []BaoLevel) (BaoLevels, error) {
	if len(levels) == 0 || len(levels) > 100 {
		return nil, oc.Errorf(oc.EInvalid, "Carbon Bao needs 1 to 100 levels")
	}
	if levels[0].MinMG != 0 {
		return nil, oc.Errorf(oc.EInvalid, "the first Carbon Bao level must start at 0 mg")
	}
	for i, l := range levels {
		if i > 0 && l.MinMG <= levels[i-1].MinMG {
			return nil, oc.Errorf(oc.EInvalid, "Carbon Bao level thresholds must increase (level %d)", i)
		}
		for _, n := range []string{l.NameZH, l.NameEN} {
			if c := utf8.RuneCountInString(n); c < 1 || c > 32 || !utf8.ValidString(n) || strings.ContainsAny(n, ":,<>&\"'") {
				return nil, oc.Errorf(oc.EInvalid, "Carbon Bao level %d needs names of 1 to 32 characters without : , or markup", i)
			}
		}
	}
	return slices.Clone(levels), nil
}

// ParseBaoLevels reads a level table written as
// "MIN_MG:名称:Name,MIN_MG:名称:Name,..." (the --bao-levels flag).
// Errors: EInvalid.
func ParseBaoLevels(spec string) (BaoLevels, error) {
	var levels []BaoLevel
	for _, part := range strings.Split(spec, ",") {
		f := strings.Split(strings.TrimSpace(part), ":")
		if len(f) != 3 {
			return nil, oc.Errorf(oc.EInvalid, "Carbon Bao level %q must be MIN_MG:名称:Name", part)
		}
		mg, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || mg < 0 {
			return nil, oc.Errorf(oc.EInvalid, "Carbon Bao level %q: MIN_MG must be a whole number of mg", part)
		}
		levels = append(levels, BaoLevel{MinMG: mg, NameZH: f[1], NameEN: f[2]})
	}
	return NewBaoLevels(levels)
}

// Level returns the Carbon Bao for a cumulative reduction of mg (negative
// counts as 0).
func (ls BaoLevels) Level(mg int64) Bao {
	i := 0
	for i+1 < len(ls) && mg >= ls[i+1].MinMG {
		i++
	}
	b := Bao{Level: i, NameZH: ls[i].NameZH, NameEN: ls[i].NameEN, MG: mg, ProgressPermille: 1000}
	if i+1 < len(ls) {
		lo, hi := ls[i].MinMG, ls[i+1].MinMG
		b.NextMG = hi
		done := max(mg, 0) - lo
		// done < hi-lo; compute done*1000/(hi-lo) without overflow.
		b.ProgressPermille = mulDiv(done, 1000, hi-lo)
	}
	return b
}

// mulDiv returns a*b/c, rounded down, for 0 <= a < c and b > 0, with a
// 128-bit intermediate so large thresholds cannot overflow.
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}
