package methodology

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// FactorUse records one factor a calculation used.
type FactorUse struct {
	Param string `json:"param"`
	Ref   string `json:"ref"`
	// ShortSource is the publisher and year (or the start of the document
	// title) that Explain shows after the value; absent in records of
	// engine version 1.
	ShortSource string  `json:"short_source,omitempty"`
	Source      string  `json:"source"`
	Unit        string  `json:"unit"`
	Value       float64 `json:"value"`
}

// Calc is the calculation record of one credited event: everything needed
// to recompute the result and to explain it. Intermediates are decimal
// strings in mg CO2e (the shortest form that round-trips the float), the
// result is int64 mg. Fields are declared in JSON key order, so Canonical
// emits sorted keys.
type Calc struct {
	AfterDiscount      string         `json:"after_discount_mg"`
	Baseline           string         `json:"baseline_mg"`
	Behavior           string         `json:"behavior"`
	CapApplied         string         `json:"cap_applied"` // "", "daily" or "yearly"
	CapMG              int64          `json:"cap_mg"`      // the remaining room that bounded the result
	DiscountPct        string         `json:"discount_pct"`
	EngineVersion      string         `json:"engine_version"`
	EventID            string         `json:"event_id"`
	EvidenceKeys       []string       `json:"evidence_keys"` // keys present, never their values
	Factors            []FactorUse    `json:"factors"`
	Gross              string         `json:"gross_mg"`         // baseline − project − leakage
	Inputs             []InputUse     `json:"inputs,omitempty"` // monitored quantities in Terms (engine version 2)
	Leakage            string         `json:"leakage_mg"`
	Methodology        string         `json:"methodology"`
	MethodologyHash    string         `json:"methodology_hash"`
	MethodologyVersion string         `json:"methodology_version"`
	OccurredAt         time.Time      `json:"occurred_at"`
	Params             map[string]any `json:"params"`
	Partner            string         `json:"partner"`
	PrevHash           string         `json:"prev_hash"` // set by the ledger when chaining
	Project            string         `json:"project_mg"`
	ResultMG           int64          `json:"result_mg"`
	Terms              []TermUse      `json:"terms,omitempty"` // product forms of the terms (engine version 2)
	UsedDayMG          int64          `json:"used_day_mg"`
	UsedYearMG         int64          `json:"used_year_mg"`
}

// Canonical returns the deterministic JSON bytes of the record (sorted
// keys, no whitespace, times in UTC): the same calc always gives the same
// bytes. It is what Hash covers and what should be stored.
//
// The bytes are those of encoding/json.Marshal (the hash of every stored
// record depends on them); a hand-written appender produces them several
// times faster, and json.Marshal is used for what it does not handle.
func (c *Calc) Canonical() []byte {
	return c.AppendCanonical(make([]byte, 0, canonicalSizeHint))
}

// AppendCanonical appends Canonical() to b, so a caller that only hashes
// the bytes can reuse its buffer.
func (c *Calc) AppendCanonical(b []byte) []byte {
	if out, ok := c.appendCanonical(b); ok {
		return out
	}
	return append(b, c.canonicalJSON()...)
}

// canonicalSizeHint is the buffer first allocated for canonical bytes
// (records of the shipped methodologies are 0.9 to 1.8 kB).
const canonicalSizeHint = 2048

// canonicalJSON is Canonical by encoding/json, the definition the
// appender must match.
func (c *Calc) canonicalJSON() []byte {
	cc := *c
	cc.OccurredAt = c.OccurredAt.UTC()
	b, err := json.Marshal(&cc)
	if err != nil {
		// Params came from decoded JSON; only an unencodable value
		// (a channel, NaN) gets here. Fall back to sorted-key re-encoding
		// of what can be encoded so the bytes stay deterministic.
		cc.Params = map[string]any{"unencodable": fmt.Sprint(len(c.Params))}
		b, _ = json.Marshal(&cc)
	}
	return b
}

// Hash returns the hex SHA-256 of Canonical(), encoded into a pooled
// buffer: the calc log hashes every record it chains, stores or verifies.
func (c *Calc) Hash() string {
	buf := canonBufs.Get().(*[]byte)
	*buf = c.AppendCanonical((*buf)[:0])
	h := sha256Hex(*buf)
	canonBufs.Put(buf)
	return h
}

// canonBufs holds buffers for canonical bytes that are only hashed.
var canonBufs = sync.Pool{New: func() any { b := make([]byte, 0, canonicalSizeHint); return &b }}
