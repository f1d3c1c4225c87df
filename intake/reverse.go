package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/ledger"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// Reversal is the answer to a reversal request.
type Reversal struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"` // "reversed"
	MG      int64  `json:"mg"`     // reduction taken back
	Points  int64  `json:"points"` // points clawed back from the balance
	Debt    int64  `json:"debt"`   // points already spent, recorded as debt
	Reason  string `json:"reason"`
}

// Reverse reverses the credit of event eventID reported by partner: the
// ledger claws back its mg and points (debt for points already spent),
// the person's cap usage and the act are released, and credit.reversed is
// written to the outbox. Reversing again returns the first answer and
// changes nothing. Errors: EInvalid (empty reason), ENotCredited (the
// partner has no credited event with that id).
func (s *Service) Reverse(ctx context.Context, partner, eventID, reason string) (*Reversal, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return nil, oc.Errorf(oc.EInvalid, "reason is required (at most 500 characters)")
	}
	eng, err := s.engines.Engine(ctx)
	if err != nil {
		return nil, err
	}
	var out *Reversal
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		var (
			status, behavior, scenario string
			acct, sub                  sql.NullInt64
			occurred, mg, points       int64
			calcID, prevReason         sql.NullString
			reversedAt                 sql.NullInt64
		)
		var behaviorID, txID int64
		err := tx.QueryRowContext(ctx, eventQuery(tx.Dialect), partner, eventID).
			Scan(&txID, &status, &acct, &sub, &behaviorID, &behavior, &scenario, &occurred, &mg, &points, &calcID, &reversedAt, &prevReason)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && status != StatusCredited) {
			return oc.Errorf(oc.ENotCredited, "partner %s has no credited event %q", partner, eventID)
		}
		if err != nil {
			return fmt.Errorf("find event: %w", err)
		}
		// A credited event's row has the id of its ledger transaction,
		// which has no ref when the batch path wrote it.
		ref := Ref(partner, eventID)
		r, err := ledger.ReverseIDTx(ctx, tx, txID, "rev:"+ref, reason)
		if err != nil {
			return err
		}
		if reversedAt.Valid {
			out = &Reversal{EventID: eventID, Status: "reversed", MG: r.MG, Points: r.Points, Debt: r.Debt, Reason: prevReason.String}
			return nil
		}
		out = &Reversal{EventID: eventID, Status: "reversed", MG: r.MG, Points: r.Points, Debt: r.Debt, Reason: reason}
		if _, err := tx.ExecContext(ctx, `UPDATE intake_events SET reversed_at = $1, reverse_reason = $2 WHERE id = $3`,
			store.Micros(tx.Now), reason, txID); err != nil {
			return fmt.Errorf("mark reversed: %w", err)
		}
		day, _, _ := dayKeys(store.Time(occurred), eng.Location())
		if _, err := tx.ExecContext(ctx, `UPDATE intake_usage SET mg = mg - $1, events = events - 1 WHERE account_id = $2 AND day IN ($3, $6) AND behavior_id = $4 AND partner = $5`,
			mg, acct.Int64, day, behaviorID, partner, yearRow(day)); err != nil {
			return fmt.Errorf("release usage: %w", err)
		}
		return webhook.EnqueueTx(ctx, tx, webhook.TopicCreditReversed, partner, acct.Int64, webhook.CreditBody{
			Ref: ref, EventID: eventID, Partner: partner, Account: acct.Int64, Sub: sub.Int64, Behavior: behavior, Scenario: scenario,
			MG: r.MG, Points: r.Points, CalcID: calcID.String, OccurredAt: store.Time(occurred), ReversedAt: tx.Now, Reason: reason})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eventQuery reads the event ($1, $2) = (partner, event_id) for its
// reversal: by intake_events_key, whose key is a digest on PostgreSQL
// (eventDigest).
func eventQuery(d store.Dialect) string {
	digest := ""
	if d == store.Postgres {
		digest = pgEventKey + ` = ` + eventDigest("$1::text", "$2::text") + ` AND `
	}
	return `SELECT e.id, COALESCE(e.status, 'credited'), e.account_id, COALESCE(e.sub_id, t.sub), e.behavior_id, b.name, COALESCE(s.name, ''), e.occurred_at, COALESCE(e.mg, t.mg), COALESCE(e.points, t.points),
			COALESCE(e.calc_id, t.calc_id), e.reversed_at, e.reverse_reason
			FROM intake_events e JOIN intake_names b ON b.id = e.behavior_id LEFT JOIN intake_names s ON s.id = e.scenario_id
			LEFT JOIN ledger_tx t ON t.id = e.id
			WHERE ` + digest + `e.partner = $1 AND e.event_id = $2`
}
