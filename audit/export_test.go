package audit

import "github.com/opencarbon/opencarbon/methodology"

// Compact and Expand expose the record codec to the external tests.
var (
	Compact   = compact
	Expand    = expand
	CompactV1 = compactV1
	EncodeV2  = encodeV2
	// EncodeBlock encodes rows (chained by Next) as one block.
	EncodeBlock = encodeBlock
)

// Dict2Stats checks dict2Index on every entry and returns the number of
// entries and the longest list in a table slot.
func Dict2Stats() (n, longest int) {
	for i, s := range dict2 {
		if j, ok := dict2Index(s); !ok || j != i {
			return -1, 0
		}
		if _, ok := dict2Index(s + "x"); ok {
			return -1, 0
		}
	}
	for _, l := range dict2Table {
		longest = max(longest, len(l))
	}
	return len(dict2), longest
}

// BlockCalcs decodes a block: its records' account ids and calcs, each
// with its prev_hash restored.
func BlockCalcs(block []byte, eng *methodology.Engine) (accts []int64, calcs []*methodology.Calc, err error) {
	_, err = walkBlock(block, eng, 0, 0, func(_ int, acct int64, c *methodology.Calc, _ string, err error) error {
		accts, calcs = append(accts, acct), append(calcs, c)
		return err
	}, func(int, string, string) error { return nil })
	return accts, calcs, err
}

// NewBlock encodes calcs as the block of records seq… of shard: the
// first keeps its PrevHash, the others are chained to it again (as one
// who rewrites a block would).
func NewBlock(shard int, seq int64, accts []int64, calcs []*methodology.Calc) ([]byte, error) {
	rows := make([]Row, len(calcs))
	for i, c := range calcs {
		if i > 0 {
			link(calcs[i-1].Hash(), c)
		}
		rows[i] = Row{Shard: shard, Seq: seq + int64(i), AccountID: accts[i], calc: c}
	}
	return encodeBlock(rows)
}

// SealedBlocks returns the blocks Seal encoded on rows, in order.
func SealedBlocks(rows []Row) (out [][]byte) {
	for _, r := range rows {
		if r.block != nil {
			out = append(out, r.block)
		}
	}
	return out
}

// KeepSeals returns block with the seals of orig (as many): the block's
// records changed, its seals not.
func KeepSeals(block, orig []byte) []byte {
	o, err := openBlock(orig)
	if err != nil {
		panic(err)
	}
	out, err := rebuild(block, func(h *blockHead, _ [][]byte) { h.seals = o.seals })
	if err != nil {
		panic(err)
	}
	return out
}

// rebuild reads block's records, lets change alter its head and records,
// and lays the block out again.
func rebuild(block []byte, change func(h *blockHead, recs [][]byte)) ([]byte, error) {
	br, err := openBlock(block)
	if err != nil {
		return nil, err
	}
	accts, recs := make([]int64, br.n), make([][]byte, br.n)
	for j := range br.n {
		if accts[j], recs[j], err = br.next(true); err != nil {
			return nil, err
		}
	}
	h := br.blockHead
	change(&h, recs)
	return packBlock(h, accts, recs)
}

// WithRecord returns block with record i's stored bytes replaced by rec
// (its head and seals kept).
func WithRecord(block []byte, i int, rec []byte) ([]byte, error) {
	return rebuild(block, func(_ *blockHead, recs [][]byte) { recs[i] = rec })
}
