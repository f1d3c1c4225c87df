package account

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// Consent is one recorded consent: opening, linking or revoking a partner,
// or erasing.
type Consent struct {
	Kind           string    `json:"kind"`
	Partner        string    `json:"partner,omitempty"`
	ConsentVersion string    `json:"consent_version,omitempty"`
	EntryPoint     string    `json:"entry_point,omitempty"`
	At             time.Time `json:"at"`
}

// Export is everything held about a person: the account, the consent
// record and one section per package registered with AddExporter (ledger
// entries, vouchers, medals, campaign entries, ...).
type Export struct {
	Person     string         `json:"person"`
	ExportedAt time.Time      `json:"exported_at"`
	Account    *Account       `json:"account"`
	Consents   []Consent      `json:"consents"`
	Sections   map[string]any `json:"sections"`
}

// AddExporter adds section to every export, filled by fn. Packages that
// hold data of an account call it while the system is wired, before
// serving. A section name may be added once.
func (s *Service) AddExporter(section string, fn Exporter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.exporters[section]; dup || section == "" {
		panic(fmt.Sprintf("account: exporter %q added twice or empty", section))
	}
	s.exporters[section] = fn
}

// AddEraser makes Erase call fn inside its transaction, before the person
// mapping goes. fn deletes or anonymises its package's personal data of the
// account (free text, display names, contact data) and keeps amounts keyed
// by ids, so totals still add up.
func (s *Service) AddEraser(fn Eraser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erasers = append(s.erasers, fn)
}

// Export returns everything held about person. Errors: ENoConsent (nothing
// is held: never opened, or erased).
func (s *Service) Export(ctx context.Context, person string) (*Export, error) {
	a, err := s.Get(ctx, person)
	if err != nil {
		return nil, err
	}
	x := &Export{Person: person, ExportedAt: s.db.Now(), Account: a, Sections: map[string]any{}}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT kind, partner, consent_version, entry_point, at FROM consents WHERE account_id = $1 ORDER BY id`, a.ID)
	if err != nil {
		return nil, fmt.Errorf("export consents: %w", err)
	}
	defer rows.Close()
	x.Consents = []Consent{}
	for rows.Next() {
		var c Consent
		var at int64
		if err := rows.Scan(&c.Kind, &c.Partner, &c.ConsentVersion, &c.EntryPoint, &at); err != nil {
			return nil, fmt.Errorf("export consents: %w", err)
		}
		c.At = store.Time(at)
		x.Consents = append(x.Consents, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("export consents: %w", err)
	}
	s.mu.RLock()
	exporters := make(map[string]Exporter, len(s.exporters))
	for k, v := range s.exporters {
		exporters[k] = v
	}
	s.mu.RUnlock()
	for name, fn := range exporters {
		v, err := fn(ctx, a.ID)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", name, err)
		}
		x.Sections[name] = v
	}
	return x, nil
}

// Erase removes person's personal data: every registered eraser runs, all
// sub-accounts are revoked, and the person id is replaced by a random
// tombstone, all in one transaction. Account ids, sub-accounts, consent
// records and everything keyed by ids stay, so ledger totals and audit
// proofs still add up; nothing links them to the person any more (see
// Tombstone). Errors: ENoConsent (nothing held).
func (s *Service) Erase(ctx context.Context, person string) error {
	s.mu.RLock()
	erasers := append([]Eraser(nil), s.erasers...)
	s.mu.RUnlock()
	tomb := newTombstone()
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		id, version, err := openAccountTx(ctx, tx, person)
		if err != nil {
			return err
		}
		now := store.Micros(tx.Now)
		// Revoking first takes the sub-account rows, so on PostgreSQL the
		// erase waits for credits already past ResolveTx.
		if _, err := tx.ExecContext(ctx, `UPDATE subaccounts SET linked = 0, revoked_at = COALESCE(revoked_at, $2) WHERE account_id = $1`, id, now); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
		for _, fn := range erasers {
			if err := fn(ctx, tx, id); err != nil {
				return fmt.Errorf("erase: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET person = NULL, tombstone = $2, erased_at = $3 WHERE id = $1`, id, tomb, now); err != nil {
			return fmt.Errorf("erase: %w", err)
		}
		return recordTx(ctx, tx, id, KindErase, "", version, "")
	})
}

// Tombstone returns the tombstone of erased account accountID. Errors:
// ENotFound (no such account), EInvalid (the account is not erased).
func (s *Service) Tombstone(ctx context.Context, accountID int64) (string, error) {
	var tomb sql.NullString
	err := s.db.Read().QueryRowContext(ctx, `SELECT tombstone FROM accounts WHERE id = $1`, accountID).Scan(&tomb)
	if errors.Is(err, sql.ErrNoRows) {
		return "", oc.Errorf(oc.ENotFound, "account %d does not exist", accountID)
	}
	if err != nil {
		return "", fmt.Errorf("tombstone: %w", err)
	}
	if !tomb.Valid {
		return "", oc.Errorf(oc.EInvalid, "account %d is not erased", accountID)
	}
	return tomb.String, nil
}
