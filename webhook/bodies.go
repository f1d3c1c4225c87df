package webhook

import (
	"strconv"
	"time"
)

// CreditBody is the body of credit.created and credit.reversed messages:
// what consumers (webhooks, leaderboards, medals) need to know about one
// credited event, without reading the intake's tables.
type CreditBody struct {
	Ref        string    `json:"ref"` // the credit's reference, unique per credit: "evt:<partner>:<event_id>" (the ledger stores the intake's batch credits by id only)
	EventID    string    `json:"event_id"`
	Partner    string    `json:"partner"`
	Account    int64     `json:"account"` // parent account id
	Sub        int64     `json:"sub"`     // sub-account id
	Behavior   string    `json:"behavior"`
	Scenario   string    `json:"scenario"`
	MG         int64     `json:"mg"`     // reduction credited (positive; also positive in credit.reversed)
	Points     int64     `json:"points"` // points credited (or clawed back)
	CalcID     string    `json:"calc_id"`
	OccurredAt time.Time `json:"occurred_at"`
	CreditedAt time.Time `json:"credited_at"`
	ReversedAt time.Time `json:"reversed_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
}

// appendJSON appends b exactly as encoding/json marshals it, without
// reflection: the intake enqueues one CreditBody per credited event on the
// shard's single writer. ok is false when a field needs what this fast
// path does not do (string escapes, years outside 0-9999); the caller then
// uses json.Marshal.
func (b *CreditBody) appendJSON(dst []byte) (out []byte, ok bool) {
	for _, s := range [...]string{b.Ref, b.EventID, b.Partner, b.Behavior, b.Scenario, b.CalcID, b.Reason} {
		if !plainJSON(s) {
			return dst, false
		}
	}
	for _, t := range [...]time.Time{b.OccurredAt, b.CreditedAt, b.ReversedAt} {
		if y := t.Year(); y < 0 || y > 9999 {
			return dst, false
		}
	}
	str := func(name, v string) {
		dst = append(dst, name...)
		dst = append(dst, '"')
		dst = append(dst, v...)
		dst = append(dst, '"')
	}
	num := func(name string, v int64) {
		dst = append(dst, name...)
		dst = strconv.AppendInt(dst, v, 10)
	}
	tm := func(name string, v time.Time) {
		dst = append(dst, name...)
		dst = append(dst, '"')
		dst = v.AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	str(`{"ref":`, b.Ref)
	str(`,"event_id":`, b.EventID)
	str(`,"partner":`, b.Partner)
	num(`,"account":`, b.Account)
	num(`,"sub":`, b.Sub)
	str(`,"behavior":`, b.Behavior)
	str(`,"scenario":`, b.Scenario)
	num(`,"mg":`, b.MG)
	num(`,"points":`, b.Points)
	str(`,"calc_id":`, b.CalcID)
	tm(`,"occurred_at":`, b.OccurredAt)
	tm(`,"credited_at":`, b.CreditedAt)
	if !b.ReversedAt.IsZero() {
		tm(`,"reversed_at":`, b.ReversedAt)
	}
	if b.Reason != "" {
		str(`,"reason":`, b.Reason)
	}
	return append(dst, '}'), true
}

// plainJSON reports whether encoding/json writes s as is between quotes:
// printable ASCII other than the characters it escapes (" \ < > &).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
