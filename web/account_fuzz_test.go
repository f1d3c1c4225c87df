package web_test

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// FuzzOpenAccount feeds arbitrary bodies to POST /v1/me/account: the
// answer is never a 5xx, a refusal stores nothing, and an acceptance leaves
// exactly one account.
func FuzzOpenAccount(f *testing.F) {
	db := storetest.Open(f, store.SQLite, acctComps...)
	e := newAcctEnv(f, db, nil)
	h := e.srv.Handler()
	tok := personToken(f, "fuzz-person")
	for _, s := range []string{
		`{"entry_point":"search","consent_version":"v1","partners":["eleme"]}`,
		`{"entry_point":"partner:eleme","consent_version":"2026-01"}`,
		`{"entry_point":"search","consent_version":"v1","partners":["eleme","nobody"]}`,
		`{"entry_point":"search","consent_version":"v1","x":1}`,
		`{"entry_point":["search"]}`, `null`, `[]`, `{}`, "{\"entry_point\":\"\xff\"}", `{"partners":[1,2]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := acctRows(t, db)
		req := httptest.NewRequest("POST", "/v1/me/account", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		after := acctRows(t, db)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		case rec.Code >= 400 && after != before:
			t.Fatalf("refused %q (%d) but rows went %v → %v", body, rec.Code, before, after)
		case rec.Code < 300 && after[0] != 1:
			t.Fatalf("accepted %q but %d accounts", body, after[0])
		}
	})
}
