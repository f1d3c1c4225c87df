package intake_test

import (
	"context"
	"sync/atomic"
	"testing"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// swappedEngines serves before on its first call and after from then on:
// the registry changed between a request's Submit and its group commit.
type swappedEngines struct {
	before, after *methodology.Engine
	calls         atomic.Int32
}

func (s *swappedEngines) Engine(context.Context) (*methodology.Engine, error) {
	if s.calls.Add(1) == 1 {
		return s.before, nil
	}
	return s.after, nil
}

// TestPreparedWithAnotherEngine: an event evaluated on the request's
// goroutine (Engine.Prepare) with an engine the writer no longer uses is
// evaluated again with the writer's engine, never credited by the old one.
func TestPreparedWithAnotherEngine(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, intake.Config{})
		e.open("p1", "eleme")
		// The new engine no longer knows eleme.no_cutlery.
		ms, factors, err := methodology.LoadFS(methodologies.FS)
		if err != nil {
			t.Fatal(err)
		}
		var kept []*methodology.Methodology
		for _, m := range ms {
			if m.ID() != "eleme.no_cutlery" {
				kept = append(kept, m)
			}
		}
		after, err := methodology.NewEngine(kept, factors, nil)
		if err != nil {
			t.Fatal(err)
		}
		svc := intake.NewService(db, &swappedEngines{before: e.eng, after: after}, intake.Config{})
		defer svc.Close()
		out, err := svc.Submit(context.Background(), "eleme", []intake.Event{cutlery("swap-1", "p1", "o1")})
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Status != intake.StatusRejected || out[0].Code != oc.EUnknownBehavior {
			t.Fatalf("outcome = %+v; want rejected %s (the writer's engine)", out[0], oc.EUnknownBehavior)
		}
	})
}
