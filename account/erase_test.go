package account_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/account"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// ledgerLike stands in for the ledger and a package with personal data: it
// keys postings by account ids and registers an exporter and an eraser.
func ledgerLike(t *testing.T, db *store.DB, s *account.Service) {
	t.Helper()
	ctx := context.Background()
	err := db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE test_postings (account_id BIGINT NOT NULL, sub_id BIGINT NOT NULL, mg BIGINT NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE test_profiles (account_id BIGINT NOT NULL, display_name TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.AddExporter("postings", func(ctx context.Context, id int64) (any, error) {
		var mg int64
		err := db.Read().QueryRowContext(ctx, `SELECT COALESCE(SUM(mg), 0) FROM test_postings WHERE account_id = $1`, id).Scan(&mg)
		return map[string]int64{"total_mg": mg}, err
	})
	s.AddEraser(func(ctx context.Context, tx *store.Tx, id int64) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM test_profiles WHERE account_id = $1`, id)
		return err
	})
}

// credit posts mg the way the intake would: through the consent gate.
func credit(ctx context.Context, db *store.DB, person, partnerID string, mg int64) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		acct, sub, err := account.ResolveTx(ctx, tx, person, partnerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO test_postings (account_id, sub_id, mg) VALUES ($1, $2, $3)`, acct, sub, mg)
		return err
	})
}

func totalMg(t *testing.T, db *store.DB) int64 {
	var mg int64
	if err := db.Read().QueryRowContext(context.Background(), `SELECT COALESCE(SUM(mg), 0) FROM test_postings`).Scan(&mg); err != nil {
		t.Fatal(err)
	}
	return mg
}

func TestExportErase(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		ledgerLike(t, db, s)
		for _, p := range []string{"alice", "bob"} {
			if _, _, err := s.Open(ctx, p, account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme", "cainiao"}}); err != nil {
				t.Fatal(err)
			}
			if err := credit(ctx, db, p, "eleme", 1500); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Revoke(ctx, "alice", "cainiao"); err != nil {
			t.Fatal(err)
		}
		id, _ := s.AccountID(ctx, "alice")
		db.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO test_profiles VALUES ($1, 'Alice W.')`, id)
			return err
		})

		t.Run("Export", func(t *testing.T) {
			x, err := s.Export(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(x)
			var got struct {
				Person   string
				Account  struct{ ID int64 }
				Consents []struct{ Kind, Partner string }
				Sections map[string]map[string]int64
			}
			json.Unmarshal(b, &got)
			kinds := []string{}
			for _, c := range got.Consents {
				kinds = append(kinds, c.Kind+":"+c.Partner)
			}
			if got.Person != "alice" || got.Account.ID != id || strings.Join(kinds, ",") != "open:,link:cainiao,link:eleme,revoke:cainiao" ||
				got.Sections["postings"]["total_mg"] != 1500 {
				t.Fatalf("export = %s", b)
			}
		})
		t.Run("ErrEraserFailsChangesNothing", func(t *testing.T) {
			s2 := account.NewService(db)
			s2.AddEraser(func(ctx context.Context, tx *store.Tx, id int64) error { return errors.New("boom") })
			if err := s2.Erase(ctx, "alice"); err == nil {
				t.Fatal("erase with a failing eraser succeeded")
			}
			if _, _, err := s.Resolve(ctx, "alice", "eleme"); err != nil {
				t.Fatalf("after failed erase: %v", err)
			}
		})
		before := totalMg(t, db)
		if err := s.Erase(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		t.Run("ErrExportAfterErase", func(t *testing.T) {
			if _, err := s.Export(ctx, "alice"); oc.ErrorCode(err) != oc.ENoConsent {
				t.Fatalf("export after erase: %v", err)
			}
			if err := s.Erase(ctx, "alice"); oc.ErrorCode(err) != oc.ENoConsent {
				t.Fatalf("erase twice: %v", err)
			}
		})
		t.Run("ErrNoCreditAfterErase", func(t *testing.T) {
			if err := credit(ctx, db, "alice", "eleme", 1); oc.ErrorCode(err) != oc.ENoConsent {
				t.Fatalf("credit after erase: %v", err)
			}
		})
		t.Run("TombstoneKeepsTotals", func(t *testing.T) {
			if got := totalMg(t, db); got != before || got != 3000 {
				t.Fatalf("total %d mg after erase, %d before", got, before)
			}
			if _, err := s.PersonOf(ctx, id); oc.ErrorCode(err) != oc.EAccountErased {
				t.Fatalf("person of erased account: %v", err)
			}
			tomb, err := s.Tombstone(ctx, id)
			if err != nil || !strings.HasPrefix(tomb, "erased:") || len(tomb) != len("erased:")+32 {
				t.Fatalf("tombstone = %q %v", tomb, err)
			}
			if n := count(t, db, "test_profiles"); n != 0 {
				t.Fatalf("eraser left %d profile rows", n)
			}
			var n int
			db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE person = 'alice' OR tombstone LIKE '%alice%'`).Scan(&n)
			if n != 0 {
				t.Fatal("the person id is still stored")
			}
			var linked int
			db.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM subaccounts WHERE account_id = $1 AND linked = 1`, id).Scan(&linked)
			if linked != 0 {
				t.Fatal("an erased account still has linked sub-accounts")
			}
		})
		t.Run("OthersUntouched", func(t *testing.T) {
			bob, err := s.Get(ctx, "bob")
			if err != nil || len(bob.Subaccounts) != 2 {
				t.Fatalf("bob = %+v %v", bob, err)
			}
			if p, err := s.PersonOf(ctx, bob.ID); err != nil || p != "bob" {
				t.Fatalf("person of bob's account = %q %v", p, err)
			}
			if _, err := s.PersonOf(ctx, 999999); oc.ErrorCode(err) != oc.ENotFound {
				t.Fatalf("person of missing account: %v", err)
			}
			if _, err := s.Tombstone(ctx, bob.ID); oc.ErrorCode(err) != oc.EInvalid {
				t.Fatalf("tombstone of a live account: %v", err)
			}
		})
	})
}

// TestRevokeWaitsForCreditsInFlight holds a credit transaction past the
// consent gate and revokes meanwhile: Revoke returns only after that credit
// commits, and every credit after Revoke returns is refused.
func TestRevokeWaitsForCreditsInFlight(t *testing.T) {
	storetest.Each(t, comps, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := mustSetup(t, db)
		ledgerLike(t, db, s)
		if _, _, err := s.Open(ctx, "p1", account.OpenRequest{EntryPoint: "search", ConsentVersion: "v1", Partners: []string{"eleme"}}); err != nil {
			t.Fatal(err)
		}
		passed := make(chan struct{})
		var committed atomic.Bool
		done := make(chan error)
		go func() {
			done <- db.InTx(ctx, func(tx *store.Tx) error {
				acct, sub, err := account.ResolveTx(ctx, tx, "p1", "eleme")
				if err != nil {
					return err
				}
				close(passed)
				time.Sleep(200 * time.Millisecond)
				_, err = tx.ExecContext(ctx, `INSERT INTO test_postings VALUES ($1, $2, 7)`, acct, sub)
				committed.Store(true)
				return err
			})
		}()
		<-passed
		if _, err := s.Revoke(ctx, "p1", "eleme"); err != nil {
			t.Fatal(err)
		}
		if !committed.Load() {
			t.Fatal("revoke returned while a credit past the gate was still running")
		}
		if err := <-done; err != nil {
			t.Fatalf("in-flight credit: %v", err)
		}
		if err := credit(ctx, db, "p1", "eleme", 1); oc.ErrorCode(err) != oc.EPartnerNotLinked {
			t.Fatalf("credit after revoke: %v", err)
		}
		if got := totalMg(t, db); got != 7 {
			t.Fatalf("total %d mg, want 7", got)
		}
	})
}
