package campaign

import (
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// FeedName is the outbox consumer name of the score updater.
const FeedName = "leaderboard"

// Which credits count (decided here, documented in docs/campaigns.md): a
// credit counts for a campaign when the person was a member at the
// credit's CreditedAt (joined at or before it and not left by then, even
// if they left before the feed got to the credit), CreditedAt lies in the
// window, OccurredAt lies in the window too (an act from before the
// campaign reported during it does not count; an act in the window
// credited after the end does not count either), and the behavior or
// scenario is one the campaign counts. The score is the sum of counted mg;
// ReachedAt is the latest CreditedAt (or ReversedAt) that changed it.

// HandleMessages is the feed handler: it applies credit.created and
// credit.reversed messages to campaign scores in one transaction, then
// projects the changed members onto the board. A replayed message changes
// nothing (campaign_credits is keyed by campaign and ledger ref). A batch
// costs a handful of statements whatever its size: one read of the
// campaigns and memberships concerned, multi-row journal inserts, and one
// multi-row score update whose RETURNING rows feed the board.
func (s *Service) HandleMessages(ctx context.Context, msgs []webhook.Message) error {
	var creates, reversals []webhook.CreditBody
	for _, m := range msgs {
		if m.Topic != webhook.TopicCreditCreated && m.Topic != webhook.TopicCreditReversed {
			continue
		}
		b, err := m.Credit()
		if err != nil {
			return fmt.Errorf("leaderboard: message %d: %w", m.ID, err)
		}
		if m.Topic == webhook.TopicCreditCreated {
			creates = append(creates, b)
		} else {
			reversals = append(reversals, b)
		}
	}
	if len(creates)+len(reversals) == 0 {
		return nil
	}
	var ups []Update
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		d := deltas{}
		if err := s.creditsTx(ctx, tx, creates, d); err != nil {
			return err
		}
		for _, b := range reversals {
			if err := s.reverseTx(ctx, tx, b, d); err != nil {
				return err
			}
		}
		var err error
		ups, err = d.applyTx(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("leaderboard: %w", err)
	}
	return s.board.Apply(ctx, ups)
}

type memberKey struct {
	campaign string
	account  int64
}

type delta struct{ mg, at int64 }

// deltas are the score changes of one batch, per member.
type deltas map[memberKey]*delta

func (d deltas) add(k memberKey, mg, at int64) {
	x := d[k]
	if x == nil {
		x = &delta{at: at}
		d[k] = x
	}
	x.mg += mg
	x.at = max(x.at, at)
}

// applyTx adds every delta to its member row (in key order, so concurrent
// consumers lock rows in the same order) and returns the board updates of
// the rows as they now are. reached_at becomes the later of its old value
// and the change's time, so replays in any order give the same result.
func (d deltas) applyTx(ctx context.Context, tx *store.Tx) ([]Update, error) {
	keys := make([]memberKey, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b memberKey) int {
		if c := strings.Compare(a.campaign, b.campaign); c != 0 {
			return c
		}
		return cmp.Compare(a.account, b.account)
	})
	cols := [4]any{make([]string, len(keys)), make([]int64, len(keys)), make([]int64, len(keys)), make([]int64, len(keys))}
	for i, k := range keys {
		cols[0].([]string)[i], cols[1].([]int64)[i], cols[2].([]int64)[i], cols[3].([]int64)[i] = k.campaign, k.account, d[k].mg, d[k].at
	}
	var ups []Update
	err := qApplyScores.Run(ctx, tx, cols[:], func(scan func(...any) error) error {
		m, v, err := scanMember(scanFunc(scan))
		if err != nil {
			return err
		}
		ups = append(ups, updateOf(m, v))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("campaign scores: %w", err)
	}
	return ups, nil
}

type journalRow struct {
	campaign      string
	ref           string
	account, sub  int64
	mg, bonus, at int64
	expires       time.Time
}

// creditsTx journals every credit of bs that counts for a campaign and
// adds it to d; credits already journaled (replays) are skipped.
func (s *Service) creditsTx(ctx context.Context, tx *store.Tx, bs []webhook.CreditBody, d deltas) error {
	if len(bs) == 0 {
		return nil
	}
	lo, hi := bs[0].CreditedAt, bs[0].CreditedAt
	accs := map[int64]bool{}
	for _, b := range bs {
		lo, hi = minTime(lo, b.CreditedAt), maxTime(hi, b.CreditedAt)
		accs[b.Account] = true
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE start_at <= $1 AND end_at > $2`, store.Micros(hi), store.Micros(lo))
	if err != nil {
		return fmt.Errorf("live campaigns: %w", err)
	}
	camps := map[string]*Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows, tx.Now)
		if err != nil {
			rows.Close()
			return err
		}
		camps[c.ID] = c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(camps) == 0 {
		return nil
	}
	joined, err := membershipsTx(ctx, tx, camps, accs)
	if err != nil {
		return err
	}
	var js []journalRow
	seen := map[[2]string]bool{}
	for _, b := range bs {
		for id, c := range camps {
			ms, ok := joined[memberKey{id, b.Account}]
			if !ok || !ms.memberAt(store.Micros(b.CreditedAt)) || !c.InWindow(b.CreditedAt) || !c.InWindow(b.OccurredAt) ||
				!c.Counts(b.Behavior, b.Scenario) || b.MG <= 0 || seen[[2]string{id, b.Ref}] {
				continue
			}
			seen[[2]string{id, b.Ref}] = true
			j := journalRow{campaign: id, ref: b.Ref, account: b.Account, sub: b.Sub, mg: b.MG, at: store.Micros(b.CreditedAt)}
			if s.Bonus != nil {
				j.bonus = b.Points * c.BonusPercent / 100
			}
			if c.BonusExpiryDays > 0 {
				j.expires = b.CreditedAt.Add(time.Duration(c.BonusExpiryDays) * 24 * time.Hour)
				if !j.expires.After(tx.Now) {
					j.bonus = 0 // processed after the bonus would have expired: nothing to grant
				}
			}
			js = append(js, j)
		}
	}
	slices.SortFunc(js, func(a, b journalRow) int {
		if c := strings.Compare(a.campaign, b.campaign); c != 0 {
			return c
		}
		return strings.Compare(a.ref, b.ref)
	})
	cols := [6]any{make([]string, len(js)), make([]string, len(js)), make([]int64, len(js)), make([]int64, len(js)), make([]int64, len(js)), make([]int64, len(js))}
	byKey := make(map[[2]string]journalRow, len(js))
	for i, j := range js {
		cols[0].([]string)[i], cols[1].([]string)[i] = j.campaign, j.ref
		cols[2].([]int64)[i], cols[3].([]int64)[i], cols[4].([]int64)[i], cols[5].([]int64)[i] = j.account, j.mg, j.bonus, j.at
		byKey[[2]string{j.campaign, j.ref}] = j
	}
	var fresh []journalRow
	err = qJournal.Run(ctx, tx, cols[:], func(scan func(...any) error) error {
		var k [2]string
		if err := scan(&k[0], &k[1]); err != nil {
			return err
		}
		fresh = append(fresh, byKey[k])
		return nil
	})
	if err != nil {
		return fmt.Errorf("journal credits: %w", err)
	}
	for _, j := range fresh {
		d.add(memberKey{j.campaign, j.account}, j.mg, j.at)
		if j.bonus > 0 {
			g := Bonus{Campaign: j.campaign, Parent: j.account, Sub: j.sub, Points: j.bonus, Ref: bonusRef(j.campaign, j.ref), ExpiresAt: j.expires}
			if err := s.Bonus(ctx, tx, g); err != nil {
				if oc.ErrorCode(err) == oc.EInternal {
					return fmt.Errorf("campaign bonus: %w", err)
				}
				// A refused grant (a domain error) is permanent: retrying the
				// batch would block every score behind it. Count the credit,
				// skip the bonus, say so.
				slog.Warn("campaign bonus refused", "campaign", j.campaign, "ref", j.ref, "err", err)
			}
		}
	}
	return nil
}

// scanFunc adapts a row callback's scan to scanner.
type scanFunc func(...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// The score consumer's set-based statements (fixed texts: see store.BulkWrite).
var (
	// qApplyScores adds deltas to member rows (in the order given, so
	// concurrent consumers lock rows in the same order) and returns them.
	// On PostgreSQL the score is in no index, so the update is heap-only.
	qApplyScores = store.NewBulkWrite(`WITH v (vc, va, vd, vr) AS (VALUES `, 4, `)`+applyScores,
		`WITH v (vc, va, vd, vr) AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]))`+applyScores)
	qJournal = store.NewBulkWrite(`INSERT INTO campaign_credits (campaign_id, ref, account_id, mg, bonus_points, credited_at) VALUES `, 6,
		` ON CONFLICT (campaign_id, ref) DO NOTHING RETURNING campaign_id, ref`,
		`INSERT INTO campaign_credits (campaign_id, ref, account_id, mg, bonus_points, credited_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[])
		ON CONFLICT (campaign_id, ref) DO NOTHING RETURNING campaign_id, ref`)
)

const applyScores = ` UPDATE campaign_members SET score = score + v.vd,
	reached_at = CASE WHEN reached_at > v.vr THEN reached_at ELSE v.vr END, version = version + 1
	FROM v WHERE campaign_members.campaign_id = v.vc AND campaign_members.account_id = v.va
	RETURNING ` + memberCols

// membership is when a member joined, left (0: has not) and, if they
// left and joined again, their last absence [awayFrom, awayTo).
type membership struct{ joined, left, awayFrom, awayTo int64 }

// memberAt reports whether the person was a member at time at (unix
// micros). The feed runs behind the outbox, so a member may have left
// after a credit and before it is processed: the credit still counts.
func (m membership) memberAt(at int64) bool {
	return m.joined <= at && (m.left == 0 || at < m.left) && (m.awayTo == 0 || at < m.awayFrom || at >= m.awayTo)
}

// membershipsTx returns when each member among accs joined (and left)
// each of camps.
func membershipsTx(ctx context.Context, tx *store.Tx, camps map[string]*Campaign, accs map[int64]bool) (map[memberKey]membership, error) {
	ids := make([]string, 0, len(camps))
	for id := range camps {
		ids = append(ids, id)
	}
	accounts := make([]int64, 0, len(accs))
	for a := range accs {
		accounts = append(accounts, a)
	}
	// One statement text whatever the batch: the lists are single
	// parameters (a JSON array on SQLite, an array on PostgreSQL).
	var rows *sql.Rows
	var err error
	if tx.Dialect == store.SQLite {
		ij, _ := json.Marshal(ids)
		aj, _ := json.Marshal(accounts)
		rows, err = tx.QueryContext(ctx, `SELECT campaign_id, account_id, joined_at, COALESCE(left_at, 0), COALESCE(away_from, 0), COALESCE(away_to, 0) FROM campaign_members
			WHERE campaign_id IN (SELECT value FROM json_each(?)) AND account_id IN (SELECT value FROM json_each(?))`, string(ij), string(aj))
	} else {
		rows, err = tx.QueryContext(ctx, `SELECT campaign_id, account_id, joined_at, COALESCE(left_at, 0), COALESCE(away_from, 0), COALESCE(away_to, 0) FROM campaign_members
			WHERE campaign_id = ANY($1::text[]) AND account_id = ANY($2::bigint[])`, ids, accounts)
	}
	if err != nil {
		return nil, fmt.Errorf("campaign members: %w", err)
	}
	defer rows.Close()
	out := map[memberKey]membership{}
	for rows.Next() {
		var k memberKey
		var m membership
		if err := rows.Scan(&k.campaign, &k.account, &m.joined, &m.left, &m.awayFrom, &m.awayTo); err != nil {
			return nil, err
		}
		out[k] = m
	}
	return out, rows.Err()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reverseTx subtracts a reversed credit from every campaign it counted in.
func (s *Service) reverseTx(ctx context.Context, tx *store.Tx, b webhook.CreditBody, d deltas) error {
	at := b.ReversedAt
	if at.IsZero() {
		at = tx.Now
	}
	rows, err := tx.QueryContext(ctx, `UPDATE campaign_credits SET reversed_at = $2 WHERE ref = $1 AND reversed_at IS NULL
		RETURNING campaign_id, account_id, mg, bonus_points`, b.Ref, store.Micros(at))
	if err != nil {
		return fmt.Errorf("journal reversal: %w", err)
	}
	type hit struct {
		campaign       string
		account        int64
		mg, bonusPoint int64
	}
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.campaign, &h.account, &h.mg, &h.bonusPoint); err != nil {
			rows.Close()
			return err
		}
		hits = append(hits, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, h := range hits {
		d.add(memberKey{h.campaign, h.account}, -h.mg, store.Micros(at))
		if h.bonusPoint > 0 && s.Bonus != nil {
			g := Bonus{Campaign: h.campaign, Parent: h.account, Sub: b.Sub, Points: -h.bonusPoint,
				Ref: bonusRef(h.campaign, b.Ref) + ":reversal", Reverses: bonusRef(h.campaign, b.Ref)}
			if err := s.Bonus(ctx, tx, g); err != nil {
				if oc.ErrorCode(err) == oc.EInternal {
					return fmt.Errorf("campaign bonus reversal: %w", err)
				}
				slog.Warn("campaign bonus clawback refused", "campaign", h.campaign, "ref", b.Ref, "err", err)
			}
		}
	}
	return nil
}

// bonusRef is the ledger reference of the bonus for credit ref. A long
// credit ref is replaced by its SHA-256 so the bonus ref (and its
// ":reversal" clawback ref) stay within the ledger's 200 bytes.
func bonusRef(campaign, ref string) string {
	if len(ref) > 120 {
		h := sha256.Sum256([]byte(ref))
		ref = "sha256:" + hex.EncodeToString(h[:])
	}
	return "campaign:" + campaign + ":" + ref
}

// Run consumes the outbox feed until ctx ends; poll is the idle wait.
func (s *Service) Run(ctx context.Context, poll time.Duration) error {
	return webhook.NewFeed(s.db, FeedName).Run(ctx, poll, s.HandleMessages)
}
