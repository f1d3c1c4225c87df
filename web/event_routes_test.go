package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/webhook"
)

var evComps = []store.Component{partner.Migrations, account.Migrations, ledger.Migrations, webhook.Migrations, audit.Migrations, intake.Migrations, methodology.Migrations}

type evEngine struct{ e *methodology.Engine }

func (f evEngine) Engine(context.Context) (*methodology.Engine, error) { return f.e, nil }

type evEnv struct {
	t        *testing.T
	url      string
	secrets  map[string]string
	reviewer string // a methodology reviewer's token
	author   string // a methodology author's token (not a verifier)
}

func newEvEnv(t *testing.T, db *store.DB) *evEnv {
	t.Helper()
	ctx := context.Background()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	e := &evEnv{t: t, secrets: map[string]string{}}
	for id, scopes := range map[string][]string{"eleme": partner.AllScopes, "cainiao": {partner.ScopeEventsWrite}} {
		if e.secrets[id], err = ps.Register(ctx, partner.Registration{ID: id, Name: id, Scopes: scopes}); err != nil {
			t.Fatal(err)
		}
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
	for _, p := range []string{"alice", "bob"} {
		if _, _, err := accts.Open(ctx, p, account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: []string{"eleme"}}); err != nil {
			t.Fatal(err)
		}
	}
	registry := methodology.NewService(db, 2)
	if _, e.reviewer, err = registry.CreateReviewer(ctx, "rev-1", "Reviewer", []string{methodology.RoleReviewer}); err != nil {
		t.Fatal(err)
	}
	if _, e.author, err = registry.CreateReviewer(ctx, "auth-1", "Author", []string{methodology.RoleAuthor}); err != nil {
		t.Fatal(err)
	}
	srv := &web.Server{DB: db, PersonTokenKey: acctKey, AdminToken: acctAdminToken, Partners: ps, Accounts: accts, Intake: in, Methodologies: registry}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// signed sends a partner request signed with the partner's secret (or a
// wrong one) and returns the status and body.
func (e *evEnv) signed(partnerID, path, contentType string, body []byte, wrongSecret bool) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	secret := e.secrets[partnerID]
	if wrongSecret {
		secret += "x"
	}
	partner.SignRequest(req, partnerID, secret, body)
	return e.do(req)
}

func (e *evEnv) get(path, token string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *evEnv) do(req *http.Request) (int, map[string]any) {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		e.t.Fatalf("%s %s: not a JSON object: %q", req.Method, req.URL.Path, b)
	}
	return res.StatusCode, out
}

func results(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	rs, ok := body["results"].([]any)
	if !ok {
		t.Fatalf("no results in %v", body)
	}
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = r.(map[string]any)
	}
	return out
}

// evAt is the occurred_at of every evJSON event: fixed once, so an event
// sent again in a later second is the same event (a duplicate), not a
// conflicting reuse of its id.
var evAt = time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)

func evJSON(id, person, order string) string {
	return fmt.Sprintf(`{"event_id":%q,"person":%q,"behavior":"eleme.no_cutlery","occurred_at":%q,"params":{"order_id":%q},"evidence":{"cutlery_choice":"none"}}`,
		id, person, evAt, order)
}

func TestEventRoutes(t *testing.T) {
	storetest.Each(t, evComps, func(t *testing.T, db *store.DB) {
		e := newEvEnv(t, db)
		var calcID string
		t.Run("OK", func(t *testing.T) {
			st, body := e.signed("eleme", "/v1/events", "application/json", []byte(evJSON("h1", "alice", "O1")), false)
			rs := results(t, body)
			if st != 200 || len(rs) != 1 || rs[0]["status"] != "credited" || rs[0]["mg"] != 11130.0 || rs[0]["calc_id"] == "" {
				t.Fatalf("%d %v", st, body)
			}
			calcID = rs[0]["calc_id"].(string)
		})
		t.Run("BatchWithBadEvents", func(t *testing.T) {
			body := `{"events":[` + evJSON("h1", "alice", "O1") + `,` + evJSON("h2", "alice", "O2") + `,{"event_id":"h3","person":"alice"},` + evJSON("h4", "nobody", "O4") + `]}`
			st, out := e.signed("eleme", "/v1/events", "application/json", []byte(body), false)
			rs := results(t, out)
			want := [][2]string{{"duplicate", ""}, {"credited", ""}, {"rejected", "invalid"}, {"rejected", "no_consent"}}
			if st != 200 || len(rs) != 4 {
				t.Fatalf("%d %v", st, out)
			}
			for i, w := range want {
				code, _ := rs[i]["code"].(string)
				if rs[i]["status"] != w[0] || code != w[1] {
					t.Fatalf("result %d = %v; want %v", i, rs[i], w)
				}
			}
		})
		t.Run("CloudEvent", func(t *testing.T) {
			ce := fmt.Sprintf(`{"specversion":"1.0","type":"eleme.no_cutlery","source":"https://eleme.example","id":"h5","time":%q,"data":{"person":"bob","params":{"order_id":"O5"},"evidence":{"cutlery_choice":"none"}}}`,
				time.Now().UTC().Format(time.RFC3339))
			st, out := e.signed("eleme", "/v1/events", "application/cloudevents+json", []byte(ce), false)
			if rs := results(t, out); st != 200 || rs[0]["status"] != "credited" {
				t.Fatalf("%d %v", st, out)
			}
		})
		t.Run("ErrInvalidSignature", func(t *testing.T) {
			st, out := e.signed("eleme", "/v1/events", "application/json", []byte(evJSON("h6", "alice", "O6")), true)
			if st != 401 || errCode(out) != "invalid_signature" {
				t.Fatalf("%d %v", st, out)
			}
			if n := countRows(t, db, `SELECT COUNT(*) FROM intake_events WHERE event_id = 'h6'`); n != 0 {
				t.Fatal("a badly signed event was stored")
			}
		})
		t.Run("ErrNotJSON", func(t *testing.T) {
			st, out := e.signed("eleme", "/v1/events", "application/json", []byte(`nope`), false)
			if st != 400 || errCode(out) != "invalid" {
				t.Fatalf("%d %v", st, out)
			}
		})
		t.Run("Reversal", func(t *testing.T) {
			if st, out := e.signed("eleme", "/v1/events/h2/reversal", "application/json", []byte(`{}`), false); st != 400 || errCode(out) != "invalid" {
				t.Fatalf("no reason: %d %v", st, out)
			}
			if st, out := e.signed("cainiao", "/v1/events/h2/reversal", "application/json", []byte(`{"reason":"x"}`), false); st != 403 || errCode(out) != "missing_scope" {
				t.Fatalf("no scope: %d %v", st, out)
			}
			st, out := e.signed("eleme", "/v1/events/h2/reversal", "application/json", []byte(`{"reason":"order refunded"}`), false)
			if st != 200 || out["status"] != "reversed" || out["mg"] != 11130.0 {
				t.Fatalf("reverse: %d %v", st, out)
			}
			st2, out2 := e.signed("eleme", "/v1/events/h2/reversal", "application/json", []byte(`{"reason":"again"}`), false)
			if st2 != 200 || out2["mg"] != out["mg"] || out2["reason"] != "order refunded" {
				t.Fatalf("second reverse: %d %v", st2, out2)
			}
			if st, out := e.signed("eleme", "/v1/events/nope/reversal", "application/json", []byte(`{"reason":"x"}`), false); st != 409 || errCode(out) != "not_credited" {
				t.Fatalf("never credited: %d %v", st, out)
			}
		})
		alice, bob := personToken(t, "alice"), personToken(t, "bob")
		t.Run("Calc", func(t *testing.T) {
			st, out := e.get("/v1/calcs/"+calcID, alice)
			if st != 200 || !strings.Contains(out["explanation"].(string), "11.13 g") || out["hash"] == "" {
				t.Fatalf("owner: %d %v", st, out)
			}
			if st, out := e.get("/v1/calcs/"+calcID, bob); st != 404 || errCode(out) != "not_found" {
				t.Fatalf("other person: %d %v", st, out)
			}
			if st, _ := e.get("/v1/calcs/"+calcID, acctAdminToken); st != 200 {
				t.Fatalf("admin: %d", st)
			}
			if st, _ := e.get("/v1/calcs/"+calcID, e.reviewer); st != 200 {
				t.Fatalf("methodology reviewer: %d", st)
			}
			if st, _ := e.get("/v1/calcs/"+calcID, e.author); st == 200 {
				t.Fatalf("an author is not a verifier: %d", st)
			}
			if st, _ := e.get("/v1/calcs/"+calcID, ""); st != 401 {
				t.Fatalf("anonymous: %d", st)
			}
			if st, out := e.get("/v1/calcs/"+calcID+"?lang=zh", alice); st != 200 || !strings.Contains(out["explanation"].(string), "克") {
				t.Fatalf("zh: %d %v", st, out)
			}
		})
		t.Run("Footprint", func(t *testing.T) {
			st, out := e.get("/v1/me/footprint?by=scenario", alice)
			if st != 200 || out["total_mg"] != 11130.0 {
				t.Fatalf("%d %v", st, out)
			}
			if st, out := e.get("/v1/me/footprint?from=yesterday", alice); st != 400 || errCode(out) != "invalid" {
				t.Fatalf("bad date: %d %v", st, out)
			}
		})
		t.Run("Entries", func(t *testing.T) {
			st, out := e.get("/v1/me/entries?limit=1", alice)
			es, _ := out["entries"].([]any)
			if st != 200 || len(es) != 1 || out["next_cursor"] == "" {
				t.Fatalf("%d %v", st, out)
			}
			st, out = e.get("/v1/me/entries?cursor="+out["next_cursor"].(string), alice)
			es, _ = out["entries"].([]any)
			if st != 200 || len(es) != 1 || out["next_cursor"] != "" {
				t.Fatalf("page 2: %d %v", st, out)
			}
			if st, _ := e.get("/v1/me/entries", ""); st != 401 {
				t.Fatalf("anonymous: %d", st)
			}
		})
	})
}

func countRows(t *testing.T, db *store.DB, q string) int {
	t.Helper()
	var n int
	if err := db.Read().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
