package audit

// Compact and Expand expose the record codec to the external tests.
var (
	Compact   = compact
	Expand    = expand
	CompactV1 = compactV1
	EncodeV2  = encodeV2
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
