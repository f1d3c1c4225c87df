package webhook

import (
	"testing"

	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/store/storetest"
)

// TestNextPlan: a feed far behind reads its next rows from the (txid, id)
// index, never by scanning and sorting the whole backlog.
func TestNextPlan(t *testing.T) {
	db := storetest.Open(t, store.Postgres, Migrations)
	storetest.Exec(t, db,
		`INSERT INTO outbox (topic, partner, body, created_at) SELECT 'credit.created', 'eleme', '{}', 0 FROM generate_series(1, 20000)`,
		`ANALYZE outbox`,
	)
	if scans := storetest.SeqScans(t, db, nextPG, int64(0), int64(0), 500); len(scans) > 0 {
		t.Fatalf("Next: full scans of %v", scans)
	}
}
