package audit

import (
	"bufio"
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
// only the first one's is stored, with a seal every 64 records: the hash
// of the segment's last record. The other records' prev_hash are left out
// of the stored records and restored on read by hashing from the start of
// their segment (a segment starts from the seal before it). The records
// are then deflated together: what repeats from one record to the next
// (the methodology, the partner, most of the event ids and params) is
// stored once. A record of the calc_log table took about 130 bytes on
// SQLite and 200 with its row and index on PostgreSQL; in a full block,
// 15 to 20.
//
//	3 n prev_flag [prev] seals method payload
//
// n is a uvarint; prev_flag 0 is an empty prev_hash, 1 32 raw bytes, 2 a
// uvarint length and the string; seals are ceil(n/64) hashes of 32 raw
// bytes, of records 63, 127, … and n-1; method 0 stores payload as is, 1
// deflates it (whichever is shorter). The payload is, for each record, a
// uvarint account id, a uvarint length and the stored record (format 2,
// or 1, written with an empty prev_hash), and nothing after the n-th.
//
// What a block costs: reading one record inflates its block and hashes
// the records before it in its segment (about 10 µs each), and a damaged
// block loses its records together. Verify checks each segment against
// its seal, so a changed record is found in its segment even when it
// still recomputes.
const formatBlockV3 = 3

// maxBlock is the most records a block holds, segment the records a seal
// covers: a read of one record hashes at most segment-1 before it.
const (
	maxBlock = 1024
	segment  = 64
)

// maxRecordBytes bounds one stored record (an event is at most 16 KiB, of
// which the record keeps the params): a block decodes into at most
// maxBlock of them.
const maxRecordBytes = 64 << 10

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
	var seals []byte
	last := ""
	for i := range rows {
		c := rows[i].calc
		if c == nil {
			return nil, fmt.Errorf("calc %d-%d: no record to store", rows[i].Shard, rows[i].Seq)
		}
		if i > 0 && (rows[i].Shard != rows[0].Shard || rows[i].Seq != rows[i-1].Seq+1) {
			return nil, fmt.Errorf("calc block: %d-%d does not follow %d-%d", rows[i].Shard, rows[i].Seq, rows[i-1].Shard, rows[i-1].Seq)
		}
		if i > 0 && c.PrevHash != last {
			return nil, fmt.Errorf("calc %d-%d: not chained to the record before it", rows[i].Shard, rows[i].Seq)
		}
		if a := rows[i].AccountID; a < 0 || a > maxAccountID {
			return nil, fmt.Errorf("calc %d-%d: account id %d out of range", rows[i].Shard, rows[i].Seq, a)
		}
		if last = rows[i].hash; last == "" {
			last = hashOf(c.Canonical())
		}
		if (i+1)%segment == 0 || i == len(rows)-1 {
			raw, ok := lowerHex32(last)
			if !ok {
				return nil, fmt.Errorf("calc block: hash %q", last)
			}
			seals = append(seals, raw[:]...)
		}
		cc := *c
		cc.PrevHash = ""
		rec, err := compact(&cc)
		if err != nil {
			return nil, err
		}
		if len(rec) > maxRecordBytes {
			return nil, fmt.Errorf("calc %d-%d: a record of %d bytes (at most %d)", rows[i].Shard, rows[i].Seq, len(rec), maxRecordBytes)
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
	b = append(b, seals...)
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

// maxAccountID is the largest account id a block stores.
const maxAccountID = 1<<62 - 1

// blockRecord is one record of a decoded block.
type blockRecord struct {
	accountID int64
	rec       []byte // as stored: prev_hash empty
}

// blockHead is what a block says of its records: the prev_hash of the
// first, and the seal of each segment (the hash of its last record).
type blockHead struct {
	prev  string
	seals []string
}

// prevOf returns the prev_hash of record i, the start of a segment.
func (h blockHead) prevOf(i int) string {
	if i == 0 {
		return h.prev
	}
	return h.seals[i/segment-1]
}

// decodeBlock splits a block into its head and its records. It reads the
// records one by one and stops at the n-th: whatever the bytes, it keeps
// at most maxBlock records of maxRecordBytes, and refuses anything after
// them.
func decodeBlock(b []byte) (h blockHead, recs []blockRecord, err error) {
	bad := func(what string) error { return fmt.Errorf("calc block: %s", what) }
	if len(b) < 3 || b[0] != formatBlockV3 {
		return h, nil, bad("unknown format")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxBlock {
		return h, nil, bad("bad record count")
	}
	b = b[k:]
	if len(b) < 1 {
		return h, nil, bad("truncated")
	}
	flag := b[0]
	b = b[1:]
	switch flag {
	case 0:
	case 1:
		if len(b) < 32 {
			return h, nil, bad("truncated prev_hash")
		}
		h.prev, b = hex.EncodeToString(b[:32]), b[32:]
	case 2:
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return h, nil, bad("truncated prev_hash")
		}
		h.prev, b = string(b[k:k+int(l)]), b[k+int(l):]
	default:
		return h, nil, bad("bad prev_hash flag")
	}
	ns := (int(n) + segment - 1) / segment
	if len(b) < 32*ns+1 {
		return h, nil, bad("truncated")
	}
	h.seals = make([]string, ns)
	for j := range h.seals {
		h.seals[j], b = hex.EncodeToString(b[:32]), b[32:]
	}
	src := bytes.NewReader(b[1:])
	var r interface {
		io.Reader
		io.ByteReader
	} = src
	switch b[0] {
	case blockStored:
	case blockDeflate:
		// src is a ByteReader, so flate reads no byte past its stream.
		r = bufio.NewReader(flate.NewReader(src))
	default:
		return h, nil, bad("bad method")
	}
	recs = make([]blockRecord, 0, n)
	for range n {
		acct, err := binary.ReadUvarint(r)
		if err != nil || acct > maxAccountID {
			return h, nil, bad("bad account id")
		}
		l, err := binary.ReadUvarint(r)
		if err != nil || l > maxRecordBytes {
			return h, nil, bad("bad record length")
		}
		rec := make([]byte, l)
		if _, err := io.ReadFull(r, rec); err != nil {
			return h, nil, bad("truncated record")
		}
		recs = append(recs, blockRecord{accountID: int64(acct), rec: rec})
	}
	if _, err := r.ReadByte(); err != io.EOF || src.Len() != 0 {
		return h, nil, bad(fmt.Sprintf("more than the %d records the header says", n))
	}
	return h, recs, nil
}

// errStopBlock ends walkBlock early without an error.
var errStopBlock = errors.New("stop")

// walkBlock expands the records of block in order from record from, the
// start of a segment (records before it are not expanded), restoring each
// one's prev_hash from the record before it, or from the seal before its
// segment at the start of one, and calls fn with each record's index,
// account id, calc and hash (empty for a record that does not expand, err
// then set; the hashes after it in its segment are unknown, and so are
// the following records' prev_hash). fn returning errStopBlock ends the
// walk. It returns the block's head.
func walkBlock(block []byte, eng *methodology.Engine, from int, fn func(i int, acct int64, c *methodology.Calc, hash string, err error) error) (blockHead, error) {
	h, recs, err := decodeBlock(block)
	if err != nil {
		return h, err
	}
	if from%segment != 0 || from >= len(recs) {
		return h, fmt.Errorf("calc block: no segment starts at record %d of %d", from, len(recs))
	}
	var prev string
	for i := from; i < len(recs); i++ {
		if i%segment == 0 {
			prev = h.prevOf(i)
		}
		r := recs[i]
		c, err := expand(r.rec, eng)
		var hash string
		if err == nil {
			c.PrevHash = prev
			hash = hashOf(c.Canonical())
		}
		if err := fn(i, r.accountID, c, hash, err); err != nil {
			if errors.Is(err, errStopBlock) {
				return h, nil
			}
			return h, err
		}
		prev = hash
	}
	return h, nil
}
