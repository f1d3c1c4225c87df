// Package intake turns partner-reported events into credits: it decodes and
// validates events (plain JSON or CloudEvents 1.0), answers duplicates from
// memory, applies the consent gate, the methodology, per-person caps and
// exclusivity between behaviors, and records each credit in the ledger and
// the calc log, all in one transaction per group of events.
//
// Writes go through a single-writer group-commit batcher per shard (shard =
// hash(person) mod N): a request enqueues its events, the shard's writer
// takes everything pending, writes them in one transaction, commits, and
// only then answers each waiting request. The transaction first tries the
// set-based path: every event is decided in memory and the batch is written
// with a fixed number of statements (ledger.CreditBatchTx, multi-row
// INSERTs). If any statement fails, the transaction is rolled back and the
// batch is written again with a SAVEPOINT per event, so one event's SQL
// failure never poisons the others. The writer does as little as it can
// besides SQL: events are evaluated up to their caps on the requests'
// goroutines (methodology.Engine.Prepare), the set-based path's calc
// records are chained and encoded on a goroutine of their own while the
// ledger and event rows are written (audit.Reserve, audit.Seal), and a
// batch's credits go to the outbox as one row per partner
// (webhook.EnqueueCreditsTx). Two events racing for the last gram of
// a cap are serialised by construction (one writer per person); on
// PostgreSQL a transaction lock on (account, behavior) also keeps several
// processes correct.
//
// Idempotency. (partner, event_id) is unique. A repeat of a remembered event
// with the same body hash answers "duplicate" carrying the original outcome
// and changes nothing; the same id with another body is "event_id_conflict".
// Outcomes that depend only on the event and the ledger at the time are
// remembered (credited, and the rejections not_applicable,
// param_out_of_range, missing_evidence, reporter_not_allowed, cap_reached,
// excluded_by, too_old). Outcomes the partner or person can still change
// are not remembered, so a retry after the fix is credited: no_consent,
// partner_not_linked (consent given later), unknown_behavior (methodology
// approved later), occurred_in_future (clock skew) and invalid (no usable
// id).
//
// Exclusivity. A methodology may name an act field (params.order_id...).
// A credited event's row keeps its act key, and the partial index
// intake_events_act holds (act key, account) of the credited events not
// reversed; an event is refused excluded_by when the same act was already
// credited under the same behavior or under one the methodology engine
// reports in ExcludedWith. A reversal frees the act. On SQLite the index
// is keyed by the act first: act keys (order, parcel, trip numbers) mostly
// grow with time, so new acts append to it instead of landing on one page
// per person. On PostgreSQL both unique indexes, this one and the
// idempotency key's, are keyed by a 16-byte MD5 digest of their text
// (eventDigest, actDigest; intake migration 9): an entry then takes 28 to
// 32 bytes whatever the length of the partner's ids, where a text key
// took about 2 bytes a character at the fill that many clients writing at
// once leave. Queries find rows by the digest and compare the text.
//
// Storage. A credited event's row (intake_events) has the id of its ledger
// transaction, so a person's entries are read from the ledger's (parent,
// id) index, and a reversal finds the transaction by that id: credits
// written by the set-based path carry no ledger ref (the event row is
// their idempotency key); the slow path's have one (Ref). The row leaves
// sub_id and calc_id NULL, which that transaction holds (sub, calc_id):
// the intake reads them from it by the shared id (entries, a repeat's
// answer, a reversal). On PostgreSQL a group-commit credit's row also
// leaves mg, points and created_at NULL, which its transaction's head
// holds too (intake migration 8), and its status, which the transaction
// implies (migration 10: NULL reads as credited). Rows written before
// kept their own. A remembered rejection has a negative id. Cap usage
// (intake_usage) has one row per person, local day, behavior and partner,
// plus one per year (day = -year) that the yearly cap and the calc
// record's used_year_mg read, so a batch reads two rows per person and
// behavior however long their history. Footprints read the day rows.
//
// The package must never credit an event that its methodology refused,
// never credit an event twice, never answer a request before the
// transaction holding its events is durable, and never write to a table it
// does not own except through the ledger, account, audit and webhook
// functions made for it.
package intake
