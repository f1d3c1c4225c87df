package intake

import "time"

// SlowOnly makes s write every batch event by event in savepoints, so the
// tests cover the path the set-based fast path falls back to.
func SlowOnly(s *Service) { s.slowOnly = true }

// UsageMisses returns how many times s read an event's cap usage on its
// own instead of from the batch's prefetch.
func UsageMisses(s *Service) int64 { return s.usageMiss.Load() }

// MeasureWriterCPU makes s's shard writers sum their threads' CPU time
// in write (see WriterCPU), from their next batch on.
func MeasureWriterCPU(s *Service) { s.measureCPU.Store(true) }

// WriterCPU returns the CPU time s's shard writers spent writing batches
// since MeasureWriterCPU, summed over shards.
func WriterCPU(s *Service) time.Duration { return time.Duration(s.busyCPU.Load()) }

// EventJSON is the hand-written encoding Hash uses (see appendEventJSON).
func EventJSON(ev *Event) ([]byte, bool) { return appendEventJSON(nil, ev) }

// ShardCount returns how many shard writers s runs.
func ShardCount(s *Service) int { return len(s.shards) }

// QLocksActsPG is the writer's cap locks and exclusivity prefetch on
// PostgreSQL, QKnownPG its prefetch of remembered outcomes.
var (
	QLocksActsPG = qLocksActsPG
	QKnownPG     = qKnownPG
)

// ActsQuerySQLite and ExcludedByQuery are the writer's exclusivity reads:
// its prefetch of n pairs on SQLite and its read of one act among n
// behaviors. EventQuery is a reversal's read of its event.
var (
	ActsQuerySQLite = actsQuerySQLite
	ExcludedByQuery = excludedByQuery
	EventQuery      = eventQuery
)
