package intake

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/audit"
	"github.com/opencarbon/opencarbon/store"
)

// Footprint groupings.
const (
	ByScenario = "scenario"
	ByPartner  = "partner"
	ByDay      = "day"
	ByMonth    = "month"
)

// Bucket is one group of a footprint.
type Bucket struct {
	Key    string `json:"key"` // scenario, partner, YYYY-MM-DD or YYYY-MM
	MG     int64  `json:"mg"`
	Events int64  `json:"events"`
}

// Footprint is a person's reductions over a range of local days.
type Footprint struct {
	From    string   `json:"from"` // YYYY-MM-DD, inclusive
	To      string   `json:"to"`   // YYYY-MM-DD, inclusive
	By      string   `json:"by"`
	TotalMG int64    `json:"total_mg"`
	Buckets []Bucket `json:"buckets"`
}

// Footprint groups account's credited reductions (net of reversals) by
// occurrence day in the methodology time zone, between from and to
// (inclusive local days), by scenario, partner, day or month. It reads
// the per-day usage rows (index on account and day), never the events,
// so its cost is bounded by days × behaviors, not by the number of
// entries. Errors: EInvalid (bad by, to before from, range over 10 years).
func (s *Service) Footprint(ctx context.Context, accountID int64, from, to time.Time, by string) (*Footprint, error) {
	switch by {
	case "":
		by = ByScenario
	case ByScenario, ByPartner, ByDay, ByMonth:
	default:
		return nil, oc.Errorf(oc.EInvalid, "by must be scenario, partner, day or month")
	}
	if to.Before(from) {
		return nil, oc.Errorf(oc.EInvalid, "to is before from")
	}
	if to.Sub(from) > 10*366*24*time.Hour {
		return nil, oc.Errorf(oc.EInvalid, "the range is longer than ten years")
	}
	fromKey, toKey := dayKey(from), dayKey(to)
	col := map[string]string{ByScenario: "scenario_id", ByPartner: "partner", ByDay: "day", ByMonth: "day / 100"}[by]
	q := `SELECT ` + col + ` AS k, SUM(mg) AS mg, SUM(events) AS events FROM intake_usage
		WHERE account_id = $1 AND day BETWEEN $2 AND $3 GROUP BY ` + col
	if by == ByScenario {
		q = `SELECT n.name, u.mg, u.events FROM (` + q + `) u JOIN intake_names n ON n.id = u.k`
	}
	rows, err := s.db.Read().QueryContext(ctx, q, accountID, fromKey, toKey)
	if err != nil {
		return nil, fmt.Errorf("footprint: %w", err)
	}
	defer rows.Close()
	fp := &Footprint{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), By: by, Buckets: []Bucket{}}
	for rows.Next() {
		var k string
		var b Bucket
		if err := rows.Scan(&k, &b.MG, &b.Events); err != nil {
			return nil, fmt.Errorf("footprint: %w", err)
		}
		if b.MG == 0 && b.Events == 0 {
			continue
		}
		b.Key = k
		if n, err := strconv.Atoi(k); err == nil && by == ByDay {
			b.Key = fmt.Sprintf("%04d-%02d-%02d", n/10000, n/100%100, n%100)
		} else if err == nil && by == ByMonth {
			b.Key = fmt.Sprintf("%04d-%02d", n/100, n%100)
		}
		fp.TotalMG += b.MG
		fp.Buckets = append(fp.Buckets, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("footprint: %w", err)
	}
	sort.SliceStable(fp.Buckets, func(i, j int) bool { return fp.Buckets[i].Key < fp.Buckets[j].Key })
	return fp, nil
}

// dayKey is a date's YYYYMMDD (the date as written, no zone conversion).
func dayKey(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }

// Entry is one credited event in a person's history.
type Entry struct {
	EventID    string     `json:"event_id"`
	Partner    string     `json:"partner"`
	Behavior   string     `json:"behavior"`
	Scenario   string     `json:"scenario"`
	MG         int64      `json:"mg"`
	Points     int64      `json:"points"`
	CalcID     string     `json:"calc_id"`
	OccurredAt time.Time  `json:"occurred_at"`
	CreditedAt time.Time  `json:"credited_at"`
	ReversedAt *time.Time `json:"reversed_at,omitempty"`
	Reason     string     `json:"reversal_reason,omitempty"`
}

// Entries returns account's credited events newest first, at most limit
// (1-200, default 50), after cursor ("" for the first page), and the cursor
// of the next page ("" at the end). A credited event's row has the id of
// its ledger transaction, so it walks the ledger's (parent, id) index and
// reads each event row by its id.
// Errors: EInvalid (bad cursor).
func (s *Service) Entries(ctx context.Context, accountID int64, cursor string, limit int) ([]Entry, string, error) {
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	before := int64(1 << 62)
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n <= 0 {
			return nil, "", oc.Errorf(oc.EInvalid, "bad cursor")
		}
		before = n
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT e.id, e.event_id, e.partner, b.name, COALESCE(s.name, ''), COALESCE(e.mg, e.tx_mg), COALESCE(e.points, e.tx_points),
			COALESCE(e.calc_id, e.tx_calc_id, ''), e.occurred_at, COALESCE(e.created_at, e.tx_created_at), e.reversed_at, COALESCE(e.reverse_reason, '')
		FROM (SELECT e.*, t.calc_id AS tx_calc_id, t.mg AS tx_mg, t.points AS tx_points, t.created_at AS tx_created_at
			FROM ledger_tx t JOIN intake_events e ON e.id = t.id
			WHERE t.parent = $1 AND t.id < $2 AND t.kind = 'credit' ORDER BY t.id DESC LIMIT $3) e
		JOIN intake_names b ON b.id = e.behavior_id LEFT JOIN intake_names s ON s.id = e.scenario_id
		ORDER BY e.id DESC`, accountID, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("entries: %w", err)
	}
	defer rows.Close()
	out := []Entry{}
	var ids []int64
	for rows.Next() {
		var e Entry
		var id, occ, cred int64
		var rev sql.NullInt64
		if err := rows.Scan(&id, &e.EventID, &e.Partner, &e.Behavior, &e.Scenario, &e.MG, &e.Points, &e.CalcID, &occ, &cred, &rev, &e.Reason); err != nil {
			return nil, "", fmt.Errorf("entries: %w", err)
		}
		e.OccurredAt, e.CreditedAt = store.Time(occ), store.Time(cred)
		if rev.Valid {
			t := store.Time(rev.Int64)
			e.ReversedAt = &t
		}
		out = append(out, e)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("entries: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = strconv.FormatInt(ids[limit-1], 10)
	}
	return out, next, nil
}

// CalcView is a stored calc record with its human explanation.
type CalcView struct {
	*audit.Record
	Explanation string `json:"explanation"`
}

// Calc returns calc record calcID and its explanation in lang ("en" or
// "zh"). The caller checks who may see it (AccountID). Errors: ENotFound.
func (s *Service) Calc(ctx context.Context, calcID, lang string) (*CalcView, error) {
	eng, err := s.engines.Engine(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := audit.Get(ctx, s.db, eng, calcID)
	if err != nil {
		return nil, err
	}
	return &CalcView{Record: rec, Explanation: rec.Calc.Explain(lang)}, nil
}

// Export returns every credited event of account, newest first, for the
// person's data export (account.Exporter).
func (s *Service) Export(ctx context.Context, accountID int64) (any, error) {
	all := []Entry{}
	cursor := ""
	for {
		page, next, err := s.Entries(ctx, accountID, cursor, 200)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		cursor = next
	}
}
