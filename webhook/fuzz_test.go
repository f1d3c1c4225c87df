package webhook

import (
	"testing"
	"time"
)

// FuzzBackoff: whatever the settings and attempt number, the wait is in
// [d/2, d] for d = min(base·2^(n-1), max), never negative, never above max.
func FuzzBackoff(f *testing.F) {
	f.Add(int64(time.Second*30), int64(time.Hour), 1)
	f.Add(int64(time.Millisecond), int64(4*time.Millisecond), 60)
	f.Add(int64(1), int64(1), 1_000_000)
	f.Fuzz(func(t *testing.T, base, maxd int64, n int) {
		if base <= 0 || maxd < base || maxd > int64(1000*time.Hour) || n < 1 || n > 1_000_000 {
			return
		}
		d := &Deliverer{BaseDelay: time.Duration(base), MaxDelay: time.Duration(maxd)}
		want := time.Duration(base)
		for i := 1; i < n && want < d.MaxDelay; i++ {
			want *= 2
		}
		want = min(want, d.MaxDelay)
		got := d.backoff(n)
		if got < want/2 || got > want || got > d.MaxDelay || got < 0 {
			t.Fatalf("backoff(%d) with base %v max %v = %v; want in [%v, %v]", n, d.BaseDelay, d.MaxDelay, got, want/2, want)
		}
	})
}
