// Package campaign runs time-boxed campaigns such as "88 Carbon Reduction
// Week": their definition (window in a time zone, eligible GB/T 2260
// regions, behaviors and scenarios that count, bonus points, campaign-only
// medals), people's opt-in, and regional leaderboards.
//
// Scores are kept in the database (campaign_members.score), changed only by
// the outbox consumer (Apply) in the same transaction as the journal row
// that makes each change idempotent; a leaderboard (Board) is a projection
// of those scores, in process or in Redis, that can always be rebuilt.
//
// It must never count a person who did not join, never show a raw person
// id (boards show a chosen display name or a masked id), never inflate the
// reduction in mg (a multiplier only grants bonus points through the
// ledger hook), and never change the ledger directly.
package campaign

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/partner"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the campaigns schema.
var Migrations = store.Component{Name: "campaign", FS: migrations, Dir: "migrations"}

// LocalLayout is how window edges are written: local wall-clock minutes.
const LocalLayout = "2006-01-02T15:04"

// Status of a campaign at a given instant.
const (
	StatusUpcoming = "upcoming"
	StatusLive     = "live"
	StatusEnded    = "ended"
)

// IDPattern is what a campaign id looks like, e.g. "88week-2022".
var IDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,47}$`)

var behaviorPattern = regexp.MustCompile(`^[a-z0-9_]{1,32}(\.[a-z0-9_]{1,64})?$`)

// Campaign is one campaign definition.
//
// Window semantics: Start and End are local wall-clock minutes in TimeZone
// and both are inclusive to the minute, so "2022-08-08T00:00" to
// "2022-08-18T23:59" Asia/Shanghai is the half-open instant range
// [2022-08-08 00:00:00 +08:00, 2022-08-19 00:00:00 +08:00): a credit at
// 23:59:59.999999 on the 18th counts, one at 00:00:00 on the 19th does not.
type Campaign struct {
	ID       string   `json:"id"`
	TitleZH  string   `json:"title_zh"`
	TitleEN  string   `json:"title_en"`
	TimeZone string   `json:"time_zone"`
	Start    string   `json:"start"` // local, LocalLayout
	End      string   `json:"end"`   // local, LocalLayout, inclusive to the minute
	Regions  []Region `json:"regions"`
	// Behaviors and Scenarios that count; both empty means every credit
	// counts, otherwise a credit counts if it matches either list.
	Behaviors []string `json:"behaviors"`
	Scenarios []string `json:"scenarios"`
	// BonusPercent grants floor(points*BonusPercent/100) extra points per
	// counted credit (100 doubles points). The mg reduction is never
	// multiplied.
	BonusPercent int64 `json:"bonus_percent"`
	// BonusExpiryDays makes bonus points expire that many days after the
	// credit; 0 leaves the ledger's default.
	BonusExpiryDays int64   `json:"bonus_expiry_days"`
	Medals          []Medal `json:"medals"`

	StartAt time.Time `json:"start_at"` // first instant of the window
	EndAt   time.Time `json:"end_at"`   // first instant after the window
	Status  string    `json:"status"`   // at the time of reading
}

// Region is an eligible region of a campaign: a GB/T 2260 province code
// (see Provinces) and an optional local carbon-exchange partner.
type Region struct {
	Code    string `json:"code"`
	Partner string `json:"partner,omitempty"`
}

// Medal is a campaign-only medal: awarded (by the honor package) only to
// members of its campaign whose stats satisfy Rule (CEL).
type Medal struct {
	ID      string `json:"id"`
	NameZH  string `json:"name_zh"`
	NameEN  string `json:"name_en"`
	Artwork string `json:"artwork"`
	Rule    string `json:"rule"`
}

// Bonus is a grant of campaign bonus points, handed to the ledger by the
// BonusFunc inside the consumer's transaction. When a counted credit is
// reversed, a Bonus with negative Points and Reverses set to the grant's
// Ref claws the bonus back (ledger.ReverseTx of that grant). Ref is unique
// per grant or clawback.
type Bonus struct {
	Campaign  string
	Parent    int64
	Sub       int64
	Points    int64
	Ref       string
	Reverses  string    // for a clawback: the Ref of the grant taken back
	ExpiresAt time.Time // zero: the ledger's default expiry
}

// BonusFunc grants bonus points inside tx; it must be idempotent on Ref.
type BonusFunc func(ctx context.Context, tx *store.Tx, b Bonus) error

// MedalChecker validates a campaign medal rule (compiles it); wired to the
// honor package so an invalid rule is refused when the campaign is saved.
type MedalChecker func(rule string) error

// Service manages campaigns, memberships and leaderboards. It is safe for
// concurrent use.
type Service struct {
	db    *store.DB
	board Board
	// Bonus grants bonus points; nil disables multipliers (they are then
	// recorded but not granted).
	Bonus BonusFunc
	// CheckMedal validates campaign medal rules; nil accepts any non-empty rule.
	CheckMedal MedalChecker

	stmts sync.Map // query text → *sql.Stmt on the read pool (prepared)
}

// NewService returns the campaign service over db projecting scores onto
// board (NewMemBoard() or NewRedisBoard(...)).
func NewService(db *store.DB, board Board) *Service {
	return &Service{db: db, board: board}
}

// Board returns the leaderboard backend.
func (s *Service) Board() Board { return s.board }

// Save creates or replaces campaign c (by c.ID). Once a campaign has
// started its window start, time zone and regions are fixed (EImmutable);
// titles, end, filters, bonus and medals may still change. Errors: EInvalid,
// EImmutable. create reports whether it was new.
func (s *Service) Save(ctx context.Context, c Campaign, mustCreate bool) (created bool, err error) {
	if err := s.normalize(&c); err != nil {
		return false, err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, r := range c.Regions {
			if r.Partner == "" {
				continue
			}
			ok, err := partner.ExistsTx(ctx, tx, r.Partner)
			if err != nil {
				return err
			}
			if !ok {
				return oc.Errorf(oc.EInvalid, "region %s names partner %q, which is not registered", r.Code, r.Partner)
			}
		}
		old, err := getQ(ctx, tx, c.ID, tx.Now)
		if err != nil && oc.ErrorCode(err) != oc.ENotFound {
			return err
		}
		regions, _ := json.Marshal(c.Regions)
		behaviors, _ := json.Marshal(c.Behaviors)
		scenarios, _ := json.Marshal(c.Scenarios)
		medals, _ := json.Marshal(c.Medals)
		now := store.Micros(tx.Now)
		if old == nil {
			if !mustCreate {
				return oc.Errorf(oc.ENotFound, "campaign %q does not exist", c.ID)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO campaigns (id, title_zh, title_en, time_zone, start_local, end_local, start_at, end_at,
				regions, behaviors, scenarios, bonus_percent, bonus_expiry_days, medals, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)`,
				c.ID, c.TitleZH, c.TitleEN, c.TimeZone, c.Start, c.End, store.Micros(c.StartAt), store.Micros(c.EndAt),
				string(regions), string(behaviors), string(scenarios), c.BonusPercent, c.BonusExpiryDays, string(medals), now)
			if err != nil {
				return fmt.Errorf("create campaign: %w", err)
			}
			created = true
			return nil
		}
		if mustCreate {
			return oc.Errorf(oc.EConflict, "campaign %q already exists (PUT /v1/admin/campaigns/%s to change it)", c.ID, c.ID)
		}
		if !tx.Now.Before(old.StartAt) {
			if old.Start != c.Start || old.TimeZone != c.TimeZone || !slices.Equal(old.Regions, c.Regions) {
				return oc.Errorf(oc.EImmutable, "campaign %q has started: its start, time zone and regions can no longer change", c.ID)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE campaigns SET title_zh = $2, title_en = $3, time_zone = $4, start_local = $5, end_local = $6,
			start_at = $7, end_at = $8, regions = $9, behaviors = $10, scenarios = $11, bonus_percent = $12, bonus_expiry_days = $13,
			medals = $14, updated_at = $15 WHERE id = $1`,
			c.ID, c.TitleZH, c.TitleEN, c.TimeZone, c.Start, c.End, store.Micros(c.StartAt), store.Micros(c.EndAt),
			string(regions), string(behaviors), string(scenarios), c.BonusPercent, c.BonusExpiryDays, string(medals), now)
		if err != nil {
			return fmt.Errorf("update campaign: %w", err)
		}
		return nil
	})
	return created, err
}

// normalize validates c and fills StartAt and EndAt.
func (s *Service) normalize(c *Campaign) error {
	if !IDPattern.MatchString(c.ID) {
		return oc.Errorf(oc.EInvalid, "campaign id must match %s", IDPattern)
	}
	for _, t := range []struct{ name, v string }{{"title_zh", c.TitleZH}, {"title_en", c.TitleEN}} {
		if err := checkText(t.name, t.v, 1, 80); err != nil {
			return err
		}
	}
	if c.TimeZone == "" || strings.EqualFold(c.TimeZone, "local") {
		return oc.Errorf(oc.EInvalid, "time_zone must be an IANA zone such as Asia/Shanghai")
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return oc.Errorf(oc.EInvalid, "time_zone %q is not a known IANA zone", c.TimeZone)
	}
	start, err := time.ParseInLocation(LocalLayout, c.Start, loc)
	if err != nil {
		return oc.Errorf(oc.EInvalid, "start must be local minutes like 2022-08-08T00:00")
	}
	end, err := time.ParseInLocation(LocalLayout, c.End, loc)
	if err != nil {
		return oc.Errorf(oc.EInvalid, "end must be local minutes like 2022-08-18T23:59 (inclusive)")
	}
	c.StartAt, c.EndAt = start.UTC(), end.Add(time.Minute).UTC()
	if !c.StartAt.Before(c.EndAt) {
		return oc.Errorf(oc.EInvalid, "end must not be before start")
	}
	if c.EndAt.Sub(c.StartAt) > 366*24*time.Hour {
		return oc.Errorf(oc.EInvalid, "a campaign lasts at most a year")
	}
	if len(c.Regions) == 0 || len(c.Regions) > len(Provinces) {
		return oc.Errorf(oc.EInvalid, "regions must name 1 to %d GB/T 2260 province codes", len(Provinces))
	}
	seen := map[string]bool{}
	for i := range c.Regions {
		c.Regions[i].Code = strings.ToUpper(c.Regions[i].Code)
		code := c.Regions[i].Code
		if _, ok := Provinces[code]; !ok {
			return oc.Errorf(oc.EInvalid, "region %q is not a GB/T 2260 province code (e.g. GD, BJ, ZJ)", code)
		}
		if seen[code] {
			return oc.Errorf(oc.EInvalid, "region %s is listed twice", code)
		}
		seen[code] = true
	}
	slices.SortFunc(c.Regions, func(a, b Region) int { return strings.Compare(a.Code, b.Code) })
	if c.Behaviors == nil {
		c.Behaviors = []string{}
	}
	if c.Scenarios == nil {
		c.Scenarios = []string{}
	}
	for _, b := range append(slices.Clone(c.Behaviors), c.Scenarios...) {
		if !behaviorPattern.MatchString(b) {
			return oc.Errorf(oc.EInvalid, "behavior or scenario %q is not a valid id", b)
		}
	}
	if len(c.Behaviors)+len(c.Scenarios) > 200 {
		return oc.Errorf(oc.EInvalid, "at most 200 behaviors and scenarios")
	}
	if c.BonusPercent < 0 || c.BonusPercent > 1000 {
		return oc.Errorf(oc.EInvalid, "bonus_percent must be 0 to 1000")
	}
	if c.BonusExpiryDays < 0 || c.BonusExpiryDays > 3660 {
		return oc.Errorf(oc.EInvalid, "bonus_expiry_days must be 0 to 3660")
	}
	if c.Medals == nil {
		c.Medals = []Medal{}
	}
	if len(c.Medals) > 20 {
		return oc.Errorf(oc.EInvalid, "at most 20 campaign medals")
	}
	for _, m := range c.Medals {
		if !IDPattern.MatchString(m.ID) {
			return oc.Errorf(oc.EInvalid, "medal id must match %s", IDPattern)
		}
		if err := checkText("medal name_zh", m.NameZH, 1, 40); err != nil {
			return err
		}
		if err := checkText("medal name_en", m.NameEN, 1, 60); err != nil {
			return err
		}
		if err := checkText("medal artwork", m.Artwork, 1, 200); err != nil {
			return err
		}
		if strings.TrimSpace(m.Rule) == "" || len(m.Rule) > 2000 {
			return oc.Errorf(oc.EInvalid, "medal %s needs a rule of at most 2000 bytes", m.ID)
		}
		if s.CheckMedal != nil {
			if err := s.CheckMedal(m.Rule); err != nil {
				return oc.Errorf(oc.EInvalid, "medal %s: %s", m.ID, oc.ErrorMessage(err))
			}
		}
	}
	return nil
}

// checkText refuses empty, overlong or control-character text.
func checkText(name, v string, min, max int) error {
	n := utf8.RuneCountInString(v)
	if !utf8.ValidString(v) || n < min || n > max || strings.TrimSpace(v) != v {
		return oc.Errorf(oc.EInvalid, "%s must be %d to %d characters without surrounding spaces", name, min, max)
	}
	for _, r := range v {
		if isHidden(r) {
			return oc.Errorf(oc.EInvalid, "%s must not contain control or formatting characters", name)
		}
	}
	return nil
}

// Get returns campaign id with its status at the current time. Errors:
// ENotFound.
func (s *Service) Get(ctx context.Context, id string) (*Campaign, error) {
	st, err := s.prepared(ctx, getSQL)
	if err != nil {
		return nil, err
	}
	return getRow(st.QueryRowContext(ctx, id), id, s.db.Now())
}

// prepared returns query q prepared once on the read pool. Reads on the
// leaderboard path use it: the pure-Go SQLite driver otherwise parses and
// plans the statement on every call, about 50–90 µs of CPU each, the
// largest part of a leaderboard request (docs/benchmarks.md). q must be
// one of a bounded set of texts (constants, or one per IN-list length).
func (s *Service) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := s.db.Read().PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if old, loaded := s.stmts.LoadOrStore(q, st); loaded {
		st.Close()
		return old.(*sql.Stmt), nil
	}
	return st, nil
}

// List returns every campaign, newest window first, optionally only those
// with status (upcoming, live, ended; "" for all). Errors: EInvalid.
func (s *Service) List(ctx context.Context, status string) ([]Campaign, error) {
	if status != "" && status != StatusUpcoming && status != StatusLive && status != StatusEnded {
		return nil, oc.Errorf(oc.EInvalid, "status must be upcoming, live or ended")
	}
	now := s.db.Now()
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY start_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	defer rows.Close()
	out := []Campaign{}
	for rows.Next() {
		c, err := scanCampaign(rows, now)
		if err != nil {
			return nil, err
		}
		if status == "" || c.Status == status {
			out = append(out, *c)
		}
	}
	return out, rows.Err()
}

const campaignCols = `id, title_zh, title_en, time_zone, start_local, end_local, start_at, end_at, regions, behaviors, scenarios, bonus_percent, bonus_expiry_days, medals`

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

const getSQL = `SELECT ` + campaignCols + ` FROM campaigns WHERE id = $1`

func getQ(ctx context.Context, q querier, id string, now time.Time) (*Campaign, error) {
	return getRow(q.QueryRowContext(ctx, getSQL, id), id, now)
}

func getRow(r *sql.Row, id string, now time.Time) (*Campaign, error) {
	c, err := scanCampaign(r, now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oc.Errorf(oc.ENotFound, "campaign %q does not exist", id)
	}
	return c, err
}

func scanCampaign(r scanner, now time.Time) (*Campaign, error) {
	var c Campaign
	var start, end int64
	var regions, behaviors, scenarios, medals string
	if err := r.Scan(&c.ID, &c.TitleZH, &c.TitleEN, &c.TimeZone, &c.Start, &c.End, &start, &end,
		&regions, &behaviors, &scenarios, &c.BonusPercent, &c.BonusExpiryDays, &medals); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		return nil, fmt.Errorf("read campaign: %w", err)
	}
	c.StartAt, c.EndAt = store.Time(start), store.Time(end)
	for _, p := range []struct {
		s string
		v any
	}{{regions, &c.Regions}, {behaviors, &c.Behaviors}, {scenarios, &c.Scenarios}, {medals, &c.Medals}} {
		if err := json.Unmarshal([]byte(p.s), p.v); err != nil {
			return nil, fmt.Errorf("read campaign %s: %w", c.ID, err)
		}
	}
	c.Status = c.StatusAt(now)
	return &c, nil
}

// StatusAt returns the campaign's status at t.
func (c *Campaign) StatusAt(t time.Time) string {
	switch {
	case t.Before(c.StartAt):
		return StatusUpcoming
	case t.Before(c.EndAt):
		return StatusLive
	}
	return StatusEnded
}

// InWindow reports whether t lies in the campaign window [StartAt, EndAt).
func (c *Campaign) InWindow(t time.Time) bool { return !t.Before(c.StartAt) && t.Before(c.EndAt) }

// HasRegion reports whether code is an eligible region.
func (c *Campaign) HasRegion(code string) bool {
	return slices.ContainsFunc(c.Regions, func(r Region) bool { return r.Code == code })
}

// Counts reports whether a credit of behavior in scenario counts.
func (c *Campaign) Counts(behavior, scenario string) bool {
	if len(c.Behaviors) == 0 && len(c.Scenarios) == 0 {
		return true
	}
	return slices.Contains(c.Behaviors, behavior) || slices.Contains(c.Scenarios, scenario)
}
