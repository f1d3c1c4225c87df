package campaign

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/store"
	"github.com/opencarbon/opencarbon/webhook"
)

// TopicJoined is the internal outbox topic written when a person first
// joins a campaign (body JoinedBody); the honor package reads it for
// campaign participation medals. It is never delivered to partners.
const TopicJoined = "campaign.joined"

// JoinedBody is the body of a campaign.joined message.
type JoinedBody struct {
	Campaign string    `json:"campaign"`
	Account  int64     `json:"account"`
	Region   string    `json:"region"`
	JoinedAt time.Time `json:"joined_at"`
}

// MaxDisplayName is the longest display name, in characters.
const MaxDisplayName = 24

// Member is a person's membership of a campaign.
type Member struct {
	Campaign    string     `json:"campaign"`
	Account     int64      `json:"-"`
	Region      string     `json:"region"`
	DisplayName string     `json:"display_name,omitempty"`
	JoinedAt    time.Time  `json:"joined_at"`
	LeftAt      *time.Time `json:"left_at,omitempty"`
	Score       int64      `json:"score_mg"`
	ReachedAt   time.Time  `json:"reached_at"`
}

// CheckDisplayName validates a display name: 1 to MaxDisplayName
// characters of valid UTF-8, no surrounding spaces, no control or
// invisible formatting characters (bidi overrides, zero-width joiners), and
// no markup brackets. Boards are JSON and html/template output, escaped
// again there; this check keeps names readable and unambiguous.
func CheckDisplayName(name string) error {
	if !utf8.ValidString(name) {
		return oc.Errorf(oc.EInvalid, "display_name must be valid UTF-8")
	}
	n := utf8.RuneCountInString(name)
	if n < 1 || n > MaxDisplayName || strings.TrimSpace(name) != name {
		return oc.Errorf(oc.EInvalid, "display_name must be 1 to %d characters without surrounding spaces", MaxDisplayName)
	}
	for _, r := range name {
		if isHidden(r) || strings.ContainsRune("<>&\"'`\\", r) {
			return oc.Errorf(oc.EInvalid, "display_name must not contain control, invisible or markup characters")
		}
	}
	return nil
}

func isHidden(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Co, r) || unicode.Is(unicode.Cs, r) || r == '\u2028' || r == '\u2029'
}

// MaskedName is what a board shows for a member without a display name:
// stable per campaign and account, and unlinkable to the person id.
func MaskedName(campaignID string, account int64) string {
	h := sha256.Sum256([]byte("opencarbon.campaign.mask\x00" + campaignID + "\x00" + strconv.FormatInt(account, 10)))
	return "碳友-" + hex.EncodeToString(h[:3])
}

// Join opts account into campaign id for region with an optional display
// name. Joining again is allowed: before the start it may change region
// and name; after the start the region is fixed (ERegionLocked) and a
// member who left becomes visible again with the same region. Only
// credits after the (first) join count. Errors: ENotFound, ECampaignClosed
// (ended), ENotEligible (region not in the campaign), EInvalid (bad
// display name), ERegionLocked.
func (s *Service) Join(ctx context.Context, id string, account int64, region, displayName string) (*Member, error) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if displayName != "" {
		if err := CheckDisplayName(displayName); err != nil {
			return nil, err
		}
	}
	var out *Member
	var upd *Update
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		c, err := getQ(ctx, tx, id, tx.Now)
		if err != nil {
			return err
		}
		if c.StatusAt(tx.Now) == StatusEnded {
			return oc.Errorf(oc.ECampaignClosed, "campaign %q has ended", id)
		}
		if !c.HasRegion(region) {
			return oc.Errorf(oc.ENotEligible, "region %q is not part of campaign %q", region, id)
		}
		old, err := memberQ(ctx, tx, id, account)
		if err != nil && oc.ErrorCode(err) != oc.ENotFound {
			return err
		}
		now := store.Micros(tx.Now)
		if old == nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO campaign_members (campaign_id, account_id, region, display_name, joined_at, reached_at)
				VALUES ($1, $2, $3, $4, $5, $5)`, id, account, region, displayName, now)
			if err != nil {
				return fmt.Errorf("join: %w", err)
			}
			if err := webhook.EnqueueTx(ctx, tx, TopicJoined, "", account, JoinedBody{Campaign: id, Account: account, Region: region, JoinedAt: tx.Now}); err != nil {
				return err
			}
		} else {
			if old.Region != region && c.StatusAt(tx.Now) != StatusUpcoming {
				return oc.Errorf(oc.ERegionLocked, "campaign %q has started: your region stays %s", id, old.Region)
			}
			name := displayName
			if name == "" {
				name = old.DisplayName
			}
			// A rejoin remembers the absence it ends (see membership).
			_, err := tx.ExecContext(ctx, `UPDATE campaign_members SET region = $3, display_name = $4,
				away_from = CASE WHEN left_at IS NULL THEN away_from ELSE left_at END,
				away_to = CASE WHEN left_at IS NULL THEN away_to ELSE $5 END,
				left_at = NULL, version = version + 1
				WHERE campaign_id = $1 AND account_id = $2`, id, account, region, name, store.Micros(tx.Now))
			if err != nil {
				return fmt.Errorf("join: %w", err)
			}
			if old.Region != region && old.LeftAt == nil {
				// Moving region before the start: drop the old board entry.
				upd = &Update{Key: BoardKey{id, old.Region}, Account: account, Remove: true}
			}
		}
		out, err = memberQ(ctx, tx, id, account)
		return err
	})
	if err != nil {
		return nil, err
	}
	if upd != nil {
		upd.Version = s.versionOf(ctx, id, account)
		if err := s.board.Apply(ctx, []Update{*upd}); err != nil {
			return out, fmt.Errorf("join: board: %w", err)
		}
	}
	return out, s.project(ctx, out)
}

// Leave hides account from campaign id's boards; credits after leaving do
// not count until the person joins again. Errors: ENotFound (not a member).
func (s *Service) Leave(ctx context.Context, id string, account int64) (*Member, error) {
	var out *Member
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaign_members SET left_at = $3, version = version + 1
			WHERE campaign_id = $1 AND account_id = $2 AND left_at IS NULL`, id, account, store.Micros(tx.Now))
		if err != nil {
			return fmt.Errorf("leave: %w", err)
		}
		_ = res
		out, err = memberQ(ctx, tx, id, account)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, s.project(ctx, out)
}

// Member returns account's membership of campaign id. Errors: ENotFound.
func (s *Service) Member(ctx context.Context, id string, account int64) (*Member, error) {
	return memberQ(ctx, s.db.Read(), id, account)
}

// Memberships returns every campaign account joined, for export.
func (s *Service) Memberships(ctx context.Context, account int64) ([]Member, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+memberCols+` FROM campaign_members WHERE account_id = $1 ORDER BY joined_at`, account)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, _, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
	}
	return out, rows.Err()
}

// EraseTx removes account's display names (personal data) from every
// campaign; boards then show the masked id. It is an account.Eraser.
func EraseTx(ctx context.Context, tx *store.Tx, account int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE campaign_members SET display_name = '' WHERE account_id = $1`, account)
	if err != nil {
		return fmt.Errorf("campaign erase: %w", err)
	}
	return nil
}

const memberCols = `campaign_id, account_id, region, display_name, joined_at, left_at, score, reached_at, version`

func memberQ(ctx context.Context, q querier, id string, account int64) (*Member, error) {
	m, _, err := scanMember(q.QueryRowContext(ctx, `SELECT `+memberCols+` FROM campaign_members WHERE campaign_id = $1 AND account_id = $2`, id, account))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oc.Errorf(oc.ENotFound, "not a member of campaign %q", id)
	}
	return m, err
}

func scanMember(r scanner) (*Member, int64, error) {
	var m Member
	var joined, reached, version int64
	var left sql.NullInt64
	if err := r.Scan(&m.Campaign, &m.Account, &m.Region, &m.DisplayName, &joined, &left, &m.Score, &reached, &version); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("read member: %w", err)
	}
	m.JoinedAt, m.ReachedAt = store.Time(joined), store.Time(reached)
	if left.Valid {
		t := store.Time(left.Int64)
		m.LeftAt = &t
	}
	return &m, version, nil
}

// versionOf reads the member's current version (0 if none).
func (s *Service) versionOf(ctx context.Context, id string, account int64) int64 {
	var v int64
	s.db.Read().QueryRowContext(ctx, `SELECT version FROM campaign_members WHERE campaign_id = $1 AND account_id = $2`, id, account).Scan(&v)
	return v
}

// project pushes the member's current row (read back from the database)
// onto the board.
func (s *Service) project(ctx context.Context, m *Member) error {
	row := s.db.Read().QueryRowContext(ctx, `SELECT `+memberCols+` FROM campaign_members WHERE campaign_id = $1 AND account_id = $2`, m.Campaign, m.Account)
	cur, version, err := scanMember(row)
	if err != nil {
		return fmt.Errorf("project: %w", err)
	}
	return s.board.Apply(ctx, []Update{updateOf(cur, version)})
}

// updateOf is the board update that mirrors a member row: an entry when
// the member is visible with a positive score, else a removal.
func updateOf(m *Member, version int64) Update {
	u := Update{Key: BoardKey{m.Campaign, m.Region}, Account: m.Account, Version: version}
	if m.LeftAt != nil || m.Score <= 0 {
		u.Remove = true
		return u
	}
	u.Entry = Entry{Account: m.Account, Score: m.Score, ReachedAt: m.ReachedAt}
	return u
}
