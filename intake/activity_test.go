package intake_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// metroGZ is a travel.metro_trip event in Guangzhou (257.75 g, reported by
// tmall) at the given time.
func metroGZ(id, person string, at time.Time) intake.Event {
	return intake.Event{ID: id, Person: person, Behavior: "travel.metro_trip", OccurredAt: at,
		Params: map[string]any{"trip_id": id, "city": "GZ"}, Evidence: map[string]any{"ride_record": id}}
}

// TestActivity credits, across a year's end and a local midnight in the
// engine's time zone, reverses, and checks what Activity adds up: totals
// per behavior and partner over every year, the local days with credits,
// and mg equal to the ledger's.
func TestActivity(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := newEnv(t, db, intake.Config{MaxAge: 2 * 365 * 24 * time.Hour})
		sh := func(y int, m time.Month, d, hh, mm int) time.Time {
			return time.Date(y, m, d, hh, mm, 0, 0, methodology.DefaultLocation)
		}
		alice, bob, carol := e.open("alice", "eleme", "tmall"), e.open("bob", "eleme"), e.open("carol", "eleme")
		at := func(ev intake.Event, t time.Time) intake.Event { ev.OccurredAt = t; return ev }
		for _, sub := range []struct {
			partner string
			ev      intake.Event
		}{
			// 23:30 and 00:30 Shanghai on New Year's Eve: the same UTC day,
			// two local days in two years.
			{"eleme", at(cutlery("a1", "alice", "A1"), sh(2025, 12, 31, 23, 30))},
			{"eleme", at(cutlery("a2", "alice", "A2"), sh(2026, 1, 1, 0, 30))},
			{"eleme", at(cutlery("a3", "alice", "A3"), sh(2026, 1, 1, 9, 0))},
			{"tmall", metroGZ("a4", "alice", sh(2026, 1, 3, 9, 0))},
			{"tmall", metroGZ("a5", "alice", sh(2026, 1, 5, 9, 0))},
			{"eleme", at(cutlery("b1", "bob", "B1"), sh(2026, 2, 1, 9, 0))},
		} {
			if o := e.submit(sub.partner, sub.ev)[0]; o.Status != intake.StatusCredited {
				t.Fatalf("%s: %+v", sub.ev.ID, o)
			}
		}
		// Reversals: alice's only credit of 5 January (the day goes), one
		// of her two of 1 January (the day stays), bob's only credit (the
		// partner goes).
		for _, r := range [][2]string{{"tmall", "a5"}, {"eleme", "a3"}, {"eleme", "b1"}} {
			if _, err := e.svc.Reverse(ctx, r[0], r[1], "refund"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := intake.Activity(ctx, db, []int64{alice, bob, carol, alice})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			acct int64
			want intake.ActivitySummary
		}{
			{"CreditsAcrossYearsAndReversals", alice, intake.ActivitySummary{MG: 2*11130 + 257750, Credits: 3, Counts: []intake.ActivityCount{
				{Behavior: "eleme.no_cutlery", Scenario: "eat", Partner: "eleme", Credits: 2, MG: 2 * 11130},
				{Behavior: "travel.metro_trip", Scenario: "travel", Partner: "tmall", Credits: 1, MG: 257750},
			}, Days: []int{20260103, 20260101, 20251231}}},
			{"AllReversed", bob, intake.ActivitySummary{Counts: []intake.ActivityCount{}, Days: []int{}}},
			{"NoCredits", carol, intake.ActivitySummary{Counts: []intake.ActivityCount{}, Days: []int{}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if !reflect.DeepEqual(got[tc.acct], tc.want) {
					t.Fatalf("Activity = %+v\nwant       %+v", got[tc.acct], tc.want)
				}
				if mg := e.totalMG(tc.acct); mg != tc.want.MG {
					t.Fatalf("ledger mg %d, activity mg %d", mg, tc.want.MG)
				}
			})
		}
		if len(got) != 3 {
			t.Fatalf("%d accounts, want 3", len(got))
		}
		t.Run("NoAccounts", func(t *testing.T) {
			if got, err := intake.Activity(ctx, db, nil); err != nil || len(got) != 0 {
				t.Fatalf("Activity(nil) = %v, %v", got, err)
			}
		})
	})
}
