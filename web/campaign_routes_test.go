package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/campaign"
	"github.com/opencarbon/opencarbon/honor"
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

var (
	cpComps = []store.Component{partner.Migrations, account.Migrations, methodology.Migrations, webhook.Migrations, ledger.Migrations,
		audit.Migrations, intake.Migrations, campaign.Migrations, honor.Migrations}
	cpKey   = []byte("campaign-routes-person-key-0123456789")
	cpAdmin = "campaign-routes-admin-token"
)

// cpPublicURL is the deployment URL the test server is configured with.
const cpPublicURL = "https://carbon.example.org"

// cpEnv is a running server with accounts, campaigns and honor, and an
// intake that credits real events (honor derives its stats from them).
type cpEnv struct {
	t        *testing.T
	db       *store.DB
	url      string
	accounts *account.Service
	in       *intake.Service
	at       time.Time // when the credited orders happened
	camps    *campaign.Service
	honor    *honor.Service
}

func newCpEnv(t *testing.T, db *store.DB) *cpEnv {
	t.Helper()
	e := &cpEnv{t: t, db: db, accounts: account.NewService(db), camps: campaign.NewService(db, campaign.NewMemBoard())}
	ctx := context.Background()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Register(ctx, partner.Registration{ID: "eleme", Name: "eleme", Scopes: partner.AllScopes}); err != nil {
		t.Fatal(err)
	}
	meth := methodology.NewService(db, methodology.DefaultQuorum)
	if err := meth.SeedApproved(ctx, methodologies.FS); err != nil {
		t.Fatal(err)
	}
	e.in, e.at = intake.NewService(db, meth, intake.Config{}), time.Now().Add(-time.Minute).Truncate(time.Second)
	t.Cleanup(e.in.Close)
	e.honor, err = honor.NewService(db, honor.Config{Key: honor.DeriveIssuerKey([]byte("k"))})
	if err != nil {
		t.Fatal(err)
	}
	e.camps.CheckMedal = e.honor.CheckRule
	e.accounts.AddEraser(campaign.EraseTx)
	srv := &web.Server{DB: db, PersonTokenKey: cpKey, AdminToken: cpAdmin, Accounts: e.accounts, Campaigns: e.camps, Honor: e.honor,
		PublicURL: cpPublicURL}
	srv.AccountExtras = append(srv.AccountExtras, e.honor.BaoExtra, e.honor.MedalsExtra)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e.url = ts.URL
	return e
}

// call sends method path with body (JSON-encoded unless a string) and
// auth ("" none, "admin", or a person id) and decodes the answer into out.
func (e *cpEnv) call(method, path string, body any, auth string, out any) int {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	switch auth {
	case "":
	case "admin":
		req.Header.Set("Authorization", "Bearer "+cpAdmin)
	case "bad-token":
		req.Header.Set("Authorization", "Bearer not.a.token")
	default:
		tok, err := web.MintPersonToken(cpKey, auth, time.Hour)
		if err != nil {
			e.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, b)
		}
	}
	return res.StatusCode
}

func (e *cpEnv) open(person string) int64 {
	e.t.Helper()
	a, _, err := e.accounts.Open(context.Background(), person, account.OpenRequest{EntryPoint: "campaign", ConsentVersion: "2026-01", Partners: []string{"eleme"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

// credit posts event id, an eleme.no_cutlery order of person (11.13 g),
// through the intake and, if credited, runs both consumers until it is
// handled.
func (e *cpEnv) credit(person, id string) {
	e.t.Helper()
	out, err := e.in.Submit(context.Background(), "eleme", []intake.Event{{ID: id, Person: person, Behavior: "eleme.no_cutlery",
		OccurredAt: e.at, Params: map[string]any{"order_id": id}, Evidence: map[string]any{"cutlery_choice": "none"}}})
	if err != nil || (out[0].Status != intake.StatusCredited && out[0].Status != intake.StatusDuplicate) {
		e.t.Fatalf("submit %s: %v %+v", id, err, out)
	}
	if out[0].Status == intake.StatusCredited { // a duplicate writes no message
		e.drain()
	}
}

func (e *cpEnv) drain() {
	e.t.Helper()
	ctx := context.Background()
	var target int64
	e.db.Read().QueryRowContext(ctx, `SELECT MAX(id) FROM outbox WHERE topic <> 'medal.awarded'`).Scan(&target)
	for _, c := range []struct {
		name string
		fn   func(context.Context, []webhook.Message) error
	}{{campaign.FeedName, e.camps.HandleMessages}, {honor.FeedName, e.honor.HandleMessages}} {
		f := webhook.NewFeed(e.db, c.name)
		deadline := time.Now().Add(15 * time.Second)
		for done := false; !done; {
			msgs, err := f.Next(ctx, 100)
			if err != nil {
				e.t.Fatal(err)
			}
			if len(msgs) == 0 {
				if time.Now().After(deadline) {
					e.t.Fatalf("message %d never visible", target)
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			if err := c.fn(ctx, msgs); err != nil {
				e.t.Fatal(err)
			}
			f.Ack(ctx, msgs[len(msgs)-1])
			for _, m := range msgs {
				done = done || m.ID >= target
			}
		}
	}
}

type errBody struct {
	Error struct{ Code string } `json:"error"`
}

func liveCampaign(now time.Time) map[string]any {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	return map[string]any{"id": "week", "title_zh": "减碳周", "title_en": "Reduction Week", "time_zone": "Asia/Shanghai",
		"start": now.In(loc).Add(-48 * time.Hour).Format(campaign.LocalLayout), "end": now.In(loc).Add(48 * time.Hour).Format(campaign.LocalLayout),
		"regions": []map[string]string{{"code": "GD"}, {"code": "BJ"}}, "bonus_percent": 0,
		"medals": []map[string]string{{"id": "week-10g", "name_zh": "十克", "name_en": "Ten grams", "artwork": "/static/bao.svg", "rule": "mg >= 10000"}}}
}

func TestCampaignRoutes(t *testing.T) {
	storetest.Each(t, cpComps, func(t *testing.T, db *store.DB) {
		e := newCpEnv(t, db)
		e.honor.AddMedalSource(func(ctx context.Context) ([]honor.Medal, error) {
			cs, err := e.camps.List(ctx, "")
			var out []honor.Medal
			for _, c := range cs {
				for _, m := range c.Medals {
					out = append(out, honor.Medal{ID: m.ID, NameZH: m.NameZH, NameEN: m.NameEN, Artwork: m.Artwork, Rule: m.Rule, Campaign: c.ID})
				}
			}
			return out, err
		})
		now := time.Now()
		t.Run("AdminCreate", func(t *testing.T) {
			var eb errBody
			if st := e.call("POST", "/v1/admin/campaigns", liveCampaign(now), "", &eb); st != 401 || eb.Error.Code != "missing_auth" {
				t.Fatalf("no token: %d %+v", st, eb)
			}
			var c campaign.Campaign
			if st := e.call("POST", "/v1/admin/campaigns", liveCampaign(now), "admin", &c); st != 201 || c.Status != "live" {
				t.Fatalf("create: %d %+v", st, c)
			}
			if st := e.call("POST", "/v1/admin/campaigns", liveCampaign(now), "admin", &eb); st != 409 {
				t.Fatalf("duplicate: %d", st)
			}
			bad := liveCampaign(now)
			bad["id"], bad["regions"] = "bad", []map[string]string{{"code": "ZZ"}}
			if st := e.call("POST", "/v1/admin/campaigns", bad, "admin", &eb); st != 400 || eb.Error.Code != "invalid" {
				t.Fatalf("bad region: %d %+v", st, eb)
			}
			bad = liveCampaign(now)
			bad["id"], bad["medals"] = "bad2", []map[string]string{{"id": "m1", "name_zh": "a", "name_en": "a", "artwork": "/a", "rule": "mg +"}}
			if st := e.call("POST", "/v1/admin/campaigns", bad, "admin", &eb); st != 400 {
				t.Fatalf("bad medal rule: %d", st)
			}
			if st := e.call("POST", "/v1/admin/campaigns", `{"id":"x","nope":1}`, "admin", &eb); st != 400 {
				t.Fatalf("unknown field: %d", st)
			}
			upd := liveCampaign(now)
			upd["title_en"] = "Week!"
			if st := e.call("PUT", "/v1/admin/campaigns/week", upd, "admin", &c); st != 200 || c.TitleEN != "Week!" {
				t.Fatalf("update: %d %+v", st, c)
			}
			var list struct{ Campaigns []campaign.Campaign }
			if st := e.call("GET", "/v1/campaigns?status=live", nil, "", &list); st != 200 || len(list.Campaigns) != 1 {
				t.Fatalf("list: %d %+v", st, list)
			}
			if st := e.call("GET", "/v1/campaigns?status=soon", nil, "", &eb); st != 400 {
				t.Fatalf("bad status: %d", st)
			}
		})
		e.open("p-one")
		e.open("p-two")
		e.open("p-three")
		t.Run("Join", func(t *testing.T) {
			var eb errBody
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "GD"}, "p-nobody", &eb); st != 403 || eb.Error.Code != "no_consent" {
				t.Fatalf("no account: %d %+v", st, eb)
			}
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "SC"}, "p-one", &eb); st != 422 || eb.Error.Code != "not_eligible" {
				t.Fatalf("region: %d %+v", st, eb)
			}
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "GD", "display_name": "<b>x</b>"}, "p-one", &eb); st != 400 {
				t.Fatalf("markup name: %d", st)
			}
			var m campaign.Member
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "GD", "display_name": "小明"}, "p-one", &m); st != 200 || m.Region != "GD" {
				t.Fatalf("join: %d %+v", st, m)
			}
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "GD"}, "p-two", &m); st != 200 {
				t.Fatalf("join two: %d", st)
			}
			if st := e.call("POST", "/v1/me/campaigns/week/join", map[string]string{"region": "BJ"}, "p-one", &eb); st != 409 || eb.Error.Code != "region_locked" {
				t.Fatalf("region change: %d %+v", st, eb)
			}
		})
		t.Run("Leaderboard", func(t *testing.T) {
			e.credit("p-one", "w1")
			e.credit("p-two", "w2")
			e.credit("p-two", "w3")
			e.credit("p-two", "w3") // a repeat: a duplicate, nothing changes
			var lb campaign.Leaderboard
			if st := e.call("GET", "/v1/campaigns/week/leaderboards/gd?limit=5", nil, "", &lb); st != 200 || len(lb.Top) != 2 || lb.Me != nil {
				t.Fatalf("public board: %d %+v", st, lb)
			}
			if lb.Top[0].ScoreMG != 22_260 || !lb.Top[0].Masked || lb.Top[1].Name != "小明" {
				t.Fatalf("rows %+v", lb.Top)
			}
			var raw json.RawMessage
			e.call("GET", "/v1/campaigns/week/leaderboards/GD", nil, "p-one", &raw)
			if strings.Contains(string(raw), "p-two") || strings.Contains(string(raw), "p-one") {
				t.Fatalf("raw person id on the board: %s", raw)
			}
			if st := e.call("GET", "/v1/campaigns/week/leaderboards/GD", nil, "p-one", &lb); st != 200 || lb.Me == nil || lb.Me.Rank != 2 || lb.Me.ScoreMG != 11_130 {
				t.Fatalf("me: %d %+v", st, lb.Me)
			}
			if st := e.call("GET", "/v1/campaigns/week/leaderboards/GD", nil, "p-three", &lb); st != 200 || lb.Me == nil || lb.Me.Joined {
				t.Fatalf("not joined: %d %+v", st, lb.Me)
			}
			var eb errBody
			for _, tc := range []struct {
				path, auth string
				status     int
			}{
				{"/v1/campaigns/week/leaderboards/GD", "bad-token", 401},
				{"/v1/campaigns/week/leaderboards/GD?limit=0", "", 400},
				{"/v1/campaigns/week/leaderboards/GD?limit=x", "", 400},
				{"/v1/campaigns/week/leaderboards/GD?limit=101", "", 400},
				{"/v1/campaigns/week/leaderboards/SC", "", 422},
				{"/v1/campaigns/none/leaderboards/GD", "", 404},
			} {
				if st := e.call("GET", tc.path, nil, tc.auth, &eb); st != tc.status {
					t.Errorf("%s: %d, want %d", tc.path, st, tc.status)
				}
			}
			var m campaign.Member
			if st := e.call("POST", "/v1/me/campaigns/week/leave", nil, "p-two", &m); st != 200 || m.LeftAt == nil {
				t.Fatalf("leave: %d %+v", st, m)
			}
			e.call("GET", "/v1/campaigns/week/leaderboards/GD", nil, "", &lb)
			if len(lb.Top) != 1 || lb.Top[0].Name != "小明" {
				t.Fatalf("after leave %+v", lb.Top)
			}
		})
		t.Run("MedalsAndCredential", func(t *testing.T) {
			var mine struct {
				Medals []honor.Award
				Bao    honor.Bao
			}
			if st := e.call("GET", "/v1/me/medals", nil, "p-two", &mine); st != 200 {
				t.Fatalf("medals: %d", st)
			}
			ids := map[string]bool{}
			for _, m := range mine.Medals {
				ids[m.ID] = true
			}
			if !ids["first-step"] || !ids["campaigner"] || !ids["week-10g"] || mine.Bao.MG != 22_260 {
				t.Fatalf("medals %+v bao %+v", ids, mine.Bao)
			}
			var acct map[string]json.RawMessage
			if st := e.call("GET", "/v1/me/account", nil, "p-two", &acct); st != 200 || acct["bao"] == nil || acct["medals"] == nil {
				t.Fatalf("account extras: %d %v", st, acct)
			}
			var cred struct{ Format, Credential string }
			if st := e.call("GET", "/v1/me/medals/week-10g/credential", nil, "p-two", &cred); st != 200 || cred.Format != "vc+jwt" {
				t.Fatalf("credential: %d %+v", st, cred)
			}
			var doc honor.IssuerDocument
			if st := e.call("GET", "/.well-known/opencarbon-issuer.json", nil, "", &doc); st != 200 || len(doc.Keys) != 1 {
				t.Fatalf("issuer: %d %+v", st, doc)
			}
			pub, err := honor.ParseJWK(doc.Keys[0])
			if err != nil {
				t.Fatal(err)
			}
			c, err := honor.VerifyCredential(cred.Credential, pub)
			if err != nil || c.Issuer.ID != doc.Issuer.ID {
				t.Fatalf("verify: %v %+v", err, c)
			}
			// The issuer is the configured public URL, whatever Host the
			// client sent.
			if c.Issuer.ID != cpPublicURL {
				t.Fatalf("issuer = %q; want the configured %q", c.Issuer.ID, cpPublicURL)
			}
			var eb errBody
			if st := e.call("GET", "/v1/me/medals/ten-kg/credential", nil, "p-two", &eb); st != 404 {
				t.Fatalf("not held: %d", st)
			}
			if st := e.call("GET", "/v1/me/medals", nil, "", &eb); st != 401 {
				t.Fatalf("anonymous: %d", st)
			}
		})
		t.Run("EraseRemovesDisplayName", func(t *testing.T) {
			if st := e.call("DELETE", "/v1/me", nil, "p-one", nil); st != 200 {
				t.Fatalf("erase: %d", st)
			}
			var lb campaign.Leaderboard
			e.call("GET", "/v1/campaigns/week/leaderboards/GD", nil, "", &lb)
			if len(lb.Top) != 1 || lb.Top[0].Name == "小明" || !lb.Top[0].Masked {
				t.Fatalf("after erase %+v", lb.Top)
			}
		})
	})
}
