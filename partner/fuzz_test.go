package partner_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// FuzzVerify checks that Verify never panics, never accepts a signature
// other than the one Sign computes for the exact request, and always
// answers with a stable code.
func FuzzVerify(f *testing.F) {
	db := storetest.Open(f, store.SQLite, partner.Migrations)
	s := mustService(f, db)
	secret := mustRegister(f, s, "eleme", partner.ScopeEventsWrite)
	f.Add("eleme", "POST", "/v1/events", int64(0), "0123456789abcdef", true, "", []byte(`{"a":1}`))
	f.Add("eleme", "POST", "/v1/events?x=1", int64(-300), "0123456789abcdeg", false, "00", []byte(``))
	f.Add("eleme", "GET", "/", int64(400), "zzzzzzzzzzzzzzzz", true, "", []byte(`x`))
	f.Add("nobody", "POST", "/v1/events", int64(1), "0123456789abcdeh", true, "", []byte(`{}`))
	f.Add("eleme", "POST", "/v1/events", int64(2), "short", false, "ff", []byte("\xff"))
	known := map[string]bool{"": true, oc.EMissingAuth: true, oc.EUnknownPartner: true, oc.EStaleTimestamp: true,
		oc.EInvalidSignature: true, oc.ENonceReused: true, oc.EMissingScope: true}
	f.Fuzz(func(t *testing.T, id, method, path string, skew int64, nonce string, sign bool, sigSuffix string, body []byte) {
		ts := db.Now().Unix() + skew%1000
		want := partner.Sign(secret, method, path, ts, nonce, body)
		sig := want
		if !sign {
			sig = partner.Sign(secret, method, path+"#", ts, nonce, body)
		}
		if sigSuffix != "" {
			sig = sig[:len(sig)-min(len(sigSuffix), len(sig))] + sigSuffix
		}
		h := http.Header{}
		h.Set(partner.HeaderPartner, id)
		h.Set(partner.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(partner.HeaderNonce, nonce)
		h.Set(partner.HeaderSignature, sig)
		got, err := s.Verify(context.Background(), method, path, h, body, partner.ScopeEventsWrite)
		if !known[oc.ErrorCode(err)] {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && (sig != want || got != "eleme" || id != "eleme") {
			t.Fatalf("accepted partner %q with signature %q, want signature %q", got, sig, want)
		}
	})
}
