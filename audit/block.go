package audit

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/opencarbon/opencarbon/methodology"
)

// A block holds the records a group commit appends to one shard's chain,
// seq … seq+n-1, in one calc_blocks row (audit migration 2). Within a
// block each record's prev_hash is the hash of the record before it, so
// only the first one's is stored; the others are left out of the stored
// records and restored on read by hashing the block from its start. The
// records are then deflated together: what repeats from one record to the
// next (the methodology, the partner, most of the event ids and params)
// is stored once. A record of the calc_log table took about 130 bytes on
// SQLite and 200 with its row and index on PostgreSQL; in a block of a
// thousand it takes a few dozen.
//
//	3 n prev_flag [prev] method payload
//
// n is a uvarint; prev_flag 0 is an empty prev_hash, 1 32 raw bytes, 2 a
// uvarint length and the string; method 0 stores payload as is, 1 deflates
// it (whichever is shorter). The payload is, for each record, a uvarint
// account id, a uvarint length and the stored record (format 2, or 1,
// written with an empty prev_hash).
const formatBlockV3 = 3

// maxBlock is the most records a block holds: a read of one record hashes
// the records before it in its block.
const maxBlock = 1024

// maxBlockPayload bounds a block's records when read (a thousand records
// of a few hundred bytes at most).
const maxBlockPayload = 64 << 20

const (
	blockStored  = 0
	blockDeflate = 1
)

var blockWriters = sync.Pool{New: func() any {
	w, err := flate.NewWriter(nil, flate.BestSpeed)
	if err != nil {
		panic(err)
	}
	return w
}}

// encodeBlock returns the block of rows, which must be consecutive records
// of one shard with their calcs chained (Next, Reserve and Seal, or link).
func encodeBlock(rows []Row) ([]byte, error) {
	if len(rows) == 0 || len(rows) > maxBlock {
		return nil, fmt.Errorf("calc block of %d records", len(rows))
	}
	var payload []byte
	for i := range rows {
		c := rows[i].calc
		if c == nil {
			return nil, fmt.Errorf("calc %d-%d: no record to store", rows[i].Shard, rows[i].Seq)
		}
		if i > 0 && (rows[i].Shard != rows[0].Shard || rows[i].Seq != rows[i-1].Seq+1) {
			return nil, fmt.Errorf("calc block: %d-%d does not follow %d-%d", rows[i].Shard, rows[i].Seq, rows[i-1].Shard, rows[i-1].Seq)
		}
		cc := *c
		cc.PrevHash = ""
		rec, err := compact(&cc)
		if err != nil {
			return nil, err
		}
		payload = binary.AppendUvarint(payload, uint64(rows[i].AccountID))
		payload = binary.AppendUvarint(payload, uint64(len(rec)))
		payload = append(payload, rec...)
	}
	b := []byte{formatBlockV3}
	b = binary.AppendUvarint(b, uint64(len(rows)))
	prev := rows[0].calc.PrevHash
	if raw, ok := lowerHex32(prev); ok {
		b = append(b, 1)
		b = append(b, raw[:]...)
	} else if prev == "" {
		b = append(b, 0)
	} else {
		b = append(b, 2)
		b = binary.AppendUvarint(b, uint64(len(prev)))
		b = append(b, prev...)
	}
	var z bytes.Buffer
	w := blockWriters.Get().(*flate.Writer)
	defer blockWriters.Put(w)
	w.Reset(&z)
	if _, err := w.Write(payload); err != nil {
		return nil, fmt.Errorf("calc block: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("calc block: %w", err)
	}
	if z.Len() < len(payload) {
		return append(append(b, blockDeflate), z.Bytes()...), nil
	}
	return append(append(b, blockStored), payload...), nil
}

// blockRecord is one record of a decoded block.
type blockRecord struct {
	accountID int64
	rec       []byte // as stored: prev_hash empty
}

// decodeBlock splits a block into its first record's prev_hash and its
// records.
func decodeBlock(b []byte) (prev string, recs []blockRecord, err error) {
	bad := func(what string) error { return fmt.Errorf("calc block: %s", what) }
	if len(b) < 3 || b[0] != formatBlockV3 {
		return "", nil, bad("unknown format")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxBlock {
		return "", nil, bad("bad record count")
	}
	b = b[k:]
	if len(b) < 1 {
		return "", nil, bad("truncated")
	}
	flag := b[0]
	b = b[1:]
	switch flag {
	case 0:
	case 1:
		if len(b) < 32 {
			return "", nil, bad("truncated prev_hash")
		}
		prev, b = hex.EncodeToString(b[:32]), b[32:]
	case 2:
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return "", nil, bad("truncated prev_hash")
		}
		prev, b = string(b[k:k+int(l)]), b[k+int(l):]
	default:
		return "", nil, bad("bad prev_hash flag")
	}
	if len(b) < 1 {
		return "", nil, bad("truncated")
	}
	payload := b[1:]
	switch b[0] {
	case blockStored:
	case blockDeflate:
		r := flate.NewReader(bytes.NewReader(payload))
		payload, err = io.ReadAll(io.LimitReader(r, maxBlockPayload+1))
		if err != nil {
			return "", nil, fmt.Errorf("calc block: %w", err)
		}
		if len(payload) > maxBlockPayload {
			return "", nil, bad("too large")
		}
	default:
		return "", nil, bad("bad method")
	}
	recs = make([]blockRecord, 0, n)
	for len(payload) > 0 {
		acct, k1 := binary.Uvarint(payload)
		if k1 <= 0 || acct > 1<<62 {
			return "", nil, bad("bad account id")
		}
		l, k2 := binary.Uvarint(payload[k1:])
		if k2 <= 0 || l > uint64(len(payload)-k1-k2) {
			return "", nil, bad("truncated record")
		}
		at := k1 + k2
		recs = append(recs, blockRecord{accountID: int64(acct), rec: payload[at : at+int(l) : at+int(l)]})
		payload = payload[at+int(l):]
	}
	if uint64(len(recs)) != n {
		return "", nil, bad(fmt.Sprintf("%d records, the header says %d", len(recs), n))
	}
	return prev, recs, nil
}

// errStopBlock ends walkBlock early without an error.
var errStopBlock = errors.New("stop")

// walkBlock expands the records of block in order, restoring each one's
// prev_hash from the one before it, and calls fn with each record's index,
// account id, calc and hash (empty for a record that does not expand, err
// then set; the hashes after it are unknown, and so are the following
// records' prev_hash). fn returning errStopBlock ends the walk.
func walkBlock(block []byte, eng *methodology.Engine, fn func(i int, acct int64, c *methodology.Calc, hash string, err error) error) error {
	prev, recs, err := decodeBlock(block)
	if err != nil {
		return err
	}
	for i, r := range recs {
		c, err := expand(r.rec, eng)
		var h string
		if err == nil {
			c.PrevHash = prev
			h = hashOf(c.Canonical())
		}
		if err := fn(i, r.accountID, c, h, err); err != nil {
			if errors.Is(err, errStopBlock) {
				return nil
			}
			return err
		}
		prev = h
	}
	return nil
}
