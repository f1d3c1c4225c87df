package honor

import (
	"context"
	"fmt"
	"sync/atomic"
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

// comps is honor's schema and what it derives its stats from: the intake
// and what the intake writes to.
var comps = []store.Component{partner.Migrations, account.Migrations, methodology.Migrations, webhook.Migrations,
	ledger.Migrations, audit.Migrations, intake.Migrations, Migrations}

// world is a database in which credits are real: events go through the
// intake (the shipped methodologies, approved), which writes the usage
// rows honor derives its stats from, the ledger's balances and the outbox
// messages the medal consumer reads.
type world struct {
	tb       testing.TB
	db       *store.DB
	in       *intake.Service
	accounts *account.Service
	persons  map[int64]string
}

var worldPartners = []string{"eleme", "tmall", "cainiao", "xianyu"}

func newWorld(tb testing.TB, db *store.DB) *world {
	tb.Helper()
	ctx := context.Background()
	ps, err := partner.NewService(db, []byte("0123456789abcdef0123456789abcdef"))
	must(tb, err)
	for _, id := range worldPartners {
		_, err := ps.Register(ctx, partner.Registration{ID: id, Name: id, Scopes: partner.AllScopes})
		must(tb, err)
	}
	meth := methodology.NewService(db, methodology.DefaultQuorum)
	must(tb, meth.SeedApproved(ctx, methodologies.FS))
	// Old enough for every date the tests use.
	in := intake.NewService(db, meth, intake.Config{MaxAge: 3 * 365 * 24 * time.Hour})
	tb.Cleanup(in.Close)
	return &world{tb: tb, db: db, in: in, accounts: account.NewService(db), persons: map[int64]string{}}
}

var personN atomic.Int64

// open opens a new person's account, linked to every partner, and returns
// its id.
func (w *world) open() int64 {
	w.tb.Helper()
	person := fmt.Sprintf("person-%d", personN.Add(1))
	a, _, err := w.accounts.Open(context.Background(), person, account.OpenRequest{EntryPoint: "search", ConsentVersion: "2026-01", Partners: worldPartners})
	must(w.tb, err)
	w.persons[a.ID] = person
	return a.ID
}

// kind is one sort of credit the tests post, a shipped behavior.
type kind struct {
	partner, behavior string
	event             func(id string) (params, evidence map[string]any)
}

var kinds = map[string]kind{
	// eat, 11.13 g, at most 3 a day.
	"eat": {"eleme", "eleme.no_cutlery", func(id string) (map[string]any, map[string]any) {
		return map[string]any{"order_id": id}, map[string]any{"cutlery_choice": "none"}
	}},
	// travel, 257.75 g (a Guangzhou metro trip), at most 7 a day.
	"travel": {"tmall", "travel.metro_trip", func(id string) (map[string]any, map[string]any) {
		return map[string]any{"trip_id": id, "city": "GZ"}, map[string]any{"ride_record": id}
	}},
	// use, 1,073.2 g (4 kWh a year saved).
	"use": {"tmall", "tmall.low_carbon_product", func(id string) (map[string]any, map[string]any) {
		return map[string]any{"order_id": id, "kwh_saved": 4}, map[string]any{"order_id": id}
	}},
	// use, reported by cainiao (a carton returned).
	"box": {"cainiao", "cainiao.box_return", func(id string) (map[string]any, map[string]any) {
		return map[string]any{"parcel_id": id}, map[string]any{"station_id": "HZ-001"}
	}},
	// use, reported by xianyu (a second-hand book).
	"book": {"xianyu", "xianyu.secondhand_book", func(id string) (map[string]any, map[string]any) {
		return map[string]any{"order_id": id, "books": 1}, map[string]any{"order_id": id}
	}},
}

var eventN atomic.Int64

// event is a new event of kind k for acct's person at at.
func (w *world) event(acct int64, k string, at time.Time) intake.Event {
	id := fmt.Sprintf("e%d", eventN.Add(1))
	params, evidence := kinds[k].event(id)
	return intake.Event{ID: id, Person: w.persons[acct], Behavior: kinds[k].behavior, OccurredAt: at, Params: params, Evidence: evidence}
}

// credit posts a credit of kind k for acct at at through the intake and
// returns its event id and mg; anything but credited fails the test.
func (w *world) credit(acct int64, k string, at time.Time) (string, int64) {
	w.tb.Helper()
	ev := w.event(acct, k, at)
	out, err := w.in.Submit(context.Background(), kinds[k].partner, []intake.Event{ev})
	must(w.tb, err)
	if out[0].Status != intake.StatusCredited {
		w.tb.Fatalf("%s for %d at %s: %+v", k, acct, at, out[0])
	}
	return ev.ID, out[0].MG
}

// reverse reverses event id, a credit of kind k.
func (w *world) reverse(k, id string) {
	w.tb.Helper()
	_, err := w.in.Reverse(context.Background(), kinds[k].partner, id, "refund")
	must(w.tb, err)
}
