package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Service reads balances and history and runs the ledger's jobs (expiry,
// check). Writes that belong to another package's transaction are the *Tx
// functions.
type Service struct {
	db  *store.DB
	ttl time.Duration

	// PartnerOf names the partner of a sub-account, for the partner field
	// of points.expiring notices; nil leaves it empty (internal message).
	PartnerOf func(ctx context.Context, sub int64) (string, error)
}

// NewService returns the ledger service on db. lotTTL is the lifetime of
// points lots credited without an explicit expiry (0: DefaultLotTTL, 365
// days); it applies to every CreditTx and GrantTx of the process.
func NewService(db *store.DB, lotTTL time.Duration) *Service {
	if lotTTL <= 0 {
		lotTTL = DefaultLotTTL
	}
	setLotTTL(lotTTL)
	return &Service{db: db, ttl: lotTTL}
}

func setLotTTL(d time.Duration) { lotTTL.Store(int64(d)) }

// LotTTL returns the default lot lifetime.
func (s *Service) LotTTL() time.Duration { return s.ttl }

// SubBalance is one sub-account's balances.
type SubBalance struct {
	Sub    int64 `json:"sub"`
	MG     int64 `json:"mg"`
	Points int64 `json:"points"`
	Debt   int64 `json:"debt"`
}

// Balance is a parent account's balances: the rollup and each sub-account.
// MG is the permanent reduction record, Points the spendable points, Debt
// the points owed after reversals of spent points.
type Balance struct {
	MG     int64        `json:"mg"`
	Points int64        `json:"points"`
	Debt   int64        `json:"debt"`
	Subs   []SubBalance `json:"subs"`
}

// Balance returns parent's balances (all zero and no subs for an account
// with no entries).
func (s *Service) Balance(ctx context.Context, parent int64) (Balance, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT sub, mg, points, debt FROM ledger_balances WHERE parent = $1 ORDER BY sub`, parent)
	if err != nil {
		return Balance{}, fmt.Errorf("ledger balance %d: %w", parent, err)
	}
	defer rows.Close()
	b := Balance{Subs: []SubBalance{}}
	for rows.Next() {
		var sb SubBalance
		if err := rows.Scan(&sb.Sub, &sb.MG, &sb.Points, &sb.Debt); err != nil {
			return Balance{}, fmt.Errorf("ledger balance %d: %w", parent, err)
		}
		if sb.Sub == 0 {
			b.MG, b.Points, b.Debt = sb.MG, sb.Points, sb.Debt
			continue
		}
		b.Subs = append(b.Subs, sb)
	}
	return b, rows.Err()
}

// Entry is one ledger transaction as its account sees it: amounts are
// positive into the account, negative out of it.
type Entry struct {
	ID     int64     `json:"id"`
	Kind   string    `json:"kind"`
	Ref    string    `json:"ref,omitempty"` // the caller's reference; the intake's credits have none (their event row has the ID)
	CalcID string    `json:"calc_id,omitempty"`
	Sub    int64     `json:"sub"` // 0: a spend from the parent total
	MG     int64     `json:"mg"`
	Points int64     `json:"points"`
	Debt   int64     `json:"debt,omitempty"` // debt repaid (credit, grant, refund) or incurred (reversal)
	Note   string    `json:"note,omitempty"` // reversal reason or spend kind
	At     time.Time `json:"at"`
}

// MaxEntries bounds one page of Entries.
const MaxEntries = 500

// Entries returns parent's entries newest first, limit per page (1 to
// MaxEntries; 0 means 50), after cursor ("" for the first page). next is
// the cursor of the following page, "" after the last. Pages are keyset on
// id through the ledger_tx_parent (parent, id) index, so they cost the same
// for an account with 100 k entries. Errors: EInvalid (bad cursor).
func (s *Service) Entries(ctx context.Context, parent int64, cursor string, limit int) (entries []Entry, next string, err error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, MaxEntries)
	id := int64(1 << 62)
	if cursor != "" {
		if id, err = parseCursor(cursor); err != nil {
			return nil, "", err
		}
	}
	rows, err := s.db.Read().QueryContext(ctx, entriesSQL, parent, id, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("ledger entries %d: %w", parent, err)
	}
	defer rows.Close()
	entries = []Entry{}
	for rows.Next() {
		var e Entry
		var created int64
		if err := rows.Scan(&e.ID, &e.Kind, &e.Ref, &e.CalcID, &e.Sub, &e.Debt, &e.Note, &created, &e.MG, &e.Points); err != nil {
			return nil, "", fmt.Errorf("ledger entries %d: %w", parent, err)
		}
		e.At = store.Time(created)
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("ledger entries %d: %w", parent, err)
	}
	if len(entries) > limit {
		entries = entries[:limit]
		next = strconv.FormatInt(entries[limit-1].ID, 10)
	}
	return entries, next, nil
}

// entriesSQL is one page of entries: the keyset range on ledger_tx_parent,
// then the postings of those transactions by primary key.
const entriesSQL = `SELECT t.id, t.kind, COALESCE(t.ref, ''), t.calc_id, t.sub, COALESCE(t.debt, 0), COALESCE(t.note, ''), t.created_at,
	` + amountsSQL + `
	FROM (SELECT * FROM ledger_tx WHERE parent = $1 AND id < $2 ORDER BY id DESC LIMIT $3) t
	LEFT JOIN ledger_postings p ON p.tx_id = t.id
	GROUP BY t.id, t.kind, t.ref, t.calc_id, t.sub, t.debt, t.note, t.created_at
	ORDER BY t.id DESC`

// parseCursor reads a cursor: a transaction id, or "<micros>.<id>" as
// cursors were written before the index dropped created_at.
func parseCursor(c string) (int64, error) {
	s := c
	if before, after, ok := strings.Cut(c, "."); ok {
		if at, err := strconv.ParseInt(before, 10, 64); err != nil || at < 0 {
			return 0, oc.Errorf(oc.EInvalid, "bad cursor %q", c)
		}
		s = after
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 0 {
		return 0, oc.Errorf(oc.EInvalid, "bad cursor %q", c)
	}
	return id, nil
}

// AccountExport is the ledger's section of a person's export.
type AccountExport struct {
	Balance  Balance `json:"balance"`
	Lots     []Lot   `json:"lots"`
	Entries  []Entry `json:"entries"`
	Complete bool    `json:"complete"` // false when entries were cut at maxExportEntries
}

const maxExportEntries = 1_000_000

// Export returns everything the ledger holds about accountID (a parent):
// balances, lots and every entry. It fits account.Exporter.
func (s *Service) Export(ctx context.Context, accountID int64) (any, error) {
	b, err := s.Balance(ctx, accountID)
	if err != nil {
		return nil, err
	}
	lots, err := s.Expiring(ctx, accountID, 100*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	out := AccountExport{Balance: b, Lots: lots, Entries: []Entry{}, Complete: true}
	cursor := ""
	for {
		page, next, err := s.Entries(ctx, accountID, cursor, MaxEntries)
		if err != nil {
			return nil, err
		}
		out.Entries = append(out.Entries, page...)
		if next == "" {
			break
		}
		if len(out.Entries) >= maxExportEntries {
			out.Complete = false
			break
		}
		cursor = next
	}
	return out, nil
}
