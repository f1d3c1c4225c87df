package main

import (
	"context"
	"testing"

	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestCheckAndExpireCommands runs "check" and "expire" on a SQLite file
// with a few credits: check passes, expire in the far future expires the
// points, check still passes, and a tampered balance makes check fail.
func TestCheckAndExpireCommands(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.DSN(t, store.SQLite)
	if err := run(ctx, []string{"migrate", "--db", dsn}); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.InTx(ctx, func(tx *store.Tx) error {
		for i, mg := range []int64{1500, 2600, 900} {
			if _, err := ledger.CreditTx(ctx, tx, ledger.Credit{Parent: 1, Sub: int64(10 + i%2), MG: mg, Ref: "c" + string(rune('a'+i))}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		tamper  string
		wantErr bool
	}{
		{"CheckOK", []string{"check", "--db", dsn}, "", false},
		{"ExpireOK", []string{"expire", "--db", dsn, "--now", "2100-01-01T00:00:00Z"}, "", false},
		{"CheckAfterExpiry", []string{"check", "--db", dsn}, "", false},
		{"ErrBadNow", []string{"expire", "--db", dsn, "--now", "tomorrow"}, "", true},
		{"ErrTampered", []string{"check", "--db", dsn}, `UPDATE ledger_balances SET mg = mg + 7 WHERE sub = 10`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.tamper != "" {
				if _, err := db.Write().ExecContext(ctx, tc.tamper); err != nil {
					t.Fatal(err)
				}
			}
			err := run(ctx, tc.args)
			if (err != nil) != tc.wantErr {
				t.Fatalf("%v: error %v, want error: %v", tc.args, err, tc.wantErr)
			}
		})
	}
	var pts, mg int64
	if err := db.Read().QueryRowContext(ctx, `SELECT points, mg FROM ledger_balances WHERE parent = 1 AND sub = 0`).Scan(&pts, &mg); err != nil {
		t.Fatal(err)
	}
	if pts != 0 || mg != 5000 {
		t.Fatalf("after expiry: %d points, %d mg; want 0 points and the mg kept", pts, mg)
	}
}
