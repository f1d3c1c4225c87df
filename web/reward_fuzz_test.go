package web_test

import (
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// FuzzRedeemBody sends arbitrary bodies to POST /v1/me/redemptions and
// /v1/me/donations: every answer is a JSON object with a known status and
// never an internal error, and a refused body spends nothing.
func FuzzRedeemBody(f *testing.F) {
	db := storetest.Open(f, store.SQLite, rwComps...)
	e := newRwEnv(f, db)
	e.open("fz", 1_000_000)
	e.do("POST", "/v1/admin/merchants", rwAsAdmin(), `{"id":"refill","name":"Refill"}`)
	e.do("POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"discount","merchant":"refill","title":"X","points":1,"stock":3,"per_person_limit":2}`)
	e.do("POST", "/v1/admin/offers", rwAsAdmin(), `{"kind":"donation","title":"T","project":"P","points":1,"amount_fen":1,"budget_fen":2}`)
	for _, s := range []string{`{"offer_id":1,"idempotency_key":"a"}`, `{"offer_id":2,"idempotency_key":"b"}`, `{"offer_id":1e3,"idempotency_key":"a"}`,
		`{"offer_id":-1}`, `{"offer_id":1,"idempotency_key":"a","x":1}`, `[]`, `null`, "{\"idempotency_key\":\"\xff\"}", `{"offer_id":9223372036854775808}`} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, body string, donate bool) {
		e.t = t // helpers report on this input
		path := "/v1/me/redemptions"
		if donate {
			path = "/v1/me/donations"
		}
		before := e.balance("fz")
		st, b := e.do("POST", path, rwAs("fz"), body)
		switch st {
		case 200, 201:
		case 400, 404, 409:
			if rwCode(b) == "" || rwCode(b) == "internal" {
				t.Fatalf("%d without a code: %v", st, b)
			}
			if after := e.balance("fz"); after != before {
				t.Fatalf("refused %q spent %d points", body, before-after)
			}
		default:
			t.Fatalf("%q → %d %v", body, st, b)
		}
	})
}
