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

// FuzzDecodeCreditBatch: a batch row's body either fails to decode or
// decodes to credits that encode and decode back to themselves; it never
// panics (column lengths and name indexes are checked).
func FuzzDecodeCreditBatch(f *testing.F) {
	at := time.Date(2026, 11, 25, 12, 0, 0, 5, time.UTC)
	seed, err := encodeCreditBatch("eleme", []CreditBody{
		{Ref: "evt:eleme:a", EventID: "a", Partner: "eleme", Account: 1, Sub: 2, Behavior: "eleme.no_cutlery", Scenario: "eat", MG: 16000, Points: 16, CalcID: "0-1", OccurredAt: at, CreditedAt: at},
		{Ref: "other", EventID: "b\"<", Partner: "eleme", Account: 3, Sub: 4, Behavior: "eleme.small_portion", Scenario: "eat", MG: 1, CalcID: "0-2", OccurredAt: at.Add(-time.Hour), CreditedAt: at},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("eleme", seed)
	f.Add("tmall", `{"t":"2026-11-25T12:00:00Z","b":["x"],"s":["y"],"e":["a"],"a":[1],"u":[2],"bi":[1],"si":[0],"mg":[1],"p":[0],"c":["0-1"],"o":[0]}`)
	f.Add("", `{"e":["a"]}`)
	f.Fuzz(func(t *testing.T, partner, body string) {
		got, err := decodeCreditBatch(partner, body)
		if err != nil || len(got) == 0 {
			return
		}
		again, err := encodeCreditBatch(partner, got)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", got, err)
		}
		back, err := decodeCreditBatch(partner, again)
		if err != nil {
			t.Fatalf("decoding the re-encoding %s: %v", again, err)
		}
		for i := range got {
			g, b := got[i], back[i]
			if !g.OccurredAt.Equal(b.OccurredAt) || !g.CreditedAt.Equal(b.CreditedAt) {
				t.Fatalf("credit %d times changed: %+v -> %+v", i, g, b)
			}
			g.OccurredAt, g.CreditedAt, b.OccurredAt, b.CreditedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if g != b {
				t.Fatalf("credit %d changed: %+v -> %+v", i, g, b)
			}
		}
	})
}
