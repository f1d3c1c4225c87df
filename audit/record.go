package audit

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencarbon/opencarbon/methodology"
)

// Record format 2 is a binary encoding of exactly the fields that rebuild
// the methodology.Calc, and so its canonical bytes and hash:
//
//	2 flags methodology version mhash behavior engine_version event_id
//	partner occurred_at prev_hash params evidence_keys [factors] terms
//	inputs baseline project leakage gross after_discount discount_pct
//	cap_applied cap_mg result_mg used_day_mg used_year_mg
//
// Integers are varints (signed ones zigzag). A string is one varint v: a
// literal of v>>1 bytes that follow when v is even, else a reference to
// entry v>>1 of dict2 followed by the literals met so far in the record.
// The *_mg decimal strings are, when they read back identically, a varint
// holding the signed digits and the number of decimals, else a literal.
// The factor list (the methodology version's, as in format 1) is restored
// from the registry, and so is methodology_hash, of which the record keeps
// the first 4 bytes to make sure the registry holds the same version: a
// record whose version is missing or different is unreadable rather than
// read differently. prev_hash is 32 raw bytes.
//
// Params are typed values (see putValue): numbers that are integers as
// varints, other numbers as digits and decimals or as their 8 bytes,
// objects with their keys in order. A calc the format cannot hold exactly
// (a value of another type than decoded JSON gives, a number that is not
// finite, a time outside years 0–9999) is written in format 1.
const formatV2 = 2

// Flag bits of a format 2 record.
const (
	fFactorsMask        = 3 // 0 nil, 1 the registry's, 2 the registry's without short sources, 3 listed
	fFactorsRegistry    = 1
	fFactorsNoShort     = 2
	fFactorsListed      = 3
	fMHashListed        = 1 << 2 // methodology_hash is a string, not the registry's
	fPrevShift          = 3      // prev_hash: 0 "", 1 32 raw bytes, 2 a string
	fPrevMask           = 3 << fPrevShift
	prevRaw, prevListed = 1, 2
	mhashPrefix         = 4
	maxValueDepth       = 10000 // as encoding/json's decoder
	recordSizeHint      = 160
)

// dict2 holds the strings records of the shipped methodologies repeat. It
// must never change: records written with it are read with it. Entries
// past 63 take a second byte to refer to.
var dict2 = [...]string{
	"opencarbon-methodology/2", "opencarbon-methodology/1", "1.0.0", "baseline", "project", "leakage", "daily", "yearly",
	"tmall", "eleme", "cainiao", "xianyu",
	"cainiao.box_return", "cainiao.e_waybill", "eleme.no_cutlery", "eleme.small_portion", "tmall.e_waybill",
	"tmall.low_carbon_product", "travel.bus_trip", "travel.metro_trip", "xianyu.secondhand_book",
	"xianyu.secondhand_clothing", "xianyu.secondhand_phone",
	"order_id", "ride_record", "station_id", "cutlery_choice", "portion_choice", "trip_id", "waybill_id", "parcel_id",
	"kwh_saved", "distance", "city", "trips", "orders", "waybills", "cartons", "books", "phones", "package_kg", "weight",
	"kWh", "person-km", "kg", "order", "waybill", "trip", "carton", "book", "phone",
	"ef_grid", "ef_car_bj", "ef_metro_bj", "ef_trip_gz", "ef_bus", "ef_car", "ef_cutlery", "ef_portion", "ef_waybill",
	"ef_carton", "ef_board", "ef_book", "ef_phone", "ef_textile", "displacement", "BJ", "GZ",
}

// dict2Table finds a dict2 entry by a hash of its length and end bytes;
// each slot lists the entries with that hash.
var dict2Table = func() (t [256][]uint8) {
	seen := map[string]bool{}
	for i, s := range dict2 {
		if seen[s] || s == "" {
			panic("audit: bad dict2 entry " + s)
		}
		seen[s] = true
		h := dict2Hash(s)
		t[h] = append(t[h], uint8(i))
	}
	return t
}()

func dict2Hash(s string) uint8 {
	return uint8(len(s)*7 + int(s[0])*3 + int(s[len(s)-1])*5 + int(s[len(s)/2]))
}

// dict2Index returns the index of s in dict2.
func dict2Index(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for _, i := range dict2Table[dict2Hash(s)] {
		if dict2[i] == s {
			return int(i), true
		}
	}
	return 0, false
}

// errNotV2 says a calc holds something format 2 cannot represent exactly.
var errNotV2 = errors.New("not representable in format 2")

// encoder builds one format 2 record.
type encoder struct {
	b   []byte
	lit []string // literals written so far, referable after dict2
}

// maxLitSearch bounds the literals searched for a repeat, so a record with
// many strings stays linear to encode.
const maxLitSearch = 16

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }

func (e *encoder) str(s string) {
	if i, ok := dict2Index(s); ok {
		e.uvarint(uint64(i)<<1 | 1)
		return
	}
	for i, l := range e.lit[:min(len(e.lit), maxLitSearch)] {
		if l == s {
			e.uvarint(uint64(len(dict2)+i)<<1 | 1)
			return
		}
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
	if s != "" {
		e.lit = append(e.lit, s)
	}
}

func (e *encoder) strs(ss []string) {
	if ss == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(uint64(len(ss)) + 1)
	for _, s := range ss {
		e.str(s)
	}
}

// dec writes a decimal string: digits and decimals when they format back
// to exactly s, else the literal.
func (e *encoder) dec(s string) {
	if m, scale, ok := parseDecimal(s); ok {
		if zz := zigzag(m); zz < 1<<57 {
			e.uvarint((zz<<5|uint64(scale))<<1 | 1)
			return
		}
	}
	e.uvarint(uint64(len(s)) << 1)
	e.b = append(e.b, s...)
}

// Value kinds, the low 3 bits of a value's header varint.
const (
	vConst  = iota // payload 0 null, 1 false, 2 true
	vString        // payload: length of the literal that follows
	vRef           // payload: string reference
	vInt           // payload: zigzag integer
	vDec           // payload: zigzag digits << 5 | decimals
	vFloat         // 8 bytes little-endian follow
	vArray         // payload: count
	vObject        // payload: count; then key string and value pairs, keys ascending
)

func (e *encoder) head(kind int, payload uint64) { e.uvarint(payload<<3 | uint64(kind)) }

// num writes a finite float64 so that it reads back with the same bits.
func (e *encoder) num(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return errNotV2
	}
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 && !(f == 0 && math.Signbit(f)) {
		e.head(vInt, zigzag(int64(f)))
		return nil
	}
	var buf [32]byte
	if s := strconv.AppendFloat(buf[:0], f, 'f', -1, 64); len(s) <= 20 {
		if m, scale, ok := parseDecimal(string(s)); ok {
			if zz := zigzag(m); zz < 1<<53 {
				e.head(vDec, zz<<5|uint64(scale))
				return nil
			}
		}
	}
	e.head(vFloat, 0)
	e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(f))
	return nil
}

// value writes a params value of the types encoding/json decodes into an
// any.
func (e *encoder) value(v any, depth int) error {
	if depth > maxValueDepth {
		return errNotV2
	}
	switch x := v.(type) {
	case nil:
		e.head(vConst, 0)
	case bool:
		if x {
			e.head(vConst, 2)
		} else {
			e.head(vConst, 1)
		}
	case string:
		if i, ok := dict2Index(x); ok {
			e.head(vRef, uint64(i))
			return nil
		}
		for i, l := range e.lit[:min(len(e.lit), maxLitSearch)] {
			if l == x {
				e.head(vRef, uint64(len(dict2)+i))
				return nil
			}
		}
		e.head(vString, uint64(len(x)))
		e.b = append(e.b, x...)
		if x != "" {
			e.lit = append(e.lit, x)
		}
	case float64:
		return e.num(x)
	case []any:
		if x == nil {
			e.head(vConst, 0) // encoding/json writes null
			return nil
		}
		e.head(vArray, uint64(len(x)))
		for _, el := range x {
			if err := e.value(el, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if x == nil {
			e.head(vConst, 0)
			return nil
		}
		var small [8]string
		keys := small[:0]
		for k := range x {
			keys = append(keys, k)
		}
		if len(keys) > 1 {
			slices.Sort(keys)
		}
		e.head(vObject, uint64(len(keys)))
		for _, k := range keys {
			e.str(k)
			if err := e.value(x[k], depth+1); err != nil {
				return err
			}
		}
	default:
		return errNotV2
	}
	return nil
}

// encodeV2 returns the format 2 record of c, or errNotV2.
func encodeV2(c *methodology.Calc) ([]byte, error) {
	at := c.OccurredAt.UTC()
	if y := at.Year(); y < 0 || y > 9999 {
		return nil, errNotV2
	}
	var lit [8]string
	e := encoder{b: make([]byte, 0, recordSizeHint), lit: lit[:0]}
	var flags uint64
	switch {
	case c.Factors == nil:
	case len(c.Factors) == 0:
		flags |= fFactorsListed
	case noShortSources(c.Factors):
		flags |= fFactorsNoShort
	default:
		flags |= fFactorsRegistry
	}
	mhash, ok := lowerHex32(c.MethodologyHash)
	if !ok {
		flags |= fMHashListed
	}
	prev, ok := lowerHex32(c.PrevHash)
	switch {
	case c.PrevHash == "":
	case ok:
		flags |= prevRaw << fPrevShift
	default:
		flags |= prevListed << fPrevShift
	}
	e.b = append(e.b, formatV2)
	e.uvarint(flags)
	e.str(c.Methodology)
	e.str(c.MethodologyVersion)
	if flags&fMHashListed != 0 {
		e.str(c.MethodologyHash)
	} else {
		e.b = append(e.b, mhash[:mhashPrefix]...)
	}
	e.str(c.Behavior)
	e.str(c.EngineVersion)
	e.str(c.EventID)
	e.str(c.Partner)
	e.varint(at.Unix())
	e.uvarint(uint64(at.Nanosecond()))
	switch flags & fPrevMask >> fPrevShift {
	case prevRaw:
		e.b = append(e.b, prev[:]...)
	case prevListed:
		e.str(c.PrevHash)
	}
	if err := e.value(c.Params, 0); err != nil {
		return nil, err
	}
	e.strs(c.EvidenceKeys)
	if flags&fFactorsMask == fFactorsListed {
		// Only an empty, non-nil list is listed today; the layout holds any.
		e.uvarint(uint64(len(c.Factors)))
		for _, f := range c.Factors {
			e.str(f.Param)
			e.str(f.Ref)
			e.str(f.ShortSource)
			e.str(f.Source)
			e.str(f.Unit)
			if err := e.num(f.Value); err != nil {
				return nil, err
			}
		}
	}
	e.uvarint(uint64(len(c.Terms)))
	for _, t := range c.Terms {
		e.str(t.Name)
		e.dec(t.Const)
		e.strs(t.Of)
	}
	e.uvarint(uint64(len(c.Inputs)))
	for _, in := range c.Inputs {
		e.str(in.Param)
		e.str(in.Unit)
		if err := e.num(in.Value); err != nil {
			return nil, err
		}
	}
	for _, s := range [...]string{c.Baseline, c.Project, c.Leakage, c.Gross, c.AfterDiscount, c.DiscountPct} {
		e.dec(s)
	}
	e.str(c.CapApplied)
	e.varint(c.CapMG)
	e.varint(c.ResultMG)
	e.varint(c.UsedDayMG)
	e.varint(c.UsedYearMG)
	return e.b, nil
}

// lowerHex32 decodes 64 lowercase hex digits, the only form a SHA-256
// is written in (any other string is stored as it is).
func lowerHex32(s string) (h [32]byte, ok bool) {
	if len(s) != 64 {
		return h, false
	}
	for i := range h {
		hi, ok1 := lowerHexDigit(s[2*i])
		lo, ok2 := lowerHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return h, false
		}
		h[i] = hi<<4 | lo
	}
	return h, true
}

func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func noShortSources(fs []methodology.FactorUse) bool {
	for _, f := range fs {
		if f.ShortSource != "" {
			return false
		}
	}
	return true
}

// decoder reads one format 2 record.
type decoder struct {
	b   []byte
	err error
	lit []string
}

var errTruncated = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) ref(i uint64) string {
	if i < uint64(len(dict2)) {
		return dict2[i]
	}
	if i -= uint64(len(dict2)); i < uint64(len(d.lit)) {
		return d.lit[i]
	}
	d.fail(errors.New("bad string reference"))
	return ""
}

func (d *decoder) literal(n uint64) string {
	s := string(d.bytes(n))
	if s != "" {
		d.lit = append(d.lit, s)
	}
	return s
}

func (d *decoder) str() string {
	v := d.uvarint()
	if v&1 == 1 {
		return d.ref(v >> 1)
	}
	return d.literal(v >> 1)
}

func (d *decoder) strs() []string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	n--
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) dec() string {
	v := d.uvarint()
	if v&1 == 0 {
		return string(d.bytes(v >> 1))
	}
	v >>= 1
	return formatDecimal(unzigzag(v>>5), int(v&31))
}

func (d *decoder) count(per int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/per) {
		d.fail(errTruncated)
		return 0
	}
	return int(n)
}

// num reads a number written by encoder.num.
func (d *decoder) num() float64 {
	h := d.uvarint()
	return d.numOf(int(h&7), h>>3)
}

func (d *decoder) numOf(kind int, p uint64) float64 {
	switch kind {
	case vInt:
		v := unzigzag(p)
		if v > 1<<53 || v < -1<<53 {
			d.fail(errors.New("integer out of range"))
			return 0
		}
		return float64(v)
	case vDec:
		f, err := strconv.ParseFloat(formatDecimal(unzigzag(p>>5), int(p&31)), 64)
		if err != nil {
			d.fail(errors.New("bad number"))
		}
		return f
	case vFloat:
		if p != 0 {
			d.fail(errors.New("bad number"))
			return 0
		}
		b := d.bytes(8)
		if b == nil {
			return 0
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(errors.New("number is not finite"))
			return 0
		}
		return f
	}
	d.fail(errors.New("not a number"))
	return 0
}

func (d *decoder) value(depth int) any {
	if depth > maxValueDepth {
		d.fail(errors.New("params nested too deep"))
		return nil
	}
	h := d.uvarint()
	kind, p := int(h&7), h>>3
	switch kind {
	case vConst:
		switch p {
		case 0:
			return nil
		case 1:
			return false
		case 2:
			return true
		}
		d.fail(errors.New("bad constant"))
		return nil
	case vString:
		return d.literal(p)
	case vRef:
		return d.ref(p)
	case vArray:
		if p > uint64(len(d.b)) {
			d.fail(errTruncated)
			return nil
		}
		out := make([]any, p)
		for i := range out {
			out[i] = d.value(depth + 1)
			if d.err != nil {
				return nil
			}
		}
		return out
	case vObject:
		if p > uint64(len(d.b)/2) {
			d.fail(errTruncated)
			return nil
		}
		out := make(map[string]any, p)
		prev := ""
		for i := uint64(0); i < p; i++ {
			k := d.str()
			if i > 0 && k <= prev {
				d.fail(errors.New("params keys out of order"))
			}
			if d.err != nil {
				return nil
			}
			out[k], prev = d.value(depth+1), k
		}
		return out
	}
	return d.numOf(kind, p)
}

// decodeV2 reads a format 2 record (rec without its format byte) and
// restores what it left to the registry from eng.
func decodeV2(rec []byte, eng *methodology.Engine) (*methodology.Calc, error) {
	d := decoder{b: rec}
	c := &methodology.Calc{}
	flags := d.uvarint()
	if flags>>(fPrevShift+2) != 0 || flags&fPrevMask>>fPrevShift == 3 {
		return nil, errors.New("calc record: unknown flags")
	}
	c.Methodology = d.str()
	c.MethodologyVersion = d.str()
	var mhash []byte
	if flags&fMHashListed != 0 {
		c.MethodologyHash = d.str()
	} else {
		mhash = d.bytes(mhashPrefix)
	}
	c.Behavior = d.str()
	c.EngineVersion = d.str()
	c.EventID = d.str()
	c.Partner = d.str()
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= 1e9 || sec < minUnix || sec > maxUnix {
		d.fail(errors.New("bad occurred_at"))
	}
	c.OccurredAt = time.Unix(sec, int64(nsec)).UTC()
	switch flags & fPrevMask >> fPrevShift {
	case prevRaw:
		c.PrevHash = hex.EncodeToString(d.bytes(32))
	case prevListed:
		c.PrevHash = d.str()
	}
	switch p := d.value(0); x := p.(type) {
	case nil:
	case map[string]any:
		c.Params = x
	default:
		d.fail(errors.New("params is not an object"))
	}
	c.EvidenceKeys = d.strs()
	if flags&fFactorsMask == fFactorsListed {
		c.Factors = make([]methodology.FactorUse, d.count(6))
		for i := range c.Factors {
			f := &c.Factors[i]
			f.Param, f.Ref, f.ShortSource, f.Source, f.Unit = d.str(), d.str(), d.str(), d.str(), d.str()
			f.Value = d.num()
		}
	}
	if n := d.count(3); n > 0 {
		c.Terms = make([]methodology.TermUse, n)
		for i := range c.Terms {
			t := &c.Terms[i]
			t.Name = d.str()
			t.Const = d.dec()
			t.Of = d.strs()
		}
	}
	if n := d.count(3); n > 0 {
		c.Inputs = make([]methodology.InputUse, n)
		for i := range c.Inputs {
			in := &c.Inputs[i]
			in.Param = d.str()
			in.Unit = d.str()
			in.Value = d.num()
		}
	}
	for _, p := range [...]*string{&c.Baseline, &c.Project, &c.Leakage, &c.Gross, &c.AfterDiscount, &c.DiscountPct} {
		*p = d.dec()
	}
	c.CapApplied = d.str()
	c.CapMG = d.varint()
	c.ResultMG = d.varint()
	c.UsedDayMG = d.varint()
	c.UsedYearMG = d.varint()
	if d.err != nil {
		return nil, fmt.Errorf("calc record: %w", d.err)
	}
	if len(d.b) != 0 {
		return nil, errors.New("calc record: trailing bytes")
	}
	fm := flags & fFactorsMask
	if mhash == nil && (fm == fFactorsListed || fm == 0) {
		return c, nil
	}
	if eng == nil {
		return nil, fmt.Errorf("calc record: %s@%s: no methodology registry to read it with", trunc(c.Methodology), trunc(c.MethodologyVersion))
	}
	m, ok := eng.Version(c.Methodology, c.MethodologyVersion)
	if !ok {
		return nil, fmt.Errorf("calc record: methodology %s@%s is not in the registry", trunc(c.Methodology), trunc(c.MethodologyVersion))
	}
	if mhash != nil {
		if !strings.HasPrefix(m.Hash(), hex.EncodeToString(mhash)) {
			return nil, fmt.Errorf("calc record: methodology %s@%s in the registry has hash %s, the record was written with %x…",
				c.Methodology, c.MethodologyVersion, m.Hash(), mhash)
		}
		c.MethodologyHash = m.Hash()
	}
	switch fm {
	case fFactorsRegistry:
		c.Factors = m.FactorRefs()
	case fFactorsNoShort:
		c.Factors = m.FactorRefs()
		for i := range c.Factors {
			c.Factors[i].ShortSource = ""
		}
	}
	if fm != 0 && fm != fFactorsListed && len(c.Factors) == 0 {
		return nil, fmt.Errorf("calc record: methodology %s@%s in the registry has no factors, the record has", c.Methodology, c.MethodologyVersion)
	}
	return c, nil
}

// Seconds of 0000-01-01 and 9999-12-31T23:59:59 UTC: encoding/json writes
// no other times.
const (
	minUnix = -62167219200
	maxUnix = 253402300799
)

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// parseDecimal splits an optionally signed decimal of at most 18 digits
// ("-12.50") into its digits as an integer and its number of decimals; ok
// only when formatDecimal gives s back.
func parseDecimal(s string) (m int64, scale int, ok bool) {
	i, neg := 0, false
	if len(s) > 0 && s[0] == '-' {
		i, neg = 1, true
	}
	digits, dot := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			if digits > 18 {
				return 0, 0, false
			}
			m = m*10 + int64(c-'0')
		case c == '.' && dot < 0:
			dot = i
		default:
			return 0, 0, false
		}
	}
	if digits == 0 {
		return 0, 0, false
	}
	if dot >= 0 {
		scale = len(s) - dot - 1
	}
	if scale > 31 {
		return 0, 0, false
	}
	if neg {
		m = -m
	}
	var buf [40]byte
	if string(appendDecimal(buf[:0], m, scale)) != s {
		return 0, 0, false
	}
	return m, scale, true
}

func formatDecimal(m int64, scale int) string {
	var buf [48]byte
	return string(appendDecimal(buf[:0], m, scale))
}

// appendDecimal writes m × 10^-scale with exactly scale decimals and at
// least one digit before the point.
func appendDecimal(b []byte, m int64, scale int) []byte {
	u := uint64(m)
	if m < 0 {
		b = append(b, '-')
		u = -u
	}
	var buf [24]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	if scale == 0 {
		return append(b, digits...)
	}
	n := len(digits) - scale
	if n <= 0 {
		b = append(b, '0', '.')
		for ; n < 0; n++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[:n]...)
	b = append(b, '.')
	return append(b, digits[n:]...)
}
