package campaign

import (
	"context"
	"database/sql"
	"fmt"
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
func (s *Service) Leaderboard(ctx context.Context, id, region string, limit int, account int64) (*Leaderboard, error) {
	if limit < 1 || limit > MaxLimit {
		return nil, oc.Errorf(oc.EInvalid, "limit must be 1 to %d", MaxLimit)
	}
	c, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	region = strings.ToUpper(region)
	if !c.HasRegion(region) {
		return nil, oc.Errorf(oc.ENotEligible, "region %q is not part of campaign %q", region, id)
	}
	k := BoardKey{id, region}
	top, err := s.board.Top(ctx, k, limit)
	if err != nil {
		return nil, err
	}
	n, err := s.board.Len(ctx, k)
	if err != nil {
		return nil, err
	}
	lb := &Leaderboard{Campaign: id, Region: region, Status: c.Status, Members: n, Top: make([]Row, len(top))}
	names, err := s.names(ctx, id, top)
	if err != nil {
		return nil, err
	}
	for i, e := range top {
		r := Row{Rank: int64(i + 1), Name: names[e.Account], ScoreMG: e.Score, ReachedAt: e.ReachedAt}
		if r.Name == "" {
			r.Name, r.Masked = MaskedName(id, e.Account), true
		}
		lb.Top[i] = r
	}
	if account != 0 {
		lb.Me = &Standing{}
		m, err := s.Member(ctx, id, account)
		switch {
		case oc.ErrorCode(err) == oc.ENotFound:
		case err != nil:
			return nil, err
		default:
			lb.Me = &Standing{Region: m.Region, ScoreMG: m.Score, Joined: true, Visible: m.LeftAt == nil}
			if m.Region == region {
				rank, _, err := s.board.Rank(ctx, k, account)
				if err != nil {
					return nil, err
				}
				lb.Me.Rank = rank
			}
		}
	}
	return lb, nil
}

// names returns the display names of the entries' accounts.
func (s *Service) names(ctx context.Context, id string, es []Entry) (map[int64]string, error) {
	out := make(map[int64]string, len(es))
	if len(es) == 0 {
		return out, nil
	}
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(e.Account, 10))
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT account_id, display_name FROM campaign_members
		WHERE campaign_id = $1 AND account_id IN (`+b.String()+`)`, id)
	if err != nil {
		return nil, fmt.Errorf("board names: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a int64
		var n string
		if err := rows.Scan(&a, &n); err != nil {
			return nil, err
		}
		out[a] = n
	}
	return out, rows.Err()
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
