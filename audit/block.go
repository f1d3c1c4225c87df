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
	h := blockHead{n: len(rows), prev: rows[0].calc.PrevHash}
	accts, recs := make([]int64, len(rows)), make([][]byte, len(rows))
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
			last = c.Hash()
		}
		if (i+1)%segment == 0 || i == len(rows)-1 {
			h.seals = append(h.seals, last)
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
		accts[i], recs[i] = rows[i].AccountID, rec
	}
	return packBlock(h, accts, recs)
}

// packBlock lays out a block of the stored records recs (prev_hash empty)
// with head h.
func packBlock(h blockHead, accts []int64, recs [][]byte) ([]byte, error) {
	var payload []byte
	for i, rec := range recs {
		payload = binary.AppendUvarint(payload, uint64(accts[i]))
		payload = binary.AppendUvarint(payload, uint64(len(rec)))
		payload = append(payload, rec...)
	}
	b := []byte{formatBlockV3}
	b = binary.AppendUvarint(b, uint64(h.n))
	if raw, ok := lowerHex32(h.prev); ok {
		b = append(b, 1)
		b = append(b, raw[:]...)
	} else if h.prev == "" {
		b = append(b, 0)
	} else {
		b = append(b, 2)
		b = binary.AppendUvarint(b, uint64(len(h.prev)))
		b = append(b, h.prev...)
	}
	for _, seal := range h.seals {
		raw, ok := lowerHex32(seal)
		if !ok {
			return nil, fmt.Errorf("calc block: seal %q", seal)
		}
		b = append(b, raw[:]...)
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

// maxAccountID is the largest account id a block stores.
const maxAccountID = 1<<62 - 1

// blockHead is what a block says of its records: how many, the prev_hash
// of the first, and the seal of each segment (the hash of its last
// record).
type blockHead struct {
	n     int
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

// blockReader reads a block's records one at a time, so that a read keeps
// one record in memory, and skips the records before the ones it wants
// without keeping them.
type blockReader struct {
	blockHead
	src *bytes.Reader
	r   interface {
		io.Reader
		io.ByteReader
	}
	read int
}

func errBlock(what string) error { return fmt.Errorf("calc block: %s", what) }

// openBlock reads a block's head.
func openBlock(b []byte) (*blockReader, error) {
	if len(b) < 3 || b[0] != formatBlockV3 {
		return nil, errBlock("unknown format")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n == 0 || n > maxBlock {
		return nil, errBlock("bad record count")
	}
	br := &blockReader{blockHead: blockHead{n: int(n)}}
	b = b[k:]
	if len(b) < 1 {
		return nil, errBlock("truncated")
	}
	flag := b[0]
	b = b[1:]
	switch flag {
	case 0:
	case 1:
		if len(b) < 32 {
			return nil, errBlock("truncated prev_hash")
		}
		br.prev, b = hex.EncodeToString(b[:32]), b[32:]
	case 2:
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, errBlock("truncated prev_hash")
		}
		br.prev, b = string(b[k:k+int(l)]), b[k+int(l):]
	default:
		return nil, errBlock("bad prev_hash flag")
	}
	ns := (br.n + segment - 1) / segment
	if len(b) < 32*ns+1 {
		return nil, errBlock("truncated")
	}
	br.seals = make([]string, ns)
	for j := range br.seals {
		br.seals[j], b = hex.EncodeToString(b[:32]), b[32:]
	}
	br.src = bytes.NewReader(b[1:])
	br.r = br.src
	switch b[0] {
	case blockStored:
	case blockDeflate:
		// src is a ByteReader, so flate reads no byte past its stream.
		br.r = bufio.NewReader(flate.NewReader(br.src))
	default:
		return nil, errBlock("bad method")
	}
	return br, nil
}

// next reads the next record; with keep false it skips the record's bytes
// and returns no rec.
func (br *blockReader) next(keep bool) (acct int64, rec []byte, err error) {
	if br.read >= br.n {
		return 0, nil, errBlock("read past the last record")
	}
	a, err := binary.ReadUvarint(br.r)
	if err != nil || a > maxAccountID {
		return 0, nil, errBlock(fmt.Sprintf("record %d: bad account id", br.read))
	}
	l, err := binary.ReadUvarint(br.r)
	if err != nil || l > maxRecordBytes {
		return 0, nil, errBlock(fmt.Sprintf("record %d: bad length", br.read))
	}
	if keep {
		rec = make([]byte, l)
		_, err = io.ReadFull(br.r, rec)
	} else {
		var m int64
		m, err = io.CopyN(io.Discard, br.r, int64(l))
		if err == nil && m != int64(l) {
			err = io.ErrUnexpectedEOF
		}
	}
	if err != nil {
		return 0, nil, errBlock(fmt.Sprintf("record %d: truncated", br.read))
	}
	br.read++
	return int64(a), rec, nil
}

// end checks, after the last record, that nothing follows it.
func (br *blockReader) end() error {
	if _, err := br.r.ReadByte(); err != io.EOF || br.src.Len() != 0 {
		return errBlock(fmt.Sprintf("more than the %d records the header says", br.n))
	}
	return nil
}

// errStopBlock ends walkBlock early without an error.
var errStopBlock = errors.New("stop")

// walkBlock expands the records of block from record from, the start of a
// segment, to the end of the segment of record to-1 (records before are
// skipped, not expanded; to <= 0 means to the end, whose trailing bytes
// are then refused). It restores each record's prev_hash from the record
// before it, or from the seal before its segment at the start of one, and
// calls rec with each record's index, account id, calc and hash (empty
// for a record that does not expand, err then set, and for the records
// after it in its segment, whose prev_hash is then unknown and left
// empty). At the end of each segment it calls seal with
// the segment's first index, the hash its last record has ("" when one of
// its records did not expand) and the seal the block holds for it. A
// callback returning errStopBlock ends the walk without an error. It
// returns the block's head.
func walkBlock(block []byte, eng *methodology.Engine, from, to int,
	rec func(i int, acct int64, c *methodology.Calc, hash string, err error) error,
	seal func(start int, hash, sealed string) error) (blockHead, error) {
	br, err := openBlock(block)
	if err != nil {
		return blockHead{}, err
	}
	h := br.blockHead
	if from%segment != 0 || from >= h.n {
		return h, fmt.Errorf("calc block: no segment starts at record %d of %d", from, h.n)
	}
	last := h.n
	if to > 0 {
		last = min(h.n, (to+segment-1)/segment*segment)
	}
	for range from {
		if _, _, err := br.next(false); err != nil {
			return h, err
		}
	}
	var prev string
	broken := false
	stop := func(err error) (blockHead, error) {
		if errors.Is(err, errStopBlock) {
			return h, nil
		}
		return h, err
	}
	for i := from; i < last; i++ {
		if i%segment == 0 {
			prev, broken = h.prevOf(i), false
		}
		acct, r, err := br.next(true)
		if err != nil {
			return h, err
		}
		c, err := expand(r, eng)
		var hash string
		if err == nil && !broken {
			hash = link(prev, c)
		}
		broken = broken || err != nil
		if err := rec(i, acct, c, hash, err); err != nil {
			return stop(err)
		}
		prev = hash
		if (i+1)%segment == 0 || i == h.n-1 {
			if err := seal(i/segment*segment, hash, h.seals[i/segment]); err != nil {
				return stop(err)
			}
		}
	}
	if last == h.n {
		return h, br.end()
	}
	return h, nil
}
