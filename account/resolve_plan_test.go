package account

import (
	"fmt"
	"testing"

	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestResolvePlans: ResolveManyTx's PostgreSQL reads probe the indexes
// per person among a few thousand accounts, where an IN list over the
// join ran as a hash join over every sub-account once a group commit.
func TestResolvePlans(t *testing.T) {
	db := storetest.Open(t, store.Postgres, partner.Migrations, Migrations)
	storetest.Exec(t, db,
		`INSERT INTO partners (id, name, scopes, created_at) VALUES ('eleme', 'eleme', '', 0)`,
		`INSERT INTO accounts (person, entry_point, consent_version, opened_at) SELECT 'p-' || g, 'search', '2026-01', 0 FROM generate_series(1, 5000) AS g`,
		`INSERT INTO subaccounts (account_id, partner, linked, linked_at) SELECT id, 'eleme', 1, 0 FROM accounts`,
		`ANALYZE accounts`, `ANALYZE subaccounts`,
	)
	people := make([]string, 50)
	for i := range people {
		people[i] = fmt.Sprintf("p-%d", i*97+1)
	}
	for name, q := range map[string]string{"sub-accounts": resolveSubsPG, "accounts": resolveAccountsPG} {
		if scans := storetest.SeqScans(t, db, q, people); len(scans) > 0 {
			t.Errorf("%s: full scans of %v", name, scans)
		}
	}
}
