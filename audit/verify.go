package audit

import (
	"bytes"
	"context"
	"fmt"

	oc "github.com/opencarbon/opencarbon"
	"github.com/opencarbon/opencarbon/methodology"
	"github.com/opencarbon/opencarbon/store"
)

// Problem is one finding of Verify.
type Problem struct {
	CalcID string `json:"calc_id"`
	Kind   string `json:"kind"` // unreadable, chain_broken, recompute_failed, mismatch, head_mismatch, gap
	Detail string `json:"detail"`
}

// String formats the problem for the verify command's output.
func (p Problem) String() string { return p.CalcID + ": " + p.Kind + ": " + p.Detail }

// Verify reads every stored record, shard by shard in sequence order, and
// checks that each one's prev_hash is the hash of the record before it (in
// a block, only the first record's is stored: see block.go),
// that sequence numbers have no gap, that the chain head matches the last
// record, and that eng.Recompute rebuilds exactly the stored record (same
// canonical bytes, so the same hash). eng must hold every methodology
// version ever approved (methodology.Service.Engine does). It returns the
// problems found; the error is for failures to read.
func Verify(ctx context.Context, db *store.DB, eng *methodology.Engine) ([]Problem, int64, error) {
	var problems []Problem
	heads := map[int]Head{}
	rows, err := db.Read().QueryContext(ctx, `SELECT shard, seq, hash FROM calc_chain ORDER BY shard`)
	if err != nil {
		return nil, 0, fmt.Errorf("verify: %w", err)
	}
	for rows.Next() {
		var h Head
		if err := rows.Scan(&h.Shard, &h.Seq, &h.Hash); err != nil {
			rows.Close()
			return nil, 0, fmt.Errorf("verify: %w", err)
		}
		heads[h.Shard] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("verify: %w", err)
	}
	// The rows of calc_log (records written before the blocks, n 0) and
	// the blocks, merged in (shard, seq) order.
	rows, err = db.Read().QueryContext(ctx, `SELECT shard, seq, 0 AS n, record FROM calc_log
		UNION ALL SELECT shard, seq, n, block FROM calc_blocks ORDER BY 1, 2`)
	if err != nil {
		return nil, 0, fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	var n int64
	cur := Head{Shard: -1}
	endShard := func() {
		if cur.Shard < 0 {
			return
		}
		h := heads[cur.Shard]
		if h.Seq != cur.Seq || h.Hash != cur.Hash {
			problems = append(problems, Problem{CalcID: CalcID(cur.Shard, cur.Seq), Kind: "head_mismatch",
				Detail: fmt.Sprintf("chain head says %d/%s, the log ends at %d/%s", h.Seq, h.Hash, cur.Seq, cur.Hash)})
		}
		delete(heads, cur.Shard)
	}
	// check verifies record seq, whose stored prev_hash is c.PrevHash and
	// whose canonical bytes hash to hash ("" when a record before it in its
	// segment did not expand, so its prev_hash is unknown).
	check := func(seq int64, c *methodology.Calc, hash string, err error) {
		n++
		id := CalcID(cur.Shard, seq)
		if seq != cur.Seq+1 {
			problems = append(problems, Problem{CalcID: id, Kind: "gap", Detail: fmt.Sprintf("expected sequence %d", cur.Seq+1)})
		}
		if err != nil {
			problems = append(problems, Problem{CalcID: id, Kind: "unreadable", Detail: err.Error()})
			cur.Seq, cur.Hash = seq, ""
			return
		}
		if c.PrevHash != cur.Hash {
			problems = append(problems, Problem{CalcID: id, Kind: "chain_broken",
				Detail: fmt.Sprintf("prev_hash %s, previous record hashes to %s", c.PrevHash, cur.Hash)})
		}
		// The recomputed record must have the stored record's canonical
		// bytes: compared by their hash, which the walk already has, so
		// that each record is encoded once more, not twice (that second
		// encoding was a third of verify's time).
		re, err := eng.Recompute(c)
		switch {
		case err != nil:
			problems = append(problems, Problem{CalcID: id, Kind: "recompute_failed", Detail: oc.ErrorMessage(err)})
		case hash == "" && !bytes.Equal(re.Canonical(), c.Canonical()), hash != "" && re.Hash() != hash:
			problems = append(problems, Problem{CalcID: id, Kind: "mismatch",
				Detail: fmt.Sprintf("stored result %d mg, recomputed %d mg; stored hash %s, recomputed %s", c.ResultMG, re.ResultMG, hash, re.Hash())})
		}
		cur.Seq, cur.Hash = seq, hash
	}
	for rows.Next() {
		var shard int
		var seq, blockN int64
		var rec []byte
		if err := rows.Scan(&shard, &seq, &blockN, &rec); err != nil {
			return nil, n, fmt.Errorf("verify: %w", err)
		}
		if shard != cur.Shard {
			endShard()
			cur = Head{Shard: shard}
		}
		if blockN == 0 {
			c, err := expand(rec, eng)
			var h string
			if err == nil {
				h = c.Hash()
			}
			check(seq, c, h, err)
			continue
		}
		// Within a block, a record's prev_hash is restored from the one
		// before it, or at the start of a segment from the seal before it,
		// so only the block's first record can break the chain; each
		// segment is checked against its seal, and the next one starts
		// from that seal, so a changed record is reported once, at the
		// start of its segment.
		got := 0
		h, err := walkBlock(rec, eng, 0, 0, func(i int, _ int64, c *methodology.Calc, hash string, err error) error {
			got++
			check(seq+int64(i), c, hash, err)
			return nil
		}, func(start int, hash, sealed string) error {
			if hash != "" && hash != sealed {
				from, to := CalcID(shard, seq+int64(start)), CalcID(shard, cur.Seq)
				problems = append(problems, Problem{CalcID: from, Kind: "chain_broken",
					Detail: fmt.Sprintf("the records %s to %s hash to %s, their seal is %s: one of them changed", from, to, hash, sealed)})
			}
			cur.Hash = sealed
			return nil
		})
		if err != nil {
			// What could not be read: the rest of the block.
			problems = append(problems, Problem{CalcID: CalcID(shard, seq+int64(got)), Kind: "unreadable", Detail: err.Error()})
			// The row's count, not the damaged block's, says how far it
			// reached; the next block's seq shows a gap if it lies.
			left := max(min(int(max(blockN, 1)), maxBlock)-got, 0)
			n += int64(left)
			cur.Seq, cur.Hash = seq+int64(got+left)-1, ""
			continue
		}
		if int64(h.n) != blockN {
			problems = append(problems, Problem{CalcID: CalcID(shard, seq), Kind: "unreadable",
				Detail: fmt.Sprintf("the block holds %d records, its row says %d", h.n, blockN)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, n, fmt.Errorf("verify: %w", err)
	}
	endShard()
	for _, h := range heads {
		if h.Seq != 0 {
			problems = append(problems, Problem{CalcID: CalcID(h.Shard, h.Seq), Kind: "head_mismatch", Detail: "the chain head names records that are not in the log"})
		}
	}
	return problems, n, nil
}
