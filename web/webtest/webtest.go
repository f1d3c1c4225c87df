// Package webtest starts a real OpenCarbon HTTP server for tests: every
// domain service that exists in this build, wired the way cmd/opencarbon
// wires them, over a fresh SQLite file in the test's temp dir, with demo
// partners and people. It is for tests only and must never be used by the
// production binary (its keys are fixed and public).
package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
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
	"github.com/opencarbon/opencarbon/reward"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/web"
	"github.com/opencarbon/opencarbon/webhook"
)

// Fixed test keys; never use them outside tests.
var (
	PersonKey  = []byte("webtest-person-token-key-0123456789")
	AdminToken = "webtest-admin-token"
	SecretKey  = []byte("webtest-secret-key-0123456789abc") // 32 bytes
)

// Partners are the partners the environment registers (id → name). One
// name contains markup, to prove every page escapes partner text.
var Partners = []partner.Registration{
	{ID: "eleme", Name: "Ele.me 饿了么", Scopes: partner.AllScopes},
	{ID: "cainiao", Name: "Cainiao 菜鸟", Scopes: partner.AllScopes},
	{ID: "xianyu", Name: "Xianyu 闲鱼", Scopes: partner.AllScopes},
	{ID: "tmall", Name: "Tmall 天猫", Scopes: partner.AllScopes},
	{ID: "evil", Name: `<script>alert("x")</script>`, Scopes: partner.AllScopes},
}

// Env is a running server and its services.
type Env struct {
	URL      string
	Server   *web.Server
	Handler  http.Handler // the server's handler, for in-process benchmarks
	DB       *store.DB
	Partners *partner.Service
	Accounts *account.Service
	// Methodologies holds the shipped methodologies, approved.
	Methodologies *methodology.Service
	Intake        *intake.Service
	Ledger        *ledger.Service
	Rewards       *reward.Service
	Campaigns     *campaign.Service
	Honor         *honor.Service
	// Secrets are the partner secrets by partner id.
	Secrets map[string]string
}

// Components lists the migrations of every wired service, in order.
func Components() []store.Component {
	return []store.Component{partner.Migrations, account.Migrations, methodology.Migrations,
		webhook.Migrations, ledger.Migrations, audit.Migrations, intake.Migrations, reward.Migrations, campaign.Migrations, honor.Migrations}
}

// New starts the environment; demo turns on demo mode (the people picker)
// and opens the demo people's accounts.
func New(tb testing.TB, demo bool) *Env {
	tb.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(tb.TempDir(), "ui.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx, Components()...); err != nil {
		tb.Fatal(err)
	}
	e := &Env{DB: db, Secrets: map[string]string{}}
	e.Partners, err = partner.NewService(db, SecretKey)
	if err != nil {
		tb.Fatal(err)
	}
	for _, reg := range Partners {
		sec, err := e.Partners.Register(ctx, reg)
		if err != nil {
			tb.Fatal(err)
		}
		e.Secrets[reg.ID] = sec
	}
	e.Accounts = account.NewService(db)
	e.Methodologies = methodology.NewService(db, methodology.DefaultQuorum)
	if err := e.Methodologies.SeedApproved(ctx, methodologies.FS); err != nil {
		tb.Fatal(err)
	}
	e.Ledger = ledger.NewService(db, 0)
	e.Intake = intake.NewService(db, e.Methodologies, intake.Config{})
	tb.Cleanup(e.Intake.Close)
	e.Rewards = reward.NewService(db, e.Accounts)
	e.Rewards.Register(e.Accounts)
	if err := e.Rewards.SeedDemo(ctx); err != nil {
		tb.Fatal(err)
	}
	e.Accounts.AddExporter("ledger", e.Ledger.Export)
	if err := e.wireHonorAndCampaigns(tb, demo); err != nil {
		tb.Fatal(err)
	}
	e.Server = &web.Server{Webhooks: webhook.NewDeliverer(db, e.Partners), Intake: e.Intake, Rewards: e.Rewards, Ledger: e.Ledger, Campaigns: e.Campaigns, Honor: e.Honor, DB: db, PersonTokenKey: PersonKey, AdminToken: AdminToken, Demo: demo,
		Partners: e.Partners, PartnerRegistry: e.Partners, Accounts: e.Accounts, Methodologies: e.Methodologies}
	if demo {
		for _, p := range account.DemoPeople {
			req := account.OpenRequest{EntryPoint: p.EntryPoint, ConsentVersion: p.ConsentVersion, Partners: p.Partners}
			if _, _, err := e.Accounts.Open(ctx, p.Person, req); err != nil {
				tb.Fatal(err)
			}
		}
	}
	e.Handler = e.Server.Handler()
	ts := httptest.NewServer(e.Handler)
	tb.Cleanup(ts.Close)
	dashCtx, stopDash := context.WithCancel(ctx)
	dashDone := make(chan struct{})
	go func() { defer close(dashDone); e.Server.RunDashboard(dashCtx, 20*time.Millisecond) }()
	tb.Cleanup(func() { stopDash(); <-dashDone })
	e.URL = ts.URL
	return e
}

// Token returns a person token for person, valid for an hour.
func (e *Env) Token(tb testing.TB, person string) string {
	tb.Helper()
	t, err := web.MintPersonToken(PersonKey, person, time.Hour)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// SendEvent posts one event from partnerID, signed with its secret, to
// /v1/events and returns the HTTP status and the answer body.
func (e *Env) SendEvent(tb testing.TB, partnerID, eventID, person, behavior string, params, evidence map[string]any) (int, string) {
	tb.Helper()
	body, err := json.Marshal(map[string]any{"event_id": eventID, "person": person, "behavior": behavior,
		"occurred_at": time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), "params": params, "evidence": evidence})
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.URL+"/v1/events", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	partner.SignRequest(req, partnerID, e.Secrets[partnerID], body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// NoCutlery sends an eleme.no_cutlery event for person (11.13 g avoided).
func (e *Env) NoCutlery(tb testing.TB, eventID, person string) (int, string) {
	return e.SendEvent(tb, "eleme", eventID, person, "eleme.no_cutlery", map[string]any{"order_id": eventID}, map[string]any{"cutlery_choice": "none"})
}

// wireHonorAndCampaigns builds Carbon Bao, medals and campaigns as
// cmd/opencarbon does, seeds the demo campaigns, and runs their outbox
// feeds until the test ends.
func (e *Env) wireHonorAndCampaigns(tb testing.TB, demo bool) error {
	ctx := context.Background()
	e.Campaigns = campaign.NewService(e.DB, campaign.NewMemBoard())
	e.Campaigns.Bonus = campaign.LedgerBonus
	e.Accounts.AddEraser(campaign.EraseTx)
	var err error
	e.Honor, err = honor.NewService(e.DB, honor.Config{Key: honor.DeriveIssuerKey(SecretKey),
		MG: func(ctx context.Context, account int64) (int64, error) {
			b, err := e.Ledger.Balance(ctx, account)
			return b.MG, err
		}})
	if err != nil {
		return err
	}
	e.Campaigns.CheckMedal = e.Honor.CheckRule
	e.Honor.AddMedalSource(func(ctx context.Context) ([]honor.Medal, error) {
		list, err := e.Campaigns.List(ctx, "")
		if err != nil {
			return nil, err
		}
		var out []honor.Medal
		for _, c := range list {
			for _, m := range c.Medals {
				out = append(out, honor.Medal{ID: m.ID, NameZH: m.NameZH, NameEN: m.NameEN, Artwork: m.Artwork, Rule: m.Rule, Campaign: c.ID})
			}
		}
		return out, nil
	})
	var members []campaign.DemoMember
	for i, p := range account.DemoPeople {
		if id, err := e.Accounts.AccountID(ctx, p.Person); err == nil {
			members = append(members, campaign.DemoMember{Account: id, Region: campaign.DemoRegions[i%len(campaign.DemoRegions)].Code, DisplayName: p.Name})
		}
	}
	if err := e.Campaigns.SeedDemo(ctx, time.Now(), members); err != nil {
		return err
	}
	if _, err := e.Campaigns.Sync(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.Campaigns.Run(runCtx, 20*time.Millisecond) }()
	go func() { defer wg.Done(); e.Honor.Run(runCtx, 20*time.Millisecond) }()
	tb.Cleanup(func() { cancel(); wg.Wait() })
	return nil
}

// BoxReturn sends a cainiao.box_return event for person (25.9 g avoided).
func (e *Env) BoxReturn(tb testing.TB, eventID, person string) (int, string) {
	return e.SendEvent(tb, "cainiao", eventID, person, "cainiao.box_return", map[string]any{"parcel_id": eventID}, map[string]any{"station_id": "HZ-001"})
}
