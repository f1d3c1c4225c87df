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

var comps = []store.Component{methodology.Migrations}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := opencarbon.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func mustReviewer(t *testing.T, s *methodology.Service, id string, roles ...string) *methodology.Reviewer {
	t.Helper()
	r, token, err := s.CreateReviewer(context.Background(), id, "Name of "+id, roles)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Authenticate(context.Background(), token)
	if err != nil || got.ID != id {
		t.Fatalf("authenticate %s: %v %v", id, got, err)
	}
	return r
}

// noCutlery returns the shipped no-cutlery document with its version
// changed, optionally corrupting the first vector's expectation.
func noCutlery(t *testing.T, version string, breakVector bool) []byte {
	t.Helper()
	b, err := methodologies.FS.ReadFile("eleme.no_cutlery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "version: 1.0.0", "version: "+version, 1)
	if breakVector {
		s = strings.Replace(s, "expect_mg: 11130", "expect_mg: 11131", 1)
	}
	return []byte(s)
}

func seedFactors(t *testing.T, s *methodology.Service) {
	t.Helper()
	_, factors, err := methodology.LoadFS(methodologies.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range factors.All() {
		if err := s.PutFactor(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 2)
		seedFactors(t, s)
		author := mustReviewer(t, s, "alice", methodology.RoleAuthor, methodology.RoleReviewer)
		bob := mustReviewer(t, s, "bob", methodology.RoleReviewer)
		carol := mustReviewer(t, s, "carol", methodology.RoleReviewer)
		dave := mustReviewer(t, s, "dave", methodology.RoleAuthor)
		const id, v = "eleme.no_cutlery", "2.0.0"

		t.Run("ErrAuthorRole", func(t *testing.T) {
			_, err := s.Create(ctx, bob, noCutlery(t, v, false))
			wantCode(t, err, opencarbon.EForbidden)
		})
		t.Run("ErrInvalidDocument", func(t *testing.T) {
			_, err := s.Create(ctx, author, []byte("id: x\n"))
			wantCode(t, err, opencarbon.EInvalid)
		})
		ver, err := s.Create(ctx, author, noCutlery(t, v, false))
		if err != nil {
			t.Fatal(err)
		}
		if ver.Status != methodology.StatusDraft || ver.Hash == "" {
			t.Fatalf("created %+v", ver)
		}
		t.Run("ErrDraftOfAnother", func(t *testing.T) {
			_, err := s.Create(ctx, dave, noCutlery(t, v, false))
			wantCode(t, err, opencarbon.EConflict)
		})
		t.Run("ErrIllegalTransition", func(t *testing.T) {
			wantCode(t, s.Approve(ctx, bob, id, v, time.Time{}), opencarbon.EIllegalTransition)
			wantCode(t, s.Suspend(ctx, bob, id, v, "x"), opencarbon.EIllegalTransition)
			wantCode(t, s.Retire(ctx, bob, id, v, "x"), opencarbon.EIllegalTransition)
			wantCode(t, s.Review(ctx, bob, id, v, "approve", ""), opencarbon.EIllegalTransition)
		})
		t.Run("ErrSubmitByOther", func(t *testing.T) {
			wantCode(t, s.Submit(ctx, bob, id, v), opencarbon.EForbidden)
		})
		if err := s.Submit(ctx, author, id, v); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrImmutableInReview", func(t *testing.T) {
			_, err := s.Create(ctx, author, noCutlery(t, v, false))
			wantCode(t, err, opencarbon.EImmutable)
		})
		t.Run("ErrSelfReview", func(t *testing.T) {
			wantCode(t, s.Review(ctx, author, id, v, "approve", "mine"), opencarbon.ESelfReview)
		})
		t.Run("ErrNotReviewer", func(t *testing.T) {
			wantCode(t, s.Review(ctx, dave, id, v, "approve", ""), opencarbon.EForbidden)
		})
		if err := s.Review(ctx, bob, id, v, "approve", "sources checked"); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrSameReviewerTwice", func(t *testing.T) {
			wantCode(t, s.Review(ctx, bob, id, v, "approve", "again"), opencarbon.EConflict)
		})
		t.Run("ErrQuorumNotMet", func(t *testing.T) {
			wantCode(t, s.Approve(ctx, carol, id, v, time.Time{}), opencarbon.EQuorumNotMet)
		})
		t.Run("ErrAuthorApproves", func(t *testing.T) {
			wantCode(t, s.Approve(ctx, author, id, v, time.Time{}), opencarbon.ESelfReview)
		})
		if err := s.Review(ctx, carol, id, v, "approve", "vectors re-derived by hand"); err != nil {
			t.Fatal(err)
		}
		if err := s.Approve(ctx, carol, id, v, time.Time{}); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrImmutable", func(t *testing.T) {
			_, err := s.Create(ctx, author, noCutlery(t, v, false))
			wantCode(t, err, opencarbon.EImmutable)
			wantCode(t, s.Approve(ctx, carol, id, v, time.Time{}), opencarbon.EIllegalTransition)
		})
		got, err := s.Get(ctx, id, v)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != methodology.StatusApproved || len(got.Reviews) != 2 || len(got.Transitions) != 2 || got.EffectiveFrom == nil {
			t.Fatalf("approved version: %+v", got)
		}
		e, err := s.Engine(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ev := methodology.Event{ID: "e1", Partner: "eleme", Behavior: id, OccurredAt: time.Now(),
			Params: map[string]any{"order_id": "o1"}, Evidence: map[string]any{"cutlery_choice": "none"}}
		if r, err := e.Evaluate(ev, methodology.Usage{}); err != nil || r.MG != 11130 {
			t.Fatalf("evaluate: %+v %v", r, err)
		}
		if err := s.Suspend(ctx, bob, id, v, "factor under re-check"); err != nil {
			t.Fatal(err)
		}
		e, _ = s.Engine(ctx)
		if r, err := e.Evaluate(ev, methodology.Usage{}); err != nil || r.Refusal != opencarbon.ENotApplicable {
			t.Fatalf("suspended: %+v %v", r, err)
		}
		if err := s.Reinstate(ctx, bob, id, v, "re-checked"); err != nil {
			t.Fatal(err)
		}
		if err := s.Retire(ctx, bob, id, v, "superseded"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.Reinstate(ctx, bob, id, v, ""), opencarbon.EIllegalTransition)
		e, _ = s.Engine(ctx)
		if _, err := e.Evaluate(ev, methodology.Usage{}); opencarbon.ErrorCode(err) != opencarbon.EUnknownBehavior {
			t.Fatalf("retired: %v", err)
		}
		if _, ok := e.Version(id, v); !ok {
			t.Fatal("retired version must stay available for Recompute")
		}
	})
}

func TestApproveNeedsGreenVectors(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 1)
		seedFactors(t, s)
		author := mustReviewer(t, s, "alice", methodology.RoleAuthor)
		bob := mustReviewer(t, s, "bob", methodology.RoleReviewer)
		if _, err := s.Create(ctx, author, noCutlery(t, "3.0.0", true)); err != nil {
			t.Fatal(err)
		}
		if err := s.Submit(ctx, author, "eleme.no_cutlery", "3.0.0"); err != nil {
			t.Fatal(err)
		}
		if err := s.Review(ctx, bob, "eleme.no_cutlery", "3.0.0", "approve", "ok"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.Approve(ctx, bob, "eleme.no_cutlery", "3.0.0", time.Time{}), opencarbon.EVectorsFailing)
		// A rejection blocks approval of that content.
		carol := mustReviewer(t, s, "carol", methodology.RoleReviewer)
		wantCode(t, s.Review(ctx, carol, "eleme.no_cutlery", "3.0.0", "reject", ""), opencarbon.EInvalid)
		if err := s.Review(ctx, carol, "eleme.no_cutlery", "3.0.0", "reject", "vector 1 is wrong"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.Approve(ctx, bob, "eleme.no_cutlery", "3.0.0", time.Time{}), opencarbon.EQuorumNotMet)
	})
}

func TestSeedApprovedAndReload(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := methodology.NewService(db, 2)
		if err := s.SeedApproved(ctx, methodologies.FS); err != nil {
			t.Fatal(err)
		}
		if err := s.SeedApproved(ctx, methodologies.FS); err != nil {
			t.Fatalf("second seed: %v", err)
		}
		list, err := s.List(ctx, methodology.StatusApproved)
		if err != nil || len(list) < 10 {
			t.Fatalf("approved: %d %v", len(list), err)
		}
		v, err := s.Get(ctx, "cainiao.box_return", "1.0.0")
		if err != nil || len(v.Reviews) != 2 || v.Reviews[0].Reviewer == v.Author {
			t.Fatalf("seeded reviews: %+v %v", v, err)
		}
		fs, err := s.Factors(ctx)
		if err != nil || len(fs) < 10 {
			t.Fatalf("factors: %d %v", len(fs), err)
		}
		// Factor versions are immutable; their status moves one way.
		changed := fs[0]
		changed.Value *= 2
		wantCode(t, s.PutFactor(ctx, changed), opencarbon.EImmutable)
		if err := s.PutFactor(ctx, fs[0]); err != nil {
			t.Fatalf("same factor again: %v", err)
		}
		draft := fs[0]
		draft.Version, draft.Status = "draft-test", methodology.FactorDraft
		if err := s.PutFactor(ctx, draft); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.SetFactorStatus(ctx, draft.ID, draft.Version, methodology.FactorRetired), opencarbon.EIllegalTransition)
		if err := s.SetFactorStatus(ctx, draft.ID, draft.Version, methodology.FactorApproved); err != nil {
			t.Fatal(err)
		}
		e, err := s.Engine(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.ExcludedWith("tmall.e_waybill"); len(got) != 1 || got[0] != "cainiao.e_waybill" {
			t.Fatalf("ExcludedWith = %v", got)
		}
		// Another process suspends a version: this one sees it within a second.
		other := methodology.NewService(db, 2)
		if err := other.Suspend(ctx, nil, "cainiao.box_return", "1.0.0", "recall"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			e, err := s.Engine(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := e.Lookup("cainiao.box_return", time.Now()); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("suspension by another process not seen")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
