// Package audit keeps the calc log: the calculation record of every credit,
// chained by hash to the previous record of the same shard, so anyone can
// recompute each credit from its record and the methodology registry and
// detect a changed, removed or reordered record.
//
// Records are stored compactly: a binary encoding of the fields of
// methodology.Calc (format 2, see record.go) without its factor list and
// methodology hash, which are fixed by the methodology version the record
// names and restored from the registry. Older records hold the canonical
// bytes without the factor list, deflated with a fixed dictionary (format
// 1), and stay readable. The records a transaction appends to a shard are
// stored together in blocks (calc_blocks, see block.go), deflated, with
// the prev_hash of the first only and a seal every 64 records; records
// written before the blocks are rows of calc_log. The full canonical
// form, and so the hash, is rebuilt exactly on read. Calc ids are
// "<shard>-<seq>".
//
// The package must never change or delete a stored record, and never
// decide whether an event is credited: intake does, in the same
// transaction that appends the record.
package audit

import (
	"bytes"
	"compress/flate"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations is the calc log's schema.
var Migrations = store.Component{Name: "audit", FS: migrations, Dir: "migrations"}

// Head is the end of one shard's chain: the last sequence number and the
// hash of the last record ("" for an empty chain).
type Head struct {
	Shard int
	Seq   int64
	Hash  string
}

// HeadTx returns the head of shard's chain in tx, creating it if needed.
// On PostgreSQL the head row is locked until tx ends, so two processes
// never extend the same chain at once.
func HeadTx(ctx context.Context, tx *store.Tx, shard int) (Head, error) {
	h := Head{Shard: shard}
	q := `SELECT seq, hash FROM calc_chain WHERE shard = $1`
	if tx.Dialect == store.Postgres {
		// Create or lock, and read, in one statement: the no-op update
		// waits for a concurrent writer of the row and returns the
		// committed head, as SELECT ... FOR UPDATE would.
		q = `INSERT INTO calc_chain AS c (shard, seq, hash) VALUES ($1, 0, '') ON CONFLICT (shard) DO UPDATE SET seq = c.seq RETURNING c.seq, c.hash`
	}
	err := tx.QueryRowContext(ctx, q, shard).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("calc chain head: %w", err)
	}
	return h, nil
}

// Row is one calc record ready to insert: Next or Reserve make it, and
// InsertTx stores consecutive rows as blocks (block.go).
type Row struct {
	Shard     int
	Seq       int64
	AccountID int64

	calc  *methodology.Calc // chained: PrevHash set
	hash  string            // calc's hash, when Next or Seal computed it
	block []byte            // set by Seal on the first row of each block it encoded
	n     int               // records in block
}

// Next chains c after head, setting c.PrevHash, and returns its calc id,
// the new head and the row to insert with InsertTx. Nothing is written,
// and the record is encoded later (InsertTx encodes the block of the
// transaction's records): c must not change afterwards.
func Next(head Head, accountID int64, c *methodology.Calc) (string, Head, Row, error) {
	next := Head{Shard: head.Shard, Seq: head.Seq + 1, Hash: link(head.Hash, c)}
	return CalcID(head.Shard, next.Seq), next, Row{Shard: head.Shard, Seq: next.Seq, AccountID: accountID, calc: c, hash: next.Hash}, nil
}

// Reserve is Next without the hashing: it gives c the next record of head's
// shard and returns its calc id, the head with the new seq (Hash left as it
// was) and the row. Rows reserved one after the other are then chained and
// encoded by Seal, which a writer can run beside its other statements: the
// chain's hashing is sequential, but nothing before the commit needs it.
func Reserve(head Head, accountID int64, c *methodology.Calc) (string, Head, Row) {
	next := Head{Shard: head.Shard, Seq: head.Seq + 1, Hash: head.Hash}
	return CalcID(head.Shard, next.Seq), next, Row{Shard: head.Shard, Seq: next.Seq, AccountID: accountID, calc: c}
}

// Seal chains rows, reserved in order after a record whose hash is prev:
// it sets each calc's PrevHash, encodes the rows' blocks (so InsertTx only
// writes them) and returns the hash of the last one (prev for no rows).
// It gives exactly what Next would have for each row.
func Seal(prev string, rows []Row) (string, error) {
	for i := range rows {
		c := rows[i].calc
		if c == nil {
			return "", fmt.Errorf("seal calc %d-%d: not reserved", rows[i].Shard, rows[i].Seq)
		}
		prev = link(prev, c)
		rows[i].hash = prev
	}
	for lo := 0; lo < len(rows); {
		hi := blockEnd(rows, lo)
		b, err := encodeBlock(rows[lo:hi])
		if err != nil {
			return "", err
		}
		rows[lo].block, rows[lo].n = b, hi-lo
		lo = hi
	}
	return prev, nil
}

// blockEnd returns the end of the block that starts at rows[lo]: at most
// maxBlock consecutive records of one shard.
func blockEnd(rows []Row, lo int) int {
	hi := lo + 1
	for hi < len(rows) && hi-lo < maxBlock && rows[hi].Shard == rows[lo].Shard && rows[hi].Seq == rows[hi-1].Seq+1 {
		hi++
	}
	return hi
}

// link chains c after the record whose hash is prev (sets c.PrevHash) and
// returns c's hash.
func link(prev string, c *methodology.Calc) string {
	c.PrevHash = prev
	return c.Hash()
}

// InsertTx writes rows, consecutive records, as blocks: the ones Seal
// encoded, else encoded here. On PostgreSQL in one statement.
func InsertTx(ctx context.Context, tx *store.Tx, rows []Row) error {
	var shards []int32
	var seqs, ns []int64
	var blocks [][]byte
	for lo := 0; lo < len(rows); {
		b, hi := rows[lo].block, lo+rows[lo].n
		if b == nil || hi > len(rows) {
			hi = blockEnd(rows, lo)
			var err error
			if b, err = encodeBlock(rows[lo:hi]); err != nil {
				return err
			}
		}
		shards, seqs, ns, blocks = append(shards, int32(rows[lo].Shard)), append(seqs, rows[lo].Seq), append(ns, int64(hi-lo)), append(blocks, b)
		lo = hi
	}
	if len(blocks) == 0 {
		return nil
	}
	if tx.Dialect == store.Postgres {
		// One INSERT from arrays: a parameter per column, not per value.
		if err := tx.ExecLater(ctx, `INSERT INTO calc_blocks (shard, seq, n, block)
			SELECT * FROM unnest($1::int[], $2::bigint[], $3::int[], $4::bytea[])`, shards, seqs, ns, blocks); err != nil {
			return fmt.Errorf("append calc: %w", err)
		}
		return nil
	}
	for i := range blocks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO calc_blocks (shard, seq, n, block) VALUES ($1, $2, $3, $4)`,
			shards[i], seqs[i], ns[i], blocks[i]); err != nil {
			return fmt.Errorf("append calc: %w", err)
		}
	}
	return nil
}

// SetHeadTx records head as the end of its chain.
func SetHeadTx(ctx context.Context, tx *store.Tx, head Head) error {
	err := tx.ExecLater(ctx, `INSERT INTO calc_chain (shard, seq, hash) VALUES ($1, $2, $3)
		ON CONFLICT (shard) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, head.Shard, head.Seq, head.Hash)
	if err != nil {
		return fmt.Errorf("calc chain head: %w", err)
	}
	return nil
}

// CalcID formats the id of record seq of shard.
func CalcID(shard int, seq int64) string {
	return strconv.Itoa(shard) + "-" + strconv.FormatInt(seq, 10)
}

// ParseCalcID splits a calc id. Errors: ENotFound for a malformed id.
func ParseCalcID(id string) (int, int64, error) {
	a, b, ok := strings.Cut(id, "-")
	shard, err1 := strconv.Atoi(a)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || shard < 0 || seq < 1 || len(id) > 40 {
		return 0, 0, oc.Errorf(oc.ENotFound, "no calc record %q", trunc(id))
	}
	return shard, seq, nil
}

// Record is one stored calc record.
type Record struct {
	ID        string            `json:"calc_id"`
	AccountID int64             `json:"-"`
	Hash      string            `json:"hash"` // hex SHA-256 of Canonical
	Calc      *methodology.Calc `json:"record"`
}

// Get returns the record calcID with its factors restored from eng.
// Errors: ENotFound.
func Get(ctx context.Context, db *store.DB, eng *methodology.Engine, calcID string) (*Record, error) {
	shard, seq, err := ParseCalcID(calcID)
	if err != nil {
		return nil, err
	}
	// The block that holds seq, if any: the last one of the shard that
	// starts at or before it.
	var first int64
	var block []byte
	err = db.Read().QueryRowContext(ctx, `SELECT seq, block FROM calc_blocks WHERE shard = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`,
		shard, seq).Scan(&first, &block)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("get calc: %w", err)
	}
	if err == nil {
		k := int(min(seq-first, maxBlock)) // the record's index in the block
		var out *Record
		h, err := walkBlock(block, eng, k/segment*segment, k+1,
			func(i int, acct int64, c *methodology.Calc, hash string, err error) error {
				if err != nil {
					return fmt.Errorf("calc record %s: %w", CalcID(shard, first+int64(i)), err)
				}
				if i == k {
					if hash == "" {
						return fmt.Errorf("calc record %s: a record before it in its segment is unreadable", calcID)
					}
					out = &Record{ID: calcID, AccountID: acct, Hash: hash, Calc: c}
				}
				return nil
			},
			// The record is served only if its segment still hashes to its
			// seal: else its prev_hash and hash could be a changed record's.
			func(start int, hash, sealed string) error {
				if hash != sealed {
					return fmt.Errorf("calc record %s: its segment %s… no longer hashes to its seal; run opencarbon verify", calcID, CalcID(shard, first+int64(start)))
				}
				return errStopBlock
			})
		if h.n == 0 || k < h.n {
			if err != nil {
				return nil, err
			}
			if out == nil {
				return nil, fmt.Errorf("get calc: block %s did not give record %s", CalcID(shard, first), calcID)
			}
			return out, nil
		}
		// Past the block's records: not in a block.
	}
	// Records written before the blocks (audit migration 2): one row each.
	var acct int64
	var rec []byte
	err = db.Read().QueryRowContext(ctx, `SELECT account_id, record FROM calc_log WHERE shard = $1 AND seq = $2`, shard, seq).Scan(&acct, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, oc.Errorf(oc.ENotFound, "no calc record %q", calcID)
	}
	if err != nil {
		return nil, fmt.Errorf("get calc: %w", err)
	}
	c, err := expand(rec, eng)
	if err != nil {
		return nil, err
	}
	return &Record{ID: calcID, AccountID: acct, Hash: c.Hash(), Calc: c}, nil
}

// format byte of a stored record: 1 is deflate with dictionary v1, factors
// dropped (written until format 2 came, and for what format 2 cannot
// hold); 2 is the binary layout of record.go. A new layout gets a new
// byte; old records keep theirs and stay readable.
const formatDeflateV1 = 1

// dictV1 primes deflate with the keys and common values of a calc record.
// It must never change: records written with it are read with it.
const dictV1 = `{"after_discount_mg":"","baseline_mg":"","behavior":"","cap_applied":"","cap_mg":0,"discount_pct":"30","engine_version":"opencarbon-methodology/2","event_id":"","evidence_keys":["order_id"],"factors":null,"gross_mg":"","inputs":[{"param":"","unit":"order","value":1}],"leakage_mg":"0","methodology":"","methodology_hash":"","methodology_version":"1.0.0","occurred_at":"2026-01-01T00:00:00.000000Z","params":{"order_id":""},"partner":"","prev_hash":"","project_mg":"0","result_mg":0,"terms":[{"name":"baseline","of":["ef_","orders"]},{"name":"project","of":[]}],"used_day_mg":0,"used_year_mg":0}` +
	`eleme.no_cutlery eleme.small_portion cainiao.box_return cainiao.e_waybill tmall.e_waybill tmall.low_carbon_product travel.bus_trip travel.metro_trip xianyu.secondhand_ ride_record trip_id waybill_id parcel_id station_id cutlery_choice portion_choice kwh_saved distance city daily yearly"},{"`

var writers = sync.Pool{New: func() any {
	w, err := flate.NewWriterDict(nil, flate.DefaultCompression, []byte(dictV1))
	if err != nil {
		panic(err)
	}
	return w
}}

// compact returns the stored record of c: format 2, or format 1 for a
// calc format 2 cannot hold exactly.
func compact(c *methodology.Calc) ([]byte, error) {
	rec, err := encodeV2(c)
	if !errors.Is(err, errNotV2) {
		return rec, err
	}
	// Evaluate never makes such a calc. Format 1 stores its canonical
	// bytes, which read back the same unless they hold something JSON
	// decodes differently (a json.Number "1.50" reads back 1.5): refuse
	// to store a record that would not hash the same when read.
	if rec, err = compactV1(c); err != nil {
		return nil, err
	}
	back, err := expand(rec, nil)
	cc := *c
	cc.Factors = nil
	if err != nil || !bytes.Equal(back.Canonical(), cc.Canonical()) {
		return nil, fmt.Errorf("compact calc: the record of %q would not read back identically", trunc(c.EventID))
	}
	return rec, nil
}

func compactV1(c *methodology.Calc) ([]byte, error) {
	cc := *c
	cc.Factors = nil
	var buf bytes.Buffer
	buf.WriteByte(formatDeflateV1)
	w := writers.Get().(*flate.Writer)
	defer writers.Put(w)
	canon := cc.Canonical()
	if len(canon) == 0 {
		// Only a time outside years 0–9999 or a non-finite factor or
		// input value gets here; intake never makes such a calc.
		return nil, fmt.Errorf("compact calc: the record of %q has no canonical form", trunc(c.EventID))
	}
	w.Reset(&buf)
	if _, err := w.Write(canon); err != nil {
		return nil, fmt.Errorf("compact calc: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compact calc: %w", err)
	}
	return buf.Bytes(), nil
}

// expand decodes a stored record and restores what it left to the
// methodology version it names (the factor list, and in format 2 the
// methodology hash) from eng. A format 2 record whose version eng lacks or
// holds with another hash is an error.
func expand(rec []byte, eng *methodology.Engine) (*methodology.Calc, error) {
	if len(rec) >= 2 && rec[0] == formatV2 {
		return decodeV2(rec[1:], eng)
	}
	if len(rec) < 2 || rec[0] != formatDeflateV1 {
		return nil, fmt.Errorf("calc record: unknown format")
	}
	r := flate.NewReaderDict(bytes.NewReader(rec[1:]), []byte(dictV1))
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("calc record: %w", err)
	}
	var c methodology.Calc
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("calc record: %w", err)
	}
	if eng != nil {
		if m, ok := eng.Version(c.Methodology, c.MethodologyVersion); ok {
			c.Factors = m.FactorRefs()
		}
	}
	return &c, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
