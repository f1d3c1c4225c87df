package campaign

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
)

// MaxLimit is the largest top-N a leaderboard call returns.
const MaxLimit = 100

// Row is one line of a leaderboard as shown to the public: a rank, the
// display name (or masked id) and the score. It never carries a person id.
type Row struct {
	Rank      int64     `json:"rank"`
	Name      string    `json:"name"`
	Masked    bool      `json:"masked"` // Name is a masked id, not a chosen name
	ScoreMG   int64     `json:"score_mg"`
	ReachedAt time.Time `json:"reached_at"`
}

// Standing is a signed-in member's own place on their board.
type Standing struct {
	Region  string `json:"region"`
	Rank    int64  `json:"rank"` // 0: not on the board (no score yet, or left)
	ScoreMG int64  `json:"score_mg"`
	Joined  bool   `json:"joined"`
	Visible bool   `json:"visible"` // false after leaving
}

// Leaderboard is the answer of GET /v1/campaigns/{id}/leaderboards/{region}.
type Leaderboard struct {
	Campaign string    `json:"campaign"`
	Region   string    `json:"region"`
	Status   string    `json:"status"`
	Members  int64     `json:"members"` // entries on the board
	Top      []Row     `json:"top"`
	Me       *Standing `json:"me,omitempty"`
}

// Leaderboard returns the top limit rows of campaign id's board for region
// and, when account is not 0, that member's standing. Errors: ENotFound
// (campaign), ENotEligible (region not in the campaign), EInvalid (limit).
//
// It costs one board read (Board.View: one round trip on Redis) and one
// prepared statement that reads the campaign's window and regions together
// with the member rows shown (the top rows' names, the account's own row).
// The board is read before the campaign is checked, so that one statement
// can do both; for a campaign or region that does not exist the board read
// finds nothing and is discarded.
func (s *Service) Leaderboard(ctx context.Context, id, region string, limit int, account int64) (*Leaderboard, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, oc.Errorf(oc.EInvalid, "limit must be 1 to %d", MaxLimit)
	}
	region = strings.ToUpper(region)
	self := max(account, 0) // -1: signed in without an account
	v, err := s.board.View(ctx, BoardKey{id, region}, limit, self)
	if err != nil {
		return nil, err
	}
	accs := make([]int64, 0, len(v.Top)+1)
	for _, e := range v.Top {
		accs = append(accs, e.Account)
	}
	if self != 0 && !slices.Contains(accs, self) {
		accs = append(accs, self)
	}
	c, ms, err := s.boardRows(ctx, id, accs)
	if err != nil {
		return nil, err
	}
	if !c.HasRegion(region) {
		return nil, oc.Errorf(oc.ENotEligible, "region %q is not part of campaign %q", region, id)
	}
	lb := &Leaderboard{Campaign: id, Region: region, Status: c.StatusAt(s.db.Now()), Members: v.Len, Top: make([]Row, len(v.Top))}
	for i, e := range v.Top {
		r := Row{Rank: int64(i + 1), Name: ms[e.Account].name, ScoreMG: e.Score, ReachedAt: e.ReachedAt}
		if r.Name == "" {
			r.Name, r.Masked = MaskedName(id, e.Account), true
		}
		lb.Top[i] = r
	}
	if account != 0 {
		lb.Me = &Standing{}
		if m, ok := ms[account]; ok {
			lb.Me = &Standing{Region: m.region, ScoreMG: m.score, Joined: true, Visible: !m.left}
			if m.region == region {
				lb.Me.Rank = v.Rank
			}
		}
	}
	return lb, nil
}

// shownMember is the part of a member row a leaderboard shows.
type shownMember struct {
	region, name string
	left         bool
	score        int64
}

// boardRows reads campaign id's window and regions and the member rows of
// accs (at most MaxLimit+1 accounts, so the prepared statements, one per
// list length, stay few) in one statement; accounts without a row are
// absent from the map. Errors: ENotFound (campaign).
func (s *Service) boardRows(ctx context.Context, id string, accs []int64) (*Campaign, map[int64]shownMember, error) {
	if len(accs) > MaxLimit+1 {
		return nil, nil, fmt.Errorf("board rows: %d accounts, at most %d", len(accs), MaxLimit+1)
	}
	var q strings.Builder
	q.WriteString(`SELECT c.start_at, c.end_at, c.regions, m.account_id, m.region, m.display_name, m.left_at, m.score
		FROM campaigns c LEFT JOIN campaign_members m ON m.campaign_id = c.id AND `)
	args := make([]any, 1, len(accs)+1)
	args[0] = id
	if len(accs) == 0 {
		q.WriteString(`1 = 0`)
	} else {
		q.WriteString(`m.account_id IN (`)
		for i, a := range accs {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("$" + strconv.Itoa(i+2))
			args = append(args, a)
		}
		q.WriteByte(')')
	}
	q.WriteString(` WHERE c.id = $1`)
	st, err := s.prepared(ctx, q.String())
	if err != nil {
		return nil, nil, err
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("board rows: %w", err)
	}
	defer rows.Close()
	var c *Campaign
	ms := make(map[int64]shownMember, len(accs))
	for rows.Next() {
		var start, end int64
		var regions sql.RawBytes
		var acc, left, score sql.NullInt64
		var region, name sql.NullString
		if err := rows.Scan(&start, &end, &regions, &acc, &region, &name, &left, &score); err != nil {
			return nil, nil, fmt.Errorf("board rows: %w", err)
		}
		if c == nil {
			c = &Campaign{ID: id, StartAt: store.Time(start), EndAt: store.Time(end)}
			if err := json.Unmarshal(regions, &c.Regions); err != nil {
				return nil, nil, fmt.Errorf("read campaign %s: %w", id, err)
			}
		}
		if acc.Valid {
			ms[acc.Int64] = shownMember{region: region.String, name: name.String, left: left.Valid, score: score.Int64}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("board rows: %w", err)
	}
	if c == nil {
		return nil, nil, oc.Errorf(oc.ENotFound, "campaign %q does not exist", id)
	}
	return c, ms, nil
}

// Drift is what a rebuild found: members whose score row disagreed with
// the journal of counted credits, and board entries that disagreed with the
// score rows (missing, extra or different).
type Drift struct {
	Key          BoardKey `json:"-"`
	Board        string   `json:"board"`
	Members      int      `json:"members"`       // member rows of the board
	ScoreDrift   int      `json:"score_drift"`   // score rows repaired from the journal
	BoardMissing int      `json:"board_missing"` // visible rows absent from the board
	BoardExtra   int      `json:"board_extra"`   // board entries with no visible row
	BoardWrong   int      `json:"board_wrong"`   // entries with another score or time
}

// Rebuild recomputes campaign id's scores (every region, or only region)
// from the journal of counted credits, repairs any score row that drifted,
// then rebuilds the board from the score rows and reports what differed.
// Errors: ENotFound, ENotEligible.
func (s *Service) Rebuild(ctx context.Context, id, region string) ([]Drift, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	var out []Drift
	for _, r := range c.Regions {
		if region != "" && !strings.EqualFold(region, r.Code) {
			continue
		}
		d, err := s.rebuildOne(ctx, BoardKey{id, r.Code}, true)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, oc.Errorf(oc.ENotEligible, "region %q is not part of campaign %q", region, id)
	}
	return out, nil
}

func (s *Service) rebuildOne(ctx context.Context, k BoardKey, repair bool) (Drift, error) {
	d := Drift{Key: k, Board: k.String()}
	// 1. Scores from the journal.
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if !repair {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE campaign_members SET
			score = (SELECT COALESCE(SUM(j.mg), 0) FROM campaign_credits j WHERE j.campaign_id = campaign_members.campaign_id
				AND j.account_id = campaign_members.account_id AND j.reversed_at IS NULL),
			version = version + 1
			WHERE campaign_id = $1 AND region = $2 AND score <> (SELECT COALESCE(SUM(j.mg), 0) FROM campaign_credits j
				WHERE j.campaign_id = campaign_members.campaign_id AND j.account_id = campaign_members.account_id AND j.reversed_at IS NULL)`,
			k.Campaign, k.Region)
		if err != nil {
			return fmt.Errorf("rebuild scores: %w", err)
		}
		n, _ := res.RowsAffected()
		d.ScoreDrift = int(n)
		return nil
	})
	if err != nil {
		return d, err
	}
	// 2. Compare the board with the rows.
	before, err := s.board.Len(ctx, k)
	if err != nil {
		return d, err
	}
	onBoard := map[int64]Entry{}
	if before > 0 {
		es, err := s.board.Top(ctx, k, int(before))
		if err != nil {
			return d, err
		}
		for _, e := range es {
			onBoard[e.Account] = e
		}
	}
	// 3. Drop, read, apply: an update committed after the read carries a
	// newer version, so it wins whichever order it lands in.
	if err := s.board.Drop(ctx, k); err != nil {
		return d, err
	}
	ups, err := s.snapshot(ctx, k)
	if err != nil {
		return d, err
	}
	d.Members = len(ups)
	for _, u := range ups {
		e, ok := onBoard[u.Account]
		delete(onBoard, u.Account)
		switch {
		case u.Remove && ok:
			d.BoardExtra++
		case !u.Remove && !ok:
			d.BoardMissing++
		case !u.Remove && (e.Score != u.Entry.Score || !e.ReachedAt.Equal(u.Entry.ReachedAt)):
			d.BoardWrong++
		}
	}
	d.BoardExtra += len(onBoard)
	if err := s.applyChunked(ctx, k, ups); err != nil {
		return d, err
	}
	return d, s.board.MarkReady(ctx, k)
}

func (s *Service) applyChunked(ctx context.Context, k BoardKey, ups []Update) error {
	if rb, ok := s.board.(*RedisBoard); ok {
		return rb.ApplyPipelined(ctx, k, ups, 500)
	}
	return s.board.Apply(ctx, ups)
}

// snapshot reads every member row of k as board updates.
func (s *Service) snapshot(ctx context.Context, k BoardKey) ([]Update, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+memberCols+` FROM campaign_members WHERE campaign_id = $1 AND region = $2`, k.Campaign, k.Region)
	if err != nil {
		return nil, fmt.Errorf("board snapshot: %w", err)
	}
	defer rows.Close()
	var ups []Update
	for rows.Next() {
		m, v, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		ups = append(ups, updateOf(m, v))
	}
	return ups, rows.Err()
}

// Sync builds every board that is not ready (all of them after a process
// start with the in-process board; those lost with Redis data otherwise).
// It returns how many boards it built.
func (s *Service) Sync(ctx context.Context) (int, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT DISTINCT campaign_id, region FROM campaign_members`)
	if err != nil {
		return 0, fmt.Errorf("sync boards: %w", err)
	}
	var keys []BoardKey
	for rows.Next() {
		var k BoardKey
		if err := rows.Scan(&k.Campaign, &k.Region); err != nil {
			rows.Close()
			return 0, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil && err != sql.ErrNoRows {
		return 0, err
	}
	built := 0
	for _, k := range keys {
		ok, err := s.board.Ready(ctx, k)
		if err != nil {
			return built, err
		}
		if ok {
			continue
		}
		if _, err := s.rebuildOne(ctx, k, false); err != nil {
			return built, err
		}
		built++
	}
	return built, nil
}
