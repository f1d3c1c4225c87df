package campaign

import (
	"context"
	"time"
)

// BoardKey names one leaderboard: a campaign and a region.
type BoardKey struct {
	Campaign string
	Region   string
}

// String is the key's stable text form, "campaign/region".
func (k BoardKey) String() string { return k.Campaign + "/" + k.Region }

// Entry is one position on a board. Order: higher Score first; on equal
// scores the one who reached it earlier (ReachedAt) first; then the lower
// account id, so the order is total and the same on every backend.
type Entry struct {
	Account   int64
	Score     int64 // mg
	ReachedAt time.Time
}

// less reports whether a ranks before b.
func (a Entry) less(b Entry) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	if !a.ReachedAt.Equal(b.ReachedAt) {
		return a.ReachedAt.Before(b.ReachedAt)
	}
	return a.Account < b.Account
}

// Update sets (or, with Remove, deletes) one account's entry on a board.
// Version is the member row's version: a backend applies an update only if
// its version is higher than the last one applied for that account, so
// late or replayed updates from several processes never move a board
// backwards.
type Update struct {
	Key     BoardKey
	Account int64
	Version int64
	Remove  bool
	Entry   Entry
}

// View is one consistent read of a board (Board.View).
type View struct {
	Top  []Entry // the first n entries, best first
	Len  int64   // entries on the board
	Rank int64   // the account's 1-based rank; 0 when not on the board or not asked
}

// Board is a leaderboard projection. Every method is safe for concurrent
// use. The shared test suite (boardtest_test.go) defines the contract both
// backends meet.
type Board interface {
	// Apply applies updates in order, skipping any whose Version is not
	// newer than the last applied for that key and account.
	Apply(ctx context.Context, ups []Update) error
	// Top returns the first n entries of key, best first.
	Top(ctx context.Context, key BoardKey, n int) ([]Entry, error)
	// Rank returns account's 1-based rank and entry; rank 0 when it is not
	// on the board.
	Rank(ctx context.Context, key BoardKey, account int64) (int64, Entry, error)
	// Len returns the number of entries on key.
	Len(ctx context.Context, key BoardKey) (int64, error)
	// View returns what one leaderboard request reads, in one consistent
	// read (one round trip on Redis): the first n entries of key, its
	// length and, when account is not 0, account's rank.
	View(ctx context.Context, key BoardKey, n int, account int64) (View, error)
	// Drop empties key and forgets its versions (before a rebuild).
	Drop(ctx context.Context, key BoardKey) error
	// Ready reports whether key has been built since the backend started
	// (or since Redis last lost its data); MarkReady records it.
	Ready(ctx context.Context, key BoardKey) (bool, error)
	MarkReady(ctx context.Context, key BoardKey) error
}
