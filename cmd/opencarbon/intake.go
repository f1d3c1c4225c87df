package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/intake"
	"github.com/opencarbon/opencarbon/methodology"
)

// engineSource returns the methodology registry the intake evaluates with:
// the server's when it is wired, else a service of our own on the same
// database (both read the same approved versions).
func (a *app) engineSource() *methodology.Service {
	if a.server != nil && a.server.Methodologies != nil {
		return a.server.Methodologies
	}
	return methodology.NewService(a.db, a.cfg.Quorum)
}

// wireIntake builds the event intake and hands it to the server.
func (a *app) wireIntake() {
	a.intake = intake.NewService(a.db, a.engineSource(), intake.Config{Shards: a.cfg.IntakeShards, MaxAge: a.cfg.MaxEventAge})
	a.server.Intake = a.intake
	if a.accounts != nil {
		a.accounts.AddExporter("events", a.intake.Export)
	}
}

// verifyCmd recomputes every stored calc record and checks the hash chains;
// it exits 1 when any problem is found.
func verifyCmd(ctx context.Context, args []string) error {
	a, err := openCmd(ctx, "verify", false, args)
	if err != nil {
		return err
	}
	defer a.close()
	eng, err := a.engineSource().Engine(ctx)
	if err != nil {
		return fmt.Errorf("verify: methodology registry: %w", err)
	}
	start := time.Now()
	problems, n, err := audit.Verify(ctx, a.db, eng)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	fmt.Printf("verify: %d calc records recomputed in %s, %d problems\n", n, time.Since(start).Round(time.Millisecond), len(problems))
	if len(problems) > 0 {
		os.Exit(1)
	}
	return nil
}

// seedEvents submits a few events per demo person through the real intake:
// for every behavior a linked partner may report, the methodology's own
// passing test vectors, on the past days. Event ids are stable, so a second
// run the same day answers duplicates and changes nothing.
func seedEvents(ctx context.Context, a *app) error {
	if a.intake == nil {
		return nil
	}
	eng, err := a.engineSource().Engine(ctx)
	if err != nil {
		// No methodology registry yet: the demo runs without history.
		a.log.Warn("demo events skipped: methodology registry unavailable", "err", err)
		return nil
	}
	today := time.Now().In(eng.Location())
	midnight := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, eng.Location())
	for _, p := range account.DemoPeople {
		byPartner := map[string][]intake.Event{}
		n := 0
		for _, b := range eng.Behaviors() {
			m, ok := eng.Lookup(b, time.Now())
			if !ok {
				continue
			}
			for vi, v := range m.Doc.Vectors {
				if v.ExpectMG == 0 || v.Used != (methodology.Usage{}) || !slices.Contains(p.Partners, v.Event.Partner) {
					continue
				}
				n++
				ev := intake.Event{
					ID:         fmt.Sprintf("demo-%s-%s-%d", p.Person, b, vi),
					Person:     p.Person,
					Behavior:   b,
					OccurredAt: midnight.Add(-time.Duration(n%20)*24*time.Hour + 9*time.Hour + time.Duration(vi)*time.Hour).UTC(),
					Params:     clone(v.Event.Params),
					Evidence:   clone(v.Event.Evidence),
				}
				// A distinct act per event, or exclusivity would refuse the
				// vectors' shared order ids.
				if field, ok := strings.CutPrefix(m.Doc.Exclusivity.Act, "params."); ok {
					ev.Params[field] = ev.ID
				} else if field, ok := strings.CutPrefix(m.Doc.Exclusivity.Act, "evidence."); ok {
					ev.Evidence[field] = ev.ID
				}
				byPartner[v.Event.Partner] = append(byPartner[v.Event.Partner], ev)
			}
		}
		for partnerID, evs := range byPartner {
			out, err := a.intake.Submit(ctx, partnerID, evs)
			if err != nil {
				return fmt.Errorf("demo events for %s: %w", p.Person, err)
			}
			for _, o := range out {
				if o.Status == intake.StatusError {
					return errors.New("demo event " + o.EventID + ": " + o.Message)
				}
			}
		}
	}
	return nil
}

// clone copies m so the demo can set the act field of each event; it is
// never nil, unlike maps.Clone of a nil map.
func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+1)
	maps.Copy(out, m)
	return out
}
