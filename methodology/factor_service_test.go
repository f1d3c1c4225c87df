package methodology_test

import (
	"context"
	"strings"
	"testing"
	"time"

	opencarbon "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodologies"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

func draftFactor() methodology.Factor {
	return methodology.Factor{ID: "test.per_order", Version: "1", Value: 12.5, Unit: "gCO2e/order", Region: "CN", Year: 2025,
		Source: methodology.Source{Publisher: "P", Document: "D"}, Method: "test figure", UncertaintyPct: 20}
}

func TestAddDraftFactor(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 2)
		t.Run("OK", func(t *testing.T) {
			f, changed, err := s.AddDraftFactor(ctx, draftFactor())
			if err != nil || !changed || f.Status != methodology.FactorDraft || f.Value != 12.5 {
				t.Fatalf("%+v %v %v", f, changed, err)
			}
			if _, changed, err = s.AddDraftFactor(ctx, draftFactor()); err != nil || changed {
				t.Fatalf("same draft again: changed=%v %v", changed, err)
			}
		})
		t.Run("DraftCanChange", func(t *testing.T) {
			d := draftFactor()
			d.Value = 13
			f, changed, err := s.AddDraftFactor(ctx, d)
			if err != nil || !changed || f.Value != 13 {
				t.Fatalf("%+v %v %v", f, changed, err)
			}
		})
		t.Run("ErrImmutableOnceApproved", func(t *testing.T) {
			if err := s.SetFactorStatus(ctx, "test.per_order", "1", methodology.FactorApproved); err != nil {
				t.Fatal(err)
			}
			d := draftFactor()
			d.Value = 14
			_, _, err := s.AddDraftFactor(ctx, d)
			wantCode(t, err, opencarbon.EImmutable)
			if f, _ := s.FindFactor(ctx, "test.per_order", "1"); f.Value != 13 || f.Status != methodology.FactorApproved {
				t.Fatalf("approved factor changed: %+v", f)
			}
			// The same content again is answered with the stored factor.
			d.Value = 13
			if f, changed, err := s.AddDraftFactor(ctx, d); err != nil || changed || f.Status != methodology.FactorApproved {
				t.Fatalf("%+v %v %v", f, changed, err)
			}
		})
		for _, tc := range []struct {
			name string
			edit func(*methodology.Factor)
			code string
		}{
			{"ErrInvalidUnit", func(f *methodology.Factor) { f.Unit = "grams per order" }, opencarbon.EInvalidUnit},
			{"ErrUnknownUnitAtom", func(f *methodology.Factor) { f.Unit = "gCO2e/parcelz" }, opencarbon.EInvalidUnit},
			{"ErrNotDraft", func(f *methodology.Factor) { f.Status = methodology.FactorApproved }, opencarbon.EInvalid},
			{"ErrNoSource", func(f *methodology.Factor) { f.Source.Publisher = "" }, opencarbon.EInvalid},
			{"ErrZeroValue", func(f *methodology.Factor) { f.Value = 0 }, opencarbon.EInvalid},
			{"ErrBadID", func(f *methodology.Factor) { f.ID = "Not An ID" }, opencarbon.EInvalid},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := draftFactor()
				f.Version = "bad-" + tc.name
				tc.edit(&f)
				_, _, err := s.AddDraftFactor(ctx, f)
				wantCode(t, err, tc.code)
				if _, err := s.FindFactor(ctx, f.ID, f.Version); opencarbon.ErrorCode(err) != opencarbon.ENotFound {
					t.Fatalf("refused factor was stored: %v", err)
				}
			})
		}
	})
}

func TestFactorStatus(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 2)
		if _, _, err := s.AddDraftFactor(ctx, draftFactor()); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			name, to, code, want string
		}{
			{"ErrDraftToSuspended", methodology.FactorSuspended, opencarbon.EIllegalTransition, methodology.FactorDraft},
			{"ErrDraftToRetired", methodology.FactorRetired, opencarbon.EIllegalTransition, methodology.FactorDraft},
			{"ErrUnknownStatus", "gone", opencarbon.EInvalid, methodology.FactorDraft},
			{"Approve", methodology.FactorApproved, "", methodology.FactorApproved},
			{"ErrApproveTwice", methodology.FactorApproved, opencarbon.EIllegalTransition, methodology.FactorApproved},
			{"ErrBackToDraft", methodology.FactorDraft, opencarbon.EIllegalTransition, methodology.FactorApproved},
			{"Suspend", methodology.FactorSuspended, "", methodology.FactorSuspended},
			{"Reinstate", methodology.FactorApproved, "", methodology.FactorApproved},
			{"Retire", methodology.FactorRetired, "", methodology.FactorRetired},
			{"ErrRetiredIsFinal", methodology.FactorApproved, opencarbon.EIllegalTransition, methodology.FactorRetired},
		} {
			t.Run(step.name, func(t *testing.T) {
				err := s.SetFactorStatus(ctx, "test.per_order", "1", step.to)
				if step.code == "" && err != nil {
					t.Fatal(err)
				}
				if step.code != "" {
					wantCode(t, err, step.code)
				}
				if f, err := s.FindFactor(ctx, "test.per_order", "1"); err != nil || f.Status != step.want {
					t.Fatalf("status %+v %v, want %s", f, err, step.want)
				}
			})
		}
		t.Run("ErrNotFound", func(t *testing.T) {
			wantCode(t, s.SetFactorStatus(ctx, "test.per_order", "9", methodology.FactorApproved), opencarbon.ENotFound)
		})
	})
}

// TestSuspendedFactorHoldsCredits: a suspended factor stops the
// methodologies that use it at once; approving it again resumes them.
func TestSuspendedFactorHoldsCredits(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 2)
		if err := s.SeedApproved(ctx, methodologies.FS); err != nil {
			t.Fatal(err)
		}
		ev := methodology.Event{ID: "e", Partner: "eleme", Behavior: "eleme.no_cutlery", OccurredAt: time.Now(),
			Params: map[string]any{"order_id": "o"}, Evidence: map[string]any{"cutlery_choice": "none"}}
		eval := func() methodology.Result {
			t.Helper()
			e, err := s.Engine(ctx)
			if err != nil {
				t.Fatal(err)
			}
			r, err := e.Evaluate(ev, methodology.Usage{})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		if r := eval(); r.MG != 11130 {
			t.Fatalf("before: %+v", r)
		}
		if err := s.SetFactorStatus(ctx, "eleme.no_cutlery_order", "2022", methodology.FactorSuspended); err != nil {
			t.Fatal(err)
		}
		if r := eval(); r.Refusal != opencarbon.ENotApplicable || r.MG != 0 || !strings.Contains(r.Detail, "eleme.no_cutlery_order@2022 is suspended") {
			t.Fatalf("suspended factor still credits: %+v", r)
		}
		// Other behaviors are not held.
		e, _ := s.Engine(ctx)
		if _, ok := e.Lookup("travel.metro_trip", time.Now()); !ok {
			t.Fatal("an unrelated methodology is held")
		}
		if err := s.SetFactorStatus(ctx, "eleme.no_cutlery_order", "2022", methodology.FactorApproved); err != nil {
			t.Fatal(err)
		}
		if r := eval(); r.MG != 11130 {
			t.Fatalf("after reinstating: %+v", r)
		}
	})
}
