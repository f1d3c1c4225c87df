package intake_test

import (
	"context"
	"fmt"
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
	"github.com/opencarbon/opencarbon/webhook"
)

// comps is every schema the intake writes to.
var comps = []store.Component{partner.Migrations, account.Migrations, ledger.Migrations, webhook.Migrations, audit.Migrations, intake.Migrations}

// fixedEngine serves one engine built from the shipped methodologies.
type fixedEngine struct{ e *methodology.Engine }

func (f fixedEngine) Engine(context.Context) (*methodology.Engine, error) { return f.e, nil }

func shippedEngine(tb testing.TB) *methodology.Engine {
	tb.Helper()
	ms, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := methodology.NewEngine(ms, factors, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

type env struct {
	t        testing.TB
	db       *store.DB
	eng      *methodology.Engine
	svc      *intake.Service
	accounts *account.Service
}

var testPartners = []string{"eleme", "cainiao", "tmall", "xianyu"}

func newEnv(tb testing.TB, db *store.DB, cfg intake.Config) *env {
	tb.Helper()
	ctx := context.Background()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range testPartners {
		if _, err := ps.Register(ctx, partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes}); err != nil {
			tb.Fatal(err)
		}
	}
	eng := shippedEngine(tb)
	svc := intake.NewService(db, fixedEngine{eng}, cfg)
	tb.Cleanup(svc.Close)
	return &env{t: tb, db: db, eng: eng, svc: svc, accounts: account.NewService(db)}
}

// open opens person's account linked to partners.
func (e *env) open(person string, partners ...string) int64 {
	e.t.Helper()
	a, _, err := e.accounts.Open(context.Background(), person, account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: partners})
	if err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

func (e *env) submit(partner string, evs ...intake.Event) []intake.Outcome {
	e.t.Helper()
	out, err := e.svc.Submit(context.Background(), partner, evs)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// cutlery is an eleme.no_cutlery event for person.
func cutlery(id, person, order string) intake.Event {
	return intake.Event{ID: id, Person: person, Behavior: "eleme.no_cutlery", OccurredAt: time.Now().UTC().Add(-time.Minute).Truncate(time.Microsecond),
		Params: map[string]any{"order_id": order}, Evidence: map[string]any{"cutlery_choice": "none"}}
}

func count(tb testing.TB, db *store.DB, q string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := db.Read().QueryRow(q, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
	return n
}

// credits returns the number of credited events and the ledger mg total of
// account.
func (e *env) totalMG(acct int64) int64 {
	e.t.Helper()
	b, err := ledger.NewService(e.db, 0).Balance(context.Background(), acct)
	if err != nil {
		e.t.Fatal(err)
	}
	return b.MG
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}
