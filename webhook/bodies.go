package webhook

import "time"

// CreditBody is the body of credit.created and credit.reversed messages:
// what consumers (webhooks, leaderboards, medals) need to know about one
// credited event, without reading the intake's tables.
type CreditBody struct {
	Ref        string    `json:"ref"` // ledger reference, unique per credit: "evt:<partner>:<event_id>"
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
