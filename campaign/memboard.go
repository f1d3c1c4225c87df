package campaign

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
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

// memTree keeps its nodes in one slice and links them by index, and its
// per-account slots by value: nothing in it is a pointer, so the garbage
// collector never walks a million-member board (with pointer nodes it did,
// on every cycle, and the top-100 tail over HTTP showed it).
type memTree struct {
	nodes []node // nodes[0] is unused: index 0 means none
	free  []int32
	root  int32
	byAcc map[int64]memSlot
	rng   *rand.PCG
}

type memSlot struct {
	version int64
	entry   key
	in      bool // entry is in the tree
}

// key is an Entry without pointers: ReachedAt as unix nanoseconds.
type key struct {
	account, score, reached int64
}

func keyOf(e Entry) key { return key{e.Account, e.Score, e.ReachedAt.UnixNano()} }

func (k key) entry() Entry {
	return Entry{Account: k.account, Score: k.score, ReachedAt: time.Unix(0, k.reached).UTC()}
}

// less is Entry.less.
func (a key) less(b key) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.reached != b.reached {
		return a.reached < b.reached
	}
	return a.account < b.account
}

type node struct {
	e           key
	prio        uint32
	size        int32
	left, right int32
}

func (t *memTree) sz(n int32) int32 {
	if n == 0 {
		return 0
	}
	return t.nodes[n].size
}

func (t *memTree) fix(n int32) {
	x := &t.nodes[n]
	x.size = 1 + t.sz(x.left) + t.sz(x.right)
}

// split splits tree n into entries ranking before e and the rest.
func (t *memTree) split(n int32, e key) (int32, int32) {
	if n == 0 {
		return 0, 0
	}
	if t.nodes[n].e.less(e) {
		l, r := t.split(t.nodes[n].right, e)
		t.nodes[n].right = l
		t.fix(n)
		return n, r
	}
	l, r := t.split(t.nodes[n].left, e)
	t.nodes[n].left = r
	t.fix(n)
	return l, n
}

func (t *memTree) merge(a, b int32) int32 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	case t.nodes[a].prio > t.nodes[b].prio:
		t.nodes[a].right = t.merge(t.nodes[a].right, b)
		t.fix(a)
		return a
	default:
		t.nodes[b].left = t.merge(a, t.nodes[b].left)
		t.fix(b)
		return b
	}
}

func (t *memTree) insert(e key) {
	nd := node{e: e, prio: uint32(t.rng.Uint64()), size: 1}
	var n int32
	if k := len(t.free); k > 0 {
		n = t.free[k-1]
		t.free = t.free[:k-1]
		t.nodes[n] = nd
	} else {
		n = int32(len(t.nodes))
		t.nodes = append(t.nodes, nd)
	}
	l, r := t.split(t.root, e)
	t.root = t.merge(t.merge(l, n), r)
}

func (t *memTree) remove(e key) {
	l, r := t.split(t.root, e)
	// r starts with e itself (the order is total).
	first, rest := t.splitFirst(r)
	if first != 0 {
		t.free = append(t.free, first)
	}
	t.root = t.merge(l, rest)
}

// splitFirst removes the first node of tree n.
func (t *memTree) splitFirst(n int32) (int32, int32) {
	if n == 0 {
		return 0, 0
	}
	if t.nodes[n].left == 0 {
		r := t.nodes[n].right
		t.nodes[n].right = 0
		t.fix(n)
		return n, r
	}
	first, l := t.splitFirst(t.nodes[n].left)
	t.nodes[n].left = l
	t.fix(n)
	return first, n
}

// rank returns the 1-based position of e, which must be in the tree.
func (t *memTree) rank(e key) int64 {
	var r int64
	n := t.root
	for n != 0 {
		x := &t.nodes[n]
		if e.less(x.e) {
			n = x.left
		} else if x.e.less(e) {
			r += int64(t.sz(x.left)) + 1
			n = x.right
		} else {
			return r + int64(t.sz(x.left)) + 1
		}
	}
	return 0
}

func (t *memTree) top(n int, out []Entry) []Entry {
	var walk func(int32)
	walk = func(x int32) {
		if x == 0 || len(out) >= n {
			return
		}
		walk(t.nodes[x].left)
		if len(out) < n {
			out = append(out, t.nodes[x].e.entry())
		}
		walk(t.nodes[x].right)
	}
	walk(t.root)
	return out
}

func (b *MemBoard) tree(k BoardKey) *memTree {
	t := b.boards[k]
	if t == nil {
		t = &memTree{nodes: make([]node, 1), byAcc: map[int64]memSlot{}, rng: rand.NewPCG(uint64(len(b.boards))+1, 0x0c)}
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
		s, ok := t.byAcc[u.Account]
		if ok && u.Version <= s.version {
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
			k := keyOf(e)
			t.insert(k)
			s.entry, s.in = k, true
		}
		t.byAcc[u.Account] = s
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
	return t.top(n, make([]Entry, 0, min(n, int(t.sz(t.root))))), nil
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
	if !s.in {
		return 0, Entry{}, nil
	}
	return t.rank(s.entry), s.entry.entry(), nil
}

// Len implements Board.
func (b *MemBoard) Len(_ context.Context, k BoardKey) (int64, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if t := b.boards[k]; t != nil {
		return int64(t.sz(t.root)), nil
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
	v := View{Top: t.top(n, make([]Entry, 0, max(min(n, int(t.sz(t.root))), 0))), Len: int64(t.sz(t.root))}
	if s := t.byAcc[account]; account != 0 && s.in {
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
