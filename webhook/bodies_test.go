package webhook

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzCreditBodyJSON: the fast path writes exactly the bytes of
// json.Marshal whenever it takes the body, and marshalBody always does.
func FuzzCreditBodyJSON(f *testing.F) {
	f.Add("evt:eleme:e1", "e1", "eleme", int64(7), int64(9), "eleme.no_cutlery", "eat", int64(11130), int64(11), "0-42", int64(1764000000123456), int64(1764000001000000), int64(0), "")
	f.Add(`evt:"x"`, `a\b`, "<p>", int64(-1), int64(0), "b&c", "\u2028", int64(0), int64(-5), "", int64(-62135596800000000), int64(253402300799999999), int64(1), "refund: 退款")
	f.Add("r", "e", "p", int64(1), int64(2), "b", "s", int64(3), int64(4), "c", int64(-99999999999999999), int64(0), int64(5), "x\x00y")
	f.Fuzz(func(t *testing.T, ref, ev, partner string, acct, sub int64, behavior, scenario string, mg, points int64, calc string, occ, cred, rev int64, reason string) {
		zones := []*time.Location{time.UTC, time.FixedZone("CST", 8*3600)}
		b := CreditBody{Ref: ref, EventID: ev, Partner: partner, Account: acct, Sub: sub, Behavior: behavior, Scenario: scenario,
			MG: mg, Points: points, CalcID: calc, OccurredAt: time.UnixMicro(occ).In(zones[int(uint64(occ)%2)]), CreditedAt: time.UnixMicro(cred).UTC(), Reason: reason}
		if rev != 0 {
			b.ReversedAt = time.UnixMicro(rev).UTC()
		}
		want, wantErr := json.Marshal(b)
		got, err := marshalBody(b)
		if (err != nil) != (wantErr != nil) || string(got) != string(want) {
			t.Fatalf("marshalBody\n got %s (%v)\nwant %s (%v)", got, err, want, wantErr)
		}
		if fast, ok := b.appendJSON(nil); ok && string(fast) != string(want) {
			t.Fatalf("fast path\n got %s\nwant %s", fast, want)
		}
	})
}

func TestCreditBodyFastPathTaken(t *testing.T) {
	b := CreditBody{Ref: "evt:eleme:e1", EventID: "e1", Partner: "eleme", Account: 7, Sub: 9, Behavior: "eleme.no_cutlery", Scenario: "eat",
		MG: 11130, Points: 11, CalcID: "0-42", OccurredAt: time.Date(2026, 11, 25, 1, 2, 3, 4000, time.UTC), CreditedAt: time.Date(2026, 11, 25, 1, 2, 4, 0, time.UTC)}
	if _, ok := b.appendJSON(nil); !ok {
		t.Fatal("a plain credit body did not take the fast path")
	}
}

func BenchmarkCreditBodyJSON(b *testing.B) {
	body := CreditBody{Ref: "evt:eleme:e1", EventID: "e1", Partner: "eleme", Account: 7, Sub: 9, Behavior: "eleme.no_cutlery", Scenario: "eat",
		MG: 11130, Points: 11, CalcID: "0-42", OccurredAt: time.Now().UTC(), CreditedAt: time.Now().UTC()}
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(body)
		}
	})
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			marshalBody(body)
		}
	})
}
