package campaign

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func FuzzCheckDisplayName(f *testing.F) {
	for _, s := range []string{"小明", "Li Hua", " pad", "a\u202eb", "<b>", "zero\u200bwidth", strings.Repeat("长", 25), "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if CheckDisplayName(name) != nil {
			return
		}
		if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxDisplayName || strings.TrimSpace(name) != name || name == "" {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if isHidden(r) || strings.ContainsRune("<>&\"'`\\", r) {
				t.Fatalf("accepted %q with %U", name, r)
			}
		}
	})
}

// FuzzMemberOrder checks that the Redis member encoding round-trips and
// that byte order is exactly Entry.less.
func FuzzMemberOrder(f *testing.F) {
	f.Add(int64(5), int64(1), int64(7), int64(5), int64(2), int64(8))
	f.Add(int64(math.MaxInt64), int64(math.MinInt64), int64(1), int64(-1), int64(0), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, s1, r1, a1, s2, r2, a2 int64) {
		e1 := Entry{Account: a1, Score: s1, ReachedAt: time.UnixMicro(r1).UTC()}
		e2 := Entry{Account: a2, Score: s2, ReachedAt: time.UnixMicro(r2).UTC()}
		m1, m2 := encodeMember(e1), encodeMember(e2)
		d1, err := decodeMember(m1)
		if err != nil || d1.Score != s1 || d1.Account != a1 || d1.ReachedAt.UnixMicro() != r1 {
			t.Fatalf("round trip %+v → %q → %+v %v", e1, m1, d1, err)
		}
		if (m1 < m2) != e1.less(e2) {
			t.Fatalf("order differs: %+v %+v", e1, e2)
		}
	})
}
