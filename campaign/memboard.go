package campaign

import (
	"context"
	"math/rand/v2"
	"sync"
)

// MemBoard is the in-process Board: per key, a treap ordered by Entry.less
// whose nodes carry subtree sizes, so rank and the k-th entry take
// O(log n), plus a map from account to its node and last version. It is
// the single-binary default and is rebuilt from the database at start; it
// is not shared between processes (use Redis for several servers).
type MemBoard struct {
	mu     sync.RWMutex
	boards map[BoardKey]*memTree
	ready  map[BoardKey]bool
}

// NewMemBoard returns an empty in-process board.
func NewMemBoard() *MemBoard {
	return &MemBoard{boards: map[BoardKey]*memTree{}, ready: map[BoardKey]bool{}}
}

var _ Board = (*MemBoard)(nil)

type memTree struct {
	root  *node
	byAcc map[int64]*memSlot
	rng   *rand.PCG
}

type memSlot struct {
	version int64
	entry   Entry
	in      bool // entry is in the tree
}

type node struct {
	e           Entry
	prio        uint32
	size        int32
	left, right *node
}

func sz(n *node) int32 {
	if n == nil {
		return 0
	}
	return n.size
}

func (n *node) fix() { n.size = 1 + sz(n.left) + sz(n.right) }

// split splits t into entries ranking before e and the rest.
func split(t *node, e Entry) (*node, *node) {
	if t == nil {
		return nil, nil
	}
	if t.e.less(e) {
		l, r := split(t.right, e)
		t.right = l
		t.fix()
		return t, r
	}
	l, r := split(t.left, e)
	t.left = r
	t.fix()
	return l, t
}

func merge(a, b *node) *node {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case a.prio > b.prio:
		a.right = merge(a.right, b)
		a.fix()
		return a
	default:
		b.left = merge(a, b.left)
		b.fix()
		return b
	}
}

func (t *memTree) insert(e Entry) {
	n := &node{e: e, prio: uint32(t.rng.Uint64()), size: 1}
	l, r := split(t.root, e)
	t.root = merge(merge(l, n), r)
}

func (t *memTree) remove(e Entry) {
	l, r := split(t.root, e)
	// r starts with e itself (the order is total).
	_, rest := splitFirst(r)
	t.root = merge(l, rest)
}

// splitFirst removes the first node of t.
func splitFirst(t *node) (*node, *node) {
	if t == nil {
		return nil, nil
	}
	if t.left == nil {
		r := t.right
		t.right = nil
		t.fix()
		return t, r
	}
	first, l := splitFirst(t.left)
	t.left = l
	t.fix()
	return first, t
}

// rank returns the 1-based position of e, which must be in the tree.
func (t *memTree) rank(e Entry) int64 {
	var r int64
	n := t.root
	for n != nil {
		if e.less(n.e) {
			n = n.left
		} else if n.e.less(e) {
			r += int64(sz(n.left)) + 1
			n = n.right
		} else {
			return r + int64(sz(n.left)) + 1
		}
	}
	return 0
}

func (t *memTree) top(n int, out []Entry) []Entry {
	var walk func(*node)
	walk = func(x *node) {
		if x == nil || len(out) >= n {
			return
		}
		walk(x.left)
		if len(out) < n {
			out = append(out, x.e)
		}
		walk(x.right)
	}
	walk(t.root)
	return out
}

func (b *MemBoard) tree(k BoardKey) *memTree {
	t := b.boards[k]
	if t == nil {
		t = &memTree{byAcc: map[int64]*memSlot{}, rng: rand.NewPCG(uint64(len(b.boards))+1, 0x0c)}
		b.boards[k] = t
	}
	return t
}

// Apply implements Board.
func (b *MemBoard) Apply(_ context.Context, ups []Update) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range ups {
		t := b.tree(u.Key)
		s := t.byAcc[u.Account]
		if s == nil {
			s = &memSlot{}
			t.byAcc[u.Account] = s
		} else if u.Version <= s.version {
			continue
		}
		if s.in {
			t.remove(s.entry)
			s.in = false
		}
		s.version = u.Version
		if !u.Remove {
			e := u.Entry
			e.Account = u.Account
			t.insert(e)
			s.entry, s.in = e, true
		}
	}
	return nil
}

// Top implements Board.
func (b *MemBoard) Top(_ context.Context, k BoardKey, n int) ([]Entry, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.boards[k]
	if t == nil || n <= 0 {
		return []Entry{}, nil
	}
	return t.top(n, make([]Entry, 0, min(n, int(sz(t.root))))), nil
}

// Rank implements Board.
func (b *MemBoard) Rank(_ context.Context, k BoardKey, account int64) (int64, Entry, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.boards[k]
	if t == nil {
		return 0, Entry{}, nil
	}
	s := t.byAcc[account]
	if s == nil || !s.in {
		return 0, Entry{}, nil
	}
	return t.rank(s.entry), s.entry, nil
}

// Len implements Board.
func (b *MemBoard) Len(_ context.Context, k BoardKey) (int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if t := b.boards[k]; t != nil {
		return int64(sz(t.root)), nil
	}
	return 0, nil
}

// View implements Board, under one read lock.
func (b *MemBoard) View(_ context.Context, k BoardKey, n int, account int64) (View, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.boards[k]
	if t == nil {
		return View{Top: []Entry{}}, nil
	}
	v := View{Top: t.top(n, make([]Entry, 0, max(min(n, int(sz(t.root))), 0))), Len: int64(sz(t.root))}
	if s := t.byAcc[account]; account != 0 && s != nil && s.in {
		v.Rank = t.rank(s.entry)
	}
	return v, nil
}

// Drop implements Board.
func (b *MemBoard) Drop(_ context.Context, k BoardKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.boards, k)
	delete(b.ready, k)
	return nil
}

// Ready implements Board.
func (b *MemBoard) Ready(_ context.Context, k BoardKey) (bool, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.ready[k], nil
}

// MarkReady implements Board.
func (b *MemBoard) MarkReady(_ context.Context, k BoardKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready[k] = true
	return nil
}
