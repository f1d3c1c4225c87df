package intake

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the intake's schema (events, usage, acts).
var Migrations = store.Component{Name: "intake", FS: migrations, Dir: "migrations"}

// Outcome statuses.
const (
	StatusCredited  = "credited"
	StatusDuplicate = "duplicate"
	StatusConflict  = "event_id_conflict"
	StatusRejected  = "rejected"
	// StatusError means the event hit an unexpected failure; nothing was
	// recorded and the partner should retry it.
	StatusError = "error"
)

// Outcome is the answer for one event, in the order the events came.
type Outcome struct {
	EventID string `json:"event_id"`
	Status  string `json:"status"`
	// Code is the rejection code (rejected, or a duplicate of a rejected
	// event), or the conflict/error code.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	MG      int64  `json:"mg,omitempty"`
	Points  int64  `json:"points,omitempty"`
	CalcID  string `json:"calc_id,omitempty"`
	// Original is, for a duplicate, the status first answered (credited or
	// rejected); the other fields then repeat the original answer.
	Original string `json:"original_status,omitempty"`
	// Reversed is set on a duplicate of a credit reversed since.
	Reversed bool `json:"reversed,omitempty"`

	acct int64 // account credited, inside the writer only
}

// EngineSource returns the current methodology engine (approved versions);
// *methodology.Service satisfies it.
type EngineSource interface {
	Engine(ctx context.Context) (*methodology.Engine, error)
}

// Config tunes the intake. Zero values take the defaults.
type Config struct {
	// Shards is the number of single-writer batchers (default 1). On
	// PostgreSQL, 2 wrote 1000-event batches up to a third faster (their
	// Go work overlaps the database's) but committed single events in
	// batches half the size at about the same cost each, and the tail of
	// single events' latency grew (docs/benchmarks.md, "Issue #5, session
	// 11"); a database on cores of its own may want more. An event's shard
	// is hash(person) mod Shards.
	Shards int
	// MaxBatch bounds the events of one transaction (default 4000).
	MaxBatch int
	// MaxAge refuses older events as too_old (default 30 days).
	MaxAge time.Duration
	// MaxSkew tolerates clocks ahead of ours (default 5 minutes).
	MaxSkew time.Duration
}

// Service is the event intake. It is safe for concurrent use.
type Service struct {
	db      *store.DB
	engines EngineSource
	cfg     Config
	log     *slog.Logger
	shards  []*shard
	stop    chan struct{}
	closed  chan struct{} // closed once every writer and ack goroutine has returned
	wg      sync.WaitGroup
	once    sync.Once

	slowOnly  bool         // tests: skip the set-based fast path
	fallbacks atomic.Int64 // batches redone event by event
	busy      atomic.Int64 // nanoseconds the shard writers spent in write
	batches   atomic.Int64 // group commits written (one write call each)
	events    atomic.Int64 // events in them
	durable   atomic.Int64 // nanoseconds the ack goroutines waited for Durable
	// Benchmarks: each shard writer locks its goroutine to its thread
	// and sums the thread's CPU time in write (busyCPU), which unlike busy
	// leaves out the time it waited for a core.
	measureCPU atomic.Bool
	busyCPU    atomic.Int64
	usageMiss  atomic.Int64 // cap usage read event by event (not prefetched)
	names      nameCache    // PostgreSQL: interned names (names.go)
}

// NewService starts the shard writers; Close stops them.
func NewService(db *store.DB, engines EngineSource, cfg Config) *Service {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4000
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 30 * 24 * time.Hour
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	s := &Service{db: db, engines: engines, cfg: cfg, log: slog.Default().With("component", "intake"), stop: make(chan struct{}), closed: make(chan struct{})}
	if db.Dialect == store.SQLite {
		// The per-event savepoints journal pages to a temporary file
		// unless temporary storage is in memory. The writer is one
		// long-lived connection, so the pragma sticks.
		if _, err := db.Write().Exec(`PRAGMA temp_store = MEMORY`); err != nil {
			s.log.Warn("cannot keep SQLite temporary storage in memory", "err", err)
		}
	}
	for i := 0; i < cfg.Shards; i++ {
		sh := &shard{id: i, ch: make(chan *job, 8192), acks: make(chan acks, 64)}
		s.shards = append(s.shards, sh)
		s.wg.Add(2)
		go s.run(sh)
		go s.ack(sh)
	}
	return s
}

// Close stops the writers after the batch in progress. Submit calls made
// after Close, and those whose events were still queued, fail with
// EInternal (nothing of theirs was written).
func (s *Service) Close() {
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		close(s.closed)
	})
}

var errShuttingDown = oc.Errorf(oc.EInternal, "intake is shutting down")

type shard struct {
	id   int
	ch   chan *job
	acks chan acks // written batches, answered once durable (ack)
}

// acks are the jobs of one group commit and how it ended.
type acks struct {
	jobs []*job
	err  error
}

// job is one request's events for one shard.
type job struct {
	partner string
	events  []*Event
	out     []Outcome
	done    chan error
	guard   Guard // nil, or run by the shard writer before the events
	refused error // set by write: the guard refused the request
}

// A Guard is a write a request depends on, such as its partner nonce:
// the request is accepted only if its guard accepts it. A shard writer
// runs the guards of a group commit's requests together: ClaimAll runs gs,
// guards of the receiver's own dynamic type (the receiver among them), and
// returns one result per guard: nil accepts that request, an *oc.Error
// refuses it (nothing of it is written and Submit returns that error).
// err is for a failed database. It may run again after a failed
// transaction, so it must have no other effects.
type Guard interface {
	ClaimAll(ctx context.Context, tx *store.Tx, gs []Guard) ([]error, error)
}

// GuardFunc is a Guard run alone, one call per request: nil accepts, an
// *oc.Error refuses, another error is a failed database.
type GuardFunc func(ctx context.Context, tx *store.Tx) error

// ClaimAll runs each of gs, all GuardFuncs (claimGuards takes an error
// other than an *oc.Error for a failed database).
func (GuardFunc) ClaimAll(ctx context.Context, tx *store.Tx, gs []Guard) ([]error, error) {
	out := make([]error, len(gs))
	for i, g := range gs {
		out[i] = g.(GuardFunc)(ctx, tx)
	}
	return out, nil
}

// claimGuards runs the guards of jobs (nil ones skipped), each dynamic
// type's in one ClaimAll call, and sets the refused jobs' refused.
func claimGuards(ctx context.Context, tx *store.Tx, jobs []*job) error {
	byType := map[reflect.Type][]*job{}
	var order []reflect.Type
	for _, j := range jobs {
		j.refused = nil
		if f, ok := j.guard.(GuardFunc); j.guard == nil || ok && f == nil {
			continue
		}
		t := reflect.TypeOf(j.guard)
		if byType[t] == nil {
			order = append(order, t)
		}
		byType[t] = append(byType[t], j)
	}
	for _, t := range order {
		js := byType[t]
		gs := make([]Guard, len(js))
		for i, j := range js {
			gs[i] = j.guard
		}
		res, err := gs[0].ClaimAll(ctx, tx, gs)
		if err != nil {
			return err
		}
		if len(res) != len(gs) {
			return fmt.Errorf("intake: %s answered %d guards of %d", t, len(res), len(gs))
		}
		for i, j := range js {
			if res[i] != nil && !errors.As(res[i], new(*oc.Error)) {
				return res[i]
			}
			j.refused = res[i]
		}
	}
	return nil
}

func (s *Service) shardOf(person string) int {
	h := fnv.New32a()
	h.Write([]byte(person))
	return int(h.Sum32() % uint32(len(s.shards)))
}

// Submit records events reported by partner and returns one outcome per
// event, in order, once every credited event is durable. Events with Err
// set are answered invalid without touching the database. The error is
// for failures of the whole request (database down, ctx ended): the
// partner retries and idempotency makes that safe.
func (s *Service) Submit(ctx context.Context, partner string, events []Event) ([]Outcome, error) {
	return s.SubmitGuarded(ctx, partner, events, nil)
}

// SubmitGuarded is Submit for a request that is accepted only if guard
// (nil: none) accepts it, and whose guard write must be durable before the
// answer: a request whose events all go to one shard has its guard run by
// that shard's writer in the group commit that writes the batch's events,
// before them; other requests run theirs in a transaction of their own
// first. Either way no event of a
// refused request is looked at, and the guard's write is durable before
// the request is answered.
func (s *Service) SubmitGuarded(ctx context.Context, partner string, events []Event, guard Guard) ([]Outcome, error) {
	out := make([]Outcome, len(events))
	// Evaluation up to the caps happens here, on the request's goroutine;
	// without an engine (the registry is unreadable) the writer does it.
	eng, _ := s.engines.Engine(ctx)
	per := make([]*job, len(s.shards))
	index := make([][]int, len(s.shards))
	used := 0
	for i := range events {
		ev := &events[i]
		if ev.Err != nil {
			out[i] = Outcome{EventID: ev.ID, Status: StatusRejected, Code: ev.Err.Code, Message: ev.Err.Message}
			continue
		}
		ev.memoHash() // on the caller's goroutine, not the shard's single writer
		if eng != nil {
			ev.prep = eng.Prepare(methodology.Event{ID: ev.ID, Partner: partner, Person: ev.Person, Behavior: ev.Behavior,
				OccurredAt: ev.OccurredAt, Params: ev.Params, Evidence: ev.Evidence})
		}
		k := s.shardOf(ev.Person)
		if per[k] == nil {
			per[k] = &job{partner: partner, done: make(chan error, 1)}
			used++
		}
		per[k].events = append(per[k].events, ev)
		index[k] = append(index[k], i)
	}
	if guard != nil && used != 1 {
		// Events on several shards (or none): the guard commits first, alone.
		own := &job{guard: guard}
		if err := s.db.InTx(context.WithoutCancel(ctx), func(tx *store.Tx) error { return claimGuards(ctx, tx, []*job{own}) }); err != nil {
			return nil, err
		}
		if own.refused != nil {
			return nil, own.refused
		}
		guard = nil
	}
	for k, j := range per {
		if j == nil {
			continue
		}
		j.guard = guard
		select {
		case s.shards[k].ch <- j:
		case <-s.stop:
			return nil, errShuttingDown
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for k, j := range per {
		if j == nil {
			continue
		}
		var err error
		select {
		case err = <-j.done:
		case <-s.closed:
			// The writers are gone: a job they answered has its answer
			// waiting, one still queued never will.
			select {
			case err = <-j.done:
			default:
				err = errShuttingDown
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, err
		}
		for n, i := range index[k] {
			out[i] = j.out[n]
		}
	}
	return out, nil
}

// EventTables are the tables that grow by rows of every credited event
// and hold nothing else: its event row, its ledger transaction with its
// postings, its calc record. The benchmarks report their bytes per event
// apart from the rest, which grows per person (balances, usage, lots), per
// request (nonces) or until consumers have read it (outbox).
var EventTables = []string{"intake_events", "ledger_tx", "ledger_postings", "calc_log", "calc_blocks"}

// Stats are the intake's counters since it started, summed over shards.
type Stats struct {
	Batches     int64         // group commits written
	Events      int64         // events in them (per batch: the load's shape)
	WriterBusy  time.Duration // wall time the shard writers spent writing
	DurableWait time.Duration // time committed batches waited for their fsync
	Fallbacks   int64         // batches redone event by event (savepoints)
}

// Stats returns the intake's counters (exported as Prometheus metrics by
// opencarbon serve).
func (s *Service) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Events: s.events.Load(), WriterBusy: time.Duration(s.busy.Load()),
		DurableWait: time.Duration(s.durable.Load()), Fallbacks: s.fallbacks.Load()}
}

// run is a shard's single writer: it takes every pending job (up to
// MaxBatch events), writes them in one transaction (their guards first)
// and hands them to the shard's ack goroutine, which answers them once
// the commit is durable; meanwhile run writes the next batch.
func (s *Service) run(sh *shard) {
	defer s.wg.Done()
	defer close(sh.acks)
	var batch []*job
	locked := false
	defer func() {
		if locked {
			runtime.UnlockOSThread()
		}
	}()
	for {
		batch = batch[:0]
		select {
		case j := <-sh.ch:
			batch = append(batch, j)
		case <-s.stop:
			return
		}
		n := len(batch[0].events)
	drain:
		for n < s.cfg.MaxBatch {
			select {
			case j := <-sh.ch:
				batch = append(batch, j)
				n += len(j.events)
			default:
				break drain
			}
		}
		if !locked && s.measureCPU.Load() {
			runtime.LockOSThread()
			locked = true
		}
		var c0 time.Duration
		if locked {
			c0 = threadCPU()
		}
		t0 := time.Now()
		err := s.write(sh.id, batch)
		s.busy.Add(int64(time.Since(t0)))
		s.batches.Add(1)
		s.events.Add(int64(n))
		if locked {
			s.busyCPU.Add(int64(threadCPU() - c0))
		}
		sh.acks <- acks{slices.Clone(batch), err}
	}
}

// ack answers the shard's written batches in order: a batch that was
// committed once its commit is durable (store.DB.Durable, an fsync of the
// SQLite WAL shared by every commit before it), a failed one at once.
//
// Batches that queued up while it waited share the next fsync: one call
// of Durable covers every commit before it, so waiting once per batch
// would put the fsyncs one after another and the answers behind them.
func (s *Service) ack(sh *shard) {
	defer s.wg.Done()
	var ready []acks
	for a := range sh.acks {
		ready = append(ready[:0], a)
	drain:
		for {
			select {
			case a, ok := <-sh.acks:
				if !ok {
					break drain
				}
				ready = append(ready, a)
			default:
				break drain
			}
		}
		var durable error
		for _, a := range ready {
			if a.err == nil {
				t0 := time.Now()
				durable = s.db.Durable()
				s.durable.Add(int64(time.Since(t0)))
				break
			}
		}
		for _, a := range ready {
			err := a.err
			if err == nil {
				err = durable
			}
			for _, j := range a.jobs {
				if err == nil && j.refused != nil {
					j.done <- j.refused
					continue
				}
				j.done <- err
			}
		}
	}
}

// write runs one group commit for batch. Events that lost a uniqueness
// race to another writer are retried in a fresh transaction, where they
// see the winner's row.
func (s *Service) write(shardID int, batch []*job) error {
	ctx := context.Background()
	eng, err := s.engines.Engine(ctx)
	if err != nil {
		return err
	}
	type slot struct {
		j *job
		n int
	}
	var all, todo []slot
	for _, j := range batch {
		j.out = make([]Outcome, len(j.events))
		for n := range j.events {
			all = append(all, slot{j, n})
		}
	}
	todo = all
	// The guards run first in the transaction that writes the events,
	// until one commits; the events of a refused job are left out.
	guarded := true
	open := func(tx *store.Tx) (*writer, error) {
		if guarded {
			if err := claimGuards(ctx, tx, batch); err != nil {
				return nil, err
			}
			todo = todo[:0:0]
			for _, it := range all {
				if it.j.refused == nil {
					todo = append(todo, it)
				}
			}
		}
		w, err := newWriter(ctx, tx, s, eng, shardID, len(todo))
		if err != nil {
			return nil, err
		}
		byPartner := map[string][]string{}
		for _, it := range todo {
			byPartner[it.j.partner] = append(byPartner[it.j.partner], it.j.events[it.n].ID)
		}
		for p, ids := range byPartner {
			if err := w.prefetch(p, ids); err != nil {
				return nil, err
			}
		}
		return w, nil
	}
	// Fast path: the whole batch set-based, no savepoints.
	var outs []Outcome
	err = errSlowOnly
	if !s.slowOnly {
		err = s.db.InTxLater(ctx, func(tx *store.Tx) error {
			w, err := open(tx)
			if err != nil {
				return err
			}
			items := make([]item, len(todo))
			for k, it := range todo {
				items[k] = item{it.j.partner, it.j.events[it.n]}
			}
			if outs, err = w.fast(items); err != nil {
				return err
			}
			return w.finish()
		})
	}
	if err == nil {
		for k, it := range todo {
			it.j.out[it.n] = outs[k]
		}
		return nil
	}
	todo = all
	if err != errSlowOnly {
		s.fallbacks.Add(1)
		s.log.Info("group commit: set-based attempt failed, writing the batch event by event", "events", len(todo), "err", err)
	}
	// Slow path: one savepoint per event.
	for attempt := 0; len(todo) > 0; attempt++ {
		var retry []slot
		err := s.db.InTxLater(ctx, func(tx *store.Tx) error {
			retry = retry[:0]
			w, err := open(tx)
			if err != nil {
				return err
			}
			for _, it := range todo {
				o, again, err := w.one(it.j.partner, it.j.events[it.n])
				if err != nil {
					return err
				}
				if again && attempt < 3 {
					retry = append(retry, it)
					continue
				}
				it.j.out[it.n] = o
			}
			return w.finish()
		})
		if err != nil {
			return err
		}
		guarded = false
		todo = retry
	}
	return nil
}

var errSlowOnly = errors.New("slow path only")

func isCode(err error, codes ...string) bool {
	if err == nil { // the common case, without errors.As's allocation
		return false
	}
	var e *oc.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}
