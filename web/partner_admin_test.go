package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
)

// newSuspendEnv is newEvEnv with the admin partner routes wired: eleme
// holds every scope, alice has consented to eleme.
func newSuspendEnv(t *testing.T, db *store.DB) *evEnv {
	t.Helper()
	ctx := context.Background()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &evEnv{t: t, secrets: map[string]string{}}
	if e.secrets["eleme"], err = ps.Register(ctx, partner.Registration{ID: "eleme", Name: "Ele.me", Scopes: partner.AllScopes}); err != nil {
		t.Fatal(err)
	}
	ms, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := methodology.NewEngine(ms, factors, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := intake.NewService(db, evEngine{eng}, intake.Config{})
	t.Cleanup(in.Close)
	accts := account.NewService(db)
	if _, _, err := accts.Open(ctx, "alice", account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"eleme"}}); err != nil {
		t.Fatal(err)
	}
	srv := &web.Server{DB: db, PersonTokenKey: acctKey, AdminToken: acctAdminToken, Partners: ps, PartnerRegistry: ps, Accounts: accts, Intake: in}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// admin sends an admin call with body (nil: none).
func (e *evEnv) admin(method, path, token string, body []byte) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

// TestPartnerSuspension suspends and reinstates a partner and changes its
// scopes through the admin API, and checks its signed requests over HTTP:
// refused with partner_suspended while suspended, with nothing written
// (no nonce, no event: the same event id is credited after reinstatement),
// accepted from the first request after reinstatement; a scope change
// applies to the next request.
func TestPartnerSuspension(t *testing.T) {
	storetest.Each(t, evComps, func(t *testing.T, db *store.DB) {
		e := newSuspendEnv(t, db)
		adm := acctAdminToken
		nonces := func() int { return countRows(t, db, `SELECT COUNT(*) FROM partner_nonces`) }
		status := func(ev string) (int, string, map[string]any) {
			st, body := e.signed("eleme", "/v1/events", "application/json", []byte(ev), false)
			if st != 200 {
				return st, errCode(body), body
			}
			return st, results(t, body)[0]["status"].(string), body
		}
		if st, s, body := status(evJSON("s1", "alice", "S1")); st != 200 || s != "credited" {
			t.Fatalf("before suspension: %d %s %v", st, s, body)
		}

		st, body := e.admin("POST", "/v1/admin/partners/eleme/suspend", adm, []byte(`{"reason":"fraud investigation #12","by":"ops-li"}`))
		if st != 200 || body["status"] != "suspended" || body["status_reason"] != "fraud investigation #12" || body["status_changed_by"] != "ops-li" || body["status_changed_at"] == nil {
			t.Fatalf("suspend = %d %v", st, body)
		}
		before := nonces()
		refused := []struct {
			name, path, body string
			wrongSecret      bool
			status           int
			code             string
		}{
			{"ErrSuspendedEvent", "/v1/events", evJSON("s2", "alice", "S2"), false, 403, "partner_suspended"},
			{"ErrSuspendedBatch", "/v1/events", `{"events":[` + evJSON("s3", "alice", "S3") + `]}`, false, 403, "partner_suspended"},
			{"ErrSuspendedReversal", "/v1/events/s1/reversal", `{"reason":"refund"}`, false, 403, "partner_suspended"},
			{"ErrBadSignatureDoesNotLearnSuspension", "/v1/events", evJSON("s2", "alice", "S2"), true, 401, "invalid_signature"},
		}
		for _, tc := range refused {
			t.Run(tc.name, func(t *testing.T) {
				st, body := e.signed("eleme", tc.path, "application/json", []byte(tc.body), tc.wrongSecret)
				if st != tc.status || errCode(body) != tc.code {
					t.Fatalf("= %d %v, want %d %s", st, body, tc.status, tc.code)
				}
				if got := nonces(); got != before {
					t.Fatalf("a refused request kept a nonce: %d -> %d", before, got)
				}
				if n := countRows(t, db, `SELECT COUNT(*) FROM intake_events WHERE event_id IN ('s2', 's3')`); n != 0 {
					t.Fatalf("a refused event was stored")
				}
			})
		}
		if st, body := e.admin("GET", "/v1/admin/partners/eleme", adm, nil); st != 200 || body["status"] != "suspended" {
			t.Fatalf("get suspended = %d %v", st, body)
		}

		if st, body := e.admin("POST", "/v1/admin/partners/eleme/reinstate", adm, nil); st != 200 || body["status"] != "active" || body["status_changed_by"] != "admin-api" {
			t.Fatalf("reinstate = %d %v", st, body)
		}
		// The events refused while suspended were not remembered.
		if st, s, body := status(evJSON("s2", "alice", "S2")); st != 200 || s != "credited" {
			t.Fatalf("after reinstatement: %d %s %v", st, s, body)
		}

		if st, body := e.admin("PUT", "/v1/admin/partners/eleme/scopes", adm, []byte(`{"scopes":["webhooks","events:reverse","webhooks"]}`)); st != 200 {
			t.Fatalf("set scopes = %d %v", st, body)
		} else if sc, _ := body["scopes"].([]any); len(sc) != 2 || sc[0] != "events:reverse" || sc[1] != "webhooks" {
			t.Fatalf("scopes = %v", body["scopes"])
		}
		if st, s, body := status(evJSON("s4", "alice", "S4")); st != 403 || s != "missing_scope" {
			t.Fatalf("after removing events:write: %d %s %v", st, s, body)
		}
		if st, body := e.admin("PUT", "/v1/admin/partners/eleme/scopes", adm, []byte(`{"scopes":["events:write"],"by":"ops-wang"}`)); st != 200 {
			t.Fatalf("set scopes = %d %v", st, body)
		}
		if st, s, body := status(evJSON("s4", "alice", "S4")); st != 200 || s != "credited" {
			t.Fatalf("after granting events:write: %d %s %v", st, s, body)
		}

		st, body = e.admin("GET", "/v1/admin/partners/eleme/changes", adm, nil)
		ch, _ := body["changes"].([]any)
		want := [][3]string{{"suspend", "fraud investigation #12", "ops-li"}, {"reinstate", "", "admin-api"}, {"scopes", "events:reverse webhooks", "admin-api"}, {"scopes", "events:write", "ops-wang"}}
		if st != 200 || len(ch) != len(want) {
			t.Fatalf("changes = %d %v", st, body)
		}
		for i, w := range want {
			c := ch[i].(map[string]any)
			if c["action"] != w[0] || c["detail"] != w[1] || c["actor"] != w[2] || c["at"] == nil {
				t.Fatalf("change %d = %v, want %v", i, c, w)
			}
		}
	})
}

func TestPartnerAdminRefusals(t *testing.T) {
	storetest.Each(t, evComps, func(t *testing.T, db *store.DB) {
		e := newSuspendEnv(t, db)
		adm := acctAdminToken
		state := func() [3]int {
			return [3]int{
				countRows(t, db, `SELECT COUNT(*) FROM partner_changes`),
				countRows(t, db, `SELECT COUNT(*) FROM partners WHERE status = 'active'`),
				countRows(t, db, `SELECT COUNT(*) FROM partners WHERE scopes = 'events:reverse events:write mall:manage webhooks'`),
			}
		}
		before := state()
		tests := []struct {
			name, method, path, token, body string
			status                          int
			code                            string
		}{
			{"ErrSuspendNoToken", "POST", "/v1/admin/partners/eleme/suspend", "", `{"reason":"x"}`, 401, "missing_auth"},
			{"ErrSuspendPersonToken", "POST", "/v1/admin/partners/eleme/suspend", personToken(t, "alice"), `{"reason":"x"}`, 401, "unauthorized"},
			{"ErrReinstateNoToken", "POST", "/v1/admin/partners/eleme/reinstate", "", ``, 401, "missing_auth"},
			{"ErrScopesNoToken", "PUT", "/v1/admin/partners/eleme/scopes", "", `{"scopes":["webhooks"]}`, 401, "missing_auth"},
			{"ErrChangesNoToken", "GET", "/v1/admin/partners/eleme/changes", "", ``, 401, "missing_auth"},
			{"ErrSuspendNoBody", "POST", "/v1/admin/partners/eleme/suspend", adm, ``, 400, "invalid"},
			{"ErrSuspendNoReason", "POST", "/v1/admin/partners/eleme/suspend", adm, `{}`, 400, "invalid"},
			{"ErrSuspendBlankReason", "POST", "/v1/admin/partners/eleme/suspend", adm, `{"reason":"   "}`, 400, "invalid"},
			{"ErrSuspendControlChars", "POST", "/v1/admin/partners/eleme/suspend", adm, `{"reason":"a\u0000b"}`, 400, "invalid"},
			{"ErrSuspendUnknownField", "POST", "/v1/admin/partners/eleme/suspend", adm, `{"reason":"x","until":"tomorrow"}`, 400, "invalid"},
			{"ErrSuspendWrongType", "POST", "/v1/admin/partners/eleme/suspend", adm, `{"reason":12}`, 400, "invalid"},
			{"ErrSuspendUnknownPartner", "POST", "/v1/admin/partners/nobody/suspend", adm, `{"reason":"x"}`, 404, "not_found"},
			{"ErrReinstateActive", "POST", "/v1/admin/partners/eleme/reinstate", adm, ``, 409, "conflict"},
			{"ErrReinstateUnknownPartner", "POST", "/v1/admin/partners/nobody/reinstate", adm, ``, 404, "not_found"},
			{"ErrReinstateTrailingData", "POST", "/v1/admin/partners/eleme/reinstate", adm, `{} {}`, 400, "invalid"},
			{"ErrScopesUnknown", "PUT", "/v1/admin/partners/eleme/scopes", adm, `{"scopes":["events:write","root"]}`, 400, "invalid"},
			{"ErrScopesEmpty", "PUT", "/v1/admin/partners/eleme/scopes", adm, `{"scopes":[]}`, 400, "invalid"},
			{"ErrScopesMissing", "PUT", "/v1/admin/partners/eleme/scopes", adm, `{}`, 400, "invalid"},
			{"ErrScopesWrongType", "PUT", "/v1/admin/partners/eleme/scopes", adm, `{"scopes":"webhooks"}`, 400, "invalid"},
			{"ErrScopesUnknownPartner", "PUT", "/v1/admin/partners/nobody/scopes", adm, `{"scopes":["webhooks"]}`, 404, "not_found"},
			{"ErrChangesUnknownPartner", "GET", "/v1/admin/partners/nobody/changes", adm, ``, 404, "not_found"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var body []byte
				if tc.body != "" {
					body = []byte(tc.body)
				}
				st, out := e.admin(tc.method, tc.path, tc.token, body)
				if st != tc.status || errCode(out) != tc.code {
					t.Fatalf("= %d %v, want %d %s", st, out, tc.status, tc.code)
				}
				if got := state(); got != before {
					t.Fatalf("refused call changed partners: %v, before %v", got, before)
				}
			})
		}
	})
}
